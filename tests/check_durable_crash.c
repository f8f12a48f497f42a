/*
 * check_durable_crash.c - crash-state enumeration of a durable queue's log
 * (in the spirit of ALICE and CrashMonkey): a random workload runs on a
 * segment while dflush keeps its log; at a synced flush the file is
 * copied (image A), after more unsynced flushes again (image B). Each
 * crash state takes every 512-byte block from A or from B (zeros where A
 * had no data), sometimes tears one block (a prefix from B, the rest from
 * A) and sometimes cuts the file short. Replaying each state must give a
 * valid queue (restorable into a fresh segment, core_check clean, within
 * the capacity, ids unique, next id above them all and not below A's);
 * every message has exactly the data and band it was pushed with (a
 * torn record is dropped, never delivered); every message live at the
 * synced flush and never removed after it is there; nothing removed
 * before the synced flush comes back.
 *
 * CQ_CRASH_ROUNDS and CQ_CRASH_STATES (per round) scale it; "make
 * check-crashstate" runs thousands of states.
 */

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "daemon/dflush.h"
#include "daemon/dlog.h"
#include "tests/core_util.h"

#define CAP   24
#define MAXSZ 64
#define BANDS 2
#define BS    512
#define MAXID 4096

int durable_dirfd = -1; /* dflush.c's state directory (durable.c) */

static char tdir[] = "/tmp/cqdcrash.XXXXXX";

/* What the workload knows about every id it pushed. */
static struct {
	uint32_t band, len;
	int pushed;
	int live_a;     /* live at the synced flush (image A) */
	int gone_a;     /* live at a flush before A, not at A */
	int seen_after; /* live at some flush from A on */
	int live_b;     /* live at the last flush before image B */
	int was_live;   /* live at some flush so far */
} ids[MAXID];

/* The payload of message id: its length and bytes follow from the id. */
static uint32_t
payload_len(uint64_t id)
{
	return (uint32_t)(id * 7 % (MAXSZ + 1));
}

static void
payload(uint64_t id, unsigned char *buf)
{
	uint32_t i, n = payload_len(id);

	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)(id * 31 + i * 7 + 1);
}

/* A whole file into a malloc'd buffer. */
static unsigned char *
slurp(const char *path, size_t *len)
{
	struct stat sb;
	unsigned char *p;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	p = malloc((size_t)sb.st_size + 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(pread(fd, p, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	*len = (size_t)sb.st_size;
	return p;
}

/* In-flight messages the workload holds. */
static struct core_msg held[CAP];
static size_t nheld;

/* One random operation on q. */
static void
step(struct core_queue *q, uint64_t *rs)
{
	unsigned char buf[MAXSZ];
	struct core_msg m;
	uint64_t id, r = cu_rand(rs) % 100;
	uint32_t slot, band = (uint32_t)(cu_rand(rs) % BANDS);
	size_t k;
	cq_status st;

	if (r < 45) {
		/* Ids are sequential: the next one decides the payload. */
		uint64_t next;
		struct core_stat cs;

		ck_assert_int_eq(core_stat(q, &cs), CQ_OK);
		next = cs.total_pushed + 1;
		if (next >= MAXID)
			return;
		payload(next, buf);
		if (r < 40)
			st = core_push(q, buf, payload_len(next), band,
			    r < 3, &id);
		else
			st = core_push_delayed(q, buf, payload_len(next),
			    band, UINT64_C(1) << 62, &id, &slot);
		if (st == CQ_FULL)
			return;
		ck_assert_int_eq(st, CQ_OK);
		ck_assert_uint_eq(id, next);
		ids[id].band = band;
		ids[id].len = payload_len(id);
		ids[id].pushed = 1;
	} else if (r < 75) {
		st = core_pop(q, 1, 0, &m);
		if (st != CQ_OK)
			return;
		if (r < 60 || nheld == CAP)
			ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
		else
			held[nheld++] = m;
	} else if (nheld > 0) {
		k = (size_t)(cu_rand(rs) % nheld);
		if (r < 88)
			ck_assert_int_eq(
			    core_return(q, held[k].slot, held[k].id), CQ_OK);
		else
			ck_assert_int_eq(
			    core_confirm(q, held[k].slot, held[k].id), CQ_OK);
		held[k] = held[--nheld];
	}
}

/* Record which ids d's image holds after a flush; phase 0 before A. */
static void
note_flush(const struct durable *d, int phase)
{
	size_t i;

	for (i = 0; i < MAXID; i++)
		ids[i].live_b = 0;
	for (i = 0; i < d->n; i++) {
		ck_assert_uint_lt(d->img[i].id, MAXID);
		ids[d->img[i].id].was_live = 1;
		ids[d->img[i].id].live_b = 1;
		if (phase == 1)
			ids[d->img[i].id].live_a = 1;
		if (phase >= 1)
			ids[d->img[i].id].seen_after = 1;
	}
	if (phase == 1)
		for (i = 0; i < MAXID; i++)
			ids[i].gone_a = ids[i].was_live && !ids[i].live_a;
}

/* Check one recovered state (see the top of the file). */
static void
check_state(const unsigned char *img, size_t len, uint64_t next_a)
{
	unsigned char buf[MAXSZ];
	struct dlog_state st;
	struct core_attr a = cu_attr(CAP, MAXSZ, BANDS);
	struct core_queue *rq;
	struct core_stat cs;
	struct core_live lv;
	char seg[128];
	size_t i, j, n = 0;

	ck_assert_int_eq(dlog_replay_mem(img, len, &st), 0);
	ck_assert_uint_le(st.n, CAP);
	ck_assert_uint_ge(st.next_id, next_a);
	for (i = 0; i < st.n; i++) {
		uint64_t id = st.msgs[i].id;

		ck_assert_uint_lt(id, MAXID);
		ck_assert_msg(ids[id].pushed, "id %llu never pushed",
		    (unsigned long long)id);
		ck_assert_msg(ids[id].live_a || ids[id].seen_after,
		    "id %llu was never live from the synced flush on",
		    (unsigned long long)id);
		ck_assert_msg(!ids[id].gone_a, "id %llu came back",
		    (unsigned long long)id);
		ck_assert_uint_eq(st.msgs[i].band, ids[id].band);
		ck_assert_uint_eq(st.msgs[i].len, ids[id].len);
		payload(id, buf);
		ck_assert(st.msgs[i].len == 0 ||
		          memcmp(st.msgs[i].data, buf, st.msgs[i].len) == 0);
		ck_assert_uint_gt(st.next_id, id);
		for (j = i + 1; j < st.n; j++)
			ck_assert_uint_ne(st.msgs[j].id, id);
	}
	for (i = 1; i < MAXID; i++) {
		if (!(ids[i].live_a && ids[i].live_b))
			continue;
		for (j = 0; j < st.n && st.msgs[j].id != i; j++)
			;
		ck_assert_msg(j < st.n, "id %zu (synced, never removed) lost",
		    i);
		n++;
	}
	/* A valid queue: it restores into a fresh segment and checks out. */
	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &rq), CQ_OK);
	for (i = 0; i < st.n; i++) {
		memset(&lv, 0, sizeof lv);
		lv.m.id = st.msgs[i].id;
		lv.m.band = st.msgs[i].band;
		lv.m.len = st.msgs[i].len;
		lv.m.data = st.msgs[i].data;
		lv.m.deliveries = st.msgs[i].deliveries;
		lv.due_ns = st.msgs[i].due_ns;
		ck_assert_int_eq(core_restore(rq, &lv), CQ_OK);
	}
	ck_assert_int_eq(core_set_next_id(rq, st.next_id), CQ_OK);
	ck_assert_int_eq(core_check(rq), CQ_OK);
	ck_assert_int_eq(core_stat(rq, &cs), CQ_OK);
	ck_assert_uint_eq(cs.length + cs.delayed, st.n);
	core_detach(rq);
	ck_assert_int_eq(core_unlink(seg), CQ_OK);
	dlog_state_free(&st);
	(void)n;
}

/* Build crash state k from images a and b into out; its length. */
static size_t
mix(const unsigned char *a, size_t la, const unsigned char *b, size_t lb,
    unsigned char *out, uint64_t *rs)
{
	size_t nb = (lb + BS - 1) / BS, i, off, end, cut, len = lb;
	uint64_t mode = cu_rand(rs) % 3, pre = cu_rand(rs) % (nb + 1);
	ssize_t torn = -1;

	for (i = 0; i < nb; i++) {
		int from_b = mode == 0 ? (int)(cu_rand(rs) & 1)
		             : mode == 1 ? i < pre
		                         : (int)(cu_rand(rs) % 4 != 0);

		off = i * BS;
		end = off + BS < lb ? off + BS : lb;
		memset(out + off, 0, end - off);
		if (from_b) {
			memcpy(out + off, b + off, end - off);
			if (torn < 0 && cu_rand(rs) % 8 == 0)
				torn = (ssize_t)i;
		} else if (off < la)
			memcpy(out + off, a + off, (la < end ? la : end) - off);
	}
	if (torn >= 0) {
		/* A torn block: its first cut bytes from B, the rest from A. */
		off = (size_t)torn * BS;
		end = off + BS < lb ? off + BS : lb;
		cut = (size_t)(cu_rand(rs) % (end - off));
		memset(out + off + cut, 0, end - off - cut);
		if (off + cut < la)
			memcpy(out + off + cut, a + off + cut,
			    (la < end ? la : end) - off - cut);
	}
	if (cu_rand(rs) % 4 == 0 && lb > la)
		len = la + (size_t)(cu_rand(rs) % (lb - la + 1));
	return len;
}

/* One round: a workload, images A and B, then states mixed from them. */
static void
round_run(uint64_t seed, long states)
{
	struct core_attr a = cu_attr(CAP, MAXSZ, BANDS);
	struct core_queue *q;
	struct durable d;
	char seg[128], path[256];
	unsigned char *ia, *ib, *out;
	size_t la, lb, len;
	uint64_t rs = seed * 2654435761u + 1, next_a;
	long i, s;

	memset(ids, 0, sizeof ids);
	nheld = 0;
	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
	memset(&d, 0, sizeof d);
	d.fd = -1;
	strcpy(d.attr.name, "q");
	d.attr.capacity = CAP;
	d.attr.max_size = MAXSZ;
	d.attr.bands = BANDS;
	d.attr.policy = CQ_DURABLE_ALWAYS;
	snprintf(d.file, sizeof d.file, "q.cqlog");
	snprintf(path, sizeof path, "%s/q.cqlog", tdir);
	ck_assert_int_eq(dflush_compact(&d, q), CQ_OK);
	/* Before A: flushes, some synced, a compaction now and then. */
	for (i = 0; i < 200; i++) {
		step(q, &rs);
		if (cu_rand(&rs) % 5 == 0) {
			ck_assert_int_eq(dflush_flush(&d, q, 1), CQ_OK);
			note_flush(&d, 0);
		}
		if (i == 120)
			ck_assert_int_eq(dflush_compact(&d, q), CQ_OK);
	}
	ck_assert_int_eq(dflush_flush(&d, q, 1), CQ_OK);
	note_flush(&d, 1);
	next_a = d.meta.next_id;
	ia = slurp(path, &la);
	/* After A: more flushes, none synced; then image B. */
	for (i = 0; i < 150; i++) {
		step(q, &rs);
		if (cu_rand(&rs) % 4 == 0) {
			ck_assert_int_eq(dflush_flush(&d, q, 0), CQ_OK);
			note_flush(&d, 2);
		}
	}
	ck_assert_int_eq(dflush_flush(&d, q, 0), CQ_OK);
	note_flush(&d, 2);
	ib = slurp(path, &lb);
	ck_assert_uint_ge(lb, la);
	ck_assert(memcmp(ia, ib, la) == 0); /* append only between A and B */
	out = malloc(lb + 1);
	ck_assert_ptr_nonnull(out);
	/* The two images themselves, then mixed states. */
	check_state(ia, la, next_a);
	check_state(ib, lb, next_a);
	for (s = 0; s < states; s++) {
		len = mix(ia, la, ib, lb, out, &rs);
		check_state(out, len, next_a);
	}
	free(out);
	free(ia);
	free(ib);
	free(d.img);
	close(d.fd);
	unlink(path);
	core_detach(q);
	ck_assert_int_eq(core_unlink(seg), CQ_OK);
}

START_TEST(crash_states)
{
	long rounds = cu_count_env("CQ_CRASH_ROUNDS", 6);
	long states = cu_count_env("CQ_CRASH_STATES", 50);
	long r;

	for (r = 0; r < rounds; r++)
		round_run((uint64_t)r + 1, states);
}
END_TEST

/* A record cut anywhere, or any byte of it flipped, is never applied. */
/*
 * The header keeps max_bytes; one written before it was appended (its
 * size field says so) reads as capacity * max_size, what that queue held.
 */
START_TEST(header_keeps_max_bytes)
{
	unsigned char img[DLOG_HDR_SIZE];
	struct dlog_attr at, got;
	uint32_t sz = DLOG_ATTR_SIZE_1, crc;

	memset(&at, 0, sizeof at);
	strcpy(at.name, "m");
	at.capacity = 100;
	at.max_size = 1000;
	at.bands = 1;
	at.max_bytes = 5000;
	dlog_header(&at, img);
	ck_assert_int_eq(dlog_header_parse(img, &got), 0);
	ck_assert_uint_eq(got.max_bytes, 5000);
	at.max_bytes = 0; /* the default */
	dlog_header(&at, img);
	ck_assert_int_eq(dlog_header_parse(img, &got), 0);
	ck_assert_uint_eq(got.max_bytes, 0);
	at.max_bytes = 999; /* below max_size: not a header we write */
	dlog_header(&at, img);
	ck_assert_int_eq(dlog_header_parse(img, &got), -1);

	/* The header of the fixed-slot layout's daemon. */
	at.max_bytes = 0;
	dlog_header(&at, img);
	memcpy(img + 12, &sz, 4);
	crc = crc32c(0, img, DLOG_HDR_SIZE - 4);
	memcpy(img + DLOG_HDR_SIZE - 4, &crc, 4);
	ck_assert_int_eq(dlog_header_parse(img, &got), 0);
	ck_assert_str_eq(got.name, "m");
	ck_assert_uint_eq(got.capacity, 100);
	ck_assert_uint_eq(got.max_bytes, 100000);
	/* Any other size is not a header. */
	sz = DLOG_ATTR_SIZE_1 + 4;
	memcpy(img + 12, &sz, 4);
	crc = crc32c(0, img, DLOG_HDR_SIZE - 4);
	memcpy(img + DLOG_HDR_SIZE - 4, &crc, 4);
	ck_assert_int_eq(dlog_header_parse(img, &got), -1);
}
END_TEST

START_TEST(torn_record_dropped)
{
	struct dlog_attr at;
	struct dlog_buf b;
	struct dlog_rec r;
	struct dlog_state st;
	unsigned char *img;
	size_t n, cut, i;

	memset(&at, 0, sizeof at);
	strcpy(at.name, "t");
	at.capacity = 4;
	at.max_size = 64;
	at.bands = 1;
	memset(&b, 0, sizeof b);
	memset(&r, 0, sizeof r);
	r.type = DLOG_PUT;
	r.id = 7;
	r.len = 20;
	ck_assert_int_eq(dlog_append(&b, &r, "twenty bytes of data"), 0);
	n = DLOG_HDR_SIZE + b.len;
	img = calloc(1, n);
	dlog_header(&at, img);
	memcpy(img + DLOG_HDR_SIZE, b.p, b.len);
	ck_assert_int_eq(dlog_replay_mem(img, n, &st), 0);
	ck_assert_uint_eq(st.n, 1);
	dlog_state_free(&st);
	for (cut = DLOG_HDR_SIZE; cut < n; cut++) {
		ck_assert_int_eq(dlog_replay_mem(img, cut, &st), 0);
		/* Whole (with its padding to 8: 80 bytes) or not at all. */
		ck_assert_uint_eq(st.n, cut >= DLOG_HDR_SIZE + 80 ? 1 : 0);
		dlog_state_free(&st);
	}
	/* Any flipped byte of the record or its data (the crc covers 76). */
	for (i = DLOG_HDR_SIZE; i < DLOG_HDR_SIZE + 76; i++) {
		img[i] ^= 0x10;
		ck_assert_int_eq(dlog_replay_mem(img, n, &st), 0);
		ck_assert_uint_eq(st.n, 0);
		dlog_state_free(&st);
		img[i] ^= 0x10;
	}
	/* A bad header: no state at all. */
	img[3] ^= 1;
	ck_assert_int_eq(dlog_replay_mem(img, n, &st), -1);
	free(img);
	dlog_buf_free(&b);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("durable_crash");
	TCase *tc = tcase_create("states");

	tcase_set_timeout(tc, 3600);
	tcase_add_test(tc, crash_states);
	tcase_add_test(tc, torn_record_dropped);
	tcase_add_test(tc, header_keeps_max_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int rc;

	if (mkdtemp(tdir) == NULL)
		return 99;
	durable_dirfd = open(tdir, O_RDONLY | O_DIRECTORY);
	if (durable_dirfd < 0)
		return 99;
	cu_init();
	rc = cu_run(suite, "check_durable_crash");
	close(durable_dirfd);
	rmdir(tdir);
	return rc;
}
