/* check_daemon_hostile.c - conqueued against hostile state and neighbours. */

/*
 * Issue 20's cases that the daemon itself answers: a quarantined queue
 * keeps its name, planted files are ignored, a frame's deadline runs from
 * its first byte, and a low open-files limit does not lock admins out.
 * The planting test needs a second uid: it lives in the _root twin, which
 * exits 77 when not root.
 */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "rawclient.h"
#include "testutil.h"

/* The /dev/shm path of segment number segno of d. */
static void
seg_path(const struct tu_daemon *d, unsigned segno, char *buf, size_t len)
{
	snprintf(buf, len, "/dev/shm/conqueue-%s/%u", d->instance, segno);
}

/* The old-style (before the segment directory) path of segment segno. */
static void
old_seg_path(const struct tu_daemon *d, unsigned segno, char *buf, size_t len)
{
	snprintf(buf, len, "/dev/shm/conqueue-%s-%u", d->instance, segno);
}

/* The stat reply of name (caller frees), which must succeed. */
static Conqueue__Reply *
stat_of(int fd, const char *name)
{
	Conqueue__Reply *r =
	    rc_named(fd, CONQUEUE__NAMED__KIND__STAT, name, strlen(name));

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_ptr_nonnull(r->stat);
	return r;
}

/* 1 if LIST shows name, quarantined as q says; 0 if it is not listed. */
static int
listed(int fd, const char *name, int *q)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__ListQueues l = CONQUEUE__LIST_QUEUES__INIT;
	Conqueue__Reply *r;
	size_t i;
	int found = 0;

	req.op_case = CONQUEUE__REQUEST__OP_LIST;
	req.list = &l;
	r = rc_call(fd, &req);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	for (i = 0; i < r->n_queues; i++) {
		if (r->queues[i]->name.len == strlen(name) &&
		    memcmp(r->queues[i]->name.data, name, strlen(name)) == 0) {
			found = 1;
			*q = r->queues[i]->quarantined;
		}
	}
	conqueue__reply__free_unpacked(r, NULL);
	return found;
}

/* Push msg to name and expect status st. */
static void
expect_push(int fd, const char *name, const char *msg, int st)
{
	ck_assert_int_eq(rc_push(fd, name, msg, 0), st);
}

START_TEST(test_quarantined_queue_keeps_its_name)
{
	struct tu_daemon d;
	char path[300];
	Conqueue__Reply *r;
	uint64_t zero = 0;
	int fd, q = 0;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_create(fd, "keep", 4, 0600, 8, 64), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "good", 4, 0600, 8, 64), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "nameless", 8, 0600, 8, 64), CQ_OK);
	expect_push(fd, "keep", "k", CQ_OK);
	expect_push(fd, "good", "g", CQ_OK);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	/* keep: shrunk, its immutable header intact. */
	seg_path(&d, 1, path, sizeof path);
	ck_assert_int_eq(truncate(path, 4096), 0);
	/* nameless: its magic gone, so its name cannot be trusted. */
	seg_path(&d, 3, path, sizeof path);
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, &zero, 1, 3), 1);
	close(fd);
	ck_assert_int_eq(tu_daemon_restart(&d, NULL), 0);

	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	/* Ops on the name answer CQ_CORRUPT, and the name stays taken. */
	expect_push(fd, "keep", "x", CQ_CORRUPT);
	ck_assert_int_eq(rc_status(rc_pop(fd, "keep", 1, 0, 0)), CQ_CORRUPT);
	ck_assert_int_eq(rc_create(fd, "keep", 4, 0600, 8, 64), CQ_EXISTS);
	/* Its owner (and an admin) can inspect it. */
	r = stat_of(fd, "keep");
	ck_assert(r->stat->quarantined);
	ck_assert(r->stat->has_uid);
	ck_assert_uint_eq(r->stat->uid, getuid());
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert(listed(fd, "keep", &q));
	ck_assert(q);
	/* The untrusted one is listed under a name no client can create. */
	ck_assert(!listed(fd, "nameless", &q));
	ck_assert(listed(fd, ".quarantined-3", &q));
	ck_assert(q);
	/* Every other queue is served. */
	r = rc_pop(fd, "good", 1, 0, 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_uint_eq(r->n_msgs, 1);
	ck_assert_uint_eq(r->msgs[0]->data.len, 1);
	ck_assert_int_eq(r->msgs[0]->data.data[0], 'g');
	conqueue__reply__free_unpacked(r, NULL);
	/* Deleted by its name through the normal op, the name is free. */
	ck_assert_int_eq(
	    rc_status(rc_named(fd, CONQUEUE__NAMED__KIND__DELETE, "keep", 4)),
	    CQ_OK);
	seg_path(&d, 1, path, sizeof path);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert(!listed(fd, "keep", &q));
	ck_assert_int_eq(rc_create(fd, "keep", 4, 0600, 8, 64), CQ_OK);
	expect_push(fd, "keep", "new", CQ_OK);
	ck_assert_int_eq(rc_status(rc_named(fd, CONQUEUE__NAMED__KIND__DELETE,
	                     ".quarantined-3", 14)),
	    CQ_OK);
	ck_assert(!listed(fd, ".quarantined-3", &q));
	close(fd);
	tu_daemon_cleanup(&d);
}
END_TEST

START_TEST(test_frame_deadline_runs_from_first_byte)
{
	/* A frame declaring 200 bytes, of which one comes every 100 ms. */
	static const uint8_t start[] = {0, 0, 0, 200, 0x08};
	struct tu_daemon d;
	struct pollfd pfd;
	Conqueue__Reply *r;
	uint8_t byte = 0x01;
	int fd, sent = (int)sizeof start - 4;

	ck_assert_int_eq(
	    tu_daemon_start_config(&d, "frame_timeout_ms = 300\n"), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_write(fd, start, sizeof start), 0);
	/*
	 * Trickle until the daemon speaks: each byte comes well within the
	 * timeout of the last one, so only a deadline from the frame's first
	 * byte ends the frame before all of it is sent.
	 */
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (sent < 200) {
		pfd.revents = 0;
		if (poll(&pfd, 1, 100) != 0) /* 100 ms between bytes */
			break;
		if (rc_write(fd, &byte, 1) != 0)
			break;
		sent++;
	}
	ck_assert_int_lt(sent, 200);
	r = rc_recv(fd);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_PROTOCOL);
	ck_assert_ptr_nonnull(r->detail);
	ck_assert_ptr_nonnull(strstr(r->detail, "timed out"));
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert(rc_wait_eof(fd));
	close(fd);
	tu_daemon_cleanup(&d);
}
END_TEST

START_TEST(test_low_open_files_limit_still_answers)
{
	struct tu_daemon d;
	struct rlimit rl;
	int fd, conns[20], i, n;
	char name[32];

	/* As a shell's ulimit -n would leave it; the daemon inherits it. */
	ck_assert_int_eq(tu_daemon_start_nofile(&d, NULL, 64, 0), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	/* More queues than 64 descriptors, within what the hard limit has. */
	n = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1500
	        ? 1000
	        : (int)rl.rlim_max / 2;
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "q%d", i);
		ck_assert_int_eq(
		    rc_create(fd, name, strlen(name), 0600, 1, 16), CQ_OK);
	}
	for (i = 0; i < 20; i++) {
		conns[i] = rc_connect(d.sock);
		ck_assert_int_ge(conns[i], 0);
	}
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(rc_ping(conns[i]), CQ_OK);
		close(conns[i]);
	}
	close(fd);
	/* A new connection, after all that, is still answered. */
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	close(fd);
	tu_daemon_cleanup(&d);
}
END_TEST

/* Plant path as uid 'nobody' in a forked child: 0 if it did. */
static int
plant_as_nobody(const char *path, int symlink_to_passwd)
{
	struct passwd *pw = getpwnam("nobody");
	pid_t pid;
	int st, fd;

	if (pw == NULL)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(2);
		if (symlink_to_passwd)
			_exit(symlink("/etc/passwd", path) == 0 ? 0 : 3);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0666);
		_exit(fd >= 0 ? 0 : 4);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

START_TEST(test_planted_files_are_ignored)
{
	struct tu_daemon d;
	char path[300];
	int fd, q = 0, count;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_create(fd, "mine", 4, 0600, 8, 64), CQ_OK);
	expect_push(fd, "mine", "m", CQ_OK);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	/*
	 * Another uid plants a file and a symlink with (old-style) segment
	 * names: it cannot write in the daemon's directory at all.
	 */
	old_seg_path(&d, 7, path, sizeof path);
	ck_assert_int_eq(plant_as_nobody(path, 0), 0);
	old_seg_path(&d, 8, path, sizeof path);
	ck_assert_int_eq(plant_as_nobody(path, 1), 0);
	ck_assert_int_eq(tu_daemon_restart(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	/* Neither became a queue; the daemon's own queue is served. */
	ck_assert(!listed(fd, ".quarantined-7", &q));
	ck_assert(!listed(fd, ".quarantined-8", &q));
	ck_assert(listed(fd, "mine", &q));
	ck_assert(!q);
	count = tu_shm_count_prefix(d.instance);
	ck_assert_int_eq(count, 3); /* mine and the two planted files */
	ck_assert_int_eq(rc_create(fd, "more", 4, 0600, 8, 64), CQ_OK);
	close(fd);
	/* The planted files are not the daemon's to remove: the test's. */
	old_seg_path(&d, 7, path, sizeof path);
	unlink(path);
	old_seg_path(&d, 8, path, sizeof path);
	unlink(path);
	tu_daemon_cleanup(&d);
}
END_TEST

/* The suite. */
static Suite *
hostile_suite(void)
{
	Suite *s = suite_create("daemon_hostile");
	TCase *tc = tcase_create("hostile");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_quarantined_queue_keeps_its_name);
	tcase_add_test(tc, test_frame_deadline_runs_from_first_byte);
	tcase_add_test(tc, test_low_open_files_limit_still_answers);
	suite_add_tcase(s, tc);
	return s;
}

/* The tests that need a second uid (root to setuid to nobody). */
static Suite *
hostile_root_suite(void)
{
	Suite *s = suite_create("daemon_hostile_root");
	TCase *tc = tcase_create("hostile_root");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_planted_files_are_ignored);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	if (tu_is_variant(argv[0], "_root")) {
		tu_require(
		    geteuid() == 0, "check_daemon_hostile_root needs root");
		return tu_run(hostile_root_suite(), "hostileroot");
	}
	return tu_run(hostile_suite(), "hostile");
}
