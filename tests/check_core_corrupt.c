/* check_core_corrupt.c - random damage to segments: quarantine or repair. */

#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "core/slot.h"
#include "tests/core_util.h"

#define CAP   12
#define MAXSZ 24
#define BANDS 3
#define CASES 2000

/* Everything ever pushed into the base image, by id. */
struct known {
	uint64_t id;
	char text[MAXSZ];
	size_t len;
};

static struct known known[CAP * 4];
static int nknown;
static unsigned char *image;
static size_t image_len;
static char seg[128];

/* Push text, remembering it. */
static void
base_push(struct core_queue *q, const char *text, unsigned band, int front)
{
	uint64_t id;

	ck_assert_int_eq(
	    core_push(q, text, strlen(text), band, front, &id), CQ_OK);
	known[nknown].id = id;
	snprintf(known[nknown].text, MAXSZ, "%s", text);
	known[nknown].len = strlen(text);
	nknown++;
}

/*
 * Build the base image: every band used, wrapped rings, messages in
 * flight, a returned one, free slots; then copy the segment's bytes.
 */
static void
build_image(void)
{
	struct core_attr a = cu_attr(CAP, MAXSZ, BANDS);
	struct core_queue *q;
	struct core_msg m;
	char t[MAXSZ];
	int i, fd;

	nknown = 0;
	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
	for (i = 0; i < 6; i++) {
		snprintf(t, sizeof t, "old-%d", i);
		base_push(q, t, 0, 0);
	}
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
		ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
	}
	for (i = 0; i < 9; i++) {
		snprintf(t, sizeof t, "msg-%d-text", i % 10);
		base_push(q, t, (unsigned)i % BANDS, i % 4 == 0);
	}
	ck_assert_int_eq(core_pop(q, 7, 99, &m), CQ_OK);
	ck_assert_int_eq(core_pop(q, 7, 99, &m), CQ_OK);
	ck_assert_int_eq(core_return(q, m.slot, m.id), CQ_OK);
	ck_assert_int_eq(core_pop(q, 7, 99, &m), CQ_OK);
	core_detach(q);

	image_len = core_segment_size(&a);
	image = malloc(image_len);
	ck_assert_ptr_nonnull(image);
	fd = shm_open(seg, O_RDONLY, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, image, image_len, 0), (ssize_t)image_len);
	close(fd);
}

/* Return 1 if (id, data) is a message that was pushed. */
static int
is_known(uint64_t id, const void *data, uint32_t len)
{
	int i;

	for (i = 0; i < nknown; i++)
		if (known[i].id == id)
			return known[i].len == len &&
			       memcmp(known[i].text, data, len) == 0;
	return 0;
}

/* Flip 1..4 random bytes of buf, never in the lock (the kernel's word). */
static void
damage(unsigned char *buf, size_t len, uint64_t *rs)
{
	size_t lock_lo = offsetof(struct queue_hdr, lock);
	size_t lock_hi = lock_lo + sizeof(pthread_mutex_t);
	int n = 1 + (int)(cu_rand(rs) % 4), i;
	size_t at;

	for (i = 0; i < n; i++) {
		/* Half of the flips go to the header, where it hurts most. */
		if (cu_rand(rs) % 2)
			at = (size_t)(cu_rand(rs) % sizeof(struct queue_hdr));
		else
			at = (size_t)(cu_rand(rs) % len);
		if (at >= lock_lo && at < lock_hi)
			continue;
		buf[at] ^= (unsigned char)(1 + cu_rand(rs) % 255);
	}
}

/*
 * Use a queue that passed validation: everything must behave. Every
 * message that comes out was pushed, comes out once, and the queue then
 * holds exactly capacity fresh messages.
 */
static void
exercise(struct core_queue *q)
{
	uint64_t seen[CAP * 2], id;
	struct core_msg m;
	struct core_stat st;
	uint32_t cur = 0;
	int nseen = 0, i, j, pushed = 0;
	cq_status r;

	ck_assert_int_eq(core_check(q), CQ_OK);
	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	ck_assert_uint_le(st.length + st.in_flight, CAP);
	while (core_inflight_next(q, &cur, &m, NULL, NULL)) {
		ck_assert(is_known(m.id, m.data, m.len));
		ck_assert_int_lt(nseen, CAP);
		seen[nseen++] = m.id;
	}
	ck_assert_int_eq(core_return_all(q), CQ_OK);
	ck_assert_int_eq(core_set_paused(q, 0), CQ_OK);
	while ((r = core_pop(q, 3, 0, &m)) == CQ_OK) {
		ck_assert_msg(is_known(m.id, m.data, m.len),
		    "unknown message %" PRIu64, m.id);
		ck_assert_uint_lt(m.band, BANDS);
		for (j = 0; j < nseen; j++)
			if (seen[j] == m.id)
				break;
		/* Returned in-flight ones come out again, nothing else. */
		if (j == nseen) {
			ck_assert_int_lt(nseen, CAP * 2);
			seen[nseen++] = m.id;
		}
		ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
	}
	ck_assert_msg(r == CQ_EMPTY || r == CQ_CLOSED, "pop: %d", r);
	ck_assert_uint_eq(core_free_slots(q), CAP);
	for (i = 0; i < CAP + 1; i++) {
		r = core_push(q, "new", 3, (unsigned)i % BANDS, i & 1, &id);
		if (r != CQ_OK)
			break;
		pushed++;
	}
	ck_assert_msg(
	    (r == CQ_FULL && pushed == CAP) || (r == CQ_CLOSED && pushed == 0),
	    "push %d after %d", r, pushed);
	ck_assert_int_eq(core_check(q), CQ_OK);
}

/* Write image into segment seg (created fresh, mode 0600). */
static void
write_image(const unsigned char *buf)
{
	int fd;

	shm_unlink(seg);
	fd = shm_open(seg, O_CREAT | O_EXCL | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 0600), 0);
	ck_assert_int_eq(pwrite(fd, buf, image_len, 0), (ssize_t)image_len);
	close(fd);
}

START_TEST(test_damaged_detached_segment_is_quarantined_or_repaired)
{
	unsigned char *buf;
	struct core_queue *q;
	uint64_t rs = UINT64_C(0x5eed) + (uint64_t)_i;
	int c, corrupt = 0, ok = 0;
	cq_status st;

	build_image();
	buf = malloc(image_len);
	ck_assert_ptr_nonnull(buf);
	/* Undamaged, the image is accepted. */
	write_image(image);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	exercise(q);
	core_detach(q);
	for (c = 0; c < cu_count_env("CQ_CORRUPT_CASES", CASES); c++) {
		memcpy(buf, image, image_len);
		damage(buf, image_len, &rs);
		write_image(buf);
		st = core_attach(seg, &q);
		ck_assert_msg(st == CQ_OK || st == CQ_CORRUPT,
		    "case %d: attach %d", c, st);
		if (st == CQ_CORRUPT) {
			ck_assert_ptr_null(q);
			corrupt++;
			continue;
		}
		ok++;
		exercise(q);
		core_detach(q);
	}
	/* Both outcomes occur, or the damage did not reach anything. */
	ck_assert_int_gt(corrupt, cu_count_env("CQ_CORRUPT_CASES", CASES) / 20);
	ck_assert_int_gt(ok, cu_count_env("CQ_CORRUPT_CASES", CASES) / 20);
	free(buf);
	free(image);
	ck_assert_int_eq(core_unlink(seg), CQ_OK);
}
END_TEST

START_TEST(test_damage_under_an_attached_handle_is_caught_by_check)
{
	struct core_queue *q;
	unsigned char *map;
	uint64_t rs = 4242;
	int c, fd, corrupt = 0;
	cq_status st;

	build_image();
	for (c = 0; c < cu_count_env("CQ_CORRUPT_CASES", CASES) / 4; c++) {
		write_image(image);
		ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
		/* Damage through a second mapping while q is attached. */
		fd = shm_open(seg, O_RDWR, 0);
		ck_assert_int_ge(fd, 0);
		map = mmap(
		    NULL, image_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		ck_assert(map != MAP_FAILED);
		damage(map, image_len, &rs);
		munmap(map, image_len);
		st = core_check(q);
		ck_assert_msg(st == CQ_OK || st == CQ_CORRUPT, "check %d", st);
		if (st == CQ_OK)
			exercise(q);
		else {
			corrupt++;
			/* Quarantined: every operation says so. */
			ck_assert_int_eq(
			    core_push(q, "x", 1, 0, 0, (uint64_t[1]){0}),
			    CQ_CORRUPT);
			ck_assert_int_eq(core_check(q), CQ_CORRUPT);
			ck_assert_int_eq(core_return_all(q), CQ_CORRUPT);
		}
		core_detach(q);
	}
	ck_assert_int_gt(corrupt, 0);
	free(image);
	ck_assert_int_eq(core_unlink(seg), CQ_OK);
}
END_TEST

START_TEST(test_quarantine_reaches_other_handles)
{
	struct core_queue *q, *q2;
	struct core_msg m;
	unsigned char *map;
	int fd;

	build_image();
	write_image(image);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	ck_assert_int_eq(core_attach(seg, &q2), CQ_OK);
	/* An immutable field changes under both handles. */
	fd = shm_open(seg, O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	map = mmap(NULL, image_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	ck_assert(map != MAP_FAILED);
	map[offsetof(struct queue_imm, max_size)] ^= 0x40;
	munmap(map, image_len);
	ck_assert_int_eq(core_check(q), CQ_CORRUPT);
	/* q2 never ran a check itself, yet stops too. */
	ck_assert_int_eq(core_pop(q2, 1, 0, &m), CQ_CORRUPT);
	core_detach(q);
	core_detach(q2);
	ck_assert_int_eq(core_attach(seg, &q), CQ_CORRUPT);
	free(image);
	ck_assert_int_eq(core_unlink(seg), CQ_OK);
}
END_TEST

/*
 * The slot checksum is CRC-32C over id, band and len, then the data, as
 * when each was checksummed in turn: segments written before keep
 * validating.
 */
START_TEST(test_slot_crc_is_the_chained_crc)
{
	static unsigned char data[5000];
	uint64_t seed = 42, id;
	uint32_t band, len, crc;
	int i;

	for (i = 0; i < (int)sizeof data; i++)
		data[i] = (unsigned char)cu_rand(&seed);
	for (i = 0; i < 2000; i++) {
		id = cu_rand(&seed);
		band = (uint32_t)cu_rand(&seed) % 16;
		len = (uint32_t)(cu_rand(&seed) % sizeof data);
		if (i < 10)
			len = (uint32_t)i;
		crc = crc32c(0, &id, sizeof id);
		crc = crc32c(crc, &band, sizeof band);
		crc = crc32c(crc, &len, sizeof len);
		crc = crc32c(crc, data, len);
		ck_assert_uint_eq(slot_crc(id, band, len, data), crc);
	}
	/* And a known value, so both sides cannot change together. */
	ck_assert_uint_eq(slot_crc(1, 0, 3, "abc"), 0xe282ca2fu);
}
END_TEST

/* The suite. */
static Suite *
corrupt_suite(void)
{
	Suite *s = suite_create("core_corrupt");
	TCase *tc = tcase_create("corrupt");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(
	    tc, test_damaged_detached_segment_is_quarantined_or_repaired, 0, 2);
	tcase_add_test(
	    tc, test_damage_under_an_attached_handle_is_caught_by_check);
	tcase_add_test(tc, test_quarantine_reaches_other_handles);
	tcase_add_test(tc, test_slot_crc_is_the_chained_crc);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then remove any segment a failed test left behind. */
int
main(void)
{
	return cu_run(corrupt_suite, "check_core_corrupt");
}
