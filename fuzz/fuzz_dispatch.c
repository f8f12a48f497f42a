/* fuzz_dispatch.c - libFuzzer target: decoded requests through dispatch. */

/*
 * The input is a stream of records: one byte choosing the peer (bit 0: an
 * unprivileged uid or the daemon's own, an admin), a 2-byte big-endian
 * length, then that many bytes of a Request body. Each body that decodes
 * strictly goes to dispatch_request for that peer, as conn_in.c would
 * hand it over; every reply is packed like conn_out.c does. After the
 * input both peers leave and every queue is deleted, so inputs do not
 * depend on each other and leaks show up per input.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/daemon.h"
#include "proto/frame.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A connection as the fuzzer sees it. */
struct fzpeer {
	struct peer p; /* first: the callbacks cast back */
	int closed;
};

static struct event_base *fz_base;
static char fz_instance[64];

/* Pack the reply like conn_out.c does; it must be a valid Reply. */
static void
fz_send(struct peer *p, const Conqueue__Reply *r)
{
	size_t len = conqueue__reply__get_packed_size(r);
	uint8_t *buf = malloc(len + 1);

	(void)p;
	if (buf == NULL)
		abort();
	if (conqueue__reply__pack(r, buf) != len)
		__builtin_trap();
	if (r->status > CQ_SYSTEM + 64)
		__builtin_trap(); /* a status no client knows */
	free(buf);
}

/* dispatch asks to close the connection: stop feeding it. */
static void
fz_close(struct peer *p, const char *why)
{
	(void)why;
	((struct fzpeer *)(void *)p)->closed = 1;
}

static const struct peer_ops fz_ops = {fz_send, fz_close, NULL};

/* Remove this process's segments at exit. */
static void
fz_cleanup(void)
{
	char cmd[160];

	registry_close();
	snprintf(cmd, sizeof cmd, "rm -rf /dev/shm/conqueue-%s", fz_instance);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_dispatch: %s failed\n", cmd);
}

/* Small limits keep each input cheap; the checks are the same. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *cause = NULL;

	(void)argc;
	(void)argv;
	config_defaults(&cfg);
	cfg.max_capacity = 64;
	cfg.max_message = 4096;
	cfg.max_queues = 8;
	cfg.max_queues_per_uid = 4;
	cfg.max_storage_per_uid = 1u << 20;
	cfg.max_pending_per_conn = 16;
	cfg.max_batch = 16;
	log_open(LOG_LEVEL_ERROR + 100, 0);
	log_set_level(-1);
	snprintf(fz_instance, sizeof fz_instance, "fuzzd%ld", (long)getpid());
	if ((fz_base = event_base_new()) == NULL)
		abort();
	waiters_init(fz_base, dispatch_waiter_expired);
	if (registry_open(fz_instance, &cause) != 0) {
		fprintf(stderr, "fuzz_dispatch: %s\n", cause ? cause : "?");
		abort();
	}
	atexit(fz_cleanup);
	return 0;
}

/* Set up a greeted peer: most of the surface is behind the hello. */
static void
fz_peer_init(struct fzpeer *f, uint64_t cid, uint32_t uid)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Hello h = CONQUEUE__HELLO__INIT;

	memset(f, 0, sizeof *f);
	f->p.ops = &fz_ops;
	f->p.cid = cid;
	f->p.uid = uid;
	f->p.gid = uid;
	dispatch_peer_init(&f->p);
	h.protocol_version = CQ_PROTOCOL_VERSION;
	r.id = 1u << 30;
	r.op_case = CONQUEUE__REQUEST__OP_HELLO;
	r.hello = &h;
	dispatch_request(&f->p, &r);
}

/* Feed the records of one input to two peers, then forget everything. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t cid = 1;
	struct fzpeer peers[2];
	struct rqueue *q;
	const char *why;

	fz_peer_init(&peers[0], cid++, 54321);
	fz_peer_init(&peers[1], cid++, (uint32_t)geteuid());
	while (size >= 3) {
		struct fzpeer *f = &peers[data[0] & 1];
		size_t len = (size_t)data[1] << 8 | data[2];
		Conqueue__Request *rq;

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		why = NULL;
		rq = frame_decode_request(data, len, &why);
		data += len;
		size -= len;
		if (rq == NULL) {
			if (why == NULL)
				__builtin_trap();
			continue;
		}
		if (!f->closed)
			dispatch_request(&f->p, rq);
		conqueue__request__free_unpacked(rq, NULL);
		/* Let zero-length timers (try deadlines, leases) fire. */
		event_base_loop(fz_base, EVLOOP_NONBLOCK);
	}
	dispatch_peer_gone(&peers[0].p);
	dispatch_peer_gone(&peers[1].p);
	dispatch_free_all();
	while ((q = TAILQ_FIRST(&registry_queues)) != NULL)
		registry_delete(q);
	return 0;
}
