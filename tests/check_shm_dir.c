/* check_shm_dir.c - segments in the daemon's own directory (issue 20). */

/*
 * conqueued keeps its segments in /dev/shm/conqueue-INSTANCE/ (0700, its
 * uid): nobody else can squat or plant a segment name there. It refuses a
 * directory that is a symlink, another uid's or writable by others, moves
 * old-style /dev/shm/conqueue-INSTANCE-N segments of its own in, ignores
 * what it did not make, and holds no fd per queue. Squatting by another
 * uid and the administrators' descriptor reserve need root (setuid
 * nobody): the _root twin, exit 77 otherwise.
 */

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
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

/* The daemon's segment directory. */
static void
dir_path(const struct tu_daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "/dev/shm/conqueue-%s", d->instance);
}

/* 1 if LIST shows name (quarantined or not: *q says). */
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
	for (i = 0; i < r->n_queues; i++)
		if (r->queues[i]->name.len == strlen(name) &&
		    memcmp(r->queues[i]->name.data, name, strlen(name)) == 0) {
			found = 1;
			*q = r->queues[i]->quarantined;
		}
	conqueue__reply__free_unpacked(r, NULL);
	return found;
}

/* Number of queues LIST shows. */
static size_t
count_listed(int fd)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__ListQueues l = CONQUEUE__LIST_QUEUES__INIT;
	Conqueue__Reply *r;
	size_t n;

	req.op_case = CONQUEUE__REQUEST__OP_LIST;
	req.list = &l;
	r = rc_call(fd, &req);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	n = r->n_queues;
	conqueue__reply__free_unpacked(r, NULL);
	return n;
}

/* Pop one message of name and check its bytes. */
static void
expect_pop(int fd, const char *name, const char *want)
{
	Conqueue__Reply *r = rc_pop(fd, name, 1, 0, 0);

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_uint_eq(r->n_msgs, 1);
	ck_assert_uint_eq(r->msgs[0]->data.len, strlen(want));
	ck_assert(memcmp(r->msgs[0]->data.data, want, strlen(want)) == 0);
	conqueue__reply__free_unpacked(r, NULL);
}

/* Open descriptors of process pid. */
static int
count_fds(pid_t pid)
{
	char path[64];
	DIR *dir;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

START_TEST(test_segments_live_in_a_private_directory)
{
	struct tu_daemon d;
	struct stat sb;
	char dir[300], seg[400];
	int fd;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_create(fd, "a", 1, 0600, 8, 64), CQ_OK);
	ck_assert_int_eq(rc_push(fd, "a", "x", 0), CQ_OK);
	dir_path(&d, dir, sizeof dir);
	ck_assert_int_eq(lstat(dir, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_uint_eq(sb.st_uid, geteuid());
	ck_assert_uint_eq(sb.st_mode & 07777, 0700);
	snprintf(seg, sizeof seg, "%s/1", dir);
	ck_assert_int_eq(lstat(seg, &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	/* Nothing in /dev/shm itself any more. */
	snprintf(seg, sizeof seg, "/dev/shm/conqueue-%s-1", d.instance);
	ck_assert_int_ne(access(seg, F_OK), 0);
	/* Delete removes the file from the directory. */
	ck_assert_int_eq(
	    rc_status(rc_named(fd, CONQUEUE__NAMED__KIND__DELETE, "a", 1)),
	    CQ_OK);
	snprintf(seg, sizeof seg, "%s/1", dir);
	ck_assert_int_ne(access(seg, F_OK), 0);
	close(fd);
	tu_daemon_cleanup(&d);
}
END_TEST

/* Run the daemon on d's socket and instance; its status, stderr in err. */
static int
run_on(const struct tu_daemon *d, char *err, size_t errlen)
{
	const char *args[] = {"-s", d->sock, "--instance", d->instance, NULL};

	return tu_daemon_run(args, err, errlen);
}

START_TEST(test_refuses_a_writable_directory)
{
	struct tu_daemon d;
	char dir[300], err[4096];

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	dir_path(&d, dir, sizeof dir);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_ne(run_on(&d, err, sizeof err), 0);
	ck_assert_msg(
	    strstr(err, "writable by nobody else") != NULL, "%s", err);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(tu_daemon_restart(&d, NULL), 0);
	tu_daemon_cleanup(&d);
}
END_TEST

START_TEST(test_refuses_a_symlink)
{
	struct tu_daemon d;
	char dir[300], other[] = "/tmp/cqshmdir.XXXXXX", err[4096];

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	dir_path(&d, dir, sizeof dir);
	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_ptr_nonnull(mkdtemp(other));
	ck_assert_int_eq(symlink(other, dir), 0);
	ck_assert_int_ne(run_on(&d, err, sizeof err), 0);
	ck_assert_msg(strstr(err, "symlink") != NULL, "%s", err);
	unlink(dir);
	rmdir(other);
	tu_daemon_cleanup(&d);
}
END_TEST

START_TEST(test_old_segments_move_in)
{
	struct tu_daemon d;
	char dir[300], seg[400], old[400];
	int fd, q = 1;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_create(fd, "m", 1, 0600, 8, 64), CQ_OK);
	ck_assert_int_eq(rc_push(fd, "m", "kept", 0), CQ_OK);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	/* Back to the layout of the previous release. */
	dir_path(&d, dir, sizeof dir);
	snprintf(seg, sizeof seg, "%s/1", dir);
	snprintf(old, sizeof old, "/dev/shm/conqueue-%s-1", d.instance);
	ck_assert_int_eq(rename(seg, old), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_int_eq(tu_daemon_restart(&d, NULL), 0);
	ck_assert_int_ne(access(old, F_OK), 0);
	ck_assert_int_eq(access(seg, F_OK), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert(listed(fd, "m", &q));
	ck_assert(!q);
	expect_pop(fd, "m", "kept");
	close(fd);
	tu_daemon_cleanup(&d);
}
END_TEST

START_TEST(test_strangers_in_the_directory_are_ignored)
{
	struct tu_daemon d;
	char dir[300], path[400];
	int fd, q = 1;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_create(fd, "m", 1, 0600, 8, 64), CQ_OK);
	ck_assert_int_eq(rc_push(fd, "m", "x", 0), CQ_OK);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	dir_path(&d, dir, sizeof dir);
	/* A bad name, a symlink and a directory with segment names. */
	snprintf(path, sizeof path, "%s/junk", dir);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(path, sizeof path, "%s/9", dir);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	snprintf(path, sizeof path, "%s/10", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(tu_daemon_restart(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(count_listed(fd), 1);
	ck_assert(listed(fd, "m", &q));
	ck_assert(!q);
	expect_pop(fd, "m", "x");
	ck_assert_int_eq(rc_create(fd, "n", 1, 0600, 8, 64), CQ_OK);
	close(fd);
	/* Left alone: not the daemon's. */
	snprintf(path, sizeof path, "%s/9", dir);
	ck_assert_int_eq(unlink(path), 0);
	snprintf(path, sizeof path, "%s/10", dir);
	ck_assert_int_eq(rmdir(path), 0);
	tu_daemon_cleanup(&d);
}
END_TEST

START_TEST(test_no_fd_per_queue)
{
	struct tu_daemon d;
	char name[32];
	int fd, before, after, i;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	before = count_fds(d.pid);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof name, "q%d", i);
		ck_assert_int_eq(
		    rc_create(fd, name, strlen(name), 0600, 1, 16), CQ_OK);
	}
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	after = count_fds(d.pid);
	ck_assert_msg(after - before < 5, "%d fds before 40 queues, %d after",
	    before, after);
	close(fd);
	/* Nor after a restart that attaches them. */
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	ck_assert_int_eq(tu_daemon_restart(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	ck_assert_int_lt(count_fds(d.pid), before + 5);
	close(fd);
	tu_daemon_cleanup(&d);
}
END_TEST

/*
 * As nobody in a forked child: squat the next 150 old-style names, and
 * try to create a file in the daemon's directory. 0 if the squat worked
 * and the directory refused.
 */
static int
squat_as_nobody(const struct tu_daemon *d)
{
	struct passwd *pw = getpwnam("nobody");
	char path[400];
	pid_t pid;
	int st, fd, i;

	if (pw == NULL)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(2);
		for (i = 1; i <= 150; i++) {
			snprintf(path, sizeof path, "/dev/shm/conqueue-%s-%d",
			    d->instance, i);
			if ((fd = open(
			         path, O_CREAT | O_EXCL | O_WRONLY, 0666)) < 0)
				_exit(3);
			close(fd);
		}
		snprintf(
		    path, sizeof path, "/dev/shm/conqueue-%s/1", d->instance);
		_exit(
		    open(path, O_CREAT | O_EXCL | O_WRONLY, 0666) < 0 ? 0 : 4);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

START_TEST(test_squatting_by_another_uid)
{
	struct tu_daemon d;
	char path[400];
	int fd, i;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	ck_assert_int_eq(squat_as_nobody(&d), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_create(fd, "r", 1, 0600, 8, 64), CQ_OK);
	close(fd);
	/* And at the next start the squatted names are not queues. */
	ck_assert_int_eq(tu_daemon_stop(&d), 0);
	ck_assert_int_eq(tu_daemon_restart(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(count_listed(fd), 1);
	ck_assert_int_eq(rc_create(fd, "s", 1, 0600, 8, 64), CQ_OK);
	close(fd);
	for (i = 1; i <= 150; i++) {
		snprintf(path, sizeof path, "/dev/shm/conqueue-%s-%d",
		    d.instance, i);
		ck_assert_int_eq(unlink(path), 0);
	}
	tu_daemon_cleanup(&d);
}
END_TEST

/*
 * A daemon limited to 96 open files; nobody opens connections until one
 * is refused, and holds them: root can still connect and ping.
 */
START_TEST(test_admin_connects_when_others_used_the_fds)
{
	const char *cfgpath =
	    tu_write_config("socket_mode = 0666\n"
	                    "max_connections = 1000\n"
	                    "max_connections_per_uid = 1000\n");
	const char *args[] = {"-c", cfgpath, NULL};
	struct passwd *pw = getpwnam("nobody");
	struct tu_daemon d;
	struct rlimit low;
	int pfd[2], fd, n = 0, rc;
	pid_t pid;

	tu_require(pw != NULL, "no user nobody");
	/*
	 * The daemon cannot raise it. Nor can this test process (its own
	 * fork under Check) raise it back without CAP_SYS_RESOURCE: it and
	 * the nobody child keep 96, more than either needs.
	 */
	rc = tu_daemon_start_nofile(&d, args, 96, 1);
	unlink(cfgpath);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &low), 0);
	ck_assert_int_eq(chmod(d.dir, 0755), 0);
	ck_assert_int_eq(pipe(pfd), 0);
	if ((pid = fork()) == 0) {
		close(pfd[0]);
		if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(2);
		/* Until refused (CQ_LIMIT or closed): never a hang. */
		while (n < 300 && rc_connect(d.sock) >= 0)
			n++;
		if (write(pfd[1], &n, sizeof n) != (ssize_t)sizeof n)
			_exit(3);
		pause(); /* hold them */
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	close(pfd[1]);
	ck_assert_int_eq(read(pfd[0], &n, sizeof n), (ssize_t)sizeof n);
	close(pfd[0]);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, (int)low.rlim_max);
	/* Root still gets in, twice. */
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	rc = rc_connect(d.sock);
	ck_assert_int_ge(rc, 0);
	ck_assert_int_eq(rc_ping(rc), CQ_OK);
	close(rc);
	close(fd);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	tu_daemon_cleanup(&d);
}
END_TEST

/* The suite. */
static Suite *
shm_dir_suite(void)
{
	Suite *s = suite_create("shm_dir");
	TCase *tc = tcase_create("shm_dir");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_segments_live_in_a_private_directory);
	tcase_add_test(tc, test_refuses_a_writable_directory);
	tcase_add_test(tc, test_refuses_a_symlink);
	tcase_add_test(tc, test_old_segments_move_in);
	tcase_add_test(tc, test_strangers_in_the_directory_are_ignored);
	tcase_add_test(tc, test_no_fd_per_queue);
	suite_add_tcase(s, tc);
	return s;
}

/* The tests that need a second uid (root to setuid to nobody). */
static Suite *
shm_dir_root_suite(void)
{
	Suite *s = suite_create("shm_dir_root");
	TCase *tc = tcase_create("shm_dir_root");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_squatting_by_another_uid);
	tcase_add_test(tc, test_admin_connects_when_others_used_the_fds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	if (tu_is_variant(argv[0], "_root")) {
		tu_require(geteuid() == 0, "check_shm_dir_root needs root");
		/* valgrind keeps descriptors of its own: no low RLIMIT_NOFILE.
		 */
		tu_require(getenv("CQ_UNDER_VALGRIND") == NULL,
		    "check_shm_dir_root sets a low RLIMIT_NOFILE, which "
		    "valgrind refuses");
		return tu_run(shm_dir_root_suite(), "shm_dir_root");
	}
	return tu_run(shm_dir_suite(), "shm_dir");
}
