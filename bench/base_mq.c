/* base_mq.c - the POSIX message queue baseline, and its sysctls. */

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"

/* ---- POSIX message queues ---- */

static long base_mq_maxmsg = 10;      /* capacity we may use */
static long base_mq_old_msg_max = -1; /* to restore, when we raised it */
static long base_mq_old_msgsize_max = -1;
static long base_mq_size_max = -1; /* largest message we may use */

/* Read a number from a /proc file; -1 on failure. */
static long
base_mq_proc_read(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* Write a number to a /proc file (async-signal-safe: used on signals). */
static int
base_mq_proc_write(const char *path, long v)
{
	char buf[32];
	int fd, len;

	if ((fd = open(path, O_WRONLY)) < 0)
		return -1;
	len = snprintf(buf, sizeof buf, "%ld\n", v);
	if (write(fd, buf, (size_t)len) != len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/*
 * Give POSIX mq the capacity of the other transports (1024) and room for
 * 64 KiB messages: as root raise the sysctls (restored at exit) and the
 * RLIMIT_MSGQUEUE byte quota; otherwise use what the host allows. Writes a
 * note about what it did into note.
 */
int
base_mq_setup(char *note, size_t len)
{
	long msg_max = base_mq_proc_read("/proc/sys/fs/mqueue/msg_max");
	long size_max = base_mq_proc_read("/proc/sys/fs/mqueue/msgsize_max");
	struct rlimit rl;

	if (getrlimit(RLIMIT_MSGQUEUE, &rl) == 0) {
		rl.rlim_cur = geteuid() == 0 ? RLIM_INFINITY : rl.rlim_max;
		if (geteuid() == 0)
			rl.rlim_max = RLIM_INFINITY;
		setrlimit(RLIMIT_MSGQUEUE, &rl);
	}
	if (geteuid() == 0 && msg_max >= 0 && msg_max < 1024 &&
	    base_mq_proc_write("/proc/sys/fs/mqueue/msg_max", 1024) == 0) {
		base_mq_old_msg_max = msg_max;
		msg_max = 1024;
	}
	if (geteuid() == 0 && size_max >= 0 && size_max < 65536 &&
	    base_mq_proc_write("/proc/sys/fs/mqueue/msgsize_max", 65536) == 0) {
		base_mq_old_msgsize_max = size_max;
		size_max = 65536;
	}
	base_mq_maxmsg = msg_max < 1 ? 10 : msg_max > 1024 ? 1024 : msg_max;
	base_mq_size_max = size_max;
	if (base_mq_old_msg_max >= 0)
		snprintf(note, len,
		    "posix mq: capacity %ld (fs.mqueue.msg_max raised from "
		    "%ld for the run, restored after)",
		    base_mq_maxmsg, base_mq_old_msg_max);
	else if (base_mq_maxmsg < 1024)
		snprintf(note, len,
		    "posix mq: capacity %ld only (fs.mqueue.msg_max; not root, "
		    "so not raised to 1024)",
		    base_mq_maxmsg);
	else
		snprintf(note, len, "posix mq: capacity %ld", base_mq_maxmsg);
	return 0;
}

/* Put the mqueue sysctls back (safe to call twice and from a handler). */
void
base_mq_restore(void)
{
	if (base_mq_old_msg_max >= 0 &&
	    base_mq_proc_write(
	        "/proc/sys/fs/mqueue/msg_max", base_mq_old_msg_max) == 0)
		base_mq_old_msg_max = -1;
	if (base_mq_old_msgsize_max >= 0 &&
	    base_mq_proc_write("/proc/sys/fs/mqueue/msgsize_max",
	        base_mq_old_msgsize_max) == 0)
		base_mq_old_msgsize_max = -1;
}

/* Capacity the mq runs got, by message size, for the report. */
static struct {
	size_t size;
	long maxmsg;
} base_mq_caps[16];
static int base_mq_ncaps;

/* Remember the smallest capacity a queue of size-byte messages got. */
static void
base_mq_used(size_t size, long maxmsg)
{
	int i;

	for (i = 0; i < base_mq_ncaps; i++) {
		if (base_mq_caps[i].size == size) {
			if (maxmsg < base_mq_caps[i].maxmsg)
				base_mq_caps[i].maxmsg = maxmsg;
			return;
		}
	}
	if (base_mq_ncaps < 16) {
		base_mq_caps[base_mq_ncaps].size = size;
		base_mq_caps[base_mq_ncaps++].maxmsg = maxmsg;
	}
}

/* Say which message sizes got less than capacity 1024, and why. */
void
base_mq_report(FILE *f)
{
	struct rlimit rl;
	int i;

	getrlimit(RLIMIT_MSGQUEUE, &rl);
	for (i = 0; i < base_mq_ncaps; i++)
		if (base_mq_caps[i].maxmsg < 1024)
			fprintf(f,
			    "note: posix mq with %zu B messages: capacity %ld, "
			    "not 1024 (RLIMIT_MSGQUEUE %llu bytes, cannot be "
			    "raised without CAP_SYS_RESOURCE)\n",
			    base_mq_caps[i].size, base_mq_caps[i].maxmsg,
			    (unsigned long long)rl.rlim_cur);
}

/* The data (or request) queue and the reply queue of a run. */
struct base_mq_ctx {
	char name[2][64];
	mqd_t q[2];
	size_t msgsize;
};

/* Create the queues of a run. */
static int
base_mq_prepare(struct run *r, char *err, size_t errlen)
{
	struct base_mq_ctx *c = bench_xmalloc(sizeof *c);
	struct mq_attr attr;
	int i, nq = r->wl->kind == WL_PINGPONG ? 2 : 1;

	memset(c, 0, sizeof *c);
	c->q[0] = c->q[1] = (mqd_t)-1;
	c->msgsize = r->wl->size;
	r->ctx = c;
	if (base_mq_size_max > 0 && (long)c->msgsize > base_mq_size_max) {
		snprintf(err, errlen,
		    "%zu B is above fs.mqueue.msgsize_max "
		    "(%ld) and only root may raise it",
		    c->msgsize, base_mq_size_max);
		return 1;
	}
	for (i = 0; i < nq; i++) {
		snprintf(c->name[i], sizeof c->name[i], "/cqbench-%ld-%d",
		    (long)getpid(), i);
		mq_unlink(c->name[i]);
		memset(&attr, 0, sizeof attr);
		attr.mq_maxmsg = base_mq_maxmsg;
		attr.mq_msgsize = (long)c->msgsize;
		/*
		 * RLIMIT_MSGQUEUE caps the bytes of all our queues; without
		 * CAP_SYS_RESOURCE it cannot be raised, so shrink the
		 * capacity until it fits (and report what was used).
		 */
		while ((c->q[i] = mq_open(c->name[i], O_RDWR | O_CREAT | O_EXCL,
		            0600, &attr)) == (mqd_t)-1 &&
		       errno == EMFILE && attr.mq_maxmsg > 8)
			attr.mq_maxmsg = attr.mq_maxmsg * 9 / 10;
		if (c->q[i] != (mqd_t)-1)
			base_mq_used(r->wl->size, attr.mq_maxmsg);
		if (c->q[i] == (mqd_t)-1) {
			snprintf(err, errlen,
			    "mq_open %s (maxmsg %ld, size "
			    "%zu): %s",
			    c->name[i], base_mq_maxmsg, c->msgsize,
			    strerror(errno));
			r->ctx = c;
			return -1;
		}
	}
	r->ctx = c;
	return 0;
}

/* A ping-pong round trip: request on q[0], reply from q[1]. */
static ssize_t
base_mq_rt(void *arg, const uint8_t *req, size_t len, uint8_t *back, size_t cap)
{
	struct base_mq_ctx *c = arg;

	if (mq_send(c->q[0], (const char *)req, len, 0) != 0)
		return -1;
	return mq_receive(c->q[1], (char *)back, cap, NULL);
}

/* The ping-pong server's request, from q[0]. */
static ssize_t
base_mq_get(void *arg, uint8_t *buf, size_t cap)
{
	return mq_receive(
	    ((struct base_mq_ctx *)arg)->q[0], (char *)buf, cap, NULL);
}

/* The ping-pong server's reply, to q[1]. */
static int
base_mq_put(void *arg, const uint8_t *buf, size_t len)
{
	return mq_send(
	    ((struct base_mq_ctx *)arg)->q[1], (const char *)buf, len, 0);
}

/* A stream message, to q[0]. */
static int
base_mq_send(void *arg, const uint8_t *buf, size_t len)
{
	return mq_send(
	    ((struct base_mq_ctx *)arg)->q[0], (const char *)buf, len, 0);
}

/* Stream producer, or ping-pong client. */
static void
base_mq_produce(struct run *r, int idx, struct child_res *res)
{
	struct base_mq_ctx *c = r->ctx;

	if (r->wl->kind != WL_STREAM)
		bench_pingpong_client(r, res, c->msgsize, base_mq_rt, c);
	else
		bench_stream_produce(r, idx, res, base_mq_send, c);
}

/* Stream consumer (stops at an empty sentinel), or ping-pong server. */
static void
base_mq_consume(struct run *r, int idx, struct child_res *res)
{
	struct base_mq_ctx *c = r->ctx;
	const struct wl *wl = r->wl;
	uint8_t *buf;
	struct checker ck;
	ssize_t got;

	if (wl->kind != WL_STREAM) {
		bench_pingpong_server(
		    r, res, c->msgsize, base_mq_get, base_mq_put, c);
		return;
	}
	buf = bench_xmalloc(c->msgsize);
	bench_checker_init(&ck, wl, res);
	bench_barrier(r);
	for (;;) {
		got = mq_receive(c->q[0], (char *)buf, c->msgsize, NULL);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			bench_fail(res, "mq_receive: %s", strerror(errno));
			break;
		}
		if (got == 0)
			break;
		res->t_last = bench_now();
		if (bench_check(&ck, buf, (size_t)got) != 0)
			break;
	}
	free(buf);
}

/* Every producer is done: one empty sentinel per consumer ends the run. */
static int
base_mq_finish(struct run *r, char *err, size_t errlen)
{
	struct base_mq_ctx *c = r->ctx;
	struct timespec ts;
	int i;

	if (r->wl->kind != WL_STREAM)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += r->cfg->timeout_s;
	for (i = 0; i < r->wl->ncons; i++) {
		if (mq_timedsend(c->q[0], "", 0, 0, &ts) != 0) {
			snprintf(
			    err, errlen, "mq sentinel: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Remove the queues. */
static void
base_mq_cleanup(struct run *r)
{
	struct base_mq_ctx *c = r->ctx;
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < 2; i++) {
		if (c->q[i] != (mqd_t)-1)
			mq_close(c->q[i]);
		if (c->name[i][0] != '\0')
			mq_unlink(c->name[i]);
	}
	free(c);
	r->ctx = NULL;
}

const struct transport bench_mq = {
    .name = "posix-mq",
    .flavours = 1u << FL_PLAIN,
    .prepare = base_mq_prepare,
    .produce = base_mq_produce,
    .consume = base_mq_consume,
    .finish = base_mq_finish,
    .cleanup = base_mq_cleanup,
};
