/* check_core_hostile.c - one tampered segment never aborts, hangs or loses
 * good messages (issue 20): lock words, truncation, flipped bytes, fields. */

#include <check.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/layout.h"
#include "core/queue.h"
#include "tests/core_util.h"

#define NMSG 20

static char seg[128];

/* Create seg with n messages "msg-<i>" in band 0, and detach. */
static void
make_queue(uint32_t cap, int n)
{
	struct core_attr a = cu_attr(cap, 32, 2);
	struct core_queue *q;
	char t[32];
	int i;

	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
	for (i = 0; i < n; i++) {
		snprintf(t, sizeof t, "msg-%d", i);
		ck_assert_int_eq(core_push(q, t, strlen(t), 0, 0, NULL), CQ_OK);
	}
	core_detach(q);
}

/* Map seg as an attacker would (its own mapping, whole file). */
static struct queue_hdr *
raw_map(size_t *len)
{
	struct stat sb;
	void *p;
	int fd;

	fd = shm_open(seg, O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	p = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	close(fd);
	*len = (size_t)sb.st_size;
	return p;
}

/* A thread id that belonged to a process which has exited and been reaped. */
static pid_t
dead_tid(void)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return pid;
}

/* Pop everything from q, checking the texts "msg-<i>" come in order. */
static int
drain(struct core_queue *q, int skip)
{
	struct core_msg m;
	char t[32];
	int i = 0, n = 0;
	cq_status st;

	while ((st = core_pop(q, 1, 0, &m)) == CQ_OK) {
		if (i == skip)
			i++;
		snprintf(t, sizeof t, "msg-%d", i);
		ck_assert_uint_eq(m.len, strlen(t));
		ck_assert_msg(memcmp(m.data, t, m.len) == 0, "message %d: %.*s",
		    i, (int)m.len, (const char *)m.data);
		ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
		i++;
		n++;
	}
	ck_assert_int_eq(st, CQ_EMPTY);
	return n;
}

/*
 * Write a lock word (owner thread id plus futex bits) and optionally the
 * glibc owner field, as an attacker with write access to the file can.
 */
static void
tamper_lock(unsigned int word, int kind_or)
{
	struct queue_hdr *h;
	size_t len;

	h = raw_map(&len);
	h->lock.__data.__lock = (int)word;
	h->lock.__data.__owner = (int)(word & FUTEX_TID_MASK);
	h->lock.__data.__kind |= kind_or;
	munmap(h, len);
}

/* An owner word naming a thread that does not exist: repaired, all kept. */
START_TEST(test_lock_word_of_a_dead_thread_is_repaired_at_attach)
{
	unsigned int bits = _i == 0 ? 0 : FUTEX_OWNER_DIED;
	struct core_queue *q;

	make_queue(32, NMSG);
	tamper_lock((unsigned int)dead_tid() | bits, 0);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	ck_assert_int_eq(drain(q, -1), NMSG);
	core_detach(q);
	core_unlink(seg);
}
END_TEST

/* The same under a live handle: the next operation repairs the lock. */
START_TEST(test_lock_word_of_a_dead_thread_is_repaired_under_a_handle)
{
	unsigned int bits = _i == 0 ? 0 : FUTEX_OWNER_DIED;
	struct core_queue *q;

	make_queue(32, NMSG);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	core_set_lock_timeout(q, 100);
	tamper_lock((unsigned int)dead_tid() | bits, 0);
	ck_assert_int_eq(drain(q, -1), NMSG);
	core_detach(q);
	core_unlink(seg);
}
END_TEST

/* Our own thread id in the word, which we do not hold: also dead. */
START_TEST(test_lock_word_of_our_own_thread_is_repaired)
{
	struct core_queue *q;

	make_queue(32, NMSG);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	tamper_lock((unsigned int)gettid(), 0);
	ck_assert_int_eq(drain(q, -1), NMSG);
	core_detach(q);
	core_unlink(seg);
}
END_TEST

/*
 * A lock turned into a priority-inheritance one with a dead owner: glibc
 * would assert (e != ESRCH || !robust) and abort. We quarantine instead.
 */
START_TEST(test_lock_of_another_kind_is_quarantined_not_fatal)
{
	struct core_queue *q;

	make_queue(32, NMSG);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	core_set_lock_timeout(q, 100);
	tamper_lock((unsigned int)dead_tid(), PTHREAD_PRIO_INHERIT << 5);
	ck_assert_int_eq(core_push(q, "x", 1, 0, 0, NULL), CQ_CORRUPT);
	core_detach(q);
	ck_assert_int_eq(core_attach(seg, &q), CQ_CORRUPT);
	core_unlink(seg);
}
END_TEST

/* The suite. */
static Suite *
hostile_suite(void)
{
	Suite *s = suite_create("core_hostile");
	TCase *tc = tcase_create("lock");

	tcase_add_loop_test(
	    tc, test_lock_word_of_a_dead_thread_is_repaired_at_attach, 0, 2);
	tcase_add_loop_test(tc,
	    test_lock_word_of_a_dead_thread_is_repaired_under_a_handle, 0, 2);
	tcase_add_test(tc, test_lock_word_of_our_own_thread_is_repaired);
	tcase_add_test(tc, test_lock_of_another_kind_is_quarantined_not_fatal);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then remove any segment a failed test left behind. */
int
main(void)
{
	SRunner *sr;
	int failed;

	cu_init();
	sr = srunner_create(hostile_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (cu_count() != 0) {
		fprintf(stderr, "check_core_hostile: segments left behind\n");
		failed++;
	}
	cu_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
