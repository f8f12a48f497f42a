/* cmd_pop.c - pop one, N or all messages and print them exactly. */

#include <stdlib.h>

#include "cli.h"

/* Most messages asked for at once (the daemon's default max_batch; the
 * library lowers it to what the daemon announced). */
#define POP_BATCH 1024

/*
 * Print one message and its terminator. The library confirms a pop to the
 * daemon with the next request, so each batch is flushed before the next
 * call: everything confirmed has really been written. If output fails,
 * exit at once without disconnecting: the unconfirmed messages go back.
 */
static void
pop_print(const cq_msg *m, int delim)
{
	if (fwrite(cq_msg_data(m), 1, cq_msg_len(m), stdout) != cq_msg_len(m) ||
	    putchar(delim) == EOF)
		exit(CLI_EXIT_ERROR);
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
	size_t got, i, want;
	int n, rv, all, delim;

	if ((rv = cli_parse(x, &cli_cmd_pop, argc, argv, opts, &name, 1, 1,
	         &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_ERROR;
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
	for (;;) {
		want = POP_BATCH;
		if (!all && (uint64_t)(count - done) < want)
			want = (size_t)(count - done);
		st = cq_pop_many(q, msgs, want, &got, timeout);
		if (st != CQ_OK)
			break;
		for (i = 0; i < got; i++) {
			pop_print(msgs[i], delim);
			cq_msg_free(msgs[i]);
		}
		if (fflush(stdout) != 0)
			exit(CLI_EXIT_ERROR);
		done += (int64_t)got;
		if (!all && done >= count)
			return CLI_EXIT_OK;
	}
	if (all && st == CQ_CLOSED)
		return CLI_EXIT_OK;
	/* Empty, closed, timed out and busy speak through the exit status;
	 * only real errors get a message. */
	if (cli_exit_status(st) == CLI_EXIT_ERROR)
		return cli_fail(x, st, name);
	return cli_exit_status(st);
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
