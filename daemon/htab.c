/* htab.c - an intrusive chained hash table keyed by caller-computed hashes. */

#include <stdlib.h>

#include "daemon/htab.h"

#define HTAB_MIN 16

/* Start with no buckets: the first insert allocates them. */
void
htab_init(struct htab *t)
{
	t->b = NULL;
	t->nb = 0;
	t->n = 0;
}

/* Free the buckets (the entries belong to the caller). */
void
htab_free(struct htab *t)
{
	free(t->b);
	htab_init(t);
}

/* Double the buckets; keep the old ones if out of memory. */
static void
htab_grow(struct htab *t)
{
	size_t nb = t->nb ? t->nb * 2 : HTAB_MIN, i;
	struct hentry **b, *e, *next;

	if ((b = calloc(nb, sizeof *b)) == NULL)
		return;
	for (i = 0; i < t->nb; i++) {
		for (e = t->b[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

/* Insert e; growing keeps chains short so lookups stay O(1). */
int
htab_insert(struct htab *t, struct hentry *e, uint64_t h)
{
	size_t i;

	if (t->n >= t->nb)
		htab_grow(t);
	if (t->nb == 0)
		return -1;
	e->hash = h;
	i = h & (t->nb - 1);
	e->next = t->b[i];
	t->b[i] = e;
	t->n++;
	return 0;
}

/* Find the entry with hash h that m accepts. */
struct hentry *
htab_find(const struct htab *t, uint64_t h, htab_match_fn *m, const void *key)
{
	struct hentry *e;

	if (t->nb == 0)
		return NULL;
	for (e = t->b[h & (t->nb - 1)]; e != NULL; e = e->next)
		if (e->hash == h && m(e, key))
			return e;
	return NULL;
}

/* Unlink e (it must be in t). */
void
htab_remove(struct htab *t, struct hentry *e)
{
	struct hentry **pp;

	if (t->nb == 0)
		return;
	for (pp = &t->b[e->hash & (t->nb - 1)]; *pp != NULL;
	     pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			t->n--;
			return;
		}
	}
}

/* Step through every entry (do not remove the returned one meanwhile). */
struct hentry *
htab_next(const struct htab *t, size_t *i, struct hentry *e)
{
	if (e != NULL) {
		if (e->next != NULL)
			return e->next;
		(*i)++;
	}
	for (; *i < t->nb; (*i)++)
		if (t->b[*i] != NULL)
			return t->b[*i];
	return NULL;
}

/*
 * For draining a table: the first entry in a bucket >= *i, or NULL. The
 * caller removes it and calls again with the same *i, so a whole drain
 * costs O(entries + buckets).
 */
struct hentry *
htab_drain_next(const struct htab *t, size_t *i)
{
	for (; *i < t->nb; (*i)++)
		if (t->b[*i] != NULL)
			return t->b[*i];
	return NULL;
}

/* FNV-1a over len bytes. */
uint64_t
htab_hash_bytes(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = 0xcbf29ce484222325ull;

	while (len-- > 0) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Mix the bits of an integer key (splitmix64 finaliser). */
uint64_t
htab_hash_u64(uint64_t v)
{
	v ^= v >> 30;
	v *= 0xbf58476d1ce4e5b9ull;
	v ^= v >> 27;
	v *= 0x94d049bb133111ebull;
	v ^= v >> 31;
	return v;
}
