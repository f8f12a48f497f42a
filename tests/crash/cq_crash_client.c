/* cq_crash_client.c - a crash-harness client that logs every op. */

/*
 * Roles (argv[1]):
 *   producer  push bodies {producer id, sequence, checksum} 0..count-1
 *             (-b N: push_many of N at a time)
 *   consumer  pop (or reserve + ack) until the queue is closed and drained
 *             (-b N: pop_many of up to N at a time; -C N: every N-th pop
 *             is async and cancelled at once; -H N: every N-th reservation
 *             is never acked, so it comes back at lease expiry; -P US:
 *             hold each delivery US microseconds before going on)
 *   create    create the queue (CQ_EXISTS is fine)
 *   close     close the queue
 *   delete    delete the queue
 *   stat      print "length in_flight closed total_pushed total_popped"
 *   browse    push four messages, peek them, remove the second by id,
 *             purge the rest (a scratch queue: reaches the purge.* and
 *             remove.* crash sites; nothing is logged)
 * -X N makes a consumer drop every N-th message without logging it: a
 * deliberately broken consumer, to show that the checker catches a loss.
 *
 * The log is the history the checker reads (Jepsen's total-queue model).
 * The lines of an op are written with one write(2) before it is invoked
 * and one after it completes (a batch logs one line per message), so a
 * SIGKILL loses nothing the process was told:
 *   S <t> <role> <id> <pid>                     an incarnation starts
 *   I <t> push <seq>                            push invoked
 *   O <t> push <seq>                            push acknowledged
 *   F <t> push <seq> <status>                   definite failure
 *   U <t> push <seq> <status>                   unknown: may have happened
 *   I <t> pop|reserve <op>                      pop invoked
 *   O <t> pop|reserve <op> <msgid> <deliveries> <producer> <seq> <valid>
 *                                               (one per message of the op)
 *   F <t> pop|reserve <op> <status>             a reply without message
 *   U <t> pop|reserve <op> <status>             connection lost
 *   I|O <t> ack <op> <msgid>, F|U <t> ack <op> <msgid> <status>
 *   E <t> exit <code>                           clean end
 * <t> is CLOCK_MONOTONIC in ns, comparable between the processes of one
 * host; numbers are zero-padded so that a producer's line pair has a fixed
 * size and the driver can measure progress from file sizes alone.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "conqueue/conqueue.h"

#define CC_BODY_MAX       4096
#define CC_BATCH_MAX      64          /* messages per push_many / pop_many */
#define CC_BACKOFF_MAX_NS 20000000ULL /* 20 ms between reconnect attempts */

enum cc_role {
	CC_PRODUCER,
	CC_CONSUMER,
	CC_CREATE,
	CC_CLOSE,
	CC_DELETE,
	CC_STAT,
	CC_BROWSE,
};

/* Options and the connection of this process. */
struct cc {
	enum cc_role role;
	const char *sock;
	const char *qname;
	const char *logpath;
	const char *stopfile;
	unsigned id;
	uint64_t count;
	size_t size;
	int reserve;
	int64_t timeout_ms;
	uint32_t lease_ms;
	uint32_t capacity;
	int64_t reconnect_ms;
	uint64_t pace_us;    /* producer: pause between pushes */
	size_t batch;        /* push_many / pop_many of up to this many */
	uint64_t lose_every; /* self-test: forget every n-th delivery */
	uint64_t ndeliv;
	uint64_t cancel_every;  /* pop async and cancel every n-th pop */
	uint64_t abandon_every; /* never ack every n-th reservation */
	uint64_t nreserved;
	uint64_t work_us; /* consumer: "processing" time per delivery */
	int logfd;
	cq_client *c;
	cq_queue *q;
	uint64_t opno;
};

/* Exit status of this program when the daemon cannot be reached in time. */
#define CC_EXIT_ERROR    1
#define CC_EXIT_NODAEMON 3

/* Print a message and exit with an error. */
static void __attribute__((noreturn, format(printf, 1, 2)))
cc_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cq_crash_client[%ld]: ", (long)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(CC_EXIT_ERROR);
}

/* Log lines collected for one write(2): all lines of one op event. */
struct cc_lines {
	char buf[CC_BATCH_MAX * 96 + 256];
	size_t len;
};

/* Append a line stamped with the monotonic clock to l. */
static void __attribute__((format(printf, 3, 0)))
cc_vadd(struct cc_lines *l, char type, const char *fmt, va_list ap)
{
	size_t room = sizeof l->buf - l->len;
	int n, m;

	n = snprintf(
	    l->buf + l->len, room, "%c %020" PRIu64 " ", type, time_mono_ns());
	if (n < 0 || (size_t)n >= room)
		cc_die("log lines too long");
	m = vsnprintf(l->buf + l->len + n, room - (size_t)n, fmt, ap);
	if (m < 0 || (size_t)(n + m) + 1 >= room)
		cc_die("log lines too long");
	l->len += (size_t)(n + m);
	l->buf[l->len++] = '\n';
}

/* Append a line to l. */
static void __attribute__((format(printf, 3, 4)))
cc_add(struct cc_lines *l, char type, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cc_vadd(l, type, fmt, ap);
	va_end(ap);
}

/*
 * Write l with one write(2): O_APPEND keeps the lines whole and together
 * even across incarnations, and a SIGKILL loses all of them or none.
 */
static void
cc_flush(struct cc *cc, struct cc_lines *l)
{
	ssize_t w;

	if (cc->logfd >= 0 && l->len > 0) {
		w = write(cc->logfd, l->buf, l->len);
		if (w < 0 || (size_t)w != l->len)
			cc_die("write %s: %s", cc->logpath, strerror(errno));
	}
	l->len = 0;
}

/* Append one line to the log with a single write(2). */
static void __attribute__((format(printf, 3, 4)))
cc_log(struct cc *cc, char type, const char *fmt, ...)
{
	struct cc_lines l;
	va_list ap;

	l.len = 0;
	va_start(ap, fmt);
	cc_vadd(&l, type, fmt, ap);
	va_end(ap);
	cc_flush(cc, &l);
}

/* Sleep ns nanoseconds (the back-off between reconnect attempts). */
static void
cc_nap(uint64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Drop the connection (and the queue handle it owns). */
static void
cc_drop(struct cc *cc)
{
	if (cc->c != NULL)
		cq_disconnect(cc->c);
	cc->c = NULL;
	cc->q = NULL;
}

/*
 * Connect and open the queue, retrying until the daemon is back: it may be
 * restarting after a SIGKILL. NOTFOUND is retried too, so that a daemon
 * answering before it reattached its queues shows up as a hang in the
 * report rather than as a client error. Returns the last status.
 */
static cq_status
cc_connect(struct cc *cc, int open_queue)
{
	uint64_t deadline = time_deadline_ns(cc->reconnect_ms);
	uint64_t nap = 1000000u;
	char name[64];
	cq_status st;

	snprintf(name, sizeof name, "crash-%s-%u",
	    cc->role == CC_PRODUCER ? "p" : "c", cc->id);
	for (;;) {
		cc_drop(cc);
		st = cq_connect_named(&cc->c, cc->sock, name);
		if (st == CQ_OK && open_queue) {
			st = cq_open(cc->c, cc->qname, &cc->q);
			/*
			 * CQ_BUSY: the daemon found the queue's lock held
			 * (a direct client's op, or one killed holding it)
			 * and does not wait for it: try again.
			 */
			if (st != CQ_OK && st != CQ_DISCONNECTED &&
			    st != CQ_NOTFOUND && st != CQ_BUSY)
				cc_die("open %s: %s (%s)", cc->qname,
				    cq_status_name(st), cq_client_error(cc->c));
		}
		if (st == CQ_OK)
			return CQ_OK;
		if (st != CQ_SYSTEM && st != CQ_DISCONNECTED &&
		    st != CQ_NOTFOUND && st != CQ_PROTOCOL && st != CQ_BUSY)
			cc_die("connect %s: %s", cc->sock, cq_status_name(st));
		if (time_mono_ns() >= deadline)
			return st;
		cc_nap(nap);
		if (nap < CC_BACKOFF_MAX_NS)
			nap *= 2;
	}
}

/* Connect or exit: for roles that cannot do anything without the daemon. */
static void
cc_connect_or_exit(struct cc *cc, int open_queue)
{
	cq_status st = cc_connect(cc, open_queue);

	if (st == CQ_OK)
		return;
	fprintf(stderr,
	    "cq_crash_client[%ld]: no daemon at %s within %" PRId64 " ms: %s\n",
	    (long)getpid(), cc->sock, cc->reconnect_ms, cq_status_name(st));
	cc_log(cc, 'E', "exit %d", CC_EXIT_NODAEMON);
	exit(CC_EXIT_NODAEMON);
}

/*
 * Build the body of (producer, seq): "P:S:" then filler up to size - 9,
 * then ":" and the CRC-32C of all before it in hex. Returns the length.
 */
static size_t
cc_body(char *buf, size_t size, unsigned producer, uint64_t seq)
{
	size_t n, i;
	uint32_t crc;

	n = (size_t)snprintf(
	    buf, CC_BODY_MAX, "%u:%" PRIu64 ":", producer, seq);
	for (i = 0; n + 9 < size && n < CC_BODY_MAX - 10; i++)
		buf[n++] = (char)('a' + (seq + i) % 26);
	crc = crc32c(0, buf, n);
	n += (size_t)snprintf(buf + n, CC_BODY_MAX - n, ":%08x", crc);
	return n;
}

/*
 * Parse a body: 1 with *producer and *seq set if the checksum matches,
 * else 0 (the checker counts that message as unexpected).
 */
static int
cc_parse(const void *data, size_t len, unsigned *producer, uint64_t *seq)
{
	char buf[CC_BODY_MAX + 1], *end;
	unsigned long p;
	unsigned long long s;
	unsigned long crc;

	*producer = UINT32_MAX;
	*seq = UINT64_MAX;
	if (len < 13 || len > CC_BODY_MAX)
		return 0;
	memcpy(buf, data, len);
	buf[len] = '\0';
	if (buf[len - 9] != ':')
		return 0;
	crc = strtoul(buf + len - 8, &end, 16);
	if (*end != '\0' || crc != crc32c(0, buf, len - 9))
		return 0;
	errno = 0;
	p = strtoul(buf, &end, 10);
	if (*end != ':' || errno != 0 || p >= UINT32_MAX)
		return 0;
	s = strtoull(end + 1, &end, 10);
	if (*end != ':' || errno != 0)
		return 0;
	*producer = (unsigned)p;
	*seq = s;
	return 1;
}

/*
 * The sequence to start at: after the last acknowledged push of earlier
 * incarnations (a push that was in progress when one was killed is
 * retried, which is what an application would do).
 */
static uint64_t
cc_resume(struct cc *cc)
{
	char line[256];
	uint64_t next = 0, t, seq;
	FILE *f;

	if ((f = fopen(cc->logpath, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "O %" SCNu64 " push %" SCNu64, &t, &seq) ==
		        2 &&
		    seq + 1 > next)
			next = seq + 1;
	}
	fclose(f);
	return next;
}

/* Log one line per value of the batch [seq, seq + n) with one write. */
static void
cc_log_batch(struct cc *cc, char type, uint64_t seq, size_t n, cq_status st)
{
	struct cc_lines l;
	size_t i;

	l.len = 0;
	for (i = 0; i < n; i++) {
		if (type == 'I' || type == 'O')
			cc_add(&l, type, "push %010" PRIu64, seq + i);
		else
			cc_add(&l, type, "push %010" PRIu64 " %s", seq + i,
			    cq_status_name(st));
	}
	cc_flush(cc, &l);
}

/*
 * Push one message per sequence number, batch at a time (push_many is all
 * or nothing); retry across daemon restarts.
 */
static int
cc_producer(struct cc *cc)
{
	static char bodies[CC_BATCH_MAX][CC_BODY_MAX];
	const void *bufs[CC_BATCH_MAX];
	size_t lens[CC_BATCH_MAX], n, i;
	uint64_t seq;
	cq_status st;

	cc_connect_or_exit(cc, 1);
	for (seq = cc_resume(cc); seq < cc->count; seq += n) {
		if (cc->stopfile != NULL && access(cc->stopfile, F_OK) == 0)
			break;
		/* Pacing keeps long runs of the sites scenario small. */
		if (cc->pace_us != 0 && seq > 0)
			cc_nap(cc->pace_us * 1000u);
		n = cc->count - seq < cc->batch ? (size_t)(cc->count - seq)
		                                : cc->batch;
		for (i = 0; i < n; i++) {
			lens[i] = cc_body(bodies[i], cc->size, cc->id, seq + i);
			bufs[i] = bodies[i];
		}
		for (;;) {
			cc_log_batch(cc, 'I', seq, n, CQ_OK);
			if (n == 1)
				st = cq_push(
				    cc->q, bufs[0], lens[0], cc->timeout_ms);
			else
				st = cq_push_many(
				    cc->q, bufs, lens, n, 0, cc->timeout_ms);
			if (st == CQ_OK) {
				cc_log_batch(cc, 'O', seq, n, st);
				break;
			}
			switch (st) {
			case CQ_DISCONNECTED:
			case CQ_SYSTEM:
			case CQ_TIMEDOUT:
				/*
				 * The push may or may not have happened:
				 * retrying may duplicate it ("recovered").
				 */
				cc_log_batch(cc, 'U', seq, n, st);
				cc_connect_or_exit(cc, 1);
				break;
			case CQ_BUSY:
			case CQ_FULL:
				cc_log_batch(cc, 'F', seq, n, st);
				break;
			default:
				cc_log_batch(cc, 'F', seq, n, st);
				cc_die("push %" PRIu64 ": %s (%s)", seq,
				    cq_status_name(st), cq_client_error(cc->c));
			}
		}
	}
	cc_drop(cc);
	cc_log(cc, 'E', "exit 0");
	return 0;
}

/* Acknowledge a reserved message; a lost ack only means a redelivery. */
static void
cc_ack(struct cc *cc, uint64_t msgid)
{
	uint64_t op = ++cc->opno;
	cq_status st;

	cc_log(cc, 'I', "ack %" PRIu64 " %" PRIu64, op, msgid);
	st = cq_ack(cc->q, msgid);
	if (st == CQ_OK)
		cc_log(cc, 'O', "ack %" PRIu64 " %" PRIu64, op, msgid);
	else if (st == CQ_DISCONNECTED || st == CQ_SYSTEM) {
		/* The reservation died with the connection: not retried. */
		cc_log(cc, 'U', "ack %" PRIu64 " %" PRIu64 " %s", op, msgid,
		    cq_status_name(st));
		cc_connect_or_exit(cc, 1);
	} else
		cc_log(cc, 'F', "ack %" PRIu64 " %" PRIu64 " %s", op, msgid,
		    cq_status_name(st));
}

/*
 * Log the messages of pop or reserve op opno with one write. A consumer
 * that takes a message and does not record it (-X) makes the checker
 * report it lost.
 */
static void
cc_log_deliveries(struct cc *cc, const char *opname, uint64_t opno,
    cq_msg *const *msgs, size_t n)
{
	struct cc_lines l;
	unsigned producer;
	uint64_t seq;
	size_t i;
	int valid;

	l.len = 0;
	for (i = 0; i < n; i++) {
		valid = cc_parse(
		    cq_msg_data(msgs[i]), cq_msg_len(msgs[i]), &producer, &seq);
		if (cc->lose_every != 0 && ++cc->ndeliv % cc->lose_every == 0)
			continue;
		cc_add(&l, 'O',
		    "%s %" PRIu64 " %" PRIu64 " %" PRIu32 " %u %" PRIu64 " %d",
		    opname, opno, cq_msg_id(msgs[i]),
		    cq_msg_deliveries(msgs[i]), producer, seq, valid);
	}
	cc_flush(cc, &l);
}

/* An async pop in progress: its callback fills in the result. */
struct cc_async {
	struct cc *cc;
	uint64_t opno;
	int done;
	cq_status st;
};

/*
 * Record the result of an async pop. The message is logged here, in the
 * callback: the library confirms its receipt as soon as the callback
 * returns, so logging later could lose it to a SIGKILL in between.
 */
static void
cc_async_done(cq_status st, cq_msg *m, void *arg)
{
	struct cc_async *a = arg;

	a->done = 1;
	a->st = st;
	if (m != NULL) {
		cc_log_deliveries(a->cc, "pop", a->opno, &m, 1);
		cq_msg_free(m);
	}
}

/*
 * Pop asynchronously and cancel right after the request left: the cancel
 * races the daemon's reply, so the op ends with a message (already logged
 * by the callback) or with CQ_CANCELED, and a message answering a
 * cancelled op must come back (the library rejects it), never vanish.
 */
static cq_status
cc_pop_cancelled(struct cc *cc, uint64_t opno)
{
	uint64_t deadline = time_deadline_ns(cc->timeout_ms + 10000);
	struct cc_async a;
	struct pollfd pfd;
	cq_status st;
	cq_op *op;
	int ev;

	memset(&a, 0, sizeof a);
	a.cc = cc;
	a.opno = opno;
	st = cq_pop_async(cc->q, cc->timeout_ms, cc_async_done, &a, &op);
	if (st != CQ_OK)
		return st;
	cq_client_process(cc->c);
	if (!a.done)
		cq_op_cancel(op);
	while (!a.done) {
		if (time_mono_ns() >= deadline)
			cc_die("a cancelled pop never completed");
		pfd.fd = cq_client_fd(cc->c);
		ev = cq_client_events(cc->c);
		pfd.events = (short)(((ev & CQ_WANT_READ) ? POLLIN : 0) |
		                     ((ev & CQ_WANT_WRITE) ? POLLOUT : 0));
		if (pfd.fd >= 0 && poll(&pfd, 1, 100) < 0 && errno != EINTR)
			cc_die("poll: %s", strerror(errno));
		cq_client_process(cc->c);
	}
	/*
	 * A reply that answers the op after it ended (a ghost) is rejected,
	 * i.e. its message goes back, only once the library reads it: a
	 * direct handle's next ops never touch the socket, so make a round
	 * trip now, or the message would sit in flight until the end.
	 */
	if (cq_queue_direct(cc->q))
		(void)cq_ping(cc->c);
	return a.st;
}

/*
 * Pop (or reserve and ack) until the queue is closed and drained; plain
 * pops take up to batch messages at once (pop_many), logged with one write
 * after the call returns: a SIGKILL before that write leaves the messages
 * unconfirmed (the receipt rides on the next request), so they come back.
 */
static int
cc_consumer(struct cc *cc)
{
	const char *opname = cc->reserve ? "reserve" : "pop";
	cq_msg *msgs[CC_BATCH_MAX];
	uint64_t op, msgid;
	size_t n, i;
	cq_status st;

	cc_connect_or_exit(cc, 1);
	for (;;) {
		op = ++cc->opno;
		cc_log(cc, 'I', "%s %" PRIu64, opname, op);
		n = 0;
		if (cc->reserve) {
			st = cq_reserve(
			    cc->q, &msgs[0], cc->timeout_ms, cc->lease_ms);
			n = st == CQ_OK;
		} else if (cc->cancel_every != 0 &&
		           op % cc->cancel_every == 0) {
			st = cc_pop_cancelled(cc, op);
			n = 0; /* logged and freed by the callback */
		} else if (cc->batch > 1)
			st = cq_pop_many(
			    cc->q, msgs, cc->batch, &n, cc->timeout_ms);
		else {
			st = cq_pop(cc->q, &msgs[0], cc->timeout_ms);
			n = st == CQ_OK;
		}
		if (st == CQ_OK) {
			cc_log_deliveries(cc, opname, op, msgs, n);
			/*
			 * Work on the messages: they stay in flight (receipt
			 * or ack not sent yet), so a kill now puts them back.
			 */
			if (cc->work_us != 0 && n > 0)
				cc_nap(cc->work_us * 1000u);
			for (i = 0; i < n; i++) {
				msgid = cq_msg_id(msgs[i]);
				cq_msg_free(msgs[i]);
				/*
				 * An abandoned reservation comes back when its
				 * lease expires (the connection stays up).
				 */
				if (cc->reserve &&
				    (cc->abandon_every == 0 ||
				        ++cc->nreserved % cc->abandon_every !=
				            0))
					cc_ack(cc, msgid);
			}
			continue;
		}
		switch (st) {
		case CQ_EMPTY:
		case CQ_TIMEDOUT:
		case CQ_BUSY:
		case CQ_CANCELED:
			cc_log(cc, 'F', "%s %" PRIu64 " %s", opname, op,
			    cq_status_name(st));
			break;
		case CQ_CLOSED:
			cc_log(cc, 'F', "%s %" PRIu64 " %s", opname, op,
			    cq_status_name(st));
			cc_drop(cc);
			cc_log(cc, 'E', "exit 0");
			return 0;
		case CQ_DISCONNECTED:
		case CQ_SYSTEM:
			cc_log(cc, 'U', "%s %" PRIu64 " %s", opname, op,
			    cq_status_name(st));
			cc_connect_or_exit(cc, 1);
			break;
		default:
			cc_log(cc, 'F', "%s %" PRIu64 " %s", opname, op,
			    cq_status_name(st));
			cc_die("%s: %s (%s)", opname, cq_status_name(st),
			    cq_client_error(cc->c));
		}
	}
}

/* Push a b c d to the queue, remove b by the id peek shows, purge. */
static cq_status
cc_browse(struct cc *cc)
{
	static const char *const text[] = {"a", "b", "c", "d"};
	cq_msg *m[4];
	cq_status st = CQ_OK;
	size_t i, n = 0;

	for (i = 0; i < 4 && st == CQ_OK; i++)
		st = cq_push(cc->q, text[i], 1, cc->timeout_ms);
	if (st == CQ_OK)
		st = cq_peek(cc->q, m, 4, &n);
	if (st == CQ_OK && n > 1)
		st = cq_remove(cc->q, cq_msg_id(m[1]));
	for (i = 0; i < n; i++)
		cq_msg_free(m[i]);
	if (st == CQ_OK)
		st = cq_purge(cc->q, NULL);
	return st;
}

/*
 * Run an administrative op, retrying it across daemon restarts (a create
 * or close that was lost with the daemon is simply done again).
 */
static int
cc_admin(struct cc *cc)
{
	cq_queue_attr attr;
	cq_queue_stat qs;
	cq_status st;

	for (;;) {
		cc_connect_or_exit(
		    cc, cc->role == CC_CLOSE || cc->role == CC_STAT ||
		            cc->role == CC_BROWSE);
		switch (cc->role) {
		case CC_CREATE:
			memset(&attr, 0, sizeof attr);
			attr.capacity = cc->capacity;
			attr.max_size = CC_BODY_MAX;
			attr.mode = 0600;
			st = cq_create(cc->c, cc->qname, &attr);
			if (st == CQ_EXISTS)
				st = CQ_OK;
			break;
		case CC_CLOSE:
			st = cq_close(cc->q);
			break;
		case CC_DELETE:
			st = cq_delete(cc->c, cc->qname);
			break;
		case CC_STAT:
			st = cq_stat(cc->q, &qs);
			if (st == CQ_OK)
				printf("%" PRIu64 " %" PRIu64 " %d %" PRIu64
				       " %" PRIu64 "\n",
				    qs.length, qs.in_flight, qs.closed,
				    qs.total_pushed, qs.total_popped);
			break;
		case CC_BROWSE:
			st = cc_browse(cc);
			break;
		default:
			st = CQ_INVALID;
		}
		if (st != CQ_DISCONNECTED && st != CQ_SYSTEM)
			break;
		/* Without a retry bound the caller only wanted one try. */
		if (cc->reconnect_ms == 0)
			return CC_EXIT_NODAEMON;
	}
	if (st != CQ_OK) {
		fprintf(stderr, "cq_crash_client: %s %s: %s (%s)\n",
		    cc->role == CC_CREATE ? "create" : "op", cc->qname,
		    cq_status_name(st), cc->c ? cq_client_error(cc->c) : "");
		cc_drop(cc);
		return CC_EXIT_ERROR;
	}
	cc_drop(cc);
	return 0;
}

/* Print usage and exit. */
static void __attribute__((noreturn)) cc_usage(void)
{
	fprintf(stderr,
	    "usage: cq_crash_client "
	    "producer|consumer|create|close|delete|stat|browse\n"
	    "    -s SOCKET -q QUEUE [-i ID] [-n COUNT] [-l LOGFILE] [-r]\n"
	    "    [-b BATCH] [-z SIZE] [-t TIMEOUT_MS] [-L LEASE_MS]\n"
	    "    [-c CAPACITY] [-R RECONNECT_MS] [-w PACE_US] [-x STOPFILE]\n"
	    "    [-C CANCEL_EVERY] [-H ABANDON_EVERY] [-P WORK_US]\n"
	    "    [-X LOSE_EVERY]\n");
	exit(2);
}

/* Parse an unsigned number argument. */
static uint64_t
cc_number(const char *s, const char *what)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || *s == '-')
		cc_die("bad %s: %s", what, s);
	return v;
}

/* Parse the command line and run the role. */
int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		enum cc_role role;
	} roles[] = {
	    {"producer", CC_PRODUCER},
	    {"consumer", CC_CONSUMER},
	    {"create", CC_CREATE},
	    {"close", CC_CLOSE},
	    {"delete", CC_DELETE},
	    {"stat", CC_STAT},
	    {"browse", CC_BROWSE},
	};
	struct cc cc;
	size_t i;
	int ch, rv;

	memset(&cc, 0, sizeof cc);
	cc.logfd = -1;
	cc.size = 64;
	cc.batch = 1;
	cc.timeout_ms = 2000;
	cc.lease_ms = 60000;
	cc.capacity = 512;
	cc.reconnect_ms = 30000;
	if (argc < 2)
		cc_usage();
	for (i = 0; i < nitems(roles); i++)
		if (strcmp(argv[1], roles[i].name) == 0)
			break;
	if (i == nitems(roles))
		cc_usage();
	cc.role = roles[i].role;
	optind = 2;
	while ((ch = getopt(
	            argc, argv, "b:c:C:H:i:l:L:n:P:q:rR:s:t:w:x:X:z:")) != -1) {
		switch (ch) {
		case 'b':
			cc.batch = (size_t)cc_number(optarg, "batch");
			if (cc.batch < 1 || cc.batch > CC_BATCH_MAX)
				cc_die("batch must be 1..%d", CC_BATCH_MAX);
			break;
		case 'C':
			cc.cancel_every = cc_number(optarg, "cancel-every");
			break;
		case 'H':
			cc.abandon_every = cc_number(optarg, "abandon-every");
			break;
		case 'c':
			cc.capacity = (uint32_t)cc_number(optarg, "capacity");
			break;
		case 'i':
			cc.id = (unsigned)cc_number(optarg, "id");
			break;
		case 'l':
			cc.logpath = optarg;
			break;
		case 'L':
			cc.lease_ms = (uint32_t)cc_number(optarg, "lease");
			break;
		case 'n':
			cc.count = cc_number(optarg, "count");
			break;
		case 'P':
			cc.work_us = cc_number(optarg, "work");
			break;
		case 'q':
			cc.qname = optarg;
			break;
		case 'r':
			cc.reserve = 1;
			break;
		case 'R':
			cc.reconnect_ms =
			    (int64_t)cc_number(optarg, "reconnect");
			break;
		case 's':
			cc.sock = optarg;
			break;
		case 't':
			cc.timeout_ms = (int64_t)cc_number(optarg, "timeout");
			break;
		case 'x':
			cc.stopfile = optarg;
			break;
		case 'w':
			cc.pace_us = cc_number(optarg, "pace");
			break;
		case 'X':
			cc.lose_every = cc_number(optarg, "lose-every");
			break;
		case 'z':
			cc.size = (size_t)cc_number(optarg, "size");
			if (cc.size < 32 || cc.size > CC_BODY_MAX)
				cc_die("size must be 32..%d", CC_BODY_MAX);
			break;
		default:
			cc_usage();
		}
	}
	if (optind != argc || cc.sock == NULL || cc.qname == NULL)
		cc_usage();
	if (cc.role == CC_PRODUCER || cc.role == CC_CONSUMER) {
		if (cc.logpath == NULL)
			cc_usage();
		cc.logfd = open(cc.logpath,
		    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (cc.logfd < 0)
			cc_die("open %s: %s", cc.logpath, strerror(errno));
		cc_log(&cc, 'S', "%s %u %ld",
		    cc.role == CC_PRODUCER ? "producer" : "consumer", cc.id,
		    (long)getpid());
	}
	switch (cc.role) {
	case CC_PRODUCER:
		rv = cc_producer(&cc);
		break;
	case CC_CONSUMER:
		rv = cc_consumer(&cc);
		break;
	default:
		rv = cc_admin(&cc);
		break;
	}
	if (cc.logfd >= 0)
		close(cc.logfd);
	return rv;
}
