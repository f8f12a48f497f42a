/* arena.c - replies decoded into one arena each, the last one kept. */

#include <stddef.h>
#include <stdlib.h>

#include "arena.h"
#include "wire.h"

/*
 * Replies are unpacked into one arena instead of protobuf-c's malloc per
 * sub-message and per bytes field (a pop of 64 messages was ~130 mallocs
 * and frees). The Reply struct is the arena's first allocation, so the
 * Reply pointer finds its arena; the last freed arena is kept for the next
 * reply, which spares the page faults of a fresh large block per frame.
 */
struct arena {
	struct arena *more; /* overflow chunks (first chunk only) */
	struct arena *cur;  /* chunk allocations come from */
	size_t cap, used;
	max_align_t data[];
};

#define ARENA_ALIGN       (sizeof(max_align_t))
#define ARENA_SPARE_LIMIT (8u * 1024 * 1024)

/* A chunk with room for cap bytes. */
static struct arena *
arena_chunk(size_t cap)
{
	struct arena *a;

	if ((a = malloc(sizeof *a + cap)) == NULL)
		return NULL;
	a->more = NULL;
	a->cur = a;
	a->cap = cap;
	a->used = 0;
	return a;
}

/* ProtobufCAllocator.alloc: bump, or a new chunk when full. */
static void *
arena_alloc(void *ctx, size_t size)
{
	struct arena *a = ctx, *cur = a->cur, *n;
	void *p;

	size = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (cur->cap - cur->used < size) {
		if ((n = arena_chunk(size > cur->cap ? size : cur->cap)) ==
		    NULL)
			return NULL;
		n->more = a->more;
		a->more = n;
		a->cur = cur = n;
	}
	p = (char *)cur->data + cur->used;
	cur->used += size;
	return p;
}

/* ProtobufCAllocator.free: everything goes with the arena. */
static void
arena_free(void *ctx, void *p)
{
	(void)ctx;
	(void)p;
}

/* Release an arena: keep the first chunk for the next reply if free. */
static void
arena_release(cq_client *c, struct arena *a)
{
	struct arena *n, *next;

	for (n = a->more; n != NULL; n = next) {
		next = n->more;
		free(n);
	}
	if (c != NULL && c->spare == NULL && a->cap <= ARENA_SPARE_LIMIT) {
		c->spare = a;
		return;
	}
	free(a);
}

/* Free a reply decoded by arena_decode_reply (NULL is fine). */
void
arena_reply_free(cq_client *c, Conqueue__Reply *r)
{
	if (r != NULL)
		arena_release(c,
		    (struct arena *)((char *)r - offsetof(struct arena, data)));
}

/* Decode one reply strictly (as frame_decode_reply) into an arena. */
Conqueue__Reply *
arena_decode_reply(
    cq_client *c, const uint8_t *buf, size_t len, const char **why)
{
	ProtobufCAllocator al;
	Conqueue__Reply *r;
	struct arena *a;
	/* Decoded size: the bytes once more plus the structs around them. */
	size_t want = 2 * len + 1024;

	if (frame_check_wire(&conqueue__reply__descriptor, buf, len, why))
		return NULL;
	if ((a = c->spare) != NULL && a->cap >= want) {
		c->spare = NULL;
		a->more = NULL;
		a->cur = a;
		a->used = 0;
	} else if ((a = arena_chunk(want)) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	al.alloc = arena_alloc;
	al.free = arena_free;
	al.allocator_data = a;
	if (!wire_reply_unpack(&al, buf, len, &r))
		r = conqueue__reply__unpack(&al, len, buf);
	if (r == NULL || (void *)r != (void *)a->data) {
		/* (The Reply is always protobuf-c's first allocation.) */
		arena_release(c, a);
		*why = "undecodable message (missing required field?)";
		return NULL;
	}
	return r;
}
