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
/* Pack r as one frame (header too) into buf; the bytes written. */
size_t rc_pack(const Conqueue__Request *r, uint8_t *buf);
/* Send r as one frame; an op with id 0 gets the next fresh id. */
int rc_send(int fd, Conqueue__Request *r);
/* The next Reply, or NULL on EOF, error or RC_IO_TIMEOUT_MS of silence. */
Conqueue__Reply *rc_recv(int fd);
/* rc_recv that tells apart a hang-up (NULL, *eof = 1) from the rest. */
Conqueue__Reply *rc_recv_or_eof(int fd, int *eof);
/* A fresh request id (the one rc_send gives an op with id 0). */
uint64_t rc_fresh_id(void);
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
/* MsgOp kind on message id of name, with delay_ms if > 0; status. */
int rc_msgop(int fd, const char *name, Conqueue__MsgOp__Kind kind, uint64_t id,
    uint32_t delay_ms);
/* Chmod; status. */
int rc_chmod(int fd, const char *name, uint32_t mode);
/* Ping; status. */
int rc_ping(int fd);
/*
 * OPEN name asking for the direct path: the status, and on a grant the
 * segment and doorbell fds (*seg, *bell; else both -1), which the caller
 * closes. Fds that come otherwise are closed.
 */
int rc_open_direct(int fd, const char *name, int *seg, int *bell);

/* The daemon side, for fake daemons (tu_fake_start). */
/* Read one Request frame into *req (caller frees); 0 or -1 at EOF/error. */
int rc_read_request(int fd, Conqueue__Request **req);
/* Send r as one Reply frame; 0 or -1. */
int rc_send_reply(int fd, const Conqueue__Reply *r);
/* Fill a version-1 Welcome (server "fake") with small limits in l. */
void rc_welcome(Conqueue__Welcome *w, Conqueue__Limits *l);

#endif /* CQ_RAWCLIENT_H */
