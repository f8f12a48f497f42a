/* cmd_pop.c - pop one, N or all messages and print them exactly. */

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Most messages asked for at once (the daemon's default max_batch; the
 * library lowers it to what the daemon announced). */
#define POP_BATCH 1024

/*
 * Print one message and its terminator, or with m NULL flush what was
 * printed. The library confirms a pop to the daemon with the next request
 * (or at disconnect), so what is printed is flushed (and, into a pipe,
 * read) before the next call: everything confirmed has really been
 * delivered. If output fails, exit at once without disconnecting: the
 * unconfirmed messages go back to the queue.
 */
static void
pop_print(struct cli_ctx *x, const cq_msg *m, int delim)
{
	int ok;

	if (m == NULL)
		ok = fflush(stdout) == 0;
	else
		ok = fwrite(cq_msg_data(m), 1, cq_msg_len(m), stdout) ==
		         cq_msg_len(m) &&
		     putchar(delim) != EOF;
	if (ok)
		return;
	/* A reader that went away is the normal end of "| head": quiet. */
	if (errno != EPIPE)
		fprintf(stderr,
		    "conqueue-cli: %s: cannot write: %s (the unwritten "
		    "messages stay in the queue)\n",
		    x->cmd, strerror(errno));
	exit(CLI_EXIT_ERROR);
}

/*
 * Wait until the reader at the other end of the stdout pipe has read
 * everything written: a message is confirmed with the next pop, and one
 * still in the pipe buffer when the reader exits would be lost. The kernel
 * has no "pipe empty" event: yield a while, then look every millisecond; a
 * reader that closes its end ends the wait at once (POLLERR) and the process,
 * leaving the unconfirmed message in the queue.
 */
static void
pop_drain(void)
{
	struct pollfd pfd = {STDOUT_FILENO, 0, 0};
	int unread, spins = 0;

	while (ioctl(STDOUT_FILENO, FIONREAD, &unread) == 0 && unread > 0) {
		/* A reader that keeps up takes it within microseconds. */
		if (spins++ < 200) {
			sched_yield();
			continue;
		}
		if (poll(&pfd, 1, 1) > 0 && (pfd.revents & POLLERR))
			exit(CLI_EXIT_ERROR);
	}
}

/*
 * How many messages to ask for at once: into a regular file, batches;
 * anywhere else (a pipe, a terminal, a socket) one at a time, so that a
 * reader that stops early costs at most the message it did not read.
 * Sets *pipe when stdout is a pipe (see pop_drain).
 */
static size_t
pop_batch(int *pipe)
{
	struct stat sb;

	*pipe = 0;
	if (fstat(STDOUT_FILENO, &sb) != 0)
		return 1;
	*pipe = S_ISFIFO(sb.st_mode);
	return S_ISREG(sb.st_mode) ? POP_BATCH : 1;
}

/* pop NAME [--count N | --all] [--try] [--timeout MS] [-0]. */
static int
cmd_pop(struct cli_ctx *x, int argc, char **argv)
{
	struct cli_opt opts[] = {
	    {"--count", NULL, 1, 0, NULL},
	    {"--all", NULL, 0, 0, NULL},
	    {"--try", NULL, 0, 0, NULL},
	    {"--timeout", NULL, 1, 0, NULL},
	    {"--null", "-0", 0, 0, NULL},
	    {NULL, NULL, 0, 0, NULL},
	};
	static cq_msg *msgs[POP_BATCH];
	char *name;
	cq_queue *q;
	cq_status st;
	int64_t count = 1, timeout = CQ_FOREVER, done = 0;
	size_t got, i, want, batch;
	int n, rv, all, delim, pipe;

	if ((rv = cli_parse(x, &cli_cmd_pop, argc, argv, opts, &name, 1, 1,
	         &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	all = opts[1].set;
	if (all && opts[0].set)
		return cli_usage_error(x, "--count and --all exclude each "
		                          "other");
	if (opts[0].set && (rv = cli_int(x, "count", opts[0].arg, 1, INT64_MAX,
	                        10, &count)) != 0)
		return rv;
	if (opts[3].set && (rv = cli_int(x, "timeout", opts[3].arg, -1,
	                        INT64_MAX, 10, &timeout)) != 0)
		return rv;
	if (opts[2].set)
		timeout = CQ_NOWAIT;
	delim = opts[4].set ? '\0' : '\n';
	if ((rv = cli_open(x, name, &q)) != 0)
		return rv;
	batch = pop_batch(&pipe);
	for (;;) {
		want = batch;
		if (!all && (uint64_t)(count - done) < want)
			want = (size_t)(count - done);
		st = cq_pop_many(q, msgs, want, &got, timeout);
		if (st != CQ_OK)
			break;
		for (i = 0; i < got; i++) {
			pop_print(x, msgs[i], delim);
			cq_msg_free(msgs[i]);
		}
		pop_print(x, NULL, delim);
		if (pipe)
			pop_drain();
		done += (int64_t)got;
		if (!all && done >= count) {
			if (x->verbose)
				fprintf(stderr, "conqueue-cli: popped %lld\n",
				    (long long)done);
			return CLI_EXIT_OK;
		}
	}
	if (all && st == CQ_CLOSED) {
		if (x->verbose)
			fprintf(stderr,
			    "conqueue-cli: popped %lld: queue closed "
			    "and drained\n",
			    (long long)done);
		return CLI_EXIT_OK;
	}
	if (x->verbose)
		fprintf(stderr, "conqueue-cli: popped %lld: %s\n",
		    (long long)done, cq_strstatus(st));
	return cli_status(x, st, name);
}

const struct cli_cmd cli_cmd_pop = {"pop", cmd_pop,
    "usage: conqueue-cli pop NAME [--count N | --all] [--try] "
    "[--timeout MS] [-0]\n"
    "Pop one message and print it and a newline (a NUL with -0).\n"
    "  --count N      pop up to N messages, waiting for each\n"
    "  --all          pop until the queue is closed and drained, exit 0\n"
    "  --try          do not wait: exit 2 when nothing can be popped now\n"
    "  --timeout MS   wait at most MS ms for each message (exit 4)\n"
    "  -0             end each message with NUL instead of newline\n"};
