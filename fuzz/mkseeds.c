/* mkseeds.c - write a seed corpus of valid frames for fuzz_frame. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "proto/frame.h"

/* Write one framed request to dir/name. */
static void
mkseeds_write(const char *dir, const char *name, const Conqueue__Request *r)
{
	size_t len = conqueue__request__get_packed_size(r);
	uint8_t *buf = malloc(len + FRAME_HDR_LEN);
	char path[512];
	FILE *f;

	if (buf == NULL)
		exit(1);
	frame_put_len(buf, (uint32_t)len);
	conqueue__request__pack(r, buf + FRAME_HDR_LEN);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		exit(1);
	}
	fwrite(buf, 1, len + FRAME_HDR_LEN, f);
	fclose(f);
	free(buf);
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
	ProtobufCBinaryData name = { 4, (uint8_t *)(uintptr_t)"jobs" };
	ProtobufCBinaryData data[2] = { { 5, (uint8_t *)(uintptr_t)"hello" },
		{ 3, (uint8_t *)(uintptr_t)"abc" } };
	uint64_t confirm[2] = { 7, 9 };
	const char *dir = argc > 1 ? argv[1] : ".";

	r.id = 1;
	hello.protocol_version = CQ_PROTOCOL_VERSION;
	hello.client_name = (char *)(uintptr_t)"seed";
	r.op_case = CONQUEUE__REQUEST__OP_HELLO;
	r.hello = &hello;
	mkseeds_write(dir, "hello", &r);

	r.id = 2;
	attr.has_capacity = 1;
	attr.capacity = 16;
	attr.has_mode = 1;
	attr.mode = 0640;
	create.name = name;
	create.attr = &attr;
	r.op_case = CONQUEUE__REQUEST__OP_CREATE;
	r.create = &create;
	mkseeds_write(dir, "create", &r);

	r.id = 3;
	push.name = name;
	push.n_data = 2;
	push.data = data;
	push.has_timeout_ms = 1;
	push.timeout_ms = 0;
	r.op_case = CONQUEUE__REQUEST__OP_PUSH;
	r.push = &push;
	mkseeds_write(dir, "push", &r);

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
	mkseeds_write(dir, "pop", &r);

	r.id = 5;
	r.n_confirm = 0;
	named.kind = CONQUEUE__NAMED__KIND__CLOSE;
	named.name = name;
	r.op_case = CONQUEUE__REQUEST__OP_NAMED;
	r.named = &named;
	mkseeds_write(dir, "close", &r);

	r.id = 6;
	cancel.target = 4;
	r.op_case = CONQUEUE__REQUEST__OP_CANCEL;
	r.cancel = &cancel;
	mkseeds_write(dir, "cancel", &r);
	return 0;
}
