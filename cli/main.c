/* main.c - conqueue-cli: global options and the table of commands. */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct cli_cmd *const main_cmds[] = {
    &cli_cmd_ping,
    &cli_cmd_create,
    &cli_cmd_delete,
    &cli_cmd_list,
    &cli_cmd_stat,
    &cli_cmd_push,
    &cli_cmd_pop,
    &cli_cmd_peek,
    &cli_cmd_purge,
    &cli_cmd_remove,
    &cli_cmd_close,
    &cli_cmd_pause,
    &cli_cmd_resume,
    &cli_cmd_chmod,
    &cli_cmd_chown,
    &cli_cmd_reserve,
    &cli_cmd_ack,
    &cli_cmd_release,
    &cli_cmd_touch,
    &cli_cmd_info,
    &cli_cmd_metrics,
};

static const char main_usage[] =
    "usage: conqueue-cli [-s SOCKET] [--json] [-v] COMMAND [ARGS]\n"
    "       conqueue-cli help [COMMAND]   (or COMMAND --help)\n"
    "\n"
    "commands:\n"
    "  ping                       exit 0 when the daemon answers\n"
    "  create NAME [--capacity N] [--max-size BYTES] [--priorities N]\n"
    "              [--mode OCTAL] [--exist-ok] [--max-deliveries N]\n"
    "              [--serial] [--lease MS]\n"
    "  delete NAME\n"
    "  list [-l]                  -l: a table of depth, in flight, waiters,\n"
    "                             mode, owner and memory\n"
    "  stat NAME...\n"
    "  push NAME [MESSAGE...] [--try] [--timeout MS] [--front]\n"
    "            [--priority P] [-0]   (no MESSAGE: one per stdin line)\n"
    "  pop NAME... [--count N | --all] [--try] [--timeout MS] [-0]\n"
    "                             several names: the first with a message\n"
    "  peek NAME [--count N] [-0]  print the next messages, leave them\n"
    "  purge NAME                 drop every queued message (owner)\n"
    "  remove NAME ID             drop one queued message by its id\n"
    "  close NAME\n"
    "  pause NAME | resume NAME\n"
    "  chmod NAME OCTAL\n"
    "  chown NAME [UID|USER][:GID|:GROUP]\n"
    "  reserve NAME [--timeout MS] [--lease MS]   prints ID<TAB>MESSAGE\n"
    "  ack NAME ID | release NAME ID [--delay MS] |\n"
    "  touch NAME ID [--lease MS]\n"
    "  info                       the daemon's own figures\n"
    "  metrics [NAME...]          OpenMetrics text (node_exporter textfile)\n"
    "\n"
    "global options:\n"
    "  -s, --socket SOCKET        the daemon's socket ($CONQUEUE_SOCKET)\n"
    "  --json                     JSON output for stat, list, info, pop,\n"
    "                             peek and purge\n"
    "  -v, --verbose              a summary on stderr (pushed 10 of 20: ...)\n"
    "  -h, --help                 this text\n"
    "  -V, --version              the version\n"
    "\n"
    "exit status: 0 done, 1 error, 2 empty/full (--try), 3 closed,\n"
    "4 timed out, 5 busy, 6 output closed (the reader went away), 64 usage\n"
    "error\n";

/* The command called name, or NULL. */
static const struct cli_cmd *
main_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof main_cmds / sizeof main_cmds[0]; i++)
		if (strcmp(main_cmds[i]->name, name) == 0)
			return main_cmds[i];
	return NULL;
}

/* help [COMMAND]: the usage of one command, or of them all. */
static int
main_help(struct cli_ctx *x, int argc, char **argv)
{
	const struct cli_cmd *cmd;

	if (argc < 2) {
		fputs(main_usage, stdout);
		return CLI_EXIT_OK;
	}
	if (argc > 2)
		return cli_usage_error(x, "help takes one command");
	if ((cmd = main_find(argv[1])) == NULL)
		return cli_usage_error(x, "unknown command '%s'", argv[1]);
	fputs(cmd->usage, stdout);
	return CLI_EXIT_OK;
}

/* Parse the global options, run the command, disconnect. */
int
main(int argc, char **argv)
{
	struct cli_ctx x;
	const struct cli_cmd *cmd = NULL;
	int a, rv;

	memset(&x, 0, sizeof x);
	/*
	 * A reader that goes away (| head) makes writes fail with EPIPE
	 * instead of killing us (exit 141) before we can put back what it
	 * did not read: the commands exit CLI_EXIT_PIPE.
	 */
	signal(SIGPIPE, SIG_IGN);
	for (a = 1; a < argc && argv[a][0] == '-'; a++) {
		const char *o = argv[a];

		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
			fputs(main_usage, stdout);
			return CLI_EXIT_OK;
		} else if (strcmp(o, "-V") == 0 ||
		           strcmp(o, "--version") == 0) {
			printf("conqueue-cli %s\n", cq_version());
			return CLI_EXIT_OK;
		} else if (strcmp(o, "--json") == 0) {
			x.json = 1;
		} else if (strcmp(o, "-v") == 0 ||
		           strcmp(o, "--verbose") == 0) {
			x.verbose = 1;
		} else if (strcmp(o, "-s") == 0 || strcmp(o, "--socket") == 0) {
			if (++a >= argc)
				return cli_usage_error(
				    &x, "%s needs a value", o);
			x.socket = argv[a];
		} else if (strncmp(o, "--socket=", 9) == 0) {
			x.socket = o + 9;
		} else {
			return cli_usage_error(&x, "unknown option '%s'", o);
		}
	}
	if (a >= argc)
		return cli_usage_error(&x, "no command given");
	if (strcmp(argv[a], "help") == 0)
		return main_help(&x, argc - a, argv + a);
	if ((cmd = main_find(argv[a])) == NULL)
		return cli_usage_error(&x, "unknown command '%s'", argv[a]);
	x.cmd = cmd->name;
	rv = cmd->run(&x, argc - a, argv + a);
	/* Also sends the receipts of what was popped and written. */
	cq_disconnect(x.c);
	if (fflush(stdout) != 0 && rv == CLI_EXIT_OK)
		rv = errno == EPIPE ? CLI_EXIT_PIPE : CLI_EXIT_ERROR;
	return rv;
}
