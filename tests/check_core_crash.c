/* check_core_crash.c - processes killed or stopped inside core operations. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "core/layout.h"
#include "tests/core_util.h"

#define CAP          8
#define BANDS        3
#define MAXSZ        16
#define OWNER_PARENT 1
#define OWNER_CHILD  77

/*
 * A model of the queue: what the committed operations must have left.
 * Messages are told apart by their unique payload text.
 */
struct mmsg {
	char text[MAXSZ];
	uint32_t band;
	uint32_t slot; /* in flight only */
	uint64_t id;   /* in flight only */
	uint64_t owner;
};

struct model {
	struct mmsg q[BANDS][CAP];
	int n[BANDS];
	struct mmsg fl[CAP];
	int nfl;
	uint64_t pushed; /* committed pushes: stat's total_pushed */
};

enum op_kind {
	OP_PUSH,
	OP_PUSH_MANY,
	OP_POP,
	OP_POP_MANY,
	OP_CONFIRM,
	OP_RETURN,
	OP_RETURN_ALL,
	OP_NKINDS
};

struct op {
	enum op_kind kind;
	unsigned band;
	int front;
	int k;                 /* messages pushed, or max popped */
	int which;             /* in-flight index for confirm/return */
	char text[CAP][MAXSZ]; /* payloads to push */
};

static struct core_queue *q;
static char seg[128];
static unsigned textno;

/* The child's kill site: SIGKILL ourselves on its nth visit. */
static const char *kill_site;
static int kill_nth;
static int kill_fd = -1;

/* Crash hook of the child: report the site, then die on the spot. */
static void
crash_hook(const char *site)
{
	if (kill_site == NULL || strcmp(site, kill_site) != 0 || --kill_nth > 0)
		return;
	if (write(kill_fd, site, strlen(site) + 1) < 0)
		_exit(99);
	raise(SIGKILL);
}

/* Queued messages plus in flight. */
static int
model_used(const struct model *m)
{
	int b, n = m->nfl;

	for (b = 0; b < BANDS; b++)
		n += m->n[b];
	return n;
}

/* Insert msg at the head or tail of its band. */
static void
model_insert(struct model *m, const struct mmsg *msg, int front)
{
	struct mmsg *band = m->q[msg->band];
	int n = m->n[msg->band];

	if (front) {
		memmove(band + 1, band, (size_t)n * sizeof *band);
		band[0] = *msg;
	} else
		band[n] = *msg;
	m->n[msg->band]++;
}

/* Move in-flight entry i back to the head of its band. */
static void
model_return(struct model *m, int i)
{
	model_insert(m, &m->fl[i], 1);
	m->fl[i] = m->fl[--m->nfl];
}

/* The status the op must return on the model. */
static cq_status
model_expect(const struct model *m, const struct op *o)
{
	int b;

	switch (o->kind) {
	case OP_PUSH:
	case OP_PUSH_MANY:
		return model_used(m) + o->k > CAP ? CQ_FULL : CQ_OK;
	case OP_POP:
	case OP_POP_MANY:
		for (b = 0; b < BANDS; b++)
			if (m->n[b] > 0)
				return CQ_OK;
		return CQ_EMPTY;
	case OP_CONFIRM:
	case OP_RETURN:
		return o->which < m->nfl ? CQ_OK : CQ_NOTFOUND;
	default:
		return CQ_OK;
	}
}

/* Index of the in-flight entry with the largest id. */
static int
model_newest(const struct model *m)
{
	int i, best = 0;

	for (i = 1; i < m->nfl; i++)
		if (m->fl[i].id > m->fl[best].id)
			best = i;
	return best;
}

/*
 * Apply op o to the model. parts is how many of its commits happened:
 * 0 or 1, except for return_all (one commit per message).
 */
static void
model_apply(struct model *m, const struct op *o, int parts, uint64_t owner)
{
	int i, b, k;

	if (parts == 0)
		return;
	switch (o->kind) {
	case OP_PUSH:
	case OP_PUSH_MANY:
		m->pushed += (uint64_t)o->k;
		for (i = 0; i < o->k; i++) {
			struct mmsg msg;
			int at = o->front ? o->k - 1 - i : i;

			memset(&msg, 0, sizeof msg);
			memcpy(msg.text, o->text[at], MAXSZ);
			msg.band = o->band;
			model_insert(m, &msg, o->front);
		}
		break;
	case OP_POP:
	case OP_POP_MANY:
		for (b = BANDS - 1; b >= 0 && m->n[b] == 0; b--)
			;
		k = o->kind == OP_POP ? 1 : o->k;
		if (k > m->n[b])
			k = m->n[b];
		for (i = 0; i < k; i++) {
			m->fl[m->nfl] = m->q[b][i];
			m->fl[m->nfl].owner = owner;
			m->nfl++;
		}
		memmove(m->q[b], m->q[b] + k,
		    (size_t)(m->n[b] - k) * sizeof m->q[b][0]);
		m->n[b] -= k;
		break;
	case OP_CONFIRM:
		m->fl[o->which] = m->fl[--m->nfl];
		break;
	case OP_RETURN:
		model_return(m, o->which);
		break;
	case OP_RETURN_ALL:
		for (i = 0; i < parts && m->nfl > 0; i++)
			model_return(m, model_newest(m));
		break;
	default:
		break;
	}
}

/* Run op o on q; returns its status. */
static cq_status
op_run(const struct model *m, const struct op *o, uint64_t owner)
{
	struct core_msg msg[CAP];
	struct iovec iov[CAP];
	uint64_t id;
	size_t n;
	int i;

	switch (o->kind) {
	case OP_PUSH:
		return core_push(
		    q, o->text[0], strlen(o->text[0]), o->band, o->front, &id);
	case OP_PUSH_MANY:
		for (i = 0; i < o->k; i++) {
			iov[i].iov_base = (void *)(uintptr_t)o->text[i];
			iov[i].iov_len = strlen(o->text[i]);
		}
		return core_push_many(
		    q, iov, (size_t)o->k, o->band, o->front, &id);
	case OP_POP:
		return core_pop(q, owner, 12345, msg);
	case OP_POP_MANY:
		return core_pop_many(q, owner, 12345, msg, (size_t)o->k, &n);
	case OP_CONFIRM:
		if (o->which >= m->nfl)
			return core_confirm(q, 0, UINT64_MAX);
		return core_confirm(
		    q, m->fl[o->which].slot, m->fl[o->which].id);
	case OP_RETURN:
		if (o->which >= m->nfl)
			return core_return(q, 0, UINT64_MAX);
		return core_return(q, m->fl[o->which].slot, m->fl[o->which].id);
	case OP_RETURN_ALL:
		return core_return_all(q);
	default:
		return CQ_INVALID;
	}
}

/* A random op. */
static void
op_random(struct op *o, uint64_t *rs, const struct model *m)
{
	int i;

	memset(o, 0, sizeof *o);
	o->kind = (enum op_kind)(cu_rand(rs) % OP_NKINDS);
	o->band = (unsigned)(cu_rand(rs) % BANDS);
	o->front = cu_rand(rs) % 3 == 0;
	o->k = o->kind == OP_PUSH ? 1 : 1 + (int)(cu_rand(rs) % 4);
	o->which = m->nfl > 0 ? (int)(cu_rand(rs) % (uint64_t)m->nfl) : 0;
	for (i = 0; i < o->k; i++)
		snprintf(o->text[i], MAXSZ, "m%u", textno++);
}

/*
 * Compare the queue with the model: in-flight set (text, band, owner)
 * through core_inflight_next, then counts. Refreshes slot/id in the model.
 */
static void
model_sync_inflight(struct model *m)
{
	struct core_msg it;
	struct core_stat st;
	uint64_t owner, dl;
	uint32_t cur = 0;
	int i, n = 0, b, len = 0;

	while (core_inflight_next(q, &cur, &it, &owner, &dl)) {
		for (i = 0; i < m->nfl; i++)
			if (strlen(m->fl[i].text) == it.len &&
			    memcmp(m->fl[i].text, it.data, it.len) == 0)
				break;
		ck_assert_msg(i < m->nfl, "unexpected message in flight: %.*s",
		    (int)it.len, (const char *)it.data);
		ck_assert_uint_eq(it.band, m->fl[i].band);
		ck_assert_uint_eq(owner, m->fl[i].owner);
		ck_assert_uint_eq(dl, 12345);
		m->fl[i].slot = it.slot;
		m->fl[i].id = it.id;
		n++;
	}
	ck_assert_int_eq(n, m->nfl);
	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	for (b = 0; b < BANDS; b++)
		len += m->n[b];
	ck_assert_uint_eq(st.length, (uint64_t)len);
	ck_assert_uint_eq(st.in_flight, (uint64_t)m->nfl);
	/* The totals are exact even right after a crash. */
	ck_assert_uint_eq(st.total_pushed, m->pushed);
	ck_assert_uint_eq(
	    st.total_popped, m->pushed - (uint64_t)len - (uint64_t)m->nfl);
	ck_assert_uint_eq(core_free_slots(q), (uint32_t)(CAP - len - m->nfl));
}

/*
 * The lock itself is healthy: its word is free (no owner, no dead-owner
 * or waiters bit left behind; core/lock.c uses that word only).
 */
static void
assert_lock_healthy(void)
{
	ck_assert_int_eq(
	    __atomic_load_n(&q->hdr->lock.__data.__lock, __ATOMIC_ACQUIRE), 0);
}

/* Drain the queue and compare the full sequence with the model. */
static void
model_drain_compare(struct model *m)
{
	struct core_msg msg;
	uint64_t lastid = 0, id;
	int b, i, pushed = 0;
	char t[MAXSZ];

	for (b = BANDS - 1; b >= 0; b--) {
		for (i = 0; i < m->n[b]; i++) {
			ck_assert_int_eq(core_pop(q, 5, 0, &msg), CQ_OK);
			ck_assert_msg(
			    msg.len == strlen(m->q[b][i].text) &&
			        memcmp(msg.data, m->q[b][i].text, msg.len) == 0,
			    "band %d pos %d: got %.*s want %s", b, i,
			    (int)msg.len, (const char *)msg.data,
			    m->q[b][i].text);
			ck_assert_uint_eq(msg.band, (unsigned)b);
			if (msg.id > lastid)
				lastid = msg.id;
			ck_assert_int_eq(
			    core_confirm(q, msg.slot, msg.id), CQ_OK);
		}
	}
	ck_assert_int_eq(core_pop(q, 5, 0, &msg), CQ_EMPTY);
	for (i = 0; i < m->nfl; i++) {
		if (m->fl[i].id > lastid)
			lastid = m->fl[i].id;
		ck_assert_int_eq(
		    core_confirm(q, m->fl[i].slot, m->fl[i].id), CQ_OK);
	}
	/* New ids stay above every id still known (next_id recovered). */
	/* Every slot is free again, once: the free stack was rebuilt. */
	ck_assert_uint_eq(core_free_slots(q), CAP);
	for (i = 0; i < CAP; i++) {
		snprintf(t, sizeof t, "f%d", i);
		ck_assert_int_eq(core_push(q, t, strlen(t), 0, 0, &id), CQ_OK);
		ck_assert_uint_gt(id, lastid);
		lastid = id;
		pushed++;
	}
	ck_assert_int_eq(core_push(q, "x", 1, 0, 0, &id), CQ_FULL);
	for (i = 0; i < pushed; i++) {
		snprintf(t, sizeof t, "f%d", i);
		ck_assert_int_eq(core_pop(q, 5, 0, &msg), CQ_OK);
		ck_assert_mem_eq(msg.data, t, strlen(t));
		ck_assert_int_eq(core_confirm(q, msg.slot, msg.id), CQ_OK);
	}
	ck_assert_int_eq(core_check(q), CQ_OK);
}

/* The commit sites an op passes, and whether reaching one means done. */
struct site {
	const char *name;
	int committed; /* 1: the op's commit happened before this site */
};

static const struct site push_sites[] = {{"push.slot_written", 0},
    {"push.before_commit", 0}, {"push.after_commit", 1}};
static const struct site pop_sites[] = {
    {"pop.before_commit", 0}, {"pop.after_commit", 1}};
static const struct site confirm_sites[] = {
    {"confirm.before_commit", 0}, {"confirm.after_commit", 1}};
static const struct site return_sites[] = {
    {"return.before_commit", 0}, {"return.after_commit", 1}};
static const char *const recover_sites[] = {
    "recover.begin", "recover.middle", "recover.before_consistent"};

/* Fork a child that runs o and is killed at site (nth visit). */
static pid_t
child_run(const struct model *m, const struct op *o, const char *site, int nth,
    int fd)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		kill_site = site;
		kill_nth = nth;
		kill_fd = fd;
		core_crash_hook = crash_hook;
		_exit((int)op_run(m, o, OWNER_CHILD));
	}
	return pid;
}

/*
 * Wait for child pid; return the site it died at ("" if it exited). The
 * pipe is non-blocking: a child killed other than by its hook fails here.
 */
static int
child_wait(pid_t pid, int fd, char *site, size_t len, int *status)
{
	int ws;
	ssize_t r;

	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	site[0] = '\0';
	if (WIFEXITED(ws)) {
		*status = WEXITSTATUS(ws);
		return 0;
	}
	ck_assert_msg(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL,
	    "child died oddly: %d", ws);
	r = read(fd, site, len - 1);
	ck_assert_int_gt(r, 0);
	site[r] = '\0';
	return 1;
}

/*
 * One round: a fresh queue, random committed ops by us, then a child
 * killed inside one op (and maybe more children killed inside the
 * recovery that follows). Our next operation recovers; the queue must
 * then hold exactly what the committed operations left.
 */
static void
crash_round(uint64_t *rs, int round)
{
	struct core_attr a = cu_attr(CAP, MAXSZ, BANDS);
	struct model m;
	struct op o;
	const struct site *sites;
	size_t nsites;
	char site[64];
	int i, nsetup, nth, parts, status, p[2];
	pid_t pid;
	cq_status st;

	memset(&m, 0, sizeof m);
	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);

	nsetup = (int)(cu_rand(rs) % 12);
	for (i = 0; i < nsetup; i++) {
		op_random(&o, rs, &m);
		st = op_run(&m, &o, OWNER_PARENT);
		ck_assert_int_eq(st, model_expect(&m, &o));
		model_apply(&m, &o, st == CQ_OK ? CAP : 0, OWNER_PARENT);
		model_sync_inflight(&m);
	}

	op_random(&o, rs, &m);
	switch (o.kind) {
	case OP_PUSH:
		/* push.slot_written only happens between batch slots. */
		sites = push_sites + 1;
		nsites = 2;
		break;
	case OP_PUSH_MANY:
		sites = o.k > 1 ? push_sites : push_sites + 1;
		nsites = o.k > 1 ? 3 : 2;
		break;
	case OP_POP:
	case OP_POP_MANY:
		sites = pop_sites;
		nsites = 2;
		break;
	case OP_CONFIRM:
		sites = confirm_sites;
		nsites = 2;
		break;
	default:
		sites = return_sites;
		nsites = 2;
		break;
	}
	i = (int)(cu_rand(rs) % nsites);
	nth = 1 + (int)(cu_rand(rs) % (uint64_t)(o.k > 1 ? o.k - 1 : 1));
	if (o.kind == OP_RETURN_ALL)
		nth = 1 + (int)(cu_rand(rs) % CAP);
	st = model_expect(&m, &o);
	pid = child_run(&m, &o, sites[i].name, nth, p[1]);
	if (child_wait(pid, p[0], site, sizeof site, &status)) {
		ck_assert_str_eq(site, sites[i].name);
		ck_assert_int_eq(st, CQ_OK);
		/* return_all commits one message at a time. */
		parts = o.kind == OP_RETURN_ALL ? nth - 1 + sites[i].committed
		                                : sites[i].committed;
	} else {
		/* The site was never reached: the op completed. */
		ck_assert_int_eq(status, st);
		parts = st == CQ_OK ? CAP : 0;
	}
	model_apply(&m, &o, parts, OWNER_CHILD);

	/* Sometimes kill the recovery itself, once or twice. */
	for (i = 0; i < round % 3; i++) {
		const char *rsite = recover_sites[cu_rand(rs) % 3];

		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			kill_site = rsite;
			kill_nth = 1;
			kill_fd = p[1];
			core_crash_hook = crash_hook;
			core_check(q);
			_exit(0);
		}
		ck_assert_int_eq(
		    child_wait(pid, p[0], site, sizeof site, &status), 1);
		ck_assert_str_eq(site, rsite);
	}

	/*
	 * Our next operation recovers (trying once or waiting, both find
	 * the owner dead: its thread id no longer exists).
	 */
	if (round % 3 == 2) {
		/* Or a daemon restarting: attach finds the dead owner. */
		core_detach(q);
		ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	}
	core_set_lock_timeout(q, round % 2 ? 100 : 0);
	ck_assert_int_eq(core_check(q), CQ_OK);
	assert_lock_healthy();
	model_sync_inflight(&m);
	/* Finishing an interrupted return_all keeps each band in order. */
	if (cu_rand(rs) % 2) {
		memset(&o, 0, sizeof o);
		o.kind = OP_RETURN_ALL;
		ck_assert_int_eq(core_return_all(q), CQ_OK);
		model_apply(&m, &o, CAP, OWNER_PARENT);
		model_sync_inflight(&m);
	}
	model_drain_compare(&m);
	close(p[0]);
	close(p[1]);
	core_detach(q);
	q = NULL;
	ck_assert_int_eq(core_unlink(seg), CQ_OK);
}

START_TEST(test_crash_at_every_commit_site_keeps_committed_ops)
{
	uint64_t rs = UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)_i;
	int round;

	for (round = 0; round < cu_count_env("CQ_CRASH_ROUNDS", 400); round++)
		crash_round(&rs, round);
}
END_TEST

/*
 * A scripted sequence through every site in order, so that each site is
 * certainly hit even if the random rounds missed one.
 */
START_TEST(test_crash_sites_each_recover_to_committed_state)
{
	static const struct {
		enum op_kind kind;
		const char *site;
		int committed;
	} cases[] = {{OP_PUSH_MANY, "push.slot_written", 0},
	    {OP_PUSH, "push.before_commit", 0},
	    {OP_PUSH, "push.after_commit", 1}, {OP_POP, "pop.before_commit", 0},
	    {OP_POP, "pop.after_commit", 1},
	    {OP_POP_MANY, "pop.before_commit", 0},
	    {OP_POP_MANY, "pop.after_commit", 1},
	    {OP_CONFIRM, "confirm.before_commit", 0},
	    {OP_CONFIRM, "confirm.after_commit", 1},
	    {OP_RETURN, "return.before_commit", 0},
	    {OP_RETURN, "return.after_commit", 1},
	    {OP_RETURN_ALL, "return.before_commit", 0},
	    {OP_RETURN_ALL, "return.after_commit", 1}};
	struct core_attr a = cu_attr(CAP, MAXSZ, BANDS);
	uint64_t rs = 7;
	struct model m;
	struct op o;
	char site[64];
	size_t c;
	int i, status, p[2];
	pid_t pid;

	for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		memset(&m, 0, sizeof m);
		cu_segname(seg, sizeof seg);
		ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
		ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
		/* Two queued per band, two in flight. */
		for (i = 0; i < 6; i++) {
			op_random(&o, &rs, &m);
			o.kind = OP_PUSH;
			o.k = 1;
			o.front = 0;
			o.band = (unsigned)i % BANDS;
			ck_assert_int_eq(op_run(&m, &o, OWNER_PARENT), CQ_OK);
			model_apply(&m, &o, 1, OWNER_PARENT);
		}
		memset(&o, 0, sizeof o);
		o.kind = OP_POP_MANY;
		o.k = 2;
		ck_assert_int_eq(op_run(&m, &o, OWNER_PARENT), CQ_OK);
		model_apply(&m, &o, 1, OWNER_PARENT);
		model_sync_inflight(&m);

		op_random(&o, &rs, &m);
		o.kind = cases[c].kind;
		o.k = o.kind == OP_PUSH ? 1 : 2;
		o.which = 1;
		pid = child_run(&m, &o, cases[c].site, 1, p[1]);
		ck_assert_int_eq(
		    child_wait(pid, p[0], site, sizeof site, &status), 1);
		ck_assert_str_eq(site, cases[c].site);
		model_apply(&m, &o, cases[c].committed, OWNER_CHILD);
		ck_assert_int_eq(core_check(q), CQ_OK);
		assert_lock_healthy();
		model_sync_inflight(&m);
		model_drain_compare(&m);
		close(p[0]);
		close(p[1]);
		core_detach(q);
		q = NULL;
		ck_assert_int_eq(core_unlink(seg), CQ_OK);
	}
}
END_TEST

START_TEST(test_crash_inside_recovery_reruns_it)
{
	struct core_attr a = cu_attr(CAP, MAXSZ, BANDS);
	struct model m;
	struct op o;
	uint64_t rs = 99;
	char site[64];
	int i, s, status, p[2];
	pid_t pid;

	for (s = 0; s < 3; s++) {
		memset(&m, 0, sizeof m);
		cu_segname(seg, sizeof seg);
		ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
		ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
		for (i = 0; i < 4; i++) {
			op_random(&o, &rs, &m);
			o.kind = OP_PUSH;
			o.k = 1;
			ck_assert_int_eq(op_run(&m, &o, OWNER_PARENT), CQ_OK);
			model_apply(&m, &o, 1, OWNER_PARENT);
		}
		/* A pop dies after writing in-flight, before its commit. */
		memset(&o, 0, sizeof o);
		o.kind = OP_POP;
		pid = child_run(&m, &o, "pop.before_commit", 1, p[1]);
		ck_assert_int_eq(
		    child_wait(pid, p[0], site, sizeof site, &status), 1);
		/* Each recovery site kills the recoverer in turn. */
		for (i = 0; i <= s; i++) {
			pid = fork();
			ck_assert_int_ge(pid, 0);
			if (pid == 0) {
				kill_site = recover_sites[i];
				kill_nth = 1;
				kill_fd = p[1];
				core_crash_hook = crash_hook;
				core_check(q);
				_exit(0);
			}
			ck_assert_int_eq(
			    child_wait(pid, p[0], site, sizeof site, &status),
			    1);
			ck_assert_str_eq(site, recover_sites[i]);
		}
		ck_assert_int_eq(core_check(q), CQ_OK);
		assert_lock_healthy();
		model_sync_inflight(&m);
		model_drain_compare(&m);
		close(p[0]);
		close(p[1]);
		core_detach(q);
		q = NULL;
		ck_assert_int_eq(core_unlink(seg), CQ_OK);
	}
}
END_TEST

START_TEST(test_crash_during_create_leaves_no_usable_segment)
{
	static const char *const sites[] = {
	    "create.after_open", "create.after_fallocate"};
	struct core_attr a = cu_attr(CAP, MAXSZ, BANDS);
	struct core_queue *q2;
	char site[64];
	int i, status, p[2];
	pid_t pid;

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	for (i = 0; i < 2; i++) {
		cu_segname(seg, sizeof seg);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			kill_site = sites[i];
			kill_nth = 1;
			kill_fd = p[1];
			core_crash_hook = crash_hook;
			_exit(core_create(seg, &a, &q2));
		}
		ck_assert_int_eq(
		    child_wait(pid, p[0], site, sizeof site, &status), 1);
		/*
		 * A half-made segment is never trusted: with no magic yet
		 * the create committed nothing, and attach says so.
		 */
		ck_assert_int_eq(core_attach(seg, &q2), CQ_NOTFOUND);
		ck_assert_int_eq(core_create(seg, &a, &q2), CQ_EXISTS);
		ck_assert_int_eq(core_unlink(seg), CQ_OK);
		ck_assert_int_eq(core_create(seg, &a, &q2), CQ_OK);
		core_detach(q2);
		ck_assert_int_eq(core_unlink(seg), CQ_OK);
	}
	close(p[0]);
	close(p[1]);
}
END_TEST

/* Stop hook: tell the parent we hold the lock, then stop. */
static void
stop_hook(const char *site)
{
	if (strcmp(site, "push.before_commit") != 0)
		return;
	if (write(kill_fd, "s", 1) != 1)
		_exit(99);
	raise(SIGSTOP);
}

START_TEST(test_stalled_lock_holder_gives_busy_not_a_hang)
{
	struct core_attr a = cu_attr(CAP, MAXSZ, BANDS);
	struct core_queue *q2;
	struct core_stat st;
	struct core_msg msg;
	uint64_t t0, id;
	char c;
	int p[2], ws;
	pid_t pid;

	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
	ck_assert_int_eq(core_push(q, "keep", 4, 0, 0, &id), CQ_OK);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		kill_fd = p[1];
		core_crash_hook = stop_hook;
		_exit(core_push(q, "lost", 4, 0, 0, &id));
	}
	/* The child holds the lock once it has written. */
	ck_assert_int_eq(read(p[0], &c, 1), 1);

	t0 = time_mono_ns();
	ck_assert_int_eq(core_pop(q, 1, 0, &msg), CQ_BUSY);
	ck_assert_int_eq(core_push(q, "x", 1, 0, 0, &id), CQ_BUSY);
	ck_assert_int_eq(core_check(q), CQ_BUSY);
	ck_assert_int_eq(core_stat(q, &st), CQ_BUSY);
	ck_assert_uint_lt(time_mono_ns() - t0, 200000000u);
	/* Lock-free readers still answer, without the uncommitted push. */
	ck_assert_uint_eq(core_length(q), 1);
	ck_assert_uint_eq(core_free_slots(q), CAP - 1);
	ck_assert_int_eq(core_is_closed(q), 0);

	core_set_lock_timeout(q, 50);
	t0 = time_mono_ns();
	ck_assert_int_eq(core_pop(q, 1, 0, &msg), CQ_BUSY);
	ck_assert_uint_ge(time_mono_ns() - t0, 50000000u);
	ck_assert_uint_lt(time_mono_ns() - t0, 2000000000u);
	t0 = time_mono_ns();
	ck_assert_int_eq(core_confirm(q, 0, 1), CQ_BUSY);
	ck_assert_uint_ge(time_mono_ns() - t0, 50000000u);
	/* attach waits a bounded time too. */
	ck_assert_int_eq(core_attach(seg, &q2), CQ_BUSY);

	/* SIGKILL first: a continued child could finish its push. */
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	kill(pid, SIGCONT);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFSIGNALED(ws));
	/* The lock comes back; the uncommitted push is not there. */
	ck_assert_int_eq(core_pop(q, 1, 0, &msg), CQ_OK);
	ck_assert_mem_eq(msg.data, "keep", 4);
	ck_assert_int_eq(core_confirm(q, msg.slot, msg.id), CQ_OK);
	ck_assert_int_eq(core_pop(q, 1, 0, &msg), CQ_EMPTY);
	ck_assert_int_eq(core_check(q), CQ_OK);
	close(p[0]);
	close(p[1]);
	core_detach(q);
	q = NULL;
	ck_assert_int_eq(core_unlink(seg), CQ_OK);
}
END_TEST

/* The suite. */
static Suite *
crash_suite(void)
{
	Suite *s = suite_create("core_crash");
	TCase *tc = tcase_create("crash");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(
	    tc, test_crash_at_every_commit_site_keeps_committed_ops, 0, 4);
	tcase_add_test(tc, test_crash_sites_each_recover_to_committed_state);
	tcase_add_test(tc, test_crash_inside_recovery_reruns_it);
	tcase_add_test(tc, test_crash_during_create_leaves_no_usable_segment);
	tcase_add_test(tc, test_stalled_lock_holder_gives_busy_not_a_hang);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then remove any segment a failed test left behind. */
int
main(void)
{
	return cu_run(crash_suite, "check_core_crash");
}
