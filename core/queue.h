/* queue.h - a bounded queue living in one shared-memory segment. */

#ifndef CQ_CORE_QUEUE_H
#define CQ_CORE_QUEUE_H

/*
 * The core never sleeps (beyond taking its lock with a deadline), logs,
 * allocates per operation or touches a socket. Every function returns a
 * cq_status; CQ_SYSTEM leaves errno set. EOWNERDEAD never leaves core/.
 *
 * Identities: a message is identified by (slot, id). The slot index is
 * process-local knowledge handed out by core_pop and passed back to
 * core_confirm/core_return; the id is unique and monotonic in the queue.
 *
 * Crash safety: every mutation commits with one aligned 8-byte store made
 * last, so a process killed inside an operation either did all of it or
 * none of it; the next locker (EOWNERDEAD) validates and repairs (see
 * core/layout.h). The dead_lettered counter may lag by one operation
 * after such a crash; total_pushed and total_popped are derived from
 * committed state and stay exact.
 *
 * Several processes may map one segment at once (each with its own
 * handle, from core_create or core_attach; a handle is used by one thread
 * at a time). Statuses: CQ_BUSY when the lock was not had in time,
 * CQ_CORRUPT once the segment is quarantined (then for every operation, on
 * every handle).
 *
 * A tampered lock never reaches glibc unchecked: a lock whose glibc kind is
 * not the one core_create made gives CQ_CORRUPT; an owner word naming a
 * thread that does not exist (kill(tid, 0) fails with ESRCH, or it names
 * the caller, who never nests) is treated as a dead owner: the word is
 * flagged FUTEX_OWNER_DIED as the kernel would, and the next locker
 * recovers. Liveness decides, never a timeout, so every process sharing
 * a segment must share the daemon's pid namespace.
 *
 * API
 *   core_create / core_attach / core_detach / core_unlink   segment life
 *   core_push / core_push_many                               enqueue
 *   core_pop / core_pop_many                                 queue -> in flight
 *   core_confirm / core_return / core_return_all / core_touch in flight
 *   core_inflight_next                                       iterate in flight
 *   core_close / core_set_paused / core_suspend / core_stat    state
 *   core_peek_msgs / core_purge / core_remove               browse (in place)
 *   core_check                                               validate + repair
 *   core_guard_install / core_guard_enter / core_guard_leave  SIGBUS guard
 *   core_guard_hold / core_guard_drop          SIGBUS guard while a client maps
 *   core_dropped                                             corrupt drops
 */

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "conqueue/conqueue.h"

struct core_queue; /* process-local handle on a mapped segment */

/* Attributes fixed at create. */
struct core_attr {
	char name[CQ_NAME_MAX + 1]; /* queue name, stored in the header */
	uint32_t capacity;          /* >= 1 */
	uint32_t max_size;          /* >= 1 */
	uint32_t bands;             /* 1..CQ_BANDS_MAX */
	uint32_t mode;              /* queue permission bits (not the file's) */
	uint32_t uid;               /* queue owner (from SO_PEERCRED) */
	uint32_t gid;
	uint32_t max_deliveries; /* 0: unlimited */
	uint32_t lease_ms;       /* default reserve lease */
	uint32_t serial;         /* 1: one message in flight at a time */
	uint32_t no_direct;      /* 1: never handed to direct clients */
	uint64_t ttl_ms;          /* per-queue time to live, 0: none */
	uint64_t dedup_window_ms; /* de-duplication window, 0: none */
	/*
	 * Bound on the payload bytes held (queued, in flight and delayed);
	 * 0 at create: the default (CORE_MAX_BYTES_DEFAULT, at least
	 * max_size, at most capacity * max_size). core_attr and core_stat
	 * show the value in force.
	 */
	uint64_t max_bytes;
};

/* max_bytes when create gives 0, and the largest a queue may have. */
#define CORE_MAX_BYTES_DEFAULT (UINT64_C(512) << 10)
#define CORE_MAX_BYTES_MAX     (UINT64_C(64) << 30)

/* A message handed out by core_pop: valid while it stays in flight. */
struct core_msg {
	uint32_t slot;
	uint32_t band;
	uint64_t id;
	uint64_t enqueued_ns; /* CLOCK_REALTIME */
	uint32_t deliveries;  /* 1 on the first delivery */
	uint32_t len;
	const void *data; /* points into the segment */
};

/*
 * A live message as core_scan shows it (m.data valid during the call), and
 * what core_restore puts back (m.slot unused).
 */
struct core_live {
	struct core_msg m;
	uint64_t pos;    /* ring position (queued only) */
	uint64_t due_ns; /* delayed (CORE_OWNER_DELAYED): when due; else 0 */
	int in_flight;   /* leased (not delayed): comes back queued */
};

/* Called per live message under the lock; nonzero stops the scan. */
typedef int core_scan_fn(void *arg, const struct core_live *m);

/* State and counters. */
struct core_stat {
	struct core_attr attr;
	uint64_t length; /* queued, not in flight */
	uint64_t in_flight;
	uint64_t total_pushed;
	uint64_t total_popped;
	uint64_t dead_lettered;
	uint64_t oldest_enqueued_ns; /* 0 if empty */
	int closed;
	int paused; /* the pause count (core_suspend): 0 running */
	uint64_t corrupt_dropped; /* dropped: their slot failed its checksum */
	uint64_t delayed; /* in flight until due (not counted in in_flight) */
	uint64_t expired; /* dropped or dead-lettered at their time to live */
	uint64_t bytes;    /* payload bytes held (queued, in flight, delayed) */
	uint64_t resident; /* bytes of the segment backed by memory now */
};

/*
 * Size in bytes of the segment file for these attributes (sparse: the
 * heap is backed as it is used); 0 if they are invalid.
 */
size_t core_segment_size(const struct core_attr *attr);
/*
 * What a queue of these attributes is charged (the storage quota): the
 * part of its segment reserved at create (header, rings, tables, bitmaps)
 * plus the max_bytes in force. 0 if the attributes are invalid.
 */
size_t core_charge_size(const struct core_attr *attr);

/*
 * Create segment segname (a shm_open name, "/..."): O_CREAT|O_EXCL, mode
 * 0600, the file sized for the heap that holds max_bytes, posix_fallocate
 * of everything before the heap (ENOSPC -> CQ_LIMIT; heap pages are backed
 * when a push first uses them: CQ_LIMIT then, never a SIGBUS), initialise
 * header, lock and free stack. CQ_EXISTS if the name exists, CQ_INVALID for
 * bad attributes (max_bytes below max_size or above CORE_MAX_BYTES_MAX
 * included). On failure nothing is left behind.
 */
cq_status core_create(
    const char *segname, const struct core_attr *attr, struct core_queue **qp);

/*
 * Attach segment segname: fstat (must be a regular file owned by our euid,
 * mode 0600, size as the header says), check magic, layout version and
 * header checksum, then validate and repair the contents (core_check).
 * CQ_CORRUPT if it cannot be trusted (wrong owner, mode or size included:
 * the caller quarantines it), CQ_NOTFOUND if it does not exist or is what
 * a create that died before its commit leaves (our file, 0600, empty or
 * without magic: nothing was committed, the caller may unlink it), CQ_BUSY
 * if another process held the lock for 250 ms.
 */
cq_status core_attach(const char *segname, struct core_queue **qp);

/* Unmap and free the handle (the segment stays). */
void core_detach(struct core_queue *q);

/* Remove segment segname. */
cq_status core_unlink(const char *segname);
/*
 * Read segment segname's name and owner into *a without attaching (pread,
 * no mapping): CQ_OK only if the file is ours and its immutable header
 * checks out, so a quarantined queue can keep its name.
 */
cq_status core_peek(const char *segname, struct core_attr *a);

/*
 * The same four by directory fd and plain name (no '/'): the daemon keeps
 * its segments in a directory of its own. The file is opened with
 * O_NOFOLLOW|O_CLOEXEC (O_CREAT|O_EXCL for a create); a symlink is
 * CQ_CORRUPT. The handle holds no fd of the file: dirfd must stay open
 * while the handle lives. The "/name" forms above are these in /dev/shm.
 */
cq_status core_create_at(int dirfd, const char *name,
    const struct core_attr *attr, struct core_queue **qp);
cq_status core_attach_at(int dirfd, const char *name, struct core_queue **qp);
cq_status core_unlink_at(int dirfd, const char *name);
cq_status core_peek_at(int dirfd, const char *name, struct core_attr *a);
/*
 * Open the handle's segment file again, O_RDWR|O_CLOEXEC (for handing it
 * to a direct client over SCM_RIGHTS): by dirfd and name, never through a
 * symlink, and only if it is still the file attach checked (else -1 with
 * ESTALE). The caller closes it. -1 with errno on failure.
 */
int core_reopen(struct core_queue *q);

/*
 * The queue's doorbell (core/doorbell.c): a FIFO named "<segment>.bell"
 * next to the segment, owned by us, mode 0600, so that it outlives the
 * daemon like the segment does. core_doorbell_open opens it read-write,
 * O_NONBLOCK|O_CLOEXEC (making it first if create): fd, or -1 with errno
 * (ENOENT without create when there is none). core_doorbell_unlink
 * removes it (0, or -1 with errno). Only for segments by dirfd and name.
 */
int core_doorbell_open(struct core_queue *q, int create);
int core_doorbell_unlink(struct core_queue *q);

/*
 * Lock timeout used by every operation below, in ms: 0 means trylock
 * (CQ_BUSY at once when held), > 0 waits up to that long on the
 * monotonic clock (then CQ_BUSY). Default 0.
 */
void core_set_lock_timeout(struct core_queue *q, int64_t ms);

/*
 * Push len bytes to band; front: at the head of the band. CQ_OK (*id set),
 * CQ_FULL (no free slot, or the payload would pass max_bytes or find no
 * run of free chunks), CQ_CLOSED, CQ_TOOBIG, CQ_INVALID (band), CQ_BUSY,
 * CQ_LIMIT (no memory to back the record: nothing changed), CQ_CORRUPT.
 */
cq_status core_push(struct core_queue *q, const void *buf, size_t len,
    unsigned band, int front, uint64_t *id);

/*
 * Push n messages at once (all or nothing, one commit). CQ_FULL if fewer
 * than n slots are free or their bytes do not fit, CQ_INVALID if n is 0. *first_id gets the id of
 * iov[0]; ids are consecutive. With front, iov[0] ends up at the head.
 */
cq_status core_push_many(struct core_queue *q, const struct iovec *iov,
    size_t n, unsigned band, int front, uint64_t *first_id);

/*
 * Pop the head of the highest non-empty band into flight, owned by owner
 * (a caller-chosen nonzero token, e.g. a connection id). CQ_OK, CQ_EMPTY
 * (also when paused, or serial with a message in flight), CQ_CLOSED (closed
 * and drained), CQ_BUSY, CQ_CORRUPT. deadline_ns is stored with the entry
 * (monotonic; 0 = no lease). The delivery count is incremented.
 * CQ_CLOSED is returned once closed and nothing is queued, even while
 * messages are still in flight (a return makes them poppable again).
 */
cq_status core_pop(struct core_queue *q, uint64_t owner, uint64_t deadline_ns,
    struct core_msg *m);

/*
 * Pop up to max messages (1..max on CQ_OK, *n set), all from the highest
 * non-empty band (one commit); a serial queue gives at most one.
 *
 * Every message handed out (core_pop, core_pop_many, so reserve too) has
 * passed its slot checksum under the lock. A slot that fails it is never
 * delivered: it is dropped from its ring (its own commit), counted in the
 * header (core_stat's corrupt_dropped) and in the handle (core_dropped),
 * and the pop goes on with the next message; a bad slot behind good ones
 * in one batch ends the batch and is dropped by the next pop.
 */
cq_status core_pop_many(struct core_queue *q, uint64_t owner,
    uint64_t deadline_ns, struct core_msg *m, size_t max, size_t *n);

/*
 * Delete in-flight message (slot, id): the hand-off or ack completed.
 * CQ_NOTFOUND if (slot, id) is not in flight. Counts in total_popped.
 */
cq_status core_confirm(struct core_queue *q, uint32_t slot, uint64_t id);
/*
 * core_confirm for each of the n messages of m (slot and id), under one
 * lock: a batch pop's receipt. The first CQ_CORRUPT, else CQ_NOTFOUND if
 * any was not in flight, else CQ_OK.
 */
cq_status core_confirm_many(
    struct core_queue *q, const struct core_msg *m, size_t n);

/*
 * Put in-flight message (slot, id) back at the head of its band. If
 * max_deliveries is set and reached, CQ_LIMIT is returned instead and the
 * message stays in flight for the caller to dead-letter and confirm.
 * CQ_NOTFOUND if (slot, id) is not in flight.
 */
cq_status core_return(struct core_queue *q, uint32_t slot, uint64_t id);

/*
 * The owner of a delayed message: in flight (it holds a slot, so it counts
 * against the capacity) but leased to nobody; its deadline_ns is when it
 * is due, on CLOCK_REALTIME so that it means the same after a restart.
 */
#define CORE_OWNER_DELAYED UINT64_MAX

/*
 * Push one message to band as a delayed message due at due_ns (realtime):
 * committed straight into flight (one commit: the entry's id), invisible
 * to every popper until core_deliver_delayed. *id and *slot name it.
 * CQ_FULL without a free slot, CQ_CLOSED, CQ_TOOBIG, CQ_INVALID as push.
 */
cq_status core_push_delayed(struct core_queue *q, const void *buf,
    size_t len, unsigned band, uint64_t due_ns, uint64_t *id, uint32_t *slot);
/*
 * Queue delayed message (slot, id) at the tail of its band (one commit:
 * the tail). CQ_NOTFOUND if it is not a delayed message in flight.
 */
cq_status core_deliver_delayed(
    struct core_queue *q, uint32_t slot, uint64_t id);

/* Set a new lease deadline on in-flight message (slot, id). */
cq_status core_touch(
    struct core_queue *q, uint32_t slot, uint64_t id, uint64_t deadline_ns);

/*
 * Return every in-flight message to the head of its band, in original
 * order (oldest id first in the band). Used when the daemon starts;
 * max_deliveries is not applied here. Delayed messages (owner
 * CORE_OWNER_DELAYED) stay in flight: the caller re-arms them.
 */
cq_status core_return_all(struct core_queue *q);

/*
 * Iterate in-flight entries: *cursor starts at 0; fills m (and *owner,
 * *deadline_ns, each may be NULL) and returns 1 while there are more, 0 at
 * the end. Takes no lock: a snapshot entry by entry, exact when no other
 * process mutates the queue meanwhile. O(capacity) for a full pass.
 */
int core_inflight_next(struct core_queue *q, uint32_t *cursor,
    struct core_msg *m, uint64_t *owner, uint64_t *deadline_ns);

/* Close (idempotent). */
cq_status core_close(struct core_queue *q);
/* Return 1 if closed. Reads one word; takes no lock. */
int core_is_closed(struct core_queue *q);
/*
 * Set the pause state to paused (1) or running (0), whatever the count
 * was (the direct path's and the tests' absolute form).
 */
cq_status core_set_paused(struct core_queue *q, int paused);
/*
 * Counted suspend (libdispatch): resume == 0 adds one pause, 1 takes one
 * away; pops wait while the count is nonzero. *count (may be NULL) gets
 * the new count. CQ_LIMIT (nothing changed) beyond CORE_PAUSE_MAX pauses;
 * a resume at count 0 is CQ_OK and changes nothing.
 */
#define CORE_PAUSE_MAX UINT64_C(0x7fffffff) /* fits core_stat's int */
cq_status core_suspend(struct core_queue *q, int resume, uint64_t *count);
/*
 * The paused word's purge intent (core/browse.c): set only while a purge
 * holds the lock, or left by one that was killed (recovery finishes it).
 */
#define CORE_PURGE_BIT (UINT64_C(1) << 62)
/* Change the queue permission bits (CQ_INVALID beyond 07777). */
cq_status core_set_mode(struct core_queue *q, uint32_t mode);
/*
 * Change the owner and group (one 8-byte store: a crash leaves the old or
 * the new pair); core_attr and core_stat show them, attach reads them
 * back. CQ_INVALID for (uint32_t)-1.
 */
cq_status core_set_owner(struct core_queue *q, uint32_t uid, uint32_t gid);
/*
 * Browsing queued messages (core/browse.c), each under the lock:
 *
 * core_peek_msgs calls fn(arg, m) for up to max queued messages in the
 * order pops would take them (highest band first, FIFO within), without
 * removing them or counting a delivery; m->data points into the segment
 * and is valid only during the call (fn runs under the lock and the SIGBUS
 * guard: it copies, it must not call core on q); fn returns nonzero to
 * stop. A slot failing its checksum is skipped (the next pop drops it).
 * *n gets how many were shown. CQ_OK (n >= 1), CQ_EMPTY, CQ_CLOSED
 * (closed and nothing queued), CQ_INVALID (max 0), CQ_BUSY, CQ_CORRUPT.
 * Paused queues are shown too.
 *
 * core_purge drops every queued message at once (not those in flight),
 * *count (may be NULL) gets how many: one commit, all bands or none after
 * a crash. They count in total_popped (they left the queue).
 *
 * core_remove drops the queued message id wherever it is in its band (the
 * others keep their order); CQ_NOTFOUND if no queued message has that id
 * (one in flight is not queued). O(queued).
 */
typedef int core_browse_fn(void *arg, const struct core_msg *m);
cq_status core_peek_msgs(struct core_queue *q, size_t max, core_browse_fn *fn,
    void *arg, size_t *n);
cq_status core_purge(struct core_queue *q, uint64_t *count);
cq_status core_remove(struct core_queue *q, uint64_t id);
/* Count one dead-lettered message in the stats. */
cq_status core_count_dead_letter(struct core_queue *q);
/*
 * Count one message that expired (daemon/expire.c): in expired, and in
 * dead_lettered too when it went to the dead-letter queue.
 */
cq_status core_count_expired(struct core_queue *q, int dead_lettered);
/*
 * Durability (core/snap.c): core_scan calls fn for every live message
 * under one lock hold (queued in pop order per band, then in flight and
 * delayed ones) and gives the next id; fn runs under the lock and the
 * SIGBUS guard, copies what it needs and must not call core on q.
 * core_restore puts one message back with its id, enqueue time and
 * delivery count: queued at the tail of its band, or a delayed one
 * (due_ns != 0) into flight as core_push_delayed would. core_set_next_id
 * raises next_id to at least id.
 */
cq_status core_scan(
    struct core_queue *q, core_scan_fn *fn, void *arg, uint64_t *next_id);
cq_status core_restore(struct core_queue *q, const struct core_live *m);
cq_status core_set_next_id(struct core_queue *q, uint64_t id);
/*
 * A word that changes with every committed push, pop, confirm, return,
 * remove, purge, close, pause, chmod and chown (a mix of the header's
 * commit words and counters, read without the lock): the daemon skips a durable flush when
 * it has not changed. 0 for a quarantined queue.
 */
uint64_t core_change_sig(struct core_queue *q);
/*
 * Give the heap pages no message uses back to the system (MADV_REMOVE),
 * under the lock; *pages (may be NULL) gets how many. The daemon calls it
 * about once a second for a queue that changed (daemon/trim.c), so a
 * drained queue holds only its reserved metadata again within a second
 * or two. CQ_OK, CQ_BUSY, CQ_CORRUPT.
 */
cq_status core_trim(struct core_queue *q, uint64_t *pages);
/* Fill st. */
cq_status core_stat(struct core_queue *q, struct core_stat *st);
/*
 * core_dropped: how many corrupt messages this handle dropped (on pop or
 * in recovery, attach included) since the last call; resets the count.
 * No lock, no shared memory: the daemon logs it after an operation.
 */
uint64_t core_dropped(struct core_queue *q);
/* Attributes (name, owner, mode, ...) without taking the lock. */
const struct core_attr *core_attr(struct core_queue *q);

/* Free slots right now (capacity - queued - in flight), no lock. */
uint32_t core_free_slots(struct core_queue *q);
/* Queued messages (not in flight), no lock. */
uint64_t core_length(struct core_queue *q);

/*
 * Take the lock (recovering after a dead owner), validate every committed
 * field and live slot, repair derived state, drop every invalid slot from
 * its band (the good ones keep their order; counted in corrupt_dropped),
 * release the lock. CQ_CORRUPT if the header cannot be
 * trusted; from then on every operation returns CQ_CORRUPT.
 */
cq_status core_check(struct core_queue *q);

/*
 * Take q's lock (with the handle's lock timeout, recovering after a dead
 * owner) and release it at once: CQ_OK if it can be had now, CQ_BUSY,
 * CQ_CORRUPT. The daemon polls a queue whose lock a mapper holds with it.
 */
cq_status core_probe(struct core_queue *q);

/*
 * Truncation: a segment file cut short under a mapping makes any access
 * past its new end raise SIGBUS. Attach and core_check compare the file's
 * size (fstat) with the header; in between, every core operation runs
 * under a guard: when core_guard_install() has installed the handler, a
 * SIGBUS inside the guarded mapping replaces the whole mapping with
 * private zero pages (so nothing ever faults on it again), marks the handle
 * quarantined and makes the operation return CQ_CORRUPT (then every later
 * one, on that handle only). A SIGBUS anywhere else, or without a guard,
 * does what it did before the handler was installed (the default: die).
 */
struct core_guard {
	sigjmp_buf jb;
	unsigned char *lo; /* the guarded mapping */
	size_t len;
	int *faulted;            /* set to 1 when it faulted */
	int *locked;             /* the handle's "lock held", or NULL */
	int *lockword;           /* the segment lock's futex word */
	struct core_guard *prev; /* guards nest, innermost first */
};

/*
 * core_guard_install: install the SIGBUS handler (SA_SIGINFO | SA_NODEFER;
 * the previous disposition is kept for faults that are not ours). Call it
 * once, early, before any queue is used. 0, or -1 with errno.
 */
int core_guard_install(void);

/*
 * core_guard_hold / core_guard_drop: the same handler, installed while a
 * library holds mappings (a client's direct handles): hold when a mapping
 * is made, drop when it is gone; the last drop restores the previous
 * disposition unless core_guard_install made the handler permanent or
 * another handler replaced ours meanwhile. Thread-safe. Hold: 0, or -1
 * with errno (then do not map: nothing would catch the fault).
 */
int core_guard_hold(void);
void core_guard_drop(void);

/*
 * core_guard_enter / core_guard_leave: guard the caller's own reads of q's
 * mapping (a core_msg's data, say) for the daemon:
 *
 *	struct core_guard g;
 *
 *	core_guard_enter(&g, q);
 *	if (sigsetjmp(g.jb, 0) == 0) {
 *		memcpy(out, m.data, m.len);   (may fault)
 *		core_guard_leave(&g);
 *	} else {
 *		q is quarantined: answer CQ_CORRUPT (g is already left)
 *	}
 *
 * sigsetjmp must be called in the frame that stays live (hence no helper);
 * leave every entered guard exactly once, innermost first, unless it
 * faulted.
 */
void core_guard_enter(struct core_guard *g, struct core_queue *q);
void core_guard_leave(struct core_guard *g);

/*
 * Test seam: when non-NULL, called with a site name at each crash-relevant
 * point: "push.slot_written" (push_many, between slots),
 * "push.before_commit", "push.after_commit", "pop.before_commit",
 * "pop.after_commit", "confirm.before_commit", "confirm.after_commit",
 * "return.before_commit", "return.after_commit" (also once per message in
 * core_return_all), "purge.before_commit", "purge.after_commit",
 * "purge.middle" (after the first band), "remove.before_commit",
 * "remove.after_commit",
 * "remove.closed", "recover.begin", "recover.middle",
 * "recover.before_consistent", "create.after_open",
 * "create.after_fallocate", "heap.backed" (pages backed, not yet marked),
 * "trim.before_remove" (pages unmarked, not yet given back). Tests
 * SIGKILL themselves there.
 */
extern void (*core_crash_hook)(const char *site);

#endif /* CQ_CORE_QUEUE_H */
