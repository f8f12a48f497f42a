/* cli.h - shared pieces of conqueue-cli: commands, options, output. */

#ifndef CQ_CLI_H
#define CQ_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <conqueue/conqueue.h>

/* Exit statuses (conqueue-cli(1), DESIGN 3). */
#define CLI_EXIT_OK       0
#define CLI_EXIT_ERROR    1
#define CLI_EXIT_EMPTY    2 /* or full */
#define CLI_EXIT_CLOSED   3
#define CLI_EXIT_TIMEDOUT 4
#define CLI_EXIT_BUSY     5
#define CLI_EXIT_PIPE     6  /* the output was closed (EPIPE): reader gone */
#define CLI_EXIT_USAGE    64 /* a bad command line: sysexits EX_USAGE */

/* What every command gets: global options and the connection. */
struct cli_ctx {
	const char *cmd;    /* command name, for messages */
	const char *socket; /* -s, or NULL for the default */
	int json;           /* --json */
	int verbose;        /* -v: a summary line on stderr */
	cq_client *c;       /* after cli_connect */
};

/* A subcommand: its name, entry point and usage text. */
struct cli_cmd {
	const char *name;
	int (*run)(struct cli_ctx *x, int argc, char **argv);
	const char *usage;
};

/* An option of a command; cli_parse fills set and arg. */
struct cli_opt {
	const char *name;  /* "--count" */
	const char *alias; /* "-0", or NULL */
	int has_arg;
	int set;
	const char *arg;
};

/* Results of cli_parse. */
#define CLI_PARSE_OK    0
#define CLI_PARSE_HELP  1  /* usage printed: exit 0 */
#define CLI_PARSE_ERROR -1 /* message printed: exit CLI_EXIT_USAGE */

int cli_parse(struct cli_ctx *x, const struct cli_cmd *cmd, int argc,
    char **argv, struct cli_opt *opts, char **operands, int min, int max,
    int *noperands);
int cli_int(struct cli_ctx *x, const char *what, const char *s, int64_t min,
    int64_t max, int base, int64_t *out);
int cli_size(struct cli_ctx *x, const char *what, const char *s, uint64_t min,
    uint64_t max, uint64_t *out);
int cli_usage_error(struct cli_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int cli_exit_status(cq_status st);
int cli_fail(struct cli_ctx *x, cq_status st, const char *what);
int cli_status(struct cli_ctx *x, cq_status st, const char *what);
int cli_connect(struct cli_ctx *x);
int cli_open(struct cli_ctx *x, const char *name, cq_queue **q);
void cli_json_string(FILE *f, const char *s);
void cli_json_bytes(FILE *f, const void *s, size_t len);
void cli_stat_print(struct cli_ctx *x, const cq_queue_stat *st, int indent);

/* The command families (cmd_*.c). */
extern const struct cli_cmd cli_cmd_create, cli_cmd_delete, cli_cmd_list,
    cli_cmd_stat, cli_cmd_close, cli_cmd_pause, cli_cmd_resume;
extern const struct cli_cmd cli_cmd_chmod, cli_cmd_chown;
extern const struct cli_cmd cli_cmd_push;
extern const struct cli_cmd cli_cmd_pop;
extern const struct cli_cmd cli_cmd_reserve, cli_cmd_ack, cli_cmd_release,
    cli_cmd_touch;
extern const struct cli_cmd cli_cmd_ping, cli_cmd_info, cli_cmd_metrics;
extern const struct cli_cmd cli_cmd_peek, cli_cmd_purge, cli_cmd_remove;

#endif /* CQ_CLI_H */
