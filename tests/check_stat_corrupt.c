/* check_stat_corrupt.c - damage a direct client did, seen in stat (issue 20).
 */

/*
 * A flipped payload byte and a truncated segment, made by a client holding
 * the segment fd the direct path hands out: the daemon drops exactly the
 * bad message and counts it (corrupt_dropped), or quarantines the queue
 * (quarantined), and cq_stat, cq_stat_by_name and conqueue-cli show both;
 * a binary built with the 0.1 header gets no more than its struct.
 */

#include <check.h>
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

#define SC_NMSG 20

/* Flip one payload byte of the message at position pos of band 0. */
static void
sc_flip_payload(struct mapper_seg *m, int pos)
{
	struct queue_hdr *h = (struct queue_hdr *)(void *)m->base;
	struct queue_slot *sl;
	uint32_t *ring, s;

	ring = (uint32_t *)(void *)(m->base + h->imm.ring_off);
	s = ring[(h->head[0] + (uint64_t)pos) % h->imm.capacity];
	ck_assert_uint_lt(s, h->imm.capacity);
	sl = layout_record(m->base, s);
	ck_assert_uint_gt(sl->len, 2);
	sl->data[2] ^= 0x20; /* "msg-5" -> "mSg-5": one bit */
}

/*
 * A flipped payload byte under a live daemon: the pop skips exactly that
 * message, and stat shows it in corrupt_dropped, through the library
 * (new fields only for callers built with them) and conqueue-cli.
 */
START_TEST(test_flipped_payload_shows_in_stat)
{
	struct tu_daemon d;
	struct mapper_seg m;
	cq_queue_stat st, old[2];
	cq_client *c;
	cq_queue *q;
	cq_msg *msg;
	char out[8192], t[32];
	int fd, i = 0;
	cq_status s;
	size_t k;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_create(fd, "flip", 4, 0600, 32, 64), CQ_OK);
	mapper_fill(fd, "flip", SC_NMSG);
	mapper_map(fd, "flip", &m);
	sc_flip_payload(&m, 5);
	mapper_unmap(&m);

	c = mapper_connect(&d, CQ_CONNECT_NO_DIRECT, "flip", &q);
	while ((s = cq_try_pop(q, &msg)) == CQ_OK) {
		if (i == 5)
			i++;
		snprintf(t, sizeof t, "msg-%d", i++);
		ck_assert_uint_eq(cq_msg_len(msg), strlen(t));
		ck_assert(memcmp(cq_msg_data(msg), t, strlen(t)) == 0);
		cq_msg_free(msg);
	}
	ck_assert_int_eq(s, CQ_EMPTY);
	ck_assert_int_eq(i, SC_NMSG);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.corrupt_dropped, 1);
	ck_assert_int_eq(st.quarantined, 0);
	ck_assert_uint_eq(st.total_pushed, SC_NMSG);
	ck_assert_uint_eq(st.total_popped, SC_NMSG);
	ck_assert_uint_eq(st.length, 0);
	/* A 0.1 binary's call writes nothing past its struct. */
	memset(old, 0xa5, sizeof old);
	ck_assert_int_eq((cq_stat)(q, &old[0]), CQ_OK);
	ck_assert_uint_eq(old[0].total_pushed, SC_NMSG);
	for (k = CQ_QUEUE_STAT_SIZE_0_1; k < sizeof old; k++)
		ck_assert_uint_eq(((unsigned char *)old)[k], 0xa5);
	ck_assert_int_eq(
	    cq_stat_size(q, &st, CQ_QUEUE_STAT_SIZE_0_1 - 1), CQ_INVALID);
	ck_assert_int_eq(cq_stat_by_name(c, "flip", &st, sizeof st), CQ_OK);
	ck_assert_uint_eq(st.corrupt_dropped, 1);
	cq_queue_free(q);
	cq_disconnect(c);

	mapper_cli(&d, "stat flip", out, sizeof out);
	ck_assert_ptr_nonnull(strstr(out, "\ncorrupt_dropped: 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nquarantined: false\n"));
	mapper_cli(&d, "--json stat flip", out, sizeof out);
	ck_assert_ptr_nonnull(strstr(out, "\"corrupt_dropped\": 1,"));
	ck_assert_ptr_nonnull(strstr(out, "\"quarantined\": false,\n"));
	mapper_cli(&d, "list -l", out, sizeof out);
	ck_assert_ptr_nonnull(strstr(out, " corrupt_dropped=1\n"));
	ck_assert_ptr_null(strstr(out, "quarantined"));
	close(fd);
	tu_daemon_cleanup(&d);
}
END_TEST

/*
 * A segment truncated under the daemon: that queue answers CQ_CORRUPT,
 * stat (by name, as the CLI does, or on an open handle) shows it
 * quarantined, and a neighbour is served with its data.
 */
START_TEST(test_truncated_queue_shows_quarantined)
{
	struct tu_daemon d;
	struct mapper_seg m;
	cq_queue_stat st;
	cq_client *c;
	cq_queue *q, *g;
	cq_msg *msg;
	char out[8192];
	int fd;

	ck_assert_int_eq(tu_daemon_start(&d, NULL), 0);
	fd = rc_connect(d.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_create(fd, "cut", 3, 0600, 8, 64), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "good", 4, 0600, 8, 64), CQ_OK);
	mapper_fill(fd, "cut", 3);
	mapper_fill(fd, "good", 1);
	mapper_map(fd, "cut", &m);
	ck_assert_int_eq(ftruncate(m.seg, 0), 0);

	c = mapper_connect(&d, CQ_CONNECT_NO_DIRECT, "cut", &q);
	ck_assert_int_eq(cq_try_pop(q, &msg), CQ_CORRUPT);
	ck_assert_int_eq(cq_try_push(q, "x", 1), CQ_CORRUPT);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_int_eq(st.quarantined, 1);
	ck_assert_str_eq(st.name, "cut");
	ck_assert_uint_eq(st.uid, getuid());
	memset(&st, 0, sizeof st);
	ck_assert_int_eq(cq_stat_by_name(c, "cut", &st, sizeof st), CQ_OK);
	ck_assert_int_eq(st.quarantined, 1);
	ck_assert_int_eq(cq_open(c, "good", &g), CQ_OK);
	ck_assert_int_eq(cq_try_pop(g, &msg), CQ_OK);
	ck_assert_uint_eq(cq_msg_len(msg), 5);
	ck_assert(memcmp(cq_msg_data(msg), "msg-0", 5) == 0);
	cq_msg_free(msg);
	cq_queue_free(g);
	cq_queue_free(q);
	cq_disconnect(c);

	mapper_cli(&d, "stat cut", out, sizeof out);
	ck_assert_ptr_nonnull(strstr(out, "\nquarantined: true\n"));
	mapper_cli(&d, "--json stat cut", out, sizeof out);
	ck_assert_ptr_nonnull(strstr(out, "\"quarantined\": true,\n"));
	mapper_cli(&d, "list -l", out, sizeof out);
	ck_assert_ptr_nonnull(strstr(out, " quarantined\n"));
	mapper_daemon_alive(&d);
	mapper_unmap(&m);
	close(fd);
	tu_daemon_cleanup(&d);
}
END_TEST

/* The suite. */
static Suite *
stat_corrupt_suite(void)
{
	Suite *s = suite_create("stat_corrupt");
	TCase *tc = tcase_create("stat");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_flipped_payload_shows_in_stat);
	tcase_add_test(tc, test_truncated_queue_shows_quarantined);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return tu_run(stat_corrupt_suite(), "statcorrupt");
}
