/* cmd_push.c - push arguments, or stdin lines/records as they arrive. */

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli.h"

/* How each message is pushed. */
struct push_how {
	unsigned band;
	int front;
	int64_t timeout_ms;
};

/* Push one message as asked. */
static cq_status
push_one(cq_queue *q, const struct push_how *h, const void *buf, size_t len)
{
	if (h->front)
		return cq_push_front(q, buf, len, h->band, h->timeout_ms);
	return cq_push_band(q, buf, len, h->band, h->timeout_ms);
}

/*
 * push NAME [MESSAGE...]: each argument is one message; without any, each
 * stdin line (or NUL-terminated record with -0) is one, pushed as soon as
 * it is read (never waiting for more input first).
 */
static int
cmd_push(struct cli_ctx *x, int argc, char **argv)
{
	struct cli_opt opts[] = {
	    {"--try", NULL, 0, 0, NULL},
	    {"--timeout", NULL, 1, 0, NULL},
	    {"--front", NULL, 0, 0, NULL},
	    {"--priority", NULL, 1, 0, NULL},
	    {"--null", "-0", 0, 0, NULL},
	    {NULL, NULL, 0, 0, NULL},
	};
	struct push_how h = {0, 0, CQ_FOREVER};
	char **operands, *line = NULL;
	size_t cap = 0;
	ssize_t len;
	cq_queue *q;
	cq_status st = CQ_OK;
	int64_t v;
	int n, i, rv, delim;

	if ((operands = calloc((size_t)argc, sizeof *operands)) == NULL)
		return CLI_EXIT_ERROR;
	rv = cli_parse(
	    x, &cli_cmd_push, argc, argv, opts, operands, 1, argc, &n);
	if (rv != CLI_PARSE_OK) {
		free(operands);
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_ERROR;
	}
	rv = 0;
	if (opts[1].set)
		rv = cli_int(x, "timeout", opts[1].arg, -1, INT64_MAX, 10,
		    &h.timeout_ms);
	if (rv == 0 && opts[0].set)
		h.timeout_ms = CQ_NOWAIT;
	if (rv == 0 && opts[3].set &&
	    (rv = cli_int(
	         x, "priority", opts[3].arg, 0, CQ_BANDS_MAX - 1, 10, &v)) == 0)
		h.band = (unsigned)v;
	h.front = opts[2].set;
	delim = opts[4].set ? '\0' : '\n';
	if (rv == 0)
		rv = cli_open(x, operands[0], &q);
	if (rv != 0) {
		free(operands);
		return rv;
	}
	if (n > 1) {
		for (i = 1; i < n && st == CQ_OK; i++)
			st = push_one(q, &h, operands[i], strlen(operands[i]));
	} else {
		/* getdelim returns each line as soon as it is complete. */
		while (st == CQ_OK &&
		       (len = getdelim(&line, &cap, delim, stdin)) >= 0) {
			if (len > 0 && line[len - 1] == delim)
				len--;
			st = push_one(q, &h, line, (size_t)len);
		}
		if (st == CQ_OK && ferror(stdin)) {
			fprintf(stderr, "conqueue-cli: push: error reading "
			                "standard input\n");
			rv = CLI_EXIT_ERROR;
		}
		free(line);
	}
	free(operands);
	/* Full, closed, timed out and busy speak through the exit status
	 * alone (as for pop); only real errors get a message. */
	if (st != CQ_OK && cli_exit_status(st) != CLI_EXIT_ERROR)
		return cli_exit_status(st);
	if (st != CQ_OK)
		return cli_fail(x, st, cq_queue_name(q));
	return rv;
}

const struct cli_cmd cli_cmd_push = {"push", cmd_push,
    "usage: conqueue-cli push NAME [MESSAGE...] [--try] [--timeout MS]\n"
    "                         [--front] [--priority P] [-0]\n"
    "Push each MESSAGE; with none, each line of standard input (read as\n"
    "it arrives) is one message.\n"
    "  --try          do not wait for room: exit 2 when full\n"
    "  --timeout MS   wait at most MS ms for room for each message\n"
    "  --front        push to the head of the band\n"
    "  --priority P   band P (0 lowest, default)\n"
    "  -0             standard input holds NUL-terminated records\n"};
