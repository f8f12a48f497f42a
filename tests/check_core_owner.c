/* check_core_owner.c - core_set_owner: visible, persistent, crash-atomic. */

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/layout.h"
#include "core/queue.h"
#include "tests/core_util.h"

static char seg[128];
static struct core_queue *q;

/* A fresh queue owned by us. */
static void
setup(void)
{
	struct core_attr a = cu_attr(8, 16, 1);

	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
}

/* Drop q and its segment. */
static void
teardown(void)
{
	if (q != NULL)
		core_detach(q);
	q = NULL;
	core_unlink(seg);
}

/* Attach seg afresh and return its owner pair. */
static void
attach_owner(uint32_t *uid, uint32_t *gid)
{
	struct core_queue *q2;
	const struct core_attr *a;

	ck_assert_int_eq(core_attach(seg, &q2), CQ_OK);
	a = core_attr(q2);
	*uid = a->uid;
	*gid = a->gid;
	ck_assert_int_eq(core_check(q2), CQ_OK);
	core_detach(q2);
}

START_TEST(test_set_owner_shows_in_attr_stat_and_attach)
{
	struct core_queue *other;
	struct core_stat st;
	uint32_t uid, gid;

	ck_assert_int_eq(core_attach(seg, &other), CQ_OK);
	ck_assert_uint_eq(core_attr(q)->uid, getuid());
	ck_assert_int_eq(core_set_owner(q, 4242, 4343), CQ_OK);
	ck_assert_uint_eq(core_attr(q)->uid, 4242);
	ck_assert_uint_eq(core_attr(q)->gid, 4343);
	/* A handle attached before the change sees it too. */
	ck_assert_uint_eq(core_attr(other)->uid, 4242);
	ck_assert_uint_eq(core_attr(other)->gid, 4343);
	ck_assert_int_eq(core_stat(other, &st), CQ_OK);
	ck_assert_uint_eq(st.attr.uid, 4242);
	ck_assert_uint_eq(st.attr.gid, 4343);
	ck_assert_uint_eq(st.attr.mode, 0600);
	ck_assert_uint_eq(st.attr.capacity, 8);
	core_detach(other);
	/* The header checksum still holds and a new attach reads it back. */
	ck_assert_int_eq(core_check(q), CQ_OK);
	attach_owner(&uid, &gid);
	ck_assert_uint_eq(uid, 4242);
	ck_assert_uint_eq(gid, 4343);
	/* Root's pair is a real value, not the "never changed" word. */
	ck_assert_int_eq(core_set_owner(q, 0, 0), CQ_OK);
	attach_owner(&uid, &gid);
	ck_assert_uint_eq(uid, 0);
	ck_assert_uint_eq(gid, 0);
}
END_TEST

START_TEST(test_all_ones_is_invalid_and_changes_nothing)
{
	uint32_t uid, gid;

	ck_assert_int_eq(core_set_owner(q, 7, 8), CQ_OK);
	ck_assert_int_eq(core_set_owner(q, UINT32_MAX, 9), CQ_INVALID);
	ck_assert_int_eq(core_set_owner(q, 9, UINT32_MAX), CQ_INVALID);
	ck_assert_uint_eq(core_attr(q)->uid, 7);
	ck_assert_uint_eq(core_attr(q)->gid, 8);
	attach_owner(&uid, &gid);
	ck_assert_uint_eq(uid, 7);
	ck_assert_uint_eq(gid, 8);
}
END_TEST

START_TEST(test_zero_word_means_created_owner)
{
	struct core_attr a = cu_attr(8, 16, 1);
	struct queue_hdr *hdr;
	uint32_t uid, gid;
	int fd;

	/* A segment from before the owner word has 0 there (padding). */
	ck_assert_int_eq(core_set_owner(q, 5, 6), CQ_OK);
	ck_assert((fd = shm_open(seg, O_RDWR, 0)) >= 0);
	hdr =
	    mmap(NULL, sizeof *hdr, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert(hdr != MAP_FAILED);
	close(fd);
	ck_assert(hdr->owner != 0);
	hdr->owner = 0;
	munmap(hdr, sizeof *hdr);
	attach_owner(&uid, &gid);
	ck_assert_uint_eq(uid, a.uid);
	ck_assert_uint_eq(gid, a.gid);
}
END_TEST

START_TEST(test_killed_setter_leaves_one_whole_pair)
{
	int round, fds[2];
	uint32_t uid, gid;
	pid_t pid;
	char c;

	core_detach(q);
	q = NULL;
	for (round = 0; round < 20; round++) {
		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct core_queue *cq;
			unsigned long i;

			close(fds[0]);
			if (core_attach(seg, &cq) != CQ_OK)
				_exit(1);
			/* Pairs (i, i + 1000000): a torn store would show. */
			for (i = 1;; i++) {
				if (core_set_owner(cq, (uint32_t)i,
				        (uint32_t)i + 1000000) != CQ_OK)
					_exit(2);
				if (i == 1 && write(fds[1], "x", 1) != 1)
					_exit(3);
			}
		}
		close(fds[1]);
		/* Killed at once after its first store, then at any point. */
		ck_assert_int_eq(read(fds[0], &c, 1), 1);
		close(fds[0]);
		for (volatile int spin = 0; spin < round * 20000; spin++)
			;
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
		attach_owner(&uid, &gid);
		ck_assert_uint_ge(uid, 1);
		ck_assert_uint_eq(gid, uid + 1000000);
	}
}
END_TEST

/* The suite. */
static Suite *
owner_suite(void)
{
	Suite *s = suite_create("core_owner");
	TCase *tc = tcase_create("owner");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_set_owner_shows_in_attr_stat_and_attach);
	tcase_add_test(tc, test_all_ones_is_invalid_and_changes_nothing);
	tcase_add_test(tc, test_zero_word_means_created_owner);
	tcase_add_test(tc, test_killed_setter_leaves_one_whole_pair);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then remove any segment a failed test left behind. */
int
main(void)
{
	return cu_run(owner_suite, "check_core_owner");
}
