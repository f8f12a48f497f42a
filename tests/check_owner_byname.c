/* check_owner_byname.c - an owner who cleared its own mode bits, as root. */

/*
 * cq_open needs read or write permission, so an owner who set its queue's
 * mode to 0 could no longer chmod, close or pause it through a cq_queue.
 * The by-name forms need no cq_open. Clients run in forked children as
 * uids that are neither root nor the daemon's (which would be admins), so
 * this needs root: without it the program exits 77 (skipped).
 */

#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "tests/testclient.h"
#include "tests/testutil.h"

#define OWNER 61201u /* the queue's owner */
#define OTHER 61202u /* anyone else */

static const char *d_args[] = {"--socket-mode", "0666", NULL};

/* Each test (a forked child) gets a daemon every uid can reach. */
static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	tc_setup_args(d_args);
	tu_registry_note(&tc_d);
	ck_assert_int_eq(chmod(tc_d.dir, 0711), 0);
}

/*
 * In a child, as uid: run the steps in order, each expecting its status;
 * exit 0, or 10 + the failed step's index (100+ on setup errors).
 */
enum step_op { S_CREATE, S_OPEN, S_CHMOD, S_CLOSE, S_PAUSE, S_RESUME, S_STAT };
struct step {
	enum step_op op;
	uint32_t mode;
	cq_status want;
};

/* Run steps as uid on queue "mine"; the child's exit status. */
static int
run_as(uid_t uid, const struct step *steps, size_t n)
{
	cq_queue_attr a;
	cq_queue_stat st;
	cq_client *c;
	cq_queue *q = NULL;
	cq_status s = CQ_OK;
	gid_t g = (gid_t)uid;
	size_t i;
	pid_t pid;
	int ws;

	if ((pid = fork()) < 0)
		return 100;
	if (pid > 0) {
		if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws))
			return 101;
		return WEXITSTATUS(ws);
	}
	if (setgroups(1, &g) != 0 || setgid(g) != 0 || setuid(uid) != 0 ||
	    geteuid() != uid)
		_exit(102);
	if (cq_connect(&c, tc_d.sock) != CQ_OK)
		_exit(103);
	for (i = 0; i < n; i++) {
		switch (steps[i].op) {
		case S_CREATE:
			memset(&a, 0, sizeof a);
			a.mode = steps[i].mode;
			s = cq_create(c, "mine", &a);
			break;
		case S_OPEN:
			s = cq_open(c, "mine", &q);
			cq_queue_free(q);
			q = NULL;
			break;
		case S_CHMOD:
			s = cq_chmod_by_name(c, "mine", steps[i].mode);
			break;
		case S_CLOSE:
			s = cq_close_by_name(c, "mine");
			break;
		case S_PAUSE:
			s = cq_pause_by_name(c, "mine");
			break;
		case S_RESUME:
			s = cq_resume_by_name(c, "mine");
			break;
		case S_STAT:
			if ((s = cq_open(c, "mine", &q)) == CQ_OK) {
				s = cq_stat(q, &st);
				if (s == CQ_OK &&
				    (st.mode & 0777) != steps[i].mode)
					s = CQ_PROTOCOL;
				if (s == CQ_OK && !st.closed)
					s = CQ_PROTOCOL;
			}
			cq_queue_free(q);
			q = NULL;
			break;
		}
		if (s != steps[i].want)
			_exit(10 + (int)i);
	}
	cq_disconnect(c);
	_exit(0);
}

START_TEST(test_owner_with_mode_0_restores_closes_and_pauses_by_name)
{
	static const struct step owner[] = {
	    {S_CREATE, 0600, CQ_OK},
	    {S_CHMOD, 0, CQ_OK},
	    /* What locked the owner out: a cq_queue needs r or w. */
	    {S_OPEN, 0, CQ_DENIED},
	    {S_CLOSE, 0, CQ_OK},
	    {S_PAUSE, 0, CQ_OK},
	    {S_RESUME, 0, CQ_OK},
	    {S_CHMOD, 0600, CQ_OK},
	    {S_OPEN, 0, CQ_OK},
	    {S_STAT, 0600, CQ_OK},
	};
	static const struct step other[] = {
	    {S_CHMOD, 0666, CQ_DENIED},
	    {S_CLOSE, 0, CQ_DENIED},
	    {S_PAUSE, 0, CQ_DENIED},
	    {S_RESUME, 0, CQ_DENIED},
	};

	ck_assert_int_eq(
	    run_as(OWNER, owner, sizeof owner / sizeof owner[0]), 0);
	ck_assert_int_eq(
	    run_as(OTHER, other, sizeof other / sizeof other[0]), 0);
}
END_TEST

START_TEST(test_by_name_rejects_bad_names)
{
	cq_client *c = NULL;

	ck_assert_int_eq(cq_connect(&c, tc_d.sock), CQ_OK);
	ck_assert_int_eq(cq_chmod_by_name(c, ".bad", 0600), CQ_INVALID);
	ck_assert_int_eq(cq_close_by_name(c, NULL), CQ_INVALID);
	ck_assert_int_eq(cq_pause_by_name(NULL, "mine"), CQ_INVALID);
	ck_assert_int_eq(cq_chown_by_name(c, "mine", -1, -1), CQ_INVALID);
	ck_assert_int_eq(cq_resume_by_name(c, "nosuch"), CQ_NOTFOUND);
	ck_assert_int_eq(cq_chmod_by_name(c, "nosuch", 0600), CQ_NOTFOUND);
	cq_disconnect(c);
}
END_TEST

/* The suite. */
static Suite *
owner_suite(void)
{
	Suite *s = suite_create("owner_byname");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, tc_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(
	    tc, test_owner_with_mode_0_restores_closes_and_pauses_by_name);
	tcase_add_test(tc, test_by_name_rejects_bad_names);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite as root, then sweep what failed tests left behind. */
int
main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		printf("SKIP: check_owner_byname needs root (clients of "
		       "other uids); CI runs it as root\n");
		return 77;
	}
	sr = srunner_create(owner_suite());
	tu_registry_open("owner");
	srunner_run_all(sr, CK_NORMAL);
	tu_registry_sweep();
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
