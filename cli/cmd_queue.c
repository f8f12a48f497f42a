/*
 * cmd_queue.c - create, delete, list, stat, close, pause, resume, chmod
 * and chown.
 */

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/*
 * --durable's value (NULL: "interval"): always, never, interval or
 * interval=MS. 0 or an exit status.
 */
static int
cli_durable(struct cli_ctx *x, const char *s, cq_durable *policy,
    uint32_t *sync_ms)
{
	int64_t v;
	int rv;

	*sync_ms = 0;
	if (s == NULL || strcmp(s, "interval") == 0)
		*policy = CQ_DURABLE_INTERVAL;
	else if (strcmp(s, "always") == 0)
		*policy = CQ_DURABLE_ALWAYS;
	else if (strcmp(s, "never") == 0)
		*policy = CQ_DURABLE_NEVER;
	else if (strncmp(s, "interval=", 9) == 0) {
		if ((rv = cli_int(x, "durable interval", s + 9, 1,
		         CQ_DURABLE_SYNC_MS_MAX, 10, &v)) != 0)
			return rv;
		*policy = CQ_DURABLE_INTERVAL;
		*sync_ms = (uint32_t)v;
	} else
		return cli_usage_error(x,
		    "--durable is always, never, interval or interval=MS, "
		    "not '%s'",
		    s);
	return 0;
}

/*
 * create NAME [--capacity N] [--max-size B] [--priorities N] [--mode O]
 * [--exist-ok] [--max-deliveries N] [--serial] [--lease MS] [--no-direct]
 * [--dedup-window MS] [--ttl MS] [--durable[=POLICY]] [--max-bytes B].
 */
static int
cmd_create(struct cli_ctx *x, int argc, char **argv)
{
	struct cli_opt opts[] = {
	    {"--capacity", NULL, 1, 0, NULL},
	    {"--max-size", NULL, 1, 0, NULL},
	    {"--priorities", NULL, 1, 0, NULL},
	    {"--mode", NULL, 1, 0, NULL},
	    {"--exist-ok", NULL, 0, 0, NULL},
	    {"--max-deliveries", NULL, 1, 0, NULL},
	    {"--serial", NULL, 0, 0, NULL},
	    {"--lease", NULL, 1, 0, NULL},
	    {"--no-direct", NULL, 0, 0, NULL},
	    {"--dedup-window", NULL, 1, 0, NULL},
	    {"--ttl", NULL, 1, 0, NULL},
	    {"--durable", NULL, 2, 0, NULL},
	    {"--max-bytes", NULL, 1, 0, NULL},
	    {NULL, NULL, 0, 0, NULL},
	};
	cq_durable policy = CQ_DURABLE_NONE;
	uint32_t sync_ms = 0;
	uint64_t max_bytes = 0;
	cq_queue_attr attr;
	int64_t window = 0, ttl = 0;
	char *name;
	int64_t v;
	int n, rv;
	cq_status st;

	if ((rv = cli_parse(x, &cli_cmd_create, argc, argv, opts, &name, 1, 1,
	         &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	memset(&attr, 0, sizeof attr);
	attr.capacity = 1024;
	attr.max_size = 65536;
	attr.bands = 1;
	attr.mode = 0600;
	if (opts[0].set) {
		if ((rv = cli_int(x, "capacity", opts[0].arg, 1, UINT32_MAX, 10,
		         &v)) != 0)
			return rv;
		attr.capacity = (uint32_t)v;
	}
	if (opts[1].set) {
		if ((rv = cli_int(x, "max-size", opts[1].arg, 1, UINT32_MAX, 10,
		         &v)) != 0)
			return rv;
		attr.max_size = (uint32_t)v;
	}
	if (opts[2].set) {
		if ((rv = cli_int(x, "priorities", opts[2].arg, 1, CQ_BANDS_MAX,
		         10, &v)) != 0)
			return rv;
		attr.bands = (uint32_t)v;
	}
	if (opts[3].set) {
		if ((rv = cli_int(x, "mode", opts[3].arg, 0, 0777, 8, &v)) != 0)
			return rv;
		attr.mode = (uint32_t)v;
	}
	if (opts[5].set) {
		if ((rv = cli_int(x, "max-deliveries", opts[5].arg, 0,
		         UINT32_MAX, 10, &v)) != 0)
			return rv;
		attr.max_deliveries = (uint32_t)v;
	}
	attr.serial = opts[6].set;
	if (opts[7].set) {
		if ((rv = cli_int(
		         x, "lease", opts[7].arg, 1, UINT32_MAX, 10, &v)) != 0)
			return rv;
		attr.lease_ms = (uint32_t)v;
	}
	if (opts[9].set && (rv = cli_int(x, "dedup-window", opts[9].arg, 0,
	                        CQ_DEDUP_WINDOW_MAX, 10, &window)) != 0)
		return rv;
	if (opts[10].set &&
	    (rv = cli_int(x, "ttl", opts[10].arg, 0, CQ_TTL_MAX, 10, &ttl)) != 0)
		return rv;
	if (opts[11].set &&
	    (rv = cli_durable(x, opts[11].arg, &policy, &sync_ms)) != 0)
		return rv;
	/* At least one message of max_size fits; checked here so that a
	 * bad bound is a usage error like the other values. */
	if (opts[12].set &&
	    (rv = cli_size(x, "max-bytes", opts[12].arg, attr.max_size,
	         CQ_MAX_BYTES_MAX, &max_bytes)) != 0)
		return rv;
	if (!cq_name_valid(name, strlen(name)))
		return cli_usage_error(x, "invalid queue name '%s'", name);
	if ((rv = cli_connect(x)) != 0)
		return rv;
	st = cq_create_full(x->c, name, &attr,
	    opts[8].set ? CQ_CREATE_NO_DIRECT : 0, (uint64_t)window,
	    (uint64_t)ttl, policy, sync_ms, max_bytes);
	/* Mode 0 in the attributes means "the default": a queue nobody but
	 * an admin may use is made by a chmod right after. */
	if (st == CQ_OK && opts[3].set && attr.mode == 0)
		st = cq_chmod_by_name(x->c, name, 0);
	if (st == CQ_EXISTS && opts[4].set)
		st = CQ_OK;
	return st == CQ_OK ? CLI_EXIT_OK : cli_fail(x, st, name);
}

/*
 * Run an owner's no-result operation on one named queue, by name: an
 * owner who cleared its own mode bits can still close, pause or resume.
 */
static int
cmd_simple(struct cli_ctx *x, const struct cli_cmd *cmd, int argc, char **argv,
    cq_status (*fn)(cq_client *, const char *))
{
	char *name;
	int n, rv;
	cq_status st;

	if ((rv = cli_parse(x, cmd, argc, argv, NULL, &name, 1, 1, &n)) !=
	    CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if ((rv = cli_connect(x)) != 0)
		return rv;
	st = fn(x->c, name);
	return st == CQ_OK ? CLI_EXIT_OK : cli_fail(x, st, name);
}

/* delete NAME. */
static int
cmd_delete(struct cli_ctx *x, int argc, char **argv)
{
	char *name;
	int n, rv;
	cq_status st;

	if ((rv = cli_parse(x, &cli_cmd_delete, argc, argv, NULL, &name, 1, 1,
	         &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if ((rv = cli_connect(x)) != 0)
		return rv;
	st = cq_delete(x->c, name);
	return st == CQ_OK ? CLI_EXIT_OK : cli_fail(x, st, name);
}

/* close NAME. */
static int
cmd_close(struct cli_ctx *x, int argc, char **argv)
{
	return cmd_simple(x, &cli_cmd_close, argc, argv, cq_close_by_name);
}

/* pause NAME. */
static int
cmd_pause(struct cli_ctx *x, int argc, char **argv)
{
	return cmd_simple(x, &cli_cmd_pause, argc, argv, cq_pause_by_name);
}

/* resume NAME. */
static int
cmd_resume(struct cli_ctx *x, int argc, char **argv)
{
	return cmd_simple(x, &cli_cmd_resume, argc, argv, cq_resume_by_name);
}

/* chmod NAME OCTAL. */
static int
cmd_chmod(struct cli_ctx *x, int argc, char **argv)
{
	char *ops[2];
	int64_t mode;
	int n, rv;
	cq_status st;

	if ((rv = cli_parse(x, &cli_cmd_chmod, argc, argv, NULL, ops, 2, 2,
	         &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if ((rv = cli_int(x, "mode", ops[1], 0, 0777, 8, &mode)) != 0)
		return rv;
	if ((rv = cli_connect(x)) != 0)
		return rv;
	st = cq_chmod_by_name(x->c, ops[0], (uint32_t)mode);
	return st == CQ_OK ? CLI_EXIT_OK : cli_fail(x, st, ops[0]);
}

/*
 * A user or group for chown: all digits is the id itself (so ids without
 * a name work), else the name is looked up. 0 or CLI_EXIT_ERROR.
 */
static int
cmd_chown_id(struct cli_ctx *x, const char *s, int group, int64_t *id)
{
	struct passwd *pw;
	struct group *gr;

	if (s[strspn(s, "0123456789")] == '\0')
		return cli_int(x, group ? "group id" : "user id", s, 0,
		    (int64_t)UINT32_MAX - 1, 10, id);
	if (group && (gr = getgrnam(s)) != NULL) {
		*id = gr->gr_gid;
		return 0;
	}
	if (!group && (pw = getpwnam(s)) != NULL) {
		*id = pw->pw_uid;
		return 0;
	}
	return cli_usage_error(
	    x, "unknown %s '%s'", group ? "group" : "user", s);
}

/* chown NAME [UID|USER][:GID|:GROUP]. */
static int
cmd_chown(struct cli_ctx *x, int argc, char **argv)
{
	char *ops[2], *user, *colon;
	int64_t uid = -1, gid = -1;
	int n, rv;
	cq_status st;

	if ((rv = cli_parse(x, &cli_cmd_chown, argc, argv, NULL, ops, 2, 2,
	         &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	user = ops[1];
	colon = strchr(user, ':');
	/* "", ":" and "USER:" (chown(1)'s login group) name nothing here. */
	if (colon != NULL && colon[1] == '\0')
		return cli_usage_error(x, "no group after ':' in '%s'", user);
	if (colon == NULL && *user == '\0')
		return cli_usage_error(x, "no user or group given");
	if (colon != NULL) {
		*colon = '\0';
		if ((rv = cmd_chown_id(x, colon + 1, 1, &gid)) != 0)
			return rv;
	}
	if (*user != '\0' && (rv = cmd_chown_id(x, user, 0, &uid)) != 0)
		return rv;
	if ((rv = cli_connect(x)) != 0)
		return rv;
	st = cq_chown_by_name(x->c, ops[0], uid, gid);
	return st == CQ_OK ? CLI_EXIT_OK : cli_fail(x, st, ops[0]);
}

/*
 * stat NAME...: "key: value" lines (a blank line between queues) or JSON
 * (an object for one name, an array for several). A name that fails is
 * reported and skipped; the exit status is that of the first failure.
 */
static int
cmd_stat(struct cli_ctx *x, int argc, char **argv)
{
	cq_queue_stat st;
	char **names;
	int i, n, rv, first = 1, status = CLI_EXIT_OK;
	cq_status s;

	if ((names = calloc((size_t)argc, sizeof *names)) == NULL)
		return CLI_EXIT_ERROR;
	if ((rv = cli_parse(x, &cli_cmd_stat, argc, argv, NULL, names, 1, argc,
	         &n)) != CLI_PARSE_OK) {
		free(names);
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	if ((rv = cli_connect(x)) != 0) {
		free(names);
		return rv;
	}
	if (x->json && n > 1)
		fputs("[", stdout);
	for (i = 0; i < n; i++) {
		/* By name: read access is enough, and a quarantined queue
		 * shows (cq_open would answer CQ_CORRUPT). */
		s = cq_stat_by_name(x->c, names[i], &st, sizeof st);
		if (s != CQ_OK) {
			rv = cli_fail(x, s, names[i]);
			if (status == CLI_EXIT_OK)
				status = rv;
			continue;
		}
		if (x->json && n > 1)
			fputs(first ? "\n" : ",\n", stdout);
		else if (!first)
			putchar('\n');
		first = 0;
		cli_stat_print(x, &st, x->json && n > 1);
		if (x->json && n == 1)
			putchar('\n');
	}
	if (x->json && n > 1)
		fputs(first ? "]\n" : "\n]\n", stdout);
	free(names);
	return status;
}

/* Bytes as a short human figure: 512, 64K, 1.5M, 2G. */
static void
cmd_list_size(char *buf, size_t len, uint64_t v)
{
	static const char units[] = "KMGT";
	double d = (double)v;
	int u = -1;

	while (d >= 1024 && u < 3) {
		d /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else if (d < 10 && d != (double)(uint64_t)d)
		snprintf(buf, len, "%.1f%c", d, units[u]);
	else
		snprintf(buf, len, "%.0f%c", d, units[u]);
}

/* One row of list -l. */
static void
cmd_list_row(const cq_queue_stat *st)
{
	struct passwd *pw = getpwuid(st->uid);
	char owner[32], mem[32], waiters[24];

	if (pw != NULL)
		snprintf(owner, sizeof owner, "%s", pw->pw_name);
	else
		snprintf(owner, sizeof owner, "%lu", (unsigned long)st->uid);
	/* What the queue holds in memory now; a daemon before max_bytes
	 * reserved every slot. */
	cmd_list_size(mem, sizeof mem,
	    st->max_bytes != 0 ? st->resident_bytes
	                       : (uint64_t)st->capacity * st->max_size);
	snprintf(waiters, sizeof waiters, "%u/%u", st->waiting_poppers,
	    st->waiting_pushers);
	printf("%-20s %8llu %8u %9llu %9s %04o %-10s %7s%s%s%s", st->name,
	    (unsigned long long)st->length, st->capacity,
	    (unsigned long long)st->in_flight, waiters, st->mode, owner, mem,
	    st->quarantined ? " quarantined" : "", st->closed ? " closed" : "",
	    st->paused ? " paused" : "");
	if (st->corrupt_dropped != 0)
		printf(" corrupt_dropped=%llu",
		    (unsigned long long)st->corrupt_dropped);
	putchar('\n');
}

/* list [-l]: one name a line, a table, or a JSON array of stat objects. */
static int
cmd_list(struct cli_ctx *x, int argc, char **argv)
{
	struct cli_opt opts[] = {
	    {"--long", "-l", 0, 0, NULL},
	    {NULL, NULL, 0, 0, NULL},
	};
	cq_queue_stat st;
	char **names;
	size_t count, i;
	int n, rv, first = 1, detail;
	cq_status s;

	if ((rv = cli_parse(x, &cli_cmd_list, argc, argv, opts, NULL, 0, 0,
	         &n)) != CLI_PARSE_OK)
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	detail = x->json || opts[0].set;
	if ((rv = cli_connect(x)) != 0)
		return rv;
	if ((s = cq_list(x->c, &names, &count)) != CQ_OK)
		return cli_fail(x, s, NULL);
	if (x->json)
		fputs("[", stdout);
	else if (detail)
		printf("%-20s %8s %8s %9s %9s %-4s %-10s %7s\n", "NAME",
		    "DEPTH", "CAPACITY", "IN-FLIGHT", "WAITERS", "MODE",
		    "OWNER", "MEMORY");
	for (i = 0; i < count; i++) {
		if (!detail) {
			printf("%s\n", names[i]);
			continue;
		}
		/* A queue deleted meanwhile is simply left out. */
		if (cq_stat_by_name(x->c, names[i], &st, sizeof st) != CQ_OK)
			continue;
		if (!x->json) {
			cmd_list_row(&st);
			continue;
		}
		fputs(first ? "\n" : ",\n", stdout);
		first = 0;
		cli_stat_print(x, &st, 1);
	}
	if (x->json)
		fputs(first ? "]\n" : "\n]\n", stdout);
	cq_list_free(names);
	return CLI_EXIT_OK;
}

const struct cli_cmd cli_cmd_create = {"create", cmd_create,
    "usage: conqueue-cli create NAME [--capacity N] [--max-size BYTES]\n"
    "                           [--priorities N] [--mode OCTAL] "
    "[--exist-ok]\n"
    "                           [--max-deliveries N] [--serial] "
    "[--lease MS]\n"
    "                           [--no-direct] [--dedup-window MS]\n"
    "                           [--ttl MS] [--durable[=POLICY]]\n"
    "                           [--max-bytes BYTES]\n"
    "Create queue NAME (1-64 bytes of [A-Za-z0-9._-], not starting "
    "with '.').\n"
    "  --capacity N         most messages (default 1024)\n"
    "  --max-size BYTES     largest message (default 65536)\n"
    "  --priorities N       priority bands 1..8 (default 1)\n"
    "  --mode OCTAL         permission bits 0000..0777 (default 0600)\n"
    "  --exist-ok           an existing queue is not an error\n"
    "  --max-deliveries N   move a message delivered N times to "
    "NAME.dlq\n"
    "                       (0: never, the default; NAME at most 60 "
    "bytes)\n"
    "  --serial             hand out one message at a time: the next "
    "only\n"
    "                       after the previous is acked or released\n"
    "  --lease MS           default reserve lease (default 30000)\n"
    "  --no-direct          never hand the queue to a client to map: every\n"
    "                       operation goes through the daemon\n"
    "  --dedup-window MS    pushes with a --dedup-key seen within MS ms\n"
    "                       add nothing (0: off, the default; at most\n"
    "                       a day)\n"
    "  --ttl MS             drop a message not popped within MS ms of\n"
    "                       becoming visible, or move it to NAME.dlq when\n"
    "                       that queue exists (0: never, the default)\n"
    "  --durable[=POLICY]   keep the queue on disk across reboots: "
    "POLICY\n"
    "                       always (a push or pop returns once synced),\n"
    "                       interval[=MS] (the default; at most MS ms,\n"
    "                       default 1000, lost on a power cut) or never\n"
    "                       (written, never synced)\n"
    "  --max-bytes BYTES    most payload bytes held, queued, in flight\n"
    "                       and delayed (K, M, G: KiB, MiB, GiB; from\n"
    "                       --max-size to 64G; default 512K, at least\n"
    "                       --max-size); a push past it finds the queue\n"
    "                       full\n"};

const struct cli_cmd cli_cmd_delete = {"delete", cmd_delete,
    "usage: conqueue-cli delete NAME\n"
    "Close queue NAME (waking every waiter) and remove it.\n"};

const struct cli_cmd cli_cmd_list = {"list", cmd_list,
    "usage: conqueue-cli [--json] list [-l]\n"
    "Print the names of the queues you may read, one a line\n"
    "(--json: an array of objects with the fields of stat).\n"
    "  -l, --long   a table: depth, capacity, in flight, waiters\n"
    "               (poppers/pushers), mode, owner and memory\n"
    "               (capacity x max-size), then quarantined/closed/\n"
    "               paused and corrupt_dropped=N when they apply\n"};

const struct cli_cmd cli_cmd_stat = {"stat", cmd_stat,
    "usage: conqueue-cli [--json] stat NAME...\n"
    "Print the attributes, state and counters of each queue as\n"
    "\"key: value\" lines, a blank line between queues (--json: one\n"
    "object, or an array of them for several names).\n"};

const struct cli_cmd cli_cmd_close = {"close", cmd_close,
    "usage: conqueue-cli close NAME\n"
    "Close queue NAME: pushes fail, pops drain what is queued, then "
    "fail.\n"};

const struct cli_cmd cli_cmd_pause = {"pause", cmd_pause,
    "usage: conqueue-cli pause NAME\n"
    "Suspend deliveries of queue NAME: pops wait, pushes still go in.\n"
    "Counted: each pause needs its own resume (stat: pause_count).\n"};

const struct cli_cmd cli_cmd_resume = {"resume", cmd_resume,
    "usage: conqueue-cli resume NAME\n"
    "Take one pause of queue NAME back; it delivers again when none is\n"
    "left.\n"};

const struct cli_cmd cli_cmd_chmod = {"chmod", cmd_chmod,
    "usage: conqueue-cli chmod NAME OCTAL\n"
    "Set the permission bits of queue NAME (0..0777: read = pop, reserve,\n"
    "stat; write = push). Only its owner or an admin may.\n"};

const struct cli_cmd cli_cmd_chown = {"chown", cmd_chown,
    "usage: conqueue-cli chown NAME [UID|USER][:GID|:GROUP]\n"
    "Give queue NAME to another owner and/or group (numbers or names).\n"
    "A new owner is for an admin only (root or the daemon's user); the\n"
    "owner may set a group it belongs to. The queue's count and storage\n"
    "move to the new owner's limits. NAME.dlq keeps its owner.\n"};
