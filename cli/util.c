/* util.c - option parsing, errors, exit statuses and JSON for the commands. */

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Print a usage error for the current command; returns the exit status. */
int
cli_usage_error(struct cli_ctx *x, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "conqueue-cli: %s%s", x->cmd ? x->cmd : "",
	    x->cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'conqueue-cli %s%s--help'.\n",
	    x->cmd ? x->cmd : "", x->cmd ? " " : "");
	return CLI_EXIT_USAGE;
}

/* A cq_durable's name as create --durable spells it ("no": none). */
static const char *
cli_durable_name(uint32_t d)
{
	return d == CQ_DURABLE_ALWAYS     ? "always"
	       : d == CQ_DURABLE_INTERVAL ? "interval"
	       : d == CQ_DURABLE_NEVER    ? "never"
	                                  : "no";
}

/*
 * Find the option named by arg ("--name", "--name=v" or its alias); an
 * option whose has_arg is 2 takes a value only as "--name=v".
 */
static struct cli_opt *
cli_find(struct cli_opt *opts, const char *arg, const char **inline_val)
{
	size_t n;

	*inline_val = NULL;
	for (; opts != NULL && opts->name != NULL; opts++) {
		if (opts->alias != NULL && strcmp(arg, opts->alias) == 0)
			return opts;
		n = strlen(opts->name);
		if (strncmp(arg, opts->name, n) != 0)
			continue;
		if (arg[n] == '\0')
			return opts;
		if (arg[n] == '=' && opts->has_arg) {
			*inline_val = arg + n + 1;
			return opts;
		}
	}
	return NULL;
}

/*
 * Parse a command's arguments: options may come before or after the
 * operands ("--" ends the options); the global -s/--socket, --json and
 * -h/--help are accepted here too. Operands go to operands[] (min..max).
 */
int
cli_parse(struct cli_ctx *x, const struct cli_cmd *cmd, int argc, char **argv,
    struct cli_opt *opts, char **operands, int min, int max, int *noperands)
{
	struct cli_opt *o;
	const char *val;
	int i, n = 0, dashdash = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (dashdash || a[0] != '-' || a[1] == '\0') {
			if (n >= max)
				return cli_usage_error(x, "too many operands"),
				       CLI_PARSE_ERROR;
			operands[n++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = 1;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(cmd->usage, stdout);
			return CLI_PARSE_HELP;
		}
		if (strcmp(a, "--json") == 0) {
			x->json = 1;
			continue;
		}
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			x->verbose = 1;
			continue;
		}
		if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
			if (++i >= argc)
				return cli_usage_error(
				           x, "%s needs a value", a),
				       CLI_PARSE_ERROR;
			x->socket = argv[i];
			continue;
		}
		if (strncmp(a, "--socket=", 9) == 0) {
			x->socket = a + 9;
			continue;
		}
		if ((o = cli_find(opts, a, &val)) == NULL)
			return cli_usage_error(x, "unknown option '%s'", a),
			       CLI_PARSE_ERROR;
		o->set = 1;
		if (o->has_arg == 1 && val == NULL) {
			if (++i >= argc)
				return cli_usage_error(
				           x, "%s needs a value", o->name),
				       CLI_PARSE_ERROR;
			val = argv[i];
		}
		o->arg = val;
	}
	if (n < min)
		return cli_usage_error(x, "missing operand"), CLI_PARSE_ERROR;
	*noperands = n;
	return CLI_PARSE_OK;
}

/* Parse an integer option value in [min, max]; 0 or an exit status. */
int
cli_int(struct cli_ctx *x, const char *what, const char *s, int64_t min,
    int64_t max, int base, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, base);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		if (base == 8)
			return cli_usage_error(x,
			    "bad %s '%s': must be %04llo to %04llo", what, s,
			    (long long)min, (long long)max);
		return cli_usage_error(x, "bad %s '%s': must be %lld to %lld",
		    what, s, (long long)min, (long long)max);
	}
	*out = v;
	return 0;
}

/*
 * Parse a byte count in [min, max]: digits, then optionally K, M or G
 * (KiB, MiB, GiB: powers of 1024; "KiB" and "k" are read too). 0 or an
 * exit status.
 */
int
cli_size(struct cli_ctx *x, const char *what, const char *s, uint64_t min,
    uint64_t max, uint64_t *out)
{
	static const char units[] = "KMG";
	const char *u;
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (s[0] < '0' || s[0] > '9') /* strtoull takes space and signs */
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		goto bad;
	if (*end != '\0') {
		u = strchr(units, end[0] == 'k' ? 'K' : end[0]);
		if (u == NULL || (end[1] != '\0' && strcmp(end + 1, "iB") != 0))
			goto bad;
		shift = 10 * (unsigned)(u - units + 1);
		if (v > (UINT64_MAX >> shift))
			goto bad;
		v <<= shift;
	}
	if (v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	return cli_usage_error(x,
	    "bad %s '%s': must be %llu to %llu bytes (K, M, G: KiB, MiB, GiB)",
	    what, s, (unsigned long long)min, (unsigned long long)max);
}

/* The exit status for a library status. */
int
cli_exit_status(cq_status st)
{
	switch (st) {
	case CQ_OK:
		return CLI_EXIT_OK;
	case CQ_EMPTY:
	case CQ_FULL:
		return CLI_EXIT_EMPTY;
	case CQ_CLOSED:
		return CLI_EXIT_CLOSED;
	case CQ_TIMEDOUT:
		return CLI_EXIT_TIMEDOUT;
	case CQ_BUSY:
		return CLI_EXIT_BUSY;
	default:
		return CLI_EXIT_ERROR;
	}
}

/*
 * Report a failed operation on stderr; returns its exit status. Empty,
 * full, closed, timed out and busy are answers (cli_status): whichever
 * command gets one, a script gets the status alone.
 */
int
cli_fail(struct cli_ctx *x, cq_status st, const char *what)
{
	const char *detail = x->c != NULL ? cq_client_error(x->c) : "";

	if (cli_exit_status(st) != CLI_EXIT_ERROR)
		return cli_status(x, st, what);

	if (detail[0] == '\0' || strcmp(detail, cq_strstatus(st)) == 0)
		fprintf(stderr, "conqueue-cli: %s: %s%s%s\n", x->cmd,
		    what ? what : "", what ? ": " : "", cq_strstatus(st));
	else
		fprintf(stderr, "conqueue-cli: %s: %s%s%s (%s)\n", x->cmd,
		    what ? what : "", what ? ": " : "", detail,
		    cq_status_name(st));
	return cli_exit_status(st);
}

/*
 * The exit status for st. Empty, full, closed, timed out and busy are
 * answers, not errors: scripts read them from the status alone, and a
 * person at a terminal gets one line saying which. Errors get cli_fail.
 */
int
cli_status(struct cli_ctx *x, cq_status st, const char *what)
{
	if (cli_exit_status(st) == CLI_EXIT_ERROR)
		return cli_fail(x, st, what);
	if (st != CQ_OK && isatty(STDERR_FILENO))
		fprintf(stderr, "conqueue-cli: %s: %s%s%s\n", x->cmd,
		    what ? what : "", what ? ": " : "", cq_strstatus(st));
	return cli_exit_status(st);
}

/* The system daemon's socket: cq_connect's fallback (DESIGN 2.4). */
#define CLI_SYSTEM_SOCKET "/run/conqueue/conqueued.sock"

/*
 * The sockets cq_connect tries for x: -s, or the default and then the
 * system socket when that differs and nothing named a socket. Returns
 * how many (1 or 2).
 */
static int
cli_connect_paths(struct cli_ctx *x, char (*paths)[512])
{
	const char *env = getenv("CONQUEUE_SOCKET");

	if (x->socket != NULL) {
		snprintf(paths[0], sizeof paths[0], "%s", x->socket);
		return 1;
	}
	if (cq_default_socket(paths[0], sizeof paths[0]) != CQ_OK)
		snprintf(paths[0], sizeof paths[0], "(the default)");
	if ((env != NULL && env[0] != '\0') || getuid() == 0 ||
	    strcmp(paths[0], CLI_SYSTEM_SOCKET) == 0)
		return 1;
	snprintf(paths[1], sizeof paths[1], "%s", CLI_SYSTEM_SOCKET);
	return 2;
}

/*
 * Connect to the daemon; 0 or an exit status. A failure names every
 * socket tried with its own reason (each is dialled again to learn it;
 * one that answers now is used) and, when nobody answered or we were
 * refused, the ways to reach a daemon.
 */
int
cli_connect(struct cli_ctx *x)
{
	char paths[2][512];
	cq_status st, st1;
	int i, n, err;

	st = cq_connect_named(&x->c, x->socket, "conqueue-cli");
	if (st == CQ_OK)
		return 0;
	err = errno;
	n = cli_connect_paths(x, paths);
	if (n == 1) {
		fprintf(stderr, "conqueue-cli: cannot connect to %s: %s%s%s\n",
		    paths[0], cq_strstatus(st),
		    st == CQ_SYSTEM || st == CQ_DISCONNECTED ? ": " : "",
		    st == CQ_SYSTEM || st == CQ_DISCONNECTED ? strerror(err)
		                                             : "");
	} else {
		fprintf(stderr, "conqueue-cli: cannot connect to the daemon\n");
		for (i = 0; i < n; i++) {
			st1 = cq_connect_named(&x->c, paths[i], "conqueue-cli");
			if (st1 == CQ_OK)
				return 0;
			fprintf(stderr, "  tried %s: %s\n", paths[i],
			    st1 == CQ_SYSTEM || st1 == CQ_DISCONNECTED ||
			            st1 == CQ_DENIED
			        ? strerror(errno)
			        : cq_strstatus(st1));
		}
	}
	if (st == CQ_DISCONNECTED || st == CQ_DENIED)
		fputs("To reach a daemon: start one (conqueued &, or systemctl "
		      "start conqueued.socket),\n"
		      "point at its socket (-s PATH or CONQUEUE_SOCKET=PATH), "
		      "or join the group\n"
		      "of the system socket (usermod -aG conqueue USER, then "
		      "log in again).\n",
		    stderr);
	return CLI_EXIT_ERROR;
}

/* Connect and open queue name; 0 or an exit status. */
int
cli_open(struct cli_ctx *x, const char *name, cq_queue **q)
{
	cq_status st;
	int rv;

	if ((rv = cli_connect(x)) != 0)
		return rv;
	if ((st = cq_open(x->c, name, q)) != CQ_OK)
		return cli_fail(x, st, name);
	return 0;
}

/* Write len bytes of s as a JSON string (NUL and controls escaped). */
void
cli_json_bytes(FILE *f, const void *s, size_t len)
{
	const unsigned char *p = s, *e = p + len;

	fputc('"', f);
	for (; p < e; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* Write s as a JSON string. */
void
cli_json_string(FILE *f, const char *s)
{
	cli_json_bytes(f, s, strlen(s));
}

/* Print a queue's stat as "key: value" lines or one JSON object. */
void
cli_stat_print(struct cli_ctx *x, const cq_queue_stat *st, int indent)
{
	const char *pad = indent ? "    " : "  ";
	const char *sep = x->json ? ",\n" : "\n";

	if (x->json) {
		printf("%s{\n%s\"name\": ", indent ? "  " : "", pad);
		cli_json_string(stdout, st->name);
		fputs(sep, stdout);
	} else {
		printf("name: %s\n", st->name);
	}
#define CLI_FIELD(key, fmt, val, last)                                         \
	do {                                                                   \
		if (x->json)                                                   \
			printf("%s\"%s\": " fmt "%s", pad, key, val,           \
			    last ? "\n" : sep);                                \
		else                                                           \
			printf("%s: " fmt "\n", key, val);                     \
	} while (0)
	CLI_FIELD("capacity", "%u", st->capacity, 0);
	CLI_FIELD("max_size", "%u", st->max_size, 0);
	CLI_FIELD("bands", "%u", st->bands, 0);
	if (x->json)
		CLI_FIELD("mode", "%u", st->mode, 0);
	else
		CLI_FIELD("mode", "%04o", st->mode, 0);
	CLI_FIELD("uid", "%lu", (unsigned long)st->uid, 0);
	CLI_FIELD("gid", "%lu", (unsigned long)st->gid, 0);
	CLI_FIELD("max_deliveries", "%u", st->max_deliveries, 0);
	CLI_FIELD("lease_ms", "%u", st->lease_ms, 0);
	CLI_FIELD("serial", "%s", st->serial ? "true" : "false", 0);
	CLI_FIELD("length", "%llu", (unsigned long long)st->length, 0);
	CLI_FIELD("in_flight", "%llu", (unsigned long long)st->in_flight, 0);
	CLI_FIELD("delayed", "%llu", (unsigned long long)st->delayed, 0);
	CLI_FIELD("waiting_poppers", "%u", st->waiting_poppers, 0);
	CLI_FIELD("waiting_pushers", "%u", st->waiting_pushers, 0);
	CLI_FIELD("closed", "%s", st->closed ? "true" : "false", 0);
	CLI_FIELD("paused", "%s", st->paused ? "true" : "false", 0);
	CLI_FIELD("pause_count", "%d", st->paused, 0);
	CLI_FIELD(
	    "total_pushed", "%llu", (unsigned long long)st->total_pushed, 0);
	CLI_FIELD(
	    "total_popped", "%llu", (unsigned long long)st->total_popped, 0);
	CLI_FIELD(
	    "dead_lettered", "%llu", (unsigned long long)st->dead_lettered, 0);
	CLI_FIELD(
	    "oldest_age_ms", "%llu", (unsigned long long)st->oldest_age_ms, 0);
	CLI_FIELD("corrupt_dropped", "%llu",
	    (unsigned long long)st->corrupt_dropped, 0);
	CLI_FIELD("quarantined", "%s", st->quarantined ? "true" : "false", 0);
	CLI_FIELD("no_direct", "%s", st->no_direct ? "true" : "false", 0);
	CLI_FIELD("dedup_window_ms", "%llu",
	    (unsigned long long)st->dedup_window_ms, 0);
	CLI_FIELD("dedup_keys", "%llu", (unsigned long long)st->dedup_keys, 0);
	CLI_FIELD("dedup_suppressed", "%llu",
	    (unsigned long long)st->dedup_suppressed, 0);
	CLI_FIELD("ttl_ms", "%llu", (unsigned long long)st->ttl_ms, 0);
	CLI_FIELD("expired", "%llu", (unsigned long long)st->expired, 0);
	if (x->json)
		CLI_FIELD("durable", "\"%s\"", cli_durable_name(st->durable), 0);
	else
		CLI_FIELD("durable", "%s", cli_durable_name(st->durable), 0);
	CLI_FIELD("sync_ms", "%u", st->sync_ms, 0);
	CLI_FIELD("log_bytes", "%llu", (unsigned long long)st->log_bytes, 0);
	CLI_FIELD("log_syncs", "%llu", (unsigned long long)st->log_syncs, 0);
	CLI_FIELD("bytes", "%llu", (unsigned long long)st->bytes, 0);
	CLI_FIELD("max_bytes", "%llu", (unsigned long long)st->max_bytes, 0);
	CLI_FIELD("resident_bytes", "%llu",
	    (unsigned long long)st->resident_bytes, 1);
#undef CLI_FIELD
	if (x->json)
		printf("%s}", indent ? "  " : "");
}
