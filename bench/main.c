/* main.c - conqueue-bench: reference workloads against same-run baselines. */

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "bench/bench.h"

/* nftw: remove one entry of the durable state directory. */
static int
main_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 ? -1 : 0;
}

/* Parse the options, start the daemon, run what was asked, report. */
int
main(int argc, char **argv)
{
	struct options o;
	struct bench_cfg *cfg = &o.cfg;
	int rc, failed = 0, ncpu;
	char note[256], err[256], cfgpath[300], statedir[400] = "";
	struct rlimit rl;
	struct utsname un;
	cq_daemon_info info;
	double loadavg[3] = {0, 0, 0};
	FILE *f;

	/* --instructions re-runs this program as its direct-path driver. */
	if (argc > 1 && strcmp(argv[1], "--pairs-child") == 0)
		return pairs_child(argc, argv);
	if ((rc = options_parse(argc, argv, &o)) <= 0)
		return rc < 0 ? 1 : 0;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, run_on_signal);
	signal(SIGTERM, run_on_signal);
	/* The daemon inherits this: 10,000 idle connections need the fds. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	if (o.instr)
		return profile_instructions(cfg, o.wlist, o.flavours);

	base_mq_setup(note, sizeof note);
	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	uname(&un);
	if ((f = fopen("/proc/loadavg", "r")) != NULL) {
		if (fscanf(f, "%lf %lf %lf", &loadavg[0], &loadavg[1],
		        &loadavg[2]) != 3)
			loadavg[0] = -1;
		fclose(f);
	}
	printf("conqueue-bench %s: %s %s, %d CPUs, load %.2f %.2f %.2f "
	       "(shared machine: expect noise)\n",
	    cq_version(), un.sysname, un.release, ncpu, loadavg[0], loadavg[1],
	    loadavg[2]);
	printf("reps %d (medians), %s messages per A/C run, B %s round trips "
	       "after %s warm-up, async window %d, batch %d (%d in flight)\n",
	    cfg->reps, cfg->quick ? "20000" : "200000",
	    cfg->quick ? "2000" : "20000", cfg->quick ? "100" : "1000",
	    cfg->window, cfg->batch, cfg->batches);
	printf("%s\n", note);
	printf("socketpair: stream, one write/read per message; C-64 uses one "
	       "socketpair per producer/consumer pair (4 independent 1+1 "
	       "streams, not one shared queue)\n");

	if (o.durable) {
		/* The durable logs: a directory of ours on the asked disk. */
		snprintf(statedir, sizeof statedir, "%s/cqbench-state-XXXXXX",
		    o.state_dir);
		if (mkdtemp(statedir) == NULL) {
			perror(statedir);
			base_mq_restore();
			return 1;
		}
	}
	if (options_in_list(o.systems, "conqueue") || o.scale || o.durable) {
		/* Limits for the scale checks: 10,000 idle connections. */
		snprintf(cfgpath, sizeof cfgpath, "/tmp/cqbench-%ld.conf",
		    (long)getpid());
		if ((f = fopen(cfgpath, "w")) == NULL) {
			perror(cfgpath);
			return 1;
		}
		fprintf(f, "# conqueue-bench: room for the scale checks\n"
		           "max_connections = 12000\n"
		           "max_connections_per_uid = 12000\n"
		           "max_queues = 4096\nmax_queues_per_uid = 4096\n");
		if (statedir[0] != '\0')
			fprintf(f, "state_dir = %s\n", statedir);
		fclose(f);
		if (bdaemon_start(&run_daemon, cfg->daemon, cfgpath, NULL) !=
		    0) {
			fprintf(stderr, "conqueue-bench: cannot start %s\n",
			    cfg->daemon);
			unlink(cfgpath);
			if (statedir[0] != '\0')
				nftw(statedir, main_rm, 16, FTW_DEPTH | FTW_PHYS);
			bdaemon_cleanup(&run_daemon);
			base_mq_restore();
			return 1;
		}
		run_have_daemon = 1;
		if (cqt_init(run_daemon.sock, err, sizeof err) != 0) {
			unlink(cfgpath);
			if (statedir[0] != '\0')
				nftw(statedir, main_rm, 16, FTW_DEPTH | FTW_PHYS);
			fprintf(stderr, "conqueue-bench: %s\n", err);
			bdaemon_cleanup(&run_daemon);
			base_mq_restore();
			return 1;
		}
		if (cqt_info(&info) == 0)
			printf("daemon: conqueued %s, pid %ld\n", info.version,
			    (long)run_daemon.pid);
	}
	fflush(stdout);

	if (o.wlist == NULL || o.wlist[0] != '\0')
		failed |= workloads_run(cfg, o.wlist, o.systems, o.flavours);
	if (o.sizes)
		failed |= workloads_sizes(cfg, o.systems, o.flavours);
	if (o.durable && run_have_daemon)
		failed |= durable_run(cfg, statedir);
	if (run_have_daemon) {
		printf("daemon: CPU %.2f s in all, peak RSS (VmHWM) %ld kB\n",
		    bdaemon_cpu_s(run_daemon.pid),
		    bdaemon_status_kb(run_daemon.pid, "VmHWM"));
		cqt_fini();
		if (bdaemon_stop(&run_daemon) != 0) {
			printf("daemon: did not exit 0 on SIGTERM\n");
			failed = 1;
		}
		bdaemon_cleanup(&run_daemon);
		/*
		 * The scale checks get a daemon of their own: the heap the
		 * workloads freed stays with the one that ran them, and would
		 * hide what idle connections cost (and its idle RSS).
		 */
		if (o.scale) {
			if (bdaemon_start(
			        &run_daemon, cfg->daemon, cfgpath, NULL) != 0) {
				printf("scale   cannot start %s: FAILED\n",
				    cfg->daemon);
				failed = 1;
			} else {
				failed |= scale_run(cfg, &run_daemon);
				if (bdaemon_stop(&run_daemon) != 0) {
					printf("daemon: did not exit 0 on "
					       "SIGTERM\n");
					failed = 1;
				}
			}
			bdaemon_cleanup(&run_daemon);
		}
		unlink(cfgpath);
	}
	if (statedir[0] != '\0')
		nftw(statedir, main_rm, 16, FTW_DEPTH | FTW_PHYS);
	base_mq_restore();
	printf("result: %s\n", failed ? "SOME RUNS FAILED"
	                              : "all runs passed "
	                                "their checks");
	return failed ? 1 : 0;
}
