/* options.c - conqueue-bench's command line: usage, options, lists. */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

/* Print usage. */
void
options_usage(FILE *f)
{
	fprintf(f,
	    "usage: conqueue-bench [options]\n"
	    "  -r, --reps N          repetitions per figure, median shown "
	    "(default 3)\n"
	    "  -w, --workloads LIST  A-64,A-4K,B-64,C-64 (default all)\n"
	    "  -f, --flavours LIST   conqueue: sync,async,batch,sbatch on the "
	    "socket,\n"
	    "                        dsync,dbatch,dsbatch direct (default "
	    "all)\n"
	    "  -S, --systems LIST    conqueue,socketpair,mq,boost,relay "
	    "(default all)\n"
	    "  -q, --quick           fewer messages (for tests)\n"
	    "      --sizes FILE      also sweep A over 64 B..64 KiB, data to "
	    "FILE\n"
	    "      --scale           cost per message vs depth, queues, "
	    "connections\n"
	    "      --durable         durable queues (interval, never) vs plain "
	    "on A-64,\n"
	    "                        always on A-64 (1+1) vs C-64 (4+4), disk "
	    "fdatasync/s\n"
	    "      --state-dir DIR   where --durable's logs go (default "
	    "/var/tmp)\n"
	    "      --instructions    daemon instructions per message, client "
	    "instructions\n"
	    "                        per direct push + pop (callgrind)\n"
	    "      --window N        async ops in flight (default 128)\n"
	    "      --batch N         messages per batch call (default 64)\n"
	    "      --batches N       batch: batches in flight (default 4)\n"
	    "  -t, --timeout SEC     bound of one run (default 120)\n"
	    "  -d, --daemon PATH     conqueued ($CONQUEUED, else ./conqueued)\n"
	    "  -v, --verbose         print every run\n"
	    "  -h, --help\n");
}

/* 1 if word is in the comma-separated list (NULL list: everything). */
int
options_in_list(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	if (list == NULL)
		return 1;
	while ((p = strstr(p, word)) != NULL) {
		if ((p == list || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ','))
			return 1;
		p += n;
	}
	return 0;
}

/*
 * Parse the command line into o: 1 to go on, 0 when done (--help), -1 on
 * a usage error (printed).
 */
int
options_parse(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"reps", required_argument, NULL, 'r'},
	    {"workloads", required_argument, NULL, 'w'},
	    {"flavours", required_argument, NULL, 'f'},
	    {"systems", required_argument, NULL, 'S'},
	    {"quick", no_argument, NULL, 'q'},
	    {"sizes", required_argument, NULL, 'Z'},
	    {"scale", no_argument, NULL, 'X'},
	    {"instructions", no_argument, NULL, 'I'},
	    {"durable", no_argument, NULL, 'U'},
	    {"state-dir", required_argument, NULL, 'T'},
	    {"window", required_argument, NULL, 'W'},
	    {"batch", required_argument, NULL, 'B'},
	    {"batches", required_argument, NULL, 'N'},
	    {"timeout", required_argument, NULL, 't'},
	    {"daemon", required_argument, NULL, 'd'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	memset(o, 0, sizeof *o);
	o->cfg.reps = 3;
	o->cfg.window = 128;
	o->cfg.batch = 64;
	o->cfg.batches = 4;
	o->cfg.timeout_s = 120;
	o->state_dir = "/var/tmp";
	o->cfg.daemon =
	    getenv("CONQUEUED") != NULL ? getenv("CONQUEUED") : "./conqueued";
	while ((opt = getopt_long(
	            argc, argv, "r:w:f:S:qt:d:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			o->cfg.reps = atoi(optarg);
			break;
		case 'w':
			o->wlist = optarg;
			break;
		case 'f':
			o->flavours = optarg;
			break;
		case 'S':
			o->systems = optarg;
			break;
		case 'q':
			o->cfg.quick = 1;
			break;
		case 'Z':
			o->sizes = 1;
			o->cfg.plotdat = optarg;
			break;
		case 'X':
			o->scale = 1;
			break;
		case 'I':
			o->instr = 1;
			break;
		case 'U':
			o->durable = 1;
			break;
		case 'T':
			o->state_dir = optarg;
			break;
		case 'W':
			o->cfg.window = atoi(optarg);
			break;
		case 'B':
			o->cfg.batch = atoi(optarg);
			break;
		case 'N':
			o->cfg.batches = atoi(optarg);
			break;
		case 't':
			o->cfg.timeout_s = atoi(optarg);
			break;
		case 'd':
			o->cfg.daemon = optarg;
			break;
		case 'v':
			o->cfg.verbose = 1;
			break;
		case 'h':
			options_usage(stdout);
			return 0; /* --help */
		default:
			options_usage(stderr);
			return -1;
		}
	}
	if (optind != argc || o->cfg.reps < 1 || o->cfg.reps > BENCH_MAXREPS ||
	    o->cfg.window < 1 || o->cfg.batch < 1 || o->cfg.batch > 1024 ||
	    o->cfg.batches < 1 || o->cfg.batches > 64 || o->cfg.timeout_s < 1) {
		options_usage(stderr);
		return -1;
	}
	return 1;
}
