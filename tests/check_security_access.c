/* check_security_access.c - the owner/group/other access matrix, as root. */

/*
 * Needs root (CI runs as root): it adds test users and groups with
 * useradd/groupadd and runs clients as them, so that identities come from
 * the kernel (SO_PEERCRED, SO_PEERGROUPS) exactly as in production. Users
 * left by an earlier run that died are removed before the run (pre-clean),
 * and after it whatever happened (fixture teardown and again in main).
 * Without root, or under valgrind (which would trace useradd, and
 * useradd leaks), the program exits 77 (skipped).
 */

#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "rawclient.h"
#include "testutil.h"

/* The actors of the matrix, and an extra member by a secondary group. */
enum sec_who { WHO_OWNER, WHO_MEMBER, WHO_OTHER, WHO_SUPPL, WHO_N };

static const char *const sec_user[WHO_N] = {
    "cqtest_owner", "cqtest_member", "cqtest_other", "cqtest_suppl"};
static const char *const sec_whoname[WHO_N] = {
    "owner", "member", "other", "suppl"};

/* The operations of the matrix. */
enum sec_op {
	OP_PUSH,
	OP_POP,
	OP_TRY,
	OP_RESERVE,
	OP_STAT,
	OP_CLOSE,
	OP_DELETE,
	OP_PAUSE,
	OP_CHMOD,
	OP_N
};

static const char *const sec_opname[OP_N] = {"push", "pop", "try", "reserve",
    "stat", "close", "delete", "pause", "chmod"};

static const unsigned sec_modes[] = {0600, 0640, 0660, 0620, 0666};
#define NMODES (sizeof sec_modes / sizeof sec_modes[0])

static struct tu_daemon D;
static int d_started;

/* Run a shell command quietly; its exit status. */
static int
sec_sh(const char *cmd)
{
	char buf[512];
	int st;

	snprintf(buf, sizeof buf, "(%s) >/dev/null 2>&1", cmd);
	st = system(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Remove the test users and groups, whether or not they exist. */
static void
sec_users_remove(void)
{
	int i;

	for (i = 0; i < WHO_N; i++) {
		char cmd[128];

		snprintf(cmd, sizeof cmd, "userdel %s", sec_user[i]);
		sec_sh(cmd);
		snprintf(cmd, sizeof cmd, "groupdel %s", sec_user[i]);
		sec_sh(cmd);
	}
	sec_sh("groupdel cqtest_grp");
}

/*
 * Owner and member have the queue group cqtest_grp as primary group; other
 * has a group of its own; suppl has its own primary group and cqtest_grp
 * only as a supplementary group.
 */
static int
sec_users_add(void)
{
	sec_users_remove();
	if (sec_sh("groupadd cqtest_grp") != 0 ||
	    sec_sh("useradd -M -N -g cqtest_grp -s /bin/false cqtest_owner") !=
	        0 ||
	    sec_sh("useradd -M -N -g cqtest_grp -s /bin/false cqtest_member") !=
	        0 ||
	    sec_sh("groupadd cqtest_other") != 0 ||
	    sec_sh(
	        "useradd -M -N -g cqtest_other -s /bin/false cqtest_other") !=
	        0 ||
	    sec_sh("groupadd cqtest_suppl") != 0 ||
	    sec_sh("useradd -M -N -g cqtest_suppl -G cqtest_grp -s /bin/false "
	           "cqtest_suppl") != 0)
		return -1;
	return 0;
}

/* Become user who (groups from the group database); 0 or -1. */
static int
sec_become(int who)
{
	struct passwd *pw = getpwnam(sec_user[who]);

	if (pw == NULL || initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
		return -1;
	return geteuid() == pw->pw_uid ? 0 : -1;
}

/* Checked fixture: users and a daemon everyone may connect to. */
static void
setup(void)
{
	const char *args[] = {"--socket-mode", "0666", NULL};

	signal(SIGPIPE, SIG_IGN);
	ck_assert_msg(sec_users_add() == 0, "useradd/groupadd failed");
	ck_assert_int_eq(tu_daemon_start(&D, args), 0);
	d_started = 1;
	ck_assert_int_eq(chmod(D.dir, 0711), 0);
}

/* Checked fixture teardown. */
static void
teardown(void)
{
	if (d_started)
		tu_daemon_cleanup(&D);
	d_started = 0;
	sec_users_remove();
}

/* The queue of one matrix cell. */
static void
cell_name(char *buf, size_t len, unsigned mode, int op, int who)
{
	snprintf(
	    buf, len, "m%04o-%s-%s", mode, sec_opname[op], sec_whoname[who]);
}

/* What the contract says: mode bits like a file, admin ops owner only. */
static int
expect_allowed(unsigned mode, int op, int who)
{
	unsigned bits;

	switch (who) {
	case WHO_OWNER:
		bits = mode >> 6;
		break;
	case WHO_MEMBER:
	case WHO_SUPPL:
		bits = mode >> 3;
		break;
	default:
		bits = mode;
		break;
	}
	bits &= 7;
	switch (op) {
	case OP_PUSH:
		return (bits & 2) != 0;
	case OP_POP:
	case OP_TRY:
	case OP_RESERVE:
	case OP_STAT:
		return (bits & 4) != 0;
	default:
		return who == WHO_OWNER;
	}
}

/* The mode a chmod cell sets (differs from every mode of the matrix). */
static unsigned
chmod_target(unsigned mode)
{
	return mode | 0004;
}

/* In a child as the owner: create every cell's queue with one message. */
static int
child_owner_creates(int nwho)
{
	char name[64];
	size_t m;
	int fd, op, who;

	if (sec_become(WHO_OWNER) != 0)
		return 100;
	if ((fd = rc_connect(D.sock)) < 0)
		return 101;
	for (m = 0; m < NMODES; m++)
		for (op = 0; op < OP_N; op++)
			for (who = 0; who < nwho; who++) {
				cell_name(
				    name, sizeof name, sec_modes[m], op, who);
				if (rc_create(fd, name, strlen(name),
				        sec_modes[m], 4, 64) != CQ_OK)
					return 1;
				if (rc_push(fd, name, "x", 0) != CQ_OK)
					return 2;
			}
	close(fd);
	return 0;
}

/* Do op on name; the status (plain pops are confirmed). */
static int
do_op(int fd, const char *name, int op, unsigned mode)
{
	Conqueue__Reply *r;
	Conqueue__Named__Kind k;
	int st;

	switch (op) {
	case OP_PUSH:
		return rc_push(fd, name, "y", 0);
	case OP_POP:
	case OP_TRY:
	case OP_RESERVE:
		r = rc_pop(
		    fd, name, 1, op == OP_POP ? 5000 : 0, op == OP_RESERVE);
		if (r == NULL)
			return -1;
		st = (int)r->status;
		if (st == CQ_OK && op != OP_RESERVE)
			rc_confirm(fd, r->id);
		conqueue__reply__free_unpacked(r, NULL);
		return st;
	case OP_CHMOD:
		return rc_chmod(fd, name, chmod_target(mode));
	case OP_STAT:
		k = CONQUEUE__NAMED__KIND__STAT;
		break;
	case OP_CLOSE:
		k = CONQUEUE__NAMED__KIND__CLOSE;
		break;
	case OP_DELETE:
		k = CONQUEUE__NAMED__KIND__DELETE;
		break;
	default:
		k = CONQUEUE__NAMED__KIND__PAUSE;
		break;
	}
	return rc_status(rc_named(fd, k, name, strlen(name)));
}

/* In a child as who: every op on its cells, statuses written to out. */
static int
child_actor(int who, int out)
{
	unsigned char st[NMODES * OP_N];
	char name[64];
	size_t m, n = 0;
	int fd, op;

	if (sec_become(who) != 0)
		return 100;
	if ((fd = rc_connect(D.sock)) < 0)
		return 101;
	for (m = 0; m < NMODES; m++)
		for (op = 0; op < OP_N; op++) {
			cell_name(name, sizeof name, sec_modes[m], op, who);
			st[n++] =
			    (unsigned char)do_op(fd, name, op, sec_modes[m]);
		}
	/* Hang up only after a round trip: every op was applied. */
	if (rc_ping(fd) != CQ_OK)
		return 102;
	close(fd);
	return write(out, st, n) == (ssize_t)n ? 0 : 103;
}

/* Fork a child running fn-like code as who; its exit status. */
static int
run_child(int who, int out, int nwho)
{
	int st;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(who < 0 ? child_owner_creates(nwho)
		              : child_actor(who, out));
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 200;
}

/*
 * Check, as the admin, what each cell left behind: a denied op changed
 * nothing, an allowed one did exactly its job. Returns a failure text or
 * NULL.
 */
static const char *
check_after(int fd, unsigned mode, int op, int allowed, const char *name)
{
	Conqueue__Reply *r =
	    rc_named(fd, CONQUEUE__NAMED__KIND__STAT, name, strlen(name));
	const char *bad = NULL;
	uint64_t want_len = 1;

	if (r == NULL)
		return "no stat reply";
	if (op == OP_DELETE && allowed)
		return rc_status(r) == CQ_NOTFOUND ? NULL : "not deleted";
	if (r->status != CQ_OK || r->stat == NULL) {
		rc_status(r);
		return "queue gone";
	}
	if (op == OP_PUSH && allowed)
		want_len = 2;
	if ((op == OP_POP || op == OP_TRY) && allowed)
		want_len = 0;
	if (op != OP_RESERVE && r->stat->length != want_len)
		bad = "wrong length";
	if (r->stat->closed != (op == OP_CLOSE && allowed))
		bad = "wrong closed flag";
	if (r->stat->paused != (op == OP_PAUSE && allowed))
		bad = "wrong paused flag";
	if (r->stat->mode !=
	    (op == OP_CHMOD && allowed ? chmod_target(mode) : mode))
		bad = "wrong mode";
	rc_status(r);
	return bad;
}

START_TEST(test_access_matrix)
{
	unsigned char got[WHO_OTHER + 1][NMODES * OP_N];
	char name[64], table[8192], fails[4096];
	size_t m, off = 0, foff = 0;
	int p[2], who, op, fd, rc, nfail = 0;
	const char *why;

	ck_assert_int_eq(run_child(-1, -1, WHO_OTHER + 1), 0);
	for (who = WHO_OWNER; who <= WHO_OTHER; who++) {
		ck_assert_int_eq(pipe(p), 0);
		rc = run_child(who, p[1], 0);
		close(p[1]);
		ck_assert_msg(
		    rc == 0, "%s child failed (%d)", sec_whoname[who], rc);
		ck_assert_int_eq(read(p[0], got[who], sizeof got[who]),
		    (ssize_t)sizeof got[who]);
		close(p[0]);
	}
	fd = rc_connect(D.sock);
	ck_assert_int_ge(fd, 0);
	off += (size_t)snprintf(
	    table + off, sizeof table - off, "%-6s %-7s", "mode", "who");
	for (op = 0; op < OP_N; op++)
		off += (size_t)snprintf(
		    table + off, sizeof table - off, " %-7s", sec_opname[op]);
	off += (size_t)snprintf(table + off, sizeof table - off, "\n");
	fails[0] = '\0';
	for (m = 0; m < NMODES; m++)
		for (who = WHO_OWNER; who <= WHO_OTHER; who++) {
			off += (size_t)snprintf(table + off, sizeof table - off,
			    "%04o   %-7s", sec_modes[m], sec_whoname[who]);
			for (op = 0; op < OP_N; op++) {
				int st = got[who][m * OP_N + (size_t)op];
				int allow =
				    expect_allowed(sec_modes[m], op, who);
				int ok = allow ? st == CQ_OK : st == CQ_DENIED;

				cell_name(
				    name, sizeof name, sec_modes[m], op, who);
				why = ok ? check_after(fd, sec_modes[m], op,
				               allow, name)
				         : "wrong status";
				off += (size_t)snprintf(table + off,
				    sizeof table - off, " %-7s",
				    st == CQ_OK       ? "allow"
				    : st == CQ_DENIED ? "deny"
				                      : cq_strstatus(st));
				if (why != NULL) {
					nfail++;
					foff += (size_t)snprintf(fails + foff,
					    sizeof fails - foff,
					    "%s: %s (status %d)\n", name, why,
					    st);
				}
			}
			off += (size_t)snprintf(
			    table + off, sizeof table - off, "\n");
		}
	close(fd);
	printf("access matrix (queue of cqtest_owner, group cqtest_grp):\n%s",
	    table);
	fflush(stdout);
	ck_assert_msg(nfail == 0, "%d cells wrong:\n%s", nfail, fails);
}
END_TEST

/*
 * A user whose supplementary (not primary) group owns the queue gets the
 * group's bits: the daemon reads SO_PEERGROUPS, never trusts the client.
 */
START_TEST(test_supplementary_group_access)
{
	const unsigned modes[] = {0640, 0620, 0600};
	unsigned char st[3][2];
	char name[64];
	int p[2], rc, fd;
	size_t i;
	pid_t pid;

	/* The owner makes three queues; suppl tries push and pop on each. */
	fd = -1;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (sec_become(WHO_OWNER) != 0 || (fd = rc_connect(D.sock)) < 0)
			_exit(100);
		for (i = 0; i < 3; i++) {
			snprintf(name, sizeof name, "g%04o", modes[i]);
			if (rc_create(fd, name, strlen(name), modes[i], 4,
			        64) != CQ_OK ||
			    rc_push(fd, name, "x", 0) != CQ_OK)
				_exit(1);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &rc, 0), pid);
	ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "owner failed");
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		if (sec_become(WHO_SUPPL) != 0 || (fd = rc_connect(D.sock)) < 0)
			_exit(100);
		for (i = 0; i < 3; i++) {
			snprintf(name, sizeof name, "g%04o", modes[i]);
			st[i][0] = (unsigned char)rc_push(fd, name, "y", 0);
			st[i][1] = (unsigned char)do_op(fd, name, OP_TRY, 0);
		}
		_exit(write(p[1], st, sizeof st) == (ssize_t)sizeof st ? 0 : 1);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], st, sizeof st), (ssize_t)sizeof st);
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &rc, 0), pid);
	ck_assert_int_eq(st[0][0], CQ_DENIED); /* 0640: read only */
	ck_assert_int_eq(st[0][1], CQ_OK);
	ck_assert_int_eq(st[1][0], CQ_OK); /* 0620: write only */
	ck_assert_int_eq(st[1][1], CQ_DENIED);
	ck_assert_int_eq(st[2][0], CQ_DENIED); /* 0600: nothing */
	ck_assert_int_eq(st[2][1], CQ_DENIED);
}
END_TEST

/* In a child as who: the names a list shows, space-separated, to out. */
static int
child_list(int who, int out)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__ListQueues l = CONQUEUE__LIST_QUEUES__INIT;
	Conqueue__Reply *rep;
	char buf[512];
	size_t i, off = 0;
	int fd;

	if (sec_become(who) != 0 || (fd = rc_connect(D.sock)) < 0)
		return 100;
	r.op_case = CONQUEUE__REQUEST__OP_LIST;
	r.list = &l;
	if ((rep = rc_call(fd, &r)) == NULL || rep->status != CQ_OK)
		return 1;
	buf[0] = '\0';
	for (i = 0; i < rep->n_queues && off < sizeof buf; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, " %.*s",
		    (int)rep->queues[i]->name.len,
		    (const char *)rep->queues[i]->name.data);
	conqueue__reply__free_unpacked(rep, NULL);
	return write(out, buf, strlen(buf)) < 0 ? 2 : 0;
}

/* The names a list shows to who, sorted, in buf. */
static void
list_as(int who, char *buf, size_t len)
{
	char raw[512], *w[16], *tok, *save = NULL;
	int p[2], st, n = 0, i, j;
	size_t off = 0;
	ssize_t got;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		_exit(child_list(who, p[1]));
	}
	close(p[1]);
	got = read(p[0], raw, sizeof raw - 1);
	raw[got > 0 ? got : 0] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "list as %s",
	    sec_whoname[who]);
	for (tok = strtok_r(raw, " ", &save); tok != NULL && n < 16;
	     tok = strtok_r(NULL, " ", &save))
		w[n++] = tok;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(w[j - 1], w[j]) > 0; j--) {
			tok = w[j];
			w[j] = w[j - 1];
			w[j - 1] = tok;
		}
	buf[0] = '\0';
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(
		    buf + off, len - off, "%s%s", i ? " " : "", w[i]);
}

/* list shows a user the queues it may read; an admin sees every queue. */
START_TEST(test_list_shows_readable_queues)
{
	const unsigned modes[] = {0600, 0640, 0604, 0620, 0200};
	char name[16], got[512];
	int fd, st;
	size_t i;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (sec_become(WHO_OWNER) != 0 || (fd = rc_connect(D.sock)) < 0)
			_exit(100);
		for (i = 0; i < 5; i++) {
			snprintf(name, sizeof name, "l%04o", modes[i]);
			if (rc_create(fd, name, strlen(name), modes[i], 4,
			        64) != CQ_OK)
				_exit(1);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "owner failed");
	list_as(WHO_OWNER, got, sizeof got);
	ck_assert_str_eq(got, "l0600 l0604 l0620 l0640");
	list_as(WHO_MEMBER, got, sizeof got);
	ck_assert_str_eq(got, "l0640");
	list_as(WHO_OTHER, got, sizeof got);
	ck_assert_str_eq(got, "l0604");
	/* Root, an admin, sees all five. */
	fd = rc_connect(D.sock);
	ck_assert_int_ge(fd, 0);
	{
		Conqueue__Request r = CONQUEUE__REQUEST__INIT;
		Conqueue__ListQueues l = CONQUEUE__LIST_QUEUES__INIT;
		Conqueue__Reply *rep;

		r.op_case = CONQUEUE__REQUEST__OP_LIST;
		r.list = &l;
		rep = rc_call(fd, &r);
		ck_assert_ptr_nonnull(rep);
		ck_assert_uint_eq(rep->n_queues, 5);
		conqueue__reply__free_unpacked(rep, NULL);
	}
	close(fd);
}
END_TEST

/* In a child as who: connect and ping; 0, or the connect errno. */
static int
child_connect(int who)
{
	int fd;

	if (sec_become(who) != 0)
		return 100;
	if ((fd = rc_connect_raw(D.sock)) < 0)
		return errno == EACCES ? 13 : 101;
	close(fd);
	if ((fd = rc_connect(D.sock)) < 0 || rc_ping(fd) != CQ_OK)
		return 102;
	close(fd);
	return 0;
}

/* socket_group and socket_mode 0660: the group gets in, others do not. */
START_TEST(test_socket_group)
{
	const char *args[] = {
	    "--socket-mode", "0660", "--socket-group", "cqtest_grp", NULL};
	struct group *gr = getgrnam("cqtest_grp");
	struct stat sb;
	int who, st, rc;
	pid_t pid;

	ck_assert_ptr_nonnull(gr);
	tu_daemon_cleanup(&D);
	rc = tu_daemon_start(&D, args);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(chmod(D.dir, 0711), 0);
	ck_assert_int_eq(stat(D.sock, &sb), 0);
	ck_assert(S_ISSOCK(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 07777, 0660);
	ck_assert_uint_eq(sb.st_gid, gr->gr_gid);
	for (who = WHO_OWNER; who < WHO_N; who++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			_exit(child_connect(who));
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFEXITED(st));
		/* suppl is in the group by a supplementary group only. */
		ck_assert_msg(WEXITSTATUS(st) == (who == WHO_OTHER ? 13 : 0),
		    "%s: %d", sec_whoname[who], WEXITSTATUS(st));
	}
}
END_TEST

/* The suite. */
static Suite *
access_suite(void)
{
	Suite *s = suite_create("security_access");
	TCase *tc = tcase_create("matrix");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_access_matrix);
	tcase_add_test(tc, test_list_shows_readable_queues);
	tcase_add_test(tc, test_socket_group);
	tcase_add_test(tc, test_supplementary_group_access);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int rc;

	tu_require(geteuid() == 0, "check_security_access needs root (useradd "
	                           "and clients of several uids); CI runs it "
	                           "as root");
	/* valgrind would follow useradd too, which leaks by design. */
	tu_require(getenv("CQ_UNDER_VALGRIND") == NULL,
	    "check_security_access under valgrind (useradd leaks); the plain "
	    "and ASan runs cover it");
	sec_users_remove(); /* leftovers of a run that was killed */
	rc = tu_run(access_suite(), "secacc");
	sec_users_remove();
	return rc;
}
