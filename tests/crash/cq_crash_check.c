/* cq_crash_check.c - judge crash-harness logs by total-queue rules. */

/*
 * Reads every p*.log (producers) and c*.log (consumers) written by
 * cq_crash_client in a directory and classifies each value (producer,
 * sequence) as Jepsen's total-queue checker does:
 *   attempted     some push of it was invoked
 *   acknowledged  some push of it returned CQ_OK
 *   lost          acknowledged but never delivered            (must be 0)
 *   unexpected    delivered but never attempted, or corrupt    (must be 0)
 *   recovered     delivered though no push of it was acknowledged
 *   duplicated    delivered more than once
 * and adds the checks this queue promises beyond a multiset:
 *   - a redelivery of the same message id is allowed only if the earlier
 *     delivery (by the daemon's delivery count, which must differ) could
 *     have been in flight at a crash: its receipt never reached the daemon
 *     (pop mode: no later op of that consumer process got a reply on the
 *     same connection; reserve mode: its ack never succeeded);
 *   - a value may carry several message ids only if it was pushed that
 *     many times (retries after an unknown outcome);
 *   - a message id belongs to one value, and ids grow with the sequence
 *     of each producer (pushes are applied in order);
 *   - first deliveries (delivery count 1) respect FIFO in real time: no pop
 *     that started after another one returned may get an older message id
 *     (so each producer's order is kept, apart from redeliveries).
 * Exit status 0 when every rule holds, 1 on a violation, 2 on bad input.
 */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK_MAX_EXAMPLES    10
#define CK_MAX_UNCONFIRMED 256 /* unconfirmed deliveries of one consumer */

/* What happened to one value (producer, seq). */
struct ck_value {
	uint32_t invoked;      /* push attempts */
	uint32_t possible;     /* attempts that may have taken effect */
	uint32_t acked;        /* attempts that returned CQ_OK */
	uint32_t ndeliv;       /* deliveries */
	uint64_t minid, maxid; /* message ids it was delivered under */
};

/* One producer's values, indexed by sequence. */
struct ck_producer {
	struct ck_value *v;
	size_t n, cap;
};

/* One delivery (a pop or reserve that returned a message). */
struct ck_deliv {
	uint64_t msgid;
	uint64_t seq;
	uint64_t t_invoke, t_ok;
	uint32_t producer;
	uint32_t deliveries;
	uint32_t consumer;
	uint8_t valid;
	uint8_t at_risk; /* its receipt may not have reached the daemon */
};

/* Everything read from the logs. */
struct ck {
	struct ck_producer *prod;
	size_t nprod;
	struct ck_deliv *d;
	size_t nd, dcap;
	unsigned long violations;
	unsigned long lines;
	unsigned long incarnations;
	unsigned long killed; /* incarnations without a clean exit */
	unsigned long unknown_pushes;
	unsigned long failed_pushes;
	unsigned long lost_ops; /* consumer ops that lost the connection */
};

/* Report a violation (the first few of each kind are printed). */
static void __attribute__((format(printf, 3, 4)))
ck_violation(struct ck *ck, unsigned long *kind, const char *fmt, ...)
{
	va_list ap;

	ck->violations++;
	if ((*kind)++ >= CK_MAX_EXAMPLES)
		return;
	printf("VIOLATION: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Exit on bad input. */
static void __attribute__((noreturn, format(printf, 1, 2)))
ck_fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cq_crash_check: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* Grow an array to hold at least n elements of size sz. */
static void *
ck_grow(void *p, size_t *cap, size_t n, size_t sz)
{
	size_t nc = *cap ? *cap : 64;

	if (n <= *cap)
		return p;
	while (nc < n)
		nc *= 2;
	if ((p = realloc(p, nc * sz)) == NULL)
		ck_fatal("out of memory");
	memset((char *)p + *cap * sz, 0, (nc - *cap) * sz);
	*cap = nc;
	return p;
}

/* The value (producer, seq), created on first use. */
static struct ck_value *
ck_value(struct ck *ck, uint32_t producer, uint64_t seq)
{
	struct ck_producer *p;
	size_t cap;

	if (producer >= ck->nprod) {
		cap = ck->nprod;
		ck->prod = ck_grow(
		    ck->prod, &cap, (size_t)producer + 1, sizeof *ck->prod);
		ck->nprod = cap;
	}
	p = &ck->prod[producer];
	if (seq >= p->n) {
		p->v = ck_grow(p->v, &p->cap, (size_t)seq + 1, sizeof *p->v);
		p->n = (size_t)seq + 1;
	}
	return &p->v[seq];
}

/* The value (producer, seq) if some push of it was seen, else NULL. */
static struct ck_value *
ck_lookup(struct ck *ck, uint32_t producer, uint64_t seq)
{
	if (producer >= ck->nprod || seq >= ck->prod[producer].n)
		return NULL;
	return &ck->prod[producer].v[seq];
}

/*
 * Read one producer's log. A push_many logs one I line per value before
 * and one completion line per value after, so several values can be in
 * progress at once.
 */
static void
ck_read_producer(struct ck *ck, const char *path, uint32_t id)
{
	char line[512], type, op[16], status[32];
	uint64_t t, seq;
	struct ck_value *v;
	unsigned long inflight = 0; /* I lines without a completion yet */
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		ck_fatal("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		/* A line cut short by SIGKILL has no newline: ignore it. */
		if (strchr(line, '\n') == NULL)
			break;
		ck->lines++;
		status[0] = '\0';
		if (sscanf(line, "%c %" SCNu64 " %15s", &type, &t, op) != 3)
			ck_fatal("%s: bad line: %s", path, line);
		if (type == 'S' || type == 'E') {
			if (type == 'S') {
				ck->incarnations++;
				/* Killed mid-push: unknown outcomes. */
				ck->unknown_pushes += inflight;
				inflight = 0;
			}
			continue;
		}
		if (strcmp(op, "push") != 0 ||
		    sscanf(line, "%c %" SCNu64 " %15s %" SCNu64 " %31s", &type,
		        &t, op, &seq, status) < 4)
			ck_fatal("%s: bad line: %s", path, line);
		v = ck_value(ck, id, seq);
		if (type != 'I') {
			if (inflight == 0 || v->invoked == 0)
				ck_fatal("%s: completion of a push never "
				         "invoked: %s",
				    path, line);
			inflight--;
		}
		switch (type) {
		case 'I':
			v->invoked++;
			v->possible++;
			inflight++;
			break;
		case 'O':
			v->acked++;
			break;
		case 'F':
			v->possible--;
			ck->failed_pushes++;
			break;
		case 'U':
			ck->unknown_pushes++;
			break;
		default:
			ck_fatal("%s: bad line: %s", path, line);
		}
	}
	ck->unknown_pushes += inflight;
	fclose(f);
}

/* Per-incarnation state of a consumer while its log is read. */
struct ck_inc {
	int reserve;
	uint64_t t_invoke;   /* of the op in progress */
	uint64_t op_replied; /* the op whose reply was seen last */
	/* Deliveries whose receipt (or ack) did not reach the daemon yet. */
	size_t unconfirmed[CK_MAX_UNCONFIRMED];
	size_t nunconfirmed;
};

/* A consumer op got a reply: the receipts sent with it reached the daemon. */
static void
ck_inc_replied(struct ck *ck, struct ck_inc *inc)
{
	size_t i;

	if (inc->reserve)
		return;
	for (i = 0; i < inc->nunconfirmed; i++)
		ck->d[inc->unconfirmed[i]].at_risk = 0;
	inc->nunconfirmed = 0;
}

/* Read one consumer's log. */
static void
ck_read_consumer(struct ck *ck, const char *path, uint32_t id)
{
	char line[512], type, op[16], status[32];
	uint64_t t, opno, msgid, seq;
	unsigned deliveries, producer;
	int valid, n, clean = 1, started = 0;
	struct ck_inc inc;
	struct ck_deliv *d;
	size_t i, last;
	FILE *f;

	memset(&inc, 0, sizeof inc);
	if ((f = fopen(path, "r")) == NULL)
		ck_fatal("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		if (strchr(line, '\n') == NULL)
			break;
		ck->lines++;
		if (sscanf(line, "%c %" SCNu64 " %15s", &type, &t, op) != 3)
			ck_fatal("%s: bad line: %s", path, line);
		if (type == 'S') {
			ck->incarnations++;
			if (started && !clean)
				ck->killed++;
			started = 1;
			clean = 0;
			memset(&inc, 0, sizeof inc);
			continue;
		}
		if (type == 'E') {
			clean = 1;
			continue;
		}
		if (strcmp(op, "ack") == 0) {
			n = sscanf(line,
			    "%c %" SCNu64 " %15s %" SCNu64 " %" SCNu64, &type,
			    &t, op, &opno, &msgid);
			if (n != 5)
				ck_fatal("%s: bad line: %s", path, line);
			if (type == 'U') {
				/* Its reservations died with the connection. */
				ck->lost_ops++;
				inc.nunconfirmed = 0;
			}
			if (type != 'O')
				continue;
			/*
			 * The reservation is deleted: no redelivery. It is
			 * the latest delivery of that id: an earlier one
			 * (abandoned, its lease expired) stays at risk.
			 */
			last = SIZE_MAX;
			for (i = 0; i < inc.nunconfirmed; i++)
				if (ck->d[inc.unconfirmed[i]].msgid == msgid &&
				    (last == SIZE_MAX ||
				        inc.unconfirmed[i] >
				            inc.unconfirmed[last]))
					last = i;
			if (last != SIZE_MAX) {
				ck->d[inc.unconfirmed[last]].at_risk = 0;
				inc.unconfirmed[last] =
				    inc.unconfirmed[--inc.nunconfirmed];
			}
			continue;
		}
		if (strcmp(op, "pop") != 0 && strcmp(op, "reserve") != 0)
			ck_fatal("%s: bad line: %s", path, line);
		inc.reserve = strcmp(op, "reserve") == 0;
		switch (type) {
		case 'I':
			inc.t_invoke = t;
			/*
			 * cq_crash_client acks a reservation right after
			 * getting it: one still unacked when the next reserve
			 * starts was abandoned (-H) and stays at risk.
			 */
			if (inc.reserve)
				inc.nunconfirmed = 0;
			break;
		case 'O':
			n = sscanf(line,
			    "%c %" SCNu64 " %15s %" SCNu64 " %" SCNu64
			    " %u %u %" SCNu64 " %d",
			    &type, &t, op, &opno, &msgid, &deliveries,
			    &producer, &seq, &valid);
			if (n != 9)
				ck_fatal("%s: bad line: %s", path, line);
			/*
			 * The reply shows the daemon read the receipts sent
			 * with the request; a pop_many logs one O line per
			 * message, and only the first one is that news.
			 */
			if (inc.op_replied != opno)
				ck_inc_replied(ck, &inc);
			inc.op_replied = opno;
			ck->d = ck_grow(
			    ck->d, &ck->dcap, ck->nd + 1, sizeof *ck->d);
			d = &ck->d[ck->nd];
			d->msgid = msgid;
			d->seq = seq;
			d->producer = producer;
			d->deliveries = deliveries;
			d->consumer = id;
			d->valid = (uint8_t)(valid != 0);
			d->t_invoke = inc.t_invoke;
			d->t_ok = t;
			d->at_risk = 1;
			if (inc.nunconfirmed == CK_MAX_UNCONFIRMED)
				ck_fatal(
				    "%s: too many unacked reservations", path);
			inc.unconfirmed[inc.nunconfirmed++] = ck->nd;
			ck->nd++;
			break;
		case 'F':
			n = sscanf(line, "%c %" SCNu64 " %15s %" SCNu64 " %31s",
			    &type, &t, op, &opno, status);
			if (n != 5)
				ck_fatal("%s: bad line: %s", path, line);
			/*
			 * A timeout or a cancel can be decided by the library
			 * alone: no proof that the daemon read the receipts.
			 * Any other failure came from the daemon after it
			 * read them.
			 */
			if (strcmp(status, "CQ_TIMEDOUT") != 0 &&
			    strcmp(status, "CQ_CANCELED") != 0)
				ck_inc_replied(ck, &inc);
			break;
		case 'U':
			/*
			 * The connection is gone, and with it the receipts
			 * that had not reached the daemon: those deliveries
			 * stay at risk for good.
			 */
			ck->lost_ops++;
			inc.nunconfirmed = 0;
			break;
		default:
			ck_fatal("%s: bad line: %s", path, line);
		}
	}
	if (started && !clean)
		ck->killed++;
	fclose(f);
}

/* Read every log of directory dir. */
static void
ck_read_dir(struct ck *ck, const char *dir)
{
	char path[4096], kind, rest[8];
	struct dirent *de;
	unsigned id;
	DIR *d;
	int nfiles = 0;

	if ((d = opendir(dir)) == NULL)
		ck_fatal("%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (sscanf(de->d_name, "%c%u.%7s", &kind, &id, rest) != 3 ||
		    strcmp(rest, "log") != 0 || (kind != 'p' && kind != 'c'))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (kind == 'p')
			ck_read_producer(ck, path, id);
		else
			ck_read_consumer(ck, path, id);
		nfiles++;
	}
	closedir(d);
	if (nfiles == 0)
		ck_fatal("%s: no p*.log or c*.log files", dir);
}

/*
 * Order deliveries by message id, then by the daemon's delivery count: a
 * reply can sit in a killed daemon's socket buffer and be logged after the
 * redelivery, so the count orders copies where the clocks of the logs
 * cannot.
 */
static int
ck_cmp_msgid(const void *a, const void *b)
{
	const struct ck_deliv *x = a, *y = b;

	if (x->msgid != y->msgid)
		return x->msgid < y->msgid ? -1 : 1;
	if (x->deliveries != y->deliveries)
		return x->deliveries < y->deliveries ? -1 : 1;
	if (x->t_ok != y->t_ok)
		return x->t_ok < y->t_ok ? -1 : 1;
	return 0;
}

/* Order deliveries by producer, sequence, then message id. */
static int
ck_cmp_value(const void *a, const void *b)
{
	const struct ck_deliv *x = a, *y = b;

	if (x->producer != y->producer)
		return x->producer < y->producer ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	if (x->msgid != y->msgid)
		return x->msgid < y->msgid ? -1 : 1;
	return 0;
}

/* Order delivery pointers by invocation time. */
static int
ck_cmp_invoke(const void *a, const void *b)
{
	const struct ck_deliv *x = *(struct ck_deliv *const *)a;
	const struct ck_deliv *y = *(struct ck_deliv *const *)b;

	if (x->t_invoke != y->t_invoke)
		return x->t_invoke < y->t_invoke ? -1 : 1;
	return 0;
}

/* Order delivery pointers by completion time. */
static int
ck_cmp_ok(const void *a, const void *b)
{
	const struct ck_deliv *x = *(struct ck_deliv *const *)a;
	const struct ck_deliv *y = *(struct ck_deliv *const *)b;

	if (x->t_ok != y->t_ok)
		return x->t_ok < y->t_ok ? -1 : 1;
	return 0;
}

/* Counters of the report. */
struct ck_sum {
	unsigned long attempted, acknowledged, delivered, values, ok;
	unsigned long recovered, lost, unexpected, duplicated;
	unsigned long redelivered, double_pushed, order;
	unsigned long v_lost, v_unexp, v_redeliv, v_count, v_idreuse;
	unsigned long v_dpush, v_pushorder, v_order;
};

/*
 * Same message id delivered more than once: each earlier copy must have
 * been at risk at a crash, and the daemon's delivery count must grow.
 */
static void
ck_check_redeliveries(struct ck *ck, struct ck_sum *s)
{
	struct ck_deliv *a, *b;
	size_t i;

	qsort(ck->d, ck->nd, sizeof *ck->d, ck_cmp_msgid);
	for (i = 1; i < ck->nd; i++) {
		a = &ck->d[i - 1];
		b = &ck->d[i];
		if (a->msgid != b->msgid || !a->valid || !b->valid)
			continue;
		s->redelivered++;
		if (a->producer != b->producer || a->seq != b->seq)
			ck_violation(ck, &s->v_idreuse,
			    "message id %" PRIu64 " carries %u:%" PRIu64
			    " and %u:%" PRIu64,
			    a->msgid, a->producer, a->seq, b->producer, b->seq);
		if (!a->at_risk)
			ck_violation(ck, &s->v_redeliv,
			    "message %" PRIu64 " (%u:%" PRIu64
			    ") redelivered to consumer %u after consumer %u "
			    "had confirmed it",
			    a->msgid, a->producer, a->seq, b->consumer,
			    a->consumer);
		if (b->deliveries == a->deliveries)
			ck_violation(ck, &s->v_count,
			    "message %" PRIu64 " delivered twice with delivery "
			    "count %u",
			    a->msgid, a->deliveries);
	}
}

/*
 * Per value: the multiset rules (lost, unexpected, recovered, duplicated)
 * and how many distinct message ids it may carry; per producer: message
 * ids grow with the sequence.
 */
static void
ck_check_values(struct ck *ck, struct ck_sum *s)
{
	struct ck_value *v, *prev;
	struct ck_producer *p;
	uint64_t last_id = 0, cur_seq = 0;
	uint32_t cur_prod = UINT32_MAX, ids = 0;
	size_t i, j;

	for (i = 0; i < ck->nd; i++) {
		struct ck_deliv *d = &ck->d[i];

		s->delivered++;
		v = d->valid ? ck_lookup(ck, d->producer, d->seq) : NULL;
		if (v == NULL || v->invoked == 0) {
			s->unexpected++;
			ck_violation(ck, &s->v_unexp,
			    "message %" PRIu64 " delivered to consumer %u "
			    "was never pushed (%s %u:%" PRIu64 ")",
			    d->msgid, d->consumer,
			    d->valid ? "body" : "corrupt body", d->producer,
			    d->seq);
			continue;
		}
		if (v->ndeliv == 0 || d->msgid < v->minid)
			v->minid = d->msgid;
		if (v->ndeliv == 0 || d->msgid > v->maxid)
			v->maxid = d->msgid;
		v->ndeliv++;
	}
	for (i = 0; i < ck->nprod; i++) {
		p = &ck->prod[i];
		prev = NULL;
		for (j = 0; j < p->n; j++) {
			v = &p->v[j];
			if (v->invoked == 0)
				continue;
			s->attempted++;
			if (v->acked)
				s->acknowledged++;
			if (v->ndeliv > 0)
				s->values++;
			if (v->ndeliv > 1)
				s->duplicated++;
			if (v->acked && v->ndeliv > 0)
				s->ok++;
			if (!v->acked && v->ndeliv > 0)
				s->recovered++;
			if (v->acked && v->ndeliv == 0) {
				s->lost++;
				ck_violation(ck, &s->v_lost,
				    "acknowledged push %zu:%zu never delivered",
				    i, j);
			}
			if (v->ndeliv == 0)
				continue;
			/*
			 * Every attempt of a value ends before the next value
			 * is first tried (the values of one push_many share
			 * attempts), so both its first and its last message
			 * id must be newer than those of earlier values.
			 */
			if (prev != NULL && (v->minid <= prev->minid ||
			                        v->maxid <= prev->maxid))
				ck_violation(ck, &s->v_pushorder,
				    "producer %zu: sequence %zu has message "
				    "ids "
				    "%" PRIu64 "..%" PRIu64
				    ", not newer than %" PRIu64 "..%" PRIu64
				    " of an earlier push",
				    i, j, v->minid, v->maxid, prev->minid,
				    prev->maxid);
			prev = v;
		}
	}

	/* Distinct ids per value. */
	qsort(ck->d, ck->nd, sizeof *ck->d, ck_cmp_value);
	for (i = 0; i < ck->nd; i++) {
		struct ck_deliv *d = &ck->d[i];

		if (!d->valid ||
		    (v = ck_lookup(ck, d->producer, d->seq)) == NULL)
			continue;
		if (d->producer != cur_prod || d->seq != cur_seq)
			ids = 0;
		else if (d->msgid == last_id)
			continue; /* a redelivery, checked above */
		cur_prod = d->producer;
		cur_seq = d->seq;
		last_id = d->msgid;
		if (++ids == 2)
			s->double_pushed++;
		if (ids > v->possible)
			ck_violation(ck, &s->v_dpush,
			    "%u:%" PRIu64 " delivered as %u different messages "
			    "but pushed at most %u times",
			    d->producer, d->seq, ids, v->possible);
	}
}

/*
 * FIFO in real time: a queue hands out its messages in id order, so among
 * first deliveries (a message never in flight before) a pop invoked after
 * another pop had returned must not get an older message. This covers the
 * order of each producer's messages and of the queue as a whole.
 */
static void
ck_check_order(struct ck *ck, struct ck_sum *s)
{
	struct ck_deliv **inv, **okd, *best;
	size_t j, k, n = 0;

	inv = calloc(ck->nd + 1, sizeof *inv);
	okd = calloc(ck->nd + 1, sizeof *okd);
	if (inv == NULL || okd == NULL)
		ck_fatal("out of memory");
	for (j = 0; j < ck->nd; j++)
		if (ck->d[j].valid && ck->d[j].deliveries == 1) {
			inv[n] = okd[n] = &ck->d[j];
			n++;
		}
	qsort(inv, n, sizeof *inv, ck_cmp_invoke);
	qsort(okd, n, sizeof *okd, ck_cmp_ok);
	best = NULL;
	for (j = 0, k = 0; j < n; j++) {
		while (k < n && okd[k]->t_ok < inv[j]->t_invoke) {
			if (best == NULL || okd[k]->msgid > best->msgid)
				best = okd[k];
			k++;
		}
		if (best != NULL && best->msgid > inv[j]->msgid) {
			s->order++;
			ck_violation(ck, &s->v_order,
			    "message %" PRIu64 " (%u:%" PRIu64
			    ") popped by consumer %u after message %" PRIu64
			    " (%u:%" PRIu64 ") had been popped by consumer %u",
			    inv[j]->msgid, inv[j]->producer, inv[j]->seq,
			    inv[j]->consumer, best->msgid, best->producer,
			    best->seq, best->consumer);
		}
	}
	free(inv);
	free(okd);
}

/* Check the logs in argv[1]; print the figures. */
int
main(int argc, char **argv)
{
	struct ck ck;
	struct ck_sum s;
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: cq_crash_check LOGDIR\n");
		return 2;
	}
	memset(&ck, 0, sizeof ck);
	memset(&s, 0, sizeof s);
	ck_read_dir(&ck, argv[1]);
	ck_check_redeliveries(&ck, &s);
	ck_check_values(&ck, &s);
	ck_check_order(&ck, &s);

	printf("logs: %lu lines, %lu process incarnations (%lu killed), "
	       "%lu consumer ops lost their connection\n",
	    ck.lines, ck.incarnations, ck.killed, ck.lost_ops);
	printf("pushes: %lu values attempted, %lu acknowledged, "
	       "%lu unknown outcomes, %lu definite failures\n",
	    s.attempted, s.acknowledged, ck.unknown_pushes, ck.failed_pushes);
	printf("deliveries: %lu (%lu distinct values): ok %lu, recovered %lu\n",
	    s.delivered, s.values, s.ok, s.recovered);
	printf("lost %lu, unexpected %lu, duplicated %lu (redeliveries %lu, "
	       "double pushes %lu), order violations %lu\n",
	    s.lost, s.unexpected, s.duplicated, s.redelivered, s.double_pushed,
	    s.order);
	printf("RESULT: %s (%lu violations)\n", ck.violations ? "FAIL" : "OK",
	    ck.violations);
	for (i = 0; i < ck.nprod; i++)
		free(ck.prod[i].v);
	free(ck.prod);
	free(ck.d);
	return ck.violations ? 1 : 0;
}
