/* layout.h - the shared-memory layout of a queue segment (core/ only). */

#ifndef CQ_CORE_LAYOUT_H
#define CQ_CORE_LAYOUT_H

/*
 * A segment (layout 3) is, at 64-byte aligned offsets (offsets, never
 * pointers, so every process may map it anywhere):
 *
 *   struct queue_hdr                    immutable part, checksum, mutable
 *                                       words, the robust mutex
 *   uint32_t ring[bands][capacity]      slot indices; band b live range is
 *                                       [head[b], tail[b]) modulo capacity
 *   uint64_t idx[capacity]              slot -> its record in the heap:
 *                                       first chunk | length << 32
 *   struct queue_inflight[capacity]     indexed BY SLOT; id 0 = free
 *   uint32_t free[capacity]             free slot stack (derived)
 *   uint64_t map[heap pages]            chunk bitmap, 1 = used (derived)
 *   uint64_t back[heap pages / 64]      page bitmap, 1 = backed by memory
 *   heap (page aligned)                 heap_chunks chunks of 64 bytes, then
 *                                       one largest record of slack
 *
 * Everything before the heap is reserved (fallocated) at create; the heap
 * is sparse: a page is backed (MADV_POPULATE_WRITE) before a record is
 * written into it and given back (MADV_REMOVE) by core_trim once no record
 * uses it. A message is a record: struct queue_slot, then its payload, in
 * whole chunks (core/heap.c, doc/varsize.md).
 *
 * Commit points: each mutation publishes itself with one aligned 8-byte
 * release store made after the data it covers (tail for push, head for
 * pop, push_front and return, inflight[slot].id for confirm; purge and
 * remove in core/browse.c). A process
 * killed before that store did nothing, after it did exactly one
 * operation. Everything else in the mutable part (free stack and its top,
 * the chunk bitmap, bytes and the allocation hint, in_flight, next_id,
 * the counters) is derived: it is updated before or after the commit and
 * rebuilt by recovery from the rings, the in-flight table and the records
 * they name, so the dead_lettered counter may lag by one operation after a
 * crash; core_stat derives total_pushed (next_id - 1) and total_popped
 * (pushed minus queued minus in flight) from committed state, so they stay
 * exact. A slot's idx entry is written while the slot is free, before the
 * commit that makes it live, and never while it is live.
 *
 * The free stack and the bitmap live in the segment (not in the process)
 * because several processes may mutate one segment; they are only touched
 * under the lock and a process that dies holding the lock makes the next
 * locker rebuild them.
 *
 * head/tail are uint64 counters that start at "base", a multiple of the
 * capacity near 2^62, so push_front can decrement them and counter %
 * capacity stays the ring position for practically ever.
 */

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/queue.h"

/*
 * Layout 3 (issue 17) replaced layout 2's fixed slots of max_size bytes by
 * the heap of records: every offset after the ring moved. Layouts 1 and 2
 * are refused (CQ_CORRUPT from attach, with QUEUE_LAYOUT_OLD telling the
 * daemon to say why): see doc/varsize.md, "Older segments".
 */
#define QUEUE_MAGIC          UINT64_C(0x31657565716e7163) /* "cqnqueue1" */
#define QUEUE_LAYOUT         3
#define QUEUE_LAYOUT_MIN     3 /* oldest layout core_attach accepts */
#define QUEUE_LAYOUT_DIRECT  2 /* oldest layout with the direct words */
#define QUEUE_CHUNK          64u   /* heap allocation unit */
#define QUEUE_PAGE           4096u /* heap backing unit: 64 chunks */
#define QUEUE_PAGE_CHUNKS    (QUEUE_PAGE / QUEUE_CHUNK)
#define QUEUE_MAX_SIZE       (UINT32_C(1) << 30) /* largest max_size */
#define QUEUE_NAME_LEN       72                  /* name buffer, padded */
#define QUEUE_IMM_NO_DIRECT  1u                  /* imm.flags: socket only */
#define QUEUE_ATTACH_LOCK_MS 250                 /* lock wait inside attach */

/* Decode hdr->owner into *uid, *gid (unchanged if the word is 0). */
static inline void
layout_owner(uint64_t word, uint32_t *uid, uint32_t *gid)
{
	if (word != 0) {
		*uid = (uint32_t)(~word >> 32);
		*gid = (uint32_t)~word;
	}
}

/* The immutable part, fixed at create and covered by hcrc. */
struct queue_imm {
	uint64_t magic;
	uint32_t layout;
	uint32_t hdr_size;
	uint64_t total_size;
	uint64_t ring_off;
	uint64_t idx_off;
	uint64_t inflight_off;
	uint64_t free_off;
	uint64_t map_off;
	uint64_t back_off;
	uint64_t heap_off;
	uint64_t heap_chunks; /* a multiple of QUEUE_PAGE_CHUNKS */
	uint64_t max_bytes;   /* bound on the payload bytes held */
	uint64_t base;        /* initial head/tail */
	uint32_t capacity;
	uint32_t max_size;
	uint32_t bands;
	uint32_t pad0;
	uint32_t uid;
	uint32_t gid;
	uint32_t max_deliveries;
	uint32_t lease_ms;
	uint32_t serial;
	uint32_t flags; /* QUEUE_IMM_*; padding (0) before no_direct */
	char name[QUEUE_NAME_LEN];
};

/* Segment header. */
struct queue_hdr {
	struct queue_imm imm;
	uint32_t hcrc; /* crc32c of imm */
	uint32_t pad1;

	/* Mutable words (see the commit rules above). */
	uint64_t closed __attribute__((aligned(64)));
	uint64_t paused;
	uint64_t quarantined; /* set by a failed recovery: stop everyone */
	uint64_t mode;        /* queue permission bits (core_set_mode) */
	uint64_t next_id;
	uint64_t in_flight; /* derived */
	uint64_t free_top;  /* derived */
	uint64_t total_pushed;
	uint64_t total_popped; /* confirmed: left the queue for good */
	uint64_t dead_lettered;
	uint64_t head[CQ_BANDS_MAX];
	uint64_t tail[CQ_BANDS_MAX];
	/*
	 * Owner since a core_set_owner: ~(uid << 32 | gid), one word so a
	 * crash never pairs a new uid with an old gid; 0 (never changed,
	 * or a segment older than the word, which sits in what was padding)
	 * means imm.uid/imm.gid. imm stays as created: it is checksummed.
	 */
	uint64_t owner;
	/*
	 * Messages dropped because their slot failed its checksum (on
	 * delivery or in recovery). Derived like dead_lettered: it may be
	 * off by one after a crash. 0 in segments older than the word.
	 */
	uint64_t corrupt_dropped;
	/*
	 * The heap (layout 3), all derived: payload bytes held by live
	 * records (checked against max_bytes), where the next search starts
	 * (the record freed last, or the chunk after the one allocated
	 * last). (Which pages are backed is the back bitmap; what they
	 * cost, the file's st_blocks.)
	 */
	uint64_t bytes;
	uint64_t heap_hint;

	/*
	 * The direct path (layout 2; see core/direct.h). Futex words and
	 * counts: any value is safe to read (a wrong count costs a spare
	 * wake-up, a doorbell or a wrong length, never memory safety).
	 */
	uint32_t push_seq;       /* futex: bumped after push, return, close,
	                            resume, recovery: poppers sleep on it */
	uint32_t pop_seq;        /* futex: bumped after a slot frees, close,
	                            recovery: pushers sleep on it */
	uint32_t pop_waiters;    /* direct poppers registered on push_seq */
	uint32_t push_waiters;   /* direct pushers registered on pop_seq */
	uint32_t many_waiters;   /* of those, pushers needing > 1 slot */
	                         /* (each: 8-bit generation | 24-bit count) */
	uint32_t waiter_epoch;   /* bumped by recovery with the counts reset */
	uint32_t daemon_poppers; /* socket poppers parked in the daemon */
	uint32_t daemon_pushers; /* socket pushers parked in the daemon */

	pthread_mutex_t lock __attribute__((aligned(64)));

	/*
	 * Per-queue settings of issue 18, written at create before the magic,
	 * in what layouts 1 and 2 left as zeroed padding after the lock (0:
	 * off, as in every older segment). Not checksummed: a mapper may
	 * rewrite them, and any value is safe (a mapper may pop anyway).
	 */
	uint64_t ttl_ms;          /* per-queue time to live, 0: none */
	uint64_t dedup_window_ms; /* de-duplication window, 0: none */
	/*
	 * Messages dropped or dead-lettered at their time to live (the
	 * daemon's expiry, daemon/expire.c). Counted like dead_lettered: it
	 * may be off by one after a crash; 0 in segments older than it.
	 */
	uint64_t expired;
};

_Static_assert(sizeof(struct queue_hdr) ==
                   offsetof(struct queue_hdr, lock) + 64,
    "the words after the lock outgrew its 64-byte block: bump QUEUE_LAYOUT");

/* A record (a slot's message): header then payload, in whole chunks. */
struct queue_slot {
	uint64_t id;
	uint64_t enqueued_ns; /* CLOCK_REALTIME */
	uint32_t len;
	uint32_t crc; /* crc32c over id, band, len, payload */
	uint32_t band;
	uint32_t deliveries;
	unsigned char data[];
};

/* An in-flight entry, indexed by slot. id is its commit word. */
struct queue_inflight {
	uint64_t id; /* 0: free */
	uint64_t owner;
	uint64_t deadline_ns;
};

/* Offsets and sizes computed from (capacity, max_size, bands, max_bytes). */
struct queue_geom {
	uint64_t ring_off;
	uint64_t idx_off;
	uint64_t inflight_off;
	uint64_t free_off;
	uint64_t map_off;
	uint64_t back_off;
	uint64_t heap_off; /* everything before it is reserved at create */
	uint64_t heap_chunks;
	uint64_t total;
};

/* Process-local handle. */
struct core_queue {
	unsigned char *base; /* mapping */
	size_t size;
	int fd;    /* core_attach_fd's fd; -1 for a segment opened by name */
	int dirfd; /* directory of a named segment (reopened, never held) */
	int own_dirfd;   /* dirfd is ours to close (the /dev/shm wrappers) */
	char fname[256]; /* the segment's name in dirfd */
	unsigned long long dev, ino; /* the file attach checked */
	struct queue_hdr *hdr;
	uint32_t *ring;
	uint64_t *idx;
	struct queue_inflight *inflight;
	uint32_t *free;
	uint64_t *map;
	uint64_t *back;
	unsigned char *heap;
	uint64_t heap_chunks; /* cached from the validated header: never */
	uint32_t capacity;    /* re-read from shared memory for indexing */
	uint32_t max_size;
	uint32_t bands;
	int full_bytes;   /* the last push found no room for its bytes */
	unsigned poll_misses; /* direct polls in a row that saw no change */
	uint64_t trimmed; /* pages the last core_trim gave back */
	struct queue_imm imm; /* validated copy of the immutable part */
	struct core_attr attr;
	int64_t lock_ms;
	int corrupt;         /* quarantined */
	uint64_t dropped;    /* corrupt messages this handle dropped */
	int locked;          /* we hold the lock (kept if a SIGBUS hit) */
	unsigned char *mark; /* recovery scratch: capacity bytes */
	uint32_t file_uid;   /* owner the file must keep: our euid, or the
	                        daemon's for core_attach_fd */
	uint32_t *order;     /* return_all scratch: capacity slots */
};

/*
 * The record of slot s in a raw mapping of a segment whose header was
 * checked (tests and tools that poke at a segment without a handle).
 */
static inline struct queue_slot *
layout_record(unsigned char *base, uint32_t s)
{
	const struct queue_hdr *h = (const struct queue_hdr *)(void *)base;
	const uint64_t *idx = (const uint64_t *)(const void *)(base +
	                                                         h->imm.idx_off);

	return (struct queue_slot *)(void *)(base + h->imm.heap_off +
	                                     (size_t)(uint32_t)idx[s] *
	                                         QUEUE_CHUNK);
}

/* Call the crash hook (tests only) at a named site. */
#define CORE_HOOK(site)                                                        \
	do {                                                                   \
		if (core_crash_hook != NULL)                                   \
			core_crash_hook(site);                                 \
	} while (0)

/*
 * The record of slot s (s < capacity) of q. The idx entry is read once
 * and a chunk beyond the heap is taken as chunk 0, so whatever a mapper
 * wrote there, the record and max_size bytes after it lie in the mapping
 * (the heap ends with one largest record of slack).
 */
static inline struct queue_slot *
queue_slot_at(struct core_queue *q, uint32_t s)
{
	uint64_t r = __atomic_load_n(&q->idx[s], __ATOMIC_RELAXED);
	uint32_t c = (uint32_t)r;

	if (c >= q->heap_chunks)
		c = 0;
	return (struct queue_slot *)(void *)(q->heap + (size_t)c * QUEUE_CHUNK);
}

#endif /* CQ_CORE_LAYOUT_H */
