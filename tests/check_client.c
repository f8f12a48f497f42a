/* check_client.c - libconqueue-client against a real conqueued. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conqueue/conqueue-event.h"
#include "conqueue/conqueue.h"
#include "proto/frame.h"
#include "tests/rawclient.h"
#include "tests/rawclient.h"
#include "tests/testclient.h"
#include "tests/testutil.h"

/* Create queue name and open it. */
static cq_queue *
mkq(cq_client *c, const char *name, uint32_t cap, uint32_t bands)
{
	cq_queue_attr a;

	memset(&a, 0, sizeof a);
	a.capacity = cap;
	a.bands = bands;
	return tc_mkq(c, name, &a);
}

/* Pop one message and check its bytes. */
static void
pop_expect(cq_queue *q, const char *want)
{
	cq_msg *m = NULL;

	ck_assert_int_eq(cq_pop(q, &m, 5000), CQ_OK);
	ck_assert_uint_eq(cq_msg_len(m), strlen(want));
	ck_assert_mem_eq(cq_msg_data(m), want, strlen(want));
	cq_msg_free(m);
}

/* Wait (bounded poll loop) until q's stat satisfies the check. */
static void
wait_waiting(cq_queue *q, uint32_t poppers, uint32_t pushers)
{
	int64_t end = tu_now_ms() + 10000;
	cq_queue_stat st;

	for (;;) {
		ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
		if (st.waiting_poppers == poppers &&
		    st.waiting_pushers == pushers)
			return;
		ck_assert_msg(tu_now_ms() < end, "waiters: %u/%u, want %u/%u",
		    st.waiting_poppers, st.waiting_pushers, poppers, pushers);
		poll(NULL, 0, 5);
	}
}

START_TEST(test_connect_ping_info_and_statics)
{
	cq_client *c, *bad = (cq_client *)1;
	cq_daemon_info in;
	char path[256], buf[4];

	c = tc_conn();
	ck_assert_int_eq(cq_ping(c), CQ_OK);
	ck_assert_int_eq(cq_info(c, &in), CQ_OK);
	ck_assert_str_eq(in.version, cq_version());
	ck_assert_uint_eq(in.pid, (uint32_t)tc_d.pid);
	ck_assert_uint_ge(in.connections, 1);
	ck_assert_str_eq(cq_client_error(c), "");
	ck_assert_int_eq(cq_client_errno(c), 0);
	ck_assert_int_ge(cq_client_fd(c), 0);
	ck_assert_int_eq(cq_client_events(c) & CQ_WANT_READ, CQ_WANT_READ);
	ck_assert_uint_eq(cq_client_pending(c), 0);
	cq_disconnect(c);

	ck_assert_int_lt(snprintf(path, sizeof path, "%s/none.sock", tc_d.dir),
	    (int)sizeof path);
	ck_assert_int_eq(cq_connect(&bad, path), CQ_DISCONNECTED);
	ck_assert_ptr_null(bad);
	/* NULL path: $CONQUEUE_SOCKET wins. */
	setenv("CONQUEUE_SOCKET", tc_d.sock, 1);
	ck_assert_int_eq(cq_connect_named(&c, NULL, "check"), CQ_OK);
	ck_assert_int_eq(cq_default_socket(path, sizeof path), CQ_OK);
	ck_assert_str_eq(path, tc_d.sock);
	ck_assert_int_eq(cq_default_socket(buf, sizeof buf), CQ_INVALID);
	unsetenv("CONQUEUE_SOCKET");
	cq_disconnect(c);

	ck_assert_str_eq(cq_status_name(CQ_EMPTY), "CQ_EMPTY");
	ck_assert_str_ne(cq_strstatus(CQ_TIMEDOUT), "");
	ck_assert_int_eq(cq_name_valid("com.example.jobs", 16), 1);
	ck_assert_int_eq(cq_name_valid(".x", 2), 0);
}
END_TEST

START_TEST(test_create_open_stat_list_delete)
{
	cq_client *c = tc_conn();
	cq_queue_attr a;
	cq_queue_stat st;
	cq_queue *q;
	char **names;
	size_t n, i;
	int found = 0;
	int64_t len;

	memset(&a, 0, sizeof a);
	a.capacity = 7;
	a.max_size = 100;
	a.bands = 3;
	a.mode = 0640;
	ck_assert_int_eq(cq_create(c, "jobs.a", &a), CQ_OK);
	ck_assert_int_eq(cq_create(c, "jobs.a", &a), CQ_EXISTS);
	ck_assert_int_eq(cq_create(c, "bad name", &a), CQ_INVALID);
	ck_assert_int_eq(cq_create(c, "jobs.b", NULL), CQ_OK);
	ck_assert_int_eq(cq_open(c, "nope", &q), CQ_NOTFOUND);
	ck_assert_ptr_null(q);
	ck_assert_str_ne(cq_client_error(c), "");

	q = tc_openq(c, "jobs.a");
	ck_assert_str_eq(cq_queue_name(q), "jobs.a");
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_str_eq(st.name, "jobs.a");
	ck_assert_uint_eq(st.capacity, 7);
	ck_assert_uint_eq(st.max_size, 100);
	ck_assert_uint_eq(st.bands, 3);
	ck_assert_uint_eq(st.mode, 0640);
	ck_assert_uint_eq(st.uid, getuid());
	ck_assert_uint_eq(st.length, 0);
	ck_assert_int_eq(st.closed, 0);
	ck_assert_int_eq(cq_chmod(q, 0600), CQ_OK);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.mode, 0600);
	ck_assert_int_eq(cq_length(q, &len), CQ_OK);
	ck_assert_int_eq(len, 0);

	ck_assert_int_eq(cq_list(c, &names, &n), CQ_OK);
	ck_assert_uint_eq(n, 2);
	for (i = 0; i < n; i++)
		found += strcmp(names[i], "jobs.a") == 0 ||
		         strcmp(names[i], "jobs.b") == 0;
	ck_assert_ptr_null(names[n]);
	ck_assert_int_eq(found, 2);
	cq_list_free(names);

	ck_assert_int_eq(cq_delete(c, "jobs.b"), CQ_OK);
	ck_assert_int_eq(cq_delete(c, "jobs.b"), CQ_NOTFOUND);
	ck_assert_int_eq(cq_open(c, "jobs.b", &q), CQ_NOTFOUND);
	cq_queue_free(tc_openq(c, "jobs.a"));
	cq_disconnect(c);
}
END_TEST

START_TEST(test_push_pop_order_bands_front_batch)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "q", 4, 3);
	cq_msg *m, *ms[4];
	const void *bufs[3] = {"x", "y", "z"};
	size_t lens[3] = {1, 1, 1}, n;
	uint64_t id1;
	int64_t len;
	char big[70000];

	ck_assert_int_eq(cq_push(q, "one", 3, CQ_FOREVER), CQ_OK);
	ck_assert_int_eq(cq_try_push(q, "two", 3), CQ_OK);
	ck_assert_int_eq(cq_push_band(q, "hi", 2, 2, 1000), CQ_OK);
	ck_assert_int_eq(cq_push_front(q, "zero", 4, 0, 1000), CQ_OK);
	ck_assert_int_eq(cq_try_push(q, "full", 4), CQ_FULL);
	ck_assert_int_eq(cq_push_band(q, "x", 1, 3, 0), CQ_INVALID);
	ck_assert_int_eq(cq_length(q, &len), CQ_OK);
	ck_assert_int_eq(len, 4);

	/* Highest band first, then FIFO with the front push at the head. */
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_OK);
	ck_assert_str_eq((const char *)cq_msg_data(m), "hi");
	ck_assert_uint_eq(cq_msg_band(m), 2);
	ck_assert_uint_eq(cq_msg_deliveries(m), 1);
	ck_assert_uint_gt(cq_msg_enqueued_ns(m), 0);
	cq_msg_free(m);
	pop_expect(q, "zero");
	ck_assert_int_eq(cq_pop(q, &m, 0), CQ_OK);
	id1 = cq_msg_id(m);
	ck_assert_str_eq((const char *)cq_msg_data(m), "one");
	cq_msg_free(m);
	ck_assert_int_eq(cq_pop(q, &m, 0), CQ_OK);
	ck_assert_uint_eq(cq_msg_id(m), id1 + 1);
	cq_msg_free(m);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	ck_assert_ptr_null(m);

	/* push_many is all or nothing. */
	ck_assert_int_eq(cq_push(q, "w", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_push(q, "v", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_push_many(q, bufs, lens, 3, 0, 0), CQ_FULL);
	ck_assert_int_eq(cq_length(q, &len), CQ_OK);
	ck_assert_int_eq(len, 2);
	ck_assert_int_eq(cq_pop_many(q, ms, 4, &n, 0), CQ_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq((const char *)cq_msg_data(ms[0]), "w");
	ck_assert_str_eq((const char *)cq_msg_data(ms[1]), "v");
	cq_msg_free(ms[0]);
	cq_msg_free(ms[1]);
	ck_assert_int_eq(cq_push_many(q, bufs, lens, 3, 1, 0), CQ_OK);
	ck_assert_int_eq(cq_pop_many(q, ms, 2, &n, 0), CQ_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq((const char *)cq_msg_data(ms[0]), "x");
	ck_assert_uint_eq(cq_msg_band(ms[1]), 1);
	cq_msg_free(ms[0]);
	cq_msg_free(ms[1]);
	pop_expect(q, "z");

	/* Binary and empty messages, and one larger than max_size. */
	ck_assert_int_eq(cq_push(q, "a\0b\n", 4, 0), CQ_OK);
	ck_assert_int_eq(cq_push(q, "", 0, 0), CQ_OK);
	ck_assert_int_eq(cq_pop(q, &m, 0), CQ_OK);
	ck_assert_uint_eq(cq_msg_len(m), 4);
	ck_assert_mem_eq(cq_msg_data(m), "a\0b\n", 4);
	cq_msg_free(m);
	ck_assert_int_eq(cq_pop(q, &m, 0), CQ_OK);
	ck_assert_uint_eq(cq_msg_len(m), 0);
	cq_msg_free(m);
	memset(big, 'b', sizeof big);
	ck_assert_int_eq(cq_push(q, big, sizeof big, 0), CQ_TOOBIG);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_close_pause_resume_timeouts)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "q", 1, 1);
	cq_msg *m;
	int closed = -1;

	/* Timed ops time out (the status, not the elapsed time). */
	ck_assert_int_eq(cq_pop(q, &m, 50), CQ_TIMEDOUT);
	ck_assert_int_eq(cq_push(q, "a", 1, 50), CQ_OK);
	ck_assert_int_eq(cq_push(q, "b", 1, 50), CQ_TIMEDOUT);

	ck_assert_int_eq(cq_pause(q), CQ_OK);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	ck_assert_int_eq(cq_pop(q, &m, 50), CQ_TIMEDOUT);
	ck_assert_int_eq(cq_resume(q), CQ_OK);

	ck_assert_int_eq(cq_is_closed(q, &closed), CQ_OK);
	ck_assert_int_eq(closed, 0);
	ck_assert_int_eq(cq_close(q), CQ_OK);
	ck_assert_int_eq(cq_close(q), CQ_OK);
	ck_assert_int_eq(cq_is_closed(q, &closed), CQ_OK);
	ck_assert_int_eq(closed, 1);
	ck_assert_int_eq(cq_push(q, "c", 1, CQ_FOREVER), CQ_CLOSED);
	ck_assert_int_eq(cq_try_push(q, "c", 1), CQ_CLOSED);
	pop_expect(q, "a");
	ck_assert_int_eq(cq_pop(q, &m, CQ_FOREVER), CQ_CLOSED);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_CLOSED);
	cq_disconnect(c);
}
END_TEST

/* Child: connect, run one blocking op, report its status byte. */
static void
child_block(int fd, const char *name, int push)
{
	cq_client *c;
	cq_queue *q;
	cq_msg *m = NULL;
	unsigned char st;

	if (cq_connect(&c, tc_d.sock) != CQ_OK || cq_open(c, name, &q) != CQ_OK)
		_exit(99);
	if (push)
		st = (unsigned char)cq_push(q, "p", 1, CQ_FOREVER);
	else
		st = (unsigned char)cq_pop(q, &m, CQ_FOREVER);
	cq_msg_free(m);
	cq_disconnect(c);
	if (write(fd, &st, 1) != 1)
		_exit(98);
	_exit(0);
}

START_TEST(test_close_wakes_other_processes)
{
	cq_client *c = tc_conn();
	cq_queue *e = mkq(c, "empty", 4, 1), *f = mkq(c, "full", 1, 1);
	unsigned char st[4];
	pid_t pids[4];
	int p[2], i, ws;

	ck_assert_int_eq(cq_push(f, "x", 1, 0), CQ_OK);
	ck_assert_int_eq(pipe(p), 0);
	for (i = 0; i < 4; i++) {
		if ((pids[i] = fork()) == 0) {
			close(p[0]);
			child_block(p[1], i < 2 ? "empty" : "full", i >= 2);
		}
		ck_assert_int_gt(pids[i], 0);
	}
	close(p[1]);
	wait_waiting(e, 2, 0);
	wait_waiting(f, 0, 2);
	ck_assert_int_eq(cq_close(e), CQ_OK);
	ck_assert_int_eq(cq_close(f), CQ_OK);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(read(p[0], &st[i], 1), 1);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(st[i], CQ_CLOSED);
		ck_assert_int_eq(waitpid(pids[i], &ws, 0), pids[i]);
		ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	}
	close(p[0]);
	/* The queued message is still there for the drain. */
	pop_expect(f, "x");
	cq_disconnect(c);
}
END_TEST

/*
 * In a child: tell the parent what the pop got, then die inside the
 * callback, before the call that ran it returns and confirms the receipt.
 */
static void
die_in_pop_cb(cq_status st, cq_msg *m, void *arg)
{
	if (st != CQ_OK ||
	    write(*(int *)arg, cq_msg_data(m), cq_msg_len(m)) != 2)
		_exit(97);
	raise(SIGKILL);
	_exit(96);
}

START_TEST(test_killed_popper_message_returns)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "q", 4, 1);
	cq_msg *m;
	char got[8] = "";
	pid_t pid;
	int p[2], ws, i;

	ck_assert_int_eq(cq_push(q, "m1", 2, 0), CQ_OK);
	ck_assert_int_eq(cq_push(q, "m2", 2, 0), CQ_OK);
	ck_assert_int_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		cq_client *cc;
		cq_queue *cq;

		close(p[0]);
		if (cq_connect(&cc, tc_d.sock) != CQ_OK ||
		    cq_open(cc, "q", &cq) != CQ_OK ||
		    cq_pop_async(cq, 5000, die_in_pop_cb, &p[1], NULL) != CQ_OK)
			_exit(99);
		/* Process first: the pop is still in the output buffer. */
		for (;;) {
			struct pollfd pfd = {cq_client_fd(cc), POLLIN, 0};

			if (cq_client_process(cc) != CQ_OK ||
			    poll(&pfd, 1, -1) < 0)
				_exit(98);
		}
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], got, sizeof got - 1), 2);
	ck_assert_str_eq(got, "m1");
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
	close(p[0]);
	/*
	 * The daemon returns m1 once it sees the connection gone, which may
	 * be after waitpid: wait for that state (30 s hang bound).
	 */
	for (i = 0; i < 30000; i++) {
		cq_queue_stat st;

		ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
		if (st.in_flight == 0)
			break;
		usleep(1000);
	}
	ck_assert_int_lt(i, 30000);
	/* Back at the head of its band, delivered a second time. */
	ck_assert_int_eq(cq_pop(q, &m, 5000), CQ_OK);
	ck_assert_str_eq((const char *)cq_msg_data(m), "m1");
	ck_assert_uint_eq(cq_msg_deliveries(m), 2);
	cq_msg_free(m);
	pop_expect(q, "m2");
	cq_disconnect(c);
}
END_TEST

/* Async bookkeeping shared by the callbacks below. */
struct tally {
	int done;
	int ok, canceled, closed, other;
	int *seen; /* per message number: how often popped */
	int nseen;
	int last; /* last message number, to check order */
	int ordered;
	void *ctx;     /* for the callback's own use */
	cq_op *victim; /* cancelled from inside a callback */
	int victim_rc;
};

/* Count a push result. */
static void
push_cb(cq_status st, void *arg)
{
	struct tally *t = arg;

	t->done++;
	if (st == CQ_OK)
		t->ok++;
	else if (st == CQ_CLOSED)
		t->closed++;
	else if (st == CQ_CANCELED)
		t->canceled++;
	else
		t->other++;
}

/* Count a pop result and which message it carried. */
static void
pop_cb(cq_status st, cq_msg *m, void *arg)
{
	struct tally *t = arg;
	int k;

	t->done++;
	if (st == CQ_OK) {
		t->ok++;
		ck_assert_ptr_nonnull(m);
		k = atoi(cq_msg_data(m));
		if (k != t->last + 1)
			t->ordered = 0;
		t->last = k;
		if (t->seen != NULL && k >= 0 && k < t->nseen)
			t->seen[k]++;
		cq_msg_free(m);
	} else {
		ck_assert_ptr_null(m);
		if (st == CQ_CANCELED)
			t->canceled++;
		else if (st == CQ_CLOSED)
			t->closed++;
		else
			t->other++;
	}
}

START_TEST(test_daemon_killed_and_restarted)
{
	cq_client *c = NULL, *c2;
	cq_queue *q, *q2, *e;
	Conqueue__Reply *rep;
	cq_queue_stat st;
	struct tally t;
	int fd;

	/* What a socket client sees when the daemon dies (a direct handle
	 * keeps pushing: check_client_direct.c). */
	ck_assert_int_eq(
	    cq_connect_flags(&c, tc_d.sock, NULL, CQ_CONNECT_NO_DIRECT), CQ_OK);
	q = mkq(c, "keep", 8, 1);

	ck_assert_int_eq(cq_push(q, "a", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_push(q, "b", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_push(q, "c", 1, 0), CQ_OK);
	/* An async pop parked when the daemon dies. */
	memset(&t, 0, sizeof t);
	e = mkq(c, "empty", 4, 1);
	ck_assert_int_eq(cq_pop_async(e, CQ_FOREVER, pop_cb, &t, NULL), CQ_OK);
	wait_waiting(e, 1, 0);

	/* Popped but not confirmed: in flight when the daemon dies (the
	 * library confirms as it hands a message over, so a raw connection
	 * holds the receipt back). */
	ck_assert_int_ge(fd = rc_connect(tc_d.sock), 0);
	ck_assert_ptr_nonnull(rep = rc_pop(fd, "keep", 1, 0, 0));
	ck_assert_uint_eq(rep->status, CQ_OK);
	ck_assert_uint_eq(rep->n_msgs, 1);
	ck_assert_int_eq(rep->msgs[0]->data.data[0], 'a');
	conqueue__reply__free_unpacked(rep, NULL);

	tu_daemon_kill(&tc_d);
	close(fd);
	tc_run_until(c, &t.done, 1);
	ck_assert_int_eq(t.other, 1); /* CQ_DISCONNECTED */
	ck_assert_int_eq(cq_client_pending(c), 0);
	ck_assert_int_eq(cq_ping(c), CQ_DISCONNECTED);
	ck_assert_int_eq(cq_pop_async(e, 0, pop_cb, &t, NULL), CQ_DISCONNECTED);
	ck_assert_int_eq(cq_push(q, "d", 1, 0), CQ_DISCONNECTED);
	ck_assert_int_eq(cq_client_process(c), CQ_DISCONNECTED);
	ck_assert_int_eq(cq_client_events(c), 0);
	cq_disconnect(c);

	ck_assert_int_eq(tu_daemon_restart(&tc_d, NULL), 0);
	c2 = tc_conn();
	q2 = tc_openq(c2, "keep");
	ck_assert_int_eq(cq_stat(q2, &st), CQ_OK);
	ck_assert_uint_eq(st.length, 3);
	pop_expect(q2, "a");
	pop_expect(q2, "b");
	pop_expect(q2, "c");
	cq_disconnect(c2);
}
END_TEST

START_TEST(test_reserve_ack_release_touch)
{
	cq_client *c = tc_conn(), *o = tc_conn();
	cq_queue *q = mkq(c, "r", 4, 1), *oq = tc_openq(o, "r");
	cq_queue_stat st;
	cq_msg *m, *m2;
	uint64_t id;

	ck_assert_int_eq(cq_push(q, "job1", 4, 0), CQ_OK);
	ck_assert_int_eq(cq_push(q, "job2", 4, 0), CQ_OK);
	ck_assert_int_eq(cq_reserve(q, &m, 0, 10000), CQ_OK);
	id = cq_msg_id(m);
	ck_assert_str_eq((const char *)cq_msg_data(m), "job1");
	cq_msg_free(m);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.in_flight, 1);
	/* Only the reserving connection may act on it. */
	ck_assert_int_eq(cq_ack(oq, id), CQ_NOTFOUND);
	ck_assert_int_eq(cq_touch(q, id, 20000), CQ_OK);
	ck_assert_int_eq(cq_release(q, id), CQ_OK);
	ck_assert_int_eq(cq_reserve(q, &m, 0, 0), CQ_OK);
	ck_assert_uint_eq(cq_msg_id(m), id);
	ck_assert_uint_eq(cq_msg_deliveries(m), 2);
	ck_assert_int_eq(cq_ack(q, id), CQ_OK);
	ck_assert_int_eq(cq_ack(q, id), CQ_NOTFOUND);
	cq_msg_free(m);

	/* A detached reservation outlives its connection. */
	ck_assert_int_eq(cq_reserve_detached(oq, &m2, 0, 10000), CQ_OK);
	id = cq_msg_id(m2);
	cq_msg_free(m2);
	cq_disconnect(o);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.in_flight, 1);
	ck_assert_int_eq(cq_ack(q, id), CQ_OK);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.in_flight, 0);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_async_ten_thousand_in_flight)
{
	enum { N = 10000 };
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "many", N, 1);
	struct tally pt, ot;
	cq_queue_stat st;
	char buf[16];
	int i;

	memset(&pt, 0, sizeof pt);
	memset(&ot, 0, sizeof ot);
	ot.ordered = 1;
	ot.last = -1;
	ot.seen = calloc(N, sizeof(int));
	ot.nseen = N;
	for (i = 0; i < N; i++) {
		snprintf(buf, sizeof buf, "%d", i);
		ck_assert_int_eq(cq_push_async(q, buf, strlen(buf), 0,
		                     CQ_FOREVER, push_cb, &pt, NULL),
		    CQ_OK);
	}
	ck_assert_uint_eq(cq_client_pending(c), N);
	ck_assert_int_eq(cq_client_events(c) & CQ_WANT_WRITE, CQ_WANT_WRITE);
	ck_assert_int_eq(pt.done, 0); /* never from inside a submit */
	for (i = 0; i < N; i++)
		ck_assert_int_eq(
		    cq_pop_async(q, CQ_FOREVER, pop_cb, &ot, NULL), CQ_OK);
	tc_run_until(c, &ot.done, N);
	ck_assert_int_eq(pt.ok, N);
	ck_assert_int_eq(ot.ok, N);
	ck_assert_int_eq(ot.ordered, 1);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(ot.seen[i], 1);
	ck_assert_uint_eq(cq_client_pending(c), 0);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_uint_eq(st.in_flight, 0);
	free(ot.seen);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_async_pop_several_queues)
{
	cq_client *c = tc_conn(), *p = tc_conn();
	struct tally t[3];
	const char *names[3] = {"qa", "qb", "qc"};
	cq_queue *q[3];
	int64_t end;
	int i, total = 0;

	memset(t, 0, sizeof t);
	for (i = 0; i < 3; i++) {
		cq_queue_free(mkq(p, names[i], 4, 1));
		q[i] = tc_openq(c, names[i]);
		t[i].last = i - 1;
		t[i].ordered = 1;
		ck_assert_int_eq(
		    cq_pop_async(q[i], CQ_FOREVER, pop_cb, &t[i], NULL), CQ_OK);
	}
	cq_client_process(c); /* send them */
	for (i = 2; i >= 0; i--) {
		char buf[16];
		cq_queue *pq = tc_openq(p, names[i]);
		snprintf(buf, sizeof buf, "%d", i);
		ck_assert_int_eq(cq_push(pq, buf, strlen(buf), 0), CQ_OK);
	}
	end = tu_now_ms() + 10000;
	while ((total = t[0].done + t[1].done + t[2].done) < 3) {
		struct pollfd pfd = {cq_client_fd(c), POLLIN, 0};

		ck_assert_msg(tu_now_ms() < end, "only %d pops done", total);
		poll(&pfd, 1, 100);
		cq_client_process(c);
	}
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(t[i].ok, 1);
		ck_assert_int_eq(t[i].last, i); /* its own queue's message */
	}
	cq_disconnect(p);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_cancel_parked_pop_loses_nothing)
{
	cq_client *c = tc_conn(), *o = tc_conn();
	cq_queue *q = mkq(c, "q", 4, 1), *oq = tc_openq(o, "q");
	struct tally t;
	cq_op *op;

	memset(&t, 0, sizeof t);
	ck_assert_int_eq(cq_pop_async(q, CQ_FOREVER, pop_cb, &t, &op), CQ_OK);
	ck_assert_ptr_nonnull(op);
	cq_client_process(c);
	wait_waiting(oq, 1, 0);
	ck_assert_int_eq(cq_op_cancel(op), CQ_OK);
	ck_assert_int_eq(t.done, 0); /* not re-entrant */
	tc_run_until(c, &t.done, 1);
	ck_assert_int_eq(t.canceled, 1);
	ck_assert_uint_eq(cq_client_pending(c), 0);
	ck_assert_int_eq(cq_push(oq, "7", 1, 0), CQ_OK);
	pop_expect(oq, "7");
	cq_disconnect(o);
	cq_disconnect(c);
}
END_TEST

/*
 * A forked child inherits its parent's client handles and _exits without
 * freeing them (freeing would talk on the parent's socket): keep them
 * reachable so valgrind's leak check of the child does not count them.
 */
static cq_client *volatile inherited_by_children;

START_TEST(test_cancel_racing_completion)
{
	enum { N = 300 };
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "race", N, 1);
	struct tally t;
	cq_op *op;
	cq_msg *m;
	pid_t pid;
	int i, ws, k, target;

	memset(&t, 0, sizeof t);
	t.seen = calloc(N, sizeof(int));
	t.nseen = N;
	/* A producer in another process pushes while we pop and cancel. */
	inherited_by_children = c;
	if ((pid = fork()) == 0) {
		cq_client *pc;
		cq_queue *pq;
		char buf[16];

		if (cq_connect(&pc, tc_d.sock) != CQ_OK ||
		    cq_open(pc, "race", &pq) != CQ_OK)
			_exit(99);
		for (i = 0; i < N; i++) {
			snprintf(buf, sizeof buf, "%d", i);
			if (cq_push(pq, buf, strlen(buf), CQ_FOREVER) != CQ_OK)
				_exit(98);
		}
		cq_disconnect(pc);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	for (i = 0; i < 2 * N; i++) {
		ck_assert_int_eq(
		    cq_pop_async(q, CQ_FOREVER, pop_cb, &t, &op), CQ_OK);
		target = t.done + 1;
		if (i % 3 != 0)
			cq_client_process(c); /* let the pop out first */
		/* The handle is valid until its callback has run. */
		if (t.done < target)
			ck_assert_int_eq(cq_op_cancel(op), CQ_OK);
		tc_run_until(c, &t.done, target);
	}
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	ck_assert_int_eq(t.other, 0);
	ck_assert_int_eq(t.ok + t.canceled, 2 * N);
	while (cq_try_pop(q, &m) == CQ_OK) {
		k = atoi(cq_msg_data(m));
		ck_assert(k >= 0 && k < N);
		t.seen[k]++;
		cq_msg_free(m);
	}
	for (k = 0; k < N; k++)
		ck_assert_msg(
		    t.seen[k] == 1, "message %d seen %d times", k, t.seen[k]);
	free(t.seen);
	cq_disconnect(c);
}
END_TEST

/* A callback that cancels another op, twice. */
static void
cancel_other_cb(cq_status st, void *arg)
{
	struct tally *t = arg;

	t->victim_rc = cq_op_cancel(t->victim);
	if (t->victim_rc == CQ_OK)
		t->victim_rc = cq_op_cancel(t->victim);
	push_cb(st, arg);
}

/* A pop callback that cancels its own (finished) op: harmless. */
static void
cancel_self_cb(cq_status st, cq_msg *m, void *arg)
{
	struct tally *t = arg;

	ck_assert_int_eq(cq_op_cancel(t->victim), CQ_OK);
	pop_cb(st, m, arg);
}

START_TEST(test_cancel_in_callback_and_twice)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "q", 4, 1), *e = mkq(c, "e", 4, 1);
	struct tally pt, vt;
	cq_op *op;

	memset(&pt, 0, sizeof pt);
	memset(&vt, 0, sizeof vt);
	ck_assert_int_eq(cq_pop_async(e, CQ_FOREVER, pop_cb, &vt, &op), CQ_OK);
	pt.victim = op;
	ck_assert_int_eq(
	    cq_push_async(q, "1", 1, 0, CQ_FOREVER, cancel_other_cb, &pt, NULL),
	    CQ_OK);
	tc_run_until(c, &vt.done, 1);
	ck_assert_int_eq(pt.victim_rc, CQ_OK);
	ck_assert_int_eq(pt.ok, 1);
	ck_assert_int_eq(vt.canceled, 1);
	ck_assert_int_eq(vt.done, 1); /* exactly once */

	memset(&vt, 0, sizeof vt);
	vt.last = 0;
	ck_assert_int_eq(
	    cq_pop_async(q, CQ_FOREVER, cancel_self_cb, &vt, &vt.victim),
	    CQ_OK);
	tc_run_until(c, &vt.done, 1);
	ck_assert_int_eq(vt.ok, 1);
	ck_assert_int_eq(cq_ping(c), CQ_OK);
	ck_assert_int_eq(vt.done, 1);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_disconnect_with_pending_ops)
{
	cq_client *c = tc_conn(), *o = tc_conn();
	cq_queue *q = mkq(c, "q", 1, 1), *e = mkq(c, "e", 4, 1);
	cq_queue *oq = tc_openq(o, "q"), *oe = tc_openq(o, "e");
	struct tally got, pend, pushes;
	cq_queue_stat st;
	int i;

	memset(&got, 0, sizeof got);
	memset(&pend, 0, sizeof pend);
	memset(&pushes, 0, sizeof pushes);
	ck_assert_int_eq(cq_push(q, "0", 1, 0), CQ_OK);
	/* One pop that gets its message (callback run, receipt pending). */
	ck_assert_int_eq(
	    cq_pop_async(q, CQ_FOREVER, pop_cb, &got, NULL), CQ_OK);
	tc_run_until(c, &got.done, 1);
	ck_assert_int_eq(got.ok, 1);
	ck_assert_int_eq(cq_push(q, "x", 1, 0), CQ_OK);
	/* Parked ops of both kinds. */
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(
		    cq_pop_async(e, CQ_FOREVER, pop_cb, &pend, NULL), CQ_OK);
	ck_assert_int_eq(
	    cq_push_async(q, "y", 1, 0, CQ_FOREVER, push_cb, &pushes, NULL),
	    CQ_OK);
	cq_client_process(c);
	wait_waiting(oe, 3, 0);
	wait_waiting(oq, 0, 1);
	cq_disconnect(c);
	ck_assert_int_eq(pend.canceled, 3);
	ck_assert_int_eq(pend.done, 3);
	ck_assert_int_eq(pushes.canceled, 1);
	/* The receipt went out first: "0" is gone for good, "x" stays. */
	wait_waiting(oe, 0, 0);
	wait_waiting(oq, 0, 0);
	ck_assert_int_eq(cq_stat(oq, &st), CQ_OK);
	ck_assert_uint_eq(st.in_flight, 0);
	ck_assert_uint_eq(st.length, 1);
	pop_expect(oq, "x");
	cq_disconnect(o);
}
END_TEST

START_TEST(test_close_completes_parked_async_ops)
{
	cq_client *c = tc_conn(), *o = tc_conn();
	cq_queue *f = mkq(c, "f", 2, 1), *e = mkq(c, "e", 2, 1);
	cq_queue *of = tc_openq(o, "f"), *oe = tc_openq(o, "e");
	struct tally pushes, pops, drain;
	int i;

	memset(&pushes, 0, sizeof pushes);
	memset(&pops, 0, sizeof pops);
	memset(&drain, 0, sizeof drain);
	ck_assert_int_eq(cq_push(f, "0", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_push(f, "1", 1, 0), CQ_OK);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(cq_push_async(f, "p", 1, 0, CQ_FOREVER,
		                     push_cb, &pushes, NULL),
		    CQ_OK);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(
		    cq_pop_async(e, CQ_FOREVER, pop_cb, &pops, NULL), CQ_OK);
	cq_client_process(c);
	wait_waiting(of, 0, 2);
	wait_waiting(oe, 3, 0);
	ck_assert_int_eq(cq_close(of), CQ_OK);
	ck_assert_int_eq(cq_close(oe), CQ_OK);
	tc_run_until(c, &pushes.done, 2);
	tc_run_until(c, &pops.done, 3);
	ck_assert_int_eq(pushes.closed, 2);
	ck_assert_int_eq(pops.closed, 3);
	/* The closed queue still drains, then says closed. */
	drain.last = -1;
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(
		    cq_pop_async(f, CQ_FOREVER, pop_cb, &drain, NULL), CQ_OK);
	tc_run_until(c, &drain.done, 3);
	ck_assert_int_eq(drain.ok, 2);
	ck_assert_int_eq(drain.last, 1);
	ck_assert_int_eq(drain.closed, 1);
	cq_disconnect(o);
	cq_disconnect(c);
}
END_TEST

/* Stop the libevent loop once the tally is complete. */
static void
event_pop_cb(cq_status st, cq_msg *m, void *arg)
{
	struct tally *t = arg;

	pop_cb(st, m, arg);
	if (t->done == 100)
		event_base_loopbreak(t->ctx);
}

START_TEST(test_libevent_adapter)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "ev", 100, 1);
	struct event_base *base = event_base_new();
	struct tally pt, ot;
	char buf[8];
	int i;

	memset(&pt, 0, sizeof pt);
	memset(&ot, 0, sizeof ot);
	ot.ordered = 1;
	ot.last = -1;
	ot.ctx = base;
	ck_assert_ptr_nonnull(base);
	ck_assert_int_eq(cq_event_attach(c, base), CQ_OK);
	ck_assert_int_eq(cq_event_attach(c, base), CQ_INVALID);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(
		    cq_pop_async(q, CQ_FOREVER, event_pop_cb, &ot, NULL),
		    CQ_OK);
	for (i = 0; i < 100; i++) {
		snprintf(buf, sizeof buf, "%d", i);
		ck_assert_int_eq(cq_push_async(q, buf, strlen(buf), 0,
		                     CQ_FOREVER, push_cb, &pt, NULL),
		    CQ_OK);
	}
	ck_assert_int_eq(event_base_dispatch(base), 0);
	ck_assert_int_eq(ot.ok, 100);
	ck_assert_int_eq(ot.ordered, 1);
	ck_assert_int_eq(pt.ok, 100);
	cq_event_detach(c);
	cq_event_detach(c);
	event_base_free(base);
	cq_disconnect(c);
}
END_TEST

/* Send a fake daemon's reply; a failure ends the fake with status 90. */
static void
fake_send(int fd, Conqueue__Reply *r)
{
	if (rc_send_reply(fd, r) != 0)
		_exit(90);
}

/*
 * A fake daemon that never answers pops: the client's safety net must end
 * the pop with CQ_TIMEDOUT after timeout + 2 s, send Cancel, and reject
 * the pop reply that then arrives late. It reports 'R' on pipe end
 * ((int *)arg)[1] once the late pop reply is rejected.
 */
static void
fake_serve(int lfd, void *arg)
{
	Conqueue__Request *req;
	Conqueue__Reply r;
	Conqueue__Welcome w;
	Conqueue__Limits l;
	Conqueue__Msg msg = CONQUEUE__MSG__INIT, *msgs[1] = {&msg};
	uint64_t pop_id = 0;
	size_t i;
	int report = ((int *)arg)[1];
	int fd = accept(lfd, NULL, NULL);

	rc_welcome(&w, &l);
	msg.id = 42;
	msg.data.data = (uint8_t *)(uintptr_t) "late";
	msg.data.len = 4;
	while (rc_read_request(fd, &req) == 0) {
		for (i = 0; i < req->n_reject; i++) {
			if (pop_id != 0 && req->reject[i] == pop_id) {
				if (write(report, "R", 1) != 1)
					_exit(91);
				_exit(0);
			}
		}
		conqueue__reply__init(&r);
		r.id = req->id;
		r.status = CQ_OK;
		if (req->op_case == CONQUEUE__REQUEST__OP_HELLO)
			r.welcome = &w;
		if (req->op_case == CONQUEUE__REQUEST__OP_POP) {
			pop_id = req->id;
			conqueue__request__free_unpacked(req, NULL);
			continue; /* never answered in time */
		}
		if (req->op_case == CONQUEUE__REQUEST__OP_CANCEL) {
			Conqueue__Reply late;

			conqueue__reply__init(&late);
			late.id = req->cancel->target;
			late.status = CQ_OK;
			late.n_msgs = 1;
			late.msgs = msgs;
			fake_send(fd, &late); /* crossed with the Cancel */
			r.status = CQ_NOTFOUND;
		}
		if (req->id != 0)
			fake_send(fd, &r);
		conqueue__request__free_unpacked(req, NULL);
	}
	_exit(92);
}

START_TEST(test_local_safety_net_rejects_late_reply)
{
	char path[300];
	cq_client *c;
	cq_queue *q;
	cq_msg *m = NULL;
	char res = 0;
	pid_t pid;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	pid = tu_fake_start(
	    tc_d.dir, "fake.sock", path, sizeof path, fake_serve, p);
	ck_assert_int_gt(pid, 0);
	close(p[1]);
	ck_assert_int_eq(cq_connect(&c, path), CQ_OK);
	ck_assert_int_eq(cq_open(c, "q", &q), CQ_OK);
	ck_assert_int_eq(cq_pop(q, &m, 100), CQ_TIMEDOUT);
	ck_assert_ptr_null(m);
	/* The next exchange reads the late reply and rejects it. */
	ck_assert_int_eq(cq_ping(c), CQ_OK);
	ck_assert_int_eq(read(p[0], &res, 1), 1);
	ck_assert_int_eq(res, 'R');
	ck_assert(tu_fake_wait(pid));
	close(p[0]);
	cq_disconnect(c);
}
END_TEST

/* Start the test daemon with a config file of our own. */
static void
setup_limits(void)
{
	const char *conf =
	    tu_write_config("max_connections = 2\nmax_pending_per_conn = 40\n");
	const char *extra[] = {"-c", conf, NULL};

	tc_setup_args(extra);
	unlink(conf);
}

/* One async op's own result, for tests that cancel many ops. */
struct slot {
	int done;
	cq_status st;
};
static int slot_total;

/* Record a pop's result in its slot. */
static void
slot_cb(cq_status st, cq_msg *m, void *arg)
{
	struct slot *sl = arg;

	sl->done++;
	sl->st = st;
	slot_total++;
	cq_msg_free(m);
}

START_TEST(test_daemon_limits)
{
	enum { N = 500 };
	cq_client *c = tc_conn(), *c2 = tc_conn(), *c3 = NULL;
	cq_queue *q = mkq(c, "lim", N, 1);
	struct tally pt, ot;
	char buf[16];
	int i;

	/* A refused connection says why: CQ_LIMIT. */
	ck_assert_int_eq(cq_connect(&c3, tc_d.sock), CQ_LIMIT);
	ck_assert_ptr_null(c3);

	/* Far more ops than the daemon's pending limit: the library holds
	 * the rest back instead of getting CQ_LIMIT. */
	memset(&pt, 0, sizeof pt);
	memset(&ot, 0, sizeof ot);
	ot.ordered = 1;
	ot.last = -1;
	for (i = 0; i < N; i++)
		ck_assert_int_eq(
		    cq_pop_async(q, CQ_FOREVER, pop_cb, &ot, NULL), CQ_OK);
	for (i = 0; i < N; i++) {
		snprintf(buf, sizeof buf, "%d", i);
		ck_assert_int_eq(cq_push_async(q, buf, strlen(buf), 0,
		                     CQ_FOREVER, push_cb, &pt, NULL),
		    CQ_OK);
	}
	/* The pops park first and fill the window: a second connection
	 * feeds them until the pushes get their turn. */
	{
		cq_queue *q2 = tc_openq(c2, "lim");
		for (i = 0; i < N && ot.done < N; i++) {
			ck_assert_int_eq(cq_client_process(c), CQ_OK);
			if (cq_push(q2, "x", 1, 0) != CQ_OK)
				break;
		}
	}
	tc_run_until(c, &ot.done, N);
	tc_run_until(c, &pt.done, N);
	ck_assert_int_eq(ot.other, 0);
	ck_assert_int_eq(pt.other, 0);
	ck_assert_int_eq(ot.ok, N);
	ck_assert_int_eq(pt.ok, N);

	/* Parked pops fill the pending limit and more wait in the backlog:
	 * a blocking call and the cancels still get through. */
	{
		enum { M = 100 };
		cq_queue *e = mkq(c, "lim.e", 4, 1);
		struct slot sl[M];
		cq_op *ops[M];
		int ok = 0, canceled = 0;

		memset(sl, 0, sizeof sl);
		slot_total = 0;
		for (i = 0; i < M; i++)
			ck_assert_int_eq(cq_pop_async(e, CQ_FOREVER, slot_cb,
			                     &sl[i], &ops[i]),
			    CQ_OK);
		ck_assert_int_eq(cq_push(e, "m", 1, 1000), CQ_OK);
		for (i = 0; i < M; i++)
			if (!sl[i].done)
				ck_assert_int_eq(cq_op_cancel(ops[i]), CQ_OK);
		tc_run_until(c, &slot_total, M);
		for (i = 0; i < M; i++) {
			ck_assert_int_eq(sl[i].done, 1);
			ok += sl[i].st == CQ_OK;
			canceled += sl[i].st == CQ_CANCELED;
		}
		ck_assert_int_eq(ok, 1);
		ck_assert_int_eq(canceled, M - 1);
		ck_assert_int_eq(cq_ping(c), CQ_OK);
	}
	cq_disconnect(c2);
	cq_disconnect(c);
}
END_TEST

/* A daemon whose socket anyone may connect to (for the access test). */
static void
setup_open_socket(void)
{
	const char *extra[] = {"-m", "0666", NULL};

	tc_setup_args(extra);
	ck_assert_int_eq(chmod(tc_d.dir, 0755), 0);
}

START_TEST(test_access_denied_for_other_uid)
{
	cq_client *c;
	cq_queue *q;
	pid_t pid;
	int ws;

	c = tc_conn();
	q = mkq(c, "private", 4, 1);
	ck_assert_int_eq(cq_push(q, "secret", 6, 0), CQ_OK);
	ck_assert_int_eq(cq_create(c, "public", NULL), CQ_OK);
	{
		cq_queue *pq = tc_openq(c, "public");
		ck_assert_int_eq(cq_chmod(pq, 0666), CQ_OK);
	}
	inherited_by_children = c;
	if ((pid = fork()) == 0) {
		cq_client *oc;
		cq_queue *oq;
		cq_msg *m;

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(90);
		if (cq_connect(&oc, tc_d.sock) != CQ_OK)
			_exit(91);
		if (cq_open(oc, "private", &oq) != CQ_DENIED)
			_exit(92);
		if (cq_delete(oc, "private") != CQ_DENIED)
			_exit(93);
		if (cq_open(oc, "public", &oq) != CQ_OK ||
		    cq_push(oq, "hi", 2, 0) != CQ_OK ||
		    cq_pop(oq, &m, 0) != CQ_OK)
			_exit(94);
		cq_msg_free(m);
		/* Owner-only operations. */
		if (cq_close(oq) != CQ_DENIED ||
		    cq_chmod(oq, 0600) != CQ_DENIED)
			_exit(95);
		cq_disconnect(oc);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
	    "other-uid child failed at step %d", WEXITSTATUS(ws));
	pop_expect(q, "secret");
	cq_disconnect(c);
}
END_TEST

/* 1: a daemon of another protocol version; 2: garbage. */
static void
fake_old(int lfd, void *arg)
{
	Conqueue__Request *req;
	Conqueue__Reply r;
	int round;

	(void)arg;
	for (round = 1; round <= 2; round++) {
		int fd = accept(lfd, NULL, NULL);

		if (rc_read_request(fd, &req) != 0)
			_exit(80);
		if (round == 1) {
			conqueue__reply__init(&r);
			r.id = req->id;
			r.status = CQ_PROTOCOL;
			r.detail = (char *)(uintptr_t) "protocol version "
			                               "mismatch: daemon "
			                               "speaks 2";
			fake_send(fd, &r);
		} else if (write(fd, "\0\0\0\3xyz", 7) != 7) {
			_exit(81);
		}
		conqueue__request__free_unpacked(req, NULL);
		close(fd);
	}
}

START_TEST(test_protocol_mismatch_and_garbage)
{
	char path[300];
	cq_client *c = NULL;
	pid_t pid;

	pid = tu_fake_start(
	    tc_d.dir, "old.sock", path, sizeof path, fake_old, NULL);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(cq_connect(&c, path), CQ_PROTOCOL);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(cq_connect(&c, path), CQ_PROTOCOL);
	ck_assert_ptr_null(c);
	ck_assert(tu_fake_wait(pid));
}
END_TEST

/* Send raw reply bytes: "id" (a varint of id) then tail. */
static void
fake_send_raw(int fd, uint64_t id, const char *tail, size_t tail_len)
{
	uint8_t buf[64], *p = buf + 4;

	*p++ = 0x08; /* id, varint */
	do {
		*p++ = (uint8_t)((id & 0x7f) | (id >= 0x80 ? 0x80 : 0));
		id >>= 7;
	} while (id != 0);
	memcpy(p, tail, tail_len);
	p += tail_len;
	frame_put_len(buf, (uint32_t)(p - buf - 4));
	if (write(fd, buf, (size_t)(p - buf)) != p - buf)
		_exit(70);
}

/*
 * A daemon whose replies to async ops are malformed. Connection 1: the
 * first push gets an unusual but valid reply (status before id, a
 * two-byte tag), the second one a duplicate status; connection 2: a pop
 * gets a message without its (required) data.
 */
static void
fake_bad_replies(int lfd, void *arg)
{
	Conqueue__Request *req;
	Conqueue__Reply r;
	Conqueue__Welcome w;
	Conqueue__Limits l;
	int round, npush, fd;

	(void)arg;
	rc_welcome(&w, &l);
	for (round = 1; round <= 2; round++) {
		fd = accept(lfd, NULL, NULL);
		npush = 0;
		while (rc_read_request(fd, &req) == 0) {
			if (req->op_case == CONQUEUE__REQUEST__OP_PUSH &&
			    ++npush == 1) {
				/* status, then id with a two-byte tag */
				uint8_t ok[9] = {
				    0, 0, 0, 5, 0x10, 0x00, 0x88, 0x00, 0};

				if (req->id >= 0x80)
					_exit(71);
				ok[8] = (uint8_t)req->id;
				if (write(fd, ok, sizeof ok) != sizeof ok)
					_exit(72);
			} else if (req->op_case == CONQUEUE__REQUEST__OP_PUSH) {
				fake_send_raw(
				    fd, req->id, "\x10\x00\x10\x00", 4);
			} else if (req->op_case == CONQUEUE__REQUEST__OP_POP) {
				/* msgs { id: 1 } without data */
				fake_send_raw(
				    fd, req->id, "\x10\x00\x2a\x02\x08\x01", 6);
			} else if (req->id != 0) {
				conqueue__reply__init(&r);
				r.id = req->id;
				r.status = CQ_OK;
				if (req->op_case == CONQUEUE__REQUEST__OP_HELLO)
					r.welcome = &w;
				fake_send(fd, &r);
			}
			conqueue__request__free_unpacked(req, NULL);
		}
		close(fd);
	}
	_exit(0);
}

/* An async push's result. */
static void
bad_push_cb(cq_status st, void *arg)
{
	struct slot *sl = arg;

	sl->done++;
	sl->st = st;
	slot_total++;
}

START_TEST(test_malformed_async_replies_rejected)
{
	char path[300];
	struct slot s1 = {0, CQ_OK}, s2 = {0, CQ_OK}, s3 = {0, CQ_OK};
	cq_client *c;
	cq_queue *q;
	pid_t pid;

	pid = tu_fake_start(
	    tc_d.dir, "bad.sock", path, sizeof path, fake_bad_replies, NULL);
	ck_assert_int_gt(pid, 0);
	slot_total = 0;

	ck_assert_int_eq(cq_connect(&c, path), CQ_OK);
	ck_assert_int_eq(cq_open(c, "q", &q), CQ_OK);
	ck_assert_int_eq(
	    cq_push_async(q, "a", 1, 0, -1, bad_push_cb, &s1, NULL), CQ_OK);
	tc_run_until(c, &slot_total, 1);
	ck_assert_int_eq(s1.st, CQ_OK); /* unusual, valid: accepted */
	ck_assert_int_eq(
	    cq_push_async(q, "b", 1, 0, -1, bad_push_cb, &s2, NULL), CQ_OK);
	tc_run_until(c, &slot_total, 2);
	ck_assert_int_eq(s2.done, 1);
	ck_assert_int_eq(s2.st, CQ_DISCONNECTED);
	ck_assert_int_eq(cq_client_process(c), CQ_DISCONNECTED);
	ck_assert_ptr_nonnull(strstr(cq_client_error(c), "duplicate field"));
	cq_disconnect(c);

	ck_assert_int_eq(cq_connect(&c, path), CQ_OK);
	ck_assert_int_eq(cq_open(c, "q", &q), CQ_OK);
	ck_assert_int_eq(cq_pop_async(q, -1, slot_cb, &s3, NULL), CQ_OK);
	tc_run_until(c, &slot_total, 3);
	ck_assert_int_eq(s3.done, 1);
	ck_assert_int_eq(s3.st, CQ_DISCONNECTED);
	ck_assert_int_eq(cq_client_process(c), CQ_DISCONNECTED);
	ck_assert_ptr_nonnull(strstr(cq_client_error(c), "undecodable"));
	cq_disconnect(c);

	ck_assert(tu_fake_wait(pid));
}
END_TEST

/* Return once pid sleeps (state S in /proc/pid/stat), bounded. */
static void
fake_wait_asleep(pid_t pid)
{
	char path[64], buf[512];
	const char *p;
	int64_t end = tu_now_ms() + 10000;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	while (tu_now_ms() < end) {
		if ((fd = open(path, O_RDONLY)) < 0)
			_exit(60);
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if ((p = strrchr(buf, ')')) != NULL && p[1] == ' ' &&
		    p[2] == 'S')
			return;
		poll(NULL, 0, 1);
	}
	_exit(61);
}

/* pid's voluntary context switches so far (how often it slept). */
static long
fake_sleeps(pid_t pid)
{
	char path[64], line[128];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		_exit(62);
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * Send r in two writes: the header and the first byte, then, once the
 * client has woken for them and gone back to sleep, the rest.
 */
static void
fake_send_split(int fd, Conqueue__Reply *r, pid_t client)
{
	size_t n = conqueue__reply__get_packed_size(r);
	uint8_t *buf = malloc(n + 4);
	int64_t end = tu_now_ms() + 10000;
	long slept;

	frame_put_len(buf, (uint32_t)n);
	conqueue__reply__pack(r, buf + 4);
	fake_wait_asleep(client);
	slept = fake_sleeps(client);
	if (write(fd, buf, 5) != 5)
		_exit(63);
	while (fake_sleeps(client) == slept && tu_now_ms() < end)
		poll(NULL, 0, 1);
	fake_wait_asleep(client);
	if (write(fd, buf + 5, n - 1) != (ssize_t)(n - 1))
		_exit(64);
	free(buf);
}

/* Bytes a request names its queue by ("" if none). */
static int
fake_named(const Conqueue__Request *req, const char *name)
{
	const ProtobufCBinaryData *b = NULL;

	if (req->op_case == CONQUEUE__REQUEST__OP_PUSH)
		b = &req->push->name;
	else if (req->op_case == CONQUEUE__REQUEST__OP_POP)
		b = &req->pop->name;
	else if (req->op_case == CONQUEUE__REQUEST__OP_MSG_OP)
		b = &req->msg_op->name;
	return b != NULL && b->len == strlen(name) &&
	       memcmp(b->data, name, b->len) == 0;
}

/*
 * A daemon scripted by queue name, for the replies of blocking calls:
 * "full" pops get a message with every field, sent in two pieces; "none"
 * pops an OK without a message; "err" pushes and acks a failure with
 * detail and errno; "sig" pops signal the client (SIGUSR1) while it waits and
 * answer once its handler wrote to sigfd. Anything else: a plain OK.
 */
static void
fake_blocking(int lfd, void *arg)
{
	Conqueue__Request *req;
	Conqueue__Reply r;
	Conqueue__Welcome w;
	Conqueue__Limits l;
	Conqueue__Msg msg = CONQUEUE__MSG__INIT, *msgs[1] = {&msg};
	pid_t client = getppid();
	char b;
	int sigfd = ((int *)arg)[0]; /* the read end of the test's pipe */
	int fd = accept(lfd, NULL, NULL);

	rc_welcome(&w, &l);
	while (rc_read_request(fd, &req) == 0) {
		conqueue__reply__init(&r);
		conqueue__msg__init(&msg);
		r.id = req->id;
		r.status = CQ_OK;
		if (req->op_case == CONQUEUE__REQUEST__OP_HELLO)
			r.welcome = &w;
		if (fake_named(req, "full") || fake_named(req, "sig")) {
			msg.id = 300;
			msg.data.data = (uint8_t *)(uintptr_t) "abc";
			msg.data.len = 3;
			msg.has_band = msg.has_deliveries = 1;
			msg.band = 3;
			msg.deliveries = 2;
			msg.has_enqueued_ns = 1;
			msg.enqueued_ns = 1234567890123ull;
			r.n_msgs = 1;
			r.msgs = msgs;
		}
		if (fake_named(req, "err")) {
			r.status = CQ_SYSTEM;
			r.detail = (char *)(uintptr_t) "disk on fire";
			r.has_sys_errno = 1;
			r.sys_errno = EIO;
		}
		if (fake_named(req, "sig")) {
			fake_wait_asleep(client);
			if (kill(client, SIGUSR1) != 0 ||
			    read(sigfd, &b, 1) != 1)
				_exit(65);
			fake_wait_asleep(client);
		}
		if (fake_named(req, "full"))
			fake_send_split(fd, &r, client);
		else if (req->id != 0)
			fake_send(fd, &r);
		conqueue__request__free_unpacked(req, NULL);
	}
	_exit(0);
}

static int sig_fd = -1;
static volatile sig_atomic_t sig_count;

/* SIGUSR1 while a blocking call waits: count it, tell the fake. */
static void
sig_handler(int sig)
{
	int saved = errno;

	(void)sig;
	sig_count++;
	if (write(sig_fd, "s", 1) != 1)
		_exit(66);
	errno = saved;
}

/* Check a message is the fake's "abc" with every field set. */
static void
fake_msg_check(cq_msg *m)
{
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(cq_msg_len(m), 3);
	ck_assert_mem_eq(cq_msg_data(m), "abc", 4); /* with the NUL */
	ck_assert_uint_eq(cq_msg_id(m), 300);
	ck_assert_uint_eq(cq_msg_band(m), 3);
	ck_assert_uint_eq(cq_msg_deliveries(m), 2);
	ck_assert_uint_eq(cq_msg_enqueued_ns(m), 1234567890123ull);
	cq_msg_free(m);
}

/*
 * Blocking calls take their replies decoded in place: every field of a
 * message, a failure's detail and errno, an OK pop without a message
 * (a protocol error). A reply in two pieces and a signal during the wait
 * (no SA_RESTART) do not disturb them, with or without a deadline.
 */
START_TEST(test_blocking_call_replies)
{
	char path[300];
	struct sigaction act;
	cq_client *c;
	cq_queue *qfull, *qnone, *qerr, *qsig;
	const void *bufs[2] = {"x", "yz"};
	size_t lens[2] = {1, 2};
	cq_msg *m = NULL;
	pid_t pid;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	pid = tu_fake_start(
	    tc_d.dir, "blk.sock", path, sizeof path, fake_blocking, p);
	ck_assert_int_gt(pid, 0);
	close(p[0]);
	sig_fd = p[1];
	memset(&act, 0, sizeof act);
	act.sa_handler = sig_handler;
	sigemptyset(&act.sa_mask);
	act.sa_flags = 0; /* no SA_RESTART: the wait sees EINTR */
	ck_assert_int_eq(sigaction(SIGUSR1, &act, NULL), 0);

	ck_assert_int_eq(cq_connect(&c, path), CQ_OK);
	ck_assert_int_eq(cq_open(c, "full", &qfull), CQ_OK);
	ck_assert_int_eq(cq_open(c, "none", &qnone), CQ_OK);
	ck_assert_int_eq(cq_open(c, "err", &qerr), CQ_OK);
	ck_assert_int_eq(cq_open(c, "sig", &qsig), CQ_OK);

	ck_assert_int_eq(cq_pop(qfull, &m, CQ_FOREVER), CQ_OK);
	fake_msg_check(m);
	m = NULL;
	ck_assert_int_eq(cq_pop(qfull, &m, 5000), CQ_OK);
	fake_msg_check(m);
	m = NULL;
	ck_assert_int_eq(cq_try_pop(qfull, &m), CQ_OK);
	fake_msg_check(m);

	ck_assert_int_eq(cq_pop(qnone, &m, CQ_FOREVER), CQ_PROTOCOL);
	ck_assert_ptr_null(m);
	ck_assert_str_eq(cq_client_error(c), "pop reply without messages");

	ck_assert_int_eq(cq_push(qerr, "x", 1, CQ_FOREVER), CQ_SYSTEM);
	ck_assert_str_eq(cq_client_error(c), "disk on fire");
	ck_assert_int_eq(cq_client_errno(c), EIO);
	ck_assert_int_eq(cq_try_push(qerr, "x", 1), CQ_SYSTEM);
	ck_assert_str_eq(cq_client_error(c), "disk on fire");
	ck_assert_int_eq(
	    cq_push_many(qerr, bufs, lens, 2, 0, CQ_FOREVER), CQ_SYSTEM);
	ck_assert_str_eq(cq_client_error(c), "disk on fire");
	ck_assert_int_eq(cq_client_errno(c), EIO);
	ck_assert_int_eq(cq_ack(qerr, 5), CQ_SYSTEM);
	ck_assert_str_eq(cq_client_error(c), "disk on fire");
	ck_assert_int_eq(cq_client_errno(c), EIO);
	ck_assert_int_eq(
	    cq_push_many(qnone, bufs, lens, 2, 0, CQ_FOREVER), CQ_OK);
	ck_assert_int_eq(cq_ack(qnone, 5), CQ_OK);
	ck_assert_int_eq(cq_push(qnone, "x", 1, CQ_FOREVER), CQ_OK);

	ck_assert_int_eq(cq_pop(qsig, &m, CQ_FOREVER), CQ_OK);
	ck_assert_int_eq(sig_count, 1);
	fake_msg_check(m);
	m = NULL;
	ck_assert_int_eq(cq_pop(qsig, &m, 5000), CQ_OK);
	ck_assert_int_eq(sig_count, 2);
	fake_msg_check(m);

	ck_assert_int_eq(cq_ping(c), CQ_OK);
	cq_disconnect(c);
	ck_assert(tu_fake_wait(pid));
	signal(SIGUSR1, SIG_DFL);
	close(p[1]);
}
END_TEST

/* A forked child's copy of the parent's client, which it must not touch
 * (its requests would go out on the parent's connection): kept
 * reachable here (volatile: a store the compiler keeps) so that valgrind
 * does not count it lost at the child's _exit. */
static cq_client *volatile child_inherited;

/* Count async pops completed, each exactly once. */
static void
count_pop_cb(cq_status st, cq_msg *m, void *arg)
{
	struct slot *sl = arg;

	sl->done++;
	sl->st = st;
	cq_msg_free(m);
}

/*
 * An async pop that completes while a blocking pop waits on another
 * queue has its callback run there, once, before the blocking pop
 * returns (its reply arrived first).
 */
START_TEST(test_async_callback_during_blocking_call)
{
	cq_client *c = tc_conn(), *c2;
	cq_queue *qa = mkq(c, "cba", 8, 1), *qb = mkq(c, "cbb", 8, 1);
	cq_queue *qa2, *qb2;
	struct slot sl = {0, CQ_OK};
	cq_msg *m = NULL;
	pid_t pid;
	int ws;

	ck_assert_int_eq(
	    cq_pop_async(qa, CQ_FOREVER, count_pop_cb, &sl, NULL), CQ_OK);
	ck_assert_int_eq(cq_client_process(c), CQ_OK);
	child_inherited = c;
	if ((pid = fork()) == 0) {
		c2 = tc_conn();
		qa2 = tc_openq(c2, "cba");
		qb2 = tc_openq(c2, "cbb");
		wait_waiting(qb2, 1, 0);
		wait_waiting(qa2, 1, 0);
		if (cq_push(qa2, "a", 1, CQ_FOREVER) != CQ_OK ||
		    cq_push(qb2, "b", 1, CQ_FOREVER) != CQ_OK)
			_exit(1);
		cq_disconnect(c2);
		_exit(0);
	}
	ck_assert_int_eq(cq_pop(qb, &m, CQ_FOREVER), CQ_OK);
	ck_assert_mem_eq(cq_msg_data(m), "b", 1);
	cq_msg_free(m);
	ck_assert_int_eq(sl.done, 1);
	ck_assert_int_eq(sl.st, CQ_OK);
	ck_assert_uint_eq(cq_client_pending(c), 0);
	ck_assert_int_eq(cq_client_process(c), CQ_OK);
	ck_assert_int_eq(sl.done, 1);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_only_cq_symbols_exported)
{
	char cmd[1024], line[512];
	const char *top = getenv("top_builddir");
	FILE *f;
	int n = 0;

	snprintf(cmd, sizeof cmd,
	    "nm -D --defined-only %s/.libs/libconqueue-client.so",
	    top != NULL ? top : ".");
	ck_assert_ptr_nonnull(f = popen(cmd, "r"));
	while (fgets(line, sizeof line, f) != NULL) {
		char *sym = strrchr(line, ' ');
		ck_assert_ptr_nonnull(sym);
		sym++;
		sym[strcspn(sym, "\n")] = '\0';
		ck_assert_msg(
		    strncmp(sym, "cq_", 3) == 0, "exported symbol %s", sym);
		n++;
	}
	ck_assert_int_eq(pclose(f), 0);
	ck_assert_int_gt(n, 50);
}
END_TEST

/* The suite. */
static Suite *
client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("daemon");
	TCase *ts = tcase_create("static");
	TCase *tl = tcase_create("limits");

	tcase_add_checked_fixture(tc, tc_setup, tc_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_connect_ping_info_and_statics);
	tcase_add_test(tc, test_create_open_stat_list_delete);
	tcase_add_test(tc, test_push_pop_order_bands_front_batch);
	tcase_add_test(tc, test_close_pause_resume_timeouts);
	tcase_add_test(tc, test_close_wakes_other_processes);
	tcase_add_test(tc, test_killed_popper_message_returns);
	tcase_add_test(tc, test_daemon_killed_and_restarted);
	tcase_add_test(tc, test_reserve_ack_release_touch);
	tcase_add_test(tc, test_async_ten_thousand_in_flight);
	tcase_add_test(tc, test_async_pop_several_queues);
	tcase_add_test(tc, test_cancel_parked_pop_loses_nothing);
	tcase_add_test(tc, test_cancel_racing_completion);
	tcase_add_test(tc, test_cancel_in_callback_and_twice);
	tcase_add_test(tc, test_disconnect_with_pending_ops);
	tcase_add_test(tc, test_close_completes_parked_async_ops);
	tcase_add_test(tc, test_libevent_adapter);
	tcase_add_test(tc, test_local_safety_net_rejects_late_reply);
	tcase_add_test(tc, test_protocol_mismatch_and_garbage);
	tcase_add_test(tc, test_malformed_async_replies_rejected);
	tcase_add_test(tc, test_blocking_call_replies);
	tcase_add_test(tc, test_async_callback_during_blocking_call);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tl, setup_limits, tc_cleanup);
	tcase_set_timeout(tl, 60);
	tcase_add_test(tl, test_daemon_limits);
	suite_add_tcase(s, tl);
	tcase_add_test(ts, test_only_cq_symbols_exported);
	suite_add_tcase(s, ts);
	return s;
}

/* The tests that need root (another uid): the check_client_root twin. */
static Suite *
client_root_suite(void)
{
	Suite *s = suite_create("client_root");
	TCase *ta = tcase_create("access");

	tcase_add_checked_fixture(ta, setup_open_socket, tc_cleanup);
	tcase_set_timeout(ta, 60);
	tcase_add_test(ta, test_access_denied_for_other_uid);
	suite_add_tcase(s, ta);
	return s;
}

int
main(int argc, char **argv)
{
	(void)argc;
	if (tu_is_variant(argv[0], "_root")) {
		tu_require(getuid() == 0, "check_client_root needs root");
		return tu_run(client_root_suite(), "clientroot");
	}
	return tu_run(client_suite(), "client");
}
