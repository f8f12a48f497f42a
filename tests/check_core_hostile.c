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
 * A live thread that is not ours in the word (our parent): it might hold
 * the lock for real, so no reaping; attach says CQ_BUSY in its bounded
 * wait instead of hanging, and the daemon quarantines the queue.
 */
START_TEST(test_lock_word_of_a_live_stranger_is_busy_not_a_hang)
{
	struct core_queue *q;

	make_queue(32, NMSG);
	tamper_lock((unsigned int)getppid(), 0);
	ck_assert_int_eq(core_attach(seg, &q), CQ_BUSY);
	ck_assert_ptr_null(q);
	core_unlink(seg);
}
END_TEST

/*
 * A lock turned into a priority-inheritance one with a dead owner, and
 * its robust-list pointers aimed at nowhere: glibc would assert (e !=
 * ESRCH || !robust) or write through them. Our lock reads its word only:
 * the dead owner is reaped and every message kept.
 */
START_TEST(test_lock_bytes_beside_the_word_are_ignored)
{
	struct core_queue *q;
	struct queue_hdr *h;
	size_t len;

	make_queue(32, NMSG);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	core_set_lock_timeout(q, 100);
	tamper_lock((unsigned int)dead_tid(), PTHREAD_PRIO_INHERIT << 5);
	h = raw_map(&len);
	h->lock.__data.__list.__next = (void *)(uintptr_t)0x10;
	h->lock.__data.__list.__prev = (void *)(uintptr_t)0x20;
	munmap(h, len);
	ck_assert_int_eq(drain(q, -1), NMSG);
	ck_assert_int_eq(core_push(q, "x", 1, 0, 0, NULL), CQ_OK);
	core_detach(q);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	core_detach(q);
	core_unlink(seg);
}
END_TEST

/* Flip one payload byte of the message at position pos of band 0. */
static void
flip_payload(int pos)
{
	struct queue_hdr *h;
	struct queue_slot *sl;
	unsigned char *base;
	uint32_t *ring, s;
	size_t len;

	h = raw_map(&len);
	base = (unsigned char *)h;
	ring = (uint32_t *)(void *)(base + h->imm.ring_off);
	s = ring[(h->head[0] + (uint64_t)pos) % h->imm.capacity];
	ck_assert_uint_lt(s, h->imm.capacity);
	sl = layout_record(base, s);
	ck_assert_uint_gt(sl->len, 2);
	sl->data[2] ^= 0x20; /* "msg-5" -> "Msg-5"'s neighbour: one bit */
	munmap(h, len);
}

/* Pop everything with pop_many, texts in order with one skipped. */
static int
drain_many(struct core_queue *q, int skip)
{
	struct core_msg m[NMSG];
	char t[32];
	size_t n, j;
	int i = 0, total = 0;
	cq_status st;

	while ((st = core_pop_many(q, 1, 0, m, NMSG, &n)) == CQ_OK) {
		for (j = 0; j < n; j++) {
			if (i == skip)
				i++;
			snprintf(t, sizeof t, "msg-%d", i);
			ck_assert_uint_eq(m[j].len, strlen(t));
			ck_assert_msg(memcmp(m[j].data, t, m[j].len) == 0,
			    "message %d: %.*s", i, (int)m[j].len,
			    (const char *)m[j].data);
			i++;
			total++;
		}
		ck_assert_int_eq(core_confirm_many(q, m, n), CQ_OK);
	}
	ck_assert_int_eq(st, CQ_EMPTY);
	return total;
}

/* Check the stats after 19 of 20 came out and one was dropped. */
static void
check_dropped_one(struct core_queue *q)
{
	struct core_stat st;

	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.corrupt_dropped, 1);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_uint_eq(st.in_flight, 0);
	ck_assert_uint_eq(st.total_pushed, NMSG);
	ck_assert_uint_eq(st.total_popped, NMSG);
	ck_assert_uint_eq(core_dropped(q), 1);
	ck_assert_uint_eq(core_dropped(q), 0);
}

/* A flipped byte in slot 5 of 20 under a live handle: 19 delivered. */
START_TEST(test_flipped_payload_is_dropped_on_pop)
{
	struct core_queue *q;

	make_queue(32, NMSG);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	flip_payload(5);
	if (_i == 0)
		ck_assert_int_eq(drain(q, 5), NMSG - 1);
	else
		ck_assert_int_eq(drain_many(q, 5), NMSG - 1);
	check_dropped_one(q);
	/* The dropped slot was freed: the queue holds its capacity. */
	ck_assert_uint_eq(core_free_slots(q), 32);
	core_detach(q);
	core_unlink(seg);
}
END_TEST

/* The same found by recovery at attach: 19 kept, not 5. */
START_TEST(test_flipped_payload_is_dropped_by_recovery)
{
	struct core_queue *q;

	make_queue(32, NMSG);
	flip_payload(5);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	ck_assert_uint_eq(core_length(q), NMSG - 1);
	ck_assert_int_eq(drain(q, 5), NMSG - 1);
	check_dropped_one(q);
	core_detach(q);
	core_unlink(seg);
}
END_TEST

/* A tampered in_flight is never reported; recovery rebuilds it. */
START_TEST(test_impossible_in_flight_is_rebuilt_not_shown)
{
	struct core_queue *q;
	struct queue_hdr *h;
	struct core_stat st;
	struct core_msg m;
	size_t len;

	make_queue(32, NMSG);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	h = raw_map(&len);
	h->in_flight = 2147483789u;
	munmap(h, len);
	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.in_flight, 1);
	ck_assert_uint_eq(st.length, NMSG - 1);
	ck_assert_uint_eq(st.total_pushed, NMSG);
	ck_assert_uint_eq(st.total_popped, 0);
	ck_assert_uint_eq(core_free_slots(q), 32 - NMSG);
	core_detach(q);
	core_unlink(seg);
}
END_TEST

/* A tampered free-stack top is rebuilt by the next push. */
START_TEST(test_impossible_free_top_is_rebuilt_by_push)
{
	struct core_queue *q;
	struct queue_hdr *h;
	size_t len;

	make_queue(32, NMSG);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	h = raw_map(&len);
	h->free_top = 1u << 31;
	munmap(h, len);
	ck_assert_int_eq(core_push(q, "msg-20", 6, 0, 0, NULL), CQ_OK);
	ck_assert_uint_eq(core_length(q), NMSG + 1);
	core_detach(q);
	core_unlink(seg);
}
END_TEST

/* Cut seg's file to len bytes, as `truncate` would. */
static void
truncate_seg(off_t len)
{
	int fd = shm_open(seg, O_RDWR, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, len), 0);
	close(fd);
}

/* Truncated to 0, half or 4096 bytes: quarantined, nothing else hurt. */
START_TEST(test_truncated_segment_is_quarantined_not_fatal)
{
	struct core_queue *q, *other;
	struct core_attr a = cu_attr(8, 16, 1);
	char oseg[128];
	struct core_stat st;
	struct core_msg m;
	size_t len;
	off_t to;

	ck_assert_int_eq(core_guard_install(), 0);
	make_queue(256, NMSG);
	len = core_segment_size(
	    &(struct core_attr){.capacity = 256, .max_size = 32, .bands = 2});
	ck_assert_uint_gt(len, 3 * 4096);
	cu_segname(oseg, sizeof oseg);
	ck_assert_int_eq(core_create(oseg, &a, &other), CQ_OK);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	/* 1: through the start of the heap, where the messages are. */
	to = _i == 0 ? 0 : _i == 1 ? (off_t)q->imm.heap_off : 4096;
	truncate_seg(to);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_CORRUPT);
	/* From now on, on this handle: CQ_CORRUPT, and nothing faults. */
	ck_assert_int_eq(core_push(q, "x", 1, 0, 0, NULL), CQ_CORRUPT);
	ck_assert_int_eq(core_stat(q, &st), CQ_CORRUPT);
	ck_assert_int_eq(core_check(q), CQ_CORRUPT);
	ck_assert_uint_eq(core_length(q), 0);
	ck_assert_str_eq(core_attr(q)->name, "test.q");
	core_detach(q);
	/* A new attach sees the size at once. */
	ck_assert_int_eq(
	    core_attach(seg, &q), to == 0 ? CQ_NOTFOUND : CQ_CORRUPT);
	/* The other queue of this process goes on. */
	ck_assert_int_eq(core_push(other, "ok", 2, 0, 0, NULL), CQ_OK);
	ck_assert_int_eq(core_pop(other, 1, 0, &m), CQ_OK);
	ck_assert_int_eq(core_confirm(other, m.slot, m.id), CQ_OK);
	core_detach(other);
	core_unlink(oseg);
	core_unlink(seg);
}
END_TEST

static const char *cut_site;
static off_t cut_to;

/* Crash hook turned attacker: cut the file at one site, once. */
static void
cut_hook(const char *site)
{
	if (cut_site != NULL && strcmp(site, cut_site) == 0) {
		cut_site = NULL;
		truncate_seg(cut_to);
	}
}

/*
 * The file is cut after every check passed, inside the operation (pop
 * holding the lock, recovery half-way): SIGBUS, caught, quarantined.
 */
START_TEST(test_truncation_racing_the_check_is_caught)
{
	static const char *sites[] = {"pop.before_commit", "pop.after_commit",
	    "recover.middle", "push.before_commit"};
	struct core_queue *q;
	struct core_msg m;
	cq_status st;

	ck_assert_int_eq(core_guard_install(), 0);
	make_queue(256, NMSG);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	cut_site = sites[_i];
	cut_to = _i == 2 ? 4096 : 0; /* recovery reaches past 4096 */
	core_crash_hook = cut_hook;
	if (_i < 2)
		st = core_pop(q, 1, 0, &m);
	else if (_i == 2)
		st = core_check(q);
	else
		st = core_push(q, "x", 1, 0, 0, NULL);
	core_crash_hook = NULL;
	ck_assert_ptr_null(cut_site); /* the cut happened */
	ck_assert_int_eq(st, CQ_CORRUPT);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_CORRUPT);
	core_detach(q);
	core_unlink(seg);
}
END_TEST

/* Run f in a child; return how it ended (the wait status). */
static int
in_child(void (*f)(void))
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		f();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/* Fault on a truncated mapping that no guard covers. */
static void
fault_unguarded(void)
{
	struct queue_hdr *h;
	size_t len;

	h = raw_map(&len);
	truncate_seg(0);
	*(volatile uint64_t *)(void *)&h->next_id = 1;
}

/* Fault on another mapping while a guard covers some queue. */
static void
fault_inside_other_guard(void)
{
	struct core_guard g;
	struct core_queue *q;

	if (core_attach(seg, &q) != CQ_OK)
		_exit(3);
	core_guard_enter(&g, q);
	if (sigsetjmp(g.jb, 0) == 0) {
		fault_unguarded();
		core_guard_leave(&g);
	}
	_exit(4); /* the guard must not catch someone else's fault */
}

/* A SIGBUS that is not ours still kills, guard installed or not. */
START_TEST(test_unrelated_sigbus_still_kills)
{
	int status;

	ck_assert_int_eq(core_guard_install(), 0);
	make_queue(256, NMSG);
	status = in_child(_i == 0 ? fault_unguarded : fault_inside_other_guard);
	/*
	 * The guard hands the fault to the previous disposition: the default
	 * kills with SIGBUS; under a sanitizer its own handler reports the
	 * fault and exits 1 (ASan's exitcode). Either way the process does
	 * not go on (_exit(4)) as if the guard had caught it.
	 */
	ck_assert_msg((WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) ||
	                  (getenv("CQ_SANITIZER") != NULL &&
	                      WIFEXITED(status) && WEXITSTATUS(status) == 1),
	    "status %#x", status);
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
	tcase_add_test(
	    tc, test_lock_word_of_a_live_stranger_is_busy_not_a_hang);
	tcase_add_test(tc, test_lock_bytes_beside_the_word_are_ignored);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("data");
	tcase_add_loop_test(tc, test_flipped_payload_is_dropped_on_pop, 0, 2);
	tcase_add_test(tc, test_flipped_payload_is_dropped_by_recovery);
	tcase_add_test(tc, test_impossible_in_flight_is_rebuilt_not_shown);
	tcase_add_test(tc, test_impossible_free_top_is_rebuilt_by_push);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("truncate");
	tcase_add_loop_test(
	    tc, test_truncated_segment_is_quarantined_not_fatal, 0, 3);
	tcase_add_loop_test(
	    tc, test_truncation_racing_the_check_is_caught, 0, 4);
	tcase_add_loop_test(tc, test_unrelated_sigbus_still_kills, 0, 2);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then remove any segment a failed test left behind. */
int
main(void)
{
	return cu_run(hostile_suite, "check_core_hostile");
}
