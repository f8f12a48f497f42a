/* mkseeds.c - write the seed corpora of the fuzz targets. */

/*
 * Usage: mkseeds FRAME_DIR [DISPATCH_DIR [REPLY_DIR]]. FRAME_DIR gets one
 * framed request per file; DISPATCH_DIR gets fuzz_dispatch records (peer
 * byte, 2-byte length, body): each request alone, and whole sessions in
 * which the unprivileged peer (0) and the admin (1) share queues;
 * REPLY_DIR gets framed replies for fuzz_reply.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "proto/frame.h"

/* A session being built for fuzz_dispatch. */
static uint8_t mkseeds_sess[8192];
static size_t mkseeds_sesslen;

/* Write len bytes of buf to dir/name. */
static void
mkseeds_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		exit(1);
	}
	if (fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Append r as a fuzz_dispatch record for peer to the session. */
static void
mkseeds_record(int peer, const Conqueue__Request *r)
{
	size_t len = conqueue__request__get_packed_size(r);
	uint8_t *p = mkseeds_sess + mkseeds_sesslen;

	if (len > 0xffff || mkseeds_sesslen + 3 + len > sizeof mkseeds_sess)
		exit(1);
	p[0] = (uint8_t)peer;
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)len;
	conqueue__request__pack(r, p + 3);
	mkseeds_sesslen += 3 + len;
}

/*
 * Write one framed request to dir/name, and (with ddir) the same request
 * as a one-record dispatch seed; it is also appended to the session.
 */
static void
mkseeds_write(const char *dir, const char *ddir, const char *name,
    const Conqueue__Request *r)
{
	size_t len = conqueue__request__get_packed_size(r);
	uint8_t *buf = malloc(len + FRAME_HDR_LEN);
	size_t start = mkseeds_sesslen;

	if (buf == NULL)
		exit(1);
	frame_put_len(buf, (uint32_t)len);
	conqueue__request__pack(r, buf + FRAME_HDR_LEN);
	mkseeds_file(dir, name, buf, len + FRAME_HDR_LEN);
	free(buf);
	mkseeds_record(0, r);
	if (ddir != NULL)
		mkseeds_file(
		    ddir, name, mkseeds_sess + start, mkseeds_sesslen - start);
}

/* Write one framed reply to dir/name. */
static void
mkseeds_reply(const char *dir, const char *name, const Conqueue__Reply *r)
{
	size_t len = conqueue__reply__get_packed_size(r);
	uint8_t *buf = malloc(len + FRAME_HDR_LEN);

	if (buf == NULL)
		exit(1);
	frame_put_len(buf, (uint32_t)len);
	conqueue__reply__pack(r, buf + FRAME_HDR_LEN);
	mkseeds_file(dir, name, buf, len + FRAME_HDR_LEN);
	free(buf);
}

/* The replies a client reads: push, pop (one and many), errors, a stat. */
static void
mkseeds_replies(const char *dir)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__Msg m[3], *mp[3] = {&m[0], &m[1], &m[2]};
	Conqueue__QueueStat st = CONQUEUE__QUEUE_STAT__INIT;
	size_t i;

	r.id = 3;
	r.has_first_id = 1;
	r.first_id = 1u << 20;
	mkseeds_reply(dir, "push", &r);
	r.has_first_id = 0;
	for (i = 0; i < 3; i++) {
		conqueue__msg__init(&m[i]);
		m[i].id = 1000 + i * 300;
		m[i].data.len = 5 - 2 * i;
		m[i].data.data = (uint8_t *)(uintptr_t) "hello";
	}
	m[1].has_band = m[1].has_deliveries = m[1].has_enqueued_ns = 1;
	m[1].band = 2;
	m[1].deliveries = 3;
	m[1].enqueued_ns = 1764800000000000000ull;
	r.id = 4;
	r.n_msgs = 1;
	r.msgs = &mp[1];
	mkseeds_reply(dir, "pop", &r);
	r.n_msgs = 3;
	r.msgs = mp;
	mkseeds_reply(dir, "pop-many", &r);
	r.n_msgs = 0;
	r.msgs = NULL;
	r.id = 5;
	r.status = CQ_SYSTEM;
	r.detail = (char *)(uintptr_t) "out of space";
	r.has_sys_errno = 1;
	r.sys_errno = 28;
	mkseeds_reply(dir, "error", &r);
	r.id = 0;
	r.status = CQ_PROTOCOL;
	r.has_sys_errno = 0;
	r.detail = (char *)(uintptr_t) "malformed frame";
	mkseeds_reply(dir, "conn-error", &r);
	r.id = 6;
	r.status = CQ_OK;
	r.detail = NULL;
	st.name.len = 4;
	st.name.data = (uint8_t *)(uintptr_t) "jobs";
	st.has_length = 1;
	st.length = 7;
	r.stat = &st;
	mkseeds_reply(dir, "stat", &r);
}

/*
 * A pop reply with its varints as long as protobuf-c still reads them (5
 * bytes for lengths, 10 for values): one byte more and it must be refused.
 */
static void
mkseeds_reply_padded(const char *dir)
{
	static const uint8_t b[] = {0, 0, 0, 32, /* frame header */
	    0x08, 0x87, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
	    0x10, 0x80, 0x00,                   /* status 0, 2 bytes */
	    0x2a, 0x8a, 0x80, 0x80, 0x80, 0x00, /* Msg, 10 bytes */
	    0x08, 0x81, 0x80, 0x00,             /* id 1 */
	    0x12, 0x82, 0x80, 0x00, 'h', 'i',   /* data "hi" */
	    0x60, 0x09};                        /* first_id 9 */

	mkseeds_file(dir, "pop-padded", b, sizeof b);
}

int
main(int argc, char **argv)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Hello hello = CONQUEUE__HELLO__INIT;
	Conqueue__Create create = CONQUEUE__CREATE__INIT;
	Conqueue__QueueAttr attr = CONQUEUE__QUEUE_ATTR__INIT;
	Conqueue__Push push = CONQUEUE__PUSH__INIT;
	Conqueue__Pop pop = CONQUEUE__POP__INIT;
	Conqueue__Named named = CONQUEUE__NAMED__INIT;
	Conqueue__Cancel cancel = CONQUEUE__CANCEL__INIT;
	ProtobufCBinaryData name = {4, (uint8_t *)(uintptr_t) "jobs"};
	ProtobufCBinaryData data[2] = {{5, (uint8_t *)(uintptr_t) "hello"},
	    {3, (uint8_t *)(uintptr_t) "abc"}};
	ProtobufCBinaryData pdata[3] = {{5, (uint8_t *)(uintptr_t) "hello"},
	    {0, NULL}, {3, (uint8_t *)(uintptr_t) "abc"}};
	uint64_t confirm[2] = {7, 9}, receipts[3] = {7, 1u << 20, 9};
	Conqueue__MsgOp msgop = CONQUEUE__MSG_OP__INIT;
	Conqueue__Chmod chmod = CONQUEUE__CHMOD__INIT;
	Conqueue__ListQueues list = CONQUEUE__LIST_QUEUES__INIT;
	Conqueue__Info info = CONQUEUE__INFO__INIT;
	const char *dir = argc > 1 ? argv[1] : ".";
	const char *ddir = argc > 2 ? argv[2] : NULL;

	if (argc > 3) {
		mkseeds_replies(argv[3]);
		mkseeds_reply_padded(argv[3]);
	}

	r.id = 1;
	hello.protocol_version = CQ_PROTOCOL_VERSION;
	hello.client_name = (char *)(uintptr_t) "seed";
	r.op_case = CONQUEUE__REQUEST__OP_HELLO;
	r.hello = &hello;
	mkseeds_write(dir, ddir, "hello", &r);
	mkseeds_sesslen = 0; /* fuzz_dispatch peers are already greeted */

	r.id = 2;
	attr.has_capacity = 1;
	attr.capacity = 16;
	attr.has_mode = 1;
	attr.mode = 0640;
	create.name = name;
	create.attr = &attr;
	r.op_case = CONQUEUE__REQUEST__OP_CREATE;
	r.create = &create;
	mkseeds_write(dir, ddir, "create", &r);

	r.id = 3;
	push.name = name;
	push.n_data = 2;
	push.data = data;
	push.has_timeout_ms = 1;
	push.timeout_ms = 0;
	r.op_case = CONQUEUE__REQUEST__OP_PUSH;
	r.push = &push;
	mkseeds_write(dir, ddir, "push", &r);

	r.id = 4;
	pop.name = name;
	pop.has_max = 1;
	pop.max = 2;
	pop.has_timeout_ms = 1;
	pop.timeout_ms = -1;
	r.n_confirm = 2;
	r.confirm = confirm;
	r.op_case = CONQUEUE__REQUEST__OP_POP;
	r.pop = &pop;
	mkseeds_write(dir, ddir, "pop", &r);

	r.id = 5;
	r.n_confirm = 0;
	named.kind = CONQUEUE__NAMED__KIND__CLOSE;
	named.name = name;
	r.op_case = CONQUEUE__REQUEST__OP_NAMED;
	r.named = &named;
	mkseeds_write(dir, ddir, "close", &r);

	r.id = 6;
	cancel.target = 4;
	r.op_case = CONQUEUE__REQUEST__OP_CANCEL;
	r.cancel = &cancel;
	mkseeds_write(dir, ddir, "cancel", &r);

	/* The hot frames as the client writes them (wire_request_fast). */
	r.id = 0;
	r.n_confirm = 2;
	r.confirm = receipts;
	r.n_reject = 1;
	r.reject = &receipts[2];
	r.op_case = CONQUEUE__REQUEST__OP__NOT_SET;
	mkseeds_write(dir, ddir, "receipts", &r);
	r.id = 300; /* two-byte varint */
	r.n_reject = 0;
	push.n_data = 3;
	push.data = pdata;
	push.has_band = push.has_front = push.front = 1;
	push.band = 2;
	push.timeout_ms = -1;
	r.op_case = CONQUEUE__REQUEST__OP_PUSH;
	r.push = &push;
	mkseeds_write(dir, ddir, "push-all", &r);
	r.id = 301;
	pop.has_max = 0;
	pop.has_reserve = pop.reserve = 1;
	pop.has_lease_ms = 1;
	pop.lease_ms = 5000;
	pop.has_detach = 1;
	pop.detach = 0;
	r.op_case = CONQUEUE__REQUEST__OP_POP;
	r.pop = &pop;
	mkseeds_write(dir, ddir, "pop-reserve", &r);
	pop.has_reserve = pop.reserve = pop.has_lease_ms = pop.has_detach = 0;
	r.n_confirm = 0;
	r.confirm = NULL;
	if (ddir == NULL)
		return 0;

	/* A session: the admin reserves, acks, chmods, lists, deletes. */
	r.id = 7;
	pop.has_reserve = pop.reserve = 1;
	pop.has_timeout_ms = 1;
	pop.timeout_ms = 0;
	pop.has_max = 0;
	r.op_case = CONQUEUE__REQUEST__OP_POP;
	r.pop = &pop;
	mkseeds_record(1, &r);
	r.id = 8;
	msgop.kind = CONQUEUE__MSG_OP__KIND__ACK;
	msgop.name = name;
	msgop.msg_id = 1;
	r.op_case = CONQUEUE__REQUEST__OP_MSG_OP;
	r.msg_op = &msgop;
	mkseeds_record(1, &r);
	r.id = 9;
	chmod.name = name;
	chmod.mode = 0666;
	r.op_case = CONQUEUE__REQUEST__OP_CHMOD;
	r.chmod = &chmod;
	mkseeds_record(1, &r);
	r.id = 10;
	r.op_case = CONQUEUE__REQUEST__OP_LIST;
	r.list = &list;
	mkseeds_record(0, &r);
	r.id = 11;
	r.op_case = CONQUEUE__REQUEST__OP_INFO;
	r.info = &info;
	mkseeds_record(1, &r);
	r.id = 12;
	named.kind = CONQUEUE__NAMED__KIND__DELETE;
	r.op_case = CONQUEUE__REQUEST__OP_NAMED;
	r.named = &named;
	mkseeds_record(1, &r);
	mkseeds_file(ddir, "session", mkseeds_sess, mkseeds_sesslen);
	return 0;
}
