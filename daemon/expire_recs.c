/* expire_recs.c - messages' own times to live: records by id and N.ttl. */

#include <stdlib.h>
#include <string.h>

#include "daemon/expire_recs.h"
#include "daemon/log.h"
#include "daemon/registry.h"

/* A record in N.ttl. */
struct expire_recs_disk {
	uint32_t crc; /* crc32c of the rest (sidecar_put) */
	uint32_t zero;
	uint64_t id;
	uint64_t due;
};

static size_t expire_recs_size(const uint8_t *p);

/* N.ttl: magic, then fixed-size records. */
static const struct sidecar_kind expire_recs_kind = {
    .sfx = ".ttl",
    .magic = "CQTTL001",
    .what = "records file",
    .crash = NULL,
    .max_size = (uint64_t)256 << 20,
    .hdr = sizeof(struct expire_recs_disk),
    .size = expire_recs_size,
};

/* Set r up for q. */
void
expire_recs_init(struct expire_recs *r, struct rqueue *q)
{
	memset(r, 0, sizeof *r);
	sidecar_init(&r->file, &expire_recs_kind, q);
}

/* Free r's records, close its file. */
void
expire_recs_free(struct expire_recs *r)
{
	sidecar_close(&r->file);
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

/* 1 if q has a records file. */
int
expire_recs_exist(const struct rqueue *q)
{
	return sidecar_exists(&expire_recs_kind, q);
}

/* Remove q's records file. */
void
expire_recs_unlink(const struct rqueue *q)
{
	sidecar_unlink(&expire_recs_kind, q);
}

/* The record of id, or NULL (binary search). */
struct expire_rec *
expire_recs_find(struct expire_recs *r, uint64_t id)
{
	size_t lo = 0, hi = r->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (r->v[mid].id == id)
			return &r->v[mid];
		if (r->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Order records by id. */
static int
expire_recs_cmp(const void *a, const void *b)
{
	const struct expire_rec *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Hold a record; -1 if out of memory. Ids mostly come in order. */
static int
expire_recs_hold(struct expire_recs *r, uint64_t id, uint64_t due)
{
	struct expire_rec *v;
	size_t cap;

	if (r->n == r->cap) {
		cap = r->cap ? 2 * r->cap : 64;
		if ((v = realloc(r->v, cap * sizeof *v)) == NULL)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n].id = id;
	r->v[r->n].due = due;
	r->v[r->n].seen = 0;
	r->n++;
	if (r->n > 1 && r->v[r->n - 2].id >= id)
		qsort(r->v, r->n, sizeof *r->v, expire_recs_cmp);
	return 0;
}

/* Encode rec into d (the crc is sidecar_put's). */
static void
expire_recs_encode(const struct expire_rec *rec, struct expire_recs_disk *d)
{
	memset(d, 0, sizeof *d);
	d->id = rec->id;
	d->due = rec->due;
}

/* A record's length; 0 if it is damaged. */
static size_t
expire_recs_size(const uint8_t *p)
{
	struct expire_recs_disk d;

	memcpy(&d, p, sizeof d);
	return d.zero != 0 || d.id == 0 ? 0 : sizeof d;
}

/* Compaction: put every record held. */
static int64_t
expire_recs_put_all(void *arg, int fd)
{
	struct expire_recs *r = arg;
	struct expire_recs_disk d;
	size_t i;

	for (i = 0; i < r->n; i++) {
		expire_recs_encode(&r->v[i], &d);
		if (sidecar_put(fd, (uint8_t *)&d, sizeof d) != 0)
			return -1;
	}
	return (int64_t)r->n;
}

/* Rewrite the file with the records held. */
void
expire_recs_compact(struct expire_recs *r)
{
	sidecar_compact(&r->file, expire_recs_put_all, r);
}

/* A record of N.ttl (its crc checked): hold it. */
static int
expire_recs_load_rec(void *arg, const uint8_t *p, size_t len)
{
	struct expire_recs *r = arg;
	struct expire_recs_disk d;

	(void)len;
	memcpy(&d, p, sizeof d);
	if (expire_recs_find(r, d.id) == NULL &&
	    expire_recs_hold(r, d.id, d.due) != 0)
		return -1;
	return 0;
}

/* Read q's file into r. */
void
expire_recs_load(struct expire_recs *r)
{
	sidecar_load(&r->file, expire_recs_load_rec, r);
}

/* Hold and append a record. */
int
expire_recs_add(struct expire_recs *r, uint64_t id, uint64_t due)
{
	struct rqueue *q = r->file.q;
	struct expire_recs_disk d;
	struct expire_rec *rec;

	if (r->file.fd < 0)
		expire_recs_compact(r); /* the queue's first record: a file */
	if (expire_recs_hold(r, id, due) != 0) {
		log_error("queue '%.*s': out of memory for a time to live "
		          "record",
		    (int)q->namelen, q->name);
		return -1;
	}
	if ((rec = expire_recs_find(r, id)) == NULL)
		return -1; /* cannot be: just held */
	expire_recs_encode(rec, &d);
	return sidecar_append(
	    &r->file, (uint8_t *)&d, sizeof d, "a time to live");
}

/* Compact the file when it holds over twice the records. */
void
expire_recs_tidy(struct expire_recs *r)
{
	if (r->file.records > 2 * r->n + 1024)
		expire_recs_compact(r);
}

/* Forget the records not seen by a sweep. */
void
expire_recs_prune(struct expire_recs *r)
{
	size_t i, k = 0;

	for (i = 0; i < r->n; i++)
		if (r->v[i].seen) {
			r->v[i].seen = 0;
			r->v[k++] = r->v[i];
		}
	r->n = k;
	expire_recs_tidy(r);
}
