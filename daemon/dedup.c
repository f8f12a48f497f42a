/* dedup.c - keyed pushes: the keys each queue saw within its window. */

/*
 * A push may carry a key (JetStream's Nats-Msg-Id): one whose key this
 * queue saw within its dedup window answers CQ_OK with the first push's
 * id and adds nothing, so a producer that retries after a lost reply
 * cannot duplicate. The table lives in the daemon alone: in memory (a hash
 * by key, a list in push order that expiry eats from the front) and in
 * N.dedup beside segment N in the segment directory (mode 0600, the
 * directory 0700: never handed to a client), an append-only log a restart
 * reloads. Order (doc/dedup.md): the push commits, the record is written,
 * then the reply is sent; a kill -9 between the commit and the record
 * leaves a message whose producer got no reply and whose retry adds a
 * second copy: the one duplicate window.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "common/common.h"
#include "daemon/config.h"
#include "daemon/crashpoint.h"
#include "daemon/dedup.h"
#include "daemon/htab.h"
#include "daemon/log.h"
#include "daemon/registry.h"
#include "daemon/sidecar.h"

/* One key held. */
struct dedup_key {
	struct hentry h;
	TAILQ_ENTRY(dedup_key) age;
	uint64_t id;    /* the message its first push added */
	uint64_t at_ms; /* CLOCK_BOOTTIME of that push */
	uint16_t len;
	uint8_t key[];
};
TAILQ_HEAD(dedup_list, dedup_key);

/* A queue's table. */
struct dedup {
	struct htab keys;
	struct dedup_list fifo; /* oldest first */
	struct sidecar file;    /* N.dedup (sidecar.h) */
	uint64_t window_ms;
	uint64_t suppressed;
};

/* A record in N.dedup: crc32c of what follows it, then the key bytes. */
struct dedup_rec {
	uint32_t crc;
	uint16_t len;
	uint16_t zero;
	uint64_t id;
	uint64_t at_ms;
};

static size_t dedup_rec_size(const uint8_t *p);

/* N.dedup: magic, then records (crc32c of what follows it, key bytes). */
static const struct sidecar_kind dedup_file = {
    .sfx = ".dedup",
    .magic = "CQDEDUP1",
    .what = "key table",
    .crash = "dedup.before_rename",
    .max_size = (uint64_t)64 << 20,
    .hdr = sizeof(struct dedup_rec),
    .size = dedup_rec_size,
};

/* Milliseconds on CLOCK_BOOTTIME: survives a daemon restart. */
static uint64_t
dedup_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Match a key (struct dedup_key) against a ProtobufCBinaryData. */
static int
dedup_match(const struct hentry *e, const void *key)
{
	const struct dedup_key *k = (const struct dedup_key *)e;
	const ProtobufCBinaryData *b = key;

	return k->len == b->len && memcmp(k->key, b->data, b->len) == 0;
}

/* Forget k. */
static void
dedup_drop(struct dedup *d, struct dedup_key *k)
{
	htab_remove(&d->keys, &k->h);
	TAILQ_REMOVE(&d->fifo, k, age);
	free(k);
}

/* Drop the keys whose window has passed. */
static void
dedup_expire(struct dedup *d, uint64_t now)
{
	struct dedup_key *k;

	while ((k = TAILQ_FIRST(&d->fifo)) != NULL &&
	       now - k->at_ms >= d->window_ms)
		dedup_drop(d, k);
}

/* Hold key (len bytes) for id since at_ms; NULL if out of memory. */
static struct dedup_key *
dedup_hold(
    struct dedup *d, const void *key, size_t len, uint64_t id, uint64_t at_ms)
{
	struct dedup_key *k;

	if ((k = malloc(sizeof *k + len)) == NULL)
		return NULL;
	k->id = id;
	k->at_ms = at_ms;
	k->len = (uint16_t)len;
	memcpy(k->key, key, len);
	if (htab_insert(&d->keys, &k->h, htab_hash_bytes(key, len)) != 0) {
		free(k);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&d->fifo, k, age);
	return k;
}

/* Encode k's record into buf (room for the header and 256 bytes). */
static size_t
dedup_encode(const struct dedup_key *k, uint8_t *buf)
{
	struct dedup_rec r;

	memset(&r, 0, sizeof r);
	r.len = k->len;
	r.id = k->id;
	r.at_ms = k->at_ms;
	memcpy(buf, &r, sizeof r);
	memcpy(buf + sizeof r, k->key, k->len);
	return sizeof r + k->len; /* the crc is sidecar_put's */
}

/* A record's length from its fixed part; 0 if it is damaged. */
static size_t
dedup_rec_size(const uint8_t *p)
{
	struct dedup_rec r;

	memcpy(&r, p, sizeof r);
	if (r.len < 1 || r.len > CQ_DEDUP_KEY_MAX || r.zero != 0)
		return 0;
	return sizeof r + r.len;
}

/* Compaction: put the live keys, oldest first. */
static int64_t
dedup_put_all(void *arg, int fd)
{
	struct dedup *d = arg;
	uint8_t buf[sizeof(struct dedup_rec) + CQ_DEDUP_KEY_MAX];
	struct dedup_key *k;

	TAILQ_FOREACH(k, &d->fifo, age)
	{
		if (sidecar_put(fd, buf, dedup_encode(k, buf)) != 0)
			return -1;
	}
	return (int64_t)d->keys.n;
}

/*
 * Rewrite q's file with the live keys only (a new file renamed over the
 * old: a kill -9 leaves one or the other whole), and use it from now on.
 */
static void
dedup_compact(struct rqueue *q)
{
	sidecar_compact(&q->dedup->file, dedup_put_all, q->dedup);
}

/* A record of N.dedup (its crc checked): hold its key if still live. */
static int
dedup_load_rec(void *arg, const uint8_t *p, size_t len)
{
	struct dedup *d = arg;
	struct dedup_rec r;
	struct hentry *e;
	ProtobufCBinaryData b;
	uint64_t now = dedup_now_ms();

	(void)len;
	memcpy(&r, p, sizeof r);
	/* The clock is the host's: a time ahead of now is damage. */
	if (r.at_ms > now || now - r.at_ms >= d->window_ms)
		return 0;
	/* A later record of the same key (a retry after expiry). */
	b.len = r.len;
	b.data = (uint8_t *)(uintptr_t)(p + sizeof r);
	e = htab_find(
	    &d->keys, htab_hash_bytes(b.data, b.len), dedup_match, &b);
	if (e != NULL)
		dedup_drop(d, (struct dedup_key *)e);
	return dedup_hold(d, b.data, b.len, r.id, r.at_ms) == NULL ? -1 : 0;
}

/* Give q its table (fresh: empty; else reload N.dedup). */
void
dedup_open(struct rqueue *q, int fresh)
{
	const struct core_attr *a;
	struct dedup *d;

	if (q->core == NULL || (a = core_attr(q->core))->dedup_window_ms == 0)
		return;
	if ((d = calloc(1, sizeof *d)) == NULL) {
		log_error("queue '%.*s': out of memory for its key table",
		    (int)q->namelen, q->name);
		return;
	}
	htab_init(&d->keys);
	TAILQ_INIT(&d->fifo);
	sidecar_init(&d->file, &dedup_file, q);
	/* A mapper may have rewritten the word: cap it at a day. */
	d->window_ms = a->dedup_window_ms > CQ_DEDUP_WINDOW_MAX
	                   ? CQ_DEDUP_WINDOW_MAX
	                   : a->dedup_window_ms;
	q->dedup = d;
	if (!fresh)
		sidecar_load(&d->file, dedup_load_rec, d);
	/* A table rewritten at open: a leftover file goes, expired go. */
	dedup_compact(q);
}

/* Free q's table. */
void
dedup_free(struct rqueue *q)
{
	struct dedup *d = q->dedup;
	struct dedup_key *k;

	if (d == NULL)
		return;
	while ((k = TAILQ_FIRST(&d->fifo)) != NULL)
		dedup_drop(d, k);
	htab_free(&d->keys);
	sidecar_close(&d->file);
	free(d);
	q->dedup = NULL;
}

/* q is deleted: free its table, remove its file. */
void
dedup_delete(struct rqueue *q)
{
	dedup_free(q);
	sidecar_unlink(&dedup_file, q);
}

/* Why keyed push m cannot be taken, or NULL. */
const char *
dedup_invalid(struct rqueue *q, const Conqueue__Push *m)
{
	if (!m->has_dedup_key)
		return NULL;
	if (m->dedup_key.len < 1 || m->dedup_key.len > CQ_DEDUP_KEY_MAX)
		return "a dedup key is 1..256 bytes";
	if (m->n_data != 1)
		return "a keyed push carries one message";
	if (q->core != NULL && core_attr(q->core)->dedup_window_ms == 0)
		return "the queue has no dedup window (create --dedup-window)";
	return NULL;
}

/* Answer a keyed push from the table, or let it go ahead. */
int
dedup_before(
    struct rqueue *q, const Conqueue__Push *m, cq_status *st, uint64_t *first)
{
	struct dedup *d = q->dedup;
	struct hentry *e;

	if (!m->has_dedup_key || d == NULL)
		return 0;
	dedup_expire(d, dedup_now_ms());
	e = htab_find(&d->keys,
	    htab_hash_bytes(m->dedup_key.data, m->dedup_key.len), dedup_match,
	    &m->dedup_key);
	if (e != NULL) {
		d->suppressed++;
		*st = CQ_OK;
		*first = ((struct dedup_key *)e)->id;
		return 1;
	}
	if (d->keys.n >= cfg.dedup_max_keys) {
		*st = CQ_LIMIT;
		return 1;
	}
	return 0;
}

/* Record a keyed push that committed. */
void
dedup_after(struct rqueue *q, const Conqueue__Push *m, uint64_t first)
{
	uint8_t buf[sizeof(struct dedup_rec) + CQ_DEDUP_KEY_MAX];
	struct dedup *d = q->dedup;
	struct dedup_key *k;

	if (!m->has_dedup_key || d == NULL)
		return;
	crashpoint("dedup.after_commit");
	if ((k = dedup_hold(d, m->dedup_key.data, m->dedup_key.len, first,
	         dedup_now_ms())) == NULL) {
		log_error("queue '%.*s': out of memory for a dedup key",
		    (int)q->namelen, q->name);
		return;
	}
	if (sidecar_append(
	        &d->file, buf, dedup_encode(k, buf), "a dedup key") != 0)
		return;
	crashpoint("dedup.after_record");
	if (d->file.records > 2 * d->keys.n + 1024)
		dedup_compact(q);
}

/* Keys held and duplicates answered. */
void
dedup_counts(struct rqueue *q, uint64_t *keys, uint64_t *suppressed)
{
	*keys = *suppressed = 0;
	if (q->dedup == NULL)
		return;
	dedup_expire(q->dedup, dedup_now_ms());
	*keys = q->dedup->keys.n;
	*suppressed = q->dedup->suppressed;
}
