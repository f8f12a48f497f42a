/* check_client_fds.c - fds received with replies: claimed, never leaked. */

/*
 * A fake daemon answers OPEN with replies that carry fds (SCM_RIGHTS) in
 * every way a daemon could get it wrong: a segment the client must refuse,
 * fewer fds than the frame announces, fds no frame claims. The client
 * stays on the socket path or fails that one open with CQ_PROTOCOL, and
 * its process has exactly the fds it had before once it disconnects. It
 * also checks that Named.direct is asked for unless the client opted out.
 */

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "proto/conqueue.pb-c.h"
#include "proto/frame.h"
#include "tests/rawclient.h"
#include "tests/testutil.h"

static char dir[] = "/tmp/cq-fds-XXXXXX";

/* Send reply r with the nfd fds of fds attached to its bytes. */
static void
fake_send_fds(int fd, const Conqueue__Reply *r, const int *fds, size_t nfd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	uint8_t buf[512];
	size_t n = conqueue__reply__get_packed_size(r);
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cm;

	if (n + FRAME_HDR_LEN > sizeof buf)
		_exit(70);
	frame_put_len(buf, (uint32_t)n);
	conqueue__reply__pack(r, buf + FRAME_HDR_LEN);
	iov.iov_base = buf;
	iov.iov_len = n + FRAME_HDR_LEN;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfd > 0) {
		memset(&ctl, 0, sizeof ctl);
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfd * sizeof(int));
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)iov.iov_len)
		_exit(71);
}

/*
 * OPEN "bogus": fds = 2 with a memfd that is no segment and an eventfd;
 * "short": fds = 2 with one fd; "extra": fds unset with one fd; "ask":
 * CQ_OK only if Named.direct was asked for, else CQ_NOTFOUND.
 */
static void
fake_serve(int lfd, void *arg)
{
	Conqueue__Request *req;
	Conqueue__Reply r;
	Conqueue__Welcome w;
	Conqueue__Limits l;
	int fd, fds[2], nconn = 0;
	size_t nfd;

	(void)arg;
	rc_welcome(&w, &l);
	/* The test makes three connections, one after the other. */
	while (nconn++ < 3 && (fd = accept(lfd, NULL, NULL)) >= 0) {
		while (rc_read_request(fd, &req) == 0) {
			conqueue__reply__init(&r);
			r.id = req->id;
			r.status = CQ_OK;
			nfd = 0;
			if (req->op_case == CONQUEUE__REQUEST__OP_HELLO)
				r.welcome = &w;
			if (req->op_case == CONQUEUE__REQUEST__OP_NAMED) {
				const char *n =
				    (const char *)req->named->name.data;
				size_t len = req->named->name.len;

				fds[0] = memfd_create("cq-bogus", MFD_CLOEXEC);
				fds[1] = eventfd(0, EFD_CLOEXEC);
				if (fds[0] < 0 || fds[1] < 0 ||
				    ftruncate(fds[0], 4096) != 0)
					_exit(72);
				if (len == 5 && memcmp(n, "bogus", 5) == 0) {
					r.has_fds = 1;
					r.fds = 2;
					nfd = 2;
				} else if (len == 5 &&
				           memcmp(n, "short", 5) == 0) {
					r.has_fds = 1;
					r.fds = 2;
					nfd = 1;
				} else if (len == 5 &&
				           memcmp(n, "extra", 5) == 0) {
					nfd = 1;
				} else if (!(req->named->has_direct &&
				               req->named->direct)) {
					r.status = CQ_NOTFOUND;
				}
				fake_send_fds(fd, &r, fds, nfd);
				close(fds[0]);
				close(fds[1]);
			} else if (rc_send_reply(fd, &r) != 0) {
				_exit(73);
			}
			conqueue__request__free_unpacked(req, NULL);
		}
		close(fd);
	}
	_exit(0);
}

/* Entries in /proc/self/fd. */
static int
nfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

START_TEST(test_fds_claimed_refused_and_never_leaked)
{
	char path[300];
	cq_client *c = NULL;
	cq_queue *q = NULL;
	pid_t pid;
	int before, i;

	unsetenv("CONQUEUE_DIRECT");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	pid = tu_fake_start(dir, "f.sock", path, sizeof path, fake_serve, NULL);
	ck_assert_int_gt(pid, 0);
	before = nfds();
	ck_assert_int_eq(
	    cq_connect_flags(&c, path, NULL, CQ_CONNECT_DIRECT), CQ_OK);
	for (i = 0; i < 20; i++) {
		/* Not a segment: refused, the open still succeeds. */
		ck_assert_int_eq(cq_open(c, "bogus", &q), CQ_OK);
		ck_assert_int_eq(cq_queue_direct(q), 0);
		cq_queue_free(q);
		/* Fewer fds than announced: that op is a protocol error. */
		ck_assert_int_eq(cq_open(c, "short", &q), CQ_PROTOCOL);
		ck_assert_ptr_null(q);
		/* An fd no frame claims waits in the FIFO, bounded. */
		ck_assert_int_eq(cq_open(c, "extra", &q), CQ_OK);
		ck_assert_int_eq(cq_queue_direct(q), 0);
		cq_queue_free(q);
	}
	ck_assert_int_eq(cq_open(c, "ask", &q), CQ_OK);
	cq_disconnect(c);
	ck_assert_int_eq(nfds(), before);
	/* Opting out: the open does not ask for the direct path. */
	ck_assert_int_eq(
	    cq_connect_flags(&c, path, NULL, CQ_CONNECT_NO_DIRECT), CQ_OK);
	ck_assert_int_eq(cq_open(c, "ask", &q), CQ_NOTFOUND);
	cq_disconnect(c);
	setenv("CONQUEUE_DIRECT", "0", 1);
	ck_assert_int_eq(
	    cq_connect_flags(&c, path, NULL, CQ_CONNECT_DIRECT), CQ_OK);
	ck_assert_int_eq(cq_open(c, "ask", &q), CQ_NOTFOUND);
	cq_disconnect(c);
	unsetenv("CONQUEUE_DIRECT");
	unsetenv("CONQUEUE_DIRECT");
	ck_assert_int_eq(nfds(), before);
	ck_assert(tu_fake_wait(pid));
	unlink(path);
	rmdir(dir);
}
END_TEST

/* The suite. */
static Suite *
fds_suite(void)
{
	Suite *s = suite_create("client_fds");
	TCase *tc = tcase_create("fake");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fds_claimed_refused_and_never_leaked);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite. */
int
main(void)
{
	SRunner *sr = srunner_create(fds_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
