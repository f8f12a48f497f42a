/* check_core_delay.c - delayed messages in core/: committed into flight,
 * invisible to poppers, kept by return_all, queued at the tail when due;
 * a process killed at each of their crash sites leaves the committed
 * state (the op done, or nothing). */

#include <check.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "core/layout.h"
#include "tests/core_util.h"

#define CAP 4

static struct core_queue *q;
static char seg[128];
static const char *kill_site;

/* The child's crash hook: die on the spot at kill_site. */
static void
crash_hook(const char *site)
{
	if (kill_site != NULL && strcmp(site, kill_site) == 0)
		raise(SIGKILL);
}

static void
fresh(void)
{
	struct core_attr a = cu_attr(CAP, 16, 2);
	uint64_t id;

	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
	ck_assert_int_eq(core_push(q, "a", 1, 0, 0, &id), CQ_OK);
}

static void
done(void)
{
	core_detach(q);
	q = NULL;
	ck_assert_int_eq(core_unlink(seg), CQ_OK);
}

static struct core_stat
stat_of(void)
{
	struct core_stat st;

	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	return st;
}

/* The delayed message in flight (1), or none (0). */
static int
find_delayed(struct core_msg *m, uint64_t *due)
{
	uint64_t owner;
	uint32_t cursor = 0;

	while (core_inflight_next(q, &cursor, m, &owner, due))
		if (owner == CORE_OWNER_DELAYED)
			return 1;
	return 0;
}

/* Pop the next message and expect text (then confirm it). */
static void
pop_expect(const char *text)
{
	struct core_msg m;

	ck_assert_int_eq(core_pop(q, 5, 0, &m), CQ_OK);
	ck_assert_uint_eq(m.len, strlen(text));
	ck_assert_mem_eq(m.data, text, strlen(text));
	ck_assert_uint_eq(m.deliveries, 1);
	ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
}

/* core_peek_msgs callback: keep the first message's header. */
static int
peek_first(void *arg, const struct core_msg *m)
{
	*(struct core_msg *)arg = *m;
	return 1;
}

START_TEST(test_delayed_in_flight_until_delivered)
{
	struct core_msg m, p;
	struct core_stat st;
	uint64_t id, due;
	uint32_t slot;
	size_t n;
	int i;

	fresh();
	ck_assert_int_eq(
	    core_push_delayed(q, "d", 1, 1, 12345, &id, &slot), CQ_OK);
	st = stat_of();
	ck_assert_uint_eq(st.delayed, 1);
	ck_assert_uint_eq(st.in_flight, 0);
	ck_assert_uint_eq(st.length, 1);
	ck_assert_uint_eq(st.total_pushed, 2);
	ck_assert_uint_eq(st.total_popped, 0);
	ck_assert_int_eq(find_delayed(&m, &due), 1);
	ck_assert_uint_eq(m.id, id);
	ck_assert_uint_eq(m.slot, slot);
	ck_assert_uint_eq(due, 12345);
	/* return_all (a daemon start) and a recovery keep it delayed. */
	ck_assert_int_eq(core_return_all(q), CQ_OK);
	ck_assert_int_eq(core_check(q), CQ_OK);
	ck_assert_uint_eq(stat_of().delayed, 1);
	/* Invisible: band 1 is higher, yet "a" comes, then nothing. */
	pop_expect("a");
	ck_assert_int_eq(core_pop(q, 5, 0, &p), CQ_EMPTY);
	/* It holds a slot: 3 more fill the queue of 4. */
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(core_push(q, "f", 1, 0, 0, &id), CQ_OK);
	ck_assert_int_eq(core_push(q, "x", 1, 0, 0, &id), CQ_FULL);
	ck_assert_int_eq(
	    core_push_delayed(q, "x", 1, 0, 1, &id, &slot), CQ_FULL);
	/* Only a delayed entry is delivered; twice is NOTFOUND. */
	ck_assert_int_eq(core_pop(q, 5, 0, &p), CQ_OK);
	ck_assert_int_eq(core_deliver_delayed(q, p.slot, p.id), CQ_NOTFOUND);
	ck_assert_int_eq(core_confirm(q, p.slot, p.id), CQ_OK);
	due = time_real_ns();
	ck_assert_int_eq(core_deliver_delayed(q, m.slot, m.id), CQ_OK);
	ck_assert_int_eq(core_deliver_delayed(q, m.slot, m.id), CQ_NOTFOUND);
	st = stat_of();
	ck_assert_uint_eq(st.delayed, 0);
	ck_assert_uint_eq(st.length, 3);
	/* Its age (oldest_age, a time to live) counts from the delivery. */
	ck_assert_int_eq(core_peek_msgs(q, 1, peek_first, &p, &n), CQ_OK);
	ck_assert_uint_eq(p.id, m.id);
	ck_assert_uint_ge(p.enqueued_ns, due);
	pop_expect("d"); /* band 1 */
	pop_expect("f");
	pop_expect("f");
	ck_assert_uint_eq(stat_of().total_popped, 5);
	done();
}
END_TEST

START_TEST(test_delayed_bad_arguments)
{
	char big[32];
	uint64_t id;
	uint32_t slot;

	fresh();
	memset(big, 'b', sizeof big);
	ck_assert_int_eq(
	    core_push_delayed(q, "d", 1, 2, 1, &id, &slot), CQ_INVALID);
	ck_assert_int_eq(
	    core_push_delayed(q, big, sizeof big, 0, 1, &id, &slot), CQ_TOOBIG);
	ck_assert_int_eq(
	    core_push_delayed(q, "d", 1, 0, 1, NULL, &slot), CQ_INVALID);
	ck_assert_uint_eq(stat_of().total_pushed, 1);
	ck_assert_int_eq(core_close(q), CQ_OK);
	ck_assert_int_eq(
	    core_push_delayed(q, "d", 1, 0, 1, &id, &slot), CQ_CLOSED);
	done();
}
END_TEST

/* A serial queue: a delayed message holds no lease, pops go on. */
START_TEST(test_delayed_does_not_block_serial)
{
	struct core_attr a = cu_attr(CAP, 16, 1);
	struct core_msg m;
	uint64_t id;
	uint32_t slot;

	a.serial = 1;
	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
	ck_assert_int_eq(
	    core_push_delayed(q, "d", 1, 0, 1, &id, &slot), CQ_OK);
	ck_assert_int_eq(core_push(q, "a", 1, 0, 0, &id), CQ_OK);
	ck_assert_int_eq(core_pop(q, 5, 0, &m), CQ_OK);
	ck_assert_int_eq(core_push(q, "b", 1, 0, 0, &id), CQ_OK);
	ck_assert_int_eq(core_pop(q, 5, 0, &m), CQ_EMPTY); /* "a" leased */
	done();
}
END_TEST

/* Kill a child at site during a delayed push (deliver 0) or delivery. */
static void
kill_at(const char *site, int deliver)
{
	struct core_msg m;
	uint64_t id, due;
	uint32_t slot;
	int ws;
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		kill_site = site;
		core_crash_hook = crash_hook;
		if (deliver)
			_exit(find_delayed(&m, &due) &&
			      core_deliver_delayed(q, m.slot, m.id) == CQ_OK);
		_exit(core_push_delayed(q, "d", 1, 0, 99, &id, &slot));
	}
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL,
	    "the child was not killed at %s", site);
	ck_assert_int_eq(core_check(q), CQ_OK);
}

START_TEST(test_killed_at_each_delay_site)
{
	static const struct {
		const char *site;
		int deliver, committed;
	} cases[] = {{"delay.before_commit", 0, 0},
	    {"delay.after_commit", 0, 1}, {"deliver.before_commit", 1, 0},
	    {"deliver.after_commit", 1, 1}};
	struct core_stat st;
	struct core_msg m;
	uint64_t id, due;
	uint32_t slot;
	const char *text;
	size_t c;
	int delayed, seen;

	for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		fresh();
		if (cases[c].deliver)
			ck_assert_int_eq(
			    core_push_delayed(q, "d", 1, 0, 99, &id, &slot),
			    CQ_OK);
		kill_at(cases[c].site, cases[c].deliver);
		st = stat_of();
		/* Before: as it was; after: the push or delivery done. */
		delayed = cases[c].deliver ? !cases[c].committed
		                           : cases[c].committed;
		ck_assert_uint_eq(st.delayed, (uint64_t)delayed);
		ck_assert_uint_eq(st.in_flight, 0);
		ck_assert_uint_eq(st.total_pushed,
		    1 + (cases[c].deliver || cases[c].committed));
		ck_assert_uint_eq(st.length,
		    1 + (cases[c].deliver && cases[c].committed));
		ck_assert_int_eq(find_delayed(&m, &due), delayed);
		if (delayed)
			ck_assert_uint_eq(due, 99);
		/* The slots add up: the free ones fill the queue exactly. */
		while (core_push(q, "f", 1, 1, 0, &id) == CQ_OK)
			;
		st = stat_of();
		ck_assert_uint_eq(st.length + st.delayed, CAP);
		if (delayed)
			ck_assert_int_eq(
			    core_deliver_delayed(q, m.slot, m.id), CQ_OK);
		/* Band 1's fillers, then "a" and (if it was pushed) "d". */
		seen = 0;
		while (core_pop(q, 5, 0, &m) == CQ_OK) {
			text = (const char *)m.data;
			if (m.band == 0)
				ck_assert_int_eq(text[0], "ad"[seen++]);
			ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
		}
		ck_assert_int_eq(seen,
		    1 + (cases[c].deliver || cases[c].committed));
		st = stat_of();
		ck_assert_uint_eq(st.length + st.in_flight + st.delayed, 0);
		ck_assert_uint_eq(st.total_popped, st.total_pushed);
		done();
	}
}
END_TEST

static Suite *
core_delay_suite(void)
{
	Suite *s = suite_create("core_delay");
	TCase *tc = tcase_create("delay");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_delayed_in_flight_until_delivered);
	tcase_add_test(tc, test_delayed_bad_arguments);
	tcase_add_test(tc, test_delayed_does_not_block_serial);
	tcase_add_test(tc, test_killed_at_each_delay_site);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return cu_run(core_delay_suite, "check_core_delay");
}
