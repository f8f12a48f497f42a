/* bench_direct_core.c - direct push+pop throughput and cost (not a test). */

/*
 * bench_direct_core pipe [N]   1 producer + 1 consumer process, 64-byte
 *                              messages, queue of 1024, blocking calls:
 *                              prints msg/s
 * bench_direct_core pairs [N]  one process, N try push + try pop pairs:
 *                              run under callgrind with
 *                              --toggle-collect=bench_pair and divide Ir
 *                              by N for instructions per pair
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "core/direct.h"
#include "tests/core_util.h"

#define MSG 64

static char seg[128];

/* A client's handle: the segment through an fd, as the library maps it. */
static struct core_queue *
bench_attach(void)
{
	struct core_queue *c;
	int fd = shm_open(seg, O_RDWR, 0);

	if (fd < 0 || core_attach_fd(fd, (uint32_t)geteuid(), &c) != CQ_OK)
		_exit(2);
	core_set_lock_timeout(c, 1000);
	return c;
}

/* One try push and one try pop of a 64-byte message. */
__attribute__((noinline)) static int
bench_pair(struct core_queue *q, const char *msg, char *buf)
{
	struct direct_msg m;

	if (direct_push(q, msg, MSG, 0, 0, 0, NULL, NULL) != CQ_OK)
		return -1;
	return direct_pop(q, buf, MSG, &m, 0, NULL) == CQ_OK ? 0 : -1;
}

/* Producer or consumer of n messages; exit 0 when all went through. */
static void
bench_side(int producer, long n)
{
	struct core_queue *c = bench_attach();
	char msg[MSG], buf[MSG];
	struct direct_msg m;
	long i;

	memset(msg, 'm', sizeof msg);
	for (i = 0; i < n; i++) {
		if (producer) {
			memcpy(msg, &i, sizeof i);
			if (direct_push(c, msg, MSG, 0, 0, -1, NULL, NULL) !=
			    CQ_OK)
				_exit(3);
		} else {
			if (direct_pop(c, buf, MSG, &m, -1, NULL) != CQ_OK ||
			    memcmp(buf, &i, sizeof i) != 0)
				_exit(4);
		}
	}
	_exit(0);
}

/* Run the benchmark named by argv[1]. */
int
main(int argc, char **argv)
{
	struct core_attr a;
	struct core_queue *q;
	char msg[MSG], buf[MSG];
	long n, i;
	uint64_t t0, t1;
	pid_t p, c;
	int ws, ok = 1;

	if (argc < 2 ||
	    (strcmp(argv[1], "pipe") != 0 && strcmp(argv[1], "pairs") != 0)) {
		fprintf(stderr, "usage: bench_direct_core pipe|pairs [N]\n");
		return 2;
	}
	n = argc > 2 ? atol(argv[2]) : 1000000;
	if (getenv("SPIN") != NULL)
		direct_spin = atoi(getenv("SPIN"));
	cu_init();
	cu_segname(seg, sizeof seg);
	a = cu_attr(1024, MSG, 1);
	if (core_create(seg, &a, &q) != CQ_OK)
		return 1;
	core_set_lock_timeout(q, 1000);
	if (strcmp(argv[1], "pairs") == 0) {
		memset(msg, 'm', sizeof msg);
		for (i = 0; i < n && ok; i++)
			ok = bench_pair(q, msg, buf) == 0;
		printf("%ld pairs %s\n", n, ok ? "ok" : "FAILED");
	} else {
		t0 = time_mono_ns();
		if ((c = fork()) == 0)
			bench_side(0, n);
		if ((p = fork()) == 0)
			bench_side(1, n);
		waitpid(p, &ws, 0);
		ok = WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
		waitpid(c, &ws, 0);
		ok = ok && WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
		t1 = time_mono_ns();
		printf("%ld msgs in %.3f s: %.0f msg/s %s\n", n,
		    (double)(t1 - t0) / 1e9,
		    (double)n * 1e9 / (double)(t1 - t0), ok ? "ok" : "FAILED");
	}
	core_detach(q);
	cu_cleanup();
	return ok ? 0 : 1;
}
