/* check_core_ops.c - issue 18's core operations: counted suspend. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/layout.h"
#include "core/queue.h"
#include "tests/core_util.h"

static char seg[128];
static struct core_queue *q;

/* A fresh queue owned by us. */
static void
setup(void)
{
	struct core_attr a = cu_attr(8, 16, 2);

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

/* The pause count as core_stat reports it. */
static int
pause_count(struct core_queue *h)
{
	struct core_stat st;

	ck_assert_int_eq(core_stat(h, &st), CQ_OK);
	return st.paused;
}

START_TEST(test_two_pauses_need_two_resumes)
{
	struct core_msg m;
	uint64_t id, n = 99;

	ck_assert_int_eq(core_push(q, "a", 1, 0, 0, &id), CQ_OK);
	ck_assert_int_eq(core_suspend(q, 0, &n), CQ_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(core_suspend(q, 0, &n), CQ_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(pause_count(q), 2);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_EMPTY);
	ck_assert_int_eq(core_suspend(q, 1, &n), CQ_OK);
	ck_assert_uint_eq(n, 1);
	/* Still paused after one resume: the message stays. */
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_EMPTY);
	ck_assert_int_eq(core_suspend(q, 1, &n), CQ_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	ck_assert_uint_eq(m.id, id);
}
END_TEST

START_TEST(test_resume_of_running_queue_changes_nothing)
{
	uint64_t n = 99;

	ck_assert_int_eq(core_suspend(q, 1, &n), CQ_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(pause_count(q), 0);
	/* A later pause is still one pause, not undone by the extra resume. */
	ck_assert_int_eq(core_suspend(q, 0, &n), CQ_OK);
	ck_assert_int_eq(pause_count(q), 1);
}
END_TEST

START_TEST(test_pause_beyond_the_maximum_is_limit)
{
	uint64_t n = 0;

	/* Reach the maximum through the word itself: 2^31 calls take long. */
	q->hdr->paused = CORE_PAUSE_MAX;
	ck_assert_int_eq(core_suspend(q, 0, &n), CQ_LIMIT);
	ck_assert_uint_eq(n, CORE_PAUSE_MAX);
	ck_assert_uint_eq(q->hdr->paused, CORE_PAUSE_MAX);
	ck_assert_int_eq(core_check(q), CQ_OK);
	ck_assert_int_eq(core_suspend(q, 1, &n), CQ_OK);
	ck_assert_uint_eq(n, CORE_PAUSE_MAX - 1);
}
END_TEST

START_TEST(test_count_survives_attach_and_recovery)
{
	struct core_queue *q2;
	uint64_t n;

	ck_assert_int_eq(core_suspend(q, 0, &n), CQ_OK);
	ck_assert_int_eq(core_suspend(q, 0, &n), CQ_OK);
	ck_assert_int_eq(core_suspend(q, 0, &n), CQ_OK);
	ck_assert_int_eq(core_attach(seg, &q2), CQ_OK);
	ck_assert_int_eq(core_check(q2), CQ_OK);
	ck_assert_int_eq(pause_count(q2), 3);
	core_detach(q2);
}
END_TEST

START_TEST(test_impossible_count_recovers_to_one_pause)
{
	struct core_queue *q2;
	uint64_t n;

	/* A scribbled word beyond any count: recovery leaves one pause. */
	q->hdr->paused = UINT64_MAX - 5;
	ck_assert_int_eq(core_attach(seg, &q2), CQ_OK);
	ck_assert_int_eq(pause_count(q2), 1);
	ck_assert_int_eq(core_suspend(q2, 1, &n), CQ_OK);
	ck_assert_uint_eq(n, 0);
	core_detach(q2);
}
END_TEST

/* The suite. */
static Suite *
ops_suite(void)
{
	Suite *s = suite_create("core_ops");
	TCase *tc = tcase_create("suspend");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_two_pauses_need_two_resumes);
	tcase_add_test(tc, test_resume_of_running_queue_changes_nothing);
	tcase_add_test(tc, test_pause_beyond_the_maximum_is_limit);
	tcase_add_test(tc, test_count_survives_attach_and_recovery);
	tcase_add_test(tc, test_impossible_count_recovers_to_one_pause);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then remove any segment a failed test left behind. */
int
main(void)
{
	return cu_run(ops_suite, "check_core_ops");
}
