/* profile.c - where the daemon's time goes: callgrind and strace. */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"

/* Run a command, output to /dev/null; returns its exit status. */
static int
profile_system(char *const argv[])
{
	pid_t pid;
	int st;

	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		/* callgrind_control chatters on both streams. */
		if (freopen("/dev/null", "w", stdout) == NULL ||
		    freopen("/dev/null", "w", stderr) == NULL)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Instructions ("summary:" or "totals:") of a callgrind dump, or -1. */
double
profile_cg_total(const char *path)
{
	char line[512];
	double v = -1;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "summary:", 8) == 0 ||
		    strncmp(line, "totals:", 7) == 0) {
			v = strtod(strchr(line, ':') + 1, NULL);
			break;
		}
	}
	fclose(f);
	return v;
}

/*
 * Attach strace -c to the daemon for one run of each flavour: system calls
 * per message, the other half of what a message costs the daemon.
 */
static int
profile_strace(struct bench_cfg *cfg, const struct wl *wl, const char *flavours)
{
	static const enum flavour fls[] = {FL_SYNC, FL_ASYNC, FL_BATCH};
	char out[300], pidarg[32], line[512], err[256], buf[4096];
	struct result rs;
	pid_t sp;
	int i, p[2], st, failed = 0;
	size_t got;
	ssize_t n;
	long calls;
	FILE *f;
	struct pollfd pfd;

	if (bdaemon_start(&run_daemon, cfg->daemon, NULL, NULL) != 0 ||
	    cqt_init(run_daemon.sock, err, sizeof err) != 0) {
		fprintf(
		    stderr, "conqueue-bench: cannot start %s\n", cfg->daemon);
		bdaemon_cleanup(&run_daemon);
		return 1;
	}
	snprintf(pidarg, sizeof pidarg, "%ld", (long)run_daemon.pid);
	snprintf(out, sizeof out, "/tmp/cqbench-strace.%ld", (long)getpid());
	printf("\ndaemon system calls per message (strace -c attached for "
	       "the run, %s 1+1, %llu messages)\n",
	    wl->name, (unsigned long long)wl->n);
	for (i = 0; i < 3; i++) {
		if (!options_in_list(flavours, bench_fl_names[fls[i]]))
			continue;
		if (pipe(p) != 0)
			break;
		fflush(NULL);
		if ((sp = fork()) == 0) {
			dup2(p[1], 2);
			close(p[0]);
			execlp("strace", "strace", "-c", "-f", "-o", out, "-p",
			    pidarg, (char *)NULL);
			_exit(127);
		}
		close(p[1]);
		/* strace says "attached" on stderr once it traces the pid. */
		got = 0;
		buf[0] = '\0';
		pfd.fd = p[0];
		pfd.events = POLLIN;
		while (got < sizeof buf - 1 &&
		       strstr(buf, "attached") == NULL &&
		       poll(&pfd, 1, 10000) > 0 &&
		       (n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0) {
			got += (size_t)n;
			buf[got] = '\0';
		}
		close(p[0]);
		if (strstr(buf, "attached") == NULL) {
			printf("strace %s %-6s: strace did not attach (%s)\n",
			    wl->name, bench_fl_names[fls[i]], buf);
			kill(sp, SIGKILL);
			waitpid(sp, &st, 0);
			failed = 1;
			break;
		}
		run_one(cfg, &bench_conqueue, wl, fls[i], &rs);
		kill(sp, SIGINT);
		waitpid(sp, &st, 0);
		if (!rs.ok || (f = fopen(out, "r")) == NULL) {
			printf("strace %s %-6s FAILED %s\n", wl->name,
			    bench_fl_names[fls[i]],
			    rs.ok ? "no strace output" : rs.err);
			failed = 1;
			continue;
		}
		calls = -1;
		printf("strace %s %-6s top system calls of the daemon:\n",
		    wl->name, bench_fl_names[fls[i]]);
		while (fgets(line, sizeof line, f) != NULL) {
			if (strstr(line, " total") != NULL)
				sscanf(line, "%*f %*f %*d %ld", &calls);
			printf("    %s", line);
		}
		fclose(f);
		unlink(out);
		if (calls >= 0)
			printf("strace %s %-6s %8.2f system calls/msg\n",
			    wl->name, bench_fl_names[fls[i]],
			    (double)calls / (double)wl->n);
	}
	cqt_fini();
	bdaemon_cleanup(&run_daemon);
	return failed;
}

/* A function's own instructions in a callgrind dump. */
struct cg_fn {
	char name[160];
	double self;
};

/* Order by self cost, largest first. */
static int
profile_cmp_fn(const void *a, const void *b)
{
	const struct cg_fn *x = a, *y = b;

	return x->self < y->self ? 1 : x->self > y->self ? -1 : 0;
}

/*
 * Print the top functions of a dump by self cost, summed from the file
 * itself (callgrind_annotate 3.19 credits a dump taken after -z to main
 * alone). A cost line right after "calls=" is a callee's inclusive cost
 * and is skipped; f'2 (a recursion level) counts as f.
 */
static void
profile_cg_top(const char *path, int top)
{
	static struct cg_fn fns[4096]; /* zeroed: names stay terminated */
	char line[1024], *q;
	int nfn = 0, cur = -1, skip = 0, i;
	size_t len;
	double tot = 0, v;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "fn=", 3) == 0) {
			if ((q = strchr(line + 3, '\'')) != NULL)
				*q = '\0';
			for (cur = 0; cur < nfn; cur++)
				if (strcmp(fns[cur].name, line + 3) == 0)
					break;
			if (cur == nfn &&
			    nfn < (int)(sizeof fns / sizeof fns[0])) {
				len = strlen(line + 3);
				if (len >= sizeof fns[nfn].name)
					len = sizeof fns[nfn].name - 1;
				memcpy(fns[nfn].name, line + 3, len);
				fns[nfn].name[len] = '\0';
				fns[nfn++].self = 0;
			}
			if (cur >= nfn)
				cur = -1;
		} else if (strncmp(line, "calls=", 6) == 0)
			skip = 1;
		else if ((line[0] >= '0' && line[0] <= '9') || line[0] == '+' ||
		         line[0] == '-') {
			if (skip) {
				skip = 0;
				continue;
			}
			if ((q = strchr(line, ' ')) == NULL || cur < 0)
				continue;
			v = strtod(q + 1, NULL);
			fns[cur].self += v;
			tot += v;
		}
	}
	fclose(f);
	qsort(fns, (size_t)nfn, sizeof fns[0], profile_cmp_fn);
	for (i = 0; i < nfn && i < top; i++)
		printf("    %12.0f %5.1f%%  %s\n", fns[i].self,
		    tot > 0 ? 100 * fns[i].self / tot : 0.0, fns[i].name);
}

/*
 * Run A-64 sync and batch with the daemon under callgrind: zero its
 * counters at the barrier, dump them after the run, and divide by the
 * messages. Prints the top functions of each dump.
 */
int
profile_instructions(
    struct bench_cfg *cfg, const char *wlist, const char *flavours)
{
	static const enum flavour fls[] = {FL_SYNC, FL_ASYNC, FL_BATCH};
	char out[300], pidarg[32], dump[320];
	const char *wrap[] = {"valgrind", "--tool=callgrind", out,
	    "--dump-instr=no", "--compress-strings=no", "--compress-pos=no",
	    NULL};
	struct wl wl = {"A-64", WL_STREAM, 1, 1, 64, 0, 0};
	struct result rs;
	static char ctl[] = "callgrind_control", zopt[] = "-z", dopt[] = "-d";
	char *zero[] = {ctl, zopt, pidarg, NULL};
	char *dumpc[] = {ctl, dopt, pidarg, NULL};
	char err[256];
	int i, ndump = 0, failed = 0;
	double ir;

	wl.n = cfg->quick ? 2000 : 20000;
	/* A-64 by default; -w A-4K looks at the cost of bigger messages. */
	if (wlist != NULL && strcmp(wlist, "A-4K") == 0) {
		snprintf(wl.name, sizeof wl.name, "A-4K");
		wl.size = 4096;
	}
	cfg->timeout_s = cfg->timeout_s < 600 ? 600 : cfg->timeout_s;
	snprintf(out, sizeof out, "--callgrind-out-file=/tmp/cqbench-cg.%ld",
	    (long)getpid());
	if (bdaemon_start(&run_daemon, cfg->daemon, NULL, wrap) != 0) {
		fprintf(stderr,
		    "conqueue-bench: cannot start %s under "
		    "callgrind (log %s)\n",
		    cfg->daemon, run_daemon.log);
		return 1;
	}
	run_have_daemon = 1;
	if (cqt_init(run_daemon.sock, err, sizeof err) != 0) {
		fprintf(stderr, "conqueue-bench: %s\n", err);
		return 1;
	}
	snprintf(pidarg, sizeof pidarg, "%ld", (long)run_daemon.pid);
	printf("daemon instructions per message (valgrind callgrind, "
	       "%s 1+1, %llu messages, counters zeroed at the barrier)\n",
	    wl.name, (unsigned long long)wl.n);
	for (i = 0; i < 3; i++) {
		if (!options_in_list(flavours, bench_fl_names[fls[i]]))
			continue;
		/* Zero before the run: set-up and connects are not counted. */
		if (profile_system(zero) != 0) {
			fprintf(stderr, "conqueue-bench: callgrind_control -z "
			                "failed\n");
			failed = 1;
			break;
		}
		run_one(cfg, &bench_conqueue, &wl, fls[i], &rs);
		if (profile_system(dumpc) != 0) {
			fprintf(stderr, "conqueue-bench: callgrind_control -d "
			                "failed\n");
			failed = 1;
			break;
		}
		ndump++;
		snprintf(dump, sizeof dump, "/tmp/cqbench-cg.%ld.%d",
		    (long)getpid(), ndump);
		ir = profile_cg_total(dump);
		if (!rs.ok || ir < 0) {
			printf("instr %s %-6s FAILED %s\n", wl.name,
			    bench_fl_names[fls[i]],
			    rs.ok ? "no callgrind dump" : rs.err);
			failed = 1;
			continue;
		}
		printf("instr %s %-6s %10.0f instructions/msg  (%.0f msg/s "
		       "under callgrind)\n",
		    wl.name, bench_fl_names[fls[i]], ir / (double)wl.n,
		    rs.value);
		printf("  top daemon functions by own instructions:\n");
		fflush(stdout);
		profile_cg_top(dump, 15);
		unlink(dump);
	}
	cqt_fini();
	bdaemon_cleanup(&run_daemon);
	snprintf(dump, sizeof dump, "/tmp/cqbench-cg.%ld", (long)getpid());
	unlink(dump);
	failed |= profile_strace(cfg, &wl, flavours);
	return failed | pairs_profile(cfg);
}
