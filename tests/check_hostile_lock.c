/* check_hostile_lock.c - a mapper rewrites the bytes around the lock word. */

/*
 * The segment lock is one futex word (core/lock.c); the rest of the 40
 * bytes that once held a glibc robust mutex are never read. glibc's robust
 * mutex kept the owner's robust-list pointers there and wrote through them
 * on unlock, so a mapper rewriting them killed the daemon with SIGSEGV
 * (doc/hostile-input.md). Here a mapper scribbles over those bytes (and
 * the kind word glibc would have trusted) in a loop while a socket client
 * and a direct client push and pop: every operation succeeds, every
 * message comes back intact, the daemon lives.
 */

#include <sys/mman.h>
#include <sys/wait.h>

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "core/layout.h"
#include "mapper.h"
#include "rawclient.h"
#include "testutil.h"

/* Child: write garbage over the lock's bytes after its word until the
 * parent closes stop (never the word itself: that is the lock). */
static void
hl_scribbler(struct mapper_seg *m, int stop)
{
	unsigned char *lo = m->base + offsetof(struct queue_hdr, lock);
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	size_t i;
	char b;

	fcntl(stop, F_SETFL, O_NONBLOCK);
	while (read(stop, &b, 1) != 0) {
		for (i = sizeof(int); i < sizeof(pthread_mutex_t); i++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			__atomic_store_n(&lo[i], (unsigned char)s, __ATOMIC_RELAXED);
		}
	}
	mapper_unmap(m);
	close(stop);
	_exit(0);
}

/* Push "<tag>-<i>" on q and pop it back: intact. */
static void
hl_round(cq_queue *q, const char *tag, unsigned i)
{
	char t[32];
	cq_msg *msg;

	snprintf(t, sizeof t, "%s-%u", tag, i);
	ck_assert_int_eq(cq_push(q, t, strlen(t), CQ_FOREVER), CQ_OK);
	ck_assert_int_eq(cq_pop(q, &msg, CQ_FOREVER), CQ_OK);
	ck_assert_uint_eq(cq_msg_len(msg), strlen(t));
	ck_assert(memcmp(cq_msg_data(msg), t, strlen(t)) == 0);
	cq_msg_free(msg);
}

START_TEST(test_robust_list_bytes_rewritten_while_served)
{
	struct mapper_seg m;
	struct tu_daemon d;
	cq_client *cs, *cd;
	cq_queue *qs, *qd;
	cq_queue_stat st;
	unsigned i, n = getenv("CQ_UNDER_VALGRIND") != NULL ? 300 : 5000;
	int fd, stop[2], ws;
	pid_t pid;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_create(fd, "q", 1, 0600, 16, 64), CQ_OK);
	mapper_map(fd, "q", &m);
	cs = mapper_connect(&d, CQ_CONNECT_NO_DIRECT, "q", &qs);
	cd = mapper_connect(&d, CQ_CONNECT_DIRECT, "q", &qd);
	ck_assert_int_eq(cq_queue_direct(qd), 1);
	ck_assert_int_eq(pipe(stop), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(stop[1]);
		close(fd);
		hl_scribbler(&m, stop[0]);
	}
	close(stop[0]);
	for (i = 0; i < n; i++) {
		hl_round(qs, "s", i);
		hl_round(qd, "d", i);
	}
	close(stop[1]);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	ck_assert_int_eq(cq_stat(qs, &st), CQ_OK);
	ck_assert_int_eq(st.quarantined, 0);
	ck_assert_uint_eq(st.length, 0);
	mapper_daemon_alive(&d);
	cq_queue_free(qs);
	cq_queue_free(qd);
	cq_disconnect(cs);
	cq_disconnect(cd);
	mapper_unmap(&m);
	close(fd);
	tu_daemon_stop(&d);
}
END_TEST

static Suite *
hostile_lock_suite(void)
{
	Suite *s = suite_create("hostile_lock");
	TCase *tc = tcase_create("lock");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_robust_list_bytes_rewritten_while_served);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return tu_run(hostile_lock_suite(), "hostilelock");
}
