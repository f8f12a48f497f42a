/* cmd_reserve.c - reserve, ack, release and touch (at-least-once). */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cli.h"

/*
 * reserve NAME [--timeout MS]: print "ID<TAB>MESSAGE\n". The reservation
 * is detached so that a later "ack NAME ID" from another process works.
 */
static int
cmd_reserve(struct cli_ctx *x, int argc, char **argv)
{
	struct cli_opt opts[] = {
	    {"--timeout", NULL, 1, 0, NULL},
	    {"--lease", NULL, 1, 0, NULL},
	    {NULL, NULL, 0, 0, NULL},
	};
	char *name;
	cq_queue *q;
	cq_msg *m;
	cq_status st;
	int64_t timeout = CQ_FOREVER, lease = 0;
	int n, rv;

	if ((rv = cli_parse(x, &cli_cmd_reserve, argc, argv, opts, &name, 1, 1,
	         &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (opts[0].set && (rv = cli_int(x, "timeout", opts[0].arg, -1,
	                        INT64_MAX, 10, &timeout)) != 0)
		return rv;
	if (opts[1].set && (rv = cli_int(x, "lease", opts[1].arg, 0, UINT32_MAX,
	                        10, &lease)) != 0)
		return rv;
	if ((rv = cli_open(x, name, &q)) != 0)
		return rv;
	st = cq_reserve_detached(q, &m, timeout, (uint32_t)lease);
	if (st != CQ_OK)
		return cli_status(x, st, name);
	printf("%" PRIu64 "\t", cq_msg_id(m));
	fwrite(cq_msg_data(m), 1, cq_msg_len(m), stdout);
	putchar('\n');
	if (fflush(stdout) == 0) {
		cq_msg_free(m);
		return CLI_EXIT_OK;
	}
	/* Nobody saw it: release it now rather than at lease expiry. */
	rv = errno == EPIPE ? CLI_EXIT_PIPE : CLI_EXIT_ERROR;
	if (rv == CLI_EXIT_ERROR)
		fprintf(stderr, "conqueue-cli: %s: cannot write: %s (the "
		                "message is released)\n",
		    x->cmd, strerror(errno));
	cq_release(q, cq_msg_id(m));
	cq_msg_free(m);
	return rv;
}

/* Run ack/release/touch on NAME ID (release --delay MS, touch --lease MS). */
static int
cmd_msgop(struct cli_ctx *x, const struct cli_cmd *cmd, int argc, char **argv,
    int which)
{
	struct cli_opt opts[] = {
	    {which == 1 ? "--delay" : "--lease", NULL, 1, 0, NULL},
	    {NULL, NULL, 0, 0, NULL},
	};
	char *ops[2];
	cq_queue *q;
	cq_status st;
	int64_t id, ms = 0;
	int n, rv;

	if ((rv = cli_parse(x, cmd, argc, argv, which != 0 ? opts : NULL, ops,
	         2, 2, &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if ((rv = cli_int(x, "message id", ops[1], 0, INT64_MAX, 10, &id)) != 0)
		return rv;
	if (which != 0 && opts[0].set &&
	    (rv = cli_int(x, which == 1 ? "delay" : "lease", opts[0].arg,
	         which == 1 ? 0 : 1, UINT32_MAX, 10, &ms)) != 0)
		return rv;
	if ((rv = cli_open(x, ops[0], &q)) != 0)
		return rv;
	if (which == 0)
		st = cq_ack(q, (uint64_t)id);
	else if (which == 1)
		st = cq_release_delayed(q, (uint64_t)id, (uint32_t)ms);
	else
		st = cq_touch(q, (uint64_t)id, (uint32_t)ms);
	return st == CQ_OK ? CLI_EXIT_OK : cli_fail(x, st, ops[0]);
}

/* ack NAME ID. */
static int
cmd_ack(struct cli_ctx *x, int argc, char **argv)
{
	return cmd_msgop(x, &cli_cmd_ack, argc, argv, 0);
}

/* release NAME ID. */
static int
cmd_release(struct cli_ctx *x, int argc, char **argv)
{
	return cmd_msgop(x, &cli_cmd_release, argc, argv, 1);
}

/* touch NAME ID. */
static int
cmd_touch(struct cli_ctx *x, int argc, char **argv)
{
	return cmd_msgop(x, &cli_cmd_touch, argc, argv, 2);
}

const struct cli_cmd cli_cmd_reserve = {"reserve", cmd_reserve,
    "usage: conqueue-cli reserve NAME [--timeout MS] [--lease MS]\n"
    "Reserve one message and print its id, a TAB, the message and a\n"
    "newline. It stays in flight until ack, release or lease expiry\n"
    "(--lease MS, default the queue's), even after this command exits.\n"
    "  --timeout MS   wait at most MS ms (exit 4); 0 tries (exit 2)\n"};

const struct cli_cmd cli_cmd_ack = {"ack", cmd_ack,
    "usage: conqueue-cli ack NAME ID\n"
    "Delete the reserved message ID of queue NAME.\n"};

const struct cli_cmd cli_cmd_release = {"release", cmd_release,
    "usage: conqueue-cli release NAME ID [--delay MS]\n"
    "Put the reserved message ID back at the head of its band, at once\n"
    "or (--delay) after MS ms; until then nobody may act on it.\n"};

const struct cli_cmd cli_cmd_touch = {"touch", cmd_touch,
    "usage: conqueue-cli touch NAME ID [--lease MS]\n"
    "Renew the lease of the reserved message ID: it now ends MS ms from\n"
    "now (default: the queue's lease).\n"};
