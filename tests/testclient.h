/* testclient.h - the client-library suites' fixture: a daemon per test. */
#ifndef CQ_TESTS_TESTCLIENT_H
#define CQ_TESTS_TESTCLIENT_H

#include "conqueue/conqueue.h"
#include "tests/testutil.h"

/* The running test's private daemon (valid between setup and cleanup). */
extern struct tu_daemon tc_d;

/* Start tc_d with extra daemon arguments (NULL: none); asserts. */
void tc_setup_args(const char *const *extra);
/* Checked-fixture setup: tc_setup_args(NULL). */
void tc_setup(void);
/* Checked-fixture cleanup: stop tc_d and remove what it left. */
void tc_cleanup(void);
/* A new connection to tc_d; asserts. */
cq_client *tc_conn(void);
/* Create queue name with attributes a (NULL: defaults) and open it. */
cq_queue *tc_mkq(cq_client *c, const char *name, const cq_queue_attr *a);
/* Open the existing queue name on c. */
cq_queue *tc_openq(cq_client *c, const char *name);
/* Drive c's event loop until *counter reaches target (bounded). */
void tc_run_until(cq_client *c, const int *counter, int target);

#endif
