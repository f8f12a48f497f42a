/* check_daemon_stall.c - a mapper that stops holding the lock (issue 13). */

/*
 * A direct client takes its queue's segment lock and stops (SIGSTOP):
 * the daemon's event loop must not wait for it. Other queues and
 * connections keep being served, try ops on that queue answer CQ_BUSY,
 * blocking ops park and complete once the lock is free again (SIGCONT),
 * or once recovery ran (SIGKILL: the robust lock's dead owner), and a
 * receipt sent meanwhile is applied later, never dropped. Every wait is
 * on a state (a stopped child, a reply, a stat), never on a clock.
 *
 * And a daemon restart under direct clients: the waiters of a direct pop
 * that spans it still count, and the doorbell the old daemon handed out
 * (a FIFO next to the segment) still reaches the new one.
 */

#include <sys/socket.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "core/direct.h"
#include "core/lock.h"
#include "proto/frame.h"
#include "rawclient.h"
#include "testutil.h"

/* Read exactly len bytes into buf, collecting SCM_RIGHTS fds; 0 or -1. */
static int
ds_read(int fd, uint8_t *buf, size_t len, int *fds, int *nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(8 * sizeof(int))];
	} cm;
	struct pollfd pfd = {fd, POLLIN, 0};
	struct cmsghdr *h;
	struct msghdr mh;
	struct iovec iov;
	size_t got = 0;
	ssize_t n;
	int k;

	while (got < len) {
		if (poll(&pfd, 1, RC_IO_TIMEOUT_MS) != 1)
			return -1;
		memset(&mh, 0, sizeof mh);
		iov.iov_base = buf + got;
		iov.iov_len = len - got;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof cm.b;
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return -1;
		for (h = CMSG_FIRSTHDR(&mh); h != NULL;
		     h = CMSG_NXTHDR(&mh, h)) {
			if (h->cmsg_level != SOL_SOCKET ||
			    h->cmsg_type != SCM_RIGHTS)
				continue;
			k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			if (*nfds + k > 8)
				return -1;
			memcpy(
			    fds + *nfds, CMSG_DATA(h), (size_t)k * sizeof(int));
			*nfds += k;
		}
		got += (size_t)n;
	}
	return 0;
}

/*
 * OPEN name asking for the direct path and map the segment it hands
 * over; *bell gets the doorbell. NULL on any failure (no assertions: a
 * forked child calls it too).
 */
static struct core_queue *
ds_map(int fd, const char *name, int *bell)
{
	Conqueue__Request rq = CONQUEUE__REQUEST__INIT;
	Conqueue__Named n = CONQUEUE__NAMED__INIT;
	uint8_t hdr[FRAME_HDR_LEN], *body;
	struct core_queue *q = NULL;
	Conqueue__Reply *r;
	const char *why = NULL;
	int fds[8], nfds = 0, ok;
	uint32_t len;

	n.kind = CONQUEUE__NAMED__KIND__OPEN;
	n.name.data = (uint8_t *)(uintptr_t)name;
	n.name.len = strlen(name);
	n.has_direct = n.direct = 1;
	rq.op_case = CONQUEUE__REQUEST__OP_NAMED;
	rq.named = &n;
	if (rc_send(fd, &rq) != 0 || ds_read(fd, hdr, sizeof hdr, fds, &nfds))
		return NULL;
	len = frame_get_len(hdr);
	if (len > FRAME_MAX_LIMIT || (body = malloc(len + 1)) == NULL)
		return NULL;
	r = ds_read(fd, body, len, fds, &nfds) == 0
	        ? frame_decode_reply(body, len, &why)
	        : NULL;
	free(body);
	ok = r != NULL && r->status == CQ_OK && r->fds == 2 && nfds == 2;
	if (r != NULL)
		conqueue__reply__free_unpacked(r, NULL);
	if (ok && core_attach_fd(fds[0], (uint32_t)geteuid(), &q) == CQ_OK) {
		/*
		 * As the library does (the daemon's lock timeout): a sleeper
		 * woken by recovery finds the lock still held by the
		 * recovering daemon and must wait for it, not answer BUSY.
		 */
		core_set_lock_timeout(q, 10000);
		*bell = fds[1];
		return q;
	}
	while (nfds > 0)
		close(fds[--nfds]);
	return NULL;
}

/*
 * The child: map name, take its lock, stop; once continued, let go and
 * leave (closing what it holds: valgrind follows children).
 */
static int
ds_child(const char *sock, const char *name)
{
	struct core_queue *q;
	int fd, bell;

	if ((fd = rc_connect(sock)) < 0)
		return 10;
	if ((q = ds_map(fd, name, &bell)) == NULL)
		return 11;
	if (lock_take(q, 1000) != CQ_OK)
		return 12;
	raise(SIGSTOP);
	lock_release(q);
	core_detach(q);
	close(bell);
	close(fd);
	return 0;
}

/* Fork the child on name and wait until it stopped holding the lock. */
static pid_t
ds_stopped_holder(const char *sock, const char *name)
{
	pid_t pid = fork();
	int ws;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(ds_child(sock, name));
	ck_assert_int_eq(waitpid(pid, &ws, WUNTRACED), pid);
	ck_assert_msg(WIFSTOPPED(ws),
	    "the holder exited (%d) instead of "
	    "stopping",
	    WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
	return pid;
}

/* A blocking push of msg on name over fd: sent, not waited for. */
static void
ds_send_push(int fd, const char *name, const char *msg)
{
	Conqueue__Request rq = CONQUEUE__REQUEST__INIT;
	Conqueue__Push p = CONQUEUE__PUSH__INIT;
	ProtobufCBinaryData d = {strlen(msg), (uint8_t *)(uintptr_t)msg};

	p.name.data = (uint8_t *)(uintptr_t)name;
	p.name.len = strlen(name);
	p.n_data = 1;
	p.data = &d;
	rq.op_case = CONQUEUE__REQUEST__OP_PUSH;
	rq.push = &p;
	ck_assert_int_eq(rc_send(fd, &rq), 0);
}

/* Expect a try pop of name to give msg. */
static void
ds_pop_expect(int fd, const char *name, const char *msg)
{
	Conqueue__Reply *r = rc_pop(fd, name, 1, 0, 0);

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_uint_eq(r->n_msgs, 1);
	ck_assert_uint_eq(r->msgs[0]->data.len, strlen(msg));
	ck_assert_int_eq(memcmp(r->msgs[0]->data.data, msg, strlen(msg)), 0);
	ck_assert_int_eq(rc_confirm(fd, r->id), 0);
	conqueue__reply__free_unpacked(r, NULL);
}

/* Wait until name's stat (answered: the lock is free) shows in_flight. */
static void
ds_wait_in_flight(int fd, const char *name, uint64_t in_flight)
{
	Conqueue__Reply *r;
	uint64_t now = UINT64_MAX;
	int i;

	for (i = 0; i < 10000; i++) {
		r = rc_named(
		    fd, CONQUEUE__NAMED__KIND__STAT, name, strlen(name));
		ck_assert_ptr_nonnull(r);
		if (r->status == CQ_OK &&
		    (now = r->stat->in_flight) == in_flight) {
			conqueue__reply__free_unpacked(r, NULL);
			return;
		}
		conqueue__reply__free_unpacked(r, NULL);
		usleep(1000);
	}
	ck_abort_msg("in flight: %llu, want %llu", (unsigned long long)now,
	    (unsigned long long)in_flight);
}

/*
 * Create name with exist_ok over fd (the queue exists): CQ_OK with its
 * stat, at least its attributes, even while a mapper holds the lock.
 */
static void
ds_create_exist_ok(int fd, const char *name)
{
	Conqueue__Request rq = CONQUEUE__REQUEST__INIT;
	Conqueue__Create c = CONQUEUE__CREATE__INIT;
	Conqueue__Reply *r;

	c.name.data = (uint8_t *)(uintptr_t)name;
	c.name.len = strlen(name);
	c.has_exist_ok = c.exist_ok = 1;
	rq.op_case = CONQUEUE__REQUEST__OP_CREATE;
	rq.create = &c;
	r = rc_call(fd, &rq);
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->status == CQ_OK, "create exist_ok: %s (%s)",
	    cq_strstatus((cq_status)r->status), r->detail ? r->detail : "");
	ck_assert_ptr_nonnull(r->stat);
	ck_assert_uint_eq(r->stat->capacity, 8);
	conqueue__reply__free_unpacked(r, NULL);
}

/* Run conqueue-cli -s sock args (shell words); its exit status. */
static int
ds_cli(const char *sock, const char *args)
{
	char prog[512], cmd[1200];
	int ws;

	snprintf(cmd, sizeof cmd, "%s -s '%s' %s",
	    tu_program("conqueue-cli", prog, sizeof prog), sock, args);
	ws = system(cmd);
	ck_assert_msg(ws != -1 && WIFEXITED(ws), "%s did not exit", cmd);
	return WEXITSTATUS(ws);
}

/*
 * With the holder stopped: the loop and other queues are served, try ops
 * on its queue get CQ_BUSY; a blocking push and a receipt wait. Then the
 * holder is continued (kill 0) or killed (kill 1): both complete.
 */
static void
ds_stall(int kill_it)
{
	struct tu_daemon d;
	Conqueue__Reply *r, *held;
	uint64_t held_id;
	int fd, w, rcv, ws;
	pid_t pid;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	ck_assert_int_ge(fd = rc_connect(d.sock), 0);
	ck_assert_int_ge(w = rc_connect(d.sock), 0);
	ck_assert_int_ge(rcv = rc_connect(d.sock), 0);
	ck_assert_int_eq(rc_create(fd, "stuck", 5, 0600, 8, 64), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "other", 5, 0600, 8, 64), CQ_OK);
	/* Handed over, its receipt held back until the lock is taken. */
	ck_assert_int_eq(rc_push(fd, "stuck", "held", 0), CQ_OK);
	held = rc_pop(rcv, "stuck", 1, 0, 0);
	ck_assert_ptr_nonnull(held);
	ck_assert_int_eq(held->status, CQ_OK);
	/* Freed before the holder forks: it would die holding a copy. */
	held_id = held->id;
	conqueue__reply__free_unpacked(held, NULL);

	pid = ds_stopped_holder(d.sock, "stuck");
	/* The loop and every other queue go on. */
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	ck_assert_int_eq(rc_push(fd, "other", "o", 0), CQ_OK);
	ds_pop_expect(fd, "other", "o");
	/* Try ops on the held queue: busy, at once. */
	ck_assert_int_eq(rc_push(fd, "stuck", "t", 0), CQ_BUSY);
	r = rc_pop(fd, "stuck", 1, 0, 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_BUSY);
	conqueue__reply__free_unpacked(r, NULL);
	/* Creating it again with exist_ok: it exists, whatever its lock. */
	ds_create_exist_ok(fd, "stuck");
	ck_assert_int_eq(ds_cli(d.sock, "create stuck --exist-ok"), 0);
	/* A blocking push parks; the receipt is taken in, not dropped. */
	ds_send_push(w, "stuck", "blocked");
	ck_assert_int_eq(rc_confirm(rcv, held_id), 0);
	ck_assert_int_eq(rc_ping(rcv), CQ_OK);
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	ck_assert_int_eq(rc_push(fd, "other", "o2", 0), CQ_OK);
	ds_pop_expect(fd, "other", "o2");

	ck_assert_int_eq(kill(pid, kill_it ? SIGKILL : SIGCONT), 0);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	if (kill_it)
		ck_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
	else
		ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	/* The parked push completes; the receipt was applied. */
	r = rc_recv(w);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	conqueue__reply__free_unpacked(r, NULL);
	ds_wait_in_flight(fd, "stuck", 0);
	/* Closing the receiver gives nothing back: it was confirmed. */
	close(rcv);
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	ds_pop_expect(fd, "stuck", "blocked");
	r = rc_pop(fd, "stuck", 1, 0, 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_EMPTY);
	conqueue__reply__free_unpacked(r, NULL);
	close(w);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
}

START_TEST(test_stopped_holder_continued)
{
	ds_stall(0);
}
END_TEST

START_TEST(test_stopped_holder_killed)
{
	ds_stall(1);
}
END_TEST

/* Wait until name's stat shows poppers waiting poppers (both paths). */
static void
ds_wait_poppers(int fd, const char *name, uint32_t poppers)
{
	Conqueue__Reply *r;
	uint32_t now = 0;
	int i;

	for (i = 0; i < 10000; i++) {
		r = rc_named(
		    fd, CONQUEUE__NAMED__KIND__STAT, name, strlen(name));
		ck_assert_ptr_nonnull(r);
		/* CQ_BUSY: a mapper held the lock just then; ask again. */
		if (r->status == CQ_BUSY) {
			conqueue__reply__free_unpacked(r, NULL);
			usleep(1000);
			continue;
		}
		ck_assert_int_eq(r->status, CQ_OK);
		now = r->stat->waiting_poppers;
		conqueue__reply__free_unpacked(r, NULL);
		if (now == poppers)
			return;
		usleep(1000);
	}
	ck_abort_msg("waiting poppers: %u, want %u", now, poppers);
}

/* In a child: a blocking direct pop of "dq" must give msg. */
static int
ds_child_pop(const char *sock, const char *msg)
{
	struct core_queue *q;
	struct direct_msg m;
	char buf[64];
	int fd, bell, ring, rc = 0;

	if ((fd = rc_connect(sock)) < 0)
		return 20;
	if ((q = ds_map(fd, "dq", &bell)) == NULL)
		return 21;
	/* The daemon goes away meanwhile: do not talk to it. */
	close(fd);
	if (direct_pop(q, buf, sizeof buf, &m, -1, &ring) != CQ_OK)
		rc = 22;
	else if (m.len != strlen(msg) || memcmp(buf + m.off, msg, m.len) != 0)
		rc = 23;
	core_detach(q);
	close(bell);
	return rc;
}

/*
 * A restarted daemon still counts the direct poppers that wait across
 * the restart, and still hears the doorbell its predecessor handed out.
 */
START_TEST(test_restart_keeps_waiters_and_doorbell)
{
	Conqueue__Request rq = CONQUEUE__REQUEST__INIT;
	Conqueue__Pop p = CONQUEUE__POP__INIT;
	struct tu_daemon d;
	struct core_queue *q;
	Conqueue__Reply *r;
	int fd, waiter, bell, ring = 0, ws;
	uint64_t one = 1;
	pid_t pid;

	direct_slice_ms = 0; /* a missing wake-up hangs and fails */
	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	ck_assert_int_ge(fd = rc_connect(d.sock), 0);
	ck_assert_int_eq(rc_create(fd, "dq", 2, 0600, 8, 64), CQ_OK);
	q = ds_map(fd, "dq", &bell);
	ck_assert_ptr_nonnull(q);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		core_detach(q);
		close(bell);
		close(fd);
		_exit(ds_child_pop(d.sock, "first"));
	}
	ds_wait_poppers(fd, "dq", 1);

	tu_daemon_kill(&d);
	close(fd);
	ck_assert_int_eq(tu_daemon_restart(&d, NULL), 0);
	ck_assert_int_ge(fd = rc_connect(d.sock), 0);
	/* Attach ran recovery (counts reset); the sleeper counts again. */
	ds_wait_poppers(fd, "dq", 1);
	ck_assert_int_eq(rc_push(fd, "dq", "first", 0), CQ_OK);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws));
	ck_assert_int_eq(WEXITSTATUS(ws), 0);

	/* A socket pop parks in the new daemon ... */
	ck_assert_int_ge(waiter = rc_connect(d.sock), 0);
	p.name.data = (uint8_t *)(uintptr_t) "dq";
	p.name.len = 2;
	rq.op_case = CONQUEUE__REQUEST__OP_POP;
	rq.pop = &p;
	ck_assert_int_eq(rc_send(waiter, &rq), 0);
	ds_wait_poppers(fd, "dq", 1);
	/* ... and a push through the old daemon's grant serves it. */
	ck_assert_int_eq(
	    direct_push(q, "second", 6, 0, 0, 0, NULL, &ring), CQ_OK);
	ck_assert_int_eq(ring, 1);
	ck_assert_int_eq(write(bell, &one, sizeof one), (ssize_t)sizeof one);
	r = rc_recv(waiter);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_uint_eq(r->n_msgs, 1);
	ck_assert_uint_eq(r->msgs[0]->data.len, 6);
	ck_assert_int_eq(memcmp(r->msgs[0]->data.data, "second", 6), 0);
	conqueue__reply__free_unpacked(r, NULL);
	core_detach(q);
	close(bell);
	close(waiter);
	/* Deleting the queue removes its doorbell with its segment. */
	r = rc_named(fd, CONQUEUE__NAMED__KIND__DELETE, "dq", 2);
	ck_assert_int_eq(rc_status(r), CQ_OK);
	ck_assert_int_eq(tu_shm_count_prefix(d.instance), 0);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

static Suite *
stall_suite(void)
{
	Suite *s = suite_create("daemon_stall");
	TCase *tc = tcase_create("stall");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stopped_holder_continued);
	tcase_add_test(tc, test_stopped_holder_killed);
	tcase_add_test(tc, test_restart_keeps_waiters_and_doorbell);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(stall_suite(), "daemonstall");
}
