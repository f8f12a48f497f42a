/* dlog.c - a durable queue's log file: its format, writing and replay. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "daemon/dlog.h"

#define DLOG_VERSION 1
#define DLOG_CRC_AT  (DLOG_HDR_SIZE - 4)

/* Logs made before max_bytes was appended are read too (dlog_attr). */
_Static_assert(DLOG_ATTR_SIZE_1 == 136, "the first header's attributes");
_Static_assert(16 + sizeof(struct dlog_attr) <= DLOG_CRC_AT,
    "dlog_attr outgrew the header");

/* Encode a header for attr into buf (DLOG_HDR_SIZE bytes). */
void
dlog_header(const struct dlog_attr *attr, unsigned char *buf)
{
	uint32_t v = DLOG_VERSION, sz = sizeof *attr, crc;

	memset(buf, 0, DLOG_HDR_SIZE);
	memcpy(buf, DLOG_MAGIC, 8);
	memcpy(buf + 8, &v, 4);
	memcpy(buf + 12, &sz, 4);
	memcpy(buf + 16, attr, sizeof *attr);
	crc = crc32c(0, buf, DLOG_CRC_AT);
	memcpy(buf + DLOG_CRC_AT, &crc, 4);
}

/* Decode and check a header: 0, or -1 if it is not a valid one. */
int
dlog_header_parse(const unsigned char *buf, struct dlog_attr *attr)
{
	uint32_t v, sz, crc;

	memcpy(&v, buf + 8, 4);
	memcpy(&sz, buf + 12, 4);
	memcpy(&crc, buf + DLOG_CRC_AT, 4);
	if (memcmp(buf, DLOG_MAGIC, 8) != 0 || v != DLOG_VERSION ||
	    (sz != sizeof *attr && sz != DLOG_ATTR_SIZE_1) ||
	    crc != crc32c(0, buf, DLOG_CRC_AT))
		return -1;
	memset(attr, 0, sizeof *attr);
	memcpy(attr, buf + 16, sz);
	attr->name[CQ_NAME_MAX] = '\0';
	if (sz == DLOG_ATTR_SIZE_1) {
		/* Made by a daemon of the fixed-slot layout. */
		attr->max_bytes = (uint64_t)attr->capacity * attr->max_size;
		if (attr->max_bytes > CQ_MAX_BYTES_MAX)
			attr->max_bytes = CQ_MAX_BYTES_MAX;
	}
	if (!cq_name_valid(attr->name, strlen(attr->name)) ||
	    attr->capacity == 0 || attr->max_size == 0 || attr->bands == 0 ||
	    attr->bands > CQ_BANDS_MAX || attr->policy > CQ_DURABLE_NEVER ||
	    attr->max_bytes > CQ_MAX_BYTES_MAX ||
	    (attr->max_bytes != 0 && attr->max_bytes < attr->max_size))
		return -1;
	return 0;
}

/* Append one record (data may be NULL when len is 0): 0 or -1 (ENOMEM). */
int
dlog_append(struct dlog_buf *b, const struct dlog_rec *r, const void *data)
{
	size_t need = dlog_rec_bytes(r->len), cap;
	struct dlog_rec rec = *r;
	unsigned char *p;
	uint32_t crc;

	if (b->cap - b->len < need) {
		cap = b->cap ? b->cap : 64 * 1024;
		while (cap - b->len < need)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	rec.gen = b->gen;
	rec.pad = 0;
	crc = crc32c(0, (const unsigned char *)&rec + 4, DLOG_REC_SIZE - 4);
	if (rec.len > 0)
		crc = crc32c(crc, data, rec.len);
	rec.crc = crc;
	p = b->p + b->len;
	memcpy(p, &rec, DLOG_REC_SIZE);
	if (rec.len > 0)
		memcpy(p + DLOG_REC_SIZE, data, rec.len);
	memset(p + DLOG_REC_SIZE + rec.len, 0,
	    need - DLOG_REC_SIZE - rec.len);
	b->len += need;
	return 0;
}

void
dlog_buf_free(struct dlog_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* The live set while replaying: messages, and an id -> index table. */
struct replay {
	struct dlog_msg *m;
	unsigned char *dead;
	size_t n, cap;
	uint64_t *keys; /* id, 0 empty, UINT64_MAX tombstone */
	size_t *vals;
	size_t tcap, tused;
};

static size_t
replay_hash(uint64_t id, size_t cap)
{
	id ^= id >> 33;
	id *= UINT64_C(0xff51afd7ed558ccd);
	id ^= id >> 33;
	return (size_t)id & (cap - 1);
}

/* Index of id in the table, or where it would go (*found says which). */
static size_t
replay_slot(const struct replay *r, uint64_t id, int *found)
{
	size_t i = replay_hash(id, r->tcap), tomb = SIZE_MAX;

	for (;; i = (i + 1) & (r->tcap - 1)) {
		if (r->keys[i] == id) {
			*found = 1;
			return i;
		}
		if (r->keys[i] == 0) {
			*found = 0;
			return tomb != SIZE_MAX ? tomb : i;
		}
		if (r->keys[i] == UINT64_MAX && tomb == SIZE_MAX)
			tomb = i;
	}
}

static int
replay_grow(struct replay *r)
{
	uint64_t *ok = r->keys;
	size_t *ov = r->vals, ocap = r->tcap, i, j;
	int found;

	r->tcap = ocap ? ocap * 2 : 1024;
	while (r->tcap < 4 * r->n + 8)
		r->tcap *= 2;
	r->keys = calloc(r->tcap, sizeof *r->keys);
	r->vals = calloc(r->tcap, sizeof *r->vals);
	if (r->keys == NULL || r->vals == NULL) {
		free(r->keys);
		free(r->vals);
		r->keys = ok;
		r->vals = ov;
		r->tcap = ocap;
		return -1;
	}
	r->tused = 0;
	for (i = 0; i < ocap; i++) {
		if (ok[i] == 0 || ok[i] == UINT64_MAX)
			continue;
		j = replay_slot(r, ok[i], &found);
		r->keys[j] = ok[i];
		r->vals[j] = ov[i];
		r->tused++;
	}
	free(ok);
	free(ov);
	return 0;
}

/* Apply one good record. 0, or -1 (ENOMEM). */
static int
replay_apply(struct replay *r, struct dlog_state *st, const struct dlog_rec *rec,
    const unsigned char *data)
{
	struct dlog_msg *m;
	size_t i, cap;
	int found;

	if (rec->type == DLOG_META) {
		if (st->next_id < rec->aux)
			st->next_id = rec->aux;
		st->closed = rec->deliveries != 0;
		st->paused = rec->pos;
		if (rec->enqueued_ns & DLOG_META_MODE) {
			st->has_owner = 1;
			st->uid = (uint32_t)(rec->id >> 32);
			st->gid = (uint32_t)rec->id;
			st->mode = (uint32_t)rec->enqueued_ns & 07777;
		}
		return 0;
	}
	if (rec->id == 0 || rec->id >= UINT64_MAX / 2)
		return 0; /* never written by us: ignored */
	if (st->next_id <= rec->id)
		st->next_id = rec->id + 1;
	if ((r->tused + 1) * 2 > r->tcap && replay_grow(r) != 0)
		return -1;
	i = replay_slot(r, rec->id, &found);
	switch (rec->type) {
	case DLOG_PUT:
		if (found) { /* a second PUT of a live id: the later wins */
			m = &r->m[r->vals[i]];
			free(m->data);
		} else {
			if (r->n == r->cap) {
				cap = r->cap ? r->cap * 2 : 256;
				if ((m = realloc(r->m, cap * sizeof *m)) ==
				    NULL)
					return -1;
				r->m = m;
				if ((m = (void *)realloc(r->dead, cap)) == NULL)
					return -1;
				r->dead = (unsigned char *)m;
				r->cap = cap;
			}
			if (r->keys[i] == 0)
				r->tused++;
			r->keys[i] = rec->id;
			r->vals[i] = r->n;
			r->dead[r->n] = 0;
			m = &r->m[r->n++];
		}
		m->id = rec->id;
		m->len = rec->len;
		m->data = NULL;
		if (rec->len > 0) {
			if ((m->data = malloc(rec->len)) == NULL)
				return -1;
			memcpy(m->data, data, rec->len);
		}
		break;
	case DLOG_MOVE:
		if (!found)
			return 0; /* moved after a DEL: cannot happen; ignored */
		m = &r->m[r->vals[i]];
		break;
	default: /* DLOG_DEL */
		if (found) {
			r->dead[r->vals[i]] = 1;
			free(r->m[r->vals[i]].data);
			r->m[r->vals[i]].data = NULL;
			r->keys[i] = UINT64_MAX;
		}
		return 0;
	}
	m->band = rec->band;
	m->pos = rec->pos;
	m->enqueued_ns = rec->type == DLOG_PUT ? rec->enqueued_ns
	                                       : m->enqueued_ns;
	m->deliveries = rec->deliveries;
	m->due_ns = rec->aux;
	return 0;
}

/* Pop order: band first (as stored; the queue serves high bands first). */
static int
replay_cmp(const void *a, const void *b)
{
	const struct dlog_msg *x = a, *y = b;

	if (x->band != y->band)
		return x->band < y->band ? -1 : 1;
	/* pos 0: leased (back at the head) or delayed; else ring order. */
	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The same over a memory image (the crash-state test uses it). */
int
dlog_replay_mem(const unsigned char *p, size_t len, struct dlog_state *st)
{
	struct replay r;
	struct dlog_rec rec;
	size_t off = DLOG_HDR_SIZE, need, i, k;
	uint32_t crc, gen = 0;

	memset(st, 0, sizeof *st);
	memset(&r, 0, sizeof r);
	if (len < DLOG_HDR_SIZE || dlog_header_parse(p, &st->attr) != 0) {
		errno = EINVAL;
		return -1;
	}
	st->next_id = 1;
	while (len - off >= DLOG_REC_SIZE) {
		memcpy(&rec, p + off, DLOG_REC_SIZE);
		if (rec.type < DLOG_PUT || rec.type > DLOG_META ||
		    rec.gen < gen ||
		    (rec.type != DLOG_PUT && rec.len != 0) ||
		    rec.len > st->attr.max_size || rec.band >= st->attr.bands)
			break;
		need = dlog_rec_bytes(rec.len);
		if (len - off < need)
			break;
		crc = crc32c(0, p + off + 4, DLOG_REC_SIZE - 4);
		if (rec.len > 0)
			crc = crc32c(crc, p + off + DLOG_REC_SIZE, rec.len);
		if (crc != rec.crc)
			break;
		if (replay_apply(&r, st, &rec, p + off + DLOG_REC_SIZE) != 0)
			goto nomem;
		gen = rec.gen;
		off += need;
		st->records++;
	}
	st->end = off;
	st->gen = gen;
	for (i = k = 0; i < r.n; i++)
		if (!r.dead[i])
			r.m[k++] = r.m[i];
	st->msgs = r.m;
	st->n = k;
	if (k > 1)
		qsort(st->msgs, k, sizeof *st->msgs, replay_cmp);
	free(r.dead);
	free(r.keys);
	free(r.vals);
	return 0;
nomem:
	for (i = 0; i < r.n; i++)
		if (!r.dead[i])
			free(r.m[i].data);
	free(r.m);
	free(r.dead);
	free(r.keys);
	free(r.vals);
	memset(st, 0, sizeof *st);
	errno = ENOMEM;
	return -1;
}

/* Replay the log in fd (whole file). */
int
dlog_replay(int fd, struct dlog_state *st)
{
	struct stat sb;
	unsigned char *p;
	size_t got = 0;
	ssize_t n;
	int r, e;

	if (fstat(fd, &sb) != 0)
		return -1;
	if ((p = malloc((size_t)sb.st_size + 1)) == NULL)
		return -1;
	while (got < (size_t)sb.st_size) {
		n = pread(fd, p + got, (size_t)sb.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	r = dlog_replay_mem(p, got, st);
	e = errno;
	free(p);
	errno = e;
	return r;
}

void
dlog_state_free(struct dlog_state *st)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		free(st->msgs[i].data);
	free(st->msgs);
	memset(st, 0, sizeof *st);
}
