/* check_dedup.c - keyed pushes de-duplicated within a queue's window. */

/*
 * Issue 18 item 5: a push whose key the queue saw within its dedup window
 * answers CQ_OK and adds nothing; the keys are the daemon's (N.dedup
 * beside the segment) and survive its kill -9. doc/dedup.md.
 */

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "tests/rawclient.h"
#include "tests/testclient.h"
#include "tests/testutil.h"

/* A window no test outlasts (the within-window tests never race it). */
#define LONG_WINDOW 600000

/* Each test (a forked child) gets a private daemon. */
static void
setup(void)
{
	unsetenv("CONQUEUE_DIRECT");
	unsetenv("CONQUEUE_CRASH_AT");
	tc_setup();
	tu_registry_note(&tc_d);
}

/* A connection, direct (the default) or socket only. */
static cq_client *
conn(int direct)
{
	cq_client *c = NULL;

	ck_assert_int_eq(cq_connect_flags(&c, tc_d.sock, NULL,
	                     direct ? 0 : CQ_CONNECT_NO_DIRECT),
	    CQ_OK);
	return c;
}

/* Create name with a dedup window (capacity 1000) and open it. */
static cq_queue *
mkq(cq_client *c, const char *name, uint64_t window)
{
	cq_queue_attr a;
	cq_queue *q = NULL;

	memset(&a, 0, sizeof a);
	a.capacity = 1000;
	a.max_size = 64;
	ck_assert_int_eq(cq_create_dedup(c, name, &a, 0, window), CQ_OK);
	ck_assert_int_eq(cq_open(c, name, &q), CQ_OK);
	return q;
}

/* Push text with key k, blocking. */
static cq_status
kpush(cq_queue *q, const char *k, const char *text)
{
	return cq_push_dedup(q, k, strlen(k), text, strlen(text), CQ_FOREVER);
}

/* q's stat (from the daemon for the key counts). */
static cq_queue_stat
stat_of(cq_queue *q)
{
	cq_queue_stat st;

	ck_assert_int_eq(cq_stat_size(q, &st, sizeof st), CQ_OK);
	return st;
}

/* Pop one message (no wait) and compare its text. */
static void
pop_expect(cq_queue *q, const char *text)
{
	cq_msg *m = NULL;

	ck_assert_int_eq(cq_try_pop(q, &m), CQ_OK);
	ck_assert_uint_eq(cq_msg_len(m), strlen(text));
	ck_assert(memcmp(cq_msg_data(m), text, strlen(text)) == 0);
	cq_msg_free(m);
}

/* An async push's outcome. */
struct tally {
	int done;
	cq_status st;
};

/* cq_push_cb: note the status. */
static void
push_cb(cq_status st, void *arg)
{
	struct tally *t = arg;

	t->st = st;
	t->done++;
}

/* Sync, try and async keyed pushes, on a direct and a socket handle. */
START_TEST(test_duplicate_within_window_adds_nothing)
{
	cq_client *c = conn(_i);
	cq_queue *q = mkq(c, "d", LONG_WINDOW);
	struct tally t = {0, CQ_SYSTEM};
	cq_queue_stat st;

	ck_assert_int_eq(cq_queue_direct(q), _i);
	ck_assert_int_eq(kpush(q, "k1", "a"), CQ_OK);
	ck_assert_int_eq(kpush(q, "k1", "a-retry"), CQ_OK);
	ck_assert_uint_eq(stat_of(q).length, 1);
	ck_assert_int_eq(cq_try_push_dedup(q, "k1", 2, "a-try", 5), CQ_OK);
	ck_assert_uint_eq(stat_of(q).length, 1);
	/* A different key is a different message; so is an unkeyed push. */
	ck_assert_int_eq(cq_try_push_dedup(q, "k2", 2, "b", 1), CQ_OK);
	ck_assert_int_eq(cq_push(q, "c", 1, CQ_FOREVER), CQ_OK);
	ck_assert_uint_eq(stat_of(q).length, 3);
	/* Async: a duplicate answers CQ_OK too. */
	ck_assert_int_eq(cq_push_dedup_async(q, "k2", 2, "b-async", 7, 0,
	                     CQ_FOREVER, push_cb, &t, NULL),
	    CQ_OK);
	tc_run_until(c, &t.done, 1);
	ck_assert_int_eq(t.st, CQ_OK);
	ck_assert_int_eq(cq_push_dedup_async(q, "k3", 2, "d", 1, 0, CQ_FOREVER,
	                     push_cb, &t, NULL),
	    CQ_OK);
	tc_run_until(c, &t.done, 2);
	ck_assert_int_eq(t.st, CQ_OK);
	st = stat_of(q);
	ck_assert_uint_eq(st.length, 4);
	ck_assert_uint_eq(st.dedup_window_ms, LONG_WINDOW);
	ck_assert_uint_eq(st.dedup_keys, 3);
	ck_assert_uint_eq(st.dedup_suppressed, 3);
	pop_expect(q, "a");
	pop_expect(q, "b");
	pop_expect(q, "c");
	pop_expect(q, "d");
	/* Popped or not, a key is held for its whole window. */
	ck_assert_int_eq(kpush(q, "k1", "a-again"), CQ_OK);
	ck_assert_uint_eq(stat_of(q).length, 0);
	cq_disconnect(c);
}
END_TEST

/* Bad keys and a queue without a window: CQ_INVALID, nothing added. */
START_TEST(test_bad_key_is_invalid)
{
	cq_client *c = conn(1);
	cq_queue *q = mkq(c, "d", LONG_WINDOW), *plain;
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Push push = CONQUEUE__PUSH__INIT;
	static uint8_t x[] = "x", dname[] = "d", pname[] = "plain";
	ProtobufCBinaryData data = {1, x};
	char key[CQ_DEDUP_KEY_MAX + 1];
	int fd;

	memset(key, 'k', sizeof key);
	ck_assert_int_eq(
	    cq_push_dedup(q, key, sizeof key, "x", 1, 0), CQ_INVALID);
	ck_assert_int_eq(cq_push_dedup(q, key, 0, "x", 1, 0), CQ_INVALID);
	ck_assert_int_eq(cq_push_dedup(q, NULL, 3, "x", 1, 0), CQ_INVALID);
	ck_assert_int_eq(
	    cq_try_push_dedup(q, key, sizeof key, "x", 1), CQ_INVALID);
	ck_assert_int_eq(cq_push_dedup_async(q, key, sizeof key, "x", 1, 0, 0,
	                     push_cb, NULL, NULL),
	    CQ_INVALID);
	/* The longest key is fine. */
	ck_assert_int_eq(
	    cq_push_dedup(q, key, CQ_DEDUP_KEY_MAX, "x", 1, 0), CQ_OK);
	ck_assert_int_eq(
	    cq_push_dedup(q, key, CQ_DEDUP_KEY_MAX, "y", 1, 0), CQ_OK);
	ck_assert_uint_eq(stat_of(q).length, 1);
	/* The daemon checks too (a client that skips the library). */
	ck_assert_int_ge(fd = rc_connect(tc_d.sock), 0);
	req.op_case = CONQUEUE__REQUEST__OP_PUSH;
	req.push = &push;
	push.name.data = dname;
	push.name.len = 1;
	push.n_data = 1;
	push.data = &data;
	push.has_dedup_key = 1;
	push.dedup_key.data = (uint8_t *)key;
	push.dedup_key.len = sizeof key;
	ck_assert_int_eq(rc_status(rc_call(fd, &req)), CQ_INVALID);
	push.dedup_key.len = 0;
	ck_assert_int_eq(rc_status(rc_call(fd, &req)), CQ_INVALID);
	/* A keyed batch is refused (one message per key). */
	push.dedup_key.len = 4;
	{
		ProtobufCBinaryData two[2] = {data, data};

		push.n_data = 2;
		push.data = two;
		ck_assert_int_eq(rc_status(rc_call(fd, &req)), CQ_INVALID);
		push.n_data = 1;
		push.data = &data;
	}
	ck_assert_uint_eq(stat_of(q).length, 1);
	/* A queue without a window refuses keys. */
	ck_assert_int_eq(cq_create(c, "plain", NULL), CQ_OK);
	ck_assert_int_eq(cq_open(c, "plain", &plain), CQ_OK);
	ck_assert_int_eq(kpush(plain, "k", "x"), CQ_INVALID);
	push.name.data = pname;
	push.name.len = 5;
	ck_assert_int_eq(rc_status(rc_call(fd, &req)), CQ_INVALID);
	ck_assert_uint_eq(stat_of(plain).length, 0);
	ck_assert_uint_eq(stat_of(plain).dedup_window_ms, 0);
	/* A window past a day is refused at create. */
	ck_assert_int_eq(cq_create_dedup(c, "long", NULL, 0,
	                     (uint64_t)CQ_DEDUP_WINDOW_MAX + 1),
	    CQ_INVALID);
	close(fd);
	cq_disconnect(c);
}
END_TEST

/* After its window a key is taken again (waited for, never raced). */
START_TEST(test_key_taken_again_after_window)
{
	cq_client *c = conn(1);
	cq_queue *q = mkq(c, "short", 100);
	int64_t deadline = tu_now_ms() + 30000;
	int tries = 0;

	ck_assert_int_eq(kpush(q, "k", "first"), CQ_OK);
	while (stat_of(q).length < 2) {
		ck_assert_msg(tu_now_ms() < deadline, "key never expired");
		ck_assert_int_eq(kpush(q, "k", "again"), CQ_OK);
		tries++;
		usleep(10000);
	}
	ck_assert_uint_eq(stat_of(q).length, 2);
	/* Taken again: held again from now on. */
	ck_assert_uint_eq(stat_of(q).dedup_keys, 1);
	ck_assert_uint_eq(stat_of(q).dedup_suppressed, (uint64_t)tries - 1);
	cq_disconnect(c);
}
END_TEST

/* The keys survive a kill -9 of the daemon and its restart. */
START_TEST(test_keys_survive_daemon_kill)
{
	cq_client *c = conn(0);
	cq_queue *q = mkq(c, "d", LONG_WINDOW);
	char k[16];
	int i;

	for (i = 0; i < 50; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_int_eq(kpush(q, k, k), CQ_OK);
	}
	cq_disconnect(c);
	tu_daemon_kill(&tc_d);
	ck_assert_int_eq(tu_daemon_restart(&tc_d, NULL), 0);
	c = conn(_i);
	q = tc_openq(c, "d");
	for (i = 0; i < 50; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_int_eq(kpush(q, k, "retry"), CQ_OK);
	}
	ck_assert_uint_eq(stat_of(q).length, 50);
	ck_assert_uint_eq(stat_of(q).dedup_keys, 50);
	ck_assert_uint_eq(stat_of(q).dedup_suppressed, 50);
	ck_assert_int_eq(kpush(q, "new", "new"), CQ_OK);
	ck_assert_uint_eq(stat_of(q).length, 51);
	cq_disconnect(c);
}
END_TEST

/* The table holds dedup_max_keys: a new key past that is CQ_LIMIT. */
START_TEST(test_table_full_is_limit)
{
	cq_client *c = NULL;
	cq_queue *q;

	unsetenv("CONQUEUE_DIRECT");
	ck_assert_int_eq(
	    tu_daemon_start_config(&tc_d, "dedup_max_keys = 2\n"), 0);
	tu_registry_note(&tc_d);
	ck_assert_int_eq(cq_connect(&c, tc_d.sock), CQ_OK);
	q = mkq(c, "d", LONG_WINDOW);
	ck_assert_int_eq(kpush(q, "k1", "a"), CQ_OK);
	ck_assert_int_eq(kpush(q, "k2", "b"), CQ_OK);
	ck_assert_int_eq(kpush(q, "k3", "c"), CQ_LIMIT);
	ck_assert_ptr_nonnull(strstr(cq_client_error(c), "dedup_max_keys"));
	/* Duplicates are still answered, unkeyed pushes still go in. */
	ck_assert_int_eq(kpush(q, "k1", "a"), CQ_OK);
	ck_assert_int_eq(cq_push(q, "u", 1, 0), CQ_OK);
	ck_assert_uint_eq(stat_of(q).length, 3);
	ck_assert_uint_eq(stat_of(q).dedup_keys, 2);
	cq_disconnect(c);
	tu_daemon_cleanup(&tc_d);
}
END_TEST

/*
 * A daemon that dies (crash point site) during a keyed push: the client
 * sees CQ_DISCONNECTED, retries the same key on the restarted daemon and
 * gets CQ_OK; the queue then holds the message want times.
 */
static void
crash_retry(const char *site, uint64_t want)
{
	cq_client *c;
	cq_queue *q;

	c = conn(0);
	q = mkq(c, "d", LONG_WINDOW);
	ck_assert_int_eq(kpush(q, "k0", "zero"), CQ_OK);
	cq_disconnect(c);
	tu_daemon_stop(&tc_d);
	setenv("CONQUEUE_CRASH_AT", site, 1);
	ck_assert_int_eq(tu_daemon_restart(&tc_d, NULL), 0);
	unsetenv("CONQUEUE_CRASH_AT");
	c = conn(0);
	q = tc_openq(c, "d");
	ck_assert_int_eq(kpush(q, "k1", "one"), CQ_DISCONNECTED);
	cq_disconnect(c);
	tu_daemon_kill(&tc_d); /* reap it */
	ck_assert_int_eq(tu_daemon_restart(&tc_d, NULL), 0);
	c = conn(0);
	q = tc_openq(c, "d");
	ck_assert_int_eq(kpush(q, "k1", "one"), CQ_OK);
	ck_assert_uint_eq(stat_of(q).length, 1 + want);
	cq_disconnect(c);
}

/* Killed after the record, before the reply: the retry adds nothing. */
START_TEST(test_kill_after_record_retry_adds_nothing)
{
	crash_retry("dedup.after_record:1", 1);
}
END_TEST

/*
 * Killed between the commit and the record: the one window doc/dedup.md
 * names, where the unacknowledged push's retry adds a second copy.
 */
START_TEST(test_kill_between_commit_and_record_is_the_window)
{
	crash_retry("dedup.after_commit:1", 2);
}
END_TEST

/*
 * A producer pushes keyed messages, retrying after CQ_DISCONNECTED (the
 * key in doubt and the REPLAY before it) until acknowledged, while the
 * daemon is SIGKILLed and restarted:
 * afterwards every key acknowledged before the kill is there exactly
 * once, and the one in doubt at the kill once (twice only if the kill fell
 * between its commit and its record, the documented window).
 */
START_TEST(test_kill_during_keyed_push_loop)
{
	enum { N = 400, REPLAY = 20 };
	int pfd[2], acked = -1, i, status, count[N], twice = 0;
	char k[16], text[16];
	cq_client *c;
	cq_queue *q;
	cq_msg *m;
	pid_t pid;
	ssize_t n;

	c = conn(0);
	mkq(c, "d", LONG_WINDOW);
	cq_disconnect(c);
	ck_assert_int_eq(pipe(pfd), 0);
	if ((pid = fork()) == 0) {
		cq_status st;
		int64_t deadline;

		close(pfd[0]);
		c = NULL;
		for (i = 0; i < N; i++) {
			snprintf(k, sizeof k, "k%d", i);
			deadline = tu_now_ms() + 30000;
			while (c == NULL || cq_open(c, "d", &q) != CQ_OK ||
			       (st = kpush(q, k, k)) != CQ_OK) {
				/* Lost the daemon: reconnect, and replay the
				 * last REPLAY keys too, as a producer that
				 * resumes from its last checkpoint would. */
				if (c != NULL && i >= REPLAY) {
					i -= REPLAY;
					snprintf(k, sizeof k, "k%d", i);
				}
				cq_disconnect(c);
				c = NULL;
				if (tu_now_ms() > deadline)
					_exit(2);
				usleep(5000);
				if (cq_connect_flags(&c, tc_d.sock, NULL,
				        CQ_CONNECT_NO_DIRECT) != CQ_OK) {
					cq_disconnect(c);
					c = NULL;
				}
			}
			if (write(pfd[1], &i, sizeof i) != sizeof i)
				_exit(3);
			cq_queue_free(q);
		}
		cq_disconnect(c);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	close(pfd[1]);
	/* Kill when the producer is well into the loop (by state). */
	while (acked < N / 4 &&
	       (n = read(pfd[0], &acked, sizeof acked)) == sizeof acked)
		;
	tu_daemon_kill(&tc_d);
	ck_assert_int_eq(tu_daemon_restart(&tc_d, NULL), 0);
	while (read(pfd[0], &i, sizeof i) == sizeof i)
		;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "producer failed: status %d", status);
	close(pfd[0]);
	c = conn(0);
	q = tc_openq(c, "d");
	memset(count, 0, sizeof count);
	while (cq_try_pop(q, &m) == CQ_OK) {
		ck_assert_uint_lt(cq_msg_len(m), sizeof text);
		memcpy(text, cq_msg_data(m), cq_msg_len(m));
		text[cq_msg_len(m)] = '\0';
		i = atoi(text + 1);
		ck_assert(i >= 0 && i < N);
		count[i]++;
		cq_msg_free(m);
	}
	for (i = 0; i < N; i++) {
		ck_assert_msg(count[i] >= 1, "key k%d lost", i);
		if (i <= acked)
			ck_assert_msg(
			    count[i] == 1, "k%d: %d copies", i, count[i]);
		else if (count[i] == 2)
			twice++;
		else
			ck_assert_msg(
			    count[i] == 1, "k%d: %d copies", i, count[i]);
	}
	ck_assert_int_le(twice, 1);
	cq_disconnect(c);
}
END_TEST

/* The suite. */
static Suite *
dedup_suite(void)
{
	Suite *s = suite_create("dedup");
	TCase *tc = tcase_create("daemon"), *raw = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, tc_cleanup);
	tcase_set_timeout(tc, 90);
	tcase_add_loop_test(
	    tc, test_duplicate_within_window_adds_nothing, 0, 2);
	tcase_add_test(tc, test_bad_key_is_invalid);
	tcase_add_test(tc, test_key_taken_again_after_window);
	tcase_add_loop_test(tc, test_keys_survive_daemon_kill, 0, 2);
#ifdef CQ_CRASH_POINTS
	tcase_add_test(tc, test_kill_after_record_retry_adds_nothing);
	tcase_add_test(tc, test_kill_between_commit_and_record_is_the_window);
#endif
	tcase_add_test(tc, test_kill_during_keyed_push_loop);
	suite_add_tcase(s, tc);
	tcase_set_timeout(raw, 60);
	tcase_add_test(raw, test_table_full_is_limit);
	suite_add_tcase(s, raw);
	return s;
}

/* Run the suite, then sweep what failed tests left behind. */
int
main(void)
{
	return tu_run(dedup_suite(), "dedup");
}
