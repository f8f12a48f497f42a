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
 * printed. Messages are printed inside the pop callback, and the library
 * confirms them to the daemon only when the callback has returned: what
 * is printed is flushed (and, into a pipe, read) before that, so
 * everything confirmed has really been delivered. If output fails, leave
 * at once (_exit, from inside the callback): the connection closes with
 * the messages unconfirmed and they go back to the queue.
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
	_exit(CLI_EXIT_ERROR);
}

/*
 * Wait until the reader at the other end of the stdout pipe has read
 * everything written: the messages are confirmed when the callback that
 * printed them returns, and one still in the pipe buffer when the reader
 * exits would be lost. The kernel
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
			_exit(CLI_EXIT_ERROR);
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

/* One pop_many in flight: what its callback needs and found. */
struct pop_run {
	struct cli_ctx *x;
	int delim;
	int pipe;
	int done;
	cq_status st;
	size_t got;
};

/* Print a batch inside the callback, before the library confirms it. */
static void
pop_cb(cq_status st, cq_msg **msgs, size_t n, void *arg)
{
	struct pop_run *r = arg;
	size_t i;

	for (i = 0; i < n; i++) {
		pop_print(r->x, msgs[i], r->delim);
		cq_msg_free(msgs[i]);
	}
	if (n > 0) {
		pop_print(r->x, NULL, r->delim);
		if (r->pipe)
			pop_drain();
	}
	r->st = st;
	r->got = n;
	r->done = 1;
}

/* Pop up to want messages and print them; the pop's status. */
static cq_status
pop_some(struct cli_ctx *x, cq_queue *q, size_t want, int64_t timeout,
    struct pop_run *r)
{
	struct pollfd pfd;
	cq_status st;
	int ev;

	r->done = 0;
	r->got = 0;
	if ((st = cq_pop_many_async(q, want, timeout, pop_cb, r, NULL)) !=
	    CQ_OK)
		return st;
	for (;;) {
		if ((st = cq_client_process(x->c)) != CQ_OK && !r->done)
			return st;
		if (r->done)
			return r->st;
		ev = cq_client_events(x->c);
		pfd.fd = cq_client_fd(x->c);
		pfd.events = (short)(((ev & CQ_WANT_READ) ? POLLIN : 0) |
		                     ((ev & CQ_WANT_WRITE) ? POLLOUT : 0));
		pfd.revents = 0;
		/* The daemon answers at the deadline; 1 s only re-checks. */
		if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
			return CQ_SYSTEM;
	}
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
	struct pop_run run;
	char *name;
	cq_queue *q;
	cq_status st;
	int64_t count = 1, timeout = CQ_FOREVER, done = 0;
	size_t want, batch;
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
	run.x = x;
	run.delim = delim;
	run.pipe = pipe;
	for (;;) {
		want = batch;
		if (!all && (uint64_t)(count - done) < want)
			want = (size_t)(count - done);
		st = pop_some(x, q, want, timeout, &run);
		if (st != CQ_OK)
			break;
		done += (int64_t)run.got;
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
