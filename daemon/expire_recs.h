/* expire_recs.h - messages' own times to live: records by id and N.ttl. */

/*
 * A push's own time to live lives in the daemon alone: a record (id, due
 * time on CLOCK_REALTIME) held in memory, sorted by id, and appended to
 * N.ttl beside segment N (sidecar.h: 24-byte crc'd records after the
 * magic "CQTTL001") that a restart reloads. expire.c sweeps with them.
 */

#ifndef CQ_DAEMON_EXPIRE_RECS_H
#define CQ_DAEMON_EXPIRE_RECS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/sidecar.h"

struct rqueue;

/* A message's own expiry (CLOCK_REALTIME ns). */
struct expire_rec {
	uint64_t id;
	uint64_t due;
	int seen; /* sweep: the message is queued or in flight */
};

/* A queue's records. */
struct expire_recs {
	struct expire_rec *v; /* by id */
	size_t n, cap;
	struct sidecar file; /* N.ttl */
};

/* Set r up for q (no records, no file open). */
void expire_recs_init(struct expire_recs *r, struct rqueue *q);
/* Free r's records and close its file (the file stays). */
void expire_recs_free(struct expire_recs *r);
/* 1 if q has a records file. */
int expire_recs_exist(const struct rqueue *q);
/* Remove q's records file (failures but ENOENT logged). */
void expire_recs_unlink(const struct rqueue *q);
/* Read q's file into r (a torn or damaged record ends it). */
void expire_recs_load(struct expire_recs *r);
/* Rewrite the file with the records held (a new file renamed over). */
void expire_recs_compact(struct expire_recs *r);
/* The record of id, or NULL. */
struct expire_rec *expire_recs_find(struct expire_recs *r, uint64_t id);
/* Hold and append a record (the file made if need be); -1 (logged). */
int expire_recs_add(struct expire_recs *r, uint64_t id, uint64_t due);
/* Compact the file when it holds over twice the records (plus 1024). */
void expire_recs_tidy(struct expire_recs *r);
/* Forget the records not marked seen, clear the marks, then tidy. */
void expire_recs_prune(struct expire_recs *r);

#endif /* CQ_DAEMON_EXPIRE_RECS_H */
