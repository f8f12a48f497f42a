/* check_durable.c - durable queues through the library: cq_create_durable's
 * arguments, stat, an always queue kept off the direct path, and group
 * commit (the pushes of many connections read in one pass share one
 * fdatasync). The reboot itself is tests/cli_durable.sh. */

#include <check.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "tests/testclient.h"
#include "tests/testutil.h"

#define NPUSH 200

static char state_dir[] = "/tmp/cqdurable.XXXXXX";

static cq_queue_stat
stat_name(cq_client *c, const char *name)
{
	cq_queue_stat st;

	ck_assert_int_eq(cq_stat_by_name(c, name, &st, sizeof st), CQ_OK);
	return st;
}

START_TEST(test_create_durable_args)
{
	cq_client *c = tc_conn();
	cq_queue_stat st;

	/* Bad policies and periods change nothing. */
	ck_assert_int_eq(cq_create_durable(c, "d", NULL, 0, 0, 0,
	                     (cq_durable)4, 0),
	    CQ_INVALID);
	ck_assert_int_eq(cq_create_durable(c, "d", NULL, 0, 0, 0,
	                     CQ_DURABLE_ALWAYS, 10),
	    CQ_INVALID);
	ck_assert_int_eq(cq_create_durable(c, "d", NULL, 0, 0, 0,
	                     CQ_DURABLE_INTERVAL, CQ_DURABLE_SYNC_MS_MAX + 1),
	    CQ_INVALID);
	ck_assert_int_eq(cq_stat_by_name(c, "d", &st, sizeof st),
	    CQ_NOTFOUND);
	/* The defaults and the fields of stat. */
	ck_assert_int_eq(cq_create_durable(c, "iv", NULL, 0, 0, 0,
	                     CQ_DURABLE_INTERVAL, 0),
	    CQ_OK);
	st = stat_name(c, "iv");
	ck_assert_uint_eq(st.durable, CQ_DURABLE_INTERVAL);
	ck_assert_uint_eq(st.sync_ms, CQ_DURABLE_SYNC_MS_DEFAULT);
	ck_assert_uint_gt(st.log_bytes, 0);
	ck_assert_int_eq(st.no_direct, 0);
	ck_assert_int_eq(cq_create_durable(c, "nv", NULL, 0, 0, 0,
	                     CQ_DURABLE_NEVER, 0),
	    CQ_OK);
	ck_assert_uint_eq(stat_name(c, "nv").durable, CQ_DURABLE_NEVER);
	ck_assert_int_eq(cq_create_durable(c, "plain", NULL, 0, 0, 0,
	                     CQ_DURABLE_NONE, 0),
	    CQ_OK);
	st = stat_name(c, "plain");
	ck_assert_uint_eq(st.durable, CQ_DURABLE_NONE);
	ck_assert_uint_eq(st.log_bytes, 0);
	/* A name taken stays taken, durable or not. */
	ck_assert_int_eq(cq_create_durable(c, "plain", NULL, 0, 0, 0,
	                     CQ_DURABLE_ALWAYS, 0),
	    CQ_EXISTS);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_always_is_socket_only)
{
	cq_client *c = tc_conn();
	cq_queue *q = NULL;
	cq_queue_stat st;
	cq_msg *m = NULL;

	ck_assert_int_eq(cq_create_durable(c, "al", NULL, 0, 0, 0,
	                     CQ_DURABLE_ALWAYS, 0),
	    CQ_OK);
	ck_assert_int_eq(cq_open(c, "al", &q), CQ_OK);
	ck_assert_int_eq(cq_queue_direct(q), 0);
	st = stat_name(c, "al");
	ck_assert_uint_eq(st.durable, CQ_DURABLE_ALWAYS);
	ck_assert_int_eq(st.no_direct, 1);
	/* Each answered push and pop has been synced. */
	ck_assert_int_eq(cq_push(q, "x", 1, 1000), CQ_OK);
	ck_assert_uint_ge(stat_name(c, "al").log_syncs, 2);
	ck_assert_int_eq(cq_pop(q, &m, 1000), CQ_OK);
	cq_msg_free(m);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

static void
pushed(cq_status st, void *arg)
{
	ck_assert_int_eq(st, CQ_OK);
	(*(int *)arg)++;
}

/*
 * Group commit: with the daemon stopped, two connections queue NPUSH
 * pushes between them; resumed, it reads them in a pass or a few and
 * syncs once per pass, not once per push.
 */
START_TEST(test_group_commit)
{
	cq_client *c1 = tc_conn(), *c2 = tc_conn();
	cq_queue *q1 = NULL, *q2 = NULL;
	cq_queue_stat st;
	uint64_t before;
	int i, n1 = 0, n2 = 0;
	char buf[16];

	ck_assert_int_eq(cq_create_durable(c1, "gc", NULL, 0, 0, 0,
	                     CQ_DURABLE_ALWAYS, 0),
	    CQ_OK);
	ck_assert_int_eq(cq_open(c1, "gc", &q1), CQ_OK);
	ck_assert_int_eq(cq_open(c2, "gc", &q2), CQ_OK);
	before = stat_name(c1, "gc").log_syncs;
	ck_assert_int_eq(kill(tc_d.pid, SIGSTOP), 0);
	for (i = 0; i < NPUSH / 2; i++) {
		snprintf(buf, sizeof buf, "m%d", i);
		ck_assert_int_eq(cq_push_async(q1, buf, strlen(buf), 0, -1,
		                     pushed, &n1, NULL),
		    CQ_OK);
		ck_assert_int_eq(cq_push_async(q2, buf, strlen(buf), 0, -1,
		                     pushed, &n2, NULL),
		    CQ_OK);
	}
	ck_assert_int_eq(kill(tc_d.pid, SIGCONT), 0);
	tc_run_until(c1, &n1, NPUSH / 2);
	tc_run_until(c2, &n2, NPUSH / 2);
	st = stat_name(c1, "gc");
	ck_assert_uint_eq(st.length, NPUSH);
	/* One sync per push would be NPUSH; a pass or a few is the point. */
	ck_assert_msg(st.log_syncs - before < NPUSH / 4,
	    "%llu syncs for %d pushes",
	    (unsigned long long)(st.log_syncs - before), NPUSH);
	ck_assert_uint_ge(st.log_syncs - before, 1);
	cq_queue_free(q1);
	cq_queue_free(q2);
	cq_disconnect(c1);
	cq_disconnect(c2);
}
END_TEST

static Suite *
durable_suite(void)
{
	Suite *s = suite_create("durable");
	TCase *tc = tcase_create("durable");

	tcase_add_checked_fixture(tc, tc_setup, tc_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_create_durable_args);
	tcase_add_test(tc, test_always_is_socket_only);
	tcase_add_test(tc, test_group_commit);
	suite_add_tcase(s, tc);
	return s;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(path);
}

int
main(void)
{
	int rc;

	if (mkdtemp(state_dir) == NULL)
		return 99;
	setenv("STATE_DIRECTORY", state_dir, 1);
	rc = tu_run(durable_suite(), "durable");
	nftw(state_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
