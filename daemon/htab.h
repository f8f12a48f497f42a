/* htab.h - an intrusive chained hash table. */

#ifndef CQ_DAEMON_HTAB_H
#define CQ_DAEMON_HTAB_H

#include <stddef.h>
#include <stdint.h>

/* An intrusive chained hash table; the caller embeds struct hentry. */
struct hentry {
	struct hentry *next;
	uint64_t hash;
};

struct htab {
	struct hentry **b;
	size_t nb; /* buckets, a power of two */
	size_t n;  /* entries */
};

/* Return nonzero if entry e matches key. */
typedef int htab_match_fn(const struct hentry *e, const void *key);

void htab_init(struct htab *t);
void htab_free(struct htab *t);
/* Insert e with hash h (no duplicate check); -1 if out of memory. */
int htab_insert(struct htab *t, struct hentry *e, uint64_t h);
struct hentry *htab_find(
    const struct htab *t, uint64_t h, htab_match_fn *m, const void *key);
void htab_remove(struct htab *t, struct hentry *e);
/* Iterate: start with *i = 0 and e = NULL; NULL at the end. */
struct hentry *htab_next(const struct htab *t, size_t *i, struct hentry *e);
/* Draining: first entry in a bucket >= *i (start at 0), or NULL. */
struct hentry *htab_drain_next(const struct htab *t, size_t *i);
/* 64-bit hash of a byte string (FNV-1a). */
uint64_t htab_hash_bytes(const void *buf, size_t len);
/* Hash of an integer key. */
uint64_t htab_hash_u64(uint64_t v);

#endif /* CQ_DAEMON_HTAB_H */
