/* cmd_pop.c - pop one, N or all messages and print them exactly. */

#include <errno.h>
#include <inttypes.h>
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
 * the messages unconfirmed and they go back to the queue. A closed pipe
 * (EPIPE: SIGPIPE is ignored) exits CLI_EXIT_PIPE without a message.
 */
static void
pop_print(struct cli_ctx *x, const cq_msg *m, int delim, const char *queue,
    size_t index)
{
	int ok;

	if (m == NULL)
		ok = fflush(stdout) == 0;
	else if (x->json) {
		/* One JSON object per line, saying which queue (pop_any). */
		fputs("{\"queue\": ", stdout);
		cli_json_string(stdout, queue);
		printf(", \"index\": %zu, \"id\": %" PRIu64 ", \"band\": %u, "
		       "\"deliveries\": %" PRIu32 ", \"data\": ",
		    index, cq_msg_id(m), cq_msg_band(m), cq_msg_deliveries(m));
		cli_json_bytes(stdout, cq_msg_data(m), cq_msg_len(m));
		ok = puts("}") != EOF;
	} else
		ok = fwrite(cq_msg_data(m), 1, cq_msg_len(m), stdout) ==
		         cq_msg_len(m) &&
		     putchar(delim) != EOF;
	if (ok)
		return;
	/* A reader that went away is the normal end of "| head": quiet. */
	if (errno == EPIPE)
		_exit(CLI_EXIT_PIPE);
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
			_exit(CLI_EXIT_PIPE);
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

/* One pop_many (or pop_any) in flight: what its callback needs and found. */
struct pop_run {
	struct cli_ctx *x;
	char **names; /* the queues, in the order given */
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
		pop_print(r->x, msgs[i], r->delim, r->names[0], 0);
		cq_msg_free(msgs[i]);
	}
	if (n > 0) {
		pop_print(r->x, NULL, r->delim, NULL, 0);
		if (r->pipe)
			pop_drain();
	}
	r->st = st;
	r->got = n;
	r->done = 1;
}

/* pop_any's callback: print the message as pop_cb does, with its queue. */
static void
pop_any_cb(cq_status st, size_t index, cq_msg *m, void *arg)
{
	struct pop_run *r = arg;

	if (m != NULL) {
		pop_print(r->x, m, r->delim, r->names[index], index);
		cq_msg_free(m);
		pop_print(r->x, NULL, r->delim, NULL, 0);
		if (r->pipe)
			pop_drain();
	}
	r->st = st;
	r->got = m != NULL;
	r->done = 1;
}

/*
 * Pop up to want messages of q and print them, or with q NULL one message
 * from the first of the nnames queues that has one; the pop's status.
 */
static cq_status
pop_some(struct cli_ctx *x, cq_queue *q, size_t nnames, size_t want,
    int64_t timeout, struct pop_run *r)
{
	struct pollfd pfd;
	cq_status st;
	int ev;

	r->done = 0;
	r->got = 0;
	if (q != NULL)
		st = cq_pop_many_async(q, want, timeout, pop_cb, r, NULL);
	else
		st = cq_pop_any_async(x->c, (const char *const *)r->names,
		    nnames, timeout, pop_any_cb, r, NULL);
	if (st != CQ_OK)
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

/*
 * pop NAME... [--count N | --all] [--try] [--timeout MS] [-0]: with
 * several names, each message comes from the first of them that has one.
 */
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
	char *names[CQ_POP_ANY_MAX], *name;
	cq_queue *q = NULL;
	cq_status st;
	int64_t count = 1, timeout = CQ_FOREVER, done = 0;
	size_t want, batch;
	int n, rv, all, delim, pipe;

	if ((rv = cli_parse(x, &cli_cmd_pop, argc, argv, opts, names, 1,
	         CQ_POP_ANY_MAX, &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	name = names[0];
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
	/* Several queues: pop_any, one message at a time, no handle. */
	if (n > 1)
		rv = cli_connect(x);
	else
		rv = cli_open(x, name, &q);
	if (rv != 0)
		return rv;
	batch = pop_batch(&pipe);
	if (n > 1)
		batch = 1; /* pop_any takes one message */
	run.x = x;
	run.names = names;
	run.delim = delim;
	run.pipe = pipe;
	for (;;) {
		want = batch;
		if (!all && (uint64_t)(count - done) < want)
			want = (size_t)(count - done);
		st = pop_some(x, q, (size_t)n, want, timeout, &run);
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
	return cli_status(x, st, n > 1 ? NULL : name);
}

const struct cli_cmd cli_cmd_pop = {"pop", cmd_pop,
    "usage: conqueue-cli pop NAME... [--count N | --all] [--try] "
    "[--timeout MS] [-0]\n"
    "Pop one message and print it and a newline (a NUL with -0). With\n"
    "several names (up to 64), each message comes from the first queue\n"
    "that has one, waiting on all at once; --all then ends when every\n"
    "one is closed and drained. --json: one object per message, with\n"
    "its queue and the queue's index among the names.\n"
    "  --count N      pop up to N messages, waiting for each\n"
    "  --all          pop until the queue is closed and drained, exit 0\n"
    "  --try          do not wait: exit 2 when nothing can be popped now\n"
    "  --timeout MS   wait at most MS ms for each message (exit 4)\n"
    "  -0             end each message with NUL instead of newline\n"};
