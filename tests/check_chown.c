/* check_chown.c - chown of queues: who may, quotas, persistence, as root. */

/*
 * Needs root: clients run in forked children that setgroups/setgid/setuid
 * to numeric ids no user database knows (the daemon only sees what
 * SO_PEERCRED and SO_PEERGROUPS report), so nothing is added to
 * /etc/passwd and parallel suites cannot collide. Without root the
 * program exits 77 (skipped). tu_run removes every daemon a test started
 * even when a failed test skipped its teardown.
 */

#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "rawclient.h"
#include "testutil.h"

/* Numeric identities: primary group, one optional supplementary group. */
struct who {
	const char *name;
	uint32_t uid;
	uint32_t gid;
	uint32_t suppl; /* 0: none */
};

#define G_A     61101u /* A's primary group */
#define G_SHARE 61102u /* A's supplementary group, C's primary */
#define G_B     61103u /* B's primary group */
#define G_X     61104u /* nobody's group */

static const struct who A = {"A", 61001, G_A, G_SHARE};
static const struct who B = {"B", 61002, G_B, 0};
static const struct who C = {"C", 61003, G_SHARE, 0};

static struct tu_daemon D;
static int d_started;
static char conf_path[64];
static char conf_storage[64]; /* max_storage_per_uid 18 MiB */
static const char *d_args[] = {"-c", conf_path, "--socket-mode", "0666", NULL};

/* Client operations a child runs. */
enum chop {
	OP_CREATE,
	OP_CHOWN,
	OP_CHMOD,
	OP_CLOSE,
	OP_DELETE,
	OP_STAT,
	OP_DEAD_LETTER,
	OP_CREATE_BIG
};

/* Start the daemon with the config (max_queues_per_uid 1) everyone reaches. */
static void
setup(void)
{

	signal(SIGPIPE, SIG_IGN);
	d_started = tu_daemon_start(&D, d_args) == 0;
	ck_assert(d_started);
	ck_assert_int_eq(chmod(D.dir, 0711), 0);
}

/* Stop the daemon and remove its segments. */
static void
teardown(void)
{
	if (d_started)
		tu_daemon_cleanup(&D);
	d_started = 0;
}

/* In a child: take w's identity (groups first, uid last); 0 or -1. */
static int
become(const struct who *w)
{
	gid_t groups[2];
	int n = 0;

	groups[n++] = w->gid;
	if (w->suppl != 0)
		groups[n++] = w->suppl;
	if (setgroups((size_t)n, groups) != 0 || setgid(w->gid) != 0 ||
	    setuid(w->uid) != 0 || geteuid() != w->uid)
		return -1;
	return 0;
}

/*
 * In a child: run op on queue name; the cq_status, 100+ on setup errors.
 * CREATE: mode a, max_deliveries b; CREATE_BIG: mode a, capacity b of
 * 64 KiB messages and max_bytes for all of them (256: about 16.8 MB of
 * storage charged, 64: about 4.2 MB).
 * DEAD_LETTER: push, reserve and release one message (at max_deliveries 1 it
 * goes to NAME.dlq).
 */
static int
child_op(enum chop op, const char *name, int64_t a, int64_t b)
{
	cq_queue_attr attr;
	cq_queue_stat st;
	cq_client *c;
	cq_queue *q;
	cq_msg *m;
	cq_status s;

	if (cq_connect(&c, D.sock) != CQ_OK)
		return 101;
	if (op == OP_CREATE || op == OP_CREATE_BIG) {
		memset(&attr, 0, sizeof attr);
		attr.capacity = op == OP_CREATE ? 4 : (uint32_t)b;
		attr.max_size = op == OP_CREATE ? 64 : 65536;
		attr.mode = (uint32_t)a;
		attr.max_deliveries = op == OP_CREATE ? (uint32_t)b : 0;
		/* The quota charges max_bytes: as much as every slot. */
		s = cq_create_bounded(c, name, &attr, 0,
		    op == OP_CREATE ? 0 : (uint64_t)attr.capacity * 65536);
	} else if (op == OP_DELETE) {
		s = cq_delete(c, name);
	} else if ((s = cq_open(c, name, &q)) == CQ_OK) {
		switch (op) {
		case OP_CHOWN:
			s = cq_chown(q, a, b);
			break;
		case OP_CHMOD:
			s = cq_chmod(q, (uint32_t)a);
			break;
		case OP_CLOSE:
			s = cq_close(q);
			break;
		case OP_DEAD_LETTER:
			if ((s = cq_push(q, "m", 1, CQ_FOREVER)) == CQ_OK &&
			    (s = cq_reserve(q, &m, 0, 0)) == CQ_OK) {
				s = cq_release(q, cq_msg_id(m));
				cq_msg_free(m);
			}
			break;
		default:
			/* STAT: CQ_OK only if the owner is a:b. */
			if ((s = cq_stat(q, &st)) == CQ_OK &&
			    (st.uid != (uid_t)a || st.gid != (gid_t)b))
				s = 102;
			break;
		}
		cq_queue_free(q);
	}
	cq_disconnect(c);
	return (int)s;
}

/* Run op as w (NULL: as root, still in a child); its status. */
static int
as(const struct who *w, enum chop op, const char *name, int64_t a, int64_t b)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (w != NULL && become(w) != 0)
			_exit(100);
		_exit(child_op(op, name, a, b));
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "child killed");
	return WEXITSTATUS(st);
}

/* Owner of name as root sees it through stat: *uid, *gid. */
static void
root_owner(const char *name, uint32_t *uid, uint32_t *gid)
{
	cq_queue_stat st;
	cq_client *c;
	cq_queue *q;

	ck_assert_int_eq(cq_connect(&c, D.sock), CQ_OK);
	ck_assert_int_eq(cq_open(c, name, &q), CQ_OK);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	*uid = (uint32_t)st.uid;
	*gid = (uint32_t)st.gid;
	cq_queue_free(q);
	cq_disconnect(c);
}

/* As root: name's queued and in-flight counts. */
static void
root_counts(const char *name, uint64_t *length, uint64_t *in_flight)
{
	cq_queue_stat st;
	cq_client *c;
	cq_queue *q;

	ck_assert_int_eq(cq_connect(&c, D.sock), CQ_OK);
	ck_assert_int_eq(cq_open(c, name, &q), CQ_OK);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	*length = st.length;
	*in_flight = st.in_flight;
	cq_queue_free(q);
	cq_disconnect(c);
}

/* As root: the uid/gid list shows for name; 1 if listed, else 0. */
static int
root_list_owner(const char *name, uint32_t *uid, uint32_t *gid)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__ListQueues l = CONQUEUE__LIST_QUEUES__INIT;
	Conqueue__Reply *rep;
	int fd, found = 0;
	size_t i;

	ck_assert_int_ge(fd = rc_connect(D.sock), 0);
	r.op_case = CONQUEUE__REQUEST__OP_LIST;
	r.list = &l;
	rep = rc_call(fd, &r);
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->status, CQ_OK);
	for (i = 0; i < rep->n_queues; i++) {
		const Conqueue__QueueStat *s = rep->queues[i];

		if (s->name.len == strlen(name) &&
		    memcmp(s->name.data, name, s->name.len) == 0) {
			ck_assert(s->has_uid && s->has_gid);
			*uid = s->uid;
			*gid = s->gid;
			found = 1;
		}
	}
	conqueue__reply__free_unpacked(rep, NULL);
	close(fd);
	return found;
}

/* Assert name's owner as stat and list show it. */
static void
assert_owner(const char *name, uint32_t uid, uint32_t gid)
{
	uint32_t u = 0, g = 0;

	root_owner(name, &u, &g);
	ck_assert_uint_eq(u, uid);
	ck_assert_uint_eq(g, gid);
	u = g = 0;
	ck_assert(root_list_owner(name, &u, &g));
	ck_assert_uint_eq(u, uid);
	ck_assert_uint_eq(g, gid);
}

/* An admin gives A's queue to B: B may administer it, A no longer. */
START_TEST(test_admin_changes_uid)
{
	ck_assert_int_eq(as(&A, OP_CREATE, "qa", 0600, 0), CQ_OK);
	assert_owner("qa", A.uid, A.gid);
	/* A cannot give it away: a new uid is the admin's call. */
	ck_assert_int_eq(as(&A, OP_CHOWN, "qa", B.uid, -1), CQ_DENIED);
	assert_owner("qa", A.uid, A.gid);
	ck_assert_int_eq(as(NULL, OP_CHOWN, "qa", B.uid, -1), CQ_OK);
	assert_owner("qa", B.uid, A.gid);
	/* 0600 now means B: A is "other" and may not even stat it. */
	ck_assert_int_eq(as(&A, OP_STAT, "qa", B.uid, A.gid), CQ_DENIED);
	ck_assert_int_eq(as(&A, OP_CHMOD, "qa", 0666, 0), CQ_DENIED);
	ck_assert_int_eq(as(&A, OP_CLOSE, "qa", 0, 0), CQ_DENIED);
	ck_assert_int_eq(as(&A, OP_DELETE, "qa", 0, 0), CQ_DENIED);
	ck_assert_int_eq(as(&A, OP_CHOWN, "qa", -1, G_A), CQ_DENIED);
	ck_assert_int_eq(as(&B, OP_STAT, "qa", B.uid, A.gid), CQ_OK);
	ck_assert_int_eq(as(&B, OP_CHMOD, "qa", 0640, 0), CQ_OK);
	ck_assert_int_eq(as(&B, OP_CLOSE, "qa", 0, 0), CQ_OK);
	ck_assert_int_eq(as(&B, OP_DELETE, "qa", 0, 0), CQ_OK);
	ck_assert_int_eq(as(NULL, OP_STAT, "qa", 0, 0), CQ_NOTFOUND);
}
END_TEST

/* The owner moves the group to one of its groups only; it takes effect. */
START_TEST(test_owner_changes_gid)
{
	ck_assert_int_eq(as(&A, OP_CREATE, "qg", 0640, 0), CQ_OK);
	/* C (primary group G_SHARE) is "other" while the group is G_A. */
	ck_assert_int_eq(as(&C, OP_STAT, "qg", A.uid, G_A), CQ_DENIED);
	/* G_SHARE is one of A's supplementary groups. */
	ck_assert_int_eq(as(&A, OP_CHOWN, "qg", -1, G_SHARE), CQ_OK);
	assert_owner("qg", A.uid, G_SHARE);
	ck_assert_int_eq(as(&C, OP_STAT, "qg", A.uid, G_SHARE), CQ_OK);
	/* A is not in G_X; nothing changes. */
	ck_assert_int_eq(as(&A, OP_CHOWN, "qg", -1, G_X), CQ_DENIED);
	assert_owner("qg", A.uid, G_SHARE);
	/* Back to its primary group; its own uid is no change (chown(2)). */
	ck_assert_int_eq(as(&A, OP_CHOWN, "qg", A.uid, G_A), CQ_OK);
	assert_owner("qg", A.uid, G_A);
	ck_assert_int_eq(as(&C, OP_STAT, "qg", A.uid, G_A), CQ_DENIED);
	/* An admin may set any group. */
	ck_assert_int_eq(as(NULL, OP_CHOWN, "qg", -1, G_X), CQ_OK);
	assert_owner("qg", A.uid, G_X);
}
END_TEST

/* Anyone but the owner or an admin is denied, group members included. */
START_TEST(test_non_owner_denied)
{
	ck_assert_int_eq(as(&A, OP_CREATE, "qn", 0666, 0), CQ_OK);
	ck_assert_int_eq(as(&A, OP_CHOWN, "qn", -1, G_SHARE), CQ_OK);
	/* C is in the queue's group and may read and write, not chown. */
	ck_assert_int_eq(as(&C, OP_CHOWN, "qn", -1, G_SHARE), CQ_DENIED);
	ck_assert_int_eq(as(&C, OP_CHOWN, "qn", C.uid, -1), CQ_DENIED);
	ck_assert_int_eq(as(&B, OP_CHOWN, "qn", -1, G_B), CQ_DENIED);
	ck_assert_int_eq(as(&B, OP_CHOWN, "qn", B.uid, B.gid), CQ_DENIED);
	assert_owner("qn", A.uid, G_SHARE);
}
END_TEST

/* Bad requests: neither id, the all-ones id, no such queue. */
START_TEST(test_invalid_requests)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Chown ch = CONQUEUE__CHOWN__INIT;
	uint8_t qi[] = "qi", nosuch[] = "nosuch";
	int fd;

	ck_assert_int_eq(as(&A, OP_CREATE, "qi", 0600, 0), CQ_OK);
	ck_assert_int_ge(fd = rc_connect(D.sock), 0);
	r.op_case = CONQUEUE__REQUEST__OP_CHOWN;
	r.chown = &ch;
	ch.name.data = qi;
	ch.name.len = 2;
	ck_assert_int_eq(rc_status(rc_call(fd, &r)), CQ_INVALID);
	ch.has_uid = 1;
	ch.uid = UINT32_MAX;
	ck_assert_int_eq(rc_status(rc_call(fd, &r)), CQ_INVALID);
	ch.uid = B.uid;
	ch.has_gid = 1;
	ch.gid = UINT32_MAX;
	ck_assert_int_eq(rc_status(rc_call(fd, &r)), CQ_INVALID);
	ch.name.data = nosuch;
	ch.name.len = 6;
	ch.gid = G_B;
	ck_assert_int_eq(rc_status(rc_call(fd, &r)), CQ_NOTFOUND);
	close(fd);
	/* The library refuses what it cannot send. */
	ck_assert_int_eq(as(NULL, OP_CHOWN, "qi", -1, -1), CQ_INVALID);
	ck_assert_int_eq(as(NULL, OP_CHOWN, "qi", -2, -1), CQ_INVALID);
	ck_assert_int_eq(as(NULL, OP_CHOWN, "qi", UINT32_MAX, -1), CQ_INVALID);
	assert_owner("qi", A.uid, A.gid);
}
END_TEST

/* The queue count moves to the new uid, under its max_queues_per_uid (1). */
START_TEST(test_quota_moves_or_limit)
{
	ck_assert_int_eq(as(&A, OP_CREATE, "qa1", 0600, 0), CQ_OK);
	ck_assert_int_eq(as(&B, OP_CREATE, "qb", 0600, 0), CQ_OK);
	/* B is at its limit: nothing changes, A still administers it. */
	ck_assert_int_eq(as(NULL, OP_CHOWN, "qa1", B.uid, B.gid), CQ_LIMIT);
	assert_owner("qa1", A.uid, A.gid);
	ck_assert_int_eq(as(&B, OP_CHMOD, "qa1", 0644, 0), CQ_DENIED);
	ck_assert_int_eq(as(&A, OP_CHMOD, "qa1", 0640, 0), CQ_OK);
	/* The group alone moves no quota. */
	ck_assert_int_eq(as(NULL, OP_CHOWN, "qa1", -1, B.gid), CQ_OK);
	assert_owner("qa1", A.uid, B.gid);
	ck_assert_int_eq(as(&A, OP_CREATE, "qa2", 0600, 0), CQ_LIMIT);
	/* With B's queue gone the move fits, and frees A's count. */
	ck_assert_int_eq(as(&B, OP_DELETE, "qb", 0, 0), CQ_OK);
	ck_assert_int_eq(as(NULL, OP_CHOWN, "qa1", B.uid, -1), CQ_OK);
	assert_owner("qa1", B.uid, B.gid);
	ck_assert_int_eq(as(&A, OP_CREATE, "qa2", 0600, 0), CQ_OK);
	ck_assert_int_eq(as(&B, OP_CREATE, "qb2", 0600, 0), CQ_LIMIT);
}
END_TEST

/* The owner lives in the segment: a killed daemon's successor keeps it. */
START_TEST(test_survives_restart)
{
	ck_assert_int_eq(as(&A, OP_CREATE, "qr", 0600, 0), CQ_OK);
	ck_assert_int_eq(as(NULL, OP_CHOWN, "qr", B.uid, G_SHARE), CQ_OK);
	tu_daemon_kill(&D);
	ck_assert_int_eq(tu_daemon_restart(&D, d_args), 0);
	assert_owner("qr", B.uid, G_SHARE);
	ck_assert_int_eq(as(&A, OP_CHMOD, "qr", 0666, 0), CQ_DENIED);
	ck_assert_int_eq(as(&B, OP_CHMOD, "qr", 0640, 0), CQ_OK);
	/* C reads through the group; the usage was charged to B again. */
	ck_assert_int_eq(as(&C, OP_STAT, "qr", B.uid, G_SHARE), CQ_OK);
	ck_assert_int_eq(as(&B, OP_CREATE, "qb", 0600, 0), CQ_LIMIT);
	ck_assert_int_eq(as(&A, OP_CREATE, "qa", 0600, 0), CQ_OK);
}
END_TEST

/*
 * NAME.dlq is not changed with NAME, and dead letters only go to a
 * NAME.dlq of NAME's owner: they wait in flight until it is chowned too.
 */
START_TEST(test_dead_letter_queue_follows_separately)
{
	uint64_t len = 0, fl = 0;
	int i;

	/* Default limits: A ends up with two queues, B with two. */
	tu_daemon_cleanup(&D);
	d_started = 0;
	ck_assert_int_eq(tu_daemon_start(&D, d_args + 2), 0);
	d_started = 1;
	ck_assert_int_eq(chmod(D.dir, 0711), 0);
	ck_assert_int_eq(as(&A, OP_CREATE, "qd", 0600, 1), CQ_OK);
	ck_assert_int_eq(as(&A, OP_DEAD_LETTER, "qd", 0, 0), CQ_OK);
	assert_owner("qd.dlq", A.uid, A.gid);
	root_counts("qd.dlq", &len, &fl);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(as(NULL, OP_CHOWN, "qd", B.uid, B.gid), CQ_OK);
	assert_owner("qd", B.uid, B.gid);
	assert_owner("qd.dlq", A.uid, A.gid);
	/* B's dead letter cannot go to A's queue: it stays in flight. */
	ck_assert_int_eq(as(&B, OP_DEAD_LETTER, "qd", 0, 0), CQ_OK);
	root_counts("qd", &len, &fl);
	ck_assert_uint_eq(fl, 1);
	root_counts("qd.dlq", &len, &fl);
	ck_assert_uint_eq(len, 1);
	/* Given to B as well, the held message goes there (retried each s). */
	ck_assert_int_eq(as(NULL, OP_CHOWN, "qd.dlq", B.uid, -1), CQ_OK);
	for (i = 0; i < 100; i++) {
		root_counts("qd.dlq", &len, &fl);
		if (len == 2)
			break;
		usleep(100 * 1000); /* bounded poll for the 1 s retry */
	}
	ck_assert_uint_eq(len, 2);
	root_counts("qd", &len, &fl);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(fl, 0);
}
END_TEST

/* Storage moves too, under the new owner's max_storage_per_uid. */
START_TEST(test_storage_quota)
{
	const char *args[] = {
	    "-c", conf_storage, "--socket-mode", "0666", NULL};

	/* Made under the default quota, then the daemon gets 18 MiB a uid. */
	tu_daemon_cleanup(&D);
	d_started = 0;
	ck_assert_int_eq(tu_daemon_start(&D, d_args + 2), 0);
	d_started = 1;
	ck_assert_int_eq(chmod(D.dir, 0711), 0);
	ck_assert_int_eq(as(&A, OP_CREATE_BIG, "big", 0600, 256), CQ_OK);
	ck_assert_int_eq(as(&B, OP_CREATE_BIG, "mid", 0600, 64), CQ_OK);
	tu_daemon_kill(&D);
	ck_assert_int_eq(tu_daemon_restart(&D, args), 0);
	/* B's 4.2 MB plus 16.8 MB do not fit: nothing changes. */
	ck_assert_int_eq(as(NULL, OP_CHOWN, "big", B.uid, -1), CQ_LIMIT);
	assert_owner("big", A.uid, A.gid);
	ck_assert_int_eq(as(&B, OP_CHMOD, "big", 0666, 0), CQ_DENIED);
	ck_assert_int_eq(as(&A, OP_CREATE_BIG, "big2", 0600, 256), CQ_LIMIT);
	/* A group moves no storage. */
	ck_assert_int_eq(as(NULL, OP_CHOWN, "big", -1, B.gid), CQ_OK);
	assert_owner("big", A.uid, B.gid);
	/* C has nothing: it fits; A gets its 16.8 MB back, C is charged. */
	ck_assert_int_eq(as(NULL, OP_CHOWN, "big", C.uid, -1), CQ_OK);
	assert_owner("big", C.uid, B.gid);
	ck_assert_int_eq(as(&A, OP_CREATE_BIG, "big2", 0600, 256), CQ_OK);
	ck_assert_int_eq(as(&C, OP_CREATE_BIG, "mid2", 0600, 64), CQ_LIMIT);
}
END_TEST

/* The suite. */
static Suite *
chown_suite(void)
{
	Suite *s = suite_create("chown");
	TCase *tc = tcase_create("chown");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_admin_changes_uid);
	tcase_add_test(tc, test_owner_changes_gid);
	tcase_add_test(tc, test_non_owner_denied);
	tcase_add_test(tc, test_invalid_requests);
	tcase_add_test(tc, test_quota_moves_or_limit);
	tcase_add_test(tc, test_survives_restart);
	tcase_add_test(tc, test_dead_letter_queue_follows_separately);
	tcase_add_test(tc, test_storage_quota);
	suite_add_tcase(s, tc);
	return s;
}

/* Write a one-off config file into path (a mkstemp template); 1 if made. */
static int
write_conf(char *path, const char *text)
{
	int fd = mkstemp(path), ok;

	if (fd < 0)
		return 0;
	ok = dprintf(fd, "%s", text) > 0;
	close(fd);
	if (!ok)
		unlink(path);
	return ok;
}

int
main(void)
{
	int rc = EXIT_FAILURE, made_conf, made_storage = 0;

	tu_require(geteuid() == 0, "check_chown needs root (clients of several "
	                           "uids); CI runs it as root");
	/* One config for every test (main removes it whatever happens). */
	snprintf(conf_path, sizeof conf_path, "/tmp/cqchown-conf.XXXXXX");
	snprintf(conf_storage, sizeof conf_storage, "/tmp/cqchown-conf.XXXXXX");
	made_conf =
	    write_conf(conf_path, "# check_chown\nmax_queues_per_uid = 1\n");
	if (made_conf)
		made_storage = write_conf(
		    conf_storage, "max_storage_per_uid = 18874368\n");
	if (made_storage)
		rc = tu_run(chown_suite(), "chown");
	if (made_conf)
		unlink(conf_path);
	if (made_storage)
		unlink(conf_storage);
	return rc;
}
