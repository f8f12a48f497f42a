/* cmd_misc.c - ping and info: the daemon itself. */

#include "cli.h"

/* ping: exit 0 when the daemon answers. */
static int
cmd_ping(struct cli_ctx *x, int argc, char **argv)
{
	cq_status st;
	int n, rv;

	if ((rv = cli_parse(x, &cli_cmd_ping, argc, argv, NULL, NULL, 0, 0,
	         &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if ((rv = cli_connect(x)) != 0)
		return rv;
	st = cq_ping(x->c);
	return st == CQ_OK ? CLI_EXIT_OK : cli_fail(x, st, NULL);
}

/* info: the daemon's figures as "key: value" lines or a JSON object. */
static int
cmd_info(struct cli_ctx *x, int argc, char **argv)
{
	cq_daemon_info in;
	cq_queue *q = NULL;
	char *name = NULL;
	cq_status st;
	int n, rv;

	if ((rv = cli_parse(x, &cli_cmd_info, argc, argv, NULL, &name, 0, 1,
	         &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if ((rv = cli_connect(x)) != 0)
		return rv;
	if ((st = cq_info(x->c, &in)) != CQ_OK)
		return cli_fail(x, st, NULL);
	/* With a queue: which path a handle on it takes from here. */
	if (n == 1 && (st = cq_open(x->c, name, &q)) != CQ_OK)
		return cli_fail(x, st, name);
	if (q != NULL) {
		if (x->json) {
			fputs("{\n  \"queue\": ", stdout);
			cli_json_string(stdout, name);
			printf(",\n  \"direct\": %s,\n  \"daemon\": ",
			    cq_queue_direct(q) ? "true" : "false");
		} else
			printf("queue: %s\ndirect: %s\n", name,
			    cq_queue_direct(q) ? "true" : "false");
		cq_queue_free(q);
	}
	if (x->json) {
		fputs("{\n  \"version\": ", stdout);
		cli_json_string(stdout, in.version);
		printf(",\n  \"pid\": %u,\n  \"uptime_ms\": %llu,\n"
		       "  \"connections\": %u,\n  \"queues\": %u,\n"
		       "  \"total_ops\": %llu,\n  \"storage_bytes\": %llu,\n"
		       "  \"rss_bytes\": %llu\n}\n",
		    in.pid, (unsigned long long)in.uptime_ms, in.connections,
		    in.queues, (unsigned long long)in.total_ops,
		    (unsigned long long)in.storage_bytes,
		    (unsigned long long)in.rss_bytes);
		if (n == 1)
			fputs("}\n", stdout);
	} else {
		printf("version: %s\npid: %u\nuptime_ms: %llu\n"
		       "connections: %u\nqueues: %u\ntotal_ops: %llu\n"
		       "storage_bytes: %llu\nrss_bytes: %llu\n",
		    in.version, in.pid, (unsigned long long)in.uptime_ms,
		    in.connections, in.queues, (unsigned long long)in.total_ops,
		    (unsigned long long)in.storage_bytes,
		    (unsigned long long)in.rss_bytes);
	}
	return CLI_EXIT_OK;
}

const struct cli_cmd cli_cmd_ping = {"ping", cmd_ping,
    "usage: conqueue-cli ping\n"
    "Exit 0 when the daemon answers.\n"};

const struct cli_cmd cli_cmd_info = {"info", cmd_info,
    "usage: conqueue-cli [--json] info [NAME]\n"
    "Print the daemon's own figures (version, pid, uptime_ms, "
    "connections,\n"
    "queues, total_ops, storage_bytes, rss_bytes) as \"key: value\" lines\n"
    "(--json: one object). With NAME, first \"queue\" and \"direct\": whether\n"
    "a handle on that queue opened here uses the direct path (--json: the\n"
    "daemon's figures go under \"daemon\").\n"};
