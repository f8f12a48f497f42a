/* cmd_push.c - push arguments, or stdin lines/records as they arrive. */

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "cli.h"

/* Most messages and bytes in one push_many (well inside the frame limit). */
#define PUSH_BATCH     64
#define PUSH_BYTES     (1024 * 1024)
#define PUSH_READ_SIZE (64 * 1024)

/* How each message is pushed. */
struct push_how {
	unsigned band;
	int front;
	int64_t timeout_ms;
	uint32_t delay_ms; /* > 0: each message visible after this */
	uint32_t ttl_ms;   /* > 0: each message dropped if not popped in it */
};

/* Standard input, read in chunks and cut into records. */
struct push_in {
	char *buf;
	size_t off, len, cap; /* unconsumed bytes are buf[off..len) */
	int delim;
	int eof, error;
};

/* Push one message as asked. */
static cq_status
push_one(cq_queue *q, const struct push_how *h, const void *buf, size_t len)
{
	if (h->delay_ms > 0)
		return cq_push_delayed(
		    q, buf, len, h->band, h->delay_ms, h->timeout_ms);
	if (h->ttl_ms > 0)
		return cq_push_ttl(q, buf, len, h->band, h->ttl_ms, h->timeout_ms);
	if (h->front)
		return cq_push_front(q, buf, len, h->band, h->timeout_ms);
	return cq_push_band(q, buf, len, h->band, h->timeout_ms);
}

/*
 * Push n messages in order, as if one by one: first as one batch that
 * must fit at once (one round trip); if it does not (full, too big, a
 * limit), one at a time with the caller's timeout, so what fits goes in
 * and the status is that of the first message that did not. Pushes to
 * the front stay single (a batch would keep its order at the head), and
 * so do delayed and expiring ones (one message per push).
 */
static cq_status
push_some(cq_queue *q, const struct push_how *h, const void *const *bufs,
    const size_t *lens, size_t n, size_t *done)
{
	cq_status st;
	size_t i;

	if (n > 1 && !h->front && h->delay_ms == 0 && h->ttl_ms == 0 &&
	    cq_push_many(q, bufs, lens, n, h->band, CQ_NOWAIT) == CQ_OK) {
		*done += n;
		return CQ_OK;
	}
	for (i = 0, st = CQ_OK; i < n && st == CQ_OK; i++)
		if ((st = push_one(q, h, bufs[i], lens[i])) == CQ_OK)
			(*done)++;
	return st;
}

/* 1 if buf[off..len) holds a whole record (or the last one, at EOF). */
static int
push_has_record(const struct push_in *in)
{
	if (in->off < in->len &&
	    memchr(in->buf + in->off, in->delim, in->len - in->off) != NULL)
		return 1;
	return in->eof && in->off < in->len;
}

/* One read(2) of standard input into the buffer; 0 or -1 (EOF/error). */
static int
push_read(struct push_in *in)
{
	ssize_t got;
	char *n;

	if (in->off > 0) {
		memmove(in->buf, in->buf + in->off, in->len - in->off);
		in->len -= in->off;
		in->off = 0;
	}
	if (in->cap - in->len < PUSH_READ_SIZE) {
		if ((n = realloc(in->buf, in->cap + PUSH_READ_SIZE)) == NULL) {
			in->error = 1;
			return -1;
		}
		in->buf = n;
		in->cap += PUSH_READ_SIZE;
	}
	do
		got = read(STDIN_FILENO, in->buf + in->len, in->cap - in->len);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		in->error = 1;
	if (got <= 0) {
		in->eof = 1;
		return -1;
	}
	in->len += (size_t)got;
	return 0;
}

/*
 * Make records available: block only while no whole record is buffered,
 * then take whatever else stdin has right now (poll with no wait), so a
 * burst becomes one batch and a slow writer is never waited for.
 */
static void
push_fill(struct push_in *in)
{
	struct pollfd pfd;

	while (!in->eof && !push_has_record(in))
		push_read(in);
	while (!in->eof && in->len - in->off < PUSH_BYTES) {
		pfd.fd = STDIN_FILENO;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) <= 0 ||
		    (pfd.revents & (POLLIN | POLLHUP)) == 0)
			break;
		push_read(in);
	}
}

/* Push stdin's records in batches of what is already there. */
static cq_status
push_stdin(cq_queue *q, const struct push_how *h, int delim, int *read_error,
    size_t *done)
{
	const void *bufs[PUSH_BATCH];
	size_t lens[PUSH_BATCH], n, bytes;
	struct push_in in = {NULL, 0, 0, 0, delim, 0, 0};
	cq_status st = CQ_OK;
	char *p, *end;

	while (st == CQ_OK) {
		push_fill(&in);
		if (in.off == in.len)
			break;
		for (n = 0, bytes = 0; n < PUSH_BATCH && in.off < in.len &&
		                       (n == 0 || bytes < PUSH_BYTES);
		     n++) {
			p = in.buf + in.off;
			end = memchr(p, delim, in.len - in.off);
			if (end == NULL && !in.eof)
				break; /* a partial record: wait for the rest */
			bufs[n] = p;
			lens[n] =
			    end != NULL ? (size_t)(end - p) : in.len - in.off;
			in.off += lens[n] + (end != NULL);
			bytes += lens[n];
		}
		st = push_some(q, h, bufs, lens, n, done);
	}
	*read_error = in.error;
	free(in.buf);
	return st;
}

/*
 * push NAME [MESSAGE...]: each argument is one message; without any, each
 * stdin line (or NUL-terminated record with -0) is one, pushed as soon as
 * it is read (never waiting for more input first). Messages that are
 * already there go in batches of one round trip each.
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
	    {"--dedup-key", NULL, 1, 0, NULL},
	    {"--delay", NULL, 1, 0, NULL},
	    {"--ttl", NULL, 1, 0, NULL},
	    {NULL, NULL, 0, 0, NULL},
	};
	struct push_how h = {0, 0, CQ_FOREVER, 0, 0};
	const void *bufs[PUSH_BATCH];
	size_t lens[PUSH_BATCH], k, done = 0;
	char **operands;
	cq_queue *q;
	cq_status st = CQ_OK;
	int64_t v;
	int n, i, rv, delim, read_error = 0;

	if ((operands = calloc((size_t)argc, sizeof *operands)) == NULL)
		return CLI_EXIT_ERROR;
	rv = cli_parse(
	    x, &cli_cmd_push, argc, argv, opts, operands, 1, argc, &n);
	if (rv != CLI_PARSE_OK) {
		free(operands);
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
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
	if (rv == 0 && opts[6].set &&
	    (rv = cli_int(x, "delay", opts[6].arg, 0, UINT32_MAX, 10, &v)) ==
	        0)
		h.delay_ms = (uint32_t)v;
	if (rv == 0 && h.front && h.delay_ms > 0)
		rv = cli_usage_error(x, "--delay and --front cannot be combined");
	if (rv == 0 && opts[5].set && h.delay_ms > 0)
		rv = cli_usage_error(
		    x, "--delay and --dedup-key cannot be combined");
	if (rv == 0 && opts[7].set &&
	    (rv = cli_int(x, "ttl", opts[7].arg, 1, CQ_TTL_MAX, 10, &v)) == 0)
		h.ttl_ms = (uint32_t)v;
	if (rv == 0 && h.ttl_ms > 0 &&
	    (h.front || h.delay_ms > 0 || opts[5].set))
		rv = cli_usage_error(x, "--ttl cannot be combined with --front, "
		                        "--delay or --dedup-key");
	delim = opts[4].set ? '\0' : '\n';
	if (rv == 0 && opts[5].set && (n != 2 || h.front || h.band != 0))
		rv = cli_usage_error(x, "--dedup-key takes exactly one MESSAGE "
		                        "and neither --front nor --priority");
	if (rv == 0 && opts[5].set &&
	    (opts[5].arg[0] == '\0' || strlen(opts[5].arg) > CQ_DEDUP_KEY_MAX))
		rv = cli_usage_error(
		    x, "a dedup key is 1..%d bytes", CQ_DEDUP_KEY_MAX);
	if (rv == 0)
		rv = cli_open(x, operands[0], &q);
	if (rv != 0) {
		free(operands);
		return rv;
	}
	if (opts[5].set) {
		/* A key the queue saw within its window: OK, nothing added. */
		st = cq_push_dedup(q, opts[5].arg, strlen(opts[5].arg),
		    operands[1], strlen(operands[1]), h.timeout_ms);
		done += st == CQ_OK;
	} else if (n > 1) {
		for (i = 1; i < n && st == CQ_OK;) {
			for (k = 0; k < PUSH_BATCH && i < n; k++, i++) {
				bufs[k] = operands[i];
				lens[k] = strlen(operands[i]);
			}
			st = push_some(q, &h, bufs, lens, k, &done);
		}
	} else {
		st = push_stdin(q, &h, delim, &read_error, &done);
		if (st == CQ_OK && read_error) {
			fprintf(stderr, "conqueue-cli: push: error reading "
			                "standard input\n");
			rv = CLI_EXIT_ERROR;
		}
	}
	if (x->verbose && n > 1)
		fprintf(stderr, "conqueue-cli: pushed %zu of %d%s%s\n", done,
		    n - 1, st != CQ_OK ? ": " : "",
		    st != CQ_OK ? cq_strstatus(st) : "");
	else if (x->verbose)
		fprintf(stderr, "conqueue-cli: pushed %zu%s%s\n", done,
		    st != CQ_OK ? ": " : "",
		    st != CQ_OK ? cq_strstatus(st) : "");
	free(operands);
	if (st != CQ_OK)
		return cli_status(x, st, cq_queue_name(q));
	return rv;
}

const struct cli_cmd cli_cmd_push = {"push", cmd_push,
    "usage: conqueue-cli push NAME [MESSAGE...] [--try] [--timeout MS]\n"
    "                         [--front] [--priority P] [--delay MS]\n"
    "                         [--ttl MS] [-0]\n"
    "       conqueue-cli push NAME MESSAGE --dedup-key KEY [--try]\n"
    "                         [--timeout MS]\n"
    "Push each MESSAGE; with none, each line of standard input (read as\n"
    "it arrives) is one message.\n"
    "  --try          do not wait for room: exit 2 when full\n"
    "  --timeout MS   wait at most MS ms for room for each message\n"
    "  --front        push to the head of the band\n"
    "  --priority P   band P (0 lowest, default)\n"
    "  --delay MS     each message becomes visible MS ms after its push\n"
    "  --ttl MS       each message is dropped (or moved to NAME.dlq when\n"
    "                 it exists) if not popped within MS ms\n"
    "  -0             standard input holds NUL-terminated records\n"
    "  --dedup-key KEY  de-duplicate: if the queue (create --dedup-window)\n"
    "                 saw KEY within its window, succeed and add nothing\n"};
