/* dflush.c - a durable queue's log kept up to its segment. */

/*
 * A flush appends, in this order, one DEL per message the log holds that
 * the queue no longer does, a META if next id, closed or pause count
 * moved, one MOVE per message whose band, position, delivery count or due
 * time changed, and one PUT per new message; then (always, interval) an
 * fdatasync. DELs first: any prefix of a flush then holds no more
 * messages than the queue's capacity (doc/durability.md).
 *
 * A write or sync that fails leaves the file in an unknown state (after a
 * failed fdatasync the kernel may have dropped the dirty pages): the log
 * is marked broken and the next flush rewrites it whole (compaction to a
 * fresh file renamed over it), never appends to it again.
 */

#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "daemon/crashpoint.h"
#include "daemon/dflush.h"
#include "daemon/log.h"

/* Pack a record for a live message. */
static void
dflush_rec(struct dlog_rec *r, int type, const struct dimg *m)
{
	memset(r, 0, sizeof *r);
	r->type = (uint16_t)type;
	r->id = m->id;
	r->band = m->band;
	r->pos = m->pos;
	r->deliveries = m->deliveries;
	r->aux = m->due_ns;
}

/* What the scan callback builds. */
struct dflush_scan {
	const struct durable *d;
	struct dimg *img; /* the new image, scan order */
	size_t n, cap;
	unsigned char *seen; /* per old image entry */
	struct dlog_buf moves, puts;
	uint64_t live_bytes;
	int full; /* compaction: every message is a PUT */
	int err;
};

static int
dflush_id_cmp(const void *a, const void *b)
{
	const struct dimg *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Index of id in the sorted image, or -1. */
static ssize_t
dflush_find(const struct durable *d, uint64_t id)
{
	size_t lo = 0, hi = d->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (d->img[mid].id == id)
			return (ssize_t)mid;
		if (d->img[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* core_scan's callback: one live message (under the queue's lock). */
static int
dflush_scan_cb(void *arg, const struct core_live *lv)
{
	struct dflush_scan *sc = arg;
	struct dlog_rec r;
	struct dimg *m, *n;
	ssize_t k;
	size_t cap;

	if (sc->n == sc->cap) {
		cap = sc->cap ? sc->cap * 2 : 256;
		if ((n = realloc(sc->img, cap * sizeof *n)) == NULL) {
			sc->err = ENOMEM;
			return 1;
		}
		sc->img = n;
		sc->cap = cap;
	}
	m = &sc->img[sc->n++];
	m->id = lv->m.id;
	m->band = lv->m.band;
	m->deliveries = lv->m.deliveries;
	m->len = lv->m.len;
	/* Leased and delayed ones sort first: pos 0 (doc/durability.md). */
	m->pos = lv->in_flight || lv->due_ns ? 0 : lv->pos;
	m->due_ns = lv->due_ns;
	sc->live_bytes += dlog_rec_bytes(m->len);
	k = sc->full ? -1 : dflush_find(sc->d, m->id);
	if (k >= 0) {
		sc->seen[k] = 1;
		n = &sc->d->img[k];
		if (n->band == m->band && n->pos == m->pos &&
		    n->deliveries == m->deliveries && n->due_ns == m->due_ns)
			return 0;
		dflush_rec(&r, DLOG_MOVE, m);
		if (dlog_append(&sc->moves, &r, NULL) != 0)
			goto nomem;
		return 0;
	}
	dflush_rec(&r, DLOG_PUT, m);
	r.len = m->len;
	r.enqueued_ns = lv->m.enqueued_ns;
	if (dlog_append(&sc->puts, &r, lv->m.data) != 0)
		goto nomem;
	return 0;
nomem:
	sc->err = ENOMEM;
	return 1;
}

/* The status for a failed write's errno. */
cq_status
dflush_errno_status(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EFBIG ? CQ_LIMIT : CQ_SYSTEM;
}

/* Write len bytes of p at off, whole: 0 or -1 with errno. */
static int
dflush_pwrite(int fd, const unsigned char *p, size_t len, uint64_t off)
{
	ssize_t n;

	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Scan q into sc (full: every message as a PUT). */
static cq_status
dflush_scan(struct durable *d, struct core_queue *q, struct dflush_scan *sc,
    int full, struct dmeta *mt)
{
	struct core_stat cs;
	cq_status st;

	memset(sc, 0, sizeof *sc);
	sc->d = d;
	sc->full = full;
	sc->moves.gen = sc->puts.gen = d->gen;
	if (!full && d->n > 0 && (sc->seen = calloc(d->n, 1)) == NULL) {
		errno = ENOMEM;
		return CQ_SYSTEM;
	}
	memset(mt, 0, sizeof *mt);
	mt->next_id = 1;
	mt->owner = (uint64_t)d->attr.uid << 32 | d->attr.gid;
	mt->mode = d->attr.mode;
	if (q == NULL) /* a new queue: empty */
		return CQ_OK;
	if ((st = core_stat(q, &cs)) == CQ_OK) {
		mt->closed = (uint64_t)cs.closed;
		mt->paused = (uint64_t)cs.paused;
		mt->owner = (uint64_t)cs.attr.uid << 32 | cs.attr.gid;
		mt->mode = cs.attr.mode;
		st = core_scan(q, dflush_scan_cb, sc, &mt->next_id);
	}
	if (st == CQ_OK && sc->err != 0) {
		errno = sc->err;
		st = CQ_SYSTEM;
	}
	return st;
}

static void
dflush_scan_free(struct dflush_scan *sc)
{
	free(sc->img);
	free(sc->seen);
	dlog_buf_free(&sc->moves);
	dlog_buf_free(&sc->puts);
}

/* Take the scan's image as d's (sorted by id). */
static void
dflush_take(struct durable *d, struct dflush_scan *sc, const struct dmeta *mt)
{
	free(d->img);
	d->img = sc->img;
	d->n = sc->n;
	sc->img = NULL;
	if (d->n > 1)
		qsort(d->img, d->n, sizeof *d->img, dflush_id_cmp);
	d->meta = *mt;
	d->live_bytes = DLOG_HDR_SIZE + DLOG_REC_SIZE + sc->live_bytes;
}

/* The META record of a state (dlog.h). */
static int
dflush_meta(struct dlog_buf *b, const struct dmeta *mt)
{
	struct dlog_rec r;

	memset(&r, 0, sizeof r);
	r.type = DLOG_META;
	r.aux = mt->next_id;
	r.deliveries = mt->closed != 0;
	r.pos = mt->paused;
	r.id = mt->owner;
	r.enqueued_ns = mt->mode | DLOG_META_MODE;
	return dlog_append(b, &r, NULL);
}

/* Bring d's log up to q (see dflush.h). */
cq_status
dflush_flush(struct durable *d, struct core_queue *q, int sync)
{
	struct dflush_scan sc;
	struct dlog_buf head;
	struct dlog_rec r;
	struct iovec iov[3];
	struct dmeta mt;
	uint64_t sig, total;
	cq_status st;
	size_t i;
	int e;

	if (d->broken || d->fd < 0 || d->end > 2 * d->live_bytes + (1u << 20))
		return dflush_compact(d, q);
	sig = dflush_sig(q);
	st = dflush_scan(d, q, &sc, 0, &mt);
	if (st != CQ_OK) {
		dflush_scan_free(&sc);
		return st;
	}
	memset(&head, 0, sizeof head);
	head.gen = d->gen;
	for (i = 0; i < d->n; i++) {
		if (sc.seen[i])
			continue;
		memset(&r, 0, sizeof r);
		r.type = DLOG_DEL;
		r.id = d->img[i].id;
		if (dlog_append(&head, &r, NULL) != 0)
			goto nomem;
	}
	if (memcmp(&mt, &d->meta, sizeof mt) != 0 &&
	    dflush_meta(&head, &mt) != 0)
		goto nomem;
	total = head.len + sc.moves.len + sc.puts.len;
	if (total > 0) {
		iov[0].iov_base = head.p;
		iov[0].iov_len = head.len;
		iov[1].iov_base = sc.moves.p;
		iov[1].iov_len = sc.moves.len;
		iov[2].iov_base = sc.puts.p;
		iov[2].iov_len = sc.puts.len;
		crashpoint("durable.before_write");
		for (i = 0; i < 3; i++) {
			if (iov[i].iov_len == 0)
				continue;
			if (dflush_pwrite(d->fd, iov[i].iov_base,
			        iov[i].iov_len, d->end) != 0)
				goto fail;
			d->end += iov[i].iov_len;
		}
		crashpoint("durable.after_write");
	}
	if (sync && total > 0) {
		if (fdatasync(d->fd) != 0)
			goto fail;
		d->syncs++;
	}
	if (d->end > d->reserved)
		d->reserved = d->end;
	dflush_take(d, &sc, &mt);
	d->sig = sig;
	dlog_buf_free(&head);
	dflush_scan_free(&sc);
	return CQ_OK;
nomem:
	errno = ENOMEM;
	dlog_buf_free(&head);
	dflush_scan_free(&sc);
	return CQ_SYSTEM;
fail:
	e = errno;
	d->broken = 1; /* never appended to again: rewritten whole */
	log_error("queue '%s': durable log %s: %s", d->attr.name, d->file,
	    strerror(e));
	dlog_buf_free(&head);
	dflush_scan_free(&sc);
	errno = e;
	return dflush_errno_status(e);
}

/* Write a fresh log of q and rename it over d's (see dflush.h). */
cq_status
dflush_compact(struct durable *d, struct core_queue *q)
{
	struct dflush_scan sc;
	struct dlog_buf head;
	unsigned char hdr[DLOG_HDR_SIZE];
	char tmp[CQ_NAME_MAX + 24];
	struct dmeta mt;
	uint64_t sig, end;
	cq_status st;
	int fd = -1, e;

	sig = q != NULL ? dflush_sig(q) : 0;
	st = dflush_scan(d, q, &sc, 1, &mt);
	if (st != CQ_OK) {
		dflush_scan_free(&sc);
		return st;
	}
	memset(&head, 0, sizeof head);
	if (dflush_meta(&head, &mt) != 0) {
		errno = ENOMEM;
		goto fail;
	}
	snprintf(tmp, sizeof tmp, "%s.tmp", d->file);
	dlog_header(&d->attr, hdr);
	fd = openat(durable_dirfd, tmp,
	    O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		goto fail;
	end = DLOG_HDR_SIZE + head.len + sc.puts.len;
	if ((e = posix_fallocate(fd, 0, (off_t)end)) != 0) {
		errno = e;
		goto fail;
	}
	if (dflush_pwrite(fd, hdr, sizeof hdr, 0) != 0 ||
	    dflush_pwrite(fd, head.p, head.len, DLOG_HDR_SIZE) != 0 ||
	    dflush_pwrite(fd, sc.puts.p, sc.puts.len,
	        DLOG_HDR_SIZE + head.len) != 0)
		goto fail;
	crashpoint("durable.compact_written");
	if (fdatasync(fd) != 0)
		goto fail;
	d->syncs++;
	if (renameat(durable_dirfd, tmp, durable_dirfd, d->file) != 0)
		goto fail;
	crashpoint("durable.compact_renamed");
	if (fsync(durable_dirfd) != 0)
		log_warn("queue '%s': fsync of the state directory: %s",
		    d->attr.name, strerror(errno));
	if (d->fd >= 0)
		close(d->fd);
	d->fd = fd;
	d->end = d->reserved = end;
	d->broken = 0;
	d->gen = 0;
	dflush_take(d, &sc, &mt);
	d->sig = sig;
	dlog_buf_free(&head);
	dflush_scan_free(&sc);
	return CQ_OK;
fail:
	e = errno;
	if (fd >= 0) {
		close(fd);
		unlinkat(durable_dirfd, tmp, 0);
	}
	d->broken = 1;
	log_error("queue '%s': rewriting durable log %s: %s", d->attr.name,
	    d->file, strerror(e));
	dlog_buf_free(&head);
	dflush_scan_free(&sc);
	errno = e;
	return dflush_errno_status(e);
}

/* Change signature of q's segment. */
uint64_t
dflush_sig(struct core_queue *q)
{
	return core_change_sig(q);
}
