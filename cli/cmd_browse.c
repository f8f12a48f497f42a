/* cmd_browse.c - peek, purge and remove: queued messages in place. */

#include <inttypes.h>
#include <stdlib.h>

#include "cli.h"

/* Most messages one peek asks for (the library lowers it to max_batch). */
#define PEEK_MAX 1024

/* Print the n peeked messages: each and a delimiter, or a JSON array. */
static void
peek_print(struct cli_ctx *x, cq_msg **msgs, size_t n, int delim)
{
	size_t i;

	if (x->json)
		fputs("[", stdout);
	for (i = 0; i < n; i++) {
		if (!x->json) {
			fwrite(cq_msg_data(msgs[i]), 1, cq_msg_len(msgs[i]),
			    stdout);
			putchar(delim);
			continue;
		}
		printf("%s\n  {\"id\": %" PRIu64 ", \"band\": %u, "
		       "\"deliveries\": %" PRIu32 ", \"enqueued_ns\": %" PRIu64
		       ", \"data\": ",
		    i ? "," : "", cq_msg_id(msgs[i]), cq_msg_band(msgs[i]),
		    cq_msg_deliveries(msgs[i]), cq_msg_enqueued_ns(msgs[i]));
		cli_json_bytes(
		    stdout, cq_msg_data(msgs[i]), cq_msg_len(msgs[i]));
		fputs("}", stdout);
	}
	if (x->json)
		fputs(n ? "\n]\n" : "]\n", stdout);
}

/* peek NAME [--count N] [-0]: print the next messages, leave them. */
static int
cmd_peek(struct cli_ctx *x, int argc, char **argv)
{
	struct cli_opt opts[] = {
	    {"--count", NULL, 1, 0, NULL},
	    {"--null", "-0", 0, 0, NULL},
	    {NULL, NULL, 0, 0, NULL},
	};
	cq_msg **msgs;
	char *name;
	cq_queue *q;
	cq_status st;
	int64_t count = 1;
	size_t n = 0, i;
	int k, rv;

	if ((rv = cli_parse(x, &cli_cmd_peek, argc, argv, opts, &name, 1, 1,
	         &k)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (opts[0].set && (rv = cli_int(x, "count", opts[0].arg, 1, PEEK_MAX,
	                        10, &count)) != 0)
		return rv;
	if ((rv = cli_open(x, name, &q)) != 0)
		return rv;
	if ((msgs = calloc((size_t)count, sizeof *msgs)) == NULL)
		return cli_fail(x, CQ_SYSTEM, name);
	st = cq_peek(q, msgs, (size_t)count, &n);
	/* Nothing queued: an empty array for --json, and the status. */
	if (st == CQ_OK || (x->json && (st == CQ_EMPTY || st == CQ_CLOSED)))
		peek_print(x, msgs, n, opts[1].set ? '\0' : '\n');
	for (i = 0; i < n; i++)
		cq_msg_free(msgs[i]);
	free(msgs);
	return st == CQ_OK ? CLI_EXIT_OK : cli_status(x, st, name);
}

/* purge NAME: drop every queued message; print how many. */
static int
cmd_purge(struct cli_ctx *x, int argc, char **argv)
{
	char *name;
	uint64_t count = 0;
	cq_status st;
	int n, rv;

	if ((rv = cli_parse(x, &cli_cmd_purge, argc, argv, NULL, &name, 1, 1,
	         &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if ((rv = cli_connect(x)) != 0)
		return rv;
	/* By name: the owner needs no read or write bit to purge. */
	if ((st = cq_purge_by_name(x->c, name, &count)) != CQ_OK)
		return cli_status(x, st, name);
	if (x->json)
		printf("{\"purged\": %" PRIu64 "}\n", count);
	else
		printf("%" PRIu64 "\n", count);
	return CLI_EXIT_OK;
}

/* remove NAME ID: drop one queued message by its id. */
static int
cmd_remove(struct cli_ctx *x, int argc, char **argv)
{
	char *ops[2];
	cq_queue *q;
	cq_status st;
	int64_t id;
	int n, rv;

	if ((rv = cli_parse(x, &cli_cmd_remove, argc, argv, NULL, ops, 2, 2,
	         &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if ((rv = cli_int(x, "message id", ops[1], 1, INT64_MAX, 10, &id)) != 0)
		return rv;
	if ((rv = cli_open(x, ops[0], &q)) != 0)
		return rv;
	st = cq_remove(q, (uint64_t)id);
	return st == CQ_OK ? CLI_EXIT_OK : cli_status(x, st, ops[0]);
}

const struct cli_cmd cli_cmd_peek = {"peek", cmd_peek,
    "usage: conqueue-cli peek NAME [--count N] [-0] [--json]\n"
    "Print the next message (or N, 1..1024) in the order pop would take\n"
    "them, each and a newline, and leave them in the queue. Exit 2 when\n"
    "nothing is queued, 3 when the queue is also closed.\n"
    "  --count N      show up to N messages\n"
    "  -0             end each message with NUL instead of newline\n"
    "  --json         an array of {id, band, deliveries, enqueued_ns, data}\n"};

const struct cli_cmd cli_cmd_purge = {"purge", cmd_purge,
    "usage: conqueue-cli purge NAME\n"
    "Drop every queued message of queue NAME at once (owner only) and\n"
    "print how many; popped or reserved ones are not touched.\n"};

const struct cli_cmd cli_cmd_remove = {"remove", cmd_remove,
    "usage: conqueue-cli remove NAME ID\n"
    "Drop the queued message ID (as reserve or peek --json print it);\n"
    "the others keep their order. Exit 1 if no queued message has it.\n"};
