/* arena.h - replies decoded into one arena each (arena.c). */

#ifndef CQ_LIBCLIENT_ARENA_H
#define CQ_LIBCLIENT_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "proto/conqueue.pb-c.h"

Conqueue__Reply *arena_decode_reply(
    cq_client *c, const uint8_t *buf, size_t len, const char **why);
void arena_reply_free(cq_client *c, Conqueue__Reply *r);

#endif /* CQ_LIBCLIENT_ARENA_H */
