/* check_core_stress.c - many processes on one segment: nothing lost. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "core/queue.h"
#include "tests/core_util.h"

#define PRODUCERS 3
#define CONSUMERS 3
#define CAP       256
#define BANDS     2
#define BATCH     8

/* What a message carries. */
struct body {
	uint32_t producer;
	uint32_t pad;
	uint64_t seq;
};

/* Shared by every process of a run (anonymous shared mapping). */
struct shared {
	uint64_t errors;
	uint64_t gate; /* other consumers wait until the victim consumer died */
	char why[256];
	uint64_t per;         /* messages per producer */
	unsigned char seen[]; /* per message: times consumed */
};

static struct shared *sh;
static size_t sh_len;
static char seg[128];
static int kill_fd = -1;
static const char *kill_site;
static long kill_nth;

static void stress_fail(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Record the first error of the run and leave. */
static void
stress_fail(const char *fmt, ...)
{
	va_list ap;

	if (__atomic_fetch_add(&sh->errors, 1, __ATOMIC_SEQ_CST) == 0) {
		va_start(ap, fmt);
		vsnprintf(sh->why, sizeof sh->why, fmt, ap);
		va_end(ap);
	}
	_exit(1);
}

/* Kill hook of the victim: report where it died, then die. */
static void
stress_hook(const char *site)
{
	if (kill_site == NULL || strcmp(site, kill_site) != 0 || --kill_nth > 0)
		return;
	if (write(kill_fd, site, strlen(site) + 1) < 0)
		_exit(98);
	raise(SIGKILL);
}

/* Attach our own handle (retrying while others hold the lock). */
static struct core_queue *
stress_attach(int64_t lock_ms)
{
	struct core_queue *q;
	cq_status st;

	while ((st = core_attach(seg, &q)) == CQ_BUSY)
		sched_yield();
	if (st != CQ_OK)
		stress_fail("attach: %d", st);
	core_set_lock_timeout(q, lock_ms);
	return q;
}

/* Producer p: push its sequence, singly or in batches. */
static void
producer(uint32_t p, int batch)
{
	struct core_queue *q = stress_attach(p % 2 ? 0 : 20);
	struct body b[BATCH];
	struct iovec iov[BATCH];
	uint64_t seq = 0, id;
	size_t k, i;
	cq_status st;

	alarm(100);
	while (seq < sh->per) {
		k = batch ? BATCH : 1;
		if (k > sh->per - seq)
			k = (size_t)(sh->per - seq);
		for (i = 0; i < k; i++) {
			memset(&b[i], 0, sizeof b[i]);
			b[i].producer = p;
			b[i].seq = seq + i;
			iov[i].iov_base = &b[i];
			iov[i].iov_len = sizeof b[i];
		}
		st = core_push_many(q, iov, k, p % BANDS, 0, &id);
		if (st == CQ_OK)
			seq += k;
		else if (st == CQ_FULL || st == CQ_BUSY)
			sched_yield();
		else
			stress_fail("producer %u: push %d", p, st);
	}
	core_detach(q);
	_exit(0);
}

/* Consumer c: pop until closed and drained, checking every message. */
static void
consumer(int c)
{
	struct core_queue *q = stress_attach(c % 2 ? 0 : 20);
	struct core_msg m[16];
	int64_t last[PRODUCERS];
	uint64_t lastid[BANDS] = {0}, idx;
	struct body b;
	size_t n, i;
	cq_status st;

	alarm(100);
	for (i = 0; i < PRODUCERS; i++)
		last[i] = -1;
	while (c != 0 && __atomic_load_n(&sh->gate, __ATOMIC_ACQUIRE) != 0)
		sched_yield();
	for (;;) {
		st = core_pop_many(
		    q, (uint64_t)c + 1, 0, m, c == 0 ? 1 : 16, &n);
		if (st == CQ_CLOSED)
			break;
		if (st == CQ_EMPTY || st == CQ_BUSY) {
			sched_yield();
			continue;
		}
		if (st != CQ_OK)
			stress_fail("consumer %d: pop %d", c, st);
		for (i = 0; i < n; i++) {
			if (m[i].len != sizeof b)
				stress_fail(
				    "consumer %d: length %u", c, m[i].len);
			memcpy(&b, m[i].data, sizeof b);
			if (b.producer >= PRODUCERS || b.seq >= sh->per ||
			    b.producer % BANDS != m[i].band)
				stress_fail("consumer %d: bad body", c);
			idx = b.producer * sh->per + b.seq;
			if (__atomic_fetch_add(
			        &sh->seen[idx], 1, __ATOMIC_RELAXED) != 0)
				stress_fail(
				    "duplicate %u/%" PRIu64, b.producer, b.seq);
			if ((int64_t)b.seq <= last[b.producer])
				stress_fail("reordered %u: %" PRIu64
				            " after %" PRId64,
				    b.producer, b.seq, last[b.producer]);
			last[b.producer] = (int64_t)b.seq;
			if (m[i].id <= lastid[m[i].band])
				stress_fail(
				    "ids not increasing in band %u", m[i].band);
			lastid[m[i].band] = m[i].id;
			while ((st = core_confirm(q, m[i].slot, m[i].id)) ==
			       CQ_BUSY)
				sched_yield();
			if (st != CQ_OK)
				stress_fail("consumer %d: confirm %d", c, st);
		}
	}
	core_detach(q);
	_exit(0);
}

/* Messages of the run: CQ_STRESS_MESSAGES, else dflt. */
static uint64_t
stress_messages(uint64_t dflt)
{
	const char *e = getenv("CQ_STRESS_MESSAGES");

	if (e != NULL && strtoull(e, NULL, 10) > 0)
		return strtoull(e, NULL, 10);
	return dflt;
}

/* Pop what is left (after return_all) and count it as seen. */
static void
stress_drain_rest(struct core_queue *q)
{
	struct core_msg m;
	struct body b;
	cq_status st;

	core_set_lock_timeout(q, 1000);
	ck_assert_int_eq(core_return_all(q), CQ_OK);
	while ((st = core_pop(q, 99, 0, &m)) == CQ_OK) {
		ck_assert_uint_eq(m.len, sizeof b);
		memcpy(&b, m.data, sizeof b);
		ck_assert_uint_lt(b.producer, PRODUCERS);
		ck_assert_uint_lt(b.seq, sh->per);
		sh->seen[b.producer * sh->per + b.seq]++;
		ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
	}
	ck_assert_int_eq(st, CQ_CLOSED);
}

/*
 * Run producers and consumers. With victim_site set, process victim
 * (producer 0 or consumer 0, an index into pids) is killed at that site on
 * its nth visit and the others recover its lock as they go.
 */
static void
stress_run(uint64_t total, int victim, const char *victim_site, long victim_nth)
{
	struct core_attr a = cu_attr(CAP, sizeof(struct body), BANDS);
	struct core_queue *q;
	pid_t pids[PRODUCERS + CONSUMERS];
	uint64_t per = total / PRODUCERS, i, committed = per, dups = 0;
	char site[64] = "", bad[300];
	int p[2], n, ws, alive, producers = PRODUCERS;
	pid_t pid;
	cq_status st;
	ssize_t r;

	sh_len = sizeof *sh + PRODUCERS * per;
	sh = mmap(NULL, sh_len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert(sh != MAP_FAILED);
	sh->per = per;
	/* A victim consumer eats alone until it dies: it gets its nth. */
	sh->gate = victim >= PRODUCERS && victim_site != NULL;
	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
	/* Non-blocking: a victim that died without its hook fails, not hangs.
	 */
	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);

	for (n = PRODUCERS + CONSUMERS; n-- > 0;) {
		pids[n] = fork();
		ck_assert_int_ge(pids[n], 0);
		if (pids[n] != 0)
			continue;
		if (n == victim && victim_site != NULL) {
			kill_site = victim_site;
			kill_nth = victim_nth;
			kill_fd = p[1];
			core_crash_hook = stress_hook;
		}
		if (n < PRODUCERS)
			producer((uint32_t)n, n == 1);
		consumer(n - PRODUCERS);
	}
	/* Reap in any order; on the first failure stop everyone at once. */
	for (alive = PRODUCERS + CONSUMERS; alive > 0; alive--) {
		pid = waitpid(-1, &ws, 0);
		ck_assert_int_gt(pid, 0);
		for (n = 0; pids[n] != pid; n++)
			;
		pids[n] = 0;
		bad[0] = '\0';
		if (n == victim && victim_site != NULL) {
			/* Its hook wrote the site, then raised SIGKILL. */
			r = WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL
			        ? read(p[0], site, sizeof site - 1)
			        : 0;
			__atomic_store_n(&sh->gate, 0, __ATOMIC_RELEASE);
			if (!WIFSIGNALED(ws) || WTERMSIG(ws) != SIGKILL ||
			    r <= 0)
				snprintf(bad, sizeof bad,
				    "victim not killed by its hook: status %d "
				    "(%s)",
				    ws, sh->why);
			else {
				site[r] = '\0';
				if (victim < PRODUCERS)
					committed =
					    (uint64_t)victim_nth -
					    (strcmp(site,
					         "push.before_commit") == 0);
				/* Consumed, then died before confirming. */
				dups =
				    strcmp(site, "confirm.before_commit") == 0;
			}
		} else if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
			snprintf(bad, sizeof bad, "%s %d: status %d (%s)",
			    n < PRODUCERS ? "producer" : "consumer", n, ws,
			    sh->why);
		if (bad[0] != '\0') {
			for (n = 0; n < PRODUCERS + CONSUMERS; n++)
				if (pids[n] > 0) {
					kill(pids[n], SIGKILL);
					waitpid(pids[n], &ws, 0);
				}
			ck_abort_msg("%s", bad);
		}
		if (n < PRODUCERS && --producers == 0) {
			/* Every producer is done: let consumers drain. */
			core_set_lock_timeout(q, 1000);
			while ((st = core_close(q)) == CQ_BUSY)
				sched_yield();
			ck_assert_int_eq(st, CQ_OK);
		}
	}
	ck_assert_uint_eq(sh->errors, 0);
	/* A dead consumer's message is still in flight: give it back. */
	stress_drain_rest(q);
	/*
	 * Exactly once each; of a killed producer its committed prefix and no
	 * more; a consumer killed before confirming sees its message again.
	 */
	for (i = 0; i < PRODUCERS * per; i++) {
		uint64_t want = (i / per == 0 && i % per >= committed) ? 0 : 1;

		if (sh->seen[i] == 2 && dups > 0) {
			dups--;
			continue;
		}
		ck_assert_msg(sh->seen[i] == want,
		    "message %" PRIu64 "/%" PRIu64
		    " seen %u times, want %" PRIu64,
		    i / per, i % per, sh->seen[i], want);
	}
	ck_assert_uint_eq(dups, 0);
	ck_assert_int_eq(core_check(q), CQ_OK);
	ck_assert_uint_eq(core_length(q), 0);
	ck_assert_uint_eq(core_free_slots(q), CAP);
	close(p[0]);
	close(p[1]);
	core_detach(q);
	ck_assert_int_eq(core_unlink(seg), CQ_OK);
	munmap(sh, sh_len);
}

START_TEST(test_many_processes_lose_duplicate_reorder_nothing)
{
	stress_run(stress_messages((uint64_t)cu_scaled(200000)), -1, NULL, 0);
}
END_TEST

START_TEST(test_producer_killed_mid_push_others_carry_on)
{
	static const char *const sites[] = {
	    "push.before_commit", "push.after_commit"};

	stress_run((uint64_t)cu_scaled(30000), 0, sites[_i % 2],
	    cu_scaled(1000 + 2777 * _i));
}
END_TEST

START_TEST(test_consumer_killed_mid_pop_loses_nothing)
{
	static const char *const sites[] = {"pop.before_commit",
	    "pop.after_commit", "confirm.before_commit",
	    "confirm.after_commit"};

	stress_run((uint64_t)cu_scaled(30000), PRODUCERS, sites[_i % 4],
	    cu_scaled(50 + 97 * _i));
}
END_TEST

/* The suite. */
static Suite *
stress_suite(void)
{
	Suite *s = suite_create("core_stress");
	TCase *tc = tcase_create("stress");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_many_processes_lose_duplicate_reorder_nothing);
	tcase_add_loop_test(
	    tc, test_producer_killed_mid_push_others_carry_on, 0, 4);
	tcase_add_loop_test(
	    tc, test_consumer_killed_mid_pop_loses_nothing, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then remove any segment a failed test left behind. */
int
main(void)
{
	return cu_run(stress_suite, "check_core_stress");
}
