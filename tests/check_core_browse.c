/* check_core_browse.c - peek, purge and remove by id in core/browse.c. */

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/layout.h"
#include "core/queue.h"
#include "tests/core_util.h"

#define CAP   8
#define BANDS 3

static char seg[128];
static struct core_queue *q;

/* A fresh queue owned by us. */
static void
setup(void)
{
	struct core_attr a = cu_attr(CAP, 16, BANDS);

	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
}

/* Drop q and its segment. */
static void
teardown(void)
{
	if (q != NULL)
		core_detach(q);
	q = NULL;
	core_unlink(seg);
}

/* Push text to band; its id. */
static uint64_t
push(const char *text, unsigned band)
{
	uint64_t id = 0;

	ck_assert_int_eq(core_push(q, text, strlen(text), band, 0, &id), CQ_OK);
	return id;
}

/* What peek saw: texts joined by spaces. */
struct seen {
	char text[256];
	int n;
	int stop_at; /* stop after this many (0: never) */
	uint32_t deliveries;
};

/* core_browse_fn: append m's text. */
static int
seen_add(void *arg, const struct core_msg *m)
{
	struct seen *s = arg;
	size_t l = strlen(s->text);

	snprintf(s->text + l, sizeof s->text - l, "%s%.*s", l ? " " : "",
	    (int)m->len, (const char *)m->data);
	s->deliveries += m->deliveries;
	return ++s->n == s->stop_at;
}

/* Everything queued, in pop order, as peek shows it. */
static const char *
peek_all(struct seen *s)
{
	size_t n;
	cq_status st;

	memset(s, 0, sizeof *s);
	st = core_peek_msgs(q, 100, seen_add, s, &n);
	ck_assert(st == CQ_OK || st == CQ_EMPTY);
	ck_assert_uint_eq(n, (size_t)s->n);
	return s->text;
}

/* Pop everything (confirming it) as texts joined by spaces. */
static const char *
drain(char *buf, size_t len)
{
	struct core_msg m;
	size_t l;

	buf[0] = '\0';
	while (core_pop(q, 1, 0, &m) == CQ_OK) {
		l = strlen(buf);
		snprintf(buf + l, len - l, "%s%.*s", l ? " " : "", (int)m.len,
		    (const char *)m.data);
		ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
	}
	return buf;
}

START_TEST(test_peek_shows_pop_order_without_removing)
{
	struct core_stat st;
	struct seen s;
	size_t n;

	push("a", 0);
	push("b", 2);
	push("c", 0);
	push("d", 1);
	ck_assert_str_eq(peek_all(&s), "b d a c");
	ck_assert_uint_eq(s.deliveries, 0);
	/* Twice: nothing moved, nothing counted as delivered. */
	ck_assert_str_eq(peek_all(&s), "b d a c");
	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.length, 4);
	ck_assert_uint_eq(st.total_popped, 0);
	/* max and the callback's stop both end it. */
	memset(&s, 0, sizeof s);
	ck_assert_int_eq(core_peek_msgs(q, 2, seen_add, &s, &n), CQ_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(s.text, "b d");
	memset(&s, 0, sizeof s);
	s.stop_at = 3;
	ck_assert_int_eq(core_peek_msgs(q, 10, seen_add, &s, &n), CQ_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(s.text, "b d a");
	ck_assert_int_eq(core_peek_msgs(q, 0, seen_add, &s, &n), CQ_INVALID);
}
END_TEST

START_TEST(test_peek_empty_closed_paused_and_in_flight)
{
	struct core_msg m;
	struct seen s;
	size_t n = 9;

	ck_assert_int_eq(core_peek_msgs(q, 5, seen_add, &s, &n), CQ_EMPTY);
	ck_assert_uint_eq(n, 0);
	push("x", 0);
	push("y", 0);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	/* In flight is not queued: only y shows. */
	ck_assert_str_eq(peek_all(&s), "y");
	ck_assert_int_eq(core_suspend(q, 0, NULL), CQ_OK);
	ck_assert_str_eq(peek_all(&s), "y");
	ck_assert_int_eq(core_close(q), CQ_OK);
	ck_assert_str_eq(peek_all(&s), "y");
	ck_assert_int_eq(core_purge(q, NULL), CQ_OK);
	ck_assert_int_eq(core_peek_msgs(q, 5, seen_add, &s, &n), CQ_CLOSED);
}
END_TEST

START_TEST(test_purge_drops_every_queued_message_not_in_flight)
{
	struct core_stat st;
	struct core_msg m;
	struct seen s;
	uint64_t n = 99, id, last;
	char buf[256];
	int i;

	push("a", 0);
	push("b", 1);
	push("c", 2);
	push("d", 2);
	last = push("e", 0);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK); /* c */
	ck_assert_int_eq(core_purge(q, &n), CQ_OK);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(peek_all(&s), "");
	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_uint_eq(st.in_flight, 1);
	ck_assert_uint_eq(st.total_pushed, 5);
	ck_assert_uint_eq(st.total_popped, 4);
	ck_assert_int_eq(st.paused, 0);
	/* Purging nothing is fine. */
	ck_assert_int_eq(core_purge(q, &n), CQ_OK);
	ck_assert_uint_eq(n, 0);
	/* Every slot but the one in flight is free again; ids go on. */
	ck_assert_uint_eq(core_free_slots(q), CAP - 1);
	for (i = 0; i < CAP - 1; i++) {
		id = push("f", (unsigned)i % BANDS);
		ck_assert_uint_gt(id, last);
		last = id;
	}
	ck_assert_int_eq(
	    core_push(q, "g", 1, 0, 0, &id), CQ_FULL);
	ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
	ck_assert_str_eq(drain(buf, sizeof buf), "f f f f f f f");
	ck_assert_int_eq(core_check(q), CQ_OK);
}
END_TEST

START_TEST(test_purge_keeps_the_pause_count)
{
	struct core_stat st;
	uint64_t n;

	push("a", 0);
	ck_assert_int_eq(core_suspend(q, 0, NULL), CQ_OK);
	ck_assert_int_eq(core_suspend(q, 0, NULL), CQ_OK);
	ck_assert_int_eq(core_purge(q, &n), CQ_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	ck_assert_int_eq(st.paused, 2);
}
END_TEST

START_TEST(test_remove_by_id_keeps_the_others_in_order)
{
	struct core_msg m;
	struct seen s;
	uint64_t id[6];
	char buf[256];

	id[0] = push("a", 0);
	id[1] = push("b", 0);
	id[2] = push("c", 0);
	id[3] = push("d", 0);
	id[4] = push("e", 0);
	id[5] = push("z", 1);
	ck_assert_int_eq(core_remove(q, id[1]), CQ_OK); /* near the head */
	ck_assert_str_eq(peek_all(&s), "z a c d e");
	ck_assert_int_eq(core_remove(q, id[3]), CQ_OK); /* near the tail */
	ck_assert_str_eq(peek_all(&s), "z a c e");
	ck_assert_int_eq(core_remove(q, id[0]), CQ_OK); /* the head */
	ck_assert_int_eq(core_remove(q, id[4]), CQ_OK); /* the tail */
	ck_assert_int_eq(core_remove(q, id[5]), CQ_OK); /* another band */
	ck_assert_str_eq(peek_all(&s), "c");
	ck_assert_int_eq(core_remove(q, id[3]), CQ_NOTFOUND);
	ck_assert_int_eq(core_remove(q, 0), CQ_NOTFOUND);
	ck_assert_int_eq(core_remove(q, 12345), CQ_NOTFOUND);
	/* A message in flight is not queued. */
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	ck_assert_int_eq(core_remove(q, id[2]), CQ_NOTFOUND);
	ck_assert_int_eq(core_return(q, m.slot, m.id), CQ_OK);
	ck_assert_uint_eq(core_free_slots(q), CAP - 1);
	ck_assert_int_eq(core_check(q), CQ_OK);
	ck_assert_str_eq(drain(buf, sizeof buf), "c");
}
END_TEST

/* The site a killed child reports through the pipe. */
static const char *kill_site;
static int kill_fd = -1;

/* Crash hook of the child: report the site, then die on the spot. */
static void
crash_hook(const char *site)
{
	if (kill_site == NULL || strcmp(site, kill_site) != 0)
		return;
	if (write(kill_fd, site, strlen(site) + 1) < 0)
		_exit(99);
	raise(SIGKILL);
}

/* Fork a child that runs op(arg) and dies at site; 1 if it died there. */
static int
crash_child(const char *site, int op, uint64_t arg)
{
	char got[64];
	int p[2], ws;
	ssize_t r;
	pid_t pid;

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		kill_site = site;
		kill_fd = p[1];
		core_crash_hook = crash_hook;
		if (op == 0)
			_exit((int)core_purge(q, NULL));
		if (op == 1)
			_exit((int)core_remove(q, arg));
		_exit((int)core_check(q));
	}
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	r = read(p[0], got, sizeof got - 1);
	close(p[0]);
	close(p[1]);
	if (!WIFSIGNALED(ws))
		return 0;
	ck_assert_int_eq(WTERMSIG(ws), SIGKILL);
	ck_assert_int_gt(r, 0);
	got[r] = '\0';
	ck_assert_str_eq(got, site);
	return 1;
}

/* Queue a b c d in band 0, x y in band 1, m in band 2. */
static void
fill(uint64_t *ids)
{
	ids[0] = push("a", 0);
	ids[1] = push("b", 0);
	ids[2] = push("c", 0);
	ids[3] = push("d", 0);
	ids[4] = push("x", 1);
	ids[5] = push("y", 1);
	ids[6] = push("m", 2);
}

START_TEST(test_purge_killed_at_each_site_is_all_or_nothing)
{
	static const struct {
		const char *site;
		const char *left;
	} cases[] = {{"purge.before_commit", "m x y a b c d"},
	    {"purge.after_commit", ""}, {"purge.middle", ""}};
	uint64_t ids[7];
	char buf[256];
	size_t c;

	for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		fill(ids);
		ck_assert(crash_child(cases[c].site, 0, 0));
		/* Sometimes the recovery dies too, before finishing. */
		if (c == 2)
			ck_assert(crash_child("recover.begin", 2, 0));
		ck_assert_int_eq(core_check(q), CQ_OK);
		ck_assert_uint_eq(core_free_slots(q),
		    CAP - (strlen(cases[c].left) + 1) / 2);
		ck_assert_str_eq(drain(buf, sizeof buf), cases[c].left);
		ck_assert_uint_eq(core_free_slots(q), CAP);
	}
}
END_TEST

START_TEST(test_remove_killed_at_each_site_removes_once_or_not)
{
	static const struct {
		int which; /* index into fill()'s ids */
		const char *site;
		const char *left;
	} cases[] = {{1, "remove.before_commit", "m x y a b c d"},
	    {1, "remove.after_commit", "m x y a c d"}, /* head side moves */
	    {1, "remove.closed", "m x y a c d"},
	    {0, "remove.before_commit", "m x y a b c d"},
	    {0, "remove.after_commit", "m x y b c d"}, /* the head store */
	    {2, "remove.after_commit", "m x y a b d"}, /* tail side moves */
	    {2, "remove.closed", "m x y a b d"},
	    {3, "remove.after_commit", "m x y a b c"}, /* the tail store */
	    {5, "remove.after_commit", "m x a b c d"}};
	uint64_t ids[7];
	char buf[256];
	size_t c;

	for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		fill(ids);
		ck_assert(crash_child(
		    cases[c].site, 1, ids[cases[c].which]));
		ck_assert_int_eq(core_check(q), CQ_OK);
		ck_assert_str_eq(drain(buf, sizeof buf), cases[c].left);
		ck_assert_uint_eq(core_free_slots(q), CAP);
	}
}
END_TEST

START_TEST(test_remove_in_a_long_band_cuts_from_either_side)
{
	const char *t[CAP] = {"0", "1", "2", "3", "4", "5", "6", "7"};
	uint64_t id[CAP];
	char buf[256];
	int i;

	/* Wrap the ring first, so the cut crosses its end. */
	for (i = 0; i < 5; i++) {
		push("w", 0);
		drain(buf, sizeof buf);
	}
	for (i = 0; i < CAP; i++)
		id[i] = push(t[i], 0);
	ck_assert_int_eq(core_remove(q, id[2]), CQ_OK);
	ck_assert_int_eq(core_remove(q, id[5]), CQ_OK);
	ck_assert_int_eq(core_remove(q, id[6]), CQ_OK);
	ck_assert_int_eq(core_check(q), CQ_OK);
	ck_assert_str_eq(drain(buf, sizeof buf), "0 1 3 4 7");
}
END_TEST

/* The suite. */
static Suite *
browse_suite(void)
{
	Suite *s = suite_create("core_browse");
	TCase *tc = tcase_create("browse");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_peek_shows_pop_order_without_removing);
	tcase_add_test(tc, test_peek_empty_closed_paused_and_in_flight);
	tcase_add_test(tc, test_purge_drops_every_queued_message_not_in_flight);
	tcase_add_test(tc, test_purge_keeps_the_pause_count);
	tcase_add_test(tc, test_remove_by_id_keeps_the_others_in_order);
	tcase_add_test(tc, test_purge_killed_at_each_site_is_all_or_nothing);
	tcase_add_test(tc, test_remove_killed_at_each_site_removes_once_or_not);
	tcase_add_test(tc, test_remove_in_a_long_band_cuts_from_either_side);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then remove any segment a failed test left behind. */
int
main(void)
{
	return cu_run(browse_suite, "check_core_browse");
}
