/* check_direct_core.c - the direct path on a segment shared by processes. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "core/direct.h"
#include "core/layout.h"
#include "core/lock.h"
#include "tests/core_util.h"

#define MAXSZ   64
#define LOCK_MS 2000

static char seg[128];
static struct core_queue *q;

/* Create q with these sizes; no sleep slice: a lost wake-up hangs. */
static void
mkqueue(uint32_t capacity, uint32_t bands)
{
	struct core_attr a = cu_attr(capacity, MAXSZ, bands);

	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
	core_set_lock_timeout(q, LOCK_MS);
	direct_slice_ms = 0;
}

/* Default fixture: capacity 4, one band. */
static void
setup(void)
{
	mkqueue(4, 1);
}

/* Drop q and its segment. */
static void
teardown(void)
{
	core_detach(q);
	q = NULL;
	core_unlink(seg);
}

/* Map our segment again the way a client does: through an fd. */
static struct core_queue *
attach_fd(void)
{
	struct core_queue *c;
	int fd = shm_open(seg, O_RDWR, 0);

	if (fd < 0 || core_attach_fd(fd, (uint32_t)geteuid(), &c) != CQ_OK)
		_exit(90);
	core_set_lock_timeout(c, LOCK_MS);
	return c;
}

/* Push a string. */
static cq_status
push_str(struct core_queue *c, const char *s, unsigned band, int64_t to)
{
	return direct_push(c, s, strlen(s), band, 0, to, NULL, NULL);
}

/* Pop into buf (NUL-terminated), returning the status. */
static cq_status
pop_str(struct core_queue *c, char *buf, int64_t to)
{
	struct direct_msg m;
	cq_status st = direct_pop(c, buf, MAXSZ, &m, to, NULL);

	buf[st == CQ_OK ? m.len : 0] = '\0';
	return st;
}

/* Pop and check the text. */
static void
pop_expect(const char *want)
{
	char buf[MAXSZ + 1];

	ck_assert_int_eq(pop_str(q, buf, 0), CQ_OK);
	ck_assert_str_eq(buf, want);
}

/* The sleepers a waiter count holds (without its generation). */
static uint32_t
waiters(uint32_t *count)
{
	return __atomic_load_n(count, __ATOMIC_ACQUIRE) & DIRECT_COUNT_MASK;
}

/* Wait (on state, polling) until the count of direct waiters is n. */
static void
wait_waiters(uint32_t *count, uint32_t n)
{
	while (waiters(count) != n)
		usleep(1000);
}

/* Reap pid and return its exit code (-signal if killed). */
static int
reap(pid_t pid)
{
	int ws;

	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : -WTERMSIG(ws);
}

/* A child that pops once (blocking) and exits 0 if it got want. */
static pid_t
spawn_popper(const char *want, cq_status expect)
{
	pid_t pid = fork();
	char buf[MAXSZ + 1];
	struct core_queue *c;
	cq_status st;

	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		return pid;
	c = attach_fd();
	st = pop_str(c, buf, -1);
	if (st != expect)
		_exit(10 + (int)st);
	if (want != NULL && strcmp(buf, want) != 0)
		_exit(2);
	_exit(0);
}

/* A child that pushes text (blocking) and exits 0 on the expected status. */
static pid_t
spawn_pusher(const char *text, cq_status expect)
{
	pid_t pid = fork();
	struct core_queue *c;

	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		return pid;
	c = attach_fd();
	_exit(push_str(c, text, 0, -1) == expect ? 0 : 3);
}

START_TEST(test_fifo_within_band_and_highest_band_first)
{
	teardown();
	mkqueue(8, 3);
	ck_assert_int_eq(push_str(q, "a0", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str(q, "c0", 2, 0), CQ_OK);
	ck_assert_int_eq(push_str(q, "a1", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str(q, "c1", 2, 0), CQ_OK);
	ck_assert_int_eq(
	    direct_push(q, "cf", 2, 2, 1, 0, NULL, NULL), CQ_OK); /* front */
	ck_assert_int_eq(push_str(q, "b0", 1, 0), CQ_OK);
	ck_assert_int_eq(push_str(q, "x", 3, 0), CQ_INVALID);
	pop_expect("cf");
	pop_expect("c0");
	pop_expect("c1");
	pop_expect("b0");
	pop_expect("a0");
	pop_expect("a1");
}
END_TEST

START_TEST(test_ids_deliveries_and_pop_many_of_one_band)
{
	struct direct_msg m[4];
	char buf[4 * MAXSZ];
	uint64_t id;
	size_t n;

	ck_assert_int_eq(direct_push(q, "one", 3, 0, 0, 0, &id, NULL), CQ_OK);
	ck_assert_uint_eq(id, 1);
	ck_assert_int_eq(push_str(q, "two", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str(q, "three", 0, 0), CQ_OK);
	ck_assert_int_eq(
	    direct_pop_many(q, buf, sizeof buf, m, 4, &n, 0, NULL), CQ_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(m[0].id, 1);
	ck_assert_uint_eq(m[2].id, 3);
	ck_assert_uint_eq(m[1].deliveries, 1);
	ck_assert_int_eq(memcmp(buf + m[1].off, "two", 3), 0);
	ck_assert_int_eq(memcmp(buf + m[2].off, "three", 5), 0);
	/* Every slot came back: four pushes fit again. */
	ck_assert_uint_eq(core_free_slots(q), 4);
}
END_TEST

START_TEST(test_small_buffer_is_toobig_and_takes_nothing)
{
	struct direct_msg m;
	char buf[4];

	ck_assert_int_eq(push_str(q, "longer", 0, 0), CQ_OK);
	ck_assert_int_eq(
	    direct_pop(q, buf, sizeof buf, &m, 0, NULL), CQ_TOOBIG);
	ck_assert_uint_eq(m.len, 6);
	ck_assert_int_eq(direct_length(q), 1);
	pop_expect("longer");
}
END_TEST

START_TEST(test_push_many_is_all_or_nothing)
{
	static char xyz[] = "xyz";
	struct iovec iov[3] = {{xyz, 1}, {xyz + 1, 1}, {xyz + 2, 1}};
	uint64_t first;

	ck_assert_int_eq(push_str(q, "a", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str(q, "b", 0, 0), CQ_OK);
	ck_assert_int_eq(
	    direct_push_many(q, iov, 3, 0, 0, 0, &first, NULL), CQ_FULL);
	ck_assert_int_eq(
	    direct_push_many(q, iov, 3, 0, 0, 20, &first, NULL), CQ_TIMEDOUT);
	ck_assert_int_eq(direct_length(q), 2);
	pop_expect("a");
	ck_assert_int_eq(
	    direct_push_many(q, iov, 3, 0, 0, 0, &first, NULL), CQ_OK);
	ck_assert_uint_eq(first, 3);
	pop_expect("b");
	pop_expect("x");
	pop_expect("y");
	pop_expect("z");
	ck_assert_int_eq(
	    direct_push_many(q, iov, 0, 0, 0, 0, NULL, NULL), CQ_INVALID);
}
END_TEST

START_TEST(test_try_and_timed_on_empty_and_full)
{
	char buf[MAXSZ + 1];
	int i;

	ck_assert_int_eq(pop_str(q, buf, 0), CQ_EMPTY);
	ck_assert_int_eq(pop_str(q, buf, 20), CQ_TIMEDOUT);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(push_str(q, "m", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str(q, "m", 0, 0), CQ_FULL);
	ck_assert_int_eq(push_str(q, "m", 0, 20), CQ_TIMEDOUT);
	ck_assert_int_eq(direct_length(q), 4);
	/* Nobody waits any more. */
	ck_assert_uint_eq(waiters(&q->hdr->pop_waiters), 0);
	ck_assert_uint_eq(waiters(&q->hdr->push_waiters), 0);
}
END_TEST

START_TEST(test_close_drains_then_closed)
{
	char buf[MAXSZ + 1];
	int ring = 1;

	ck_assert_int_eq(push_str(q, "left", 0, 0), CQ_OK);
	ck_assert_int_eq(direct_close(q, &ring), CQ_OK);
	ck_assert_int_eq(ring, 0);
	ck_assert_int_eq(direct_close(q, NULL), CQ_OK);
	ck_assert_int_eq(core_is_closed(q), 1);
	ck_assert_int_eq(push_str(q, "no", 0, -1), CQ_CLOSED);
	ck_assert_int_eq(pop_str(q, buf, -1), CQ_OK);
	ck_assert_str_eq(buf, "left");
	ck_assert_int_eq(pop_str(q, buf, -1), CQ_CLOSED);
}
END_TEST

START_TEST(test_blocked_popper_wakes_and_length_counts_it)
{
	pid_t pid = spawn_popper("hello", CQ_OK);

	wait_waiters(&q->hdr->pop_waiters, 1);
	/* GAsyncQueue: a waiting consumer makes the length negative. */
	ck_assert_int_eq(direct_length(q), -1);
	ck_assert_int_eq(push_str(q, "hello", 0, 0), CQ_OK);
	ck_assert_int_eq(reap(pid), 0);
	ck_assert_int_eq(direct_length(q), 0);
	ck_assert_uint_eq(waiters(&q->hdr->pop_waiters), 0);
}
END_TEST

START_TEST(test_blocked_pusher_wakes_on_pop)
{
	struct direct_stat st;
	pid_t pid;
	int i;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(push_str(q, "old", 0, 0), CQ_OK);
	pid = spawn_pusher("new", CQ_OK);
	wait_waiters(&q->hdr->push_waiters, 1);
	ck_assert_int_eq(direct_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.waiting_pushers, 1);
	ck_assert_int_eq(st.length, 4);
	pop_expect("old");
	ck_assert_int_eq(reap(pid), 0);
	for (i = 0; i < 3; i++)
		pop_expect("old");
	pop_expect("new");
}
END_TEST

START_TEST(test_blocked_push_many_wakes_when_enough_room)
{
	static char pq[] = "pq";
	struct iovec iov[2] = {{pq, 1}, {pq + 1, 1}};
	pid_t pid;
	int i;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(push_str(q, "old", 0, 0), CQ_OK);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(direct_push_many(
		          attach_fd(), iov, 2, 0, 0, -1, NULL, NULL) == CQ_OK
		          ? 0
		          : 4);
	wait_waiters(&q->hdr->many_waiters, 1);
	pop_expect("old"); /* one slot: not enough, it sleeps again */
	pop_expect("old"); /* two */
	ck_assert_int_eq(reap(pid), 0);
	pop_expect("old");
	pop_expect("old");
	pop_expect("p");
	pop_expect("q");
	ck_assert_uint_eq(waiters(&q->hdr->many_waiters), 0);
	ck_assert_uint_eq(waiters(&q->hdr->push_waiters), 0);
}
END_TEST

/*
 * A waker takes the sleepers it woke off the count, a sleeper that was not
 * woken takes itself off, and nobody does both: with two poppers asleep,
 * one push leaves exactly the other one counted.
 */
START_TEST(test_woken_sleeper_is_counted_off_once)
{
	pid_t a = spawn_popper(NULL, CQ_OK), b = spawn_popper(NULL, CQ_OK),
	      done;
	int ws;

	wait_waiters(&q->hdr->pop_waiters, 2);
	ck_assert_int_eq(push_str(q, "one", 0, 0), CQ_OK);
	done = wait(&ws);
	ck_assert(done == a || done == b);
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	/* The other still sleeps, counted once (not 0, not 2). */
	wait_waiters(&q->hdr->pop_waiters, 1);
	ck_assert_int_eq(direct_length(q), -1);
	ck_assert_int_eq(push_str(q, "two", 0, 0), CQ_OK);
	ck_assert_int_eq(reap(done == a ? b : a), 0);
	ck_assert_uint_eq(waiters(&q->hdr->pop_waiters), 0);
	ck_assert_int_eq(direct_length(q), 0);
}
END_TEST

/*
 * The lock names its owner by thread id, cached per thread: the child of
 * a fork (whose thread has a new id) must not take the parent's. A child
 * holding the lock is a live owner to the parent, which waits and gets
 * CQ_BUSY rather than taking the lock from itself.
 */
START_TEST(test_forked_child_holds_the_lock_under_its_own_id)
{
	int go[2], held[2];
	char c = 0;
	pid_t pid;

	/* Our thread id is cached by now. */
	ck_assert_int_eq(push_str(q, "x", 0, 0), CQ_OK);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(held), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (lock_take(q, LOCK_MS) != CQ_OK)
			_exit(11);
		if (write(held[1], "h", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(12);
		lock_release(q);
		_exit(0);
	}
	ck_assert_int_eq(read(held[0], &c, 1), 1);
	ck_assert_int_eq(lock_take(q, 0), CQ_BUSY);
	ck_assert_int_eq(lock_take(q, 20), CQ_BUSY);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	ck_assert_int_eq(reap(pid), 0);
	ck_assert_int_eq(lock_take(q, LOCK_MS), CQ_OK);
	lock_release(q);
	pop_expect("x");
	close(go[0]);
	close(go[1]);
	close(held[0]);
	close(held[1]);
}
END_TEST

START_TEST(test_close_wakes_every_blocked_popper)
{
	pid_t pid[3];
	int i;

	for (i = 0; i < 3; i++)
		pid[i] = spawn_popper(NULL, CQ_CLOSED);
	wait_waiters(&q->hdr->pop_waiters, 3);
	ck_assert_int_eq(direct_close(q, NULL), CQ_OK);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(reap(pid[i]), 0);
}
END_TEST

START_TEST(test_close_wakes_every_blocked_pusher)
{
	pid_t pid[3];
	int i;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(push_str(q, "full", 0, 0), CQ_OK);
	for (i = 0; i < 3; i++)
		pid[i] = spawn_pusher("late", CQ_CLOSED);
	wait_waiters(&q->hdr->push_waiters, 3);
	ck_assert_int_eq(direct_close(q, NULL), CQ_OK);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(reap(pid[i]), 0);
	/* Poppers still drain what was there. */
	for (i = 0; i < 4; i++)
		pop_expect("full");
}
END_TEST

START_TEST(test_pause_blocks_pops_and_resume_wakes_them)
{
	char buf[MAXSZ + 1];
	pid_t pid;

	ck_assert_int_eq(direct_set_paused(q, 1, NULL), CQ_OK);
	ck_assert_int_eq(push_str(q, "held", 0, 0), CQ_OK);
	ck_assert_int_eq(pop_str(q, buf, 0), CQ_EMPTY);
	ck_assert_int_eq(pop_str(q, buf, 20), CQ_TIMEDOUT);
	pid = spawn_popper("held", CQ_OK);
	wait_waiters(&q->hdr->pop_waiters, 1);
	ck_assert_int_eq(direct_length(q), 0);
	ck_assert_int_eq(direct_set_paused(q, 0, NULL), CQ_OK);
	ck_assert_int_eq(reap(pid), 0);
}
END_TEST

START_TEST(test_daemon_commit_wakes_direct_waiter)
{
	pid_t pid = spawn_popper("sock", CQ_OK);
	uint64_t id;

	wait_waiters(&q->hdr->pop_waiters, 1);
	/* What the daemon does for a socket push: commit, then wake. */
	ck_assert_int_eq(core_push(q, "sock", 4, 0, 0, &id), CQ_OK);
	direct_wake(q, DIRECT_PUSHED, 1);
	ck_assert_int_eq(reap(pid), 0);
}
END_TEST

START_TEST(test_doorbell_only_when_the_daemon_parked_someone)
{
	struct direct_msg m;
	char buf[MAXSZ];
	int ring = 1;

	ck_assert_int_eq(direct_push(q, "a", 1, 0, 0, 0, NULL, &ring), CQ_OK);
	ck_assert_int_eq(ring, 0);
	direct_set_parked(q, 1, 0);
	ck_assert_int_eq(direct_length(q), 0); /* 1 queued, 1 parked popper */
	ck_assert_int_eq(direct_push(q, "b", 1, 0, 0, 0, NULL, &ring), CQ_OK);
	ck_assert_int_eq(ring, 1);
	ck_assert_int_eq(direct_pop(q, buf, sizeof buf, &m, 0, &ring), CQ_OK);
	ck_assert_int_eq(ring, 0);
	direct_set_parked(q, 0, 1);
	ck_assert_int_eq(direct_pop(q, buf, sizeof buf, &m, 0, &ring), CQ_OK);
	ck_assert_int_eq(ring, 1);
	ck_assert_int_eq(direct_close(q, &ring), CQ_OK);
	ck_assert_int_eq(ring, 1);
}
END_TEST

START_TEST(test_fork_producer_consumer_both_ways)
{
	long n = cu_scaled(20000), i;
	pid_t prod, cons;
	char text[32];

	prod = fork();
	ck_assert_int_ge(prod, 0);
	if (prod == 0) {
		struct core_queue *c = attach_fd();

		for (i = 0; i < n; i++) {
			snprintf(text, sizeof text, "%ld", i);
			if (push_str(c, text, 0, -1) != CQ_OK)
				_exit(5);
		}
		_exit(direct_close(c, NULL) == CQ_OK ? 0 : 6);
	}
	cons = fork();
	ck_assert_int_ge(cons, 0);
	if (cons == 0) {
		struct core_queue *c = attach_fd();
		char buf[MAXSZ + 1];

		for (i = 0; i < n; i++) {
			snprintf(text, sizeof text, "%ld", i);
			if (pop_str(c, buf, -1) != CQ_OK)
				_exit(7);
			if (strcmp(buf, text) != 0)
				_exit(8); /* FIFO across processes */
		}
		_exit(pop_str(c, buf, -1) == CQ_CLOSED ? 0 : 9);
	}
	ck_assert_int_eq(reap(prod), 0);
	ck_assert_int_eq(reap(cons), 0);
	ck_assert_uint_eq(waiters(&q->hdr->pop_waiters), 0);
	ck_assert_uint_eq(waiters(&q->hdr->push_waiters), 0);
}
END_TEST

START_TEST(test_killed_waiter_leaves_a_stale_count_recovery_resets)
{
	pid_t pid = spawn_popper(NULL, CQ_OK);
	char buf[MAXSZ + 1];

	wait_waiters(&q->hdr->pop_waiters, 1);
	kill(pid, SIGKILL);
	ck_assert_int_eq(reap(pid), -SIGKILL);
	/* Only the count stays; it costs a spare wake, nothing else. */
	ck_assert_uint_eq(waiters(&q->hdr->pop_waiters), 1);
	ck_assert_int_eq(direct_length(q), -1);
	ck_assert_int_eq(push_str(q, "still", 0, 0), CQ_OK);
	ck_assert_int_eq(pop_str(q, buf, 0), CQ_OK);
	ck_assert_str_eq(buf, "still");
	ck_assert_int_eq(core_check(q), CQ_OK);
	ck_assert_uint_eq(waiters(&q->hdr->pop_waiters), 0);
	ck_assert_int_eq(direct_length(q), 0);
}
END_TEST

START_TEST(test_live_waiter_survives_recovery)
{
	pid_t pid = spawn_popper("after", CQ_OK);

	wait_waiters(&q->hdr->pop_waiters, 1);
	/* Recovery forgets the count and wakes it: it registers again. */
	ck_assert_int_eq(core_check(q), CQ_OK);
	wait_waiters(&q->hdr->pop_waiters, 1);
	ck_assert_int_eq(push_str(q, "after", 0, 0), CQ_OK);
	ck_assert_int_eq(reap(pid), 0);
	ck_assert_uint_eq(waiters(&q->hdr->pop_waiters), 0);
}
END_TEST

START_TEST(test_lock_holder_killed_is_recovered_by_next_locker)
{
	pid_t pid;

	ck_assert_int_eq(push_str(q, "kept", 0, 0), CQ_OK);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct core_queue *c = attach_fd();

		if (lock_take(c, LOCK_MS) != CQ_OK)
			_exit(11);
		raise(SIGKILL);
	}
	ck_assert_int_eq(reap(pid), -SIGKILL);
	ck_assert_int_eq(push_str(q, "next", 0, 0), CQ_OK);
	pop_expect("kept");
	pop_expect("next");
	ck_assert_uint_eq(core_free_slots(q), 4);
}
END_TEST

static const char *kill_at;

/* Crash hook: die at kill_at. */
static void
kill_hook(const char *site)
{
	if (strcmp(site, kill_at) == 0)
		raise(SIGKILL);
}

/* A child popping directly dies at site; the message is there iff kept. */
static void
pop_killed_at(const char *site, int kept)
{
	char buf[MAXSZ + 1];
	pid_t pid;

	ck_assert_int_eq(push_str(q, "first", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str(q, "second", 0, 0), CQ_OK);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct core_queue *c = attach_fd();

		kill_at = site;
		core_crash_hook = kill_hook;
		pop_str(c, buf, 0);
		_exit(12);
	}
	ck_assert_int_eq(reap(pid), -SIGKILL);
	if (kept)
		pop_expect("first");
	pop_expect("second");
	ck_assert_int_eq(pop_str(q, buf, 0), CQ_EMPTY);
	ck_assert_uint_eq(core_free_slots(q), 4);
}

START_TEST(test_popper_killed_before_commit_leaves_the_message)
{
	pop_killed_at("direct.pop.before_commit", 1);
}
END_TEST

START_TEST(test_popper_killed_after_commit_received_it)
{
	pop_killed_at("direct.pop.after_commit", 0);
}
END_TEST

START_TEST(test_bad_ring_index_is_corrupt_not_a_crash)
{
	char buf[MAXSZ + 1];
	uint64_t h;

	ck_assert_int_eq(push_str(q, "a", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str(q, "b", 0, 0), CQ_OK);
	h = q->hdr->head[0];
	q->ring[h % q->capacity] = 0xdeadbeef; /* a mapper scribbled */
	ck_assert_int_eq(pop_str(q, buf, 0), CQ_CORRUPT);
	/* Repaired: the bad entry is dropped, the good one kept. */
	pop_expect("b");
	ck_assert_int_eq(pop_str(q, buf, 0), CQ_EMPTY);
	ck_assert_int_eq(push_str(q, "c", 0, 0), CQ_OK);
	pop_expect("c");
}
END_TEST

START_TEST(test_bad_payload_is_corrupt_and_never_delivered)
{
	struct queue_slot *sl;
	char buf[MAXSZ + 1];

	ck_assert_int_eq(push_str(q, "good", 0, 0), CQ_OK);
	sl = queue_slot_at(q, q->ring[q->hdr->head[0] % q->capacity]);
	sl->data[0] = 'X';
	ck_assert_int_eq(pop_str(q, buf, 0), CQ_CORRUPT);
	ck_assert_int_eq(pop_str(q, buf, 0), CQ_EMPTY);
	sl->len = 0xffffff; /* a free slot scribbled: not live, ignored */
	ck_assert_int_eq(push_str(q, "new", 0, 0), CQ_OK);
	pop_expect("new");
}
END_TEST

START_TEST(test_bad_counters_are_corrupt_not_a_crash)
{
	char buf[MAXSZ + 1];

	ck_assert_int_eq(push_str(q, "a", 0, 0), CQ_OK);
	q->hdr->tail[0] += 1000; /* tail - head beyond the capacity */
	ck_assert_int_eq(pop_str(q, buf, 0), CQ_CORRUPT);
	/* The header cannot be repaired: quarantined for every handle. */
	ck_assert_int_eq(push_str(q, "b", 0, 0), CQ_CORRUPT);
	ck_assert_int_eq(core_push(q, "b", 1, 0, 0, NULL), CQ_CORRUPT);
}
END_TEST

START_TEST(test_scribbled_free_stack_is_rebuilt)
{
	ck_assert_int_eq(push_str(q, "a", 0, 0), CQ_OK);
	q->hdr->free_top = 1u << 30;
	/* A derived word: the push rebuilds it and goes in. */
	ck_assert_int_eq(push_str(q, "b", 0, 0), CQ_OK);
	pop_expect("a");
	pop_expect("b");
	ck_assert_uint_eq(core_free_slots(q), 4);
}
END_TEST

START_TEST(test_older_layout_segment_is_refused)
{
	struct core_queue *old;
	int fd;

	ck_assert_int_eq(push_str(q, "v1", 0, 0), CQ_OK);
	/* A segment of the fixed-slot layouts is never attached. */
	q->hdr->imm.layout = 2;
	q->hdr->hcrc = crc32c(0, &q->hdr->imm, sizeof q->hdr->imm);
	ck_assert_int_eq(core_attach(seg, &old), CQ_CORRUPT);
	fd = shm_open(seg, O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(
	    core_attach_fd(fd, (uint32_t)geteuid(), &old), CQ_CORRUPT);
	close(fd);
}
END_TEST

/* The suite. */
static Suite *
direct_suite(void)
{
	Suite *s = suite_create("direct_core");
	TCase *tc = tcase_create("ops");
	TCase *tp = tcase_create("processes");
	TCase *tx = tcase_create("crashes");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fifo_within_band_and_highest_band_first);
	tcase_add_test(tc, test_ids_deliveries_and_pop_many_of_one_band);
	tcase_add_test(tc, test_small_buffer_is_toobig_and_takes_nothing);
	tcase_add_test(tc, test_push_many_is_all_or_nothing);
	tcase_add_test(tc, test_try_and_timed_on_empty_and_full);
	tcase_add_test(tc, test_close_drains_then_closed);
	tcase_add_test(tc, test_doorbell_only_when_the_daemon_parked_someone);
	tcase_add_test(tc, test_older_layout_segment_is_refused);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_set_timeout(tp, 60);
	tcase_add_test(tp, test_blocked_popper_wakes_and_length_counts_it);
	tcase_add_test(tp, test_blocked_pusher_wakes_on_pop);
	tcase_add_test(tp, test_blocked_push_many_wakes_when_enough_room);
	tcase_add_test(tp, test_woken_sleeper_is_counted_off_once);
	tcase_add_test(tp, test_forked_child_holds_the_lock_under_its_own_id);
	tcase_add_test(tp, test_close_wakes_every_blocked_popper);
	tcase_add_test(tp, test_close_wakes_every_blocked_pusher);
	tcase_add_test(tp, test_pause_blocks_pops_and_resume_wakes_them);
	tcase_add_test(tp, test_daemon_commit_wakes_direct_waiter);
	tcase_add_test(tp, test_fork_producer_consumer_both_ways);
	suite_add_tcase(s, tp);

	tcase_add_checked_fixture(tx, setup, teardown);
	tcase_set_timeout(tx, 60);
	tcase_add_test(
	    tx, test_killed_waiter_leaves_a_stale_count_recovery_resets);
	tcase_add_test(tx, test_live_waiter_survives_recovery);
	tcase_add_test(tx, test_lock_holder_killed_is_recovered_by_next_locker);
	tcase_add_test(tx, test_popper_killed_before_commit_leaves_the_message);
	tcase_add_test(tx, test_popper_killed_after_commit_received_it);
	tcase_add_test(tx, test_bad_ring_index_is_corrupt_not_a_crash);
	tcase_add_test(tx, test_bad_payload_is_corrupt_and_never_delivered);
	tcase_add_test(tx, test_bad_counters_are_corrupt_not_a_crash);
	tcase_add_test(tx, test_scribbled_free_stack_is_rebuilt);
	suite_add_tcase(s, tx);
	return s;
}

/* Run the suite, then remove any segment a failed test left behind. */
int
main(void)
{
	return cu_run(direct_suite, "check_direct_core");
}
