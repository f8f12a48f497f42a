/* dlog.h - a durable queue's log file: its format, writing and replay. */

/*
 * One file per durable queue, STATE_DIR/INSTANCE/NAME.cqlog (durable.c):
 *
 *   header (DLOG_HDR_SIZE bytes): magic, the queue's attributes, the sync
 *       policy, a crc32c over all of it; written once, when the file is
 *       made (and synced before the file gets its name)
 *   records, each DLOG_REC_SIZE bytes then len bytes of data padded to 8:
 *       PUT  id, band, pos, enqueued_ns, deliveries, aux = due time
 *            (delayed; 0: queued), data: a live message
 *       MOVE id, band, pos, deliveries, aux: a live message moved,
 *            redelivered, leased (pos 0) or made due
 *       DEL  id: the message left the queue for good
 *       META aux = next id reserved, deliveries = closed, pos = pause count,
 *            id = owner (uid << 32 | gid), enqueued_ns = mode with
 *            DLOG_META_MODE set (clear: no owner or mode in it)
 *     crc32c over the record after its crc field and the data.
 *
 * Replay reads records in order and stops at the first one that is short,
 * fails its crc, has an unknown type, or a lower gen than the one before
 * (bytes left by a write that failed and was redone from the same offset
 * with gen + 1). What it keeps is therefore always a prefix of what was
 * appended: the state after some number of flushes, or part of one (a
 * flush's records are each whole, so a torn flush gives a state where some
 * of its records applied and others not; each record is about one message,
 * so that is still a set of whole messages, each as one flush saw it).
 * doc/durability.md has the argument.
 */

#ifndef CQ_DAEMON_DLOG_H
#define CQ_DAEMON_DLOG_H

#include <stddef.h>
#include <stdint.h>

#include "conqueue/conqueue.h"

#define DLOG_MAGIC    "CQDLOG1\n"
#define DLOG_HDR_SIZE 256
#define DLOG_REC_SIZE 56

enum dlog_type { DLOG_PUT = 1, DLOG_MOVE = 2, DLOG_DEL = 3, DLOG_META = 4 };
#define DLOG_META_MODE (UINT64_C(1) << 32) /* META carries owner and mode */

/* What the header keeps: the queue as created, and its policy. */
struct dlog_attr {
	char name[CQ_NAME_MAX + 1];
	uint32_t capacity, max_size, bands, mode, uid, gid;
	uint32_t max_deliveries, lease_ms, serial, no_direct;
	uint64_t ttl_ms, dedup_window_ms;
	uint32_t policy; /* cq_durable */
	uint32_t sync_ms;
	/*
	 * As create gave it (0: the default). Appended: a header of a log
	 * made before it is shorter and reads as capacity * max_size (what
	 * that queue could hold), so its messages fit when restored.
	 */
	uint64_t max_bytes;
};

/* A record as written (native byte order: the log never leaves the host). */
struct dlog_rec {
	uint32_t crc;
	uint16_t type;
	uint16_t pad;
	uint32_t len;
	uint32_t band;
	uint64_t id;
	uint64_t pos;
	uint64_t enqueued_ns;
	uint32_t deliveries;
	uint32_t gen;
	uint64_t aux;
};
_Static_assert(sizeof(struct dlog_rec) == DLOG_REC_SIZE, "dlog_rec size");
/* The header's attributes before max_bytes was appended. */
#define DLOG_ATTR_SIZE_1 offsetof(struct dlog_attr, max_bytes)

/* A growable write buffer of whole records. */
struct dlog_buf {
	unsigned char *p;
	size_t len, cap;
	uint32_t gen; /* stamped into every record */
};

/* A message alive at the end of a replay. */
struct dlog_msg {
	uint64_t id, pos, enqueued_ns;
	uint64_t due_ns; /* delayed: when due (realtime); 0: queued */
	uint32_t band, deliveries, len;
	unsigned char *data; /* malloc'd, len bytes (NULL if 0) */
};

/* What a replay found. */
struct dlog_state {
	struct dlog_attr attr;
	struct dlog_msg *msgs; /* sorted by (band, pos, id) */
	size_t n;
	uint64_t next_id; /* > every id seen and >= every reservation */
	uint64_t end;     /* offset after the last good record */
	uint32_t gen;     /* the last good record's gen */
	uint64_t closed, paused;
	int has_owner; /* a META gave owner and mode (else the header's) */
	uint32_t uid, gid, mode;
	uint64_t records;
};

/* Encode a header for attr into buf (DLOG_HDR_SIZE bytes). */
void dlog_header(const struct dlog_attr *attr, unsigned char *buf);
/* Decode and check a header: 0, or -1 if it is not a valid one. */
int dlog_header_parse(const unsigned char *buf, struct dlog_attr *attr);
/* Append one record (data may be NULL when len is 0): 0 or -1 (ENOMEM). */
int dlog_append(struct dlog_buf *b, const struct dlog_rec *r,
    const void *data);
void dlog_buf_free(struct dlog_buf *b);
/* Bytes a record with len bytes of data takes. */
static inline size_t
dlog_rec_bytes(uint32_t len)
{
	return DLOG_REC_SIZE + (((size_t)len + 7) & ~(size_t)7);
}
/*
 * Replay the log in fd (whole file): 0 with *st filled (free it with
 * dlog_state_free), or -1 with errno (EINVAL: no valid header).
 */
int dlog_replay(int fd, struct dlog_state *st);
/* The same over a memory image (the crash-state test uses it). */
int dlog_replay_mem(const unsigned char *p, size_t len, struct dlog_state *st);
void dlog_state_free(struct dlog_state *st);

#endif /* CQ_DAEMON_DLOG_H */
