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

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "daemon/config.h"
#include "daemon/crashpoint.h"
#include "daemon/dedup.h"
#include "daemon/htab.h"
#include "daemon/log.h"
#include "daemon/registry.h"
#include "daemon/segdir.h"

#define DEDUP_MAGIC "CQDEDUP1"

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
	int fd;                 /* N.dedup, -1 if it could not be opened */
	uint64_t window_ms;
	uint64_t suppressed;
	uint64_t records; /* records in the file (live or expired) */
};

/* A record in N.dedup: crc32c of what follows it, then the key bytes. */
struct dedup_rec {
	uint32_t crc;
	uint16_t len;
	uint16_t zero;
	uint64_t id;
	uint64_t at_ms;
};

/* Milliseconds on CLOCK_BOOTTIME: survives a daemon restart. */
static uint64_t
dedup_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The file name of q's table. */
static void
dedup_name(const struct rqueue *q, char *buf, size_t len, const char *sfx)
{
	snprintf(buf, len, "%s.dedup%s", q->segname, sfx);
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
	r.crc = crc32c(0, buf + sizeof r.crc, sizeof r - sizeof r.crc + k->len);
	memcpy(buf, &r.crc, sizeof r.crc);
	return sizeof r + k->len;
}

/* Write all of buf at the end of fd; -1 with errno. */
static int
dedup_write(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Rewrite q's file with the live keys only (a new file renamed over the
 * old: a kill -9 leaves one or the other whole), and use it from now on.
 */
static void
dedup_compact(struct rqueue *q)
{
	struct dedup *d = q->dedup;
	uint8_t buf[sizeof(struct dedup_rec) + CQ_DEDUP_KEY_MAX];
	char tmp[160], name[160];
	struct dedup_key *k;
	int fd;

	dedup_name(q, tmp, sizeof tmp, ".tmp");
	dedup_name(q, name, sizeof name, "");
	fd = openat(segdir_fd(), tmp,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || dedup_write(fd, DEDUP_MAGIC, 8) != 0)
		goto fail;
	TAILQ_FOREACH(k, &d->fifo, age)
	{
		if (dedup_write(fd, buf, dedup_encode(k, buf)) != 0)
			goto fail;
	}
	crashpoint("dedup.before_rename");
	if (renameat(segdir_fd(), tmp, segdir_fd(), name) != 0)
		goto fail;
	if (d->fd >= 0)
		close(d->fd);
	d->fd = fd;
	d->records = d->keys.n;
	return;
fail:
	log_warn("queue '%.*s': writing %s/%s: %s", (int)q->namelen, q->name,
	    segdir_path(), tmp, strerror(errno));
	if (fd >= 0) {
		close(fd);
		unlinkat(segdir_fd(), tmp, 0);
	}
}

/* Read q's file into its table (records past the window are skipped). */
static void
dedup_load(struct rqueue *q)
{
	struct dedup *d = q->dedup;
	struct dedup_rec r;
	struct stat sb;
	struct hentry *e;
	ProtobufCBinaryData b;
	uint8_t *buf = NULL, *p, *end;
	uint64_t now = dedup_now_ms();
	char name[160];
	ssize_t n;
	int fd;

	dedup_name(q, name, sizeof name, "");
	fd = openat(segdir_fd(), name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("queue '%.*s': %s/%s: %s", (int)q->namelen,
			    q->name, segdir_path(), name, strerror(errno));
		return;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != geteuid() || sb.st_size < 8 ||
	    (uint64_t)sb.st_size > (uint64_t)64 << 20 ||
	    (buf = malloc((size_t)sb.st_size)) == NULL ||
	    (n = pread(fd, buf, (size_t)sb.st_size, 0)) != sb.st_size ||
	    memcmp(buf, DEDUP_MAGIC, 8) != 0) {
		log_warn("queue '%.*s': %s/%s: not a key table, ignored",
		    (int)q->namelen, q->name, segdir_path(), name);
		goto out;
	}
	end = buf + sb.st_size;
	/* A torn or damaged record ends the log: what follows is lost. */
	for (p = buf + 8; end - p >= (ptrdiff_t)sizeof r;
	     p += sizeof r + r.len) {
		memcpy(&r, p, sizeof r);
		if (r.len < 1 || r.len > CQ_DEDUP_KEY_MAX || r.zero != 0 ||
		    end - p - (ptrdiff_t)sizeof r < r.len ||
		    crc32c(0, p + sizeof r.crc,
		        sizeof r - sizeof r.crc + r.len) != r.crc)
			break;
		/* The clock is the host's: a time ahead of now is damage. */
		if (r.at_ms > now || now - r.at_ms >= d->window_ms)
			continue;
		/* A later record of the same key (a retry after expiry). */
		b.len = r.len;
		b.data = p + sizeof r;
		e = htab_find(
		    &d->keys, htab_hash_bytes(b.data, b.len), dedup_match, &b);
		if (e != NULL)
			dedup_drop(d, (struct dedup_key *)e);
		if (dedup_hold(d, b.data, b.len, r.id, r.at_ms) == NULL)
			break;
	}
out:
	free(buf);
	close(fd);
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
	d->fd = -1;
	/* A mapper may have rewritten the word: cap it at a day. */
	d->window_ms = a->dedup_window_ms > CQ_DEDUP_WINDOW_MAX
	                   ? CQ_DEDUP_WINDOW_MAX
	                   : a->dedup_window_ms;
	q->dedup = d;
	if (!fresh)
		dedup_load(q);
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
	if (d->fd >= 0)
		close(d->fd);
	free(d);
	q->dedup = NULL;
}

/* q is deleted: free its table, remove its file. */
void
dedup_delete(struct rqueue *q)
{
	char name[160];

	dedup_free(q);
	dedup_name(q, name, sizeof name, "");
	if (unlinkat(segdir_fd(), name, 0) != 0 && errno != ENOENT)
		log_warn("queue '%.*s': removing %s/%s: %s", (int)q->namelen,
		    q->name, segdir_path(), name, strerror(errno));
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
	/* The page cache has it once write returns: a kill -9 keeps it. */
	if (d->fd < 0 || dedup_write(d->fd, buf, dedup_encode(k, buf)) != 0) {
		log_warn("queue '%.*s': recording a dedup key: %s",
		    (int)q->namelen, q->name,
		    d->fd < 0 ? "no key file" : strerror(errno));
		return;
	}
	crashpoint("dedup.after_record");
	if (++d->records > 2 * d->keys.n + 1024)
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
