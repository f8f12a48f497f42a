/* check_client_parity.c - the direct path answers as the socket path does. */

/*
 * DESIGN 2.5: "same API, same results, same statuses: a program cannot
 * tell which path served it, except by speed". Every test runs twice
 * (_i 0: a direct handle, CQ_CONNECT_DIRECT; _i 1: a socket handle,
 * CQ_CONNECT_NO_DIRECT) against a daemon with small limits, and asserts
 * the same statuses and results: the limits of a batch, bad arguments,
 * pop_many's frame budget, the plain ops, waiting consumers in length, a
 * pause, blocking calls while async ops or receipts are pending (the
 * direct path must hand those to the daemon), and a segment that turns
 * out corrupt (the handle goes on through the daemon). Waits are on
 * state, bounded; the timed ops assert only what their timeout means.
 */

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "core/layout.h"
#include "tests/testutil.h"

#define SETTLE_MS 20000 /* bound of a wait on state (loaded machine) */

/* Small limits, so that a test reaches them: frames of 8 KiB. */
#define MAX_BATCH 8
#define MAX_FRAME 8192
#define MAX_MSG   4096

static struct tu_daemon D;
static int d_started;

/* Stop the daemon and remove what it left. */
static void
cleanup(void)
{
	if (d_started) {
		d_started = 0;
		tu_daemon_cleanup(&D);
	}
}

/* Each test (a forked child) gets a private daemon with small limits. */
static void
setup(void)
{
	unsetenv("CONQUEUE_DIRECT");
	ck_assert_int_eq(tu_daemon_start_config(&D,
	                     "max_batch = 8\n"
	                     "max_frame = 8192\n"
	                     "max_message = 4096\n"),
	    0);
	d_started = 1;
	atexit(cleanup);
}

/* A connection: direct handles unless socket_only. */
static cq_client *
conn(int socket_only)
{
	cq_client *c = NULL;

	ck_assert_int_eq(
	    cq_connect_flags(&c, D.sock, NULL,
	        socket_only ? CQ_CONNECT_NO_DIRECT : CQ_CONNECT_DIRECT),
	    CQ_OK);
	return c;
}

/* Create name (capacity cap, max_size max, bands 2), open it on c and
 * check which path the handle got. */
static cq_queue *
mkopen(cq_client *c, const char *name, uint32_t cap, uint32_t max, int direct)
{
	cq_queue_attr a;
	cq_queue *q = NULL;

	memset(&a, 0, sizeof a);
	a.capacity = cap;
	a.max_size = max;
	a.bands = 2;
	ck_assert_int_eq(cq_create(c, name, &a), CQ_OK);
	ck_assert_int_eq(cq_open(c, name, &q), CQ_OK);
	ck_assert_int_eq(cq_queue_direct(q), direct);
	return q;
}

/* Pop one message (timeout t) and check its text and band. */
static void
pop_is(cq_queue *q, int64_t t, const char *want, unsigned band)
{
	cq_msg *m = NULL;

	ck_assert_int_eq(cq_pop(q, &m, t), CQ_OK);
	ck_assert_uint_eq(cq_msg_len(m), strlen(want));
	ck_assert_mem_eq(cq_msg_data(m), want, strlen(want));
	ck_assert_uint_eq(cq_msg_band(m), band);
	cq_msg_free(m);
}

/* q's length as cq_length says. */
static int64_t
qlen(cq_queue *q)
{
	int64_t len = -100;

	ck_assert_int_eq(cq_length(q, &len), CQ_OK);
	return len;
}

/* Wait until q's stat shows at least poppers/pushers waiting. */
static void
wait_waiters(cq_queue *q, uint32_t poppers, uint32_t pushers)
{
	cq_queue_stat st;
	int64_t end = tu_now_ms() + SETTLE_MS;

	for (;;) {
		ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
		if (st.waiting_poppers >= poppers &&
		    st.waiting_pushers >= pushers)
			return;
		ck_assert_msg(tu_now_ms() < end, "waiters never showed up");
		usleep(1000);
	}
}

/* Run c's I/O and callbacks until *flag is set (bounded). */
static void
process_until(cq_client *c, const int *flag)
{
	struct pollfd p;
	int64_t end = tu_now_ms() + SETTLE_MS;

	while (!*flag) {
		ck_assert_msg(tu_now_ms() < end, "callback never ran");
		p.fd = cq_client_fd(c);
		p.events = POLLIN;
		(void)poll(&p, 1, 100);
		ck_assert_int_eq(cq_client_process(c), CQ_OK);
	}
}

/*
 * push_many: more than max_batch, or more bytes than one frame holds,
 * is CQ_LIMIT; a message over max_message or the queue's max_size is
 * CQ_TOOBIG; a NULL buffer with a length is CQ_INVALID; in every case
 * nothing is pushed (all or nothing).
 */
START_TEST(test_batch_limits)
{
	cq_client *c = conn(_i);
	cq_queue *q = mkopen(c, "b", 32, MAX_MSG, !_i);
	cq_queue *s = mkopen(c, "s", 32, 64, !_i);
	static char big[MAX_MSG + 1];
	const void *bufs[MAX_BATCH + 1];
	size_t lens[MAX_BATCH + 1], i;

	memset(big, 'x', sizeof big);
	for (i = 0; i <= MAX_BATCH; i++) {
		bufs[i] = "m";
		lens[i] = 1;
	}
	/* Over max_batch. */
	ck_assert_int_eq(
	    cq_push_many(q, bufs, lens, MAX_BATCH + 1, 0, 0), CQ_LIMIT);
	ck_assert_int_eq(cq_push_many(q, bufs, lens, MAX_BATCH + 1, 0,
	                     CQ_FOREVER),
	    CQ_LIMIT);
	/* Over the frame budget: three messages of 4000 bytes. */
	for (i = 0; i < 3; i++) {
		bufs[i] = big;
		lens[i] = 4000;
	}
	ck_assert_int_eq(cq_push_many(q, bufs, lens, 3, 0, 0), CQ_LIMIT);
	ck_assert_int_eq(qlen(q), 0);
	/* Two of them fit in a frame. */
	ck_assert_int_eq(cq_push_many(q, bufs, lens, 2, 0, 0), CQ_OK);
	ck_assert_int_eq(qlen(q), 2);
	/* One message over max_message inside a batch: too big. */
	lens[0] = 10;
	lens[1] = MAX_MSG + 1;
	ck_assert_int_eq(cq_push_many(q, bufs, lens, 2, 0, 0), CQ_TOOBIG);
	ck_assert_int_eq(cq_push(q, big, MAX_MSG + 1, 0), CQ_TOOBIG);
	/* One over the queue's max_size (64) inside a batch: too big. */
	lens[0] = 64;
	lens[1] = 65;
	ck_assert_int_eq(cq_push_many(s, bufs, lens, 2, 0, 0), CQ_TOOBIG);
	ck_assert_int_eq(qlen(s), 0);
	/* A NULL buffer with a length: invalid; with none: an empty
	 * message. */
	bufs[1] = NULL;
	lens[1] = 3;
	ck_assert_int_eq(cq_push_many(s, bufs, lens, 2, 0, 0), CQ_INVALID);
	ck_assert_int_eq(cq_push(s, NULL, 3, 0), CQ_INVALID);
	ck_assert_int_eq(cq_try_push(s, NULL, 1), CQ_INVALID);
	ck_assert_int_eq(qlen(s), 0);
	ck_assert_int_eq(cq_push(s, NULL, 0, 0), CQ_OK);
	pop_is(s, 0, "", 0);
	/* n 0, NULL arrays. */
	ck_assert_int_eq(cq_push_many(s, bufs, lens, 0, 0, 0), CQ_INVALID);
	ck_assert_int_eq(cq_push_many(s, NULL, lens, 1, 0, 0), CQ_INVALID);
	ck_assert_int_eq(cq_queue_direct(q), !_i);
	cq_queue_free(s);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

/*
 * pop_many takes what one reply frame holds with every message at the
 * queue's max_size: with 4 KiB messages and 8 KiB frames, one; with
 * 64-byte ones, up to max_batch (a larger max is lowered to it).
 */
START_TEST(test_pop_many_frame_budget)
{
	cq_client *c = conn(_i);
	cq_queue *q = mkopen(c, "big", 32, MAX_MSG, !_i);
	cq_queue *s = mkopen(c, "small", 32, 64, !_i);
	cq_msg *ms[32] = {NULL};
	size_t n = 0, i;
	char t[8];

	for (i = 0; i < 12; i++) {
		snprintf(t, sizeof t, "%zu", i);
		ck_assert_int_eq(cq_push(q, t, strlen(t), 0), CQ_OK);
		ck_assert_int_eq(cq_push(s, t, strlen(t), 0), CQ_OK);
	}
	ck_assert_int_eq(cq_pop_many(q, ms, 8, &n, 0), CQ_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_mem_eq(cq_msg_data(ms[0]), "0", 1);
	cq_msg_free(ms[0]);
	ck_assert_int_eq(cq_pop_many(s, ms, 32, &n, CQ_FOREVER), CQ_OK);
	ck_assert_uint_eq(n, MAX_BATCH);
	for (i = 0; i < n; i++) {
		snprintf(t, sizeof t, "%zu", i);
		ck_assert_uint_eq(cq_msg_len(ms[i]), strlen(t));
		ck_assert_mem_eq(cq_msg_data(ms[i]), t, strlen(t));
		cq_msg_free(ms[i]);
	}
	ck_assert_int_eq(cq_pop_many(s, ms, 32, &n, 0), CQ_OK);
	ck_assert_uint_eq(n, 4);
	for (i = 0; i < n; i++)
		cq_msg_free(ms[i]);
	ck_assert_int_eq(cq_pop_many(s, ms, 32, &n, 0), CQ_EMPTY);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(cq_pop_many(s, NULL, 32, &n, 0), CQ_INVALID);
	ck_assert_int_eq(cq_pop_many(s, ms, 0, &n, 0), CQ_INVALID);
	cq_queue_free(s);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

/* try / timed push and pop, push_front, bands, close, is_closed, stat. */
START_TEST(test_plain_ops)
{
	cq_client *c = conn(_i);
	cq_queue *q = mkopen(c, "p", 3, 64, !_i);
	cq_queue_stat st;
	cq_msg *m = NULL;
	int closed = -1;

	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(cq_pop(q, &m, 10), CQ_TIMEDOUT);
	ck_assert_int_eq(cq_push_band(q, "x", 1, 2, 0), CQ_INVALID);
	ck_assert_int_eq(cq_push(q, "a", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_push_band(q, "h", 1, 1, CQ_FOREVER), CQ_OK);
	ck_assert_int_eq(cq_push_front(q, "0", 1, 0, 10), CQ_OK);
	ck_assert_int_eq(cq_try_push(q, "z", 1), CQ_FULL);
	ck_assert_int_eq(cq_push(q, "z", 1, 10), CQ_TIMEDOUT);
	ck_assert_int_eq(cq_push_front(q, "z", 1, 1, 0), CQ_FULL);
	ck_assert_int_eq(qlen(q), 3);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_str_eq(st.name, "p");
	ck_assert_uint_eq(st.capacity, 3);
	ck_assert_uint_eq(st.max_size, 64);
	ck_assert_uint_eq(st.bands, 2);
	ck_assert_uint_eq(st.length, 3);
	ck_assert_uint_eq(st.in_flight, 0);
	ck_assert_uint_eq(st.total_pushed, 3);
	ck_assert_uint_eq(st.total_popped, 0);
	ck_assert_int_eq(st.paused, 0);
	ck_assert_int_eq(st.quarantined, 0);
	pop_is(q, 0, "h", 1);
	pop_is(q, 10, "0", 0);
	pop_is(q, CQ_FOREVER, "a", 0);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.total_popped, 3);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_int_eq(cq_push(q, "l", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_is_closed(q, &closed), CQ_OK);
	ck_assert_int_eq(closed, 0);
	ck_assert_int_eq(cq_close(q), CQ_OK);
	ck_assert_int_eq(cq_close(q), CQ_OK);
	ck_assert_int_eq(cq_is_closed(q, &closed), CQ_OK);
	ck_assert_int_eq(closed, 1);
	ck_assert_int_eq(cq_try_push(q, "x", 1), CQ_CLOSED);
	ck_assert_int_eq(cq_push_front(q, "x", 1, 0, CQ_FOREVER), CQ_CLOSED);
	pop_is(q, CQ_FOREVER, "l", 0);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_CLOSED);
	ck_assert_int_eq(cq_pop(q, &m, 10), CQ_CLOSED);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_int_eq(st.closed, 1);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

/* Fork a child that pops once from name (its own connection on the same
 * path, CQ_FOREVER) and exits 0 if it got want. */
static pid_t
popper(int socket_only, const char *name, const char *want)
{
	pid_t pid = fork();
	cq_client *c;
	cq_queue *q;
	cq_msg *m = NULL;
	int ok;

	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		return pid;
	c = conn(socket_only);
	if (cq_open(c, name, &q) != CQ_OK)
		_exit(2);
	ok = cq_pop(q, &m, CQ_FOREVER) == CQ_OK &&
	     cq_msg_len(m) == strlen(want) &&
	     memcmp(cq_msg_data(m), want, strlen(want)) == 0;
	cq_msg_free(m);
	cq_queue_free(q);
	cq_disconnect(c);
	_exit(ok ? 0 : 1);
}

/* Reap pid, which must have exited 0. */
static void
reap(pid_t pid)
{
	int ws;

	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "child %#x", ws);
}

/*
 * length counts waiting consumers (GAsyncQueue): one blocked popper makes
 * an empty queue -1. A paused queue blocks pops, of the direct path too:
 * the popper still waits after a push, and gets it on resume.
 */
START_TEST(test_waiting_consumers_and_pause)
{
	cq_client *c = conn(_i);
	cq_queue *q = mkopen(c, "w", 4, 64, !_i);
	cq_queue_stat st;
	cq_msg *m = NULL;
	pid_t pid;

	pid = popper(_i, "w", "one");
	wait_waiters(q, 1, 0);
	ck_assert_int_eq(qlen(q), -1);
	ck_assert_int_eq(cq_push(q, "one", 3, 0), CQ_OK);
	reap(pid);
	ck_assert_int_eq(qlen(q), 0);

	ck_assert_int_eq(cq_pause(q), CQ_OK);
	pid = popper(_i, "w", "two");
	wait_waiters(q, 1, 0);
	ck_assert_int_eq(cq_push(q, "two", 3, 0), CQ_OK);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	ck_assert_int_eq(cq_pop(q, &m, 10), CQ_TIMEDOUT);
	/* Still there, the popper still waiting: nobody took it. */
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.length, 1);
	ck_assert_uint_ge(st.waiting_poppers, 1);
	ck_assert_int_ge(st.paused, 1);
	ck_assert_int_eq(cq_resume(q), CQ_OK);
	reap(pid);
	ck_assert_int_eq(qlen(q), 0);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

static int async_done;
static cq_status async_st;
static char async_got[16];

/* Async pop callback: note what came. */
static void
on_pop(cq_status st, cq_msg *m, void *arg)
{
	(void)arg;
	async_st = st;
	if (m != NULL) {
		snprintf(async_got, sizeof async_got, "%.*s",
		    (int)cq_msg_len(m), (const char *)cq_msg_data(m));
		cq_msg_free(m);
	}
	async_done = 1;
}

/* Async push callback. */
static void
on_push(cq_status st, void *arg)
{
	(void)arg;
	async_st = st;
	async_done = 1;
}

/*
 * A blocking call on a handle whose connection has async ops pending
 * keeps their order: an async push submitted first lands first, length
 * counts an async pop submitted first among the waiters, and a blocking
 * pop does not overtake an async pop parked before it (nor sleep where
 * the daemon cannot serve it in turn).
 */
START_TEST(test_blocking_behind_async)
{
	cq_client *c = conn(_i);
	cq_queue *q = mkopen(c, "a", 4, 64, !_i);
	const void *bufs[2] = {"x", "y"};
	size_t lens[2] = {1, 1};
	cq_op *op = NULL;
	pid_t pid;

	/* Push order: the async one is not even written out yet. */
	async_done = 0;
	ck_assert_int_eq(
	    cq_push_async(q, "1", 1, 0, CQ_FOREVER, on_push, NULL, &op),
	    CQ_OK);
	ck_assert_int_eq(cq_push(q, "2", 1, CQ_FOREVER), CQ_OK);
	process_until(c, &async_done);
	ck_assert_int_eq(async_st, CQ_OK);
	pop_is(q, 0, "1", 0);
	pop_is(q, 0, "2", 0);

	/* Pop order: the async pop parks first, then the blocking one. */
	async_done = 0;
	async_got[0] = '\0';
	ck_assert_int_eq(cq_pop_async(q, CQ_FOREVER, on_pop, NULL, &op), CQ_OK);
	/* Answered after the async pop parked, as on the socket: -1. */
	ck_assert_int_eq(qlen(q), -1);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		cq_client *pc = conn(_i);
		cq_queue *pq;
		int ok;

		ok = cq_open(pc, "a", &pq) == CQ_OK;
		if (ok)
			wait_waiters(pq, 2, 0);
		ok = ok && cq_push_many(pq, bufs, lens, 2, 0, CQ_FOREVER) ==
		               CQ_OK;
		cq_queue_free(pq);
		cq_disconnect(pc);
		_exit(ok ? 0 : 1);
	}
	pop_is(q, CQ_FOREVER, "y", 0);
	process_until(c, &async_done);
	ck_assert_int_eq(async_st, CQ_OK);
	ck_assert_str_eq(async_got, "x");
	reap(pid);
	ck_assert_int_eq(qlen(q), 0);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

static cq_queue *cb_q;
static cq_status cb_push_st = CQ_SYSTEM;

/* Async pop callback that pushes, blocking, to the full queue it popped
 * from: the slot it frees is in flight until the receipt goes out. */
static void
on_pop_push(cq_status st, cq_msg *m, void *arg)
{
	(void)arg;
	async_st = st;
	cq_msg_free(m);
	cb_push_st = cq_push(cb_q, "b", 1, CQ_FOREVER);
	async_done = 1;
}

/*
 * A full queue whose free slot waits for this handle's receipt: a
 * blocking push must not sleep on it (the receipt would never leave)
 * but go through the daemon, which settles the receipt first.
 */
START_TEST(test_full_with_receipts_pending)
{
	cq_client *c = conn(_i);
	cq_queue *q = mkopen(c, "r", 1, 64, !_i);
	cq_op *op = NULL;

	cb_q = q;
	ck_assert_int_eq(cq_push(q, "a", 1, 0), CQ_OK);
	async_done = 0;
	ck_assert_int_eq(
	    cq_pop_async(q, CQ_FOREVER, on_pop_push, NULL, &op), CQ_OK);
	process_until(c, &async_done);
	ck_assert_int_eq(async_st, CQ_OK);
	ck_assert_int_eq(cb_push_st, CQ_OK);
	pop_is(q, 0, "b", 0);
	/* Receipts sent but maybe not read yet: the socket path's order
	 * has the daemon settle them before a later push, so does this. */
	ck_assert_int_eq(cq_push(q, "c", 1, 0), CQ_OK);
	async_done = 0;
	ck_assert_int_eq(cq_pop_async(q, CQ_FOREVER, on_pop, NULL, &op), CQ_OK);
	process_until(c, &async_done);
	ck_assert_str_eq(async_got, "c");
	ck_assert_int_eq(cq_try_push(q, "d", 1), CQ_OK);
	pop_is(q, 0, "d", 0);
	ck_assert_int_eq(cq_queue_direct(q), !_i);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

/* Open the one segment file of D (a test daemon has one queue here). */
static int
seg_open(void)
{
	char dir[256], path[600];
	struct dirent *de;
	DIR *d;
	int fd = -1;

	snprintf(dir, sizeof dir, "/dev/shm/conqueue-%s", D.instance);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strchr(de->d_name, '.') != NULL)
			continue; /* N.bell: the doorbell */
		ck_assert_int_lt(fd, 0);
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
	}
	closedir(d);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Flip a byte of the payload pat (unique in the segment) in place. */
static void
damage(const char *pat)
{
	int fd = seg_open();
	struct stat sb;
	unsigned char *base;
	void *hit;

	ck_assert_int_eq(fstat(fd, &sb), 0);
	base = mmap(
	    NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	hit = memmem(base, (size_t)sb.st_size, pat, strlen(pat));
	ck_assert_ptr_nonnull(hit);
	*(unsigned char *)hit ^= 0x55;
	munmap(base, (size_t)sb.st_size);
	close(fd);
}

/*
 * A message whose slot fails its checksum: the pop drops it and hands
 * over the next one on both paths; the direct handle found it corrupt,
 * dropped its mapping and went on through the daemon.
 */
START_TEST(test_corrupt_slot_goes_on_via_daemon)
{
	cq_client *c = conn(_i);
	cq_queue *q = mkopen(c, "c", 4, 64, !_i);
	cq_queue_stat st;

	ck_assert_int_eq(cq_push(q, "AAAAAAAAAAAAAAAAbad", 19, 0), CQ_OK);
	ck_assert_int_eq(cq_push(q, "good", 4, 0), CQ_OK);
	damage("AAAAAAAAAAAAAAAAbad");
	pop_is(q, CQ_FOREVER, "good", 0);
	ck_assert_int_eq(cq_queue_direct(q), 0);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.corrupt_dropped, 1);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_int_eq(cq_push(q, "more", 4, 0), CQ_OK);
	pop_is(q, 0, "more", 0);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

/*
 * A quarantined queue (its header broken): CQ_CORRUPT on both paths, for
 * every op, and stat (from the daemon) says so; never a crash.
 */
START_TEST(test_quarantined_queue)
{
	cq_client *c = conn(_i);
	cq_queue *q = mkopen(c, "qq", 4, 64, !_i);
	cq_queue_stat st;
	cq_msg *m = NULL;
	uint64_t one = 1;
	int fd;

	ck_assert_int_eq(cq_push(q, "x", 1, 0), CQ_OK);
	/* What a failed recovery sets: everybody stops trusting it. */
	fd = seg_open();
	ck_assert_int_eq(pwrite(fd, &one, sizeof one,
	                     offsetof(struct queue_hdr, quarantined)),
	    (ssize_t)sizeof one);
	close(fd);
	ck_assert_int_eq(cq_push(q, "y", 1, 0), CQ_CORRUPT);
	ck_assert_int_eq(cq_queue_direct(q), 0);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_CORRUPT);
	ck_assert_int_eq(cq_pop(q, &m, CQ_FOREVER), CQ_CORRUPT);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_int_eq(st.quarantined, 1);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

/* The suite. */
static Suite *
parity_suite(void)
{
	Suite *s = suite_create("client_parity");
	TCase *tc = tcase_create("both paths");

	tcase_add_checked_fixture(tc, setup, cleanup);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_batch_limits, 0, 2);
	tcase_add_loop_test(tc, test_pop_many_frame_budget, 0, 2);
	tcase_add_loop_test(tc, test_plain_ops, 0, 2);
	tcase_add_loop_test(tc, test_waiting_consumers_and_pause, 0, 2);
	tcase_add_loop_test(tc, test_blocking_behind_async, 0, 2);
	tcase_add_loop_test(tc, test_full_with_receipts_pending, 0, 2);
	tcase_add_loop_test(tc, test_corrupt_slot_goes_on_via_daemon, 0, 2);
	tcase_add_loop_test(tc, test_quarantined_queue, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite (a registry sweeps what failed tests left behind). */
int
main(void)
{
	return tu_run(parity_suite(), "client_parity");
}
