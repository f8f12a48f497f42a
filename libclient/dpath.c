/* dpath.c - the direct path: data ops on the mapped segment (DESIGN 2.5). */

/*
 * At open the daemon may hand over the queue's segment and its doorbell
 * (doc/direct-path.md). A handle holding them does push, pop, length,
 * is_closed and stat itself through core/direct.c, and rings the doorbell
 * when the op says socket clients parked in the daemon may now proceed.
 * Anything that goes wrong while taking the direct path leaves the handle
 * on the socket path: the open never fails because of it.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/crash.h"
#include "core/direct.h"
#include "core/layout.h"
#include "dpath.h"
#include "msg.h"
#include "ops.h"
#include "send.h"

/*
 * Longest single wait for the segment's lock. The lock is held for
 * microseconds; a holder that stops (SIGSTOP) makes a blocking op retry
 * until its own deadline and a try op return CQ_BUSY after this.
 */
#define DPATH_LOCK_MS 1000

/* A first copy-out buffer of at most this (grown on CQ_TOOBIG). */
#define DPATH_BUF_FIRST (1024 * 1024)

/*
 * 1 if handles of a connection made with these flags stay on the socket.
 * The direct path is on by default; CQ_CONNECT_NO_DIRECT and
 * CONQUEUE_DIRECT=0 turn it off (CQ_CONNECT_DIRECT and CONQUEUE_DIRECT=1,
 * the opt-ins of 0.4, still say what is now the default).
 */
int
dpath_off(unsigned flags)
{
	const char *v = getenv("CONQUEUE_DIRECT");

	return (flags & CQ_CONNECT_NO_DIRECT) != 0 ||
	       (v != NULL && strcmp(v, "0") == 0);
}

/*
 * Test builds (--enable-crash-points): arm the core's crash sites from
 * $CONQUEUE_CLIENT_CRASH_AT ("site:n") once per process (a forked child
 * arms anew), before its first attach, so that a direct client dies at
 * the n-th pass of a site inside the core ops it runs itself
 * (tests/crash/check_crash_direct.c). A shipped build ignores it.
 */
static void
dpath_crash_arm(void)
{
	static pid_t armed;

	if (armed != getpid()) {
		armed = getpid();
		(void)core_crash_arm(getenv("CONQUEUE_CLIENT_CRASH_AT"));
	}
}

/*
 * Map the segment fds[0] (owned by the daemon's uid, which SO_PEERCRED
 * tells, not the daemon) and keep the doorbell fds[1]. On failure both
 * are closed and the handle stays on the socket.
 */
static void
dpath_attach(cq_client *c, cq_queue *q, int seg, int bell)
{
	struct ucred uc;
	socklen_t len = sizeof uc;
	struct core_queue *dq = NULL;
	const struct core_attr *a;

	dpath_crash_arm();
	/* Nothing is mapped unless a SIGBUS in it can be caught. */
	if (core_guard_hold() != 0) {
		close(seg);
		close(bell);
		return;
	}
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0 ||
	    core_attach_fd(seg, (uint32_t)uc.uid, &dq) != CQ_OK) {
		close(seg);
		close(bell);
		core_guard_drop();
		return;
	}
	a = core_attr(dq);
	if (!direct_usable(dq) || a->serial) {
		core_detach(dq);
		close(bell);
		core_guard_drop();
		return;
	}
	core_set_lock_timeout(dq, DPATH_LOCK_MS);
	q->dq = dq;
	q->bell = bell;
	q->max_size = a->max_size;
}

/* OPEN name (asking for the direct path unless opted out) for handle q. */
cq_status
dpath_open(cq_client *c, cq_queue *q)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Named named = CONQUEUE__NAMED__INIT;
	struct cq_op *op;
	cq_status st;

	q->bell = -1;
	req.op_case = CONQUEUE__REQUEST__OP_NAMED;
	req.named = &named;
	named.kind = CONQUEUE__NAMED__KIND__OPEN;
	named.name = ops_bytes(q->name, q->namelen);
	named.has_direct = !c->no_direct;
	named.direct = !c->no_direct;
	st = send_submit(c, &req, OP_PLAIN, -1, 1, &op);
	if (st != CQ_OK) {
		conn_set_error(c, st, NULL, st == CQ_SYSTEM ? ENOMEM : 0);
		return st;
	}
	st = ops_wait(c, op, NULL);
	if (st == CQ_OK && op->nfds == 2 && !c->no_direct) {
		dpath_attach(c, q, op->fds[0], op->fds[1]);
		op->nfds = 0;
	}
	optab_op_free(op); /* closes fds not taken */
	return st;
}

/* Unmap the segment and close the doorbell (no lock is held here). */
static void
dpath_unmap(cq_queue *q)
{
	if (q->dq != NULL) {
		core_detach(q->dq);
		q->dq = NULL;
		core_guard_drop();
	}
	if (q->bell >= 0)
		close(q->bell);
	q->bell = -1;
}

/* Forget the direct path of q and its copy-out buffer. */
void
dpath_free(cq_queue *q)
{
	dpath_unmap(q);
	free(q->pbuf);
	q->pbuf = NULL;
	q->pbuf_cap = 0;
}

/*
 * 1 if q's data ops go direct now. A mapping a direct op found corrupt
 * (quarantined, cut short: core marked it) is dropped here, and from then
 * on the daemon serves the handle and says what it sees.
 */
int
dpath_live(cq_queue *q)
{
	if (q == NULL || q->dq == NULL)
		return 0;
	if (__atomic_load_n(&q->dq->corrupt, __ATOMIC_RELAXED) != 0) {
		dpath_unmap(q);
		return 0;
	}
	return 1;
}

/*
 * The connection has ops the daemon has not answered (async ops of the
 * application, a backlog, bytes not written yet): a blocking call that
 * sleeps on a futex would neither send them nor let them go first.
 */
static int
dpath_async_pending(const cq_client *c)
{
	return c->napp > 0 || c->backlog_head != NULL || c->out_len > c->out_off;
}

/*
 * 1 if a query (length, is_closed, stat) of q is answered from the
 * segment: q is direct and the connection has nothing pending that the
 * socket path would have had the daemon do before answering it (an
 * async pop submitted first shows among the waiters, say).
 */
int
dpath_query_live(cq_queue *q)
{
	return dpath_live(q) && !dpath_async_pending(q->c);
}

/* Receipts not sent yet, or sent and maybe not read yet: their slots are
 * in flight until the daemon settles them (a confirm frees one, a reject
 * queues its message again). */
static int
dpath_receipts_pending(const cq_client *c)
{
	return c->confirm.n > 0 || c->reject.n > 0 || c->settle_id != 0;
}

/*
 * After a direct op: 1 (and the mapping dropped if corrupt) when the op
 * must run on the socket instead: the segment is corrupt, or the op was
 * only tried (deferred) and would have to wait (nothing was done).
 */
static int
dpath_to_socket(cq_queue *q, cq_status st, int deferred, cq_status wait)
{
	if (st == CQ_CORRUPT) {
		dpath_unmap(q);
		return 1;
	}
	return deferred && st == wait;
}

/* Tell the daemon its parked socket clients may proceed. */
static void
dpath_ring(cq_queue *q, int ring)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is full, the daemon will look anyway. */
	if (ring && write(q->bell, &one, sizeof one) < 0) {
	}
}

/* Record a failure for cq_client_error(), as the socket path does. */
static cq_status
dpath_result(cq_queue *q, cq_status st)
{
	/* The core's only CQ_LIMIT: no memory to back a record. */
	if (st == CQ_LIMIT)
		conn_set_error(q->c, st,
		    "no memory for the message: the shared-memory file system "
		    "(/dev/shm) is full; nothing was pushed",
		    0);
	else if (st != CQ_OK && st != CQ_TIMEDOUT)
		conn_set_error(q->c, st, NULL, st == CQ_SYSTEM ? ENOMEM : 0);
	return st;
}

/* Milliseconds left until deadline (monotonic ns), never negative. */
static int64_t
dpath_left(int64_t timeout_ms, uint64_t deadline)
{
	uint64_t now;

	if (timeout_ms <= 0)
		return timeout_ms < 0 ? -1 : 0;
	now = time_mono_ns();
	return now >= deadline ? 0 : (int64_t)((deadline - now) / 1000000u);
}

/* The deadline of a timed op (monotonic ns), 0 for try and forever. */
static uint64_t
dpath_deadline(int64_t timeout_ms)
{
	return timeout_ms > 0 ? time_mono_ns() + (uint64_t)timeout_ms * 1000000u
	                      : 0;
}

/*
 * After CQ_BUSY (the lock stayed held past DPATH_LOCK_MS): 1 to try
 * again, as a blocking op on the socket path would keep waiting; else
 * *st becomes the op's result (try: CQ_BUSY, timed out: CQ_TIMEDOUT).
 */
static int
dpath_busy_again(cq_status *st, int64_t timeout_ms, uint64_t deadline)
{
	if (*st != CQ_BUSY || timeout_ms == 0)
		return 0;
	if (timeout_ms > 0 && dpath_left(timeout_ms, deadline) == 0) {
		*st = CQ_TIMEDOUT;
		return 0;
	}
	return 1;
}

/*
 * Push n messages to band (front: at its head), all or nothing; push.c
 * checked the arguments and the limits. *via_socket: 1 if the caller must
 * run the push on the socket instead (then nothing was pushed here):
 *   - the connection has async ops pending: they go first, in order;
 *   - receipts are pending and the queue is full: the daemon must settle
 *     them first (a push over the socket carries them);
 *   - the segment turned out corrupt (the mapping is dropped).
 */
cq_status
dpath_push(cq_queue *q, const void *const *bufs, const size_t *lens, size_t n,
    unsigned band, int front, int64_t timeout_ms, int *via_socket)
{
	/* Not zeroed: 1 KiB of stores were a tenth of a push + pop pair. */
	struct iovec local[64], *iov = local;
	uint64_t deadline;
	cq_status st;
	size_t i;
	int ring = 0, deferred;

	*via_socket = 0;
	if (dpath_async_pending(q->c)) {
		*via_socket = 1;
		return CQ_OK;
	}
	if (n > sizeof local / sizeof local[0] &&
	    (iov = malloc(n * sizeof *iov)) == NULL)
		return dpath_result(q, CQ_SYSTEM);
	for (i = 0; n > 1 && i < n; i++) {
		iov[i].iov_base = (void *)(uintptr_t)bufs[i];
		iov[i].iov_len = lens[i];
	}
	deferred = dpath_receipts_pending(q->c);
	timeout_ms = deferred ? 0 : ops_timeout(timeout_ms);
	deadline = dpath_deadline(timeout_ms);
	do {
		if (n == 1)
			st = direct_push(q->dq, bufs[0], lens[0], band, front,
			    dpath_left(timeout_ms, deadline), NULL, &ring);
		else
			st = direct_push_many(q->dq, iov, n, band, front,
			    dpath_left(timeout_ms, deadline), NULL, &ring);
		dpath_ring(q, ring);
	} while (dpath_busy_again(&st, timeout_ms, deadline));
	if (iov != local)
		free(iov);
	if ((*via_socket = dpath_to_socket(q, st, deferred, CQ_FULL)) != 0)
		return CQ_OK;
	return dpath_result(q, st);
}

/* Make the copy-out buffer at least want bytes. */
static int
dpath_grow(cq_queue *q, size_t want)
{
	uint8_t *p;

	if (q->pbuf_cap >= want)
		return 0;
	if ((p = realloc(q->pbuf, want)) == NULL)
		return -1;
	q->pbuf = p;
	q->pbuf_cap = want;
	return 0;
}

/*
 * How many messages one pop may take: what the daemon's reply frame
 * holds with every message at max_size (daemon/flow.c, flow_pop_budget),
 * so that pop_many returns as many on both paths.
 */
static size_t
dpath_pop_budget(const cq_queue *q, size_t max)
{
	uint64_t per = (uint64_t)q->max_size + 64;
	uint64_t fit = q->c->max_frame > 1024 ? (q->c->max_frame - 1024) / per
	                                      : 1;

	if (fit < 1)
		fit = 1;
	return max < fit ? max : (size_t)fit;
}

/*
 * Pop 1..max messages of one band into cq_msgs the caller owns.
 * *via_socket: 1 if the caller must pop on the socket instead (nothing
 * was taken here): the connection has async ops or receipts pending and
 * the queue is empty (they may be what fills it, and parked pops go
 * first), or the segment turned out corrupt.
 */
cq_status
dpath_pop(cq_queue *q, cq_msg **msgs, size_t max, size_t *n,
    int64_t timeout_ms, int *via_socket)
{
	struct direct_msg local[16], *m = local;
	uint64_t deadline;
	size_t got = 0, i, want;
	cq_status st;
	int ring = 0, deferred;

	*via_socket = 0;
	if (n != NULL)
		*n = 0;
	deferred = dpath_async_pending(q->c) || dpath_receipts_pending(q->c);
	timeout_ms = deferred ? 0 : ops_timeout(timeout_ms);
	deadline = dpath_deadline(timeout_ms);
	max = dpath_pop_budget(q, max);
	if (max > sizeof local / sizeof local[0] &&
	    (m = malloc(max * sizeof *m)) == NULL)
		return dpath_result(q, CQ_SYSTEM);
	/* Room for max messages of max_size (below max_frame): a modest
	 * buffer for a single pop, grown on demand. */
	want = (size_t)q->max_size * max;
	if (max == 1 && want > DPATH_BUF_FIRST)
		want = DPATH_BUF_FIRST;
	if (want == 0)
		want = 1;
	for (;;) {
		if (dpath_grow(q, want) != 0) {
			st = CQ_SYSTEM;
			break;
		}
		if (max == 1) {
			st = direct_pop(q->dq, q->pbuf, q->pbuf_cap, &m[0],
			    dpath_left(timeout_ms, deadline), &ring);
			got = st == CQ_OK;
		} else {
			st = direct_pop_many(q->dq, q->pbuf, q->pbuf_cap, m,
			    max, &got, dpath_left(timeout_ms, deadline), &ring);
		}
		dpath_ring(q, ring);
		if (dpath_busy_again(&st, timeout_ms, deadline))
			continue;
		/* The head needs m[0].len bytes; nothing was taken. */
		if (st != CQ_TOOBIG || m[0].len <= q->pbuf_cap ||
		    m[0].len > q->max_size)
			break;
		want = m[0].len;
	}
	for (i = 0; st == CQ_OK && i < got; i++) {
		msgs[i] = msg_new(m[i].id, m[i].band, m[i].deliveries,
		    m[i].enqueued_ns, q->pbuf + m[i].off, m[i].len);
		if (msgs[i] == NULL) {
			/* Taken already: better lost loudly than half-given. */
			while (i > 0)
				cq_msg_free(msgs[--i]);
			st = CQ_SYSTEM;
		}
	}
	if (n != NULL)
		*n = st == CQ_OK ? got : 0;
	if (m != local)
		free(m);
	if ((*via_socket = dpath_to_socket(q, st, deferred, CQ_EMPTY)) != 0)
		return CQ_OK;
	return dpath_result(q, st);
}

/*
 * Whether the queue is closed, read from the header; CQ_CORRUPT (the
 * mapping dropped: the caller asks the daemon) if the read found the
 * segment cut short.
 */
cq_status
dpath_is_closed(cq_queue *q, int *closed)
{
	*closed = core_is_closed(q->dq) != 0;
	return dpath_live(q) ? CQ_OK : CQ_CORRUPT;
}

/* GAsyncQueue length: queued minus the waiting poppers of both paths
 * (CQ_CORRUPT as dpath_is_closed). */
cq_status
dpath_length(cq_queue *q, int64_t *length)
{
	*length = direct_length(q->dq);
	return dpath_live(q) ? CQ_OK : CQ_CORRUPT;
}

/* State and counters, as the daemon's STAT reports them. */
cq_status
dpath_stat(cq_queue *q, cq_queue_stat *st)
{
	struct direct_stat ds;
	const struct core_attr *a;
	uint64_t now;
	cq_status s;
	int tries;

	/* Each try waits up to DPATH_LOCK_MS for the lock: a few, then
	 * CQ_BUSY (the holder is stopped or gone wrong). */
	for (tries = 0; (s = direct_stat(q->dq, &ds)) == CQ_BUSY && tries < 4;
	     tries++)
		;
	if (s == CQ_CORRUPT)
		dpath_unmap(q); /* the caller asks the daemon */
	if (s != CQ_OK)
		return dpath_result(q, s);
	a = &ds.core.attr;
	memcpy(st->name, a->name, sizeof st->name);
	st->name[CQ_NAME_MAX] = '\0';
	st->capacity = a->capacity;
	st->max_size = a->max_size;
	st->bands = a->bands;
	st->mode = a->mode;
	st->uid = (uid_t)a->uid;
	st->gid = (gid_t)a->gid;
	st->max_deliveries = a->max_deliveries;
	st->lease_ms = a->lease_ms;
	st->serial = a->serial != 0;
	st->length = ds.core.length;
	st->in_flight = ds.core.in_flight;
	st->waiting_poppers = ds.waiting_poppers;
	st->waiting_pushers = ds.waiting_pushers;
	st->closed = ds.core.closed != 0;
	st->paused = ds.core.paused; /* the count */
	st->total_pushed = ds.core.total_pushed;
	st->total_popped = ds.core.total_popped;
	st->dead_lettered = ds.core.dead_lettered;
	st->corrupt_dropped = ds.core.corrupt_dropped;
	st->no_direct = a->no_direct != 0;
	st->dedup_window_ms = a->dedup_window_ms;
	st->delayed = ds.core.delayed;
	st->ttl_ms = a->ttl_ms;
	st->expired = ds.core.expired;
	st->bytes = ds.core.bytes;
	st->max_bytes = a->max_bytes;
	st->resident_bytes = ds.core.resident;
	now = time_real_ns();
	st->oldest_age_ms =
	    ds.core.oldest_enqueued_ns != 0 && now > ds.core.oldest_enqueued_ns
	        ? (now - ds.core.oldest_enqueued_ns) / 1000000u
	        : 0;
	return CQ_OK;
}

/* cq_queue_direct: whether q's data ops go through the mapped segment. */
int
cq_queue_direct(const cq_queue *q)
{
	return q != NULL && q->dq != NULL;
}
