/* testclient.c - the client-library suites' fixture: a daemon per test. */

#include <check.h>
#include <poll.h>
#include <stdlib.h>

#include "tests/testclient.h"

struct tu_daemon tc_d;
static int tc_started;

/*
 * Connections of the running test. A test that forks leaves a copy in each
 * child, which _exits without freeing it: this keeps it reachable (else
 * valgrind calls it lost).
 */
static cq_client *volatile tc_conns[8]; /* volatile: never read */

/* Stop the daemon and remove what it left (also on a failed assert). */
void
tc_cleanup(void)
{
	if (tc_started) {
		tc_started = 0;
		tu_daemon_cleanup(&tc_d);
	}
}

/* Each test (a forked child) gets a private daemon. */
void
tc_setup_args(const char *const *extra)
{
	ck_assert_int_eq(tu_daemon_start(&tc_d, extra), 0);
	tc_started = 1;
	atexit(tc_cleanup);
}

/* The default fixture: a daemon with no extra arguments. */
void
tc_setup(void)
{
	tc_setup_args(NULL);
}

/* A new connection to the test daemon. */
cq_client *
tc_conn(void)
{
	static unsigned n;
	cq_client *c = NULL;

	ck_assert_int_eq(cq_connect(&c, tc_d.sock), CQ_OK);
	ck_assert_ptr_nonnull(c);
	tc_conns[n++ % 8] = c;
	return c;
}

/* Create queue name with attributes a (NULL: defaults) and open it. */
cq_queue *
tc_mkq(cq_client *c, const char *name, const cq_queue_attr *a)
{
	cq_queue *q = NULL;

	ck_assert_int_eq(cq_create(c, name, a), CQ_OK);
	ck_assert_int_eq(cq_open(c, name, &q), CQ_OK);
	return q;
}

/* Open an existing queue. */
cq_queue *
tc_openq(cq_client *c, const char *name)
{
	cq_queue *q = NULL;

	ck_assert_int_eq(cq_open(c, name, &q), CQ_OK);
	return q;
}

/* Drive c's event loop until *counter reaches target (bounded). */
void
tc_run_until(cq_client *c, const int *counter, int target)
{
	int64_t end = tu_now_ms() + 30000;
	struct pollfd pfd;

	while (*counter < target) {
		ck_assert_msg(tu_now_ms() < end, "callbacks missing: %d of %d",
		    *counter, target);
		pfd.fd = cq_client_fd(c);
		pfd.events = POLLIN;
		if (cq_client_events(c) & CQ_WANT_WRITE)
			pfd.events |= POLLOUT;
		if (pfd.fd >= 0)
			poll(&pfd, 1, 100);
		cq_client_process(c);
	}
}
