/* memory.c - what queues cost in memory (issue 17): the scale mode's part. */

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "bench/bench.h"

#define MEM_QUEUES 1000
#define MEM_MSGS   1000

/*
 * Bytes the daemon's segment files hold in /dev/shm (st_blocks: what tmpfs
 * allocated, i.e. resident shared memory; holes cost nothing), or -1.
 */
static long long
mem_resident(const struct bdaemon *d)
{
	char path[300];
	struct dirent *de;
	struct stat sb;
	long long sum = 0;
	DIR *dp;

	snprintf(path, sizeof path, "/dev/shm/conqueue-%s", d->instance);
	if ((dp = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(dp)) != NULL) {
		if (fstatat(dirfd(dp), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) ==
		        0 &&
		    S_ISREG(sb.st_mode))
			sum += (long long)sb.st_blocks * 512;
	}
	closedir(dp);
	return sum;
}

/*
 * Create a queue with the defaults (a zeroed cq_queue_attr, no max_bytes:
 * the 512 KiB default bound is what a queue costs by default).
 */
static cq_status
mem_create(cq_client *cl, const char *name)
{
	cq_queue_attr attr;

	memset(&attr, 0, sizeof attr);
	attr.mode = 0600;
	return cq_create(cl, name, &attr);
}

/* Print a size target line (KiB). */
static void
mem_target(const char *what, long long bytes, long long want)
{
	printf("target  %-44s %8.0f KiB (want <= %lld KiB)  %s\n", what,
	    bytes < 0 ? (double)NAN : (double)bytes / 1024, want / 1024,
	    bytes < 0 ? "NOT MEASURED" : bytes <= want ? "MET" : "MISSED");
}

/*
 * Wait (bounded: 10 s, polling every 10 ms) until the segments hold at
 * most want bytes; the bytes they hold then.
 */
static long long
mem_wait_below(const struct bdaemon *d, long long want, double *waited_s)
{
	uint64_t t0 = bench_now(), end = t0 + 10000000000u;
	long long r;

	while ((r = mem_resident(d)) > want && bench_now() < end)
		usleep(10000);
	*waited_s = (double)(bench_now() - t0) / 1e9;
	return r;
}

/*
 * An empty default queue; 1,000 default queues; a default queue holding
 * 1,000 messages of 64 B; a burst to a full default queue, then drained:
 * does the memory come back. The figures are resident bytes of the
 * segment files, and the daemon's VmRSS beside them.
 */
int
memory_run(const struct bench_cfg *cfg, const struct bdaemon *d, cq_client *cl)
{
	static char names[MEM_QUEUES][32];
	uint8_t buf[64], big[4096];
	long long r0, r1, peak, after;
	long rss0, rss1;
	cq_status st = CQ_OK;
	cq_queue *q = NULL;
	cq_msg *m;
	double waited;
	int i, n = 0, failed = 0;
	uint64_t pushed = 0;

	(void)cfg;
	printf("\nmemory: resident bytes of the segment files "
	       "(/dev/shm/conqueue-%s, st_blocks), queues with the default "
	       "attributes\n",
	    d->instance);
	r0 = mem_resident(d);
	if (r0 < 0) {
		printf("memory  cannot read /dev/shm/conqueue-%s: FAILED\n",
		    d->instance);
		return 1;
	}

	/* One empty queue. */
	if ((st = mem_create(cl, "mem.empty")) != CQ_OK) {
		printf("memory  create mem.empty: %s (%s): FAILED\n",
		    cq_strstatus(st), cq_client_error(cl));
		return 1;
	}
	r1 = mem_resident(d);
	mem_target("memory empty default queue", r1 - r0, 64 * 1024);
	cq_delete(cl, "mem.empty");

	/* 1,000 of them. */
	r0 = mem_resident(d);
	rss0 = bdaemon_status_kb(d->pid, "VmRSS");
	for (n = 0; n < MEM_QUEUES; n++) {
		snprintf(names[n], sizeof names[n], "mem.q.%d", n);
		if ((st = mem_create(cl, names[n])) != CQ_OK)
			break;
	}
	r1 = mem_resident(d);
	rss1 = bdaemon_status_kb(d->pid, "VmRSS");
	printf("memory  %d of %d default queues created%s%s%s; daemon VmRSS "
	       "+%ld kB\n",
	    n, MEM_QUEUES, n < MEM_QUEUES ? " (then " : "",
	    n < MEM_QUEUES ? cq_strstatus(st) : "",
	    n < MEM_QUEUES ? ")" : "", rss1 - rss0);
	if (n < MEM_QUEUES) {
		printf("target  memory 1000 default queues under the default "
		       "quota: %d created  MISSED\n",
		    n);
	}
	mem_target("memory 1000 default queues, in all",
	    n == MEM_QUEUES ? r1 - r0 : -1, 128 * 1024 * 1024);
	for (i = 0; i < n; i++)
		cq_delete(cl, names[i]);

	/* 1,000 messages of 64 B. */
	r0 = mem_resident(d);
	bench_fill(buf, sizeof buf, 0, 0);
	if ((st = mem_create(cl, "mem.held")) != CQ_OK ||
	    (st = cq_open(cl, "mem.held", &q)) != CQ_OK)
		goto fail;
	for (i = 0; i < MEM_MSGS; i++)
		if ((st = cq_push(q, buf, sizeof buf, 10000)) != CQ_OK)
			goto fail;
	r1 = mem_resident(d);
	mem_target("memory default queue holding 1000 x 64 B", r1 - r0,
	    256 * 1024);
	cq_queue_free(q);
	q = NULL;
	cq_delete(cl, "mem.held");

	/* A burst of 4 KiB messages until the queue is full, then drained. */
	r0 = mem_resident(d);
	bench_fill(big, sizeof big, 0, 0);
	if ((st = mem_create(cl, "mem.burst")) != CQ_OK ||
	    (st = cq_open(cl, "mem.burst", &q)) != CQ_OK)
		goto fail;
	while ((st = cq_try_push(q, big, sizeof big)) == CQ_OK)
		pushed++;
	if (st != CQ_FULL)
		goto fail;
	peak = mem_resident(d) - r0;
	while ((st = cq_try_pop(q, &m)) == CQ_OK)
		cq_msg_free(m);
	if (st != CQ_EMPTY)
		goto fail;
	after = mem_wait_below(d, r0 + 64 * 1024, &waited) - r0;
	printf("memory  burst of %llu x 4 KiB to full: %.0f KiB resident; "
	       "drained: %.0f KiB after %.2f s\n",
	    (unsigned long long)pushed, (double)peak / 1024,
	    (double)after / 1024, waited);
	mem_target("memory after a burst drained", after, 64 * 1024);
	cq_queue_free(q);
	cq_delete(cl, "mem.burst");
	fflush(stdout);
	return failed;
fail:
	printf("memory  %s (%s): FAILED\n", cq_strstatus(st),
	    cq_client_error(cl));
	if (q != NULL)
		cq_queue_free(q);
	cq_delete(cl, "mem.held");
	cq_delete(cl, "mem.burst");
	return 1;
}
