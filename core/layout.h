/* layout.h - the shared-memory layout of a queue segment (core/ only). */

#ifndef CQ_CORE_LAYOUT_H
#define CQ_CORE_LAYOUT_H

/*
 * A segment is, at 64-byte aligned offsets (offsets, never pointers, so
 * every process may map it anywhere):
 *
 *   struct queue_hdr                    immutable part, checksum, mutable
 *                                       words, the robust mutex
 *   uint32_t ring[bands][capacity]      slot indices; band b live range is
 *                                       [head[b], tail[b]) modulo capacity
 *   slots[capacity]                     struct queue_slot + payload
 *                                       (max_size rounded up to 8)
 *   struct queue_inflight[capacity]     indexed BY SLOT; id 0 = free
 *   uint32_t free[capacity]             free slot stack (derived)
 *
 * Commit points: each mutation publishes itself with one aligned 8-byte
 * release store made after the data it covers (tail for push, head for
 * pop, push_front and return, inflight[slot].id for confirm; purge and
 * remove in core/browse.c). A process
 * killed before that store did nothing, after it did exactly one
 * operation. Everything else in the mutable part (free stack and its top,
 * in_flight, next_id, the counters) is derived: it is updated after the
 * commit and rebuilt by recovery from the rings and the in-flight table,
 * so the dead_lettered counter may lag by one operation after a crash;
 * core_stat derives total_pushed (next_id - 1) and total_popped (pushed
 * minus queued minus in flight) from committed state, so they stay exact.
 *
 * The free stack lives in the segment (not in the process) because several
 * processes may mutate one segment; it is only touched under the lock and
 * a process that dies holding the lock makes the next locker rebuild it.
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
 * Layout 2 added the direct path's words (struct queue_hdr, after owner) in
 * what layout 1 left as zeroed padding; nothing else moved. A layout-1
 * segment is attached and served by the daemon as before, never handed to
 * a direct client (doc/direct-path.md, "Layout versions").
 */
#define QUEUE_MAGIC          UINT64_C(0x31657565716e7163) /* "cqnqueue1" */
#define QUEUE_LAYOUT         2
#define QUEUE_LAYOUT_MIN     1 /* oldest layout core_attach accepts */
#define QUEUE_LAYOUT_DIRECT  2 /* oldest layout with the direct words */
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
	uint64_t slot_off;
	uint64_t inflight_off;
	uint64_t free_off;
	uint64_t base; /* initial head/tail */
	uint32_t capacity;
	uint32_t max_size;
	uint32_t bands;
	uint32_t slot_size;
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

/*
 * The owner word took what was padding before the 64-aligned lock: it must
 * not start a new 64-byte block, or the lock (and the layout) would move.
 */
_Static_assert(offsetof(struct queue_hdr, owner) % 64 != 0,
    "the owner word moved the lock: bump QUEUE_LAYOUT");
_Static_assert(offsetof(struct queue_hdr, lock) ==
                   offsetof(struct queue_hdr, closed) + 256,
    "a mutable word moved the lock: bump QUEUE_LAYOUT");

/*
 * Layout 2's words also went into padding: the lock, and with it every
 * offset, stays where layout 1 put it.
 */
_Static_assert(
    (offsetof(struct queue_hdr, daemon_pushers) + 4 + 63) / 64 * 64 ==
        offsetof(struct queue_hdr, lock),
    "the direct words moved the lock: layout 1 would be misread");

/* A slot: message header then payload. */
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

/* Offsets and sizes computed from (capacity, max_size, bands). */
struct queue_geom {
	uint64_t ring_off;
	uint64_t slot_off;
	uint64_t inflight_off;
	uint64_t free_off;
	uint64_t total;
	uint32_t slot_size;
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
	unsigned char *slots;
	struct queue_inflight *inflight;
	uint32_t *free;
	uint32_t capacity; /* cached from the validated header: never */
	uint32_t max_size; /* re-read from shared memory for indexing */
	uint32_t bands;
	uint32_t slot_size;
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

/* Call the crash hook (tests only) at a named site. */
#define CORE_HOOK(site)                                                        \
	do {                                                                   \
		if (core_crash_hook != NULL)                                   \
			core_crash_hook(site);                                 \
	} while (0)

/* Slot s of q. */
static inline struct queue_slot *
queue_slot_at(struct core_queue *q, uint32_t s)
{
	return (
	    struct queue_slot *)(void *)(q->slots + (size_t)s * q->slot_size);
}

#endif /* CQ_CORE_LAYOUT_H */
