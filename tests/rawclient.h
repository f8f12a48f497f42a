/* rawclient.h - a raw-frame client for tests that talk to conqueued. */

#ifndef CQ_RAWCLIENT_H
#define CQ_RAWCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/conqueue.pb-c.h"

/*
 * Nothing here asserts: every call reports failure by its result, so the
 * helpers also work in forked children that run as another user and in
 * tests that expect the daemon to hang up.
 */

/* Milliseconds rc_recv and rc_wait_eof wait before giving up. */
#define RC_IO_TIMEOUT_MS 10000

/* Connect to path without the handshake; fd or -1. */
int rc_connect_raw(const char *path);
/* Connect and greet; fd or -1. */
int rc_connect(const char *path);
/* Write all of buf; 0 or -1 (EPIPE when the daemon hung up). */
int rc_write(int fd, const void *buf, size_t len);
/* Send r as one frame; an op with id 0 gets the next fresh id. */
int rc_send(int fd, Conqueue__Request *r);
/* The next Reply, or NULL on EOF, error or RC_IO_TIMEOUT_MS of silence. */
Conqueue__Reply *rc_recv(int fd);
/* 1 once the daemon closed fd (discarding replies before), else 0. */
int rc_wait_eof(int fd);
/* Send r and return the next reply if it answers r, else NULL. */
Conqueue__Reply *rc_call(int fd, Conqueue__Request *r);
/* The status of r, freeing it; -1 for NULL (no reply). */
int rc_status(Conqueue__Reply *r);
/* Named op on name (len bytes). */
Conqueue__Reply *rc_named(
    int fd, Conqueue__Named__Kind kind, const void *name, size_t len);
/* Create name (len bytes) with a mode, capacity and max size; status. */
int rc_create(int fd, const void *name, size_t len, uint32_t mode,
    uint32_t capacity, uint32_t max_size);
/* Push one message; status. */
int rc_push(int fd, const char *name, const char *msg, int64_t timeout_ms);
/* Pop (or reserve) up to max; the reply. */
Conqueue__Reply *rc_pop(
    int fd, const char *name, uint32_t max, int64_t timeout_ms, int reserve);
/* Confirm receipt of pop id (an id-0 frame). */
int rc_confirm(int fd, uint64_t id);
/* Chmod; status. */
int rc_chmod(int fd, const char *name, uint32_t mode);
/* Ping; status. */
int rc_ping(int fd);

#endif /* CQ_RAWCLIENT_H */
