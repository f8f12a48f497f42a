/* check_daemon_direct.c - conqueued's side of the direct path (issue 13). */

/*
 * OPEN with Named.direct set hands over [segment, doorbell] with
 * SCM_RIGHTS when the daemon allows it, and a plain reply otherwise; the
 * two paths then meet on one queue: the doorbell serves socket waiters
 * parked in the daemon, and socket commits wake direct sleepers. The test
 * is its own direct client (core/direct.h), reading the fds with recvmsg.
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "core/direct.h"
#include "proto/frame.h"
#include "rawclient.h"
#include "testutil.h"

/* Read exactly len bytes into buf, collecting SCM_RIGHTS fds; 0 or -1. */
static int
dd_read(int fd, uint8_t *buf, size_t len, int *fds, int *nfds)
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
			ck_assert_int_le(*nfds + k, 8);
			memcpy(
			    fds + *nfds, CMSG_DATA(h), (size_t)k * sizeof(int));
			*nfds += k;
		}
		got += (size_t)n;
	}
	return 0;
}

/* The next reply on fd, with the fds that came with it (*nfds). */
static Conqueue__Reply *
dd_recv(int fd, int *fds, int *nfds)
{
	uint8_t hdr[FRAME_HDR_LEN], *body;
	Conqueue__Reply *r;
	const char *why = NULL;
	uint32_t len;

	*nfds = 0;
	if (dd_read(fd, hdr, sizeof hdr, fds, nfds) != 0)
		return NULL;
	len = frame_get_len(hdr);
	ck_assert_uint_le(len, FRAME_MAX_LIMIT);
	body = malloc(len + 1);
	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(dd_read(fd, body, len, fds, nfds), 0);
	r = frame_decode_reply(body, len, &why);
	free(body);
	return r;
}

/* OPEN name asking for direct; the reply and its fds. */
static Conqueue__Reply *
dd_open(int fd, const char *name, int *fds, int *nfds)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Named n = CONQUEUE__NAMED__INIT;

	n.kind = CONQUEUE__NAMED__KIND__OPEN;
	n.name.data = (uint8_t *)(uintptr_t)name;
	n.name.len = strlen(name);
	n.has_direct = 1;
	n.direct = 1;
	r.op_case = CONQUEUE__REQUEST__OP_NAMED;
	r.named = &n;
	ck_assert_int_eq(rc_send(fd, &r), 0);
	return dd_recv(fd, fds, nfds);
}

/* Create name with extra attributes; status. */
static int
dd_create(int fd, const char *name, uint32_t mode, int no_direct, int serial)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Create c = CONQUEUE__CREATE__INIT;
	Conqueue__QueueAttr a = CONQUEUE__QUEUE_ATTR__INIT;

	c.name.data = (uint8_t *)(uintptr_t)name;
	c.name.len = strlen(name);
	a.has_mode = 1;
	a.mode = mode;
	a.has_capacity = 1;
	a.capacity = 8;
	a.has_max_size = 1;
	a.max_size = 64;
	a.has_no_direct = no_direct;
	a.no_direct = no_direct;
	a.has_serial = serial;
	a.serial = serial;
	c.attr = &a;
	r.op_case = CONQUEUE__REQUEST__OP_CREATE;
	r.create = &c;
	return rc_status(rc_call(fd, &r));
}

/* OPEN with direct on name must succeed without fds. */
static void
dd_expect_declined(int fd, const char *name)
{
	int fds[8], nfds;
	Conqueue__Reply *r = dd_open(fd, name, fds, &nfds);

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_int_eq(r->has_fds, 0);
	ck_assert_int_eq(nfds, 0);
	conqueue__reply__free_unpacked(r, NULL);
}

/* Map name through a direct OPEN; *bell gets the doorbell. */
static struct core_queue *
dd_map(int fd, const char *name, int *bell)
{
	struct core_queue *q = NULL;
	int fds[8], nfds;
	char link[64], target[128];
	ssize_t n;
	struct stat sb;
	Conqueue__Reply *r = dd_open(fd, name, fds, &nfds);

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_int_eq(r->has_fds, 1);
	ck_assert_uint_eq(r->fds, 2);
	ck_assert_int_eq(nfds, 2);
	conqueue__reply__free_unpacked(r, NULL);
	/* [1] is the doorbell: a FIFO, opened read-write, non-blocking. */
	snprintf(link, sizeof link, "/proc/self/fd/%d", fds[1]);
	n = readlink(link, target, sizeof target - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_msg(fstat(fds[1], &sb) == 0 && S_ISFIFO(sb.st_mode),
	    "doorbell %s is not a FIFO", target);
	ck_assert_int_eq(fcntl(fds[1], F_GETFL) & (O_ACCMODE | O_NONBLOCK),
	    O_RDWR | O_NONBLOCK);
	/* [0] maps and validates like the daemon's own attach. */
	ck_assert_int_eq(
	    core_attach_fd(fds[0], (uint32_t)geteuid(), &q), CQ_OK);
	ck_assert(direct_usable(q));
	*bell = fds[1];
	return q;
}

/* Ring the doorbell as a direct client does after a commit. */
static void
dd_ring(int bell)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(bell, &one, sizeof one), (ssize_t)sizeof one);
}

/* Wait until name's stat shows poppers waiting poppers (both paths). */
static void
dd_wait_poppers(int fd, const char *name, uint32_t poppers)
{
	Conqueue__Reply *r;
	uint32_t now;
	int i;

	for (i = 0; i < 100000; i++) {
		r = rc_named(
		    fd, CONQUEUE__NAMED__KIND__STAT, name, strlen(name));
		ck_assert_ptr_nonnull(r);
		/* CQ_BUSY: a mapper held the lock just then; ask again. */
		if (r->status == CQ_BUSY) {
			conqueue__reply__free_unpacked(r, NULL);
			usleep(1000);
			continue;
		}
		ck_assert_ptr_nonnull(r->stat);
		now = r->stat->waiting_poppers;
		conqueue__reply__free_unpacked(r, NULL);
		if (now == poppers)
			return;
		usleep(1000);
	}
	ck_abort_msg("waiting poppers never reached %u", poppers);
}

/* Descriptors open in process pid. */
static int
dd_count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

START_TEST(test_grant_and_declines)
{
	struct tu_daemon d;
	struct core_queue *q;
	Conqueue__Reply *r;
	int fd, bell;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dd_create(fd, "dq", 0600, 0, 0), CQ_OK);
	ck_assert_int_eq(dd_create(fd, "nodirect", 0600, 1, 0), CQ_OK);
	ck_assert_int_eq(dd_create(fd, "serial", 0600, 0, 1), CQ_OK);
	q = dd_map(fd, "dq", &bell);
	/* The mapped segment is the queue: a socket push shows in it. */
	ck_assert_int_eq(rc_push(fd, "dq", "via-socket", 0), CQ_OK);
	ck_assert_int_eq(direct_length(q), 1);
	dd_expect_declined(fd, "nodirect");
	dd_expect_declined(fd, "serial");
	/* A plain OPEN carries no fds either. */
	r = rc_named(fd, CONQUEUE__NAMED__KIND__STAT, "nodirect", 8);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->stat->has_no_direct, 1);
	ck_assert_int_eq(r->stat->no_direct, 1);
	ck_assert_int_eq(r->stat->has_corrupt_dropped, 1);
	conqueue__reply__free_unpacked(r, NULL);
	r = rc_named(fd, CONQUEUE__NAMED__KIND__STAT, "dq", 2);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->stat->no_direct, 0);
	conqueue__reply__free_unpacked(r, NULL);
	core_detach(q);
	close(bell);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* In a child as nobody: a queue it may read but not write is declined. */
static int
dd_as_nobody(const char *sock)
{
	int fds[8], nfds, fd;
	Conqueue__Reply *r;

	if (setgid(65534) != 0 || setuid(65534) != 0)
		return 10;
	if ((fd = rc_connect(sock)) < 0)
		return 11;
	r = dd_open(fd, "readonly", fds, &nfds);
	if (r == NULL || r->status != CQ_OK)
		return 12;
	if (r->has_fds || nfds != 0)
		return 13;
	conqueue__reply__free_unpacked(r, NULL);
	/* Read and write: granted, even to another uid. */
	r = dd_open(fd, "public", fds, &nfds);
	if (r == NULL || r->status != CQ_OK || r->fds != 2 || nfds != 2)
		return 14;
	conqueue__reply__free_unpacked(r, NULL);
	return 0;
}

START_TEST(test_decline_without_write)
{
	const char *args[] = {"--socket-mode", "0666", NULL};
	struct tu_daemon d;
	int fd, status;
	pid_t pid;

	ck_assert_int_eq(tu_daemon_start(&d, args), 0);
	ck_assert_int_eq(chmod(d.dir, 0711), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dd_create(fd, "readonly", 0644, 0, 0), CQ_OK);
	ck_assert_int_eq(dd_create(fd, "public", 0666, 0, 0), CQ_OK);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(dd_as_nobody(d.sock));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_daemon_direct_off)
{
	const char *args[] = {"--no-direct", NULL};
	struct tu_daemon d;
	Conqueue__Request rq = CONQUEUE__REQUEST__INIT;
	Conqueue__Info in = CONQUEUE__INFO__INIT;
	Conqueue__Reply *r;
	int fd;

	ck_assert_int_eq(tu_daemon_start(&d, args), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dd_create(fd, "dq", 0600, 0, 0), CQ_OK);
	dd_expect_declined(fd, "dq");
	rq.op_case = CONQUEUE__REQUEST__OP_INFO;
	rq.info = &in;
	r = rc_call(fd, &rq);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(r->info);
	ck_assert_int_eq(r->info->has_direct, 1);
	ck_assert_int_eq(r->info->direct, 0);
	conqueue__reply__free_unpacked(r, NULL);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_doorbell_serves_parked_pop)
{
	Conqueue__Request rq = CONQUEUE__REQUEST__INIT;
	Conqueue__Pop p = CONQUEUE__POP__INIT;
	struct tu_daemon d;
	struct core_queue *q;
	Conqueue__Reply *r;
	int fd, waiter, bell, ring = 0;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	waiter = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(waiter, 0);
	ck_assert_int_eq(dd_create(fd, "dq", 0600, 0, 0), CQ_OK);
	q = dd_map(fd, "dq", &bell);
	/* A socket pop parks in the daemon (no timeout). */
	p.name.data = (uint8_t *)(uintptr_t) "dq";
	p.name.len = 2;
	rq.op_case = CONQUEUE__REQUEST__OP_POP;
	rq.pop = &p;
	ck_assert_int_eq(rc_send(waiter, &rq), 0);
	dd_wait_poppers(fd, "dq", 1);
	/* A direct push sees the parked popper and asks for the bell. */
	ck_assert_int_eq(
	    direct_push(q, "direct", 6, 0, 0, 0, NULL, &ring), CQ_OK);
	ck_assert_int_eq(ring, 1);
	dd_ring(bell);
	r = rc_recv(waiter);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_uint_eq(r->n_msgs, 1);
	ck_assert_uint_eq(r->msgs[0]->data.len, 6);
	ck_assert_int_eq(memcmp(r->msgs[0]->data.data, "direct", 6), 0);
	conqueue__reply__free_unpacked(r, NULL);
	core_detach(q);
	close(bell);
	close(waiter);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

/* In a child: a blocking direct pop on name; exit 0 if it ends with want. */
static int
dd_child_pop(const char *sock, cq_status want, const char *msg)
{
	struct core_queue *q;
	struct direct_msg m;
	char buf[64];
	int fd, bell, ring, rc;
	cq_status st;

	fd = rc_connect(sock);
	if (fd < 0)
		return 20;
	q = dd_map(fd, "dq", &bell);
	st = direct_pop(q, buf, sizeof buf, &m, -1, &ring);
	rc = 0;
	if (st != want)
		rc = 21;
	else if (msg != NULL &&
	         (m.len != strlen(msg) || memcmp(buf + m.off, msg, m.len) != 0))
		rc = 22;
	core_detach(q);
	close(bell);
	close(fd);
	return rc;
}

/* A direct pop blocked in a child ends as want after action by the parent. */
static void
dd_direct_waiter(int close_it)
{
	struct tu_daemon d;
	Conqueue__Reply *r;
	int fd, status;
	pid_t pid;

	direct_slice_ms = 0; /* a missing wake-up hangs and fails */
	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dd_create(fd, "dq", 0600, 0, 0), CQ_OK);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(dd_child_pop(d.sock, close_it ? CQ_CLOSED : CQ_OK,
		    close_it ? NULL : "socket"));
	dd_wait_poppers(fd, "dq", 1);
	if (close_it) {
		r = rc_named(fd, CONQUEUE__NAMED__KIND__CLOSE, "dq", 2);
		ck_assert_int_eq(rc_status(r), CQ_OK);
	} else
		ck_assert_int_eq(rc_push(fd, "dq", "socket", 0), CQ_OK);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
}

START_TEST(test_socket_push_wakes_direct_pop)
{
	dd_direct_waiter(0);
}
END_TEST

START_TEST(test_socket_close_wakes_direct_pop)
{
	dd_direct_waiter(1);
}
END_TEST

START_TEST(test_no_fd_leak)
{
	struct tu_daemon d;
	struct core_queue *q;
	int fd, bell, i, before, granted;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	before = dd_count_fds(d.pid);
	ck_assert_int_eq(dd_create(fd, "dq", 0600, 0, 0), CQ_OK);
	/* The first grant makes the queue's doorbell: count after it. */
	q = dd_map(fd, "dq", &bell);
	core_detach(q);
	close(bell);
	/* A round trip: the daemon closed its copy of the segment fd. */
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	granted = dd_count_fds(d.pid);
	for (i = 0; i < 100; i++) {
		q = dd_map(fd, "dq", &bell);
		core_detach(q);
		close(bell);
	}
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	ck_assert_int_eq(dd_count_fds(d.pid), granted);
	/* Deleting the queue closes its doorbell. */
	ck_assert_int_eq(
	    rc_status(rc_named(fd, CONQUEUE__NAMED__KIND__DELETE, "dq", 2)),
	    CQ_OK);
	ck_assert_int_eq(dd_count_fds(d.pid), before);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
}
END_TEST

static Suite *
direct_suite(void)
{
	Suite *s = suite_create("daemon_direct");
	TCase *tc = tcase_create("direct");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_grant_and_declines);
	/* A second uid needs root; the rest runs as anyone. */
	if (geteuid() == 0)
		tcase_add_test(tc, test_decline_without_write);
	tcase_add_test(tc, test_daemon_direct_off);
	tcase_add_test(tc, test_doorbell_serves_parked_pop);
	tcase_add_test(tc, test_socket_push_wakes_direct_pop);
	tcase_add_test(tc, test_socket_close_wakes_direct_pop);
	tcase_add_test(tc, test_no_fd_leak);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(direct_suite(), "ddirect");
}
