/* check_hostile_mapper.c - a client that maps a queue and damages it. */

/*
 * The direct path hands a queue's segment fd to any client allowed to
 * read and write it (doc/direct-path.md): such a client can write any byte
 * of it or truncate it. Issues 13 ("untrusted mappers") and 20 (hostile
 * state): the daemon never dies, hangs or loops, other queues keep their
 * data, the damaged queue answers CQ_CORRUPT (or is repaired) and its
 * clients, socket and direct, get statuses, never a crash (what stat
 * shows of such damage: check_stat_corrupt.c).
 *
 * The mapper here is the test (or its child): it gets the fd over the
 * socket exactly as the library does (rc_open_direct).
 */

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "core/layout.h"
#include "mapper.h"
#include "rawclient.h"
#include "testutil.h"

/* Statuses a client of a damaged queue may get: anything but a crash,
 * a lost connection or a protocol error. */
static int
hm_status_ok(cq_status s)
{
	switch (s) {
	case CQ_OK:
	case CQ_EMPTY:
	case CQ_FULL:
	case CQ_CLOSED:
	case CQ_BUSY:
	case CQ_TIMEDOUT:
	case CQ_CORRUPT:
		return 1;
	default:
		return 0;
	}
}

/* 1 once the parent closed the write end of stop (non-blocking read). */
static int
hm_stopped(int stop)
{
	char b;

	return read(stop, &b, 1) == 0;
}

/*
 * Child: ops on queue name of d until told to stop; exit 0 if every
 * status was one of hm_status_ok and every message popped was one some
 * client pushed ("v-..."), else 1 (with what went wrong on stderr).
 */
static void
hm_victim(const struct tu_daemon *d, unsigned flags, const char *name, int stop)
{
	cq_client *c = NULL;
	cq_queue *q = NULL;
	cq_queue_stat st;
	cq_msg *msg;
	int64_t len;
	char t[32];
	unsigned n = 0;
	cq_status s[5];
	int i, bad = 0;

	if (cq_connect_flags(&c, d->sock, "victim", flags) != CQ_OK ||
	    cq_open(c, name, &q) != CQ_OK)
		_exit(2);
	while (!bad && !hm_stopped(stop)) {
		snprintf(t, sizeof t, "v-%u-%u", flags, n++);
		s[0] = cq_try_push(q, t, strlen(t));
		msg = NULL;
		s[1] = cq_pop(q, &msg, 1);
		if (s[1] == CQ_OK &&
		    (cq_msg_len(msg) < 2 ||
		        memcmp(cq_msg_data(msg), "v-", 2) != 0)) {
			fprintf(stderr, "popped a message never pushed\n");
			bad = 1;
		}
		cq_msg_free(msg);
		s[2] = cq_stat(q, &st);
		s[3] = cq_length(q, &len);
		s[4] = cq_push(q, t, strlen(t), 1);
		for (i = 0; i < 5; i++)
			if (!hm_status_ok(s[i])) {
				fprintf(stderr, "%s: op %d: %s\n",
				    flags & CQ_CONNECT_DIRECT ? "direct"
				                              : "socket",
				    i, cq_status_name(s[i]));
				bad = 1;
			}
	}
	cq_queue_free(q);
	cq_disconnect(c);
	close(stop);
	_exit(bad);
}

/* Fork hm_victim; the pid. */
static pid_t
hm_fork_victim(
    const struct tu_daemon *d, unsigned flags, const char *name, int stop[2])
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(stop[1]);
		hm_victim(d, flags, name, stop[0]);
	}
	return pid;
}

/* Reap pid, which must have exited 0. */
static void
hm_reap(pid_t pid, const char *what)
{
	int ws;

	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "%s: %s %d", what,
	    WIFSIGNALED(ws) ? "killed by signal" : "exit",
	    WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
}

/*
 * One round of the good client on queue q: push "g-<i>" then pop it back
 * (nobody else uses q): the data must come back intact.
 */
static void
hm_good_round(cq_queue *q, unsigned i)
{
	char t[32];
	cq_msg *msg;

	snprintf(t, sizeof t, "g-%u", i);
	ck_assert_int_eq(cq_push(q, t, strlen(t), CQ_FOREVER), CQ_OK);
	ck_assert_int_eq(cq_pop(q, &msg, CQ_FOREVER), CQ_OK);
	ck_assert_uint_eq(cq_msg_len(msg), strlen(t));
	ck_assert(memcmp(cq_msg_data(msg), t, strlen(t)) == 0);
	cq_msg_free(msg);
}

/* Serve the good queue from the parent until child pid exits. */
static unsigned
hm_good_until(cq_queue *q, pid_t pid, const char *what)
{
	unsigned i = 0;
	int ws;
	pid_t w;

	while ((w = waitpid(pid, &ws, WNOHANG)) == 0)
		hm_good_round(q, i++);
	ck_assert_int_eq(w, pid);
	ck_assert_msg(
	    WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "%s: status %#x", what, ws);
	return i;
}

#define HM_VICTIMS 3

/* Rounds of truncate/restore of each victim per run (fewer under
 * valgrind, which is slow at everything). */
static int
hm_rounds(int full)
{
	return getenv("CQ_UNDER_VALGRIND") != NULL ? full / 10 : full;
}

/*
 * Child: truncate each victim to 0, 4096 bytes or half, then restore its
 * size, rounds times, racing the daemon's ops on them.
 */
static void
hm_truncator(struct mapper_seg *v, int rounds)
{
	static const size_t cut[] = {0, 4096, 1};
	int r, i, bad = 0;
	size_t to;

	for (r = 0; r < rounds && !bad; r++)
		for (i = 0; i < HM_VICTIMS; i++) {
			to = cut[r % 3] == 1 ? v[i].len / 2 : cut[r % 3];
			bad |= ftruncate(v[i].seg, (off_t)to) != 0;
			sched_yield();
			bad |= ftruncate(v[i].seg, (off_t)v[i].len) != 0;
		}
	for (i = 0; i < HM_VICTIMS; i++)
		mapper_unmap(&v[i]);
	_exit(bad);
}

/*
 * A mapper truncates victim segments again and again while a socket and
 * a direct client use them and a good client uses its own queue: every
 * client gets statuses, the good data comes back intact, the daemon
 * lives. Then a truncation followed by an op (no race) gives CQ_CORRUPT
 * on every victim, whatever the race did.
 */
START_TEST(test_truncation_racing_the_daemon)
{
	static const char *const names[HM_VICTIMS] = {"v0", "v1", "v2"};
	struct mapper_seg v[HM_VICTIMS];
	struct tu_daemon d;
	cq_queue_stat st;
	cq_client *c;
	cq_queue *g, *q;
	cq_msg *msg;
	pid_t trunc, vs, vd;
	int fd, i, stop[2];

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_create(fd, "good", 4, 0600, 8, 64), CQ_OK);
	for (i = 0; i < HM_VICTIMS; i++) {
		ck_assert_int_eq(
		    rc_create(fd, names[i], 2, 0600, 16, 64), CQ_OK);
		mapper_fill(fd, names[i], 8);
		mapper_map(fd, names[i], &v[i]);
	}
	c = mapper_connect(&d, CQ_CONNECT_NO_DIRECT, "good", &g);
	ck_assert_int_eq(pipe(stop), 0);
	/* One victim on each path: a direct one whose mapping is cut
	 * under it gets a status too (the library's SIGBUS guard). */
	vs = hm_fork_victim(&d, CQ_CONNECT_NO_DIRECT, "v0", stop);
	vd = hm_fork_victim(&d, CQ_CONNECT_DIRECT, "v1", stop);
	trunc = fork();
	ck_assert_int_ge(trunc, 0);
	if (trunc == 0) {
		close(stop[0]);
		close(stop[1]);
		cq_queue_free(g);
		cq_disconnect(c);
		close(fd);
		hm_truncator(v, hm_rounds(300));
	}
	close(stop[0]);
	hm_good_until(g, trunc, "truncator");
	close(stop[1]);
	hm_reap(vs, "socket client of v0");
	hm_reap(vd, "direct client of v1");
	hm_good_round(g, 1000000);
	mapper_daemon_alive(&d);

	/* No race now: a cut segment is CQ_CORRUPT for the daemon. */
	for (i = 0; i < HM_VICTIMS; i++) {
		ck_assert_int_eq(ftruncate(v[i].seg, 0), 0);
		ck_assert_int_eq(cq_open(c, names[i], &q), CQ_OK);
		ck_assert_int_eq(cq_try_pop(q, &msg), CQ_CORRUPT);
		ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
		ck_assert_int_eq(st.quarantined, 1);
		cq_queue_free(q);
		mapper_unmap(&v[i]);
	}
	hm_good_round(g, 1000001);
	cq_queue_free(g);
	cq_disconnect(c);
	mapper_daemon_alive(&d);
	close(fd);
	tu_daemon_cleanup(&d);
}
END_TEST

/* xorshift64: the mapper's bytes, reproducible from the seed. */
static uint64_t
hm_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The parts of a segment the mapper writes over, by loop iteration:
 * everything, the data only (rings, slots, in-flight table and free
 * stack: recovery's job), the header only (lock included). */
static const int hm_part_lo[] = {0, 1, 0};
static const int hm_part_n[] = {4, 3, 1};

/*
 * Child: writes random bytes (1..8 at a time) at random places of parts
 * first..first+nparts-1 of header (lock included), rings, slots and the
 * rest (in-flight table, free stack), each part as likely, writes times.
 * The boundaries are read once, before the first write.
 */
static void
hm_scribbler(
    struct mapper_seg *m, uint64_t seed, int first, int nparts, int writes)
{
	const struct queue_hdr *h = (const struct queue_hdr *)(void *)m->base;
	size_t lo[5], off, n, k;
	uint64_t r;
	int w, part;

	lo[0] = 0;
	lo[1] = h->imm.ring_off;
	lo[2] = h->imm.idx_off; /* the slot table and the heap's records */
	lo[3] = h->imm.inflight_off;
	lo[4] = m->len;
	for (w = 0; w < writes; w++) {
		part = first + (int)(hm_rand(&seed) % (uint64_t)nparts);
		off = lo[part] + hm_rand(&seed) % (lo[part + 1] - lo[part]);
		r = hm_rand(&seed);
		n = 1 + (size_t)(r % 8);
		for (k = 0; k < n && off + k < lo[part + 1]; k++)
			__atomic_store_n(m->base + off + k,
			    (unsigned char)(hm_rand(&seed) >> 24),
			    __ATOMIC_RELAXED);
		if (w % 16 == 0)
			sched_yield();
	}
	mapper_unmap(m);
	_exit(0);
}

/* The seed of loop iteration i: $CQ_HOSTILE_SEED (to reproduce) or fixed. */
static uint64_t
hm_seed(int i)
{
	const char *e = getenv("CQ_HOSTILE_SEED");

	if (e != NULL)
		return strtoull(e, NULL, 0);
	return UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(i + 1);
}

/*
 * Issue 13, untrusted mappers: random bytes over a queue's segment while a
 * socket client and a direct client use it and good clients (socket and
 * direct) use their own queues. Nobody crashes or hangs, the good queues
 * keep their data, the victim ends CQ_CORRUPT or repaired.
 */
START_TEST(test_random_bytes_from_a_mapper)
{
	struct tu_daemon d;
	struct mapper_seg m;
	cq_queue_stat st;
	cq_client *c, *cd;
	cq_queue *g, *gd, *q;
	cq_msg *msg;
	uint64_t seed = hm_seed(_i);
	pid_t scrib, vs, vd;
	int fd, stop[2];
	unsigned rounds;
	cq_status s;

	printf("test_random_bytes_from_a_mapper(%d): seed %#" PRIx64
	       " (CQ_HOSTILE_SEED=%#" PRIx64 " to repeat)\n",
	    _i, seed, seed);
	fflush(stdout);
	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_create(fd, "good", 4, 0600, 8, 64), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "goodd", 5, 0600, 8, 64), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "victim", 6, 0600, 16, 64), CQ_OK);
	mapper_fill(fd, "victim", 8);
	mapper_map(fd, "victim", &m);
	c = mapper_connect(&d, CQ_CONNECT_NO_DIRECT, "good", &g);
	cd = mapper_connect(&d, CQ_CONNECT_DIRECT, "goodd", &gd);
	ck_assert(cq_queue_direct(gd));
	ck_assert_int_eq(pipe(stop), 0);
	vs = hm_fork_victim(&d, CQ_CONNECT_NO_DIRECT, "victim", stop);
	vd = hm_fork_victim(&d, CQ_CONNECT_DIRECT, "victim", stop);
	scrib = fork();
	ck_assert_int_ge(scrib, 0);
	if (scrib == 0) {
		close(stop[0]);
		close(stop[1]);
		cq_queue_free(g);
		cq_queue_free(gd);
		cq_disconnect(c);
		cq_disconnect(cd);
		close(fd);
		hm_scribbler(&m, seed, hm_part_lo[_i % 3], hm_part_n[_i % 3],
		    hm_rounds(20000));
	}
	close(stop[0]);
	/* Both good queues are served, one round each, while it writes. */
	rounds = 0;
	while (waitpid(scrib, NULL, WNOHANG) == 0) {
		hm_good_round(g, rounds);
		hm_good_round(gd, rounds++);
	}
	close(stop[1]);
	hm_reap(vs, "socket client of the victim");
	hm_reap(vd, "direct client of the victim");
	hm_good_round(g, 1000000);
	hm_good_round(gd, 1000000);
	mapper_daemon_alive(&d);

	/* The victim: quarantined, or repaired and usable. */
	ck_assert_int_eq(cq_stat_by_name(c, "victim", &st, sizeof st), CQ_OK);
	ck_assert_int_eq(cq_open(c, "victim", &q), CQ_OK);
	s = cq_try_push(q, "after", 5);
	ck_assert_msg(hm_status_ok(s), "push after: %s", cq_status_name(s));
	msg = NULL;
	s = cq_try_pop(q, &msg);
	ck_assert_msg(hm_status_ok(s), "pop after: %s", cq_status_name(s));
	cq_msg_free(msg);
	printf("  %u good rounds; victim %s, %" PRIu64 " dropped\n", rounds,
	    st.quarantined ? "quarantined" : "repaired",
	    (uint64_t)st.corrupt_dropped);
	cq_queue_free(q);
	cq_queue_free(g);
	cq_queue_free(gd);
	cq_disconnect(c);
	cq_disconnect(cd);
	mapper_unmap(&m);
	close(fd);
	tu_daemon_cleanup(&d);
}
END_TEST

/* The suite. */
static Suite *
hostile_mapper_suite(void)
{
	Suite *s = suite_create("hostile_mapper");
	TCase *tc = tcase_create("race");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_truncation_racing_the_daemon);
	tcase_add_loop_test(tc, test_random_bytes_from_a_mapper, 0, 6);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return tu_run(hostile_mapper_suite(), "hostilemapper");
}
