/* conqueue.h - public API of libconqueue-client. */

#ifndef CONQUEUE_CONQUEUE_H
#define CONQUEUE_CONQUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define CQ_EXPORT __attribute__((visibility("default")))
#else
#define CQ_EXPORT
#endif

/*
 * Status codes. These numbers are part of the ABI and the wire protocol:
 * codes must remain the same! Add new ones at the end only.
 * The first five mirror P0260's conqueue_errc (success, empty, full,
 * closed, busy).
 */
typedef enum cq_status {
	CQ_OK = 0,            /* done */
	CQ_EMPTY = 1,         /* non-blocking pop found nothing */
	CQ_FULL = 2,          /* non-blocking push found no room */
	CQ_CLOSED = 3,        /* push on closed; pop on closed and drained */
	CQ_BUSY = 4,          /* queue lock not available without waiting */
	CQ_TIMEDOUT = 5,      /* a timed operation's deadline passed */
	CQ_CANCELED = 6,      /* an async operation was cancelled */
	CQ_NOTFOUND = 7,      /* no such queue (or message id) */
	CQ_EXISTS = 8,        /* queue already exists */
	CQ_DENIED = 9,        /* permission denied */
	CQ_INVALID = 10,      /* bad argument or queue name */
	CQ_TOOBIG = 11,       /* message larger than the queue's maximum */
	CQ_LIMIT = 12,        /* a daemon limit or quota was reached */
	CQ_DISCONNECTED = 13, /* lost the daemon */
	CQ_PROTOCOL = 14,     /* malformed or incompatible frame */
	CQ_SYSTEM = 15,       /* an operating-system error (see errno) */
	CQ_CORRUPT = 16,      /* queue storage failed validation: quarantined */
} cq_status;

#define CQ_STATUS_MAX 16

/* cq_strstatus: a static one-line text for status s; never NULL. */
CQ_EXPORT const char *cq_strstatus(cq_status s);

/* cq_status_name: the symbolic name ("CQ_EMPTY") of s; never NULL. */
CQ_EXPORT const char *cq_status_name(cq_status s);

/* cq_version: the library version string ("0.1.0"). */
CQ_EXPORT const char *cq_version(void);

/* Timeouts are relative milliseconds on the monotonic clock. */
#define CQ_FOREVER (-1) /* wait without deadline */
#define CQ_NOWAIT  0    /* try: never wait */

#define CQ_NAME_MAX  64 /* longest queue name in bytes */
#define CQ_DEDUP_KEY_MAX 256 /* longest de-duplication key in bytes */
/* Longest de-duplication window (ms): a day. */
#define CQ_DEDUP_WINDOW_MAX 86400000
/* Longest time to live, per queue or per message, in ms (about 49 days). */
#define CQ_TTL_MAX 4294967295u
#define CQ_BANDS_MAX 8  /* most priority bands per queue */
/*
 * A queue's bound on the payload bytes it holds (cq_create_bounded): the
 * default (512 KiB, raised to max_size, lowered to capacity * max_size)
 * and the largest allowed (64 GiB).
 */
#define CQ_MAX_BYTES_DEFAULT (UINT64_C(512) << 10)
#define CQ_MAX_BYTES_MAX     (UINT64_C(64) << 30)

/*
 * Durability of a queue (cq_create_durable, conqueue(7) DURABILITY): the
 * daemon keeps a log of it under its state directory and brings it back
 * after a reboot. ALWAYS: a push or pop answers CQ_OK only once it is on
 * stable storage (socket only: never handed out for direct mapping);
 * INTERVAL: at most sync_ms of acknowledged work is lost on a power cut;
 * NEVER: written every second, never synced (a kill -9 loses nothing,
 * a power cut whatever the kernel had not written).
 */
typedef enum cq_durable {
	CQ_DURABLE_NONE = 0, /* shared memory only: gone at reboot */
	CQ_DURABLE_ALWAYS = 1,
	CQ_DURABLE_INTERVAL = 2,
	CQ_DURABLE_NEVER = 3
} cq_durable;
#define CQ_DURABLE_SYNC_MS_DEFAULT 1000   /* interval's default */
#define CQ_DURABLE_SYNC_MS_MAX     3600000 /* an hour */

/*
 * cq_name_valid: 1 if name (len bytes) is a valid queue name:
 * 1-64 bytes of [A-Za-z0-9._-], not starting with '.'.
 */
CQ_EXPORT int cq_name_valid(const char *name, size_t len);

/* Opaque handles. */
typedef struct cq_client cq_client; /* one connection to conqueued */
typedef struct cq_queue cq_queue;   /* a named queue on a connection */
typedef struct cq_msg cq_msg;       /* a popped message (owned by caller) */
typedef struct cq_op cq_op;         /* a pending asynchronous operation */

/* Attributes of a new queue; zero-initialise, then set what you need. */
typedef struct cq_queue_attr {
	uint32_t capacity;       /* most messages (0: 1024) */
	uint32_t max_size;       /* largest message in bytes (0: 65536) */
	uint32_t bands;          /* priority bands 1..8 (0: 1) */
	uint32_t mode;           /* permission bits (0: 0600) */
	uint32_t max_deliveries; /* 0: unlimited; else dead-letter after */
	uint32_t lease_ms;       /* default reserve lease (0: 30000) */
	int serial;              /* non-zero: one reserved message at a time */
} cq_queue_attr;

/*
 * Counters and state of a queue, as returned by cq_stat(). Callers
 * allocate it, so new fields are only ever appended and the library fills
 * no more than the size the caller was built with: see cq_stat_size().
 */
typedef struct cq_queue_stat {
	char name[CQ_NAME_MAX + 1];
	uint32_t capacity;
	uint32_t max_size;
	uint32_t bands;
	uint32_t mode;
	uid_t uid;
	gid_t gid;
	uint32_t max_deliveries;
	uint32_t lease_ms;
	int serial;
	uint64_t length;          /* messages queued (not in flight) */
	uint64_t in_flight;       /* popped/reserved but not yet confirmed */
	uint32_t waiting_poppers; /* parked pops */
	uint32_t waiting_pushers; /* parked pushes */
	int closed;
	int paused; /* pause count: cq_pause calls not yet resumed (0: no) */
	uint64_t total_pushed;
	uint64_t total_popped;
	uint64_t dead_lettered;
	uint64_t oldest_age_ms; /* age of the oldest queued message */
	/* Appended in 0.2 (cq_stat_size; never set for 0.1 binaries): */
	uint64_t corrupt_dropped; /* dropped: their checksum failed */
	int quarantined; /* storage failed validation: stat and delete only */
	int no_direct;   /* created with CQ_CREATE_NO_DIRECT: socket path only */
	/* Appended in 0.3: */
	uint64_t dedup_window_ms;  /* 0: no de-duplication */
	uint64_t dedup_keys;       /* keys held within the window */
	uint64_t dedup_suppressed; /* keyed pushes answered as duplicates */
	/* Appended later (a struct of an older header never gets them): */
	uint64_t delayed; /* pushed with a delay, not yet due (not in_flight) */
	uint64_t ttl_ms;  /* per-queue time to live (0: none) */
	uint64_t expired; /* dropped or dead-lettered at their time to live */
	uint32_t durable; /* cq_durable (0 from a direct handle's cq_stat) */
	uint32_t sync_ms; /* CQ_DURABLE_INTERVAL: the sync period */
	uint64_t log_bytes; /* the durable log's size on disk */
	uint64_t log_syncs; /* its fdatasyncs since the daemon started */
	uint64_t bytes;     /* payload bytes held: queued, in flight, delayed */
	uint64_t max_bytes; /* the bound on bytes in force */
	uint64_t resident_bytes; /* the queue's storage backed by memory now */
} cq_queue_stat;

/* Size of cq_queue_stat in 0.1, before corrupt_dropped was appended. */
#define CQ_QUEUE_STAT_SIZE_0_1 offsetof(cq_queue_stat, corrupt_dropped)

/*
 * cq_default_socket: write the default socket path ($CONQUEUE_SOCKET,
 * else /run/conqueue/conqueued.sock for root, else
 * $XDG_RUNTIME_DIR/conqueue/conqueued.sock, else
 * /tmp/conqueue-$UID/conqueued.sock) into buf. Returns CQ_OK, or CQ_INVALID
 * when it does not fit.
 */
CQ_EXPORT cq_status cq_default_socket(char *buf, size_t len);

/*
 * cq_connect: connect to the daemon at socket_path (NULL: the default of
 * cq_default_socket) and perform the version handshake. On CQ_OK *c is a
 * new client that the caller frees with cq_disconnect(). A handle is used by
 * one thread at a time.
 */
CQ_EXPORT cq_status cq_connect(cq_client **c, const char *socket_path);

/*
 * cq_connect_named: like cq_connect, and tells the daemon a client name for
 * its logs (it is never used for authorisation).
 */
CQ_EXPORT cq_status cq_connect_named(
    cq_client **c, const char *socket_path, const char *client_name);

/* Flags of cq_connect_flags(). */
#define CQ_CONNECT_NO_DIRECT 0x1u /* every handle uses the socket path */
#define CQ_CONNECT_DIRECT    0x2u /* the direct path (the default now) */

/*
 * cq_connect_flags: like cq_connect_named, with CQ_CONNECT_* flags (0: the
 * defaults). Unknown flags are CQ_INVALID.
 */
CQ_EXPORT cq_status cq_connect_flags(cq_client **c, const char *socket_path,
    const char *client_name, unsigned flags);

/*
 * cq_disconnect: send any pending receipt confirmations, complete every
 * pending async operation with CQ_CANCELED (callbacks run now), close the
 * connection and free c and every cq_queue opened on it.
 */
CQ_EXPORT void cq_disconnect(cq_client *c);

/* cq_client_error: the daemon's text for the last failed op on c, or "". */
CQ_EXPORT const char *cq_client_error(cq_client *c);

/* cq_client_errno: errno of the last CQ_SYSTEM status on c, or 0. */
CQ_EXPORT int cq_client_errno(cq_client *c);

/* cq_ping: a round trip to the daemon. */
CQ_EXPORT cq_status cq_ping(cq_client *c);

/*
 * cq_create: create queue name with attr (NULL: defaults). CQ_EXISTS if it
 * exists already, CQ_INVALID for a bad name or attribute, CQ_LIMIT for a
 * daemon limit.
 */
CQ_EXPORT cq_status cq_create(
    cq_client *c, const char *name, const cq_queue_attr *attr);

/* cq_create_flags: the queue is never handed to a client to map: every
 * operation on it goes through the daemon (conqueue(7), the direct path). */
#define CQ_CREATE_NO_DIRECT 0x1u

/*
 * cq_create_flags: cq_create with flags (CQ_CREATE_*; 0 is cq_create).
 * CQ_INVALID for an unknown flag.
 */
CQ_EXPORT cq_status cq_create_flags(cq_client *c, const char *name,
    const cq_queue_attr *attr, unsigned flags);
/*
 * cq_create_dedup: cq_create_flags with a de-duplication window of
 * window_ms (1..CQ_DEDUP_WINDOW_MAX; 0 is cq_create_flags): a keyed push
 * (cq_push_dedup) whose key the queue saw within the window adds nothing.
 */
CQ_EXPORT cq_status cq_create_dedup(cq_client *c, const char *name,
    const cq_queue_attr *attr, unsigned flags, uint64_t window_ms);
/*
 * cq_create_ttl: cq_create_dedup (window_ms 0: none) with a per-queue time
 * to live of ttl_ms (1..CQ_TTL_MAX; 0: none): a message not popped within
 * ttl_ms of becoming visible is dropped, or moved to NAME.dlq when that
 * queue exists, and counted in cq_stat's expired.
 */
CQ_EXPORT cq_status cq_create_ttl(cq_client *c, const char *name,
    const cq_queue_attr *attr, unsigned flags, uint64_t window_ms,
    uint64_t ttl_ms);

/*
 * cq_create_durable: cq_create_ttl of a durable queue (policy a
 * cq_durable; sync_ms 1..CQ_DURABLE_SYNC_MS_MAX for CQ_DURABLE_INTERVAL,
 * 0 there meaning CQ_DURABLE_SYNC_MS_DEFAULT, else 0). CQ_DURABLE_NONE is
 * cq_create_ttl. CQ_INVALID for a bad policy or period; CQ_LIMIT or
 * CQ_SYSTEM (cq_client_error says why) when the log cannot be made.
 */
CQ_EXPORT cq_status cq_create_durable(cq_client *c, const char *name,
    const cq_queue_attr *attr, unsigned flags, uint64_t window_ms,
    uint64_t ttl_ms, cq_durable policy, uint32_t sync_ms);

/*
 * cq_create_bounded: cq_create_flags with a bound on the payload bytes the
 * queue may hold, queued, in flight and delayed together: max_bytes from
 * the queue's max_size (the default 65536 when attr leaves it 0) to
 * CQ_MAX_BYTES_MAX; 0 is cq_create_flags (CQ_MAX_BYTES_DEFAULT, raised to
 * max_size). A larger bound than capacity * max_size is lowered to that.
 * A push that would pass the bound is answered as by a full queue. The
 * daemon's storage quota charges the queue's bookkeeping plus max_bytes;
 * the memory it uses follows what it holds. CQ_INVALID for a bad bound.
 */
CQ_EXPORT cq_status cq_create_bounded(cq_client *c, const char *name,
    const cq_queue_attr *attr, unsigned flags, uint64_t max_bytes);

/*
 * cq_create_full: cq_create_durable with max_bytes as in
 * cq_create_bounded (0: the default): every create option at once.
 */
CQ_EXPORT cq_status cq_create_full(cq_client *c, const char *name,
    const cq_queue_attr *attr, unsigned flags, uint64_t window_ms,
    uint64_t ttl_ms, cq_durable policy, uint32_t sync_ms, uint64_t max_bytes);

/* cq_delete: close queue name (waking every waiter), then remove it. */
CQ_EXPORT cq_status cq_delete(cq_client *c, const char *name);

/*
 * cq_list: the names of the queues the caller may read, as a NULL-terminated
 * array in *names; the caller frees it with cq_list_free().
 */
CQ_EXPORT cq_status cq_list(cq_client *c, char ***names, size_t *count);
CQ_EXPORT void cq_list_free(char **names);

/*
 * cq_open: a handle on queue name in *q (CQ_NOTFOUND if none). The handle
 * belongs to c: free it with cq_queue_free() or let cq_disconnect() do it.
 */
CQ_EXPORT cq_status cq_open(cq_client *c, const char *name, cq_queue **q);
CQ_EXPORT void cq_queue_free(cq_queue *q);
CQ_EXPORT const char *cq_queue_name(const cq_queue *q);
/*
 * cq_queue_direct: 1 if q uses the direct path (the queue's segment is
 * mapped in this process), 0 if every op goes through the daemon.
 */
CQ_EXPORT int cq_queue_direct(const cq_queue *q);

/*
 * cq_push: append len bytes of buf to band 0, waiting up to timeout_ms for
 * room (CQ_FOREVER: no deadline). CQ_OK, CQ_CLOSED, CQ_TIMEDOUT, CQ_TOOBIG.
 * The library copies buf; the caller keeps it.
 */
CQ_EXPORT cq_status cq_push(
    cq_queue *q, const void *buf, size_t len, int64_t timeout_ms);
/* cq_try_push: never waits: CQ_OK, CQ_FULL, CQ_CLOSED, CQ_BUSY. */
CQ_EXPORT cq_status cq_try_push(cq_queue *q, const void *buf, size_t len);
/* cq_push_band: cq_push with priority band (0 lowest .. bands-1). */
CQ_EXPORT cq_status cq_push_band(cq_queue *q, const void *buf, size_t len,
    unsigned band, int64_t timeout_ms);
/* cq_push_front: push to the head of band (GAsyncQueue push_front). */
CQ_EXPORT cq_status cq_push_front(cq_queue *q, const void *buf, size_t len,
    unsigned band, int64_t timeout_ms);
/*
 * cq_push_many: push n messages to band as one all-or-nothing operation:
 * it waits until there is room for all n (CQ_FULL/CQ_TIMEDOUT otherwise).
 */
CQ_EXPORT cq_status cq_push_many(cq_queue *q, const void *const *bufs,
    const size_t *lens, size_t n, unsigned band, int64_t timeout_ms);
/*
 * cq_push_dedup: cq_push with a de-duplication key (1..CQ_DEDUP_KEY_MAX
 * bytes, copied): if the queue saw key within its window (cq_create_dedup),
 * CQ_OK and nothing is added, so a retry after a lost reply cannot
 * duplicate. Always through the daemon. CQ_INVALID for a bad key or a
 * queue without a window, CQ_LIMIT when its key table is full.
 */
CQ_EXPORT cq_status cq_push_dedup(cq_queue *q, const void *key, size_t keylen,
    const void *buf, size_t len, int64_t timeout_ms);
/* cq_try_push_dedup: cq_push_dedup that never waits (CQ_FULL). */
CQ_EXPORT cq_status cq_try_push_dedup(
    cq_queue *q, const void *key, size_t keylen, const void *buf, size_t len);

/*
 * cq_push_delayed: cq_push_band, but the message becomes visible to poppers
 * only delay_ms after the push (beanstalkd's put delay). Until then it
 * holds a slot (it counts against the capacity: cq_stat's delayed) and no
 * pop, peek or browse of queued messages sees it; when due it joins the
 * tail of its band. The delay survives a daemon restart. Always through
 * the daemon, also on a direct handle. delay_ms 0 is cq_push_band.
 * timeout_ms bounds the wait for room, as for cq_push.
 */
CQ_EXPORT cq_status cq_push_delayed(cq_queue *q, const void *buf, size_t len,
    unsigned band, uint32_t delay_ms, int64_t timeout_ms);
/* cq_try_push_delayed: cq_push_delayed that never waits for room. */
CQ_EXPORT cq_status cq_try_push_delayed(
    cq_queue *q, const void *buf, size_t len, unsigned band, uint32_t delay_ms);
/*
 * cq_push_ttl: cq_push_band of a message with its own time to live: if it
 * is not popped within ttl_ms of the push (1..CQ_TTL_MAX; 0 is
 * cq_push_band) it is dropped, or moved to NAME.dlq when that queue
 * exists, and counted in cq_stat's expired. The queue's own time to live
 * (cq_create_ttl) applies too: the earlier one wins. Survives a daemon
 * restart. Always through the daemon, also on a direct handle.
 */
CQ_EXPORT cq_status cq_push_ttl(cq_queue *q, const void *buf, size_t len,
    unsigned band, uint32_t ttl_ms, int64_t timeout_ms);
/* cq_try_push_ttl: cq_push_ttl that never waits for room. */
CQ_EXPORT cq_status cq_try_push_ttl(
    cq_queue *q, const void *buf, size_t len, unsigned band, uint32_t ttl_ms);

/*
 * cq_pop: take the oldest message of the highest non-empty band, waiting up
 * to timeout_ms. On CQ_OK *m is a message the caller frees with
 * cq_msg_free(). CQ_CLOSED once the queue is closed and drained.
 */
CQ_EXPORT cq_status cq_pop(cq_queue *q, cq_msg **m, int64_t timeout_ms);
/* cq_try_pop: never waits: CQ_OK, CQ_EMPTY, CQ_CLOSED, CQ_BUSY. */
CQ_EXPORT cq_status cq_try_pop(cq_queue *q, cq_msg **m);
/*
 * cq_pop_many: pop 1..max messages into msgs[0..*n-1] (each freed by the
 * caller), waiting up to timeout_ms for the first.
 */
CQ_EXPORT cq_status cq_pop_many(
    cq_queue *q, cq_msg **msgs, size_t max, size_t *n, int64_t timeout_ms);

/* Accessors of a message. */
CQ_EXPORT const void *cq_msg_data(const cq_msg *m);
CQ_EXPORT size_t cq_msg_len(const cq_msg *m);
CQ_EXPORT uint64_t cq_msg_id(const cq_msg *m); /* unique in queue */
CQ_EXPORT unsigned cq_msg_band(const cq_msg *m);
CQ_EXPORT uint32_t cq_msg_deliveries(const cq_msg *m);  /* 1 on first */
CQ_EXPORT uint64_t cq_msg_enqueued_ns(const cq_msg *m); /* CLOCK_REALTIME */
CQ_EXPORT void cq_msg_free(cq_msg *m);

/* cq_close: close q (idempotent): pushes fail, pops drain then fail. */
CQ_EXPORT cq_status cq_close(cq_queue *q);
/* cq_is_closed: *closed is set to 1 if q is closed, else 0. */
CQ_EXPORT cq_status cq_is_closed(cq_queue *q, int *closed);
/*
 * cq_pause / cq_resume: while paused pops wait, pushes go in. Counted, as
 * libdispatch's suspend/resume: n pauses need n resumes (cq_stat's paused
 * is the count); a resume of a running queue does nothing.
 */
CQ_EXPORT cq_status cq_pause(cq_queue *q);
CQ_EXPORT cq_status cq_resume(cq_queue *q);
/*
 * cq_stat_size: fill the first size bytes of *st (a cq_queue_stat of that
 * size, at least CQ_QUEUE_STAT_SIZE_0_1) with q's state and counters; a
 * larger size leaves the bytes past the library's struct zeroed.
 */
CQ_EXPORT cq_status cq_stat_size(cq_queue *q, cq_queue_stat *st, size_t size);
/*
 * cq_stat_by_name: cq_stat_size of queue name without opening it: it needs
 * read permission only, and works on a quarantined queue (quarantined set,
 * with its name and owner; cq_open on it answers CQ_CORRUPT).
 */
CQ_EXPORT cq_status cq_stat_by_name(
    cq_client *c, const char *name, cq_queue_stat *st, size_t size);
/*
 * cq_stat: fill *st with q's state and counters. A macro over
 * cq_stat_size, as glibc's stat() was over __xstat(): the exported
 * function cq_stat fills the 0.1 fields only, for binaries built with
 * the 0.1 header (which allocate that size).
 */
CQ_EXPORT cq_status cq_stat(cq_queue *q, cq_queue_stat *st);
#define cq_stat(q, st) cq_stat_size((q), (st), sizeof(cq_queue_stat))
/* cq_length: queued messages minus waiting poppers (may be negative). */
CQ_EXPORT cq_status cq_length(cq_queue *q, int64_t *length);

/*
 * Reserve / ack (at-least-once processing). cq_reserve is cq_pop whose
 * message stays in flight under a lease of lease_ms (0: the queue's
 * default) until cq_ack; cq_release puts it back, cq_touch extends it.
 */
CQ_EXPORT cq_status cq_reserve(
    cq_queue *q, cq_msg **m, int64_t timeout_ms, uint32_t lease_ms);
/*
 * cq_reserve_detached: cq_reserve whose reservation survives this
 * connection: it ends only by cq_ack/cq_release or lease expiry, and any
 * connection of the same uid (or an admin) may ack, release or touch it
 * (what conqueue-cli reserve uses so that a later "ack" works).
 */
CQ_EXPORT cq_status cq_reserve_detached(
    cq_queue *q, cq_msg **m, int64_t timeout_ms, uint32_t lease_ms);
CQ_EXPORT cq_status cq_ack(cq_queue *q, uint64_t id);
CQ_EXPORT cq_status cq_release(cq_queue *q, uint64_t id);
CQ_EXPORT cq_status cq_touch(cq_queue *q, uint64_t id, uint32_t lease_ms);
/*
 * cq_release_delayed: cq_release, but the message goes back only after
 * delay_ms (a retry back-off). Meanwhile it stays in flight and nobody may
 * ack, release or touch it; 0 is cq_release.
 */
CQ_EXPORT cq_status cq_release_delayed(
    cq_queue *q, uint64_t id, uint32_t delay_ms);
/*
 * cq_reserve_many: cq_reserve of 1..max messages into msgs[0..*n-1] (each
 * freed by the caller, each under its own lease), waiting up to timeout_ms
 * for the first.
 */
CQ_EXPORT cq_status cq_reserve_many(cq_queue *q, cq_msg **msgs, size_t max,
    size_t *n, int64_t timeout_ms, uint32_t lease_ms);

/* cq_chmod: change q's permission bits (owner or admin only). */
CQ_EXPORT cq_status cq_chmod(cq_queue *q, uint32_t mode);
/*
 * cq_chown: change q's owner uid (admin only) and/or group gid (the owner:
 * only to a group it belongs to); -1 leaves that one unchanged.
 */
CQ_EXPORT cq_status cq_chown(cq_queue *q, int64_t uid, int64_t gid);

/*
 * The owner's (and an admin's) ops by queue name, without cq_open (which
 * needs read or write permission): an owner who cleared its own mode bits
 * can still chmod, close, pause or resume its queue. Same results as the
 * cq_queue forms, plus CQ_INVALID for a bad name and CQ_NOTFOUND.
 */
CQ_EXPORT cq_status cq_close_by_name(cq_client *c, const char *name);
CQ_EXPORT cq_status cq_pause_by_name(cq_client *c, const char *name);
CQ_EXPORT cq_status cq_resume_by_name(cq_client *c, const char *name);
CQ_EXPORT cq_status cq_chmod_by_name(
    cq_client *c, const char *name, uint32_t mode);
CQ_EXPORT cq_status cq_chown_by_name(
    cq_client *c, const char *name, int64_t uid, int64_t gid);

/*
 * Queued messages in place, always through the daemon (also for a handle
 * on the direct path), each one operation under the queue's lock.
 *
 * cq_peek: copies of up to max of the next queued messages of q, in the
 * order pops would take them, into msgs[0..*n-1] (each freed by the caller
 * with cq_msg_free()); they stay queued and their delivery count does not
 * change. Never waits: CQ_OK (*n >= 1), CQ_EMPTY, CQ_CLOSED (closed and
 * drained), CQ_BUSY. Needs read permission.
 *
 * cq_purge: drop every queued message of q at once (not those popped or
 * reserved and not yet confirmed); *count (may be NULL) gets how many.
 * Owner or admin only (CQ_DENIED otherwise). cq_purge_by_name: the same
 * by name, without cq_open.
 *
 * cq_remove: drop the queued message id (cq_msg_id()) of q wherever it
 * is; the others keep their order. CQ_NOTFOUND if no queued message has
 * that id (a reserved one is not queued: cq_ack it). Needs read
 * permission, as a pop does.
 */
CQ_EXPORT cq_status cq_peek(cq_queue *q, cq_msg **msgs, size_t max, size_t *n);
CQ_EXPORT cq_status cq_purge(cq_queue *q, uint64_t *count);
CQ_EXPORT cq_status cq_purge_by_name(
    cq_client *c, const char *name, uint64_t *count);
CQ_EXPORT cq_status cq_remove(cq_queue *q, uint64_t id);

/*
 * cq_pop_any: pop one message from the first of the n queues names[] (in
 * that order) that has one, waiting up to timeout_ms on all of them at
 * once (Redis BLPOP); *index gets the position in names[] of the queue it
 * came from, *m the message (the caller frees it with cq_msg_free()).
 * Only one message is taken, even when several queues get one at once.
 * Through the daemon only; every name must exist and be readable. n is
 * 1..CQ_POP_ANY_MAX. CQ_CLOSED once every queue is closed and drained.
 * cq_try_pop_any never waits (CQ_EMPTY). cq_pop_any_async: cb(status,
 * index, msg, arg) runs later, as for cq_pop_async().
 */
#define CQ_POP_ANY_MAX 64
CQ_EXPORT cq_status cq_pop_any(cq_client *c, const char *const *names,
    size_t n, size_t *index, cq_msg **m, int64_t timeout_ms);
CQ_EXPORT cq_status cq_try_pop_any(cq_client *c, const char *const *names,
    size_t n, size_t *index, cq_msg **m);

/* Daemon figures, as returned by cq_info(). */
typedef struct cq_daemon_info {
	char version[32];
	uint64_t uptime_ms;
	uint32_t connections;
	uint32_t queues;
	uint64_t total_ops;
	uint64_t storage_bytes;
	uint64_t rss_bytes;
	uint32_t pid;
} cq_daemon_info;

/* cq_info: the daemon's own figures. */
CQ_EXPORT cq_status cq_info(cq_client *c, cq_daemon_info *info);

/*
 * Asynchronous operations. Each submit returns CQ_OK and, if op is not NULL,
 * a handle valid until the callback returns. The callback runs exactly once,
 * in the thread that calls cq_client_process() (or a blocking call) on the
 * same client, with the final status. For pops, m is the message on CQ_OK
 * (the callback takes ownership: free it with cq_msg_free), else NULL.
 */
typedef void cq_push_cb(cq_status st, void *arg);
typedef void cq_pop_cb(cq_status st, cq_msg *m, void *arg);

CQ_EXPORT cq_status cq_push_async(cq_queue *q, const void *buf, size_t len,
    unsigned band, int64_t timeout_ms, cq_push_cb *cb, void *arg, cq_op **op);
CQ_EXPORT cq_status cq_push_front_async(cq_queue *q, const void *buf,
    size_t len, unsigned band, int64_t timeout_ms, cq_push_cb *cb, void *arg,
    cq_op **op);
/* cq_push_dedup_async: cq_push_dedup (key, band) with a callback. */
CQ_EXPORT cq_status cq_push_dedup_async(cq_queue *q, const void *key,
    size_t keylen, const void *buf, size_t len, unsigned band,
    int64_t timeout_ms, cq_push_cb *cb, void *arg, cq_op **op);
/* cq_push_delayed_async: cq_push_delayed whose result goes to cb. */
CQ_EXPORT cq_status cq_push_delayed_async(cq_queue *q, const void *buf,
    size_t len, unsigned band, uint32_t delay_ms, int64_t timeout_ms,
    cq_push_cb *cb, void *arg, cq_op **op);
/* cq_push_ttl_async: cq_push_ttl whose result goes to cb. */
CQ_EXPORT cq_status cq_push_ttl_async(cq_queue *q, const void *buf,
    size_t len, unsigned band, uint32_t ttl_ms, int64_t timeout_ms,
    cq_push_cb *cb, void *arg, cq_op **op);
CQ_EXPORT cq_status cq_pop_async(
    cq_queue *q, int64_t timeout_ms, cq_pop_cb *cb, void *arg, cq_op **op);
CQ_EXPORT cq_status cq_reserve_async(cq_queue *q, int64_t timeout_ms,
    uint32_t lease_ms, cq_pop_cb *cb, void *arg, cq_op **op);

/*
 * Batches, asynchronously (so several batches can be in flight).
 * cq_push_many_async: cq_push_many (n messages to band, all or nothing)
 * whose result goes to cb; the library copies the messages at once.
 * cq_pop_many_async: pop 1..max messages; on CQ_OK cb gets msgs[0..n-1]
 * (n >= 1): it owns each message (cq_msg_free) but not the array, which
 * is valid only during the callback. On failure msgs is NULL and n 0.
 */
typedef void cq_pop_many_cb(cq_status st, cq_msg **msgs, size_t n, void *arg);
/* index: the position in names[] of the queue m came from (cq_pop_any). */
typedef void cq_pop_any_cb(
    cq_status st, size_t index, cq_msg *m, void *arg);
CQ_EXPORT cq_status cq_pop_any_async(cq_client *c, const char *const *names,
    size_t n, int64_t timeout_ms, cq_pop_any_cb *cb, void *arg, cq_op **op);

CQ_EXPORT cq_status cq_push_many_async(cq_queue *q, const void *const *bufs,
    const size_t *lens, size_t n, unsigned band, int64_t timeout_ms,
    cq_push_cb *cb, void *arg, cq_op **op);
CQ_EXPORT cq_status cq_pop_many_async(cq_queue *q, size_t max,
    int64_t timeout_ms, cq_pop_many_cb *cb, void *arg, cq_op **op);
/*
 * cq_ack_async / cq_release_async: cq_ack / cq_release whose result goes
 * to cb (NULL: nobody wants it), so a consumer can settle many reserved
 * messages without a round trip each.
 */
CQ_EXPORT cq_status cq_ack_async(
    cq_queue *q, uint64_t id, cq_push_cb *cb, void *arg, cq_op **op);
CQ_EXPORT cq_status cq_release_async(
    cq_queue *q, uint64_t id, cq_push_cb *cb, void *arg, cq_op **op);

/*
 * cq_op_cancel: ask to cancel op. The callback still runs exactly once:
 * with CQ_CANCELED, or with the op's real result if it completed first.
 * A cancelled pop never loses a message.
 */
CQ_EXPORT cq_status cq_op_cancel(cq_op *op);

/* Event-loop integration. */
#define CQ_WANT_READ  0x1
#define CQ_WANT_WRITE 0x2
/* cq_client_fd: the socket to watch. */
CQ_EXPORT int cq_client_fd(cq_client *c);
/* cq_client_events: CQ_WANT_READ and/or CQ_WANT_WRITE to watch for. */
CQ_EXPORT int cq_client_events(cq_client *c);
/*
 * cq_client_process: read and write what the socket allows without
 * waiting and run the callbacks of completed operations. CQ_OK, or
 * CQ_DISCONNECTED once the connection is lost (every pending op has then
 * completed with CQ_DISCONNECTED).
 */
CQ_EXPORT cq_status cq_client_process(cq_client *c);
/* cq_client_pending: number of async operations not yet completed. */
CQ_EXPORT size_t cq_client_pending(cq_client *c);
/*
 * cq_client_set_watch: fn(c, arg) is called whenever cq_client_events(c)
 * changes (also from inside submit calls, e.g. when a new op needs a
 * write), so an event loop can update what it watches; NULL removes it.
 * fn may only call cq_client_fd and cq_client_events.
 */
CQ_EXPORT void cq_client_set_watch(
    cq_client *c, void (*fn)(cq_client *c, void *arg), void *arg);

#ifdef __cplusplus
}
#endif

#endif /* CONQUEUE_CONQUEUE_H */
