/* pairs.c - instructions of one direct push + pop pair (--instructions). */

/*
 * The direct path's cost is the client's: no daemon runs in between. So
 * conqueue-bench re-runs itself ("--pairs-child SOCK QUEUE N") under
 * callgrind as one process that pushes a 64-byte message and pops it
 * back N times on one direct handle, collecting only inside pairs_one and
 * pairs_free (--toggle-collect): total instructions / N is the figure
 * issue 13 targets (<= 1,000 for both sides). Until conqueue.h declares
 * cq_queue_direct the handle cannot be checked, so the figure comes from
 * the core-level micro benchmark tests/bench_direct_core instead, and the
 * output says so.
 */

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "bench/bench.h"
#include "bench/direct_api.h" /* generated: BENCH_HAVE_QUEUE_DIRECT */

#define PAIRS_SIZE 64

/* One push and one pop: the measured part (callgrind toggles here). */
__attribute__((noinline)) static cq_status
pairs_one(cq_queue *q, const uint8_t *buf, cq_msg **m)
{
	cq_status st = cq_push(q, buf, PAIRS_SIZE, CQ_FOREVER);

	return st != CQ_OK ? st : cq_pop(q, m, CQ_FOREVER);
}

/* Free a popped message: part of what a pop costs its caller. */
__attribute__((noinline)) static void
pairs_free(cq_msg *m)
{
	cq_msg_free(m);
}

/*
 * The child: argv = conqueue-bench --pairs-child SOCK QUEUE N. Exit 0
 * when every message came back intact on a direct handle, 3 when the
 * handle is on the socket, 1 otherwise (reason on stderr).
 */
int
pairs_child(int argc, char **argv)
{
	cq_client *cl;
	cq_queue *q;
	cq_msg *m;
	cq_status st;
	uint8_t buf[PAIRS_SIZE];
	long i, n;

	if (argc != 5 || (n = atol(argv[4])) < 1) {
		fprintf(stderr, "usage: conqueue-bench --pairs-child SOCK "
		                "QUEUE N\n");
		return 1;
	}
	unsetenv("CONQUEUE_DIRECT"); /* the default: direct */
	if ((st = cq_connect_named(&cl, argv[2], "conqueue-bench")) != CQ_OK ||
	    (st = cq_open(cl, argv[3], &q)) != CQ_OK) {
		fprintf(stderr, "pairs: %s: %s\n", argv[3], cq_strstatus(st));
		return 1;
	}
#ifdef BENCH_HAVE_QUEUE_DIRECT
	if (!cq_queue_direct(q)) {
		fprintf(stderr, "pairs: the handle is on the socket\n");
		return 3;
	}
#endif
	for (i = 0; i < n; i++) {
		bench_fill(buf, PAIRS_SIZE, 0, (uint32_t)i);
		if ((st = pairs_one(q, buf, &m)) != CQ_OK) {
			fprintf(
			    stderr, "pairs: %ld: %s\n", i, cq_strstatus(st));
			return 1;
		}
		if (cq_msg_len(m) != PAIRS_SIZE ||
		    memcmp(cq_msg_data(m), buf, PAIRS_SIZE) != 0) {
			fprintf(
			    stderr, "pairs: message %ld came back wrong\n", i);
			return 1;
		}
		pairs_free(m);
	}
	cq_queue_free(q);
	cq_disconnect(cl);
	return 0;
}

/* Run argv under callgrind, dumps in dir; exit status or -1. */
static int
pairs_callgrind(const char *dir, char *const *argv, int nargs)
{
	char out[300], log[300];
	char *av[16];
	int i, n = 0, st;
	pid_t pid;

	/* The program's own stderr stays ours: it says why it failed. */
	snprintf(out, sizeof out, "--callgrind-out-file=%s/cg.%%p", dir);
	snprintf(log, sizeof log, "--log-file=%s/log.%%p", dir);
	av[n++] = (char *)(uintptr_t) "valgrind";
	av[n++] = (char *)(uintptr_t) "--tool=callgrind";
	av[n++] = (char *)(uintptr_t) "--trace-children=yes";
	av[n++] = out;
	av[n++] = log;
	for (i = 0; i < nargs && n < 15; i++)
		av[n++] = argv[i];
	av[n] = NULL;
	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(127);
		execvp(av[0], av);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Sum the instructions of every dump in dir (removing them), or -1. */
static double
pairs_sum(const char *dir)
{
	char path[600];
	double sum = -1, v;
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (strncmp(de->d_name, "cg.", 3) == 0 &&
		    (v = profile_cg_total(path)) >= 0)
			sum = (sum < 0 ? 0 : sum) + v;
		unlink(path);
	}
	closedir(d);
	return sum;
}

/* The core-level figure, when the library cannot give one yet. */
static int
pairs_core(const struct bench_cfg *cfg, const char *dir, const char *why)
{
	char prog[PATH_MAX], dcopy[PATH_MAX], nbuf[32];
	char *av[5];
	long n = cfg->quick ? 10000 : 100000;
	double ir;
	int rc;

	snprintf(dcopy, sizeof dcopy, "%s", cfg->daemon);
	snprintf(
	    prog, sizeof prog, "%s/tests/bench_direct_core", dirname(dcopy));
	printf("instr direct: %s; falling back to the core-level micro "
	       "benchmark %s (direct_push + direct_pop, no library)\n",
	    why, prog);
	if (access(prog, X_OK) != 0) {
		printf("instr direct: %s not built (make "
		       "tests/bench_direct_core): NOT MEASURED\n",
		    prog);
		return 0;
	}
	snprintf(nbuf, sizeof nbuf, "%ld", n);
	av[0] = (char *)(uintptr_t) "--toggle-collect=bench_pair";
	av[1] = prog;
	av[2] = (char *)(uintptr_t) "pairs";
	av[3] = nbuf;
	rc = pairs_callgrind(dir, av, 4);
	ir = pairs_sum(dir);
	if (rc != 0 || ir < 0) {
		printf("instr direct core FAILED (exit %d)\n", rc);
		return 1;
	}
	printf("instr direct core %8.0f instructions per push + pop pair "
	       "(64 B, %ld pairs; core only, not the library: target "
	       "<= 1000)\n",
	    ir / (double)n, n);
	return 0;
}

/*
 * Measure the direct push + pop pair under callgrind: a private daemon
 * (not under valgrind: it is not on this path), a queue of 1024 x 64 B,
 * the child above. Prints the figure; 0, or 1 on a failure.
 */
int
pairs_profile(const struct bench_cfg *cfg)
{
	char dir[] = "/tmp/cqbench-pairs.XXXXXX", exe[PATH_MAX], qname[64];
	char nbuf[32], t1[] = "--toggle-collect=pairs_one",
	               t2[] = "--toggle-collect=pairs_free",
	               opt[] = "--pairs-child";
	char *av[8];
	long n = cfg->quick ? 10000 : 100000;
	ssize_t len;
	cq_client *cl = NULL;
	cq_queue_attr attr;
	cq_status st;
	double ir;
	int rc, failed = 0;

	printf("\ndirect path: client instructions per push + pop pair of "
	       "one 64-byte message (callgrind, one process, both sides)\n");
	if (mkdtemp(dir) == NULL) {
		printf("instr direct FAILED: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
#ifndef BENCH_HAVE_QUEUE_DIRECT
	failed = pairs_core(cfg, dir,
	    "this build's conqueue.h has no cq_queue_direct (a library "
	    "figure could not be checked to be direct)");
	rmdir(dir);
	return failed;
#endif
	if ((len = readlink("/proc/self/exe", exe, sizeof exe - 1)) < 0) {
		rmdir(dir);
		return 1;
	}
	exe[len] = '\0';
	if (bdaemon_start(&run_daemon, cfg->daemon, NULL, NULL) != 0 ||
	    cq_connect_named(&cl, run_daemon.sock, "conqueue-bench") != CQ_OK) {
		printf("instr direct FAILED: cannot start %s\n", cfg->daemon);
		bdaemon_cleanup(&run_daemon);
		rmdir(dir);
		return 1;
	}
	memset(&attr, 0, sizeof attr);
	attr.capacity = 1024;
	attr.max_size = PAIRS_SIZE;
	attr.mode = 0600;
	snprintf(qname, sizeof qname, "bench.pairs.%ld", (long)getpid());
	if ((st = cq_create_bounded(
	         cl, qname, &attr, 0, cqt_slot_bytes(&attr))) != CQ_OK) {
		printf("instr direct FAILED: create: %s\n", cq_strstatus(st));
		failed = 1;
		goto out;
	}
	snprintf(nbuf, sizeof nbuf, "%ld", n);
	av[0] = t1;
	av[1] = t2;
	av[2] = exe;
	av[3] = opt;
	av[4] = run_daemon.sock;
	av[5] = qname;
	av[6] = nbuf;
	rc = pairs_callgrind(dir, av, 7);
	ir = pairs_sum(dir);
	if (rc == 3) {
		/* The library has the path but did not take it: a failure. */
		pairs_core(cfg, dir,
		    "the handle is on the socket (does the daemon hand out "
		    "the segment?)");
		failed = 1;
	} else if (rc != 0 || ir < 0) {
		printf("instr direct FAILED (exit %d)\n", rc);
		failed = 1;
	} else
		printf("instr direct %8.0f instructions per push + pop pair "
		       "(64 B, %ld pairs, library on a direct handle: target "
		       "<= 1000)\n",
		    ir / (double)n, n);
	cq_delete(cl, qname);
out:
	cq_disconnect(cl);
	bdaemon_cleanup(&run_daemon);
	rmdir(dir);
	return failed;
}
