/* check_crash_direct.c - a direct client SIGKILLed at every core crash site. */

/*
 * A direct client runs the core's push and pop itself, under the segment's
 * robust lock (DESIGN 2.5), so it passes the core's crash sites itself. In
 * a test build (--enable-crash-points) the library arms them from
 * CONQUEUE_CLIENT_CRASH_AT=site:n: the client SIGKILLs itself at the n-th
 * pass, holding the lock. For every site a client reaches and every n of
 * CQ_CRASH_DIRECT_COUNTS (default "1 2 3"; `make check-crash-client-sites` runs
 * more), a forked child connects direct and pushes or pops one op at a
 * time, reporting each completed op over a pipe, and must die of SIGKILL at
 * the site. The parent keeps a model of the queue (its values in order)
 * and applies what the site says about the op in progress:
 *   push.slot_written (a push_many of 3), push.before_commit,
 *   direct.pop.before_commit   not committed: as if never invoked
 *   push.after_commit          committed: the values are queued
 *   direct.pop.after_commit    committed: the dead child took the head
 *   recover.*                  a first child dies holding the lock in the
 *                              middle of a push_many; a second dies in the
 *                              n-th repair it runs (every direct open
 *                              validates and repairs under the lock)
 * Then the next locker, the daemon (through a socket handle) on even
 * rounds and a direct client on odd ones, recovers, and the queue must
 * hold exactly the model: every value once, in order, with growing ids,
 * first deliveries and intact bodies; the daemon stays up.
 */

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "tests/testutil.h"

#define CD_QUEUE    "cdq"
#define CD_CAPACITY 1024
#define CD_SIZE     64
#define CD_BATCH    3    /* push_many size of the push.slot_written rounds */
#define CD_MODEL    8192 /* values ever queued by one test */
#define CD_EXTRA    10   /* ops past n before a child gives up on its site */

/* What a child does, by the site it is armed at. */
enum cd_kind {
	CD_PUSH,    /* pushes (push_many of CD_BATCH for slot_written) */
	CD_POP,     /* try_pops */
	CD_RECOVER, /* opens the queue again and again */
};

/* A site a direct client reaches, and what its op in progress did. */
struct cd_site {
	const char *name;
	enum cd_kind kind;
	int committed; /* the op in progress took effect */
};

static const struct cd_site cd_sites[] = {
    {"push.slot_written", CD_PUSH, 0},
    {"push.before_commit", CD_PUSH, 0},
    {"push.after_commit", CD_PUSH, 1},
    {"direct.pop.before_commit", CD_POP, 0},
    {"direct.pop.after_commit", CD_POP, 1},
    {"recover.begin", CD_RECOVER, 0},
    {"recover.middle", CD_RECOVER, 0},
    {"recover.before_consistent", CD_RECOVER, 0},
};

/* The values queued, in order (the queue is FIFO, one band). */
static uint64_t cd_model[CD_MODEL];
static size_t cd_head, cd_tail;
static uint64_t cd_next; /* next value to push; a value is pushed once */

static struct tu_daemon D;
static int d_started;

/* Stop the daemon and remove what it left. */
static void
cd_cleanup(void)
{
	if (d_started) {
		d_started = 0;
		tu_daemon_cleanup(&D);
	}
}

/* Each test (a forked child of Check) gets a private daemon and queue. */
static void
cd_setup(void)
{
	cq_queue_attr a;
	cq_client *c = NULL;

	unsetenv("CONQUEUE_DIRECT");
	unsetenv("CONQUEUE_CLIENT_CRASH_AT");
	ck_assert_int_eq(tu_daemon_start(&D, NULL), 0);
	d_started = 1;
	tu_registry_note(&D);
	atexit(cd_cleanup);
	memset(&a, 0, sizeof a);
	a.capacity = CD_CAPACITY;
	a.max_size = CD_SIZE;
	ck_assert_int_eq(cq_connect(&c, D.sock), CQ_OK);
	ck_assert_int_eq(cq_create(c, CD_QUEUE, &a), CQ_OK);
	cq_disconnect(c);
	cd_head = cd_tail = 0;
	cd_next = 1;
}

/* The body of value v: v, then bytes derived from it. */
static void
cd_body(uint64_t v, unsigned char *b)
{
	size_t i;

	memcpy(b, &v, sizeof v);
	for (i = sizeof v; i < CD_SIZE; i++)
		b[i] = (unsigned char)(v * 31 + i);
}

/* The value a message carries, or 0 if its body is not one of ours. */
static uint64_t
cd_value(const cq_msg *m)
{
	unsigned char want[CD_SIZE];
	uint64_t v;

	if (cq_msg_len(m) != CD_SIZE)
		return 0;
	memcpy(&v, cq_msg_data(m), sizeof v);
	cd_body(v, want);
	return memcmp(want, cq_msg_data(m), CD_SIZE) == 0 ? v : 0;
}

/* Connect (direct or socket only) and open the queue; NULL on failure. */
static cq_queue *
cd_open(cq_client **c, int direct)
{
	cq_queue *q = NULL;

	*c = NULL;
	if (cq_connect_flags(c, D.sock, NULL,
	        direct ? CQ_CONNECT_DIRECT : CQ_CONNECT_NO_DIRECT) != CQ_OK)
		return NULL;
	if (cq_open(*c, CD_QUEUE, &q) != CQ_OK ||
	    cq_queue_direct(q) != direct) {
		cq_disconnect(*c);
		*c = NULL;
		return NULL;
	}
	return q;
}

/* Child: push from value base on, one op at a time; report each done op. */
static int
cd_child_push(cq_queue *q, int wfd, uint64_t base, size_t batch, unsigned ops)
{
	unsigned char b[CD_BATCH][CD_SIZE];
	const void *bufs[CD_BATCH];
	size_t lens[CD_BATCH], j;
	unsigned i;

	for (i = 0; i < ops; i++) {
		for (j = 0; j < batch; j++) {
			cd_body(base + i * batch + j, b[j]);
			bufs[j] = b[j];
			lens[j] = CD_SIZE;
		}
		if ((batch == 1 ? cq_try_push(q, b[0], CD_SIZE)
		                : cq_push_many(q, bufs, lens, batch, 0, 0)) !=
		    CQ_OK)
			return 4;
		if (write(wfd, &i, sizeof i) != (ssize_t)sizeof i)
			return 5;
	}
	return 2; /* the site was never reached */
}

/* Child: try_pop one at a time; report each value taken. */
static int
cd_child_pop(cq_queue *q, int wfd, unsigned ops)
{
	cq_msg *m = NULL;
	uint64_t v;
	unsigned i;

	for (i = 0; i < ops; i++) {
		if (cq_try_pop(q, &m) != CQ_OK)
			return 4;
		v = cd_value(m);
		cq_msg_free(m);
		if (write(wfd, &v, sizeof v) != (ssize_t)sizeof v)
			return 5;
	}
	return 2;
}

/* Child: open the queue direct again and again (each open repairs). */
static int
cd_child_reopen(unsigned ops)
{
	cq_client *c;
	cq_queue *q;
	unsigned i;

	for (i = 0; i < ops; i++) {
		if ((q = cd_open(&c, 1)) == NULL)
			return 4;
		cq_disconnect(c);
	}
	return 2;
}

/*
 * Fork a direct client armed at site:n doing kind; it must die of SIGKILL.
 * Reads what it reported into rep (up to max items of size sz); returns
 * how many.
 */
static size_t
cd_crash(const char *site, unsigned n, enum cd_kind kind, size_t batch,
    void *rep, size_t sz, size_t max)
{
	char spec[96];
	int p[2], status, rc;
	size_t got = 0;
	ssize_t r;
	pid_t pid;
	cq_client *c;
	cq_queue *q;

	ck_assert_int_eq(pipe(p), 0);
	snprintf(spec, sizeof spec, "%s:%u", site, n);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		setenv("CONQUEUE_CLIENT_CRASH_AT", spec, 1);
		if (kind == CD_RECOVER) {
			close(p[1]);
			_exit(cd_child_reopen(n + CD_EXTRA));
		}
		if ((q = cd_open(&c, 1)) == NULL)
			_exit(3);
		rc = kind == CD_PUSH
		         ? cd_child_push(q, p[1], cd_next, batch, n + CD_EXTRA)
		         : cd_child_pop(q, p[1], n + CD_EXTRA);
		cq_disconnect(c);
		close(p[1]);
		_exit(rc);
	}
	close(p[1]);
	while (sz > 0) {
		r = read(p[0], (char *)rep + got * sz, sz);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		ck_assert_int_eq(r, (ssize_t)sz);
		ck_assert_uint_lt(got, max);
		got++;
	}
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "client armed at %s never died there (exit %d)", spec,
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return got;
}

/* Queue values [from, from + k) through a socket handle (the model too). */
static void
cd_fill(size_t k)
{
	unsigned char b[CD_SIZE];
	cq_client *c;
	cq_queue *q;
	size_t i;

	ck_assert_ptr_nonnull(q = cd_open(&c, 0));
	for (i = 0; i < k; i++) {
		cd_body(cd_next, b);
		ck_assert_int_eq(cq_try_push(q, b, CD_SIZE), CQ_OK);
		ck_assert_uint_lt(cd_tail, CD_MODEL);
		cd_model[cd_tail++] = cd_next++;
	}
	cq_disconnect(c);
}

/* Round on a push site: the done ops and (after commit) the one in progress. */
static void
cd_round_push(const struct cd_site *s, unsigned n)
{
	size_t batch = strcmp(s->name, "push.slot_written") == 0 ? CD_BATCH : 1;
	/* push.slot_written passes batch - 1 times per push_many. */
	size_t per = batch == 1 ? 1 : batch - 1, ops, i;
	unsigned done[64];

	cd_fill(2); /* recovery has something to keep */
	ops = cd_crash(s->name, n, CD_PUSH, batch, done, sizeof done[0], 64);
	ck_assert_uint_eq(ops, (n - 1) / per);
	ck_assert_uint_lt(cd_tail + (ops + 1) * batch, CD_MODEL);
	for (i = 0; i < (ops + s->committed) * batch; i++)
		cd_model[cd_tail++] = cd_next + i;
	/* The values of an uncommitted op are never pushed again. */
	cd_next += (ops + 1) * batch;
}

/* Round on a pop site: each taken value was the head; so was the last. */
static void
cd_round_pop(const struct cd_site *s, unsigned n)
{
	uint64_t took[64];
	size_t k, i;

	cd_fill(n + 2);
	k = cd_crash(s->name, n, CD_POP, 1, took, sizeof took[0], 64);
	ck_assert_uint_eq(k, n - 1);
	for (i = 0; i < k; i++) {
		ck_assert_uint_lt(cd_head, cd_tail);
		ck_assert_uint_eq(took[i], cd_model[cd_head]);
		cd_head++;
	}
	if (s->committed)
		cd_head++; /* the dead child had it: never delivered again */
}

/* Round on a recovery site: die holding the lock, then die repairing. */
static void
cd_round_recover(const struct cd_site *s, unsigned n)
{
	unsigned done[64];

	cd_fill(3);
	/* Slot 0 of a push_many written, not committed: the lock is held. */
	ck_assert_uint_eq(cd_crash("push.slot_written", 1, CD_PUSH, CD_BATCH,
	                      done, sizeof done[0], 64),
	    0);
	cd_next += CD_BATCH;
	(void)cd_crash(s->name, n, CD_RECOVER, 1, NULL, 0, 0);
}

/*
 * The next locker (the daemon through a socket handle, or a direct
 * client) recovers; the queue must hold exactly the model, which it
 * drains.
 */
static void
cd_verify(int direct)
{
	cq_queue_stat st;
	cq_client *c;
	cq_queue *q;
	cq_msg *m = NULL;
	uint64_t last_id = 0;

	ck_assert_ptr_nonnull(q = cd_open(&c, direct));
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.length, cd_tail - cd_head);
	ck_assert_uint_eq(st.in_flight, 0);
	while (cd_head < cd_tail) {
		ck_assert_int_eq(cq_try_pop(q, &m), CQ_OK);
		ck_assert_uint_eq(cd_value(m), cd_model[cd_head]);
		ck_assert_uint_gt(cq_msg_id(m), last_id);
		ck_assert_uint_eq(cq_msg_deliveries(m), 1);
		last_id = cq_msg_id(m);
		cq_msg_free(m);
		cd_head++;
	}
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	cq_disconnect(c);
	ck_assert_int_eq(kill(D.pid, 0), 0);
	cd_head = cd_tail = 0;
}

/* The pass counts to try, from CQ_CRASH_DIRECT_COUNTS. */
static size_t
cd_counts(unsigned *out, size_t max)
{
	const char *v = getenv("CQ_CRASH_DIRECT_COUNTS");
	char *end;
	size_t k = 0;
	unsigned long n;

	if (v == NULL || *v == '\0')
		v = "1 2 3";
	while (*v != '\0' && k < max) {
		n = strtoul(v, &end, 10);
		ck_assert_msg(end != v && n >= 1 && n <= 40,
		    "CQ_CRASH_DIRECT_COUNTS: numbers 1..40");
		out[k++] = (unsigned)n;
		v = end;
		while (*v == ' ')
			v++;
	}
	return k;
}

/* Every pass count of site _i, each followed by a recovering next locker. */
START_TEST(test_site)
{
	const struct cd_site *s = &cd_sites[_i];
	unsigned counts[32];
	size_t k, j;

	k = cd_counts(counts, 32);
	for (j = 0; j < k; j++) {
		switch (s->kind) {
		case CD_PUSH:
			cd_round_push(s, counts[j]);
			break;
		case CD_POP:
			cd_round_pop(s, counts[j]);
			break;
		case CD_RECOVER:
			cd_round_recover(s, counts[j]);
			break;
		}
		cd_verify((int)(j % 2));
	}
}
END_TEST

/* The suite: one test per site. */
static Suite *
cd_suite(void)
{
	Suite *s = suite_create("crash_direct");
	TCase *tc = tcase_create("sites");

	tcase_add_checked_fixture(tc, cd_setup, cd_cleanup);
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(
	    tc, test_site, 0, (int)(sizeof cd_sites / sizeof cd_sites[0]));
	suite_add_tcase(s, tc);
	return s;
}

/* Skipped (77) unless the library was built with crash points. */
int
main(void)
{
#ifndef CQ_CRASH_POINTS
	tu_require(0, "built without --enable-crash-points");
#endif
	return tu_run(cd_suite(), "crash_direct");
}
