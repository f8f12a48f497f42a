/* find_files.c - P0260's "find files with a string", across processes. */

/*
 * usage: find_files DIR STRING [CONSUMERS]
 *
 * One process walks DIR and pushes every regular file's name into a
 * queue, then closes it (P0260 5.3/5.5: the producer closes, consumers
 * drain). CONSUMERS processes (default 2) pop the names with the async
 * API on a libevent loop, a few pops in flight each, and print the names
 * of files that contain STRING. The output, sorted, equals
 * `grep -rl STRING DIR`. The daemon is found by $CONQUEUE_SOCKET or the
 * default path.
 */

/* nftw (XSI) and memmem (GNU): said here, so the installed copy builds on
 * its own (in the tree, config.h already defines it). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include <conqueue/conqueue-event.h>
#include <conqueue/conqueue.h>

#define POPS_IN_FLIGHT 4

static char qname[64];
static cq_queue *walk_q; /* the producer's queue, for the nftw callback */
static int walk_failed;

/* Say what failed and stop. */
static void
die(const char *what, cq_status st)
{
	fprintf(stderr, "find_files: %s: %s\n", what, cq_strstatus(st));
	exit(1);
}

/* nftw callback: push each regular file's path. */
static int
walk_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	cq_status st;

	if (type != FTW_F)
		return 0;
	/* Blocks while the queue is full: consumers set the pace. */
	if ((st = cq_push(walk_q, path, strlen(path), CQ_FOREVER)) != CQ_OK) {
		fprintf(stderr, "find_files: push %s: %s\n", path,
		    cq_strstatus(st));
		walk_failed = 1;
		return 1;
	}
	return 0;
}

/* The producer: walk the tree, push the names, close the queue. */
static int
producer(const char *dir)
{
	cq_client *c;
	cq_status st;

	if ((st = cq_connect_named(&c, NULL, "find_files producer")) != CQ_OK)
		die("connect", st);
	if ((st = cq_open(c, qname, &walk_q)) != CQ_OK)
		die("open", st);
	if (nftw(dir, walk_one, 16, FTW_PHYS) != 0 && !walk_failed)
		perror("find_files: nftw");
	/* Close even after a failure: the consumers must finish. */
	if ((st = cq_close(walk_q)) != CQ_OK)
		die("close", st);
	cq_disconnect(c);
	return walk_failed;
}

/* One consumer's state. */
struct consumer {
	cq_queue *q;
	struct event_base *base;
	const char *needle;
	int active; /* pops in flight */
	int failed;
};

/* Whether the file at path contains needle. */
static int
file_has(const char *path, const char *needle)
{
	size_t nlen = strlen(needle), len = 0, cap = 0;
	char *buf = NULL, *nb;
	ssize_t n;
	int fd, found;

	if ((fd = open(path, O_RDONLY)) < 0)
		return 0;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			if ((nb = realloc(buf, cap)) == NULL)
				break;
			buf = nb;
		}
		if ((n = read(fd, buf + len, cap - len)) <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	found = buf != NULL && memmem(buf, len, needle, nlen) != NULL;
	free(buf);
	return found;
}

static cq_pop_cb consumer_got;

/* Keep one more pop in flight. */
static void
consumer_arm(struct consumer *k)
{
	cq_status st = cq_pop_async(k->q, CQ_FOREVER, consumer_got, k, NULL);

	if (st != CQ_OK) {
		fprintf(stderr, "find_files: pop: %s\n", cq_strstatus(st));
		k->failed = 1;
		event_base_loopbreak(k->base);
		return;
	}
	k->active++;
}

/* A pop finished: grep the file, then pop again until the queue closes. */
static void
consumer_got(cq_status st, cq_msg *m, void *arg)
{
	struct consumer *k = arg;
	char line[4200];
	int n;

	k->active--;
	if (st == CQ_OK) {
		const char *path = cq_msg_data(m); /* NUL-terminated */

		if (file_has(path, k->needle)) {
			/* One write per line: lines of processes sharing
			 * stdout do not interleave. */
			n = snprintf(line, sizeof line, "%s\n", path);
			if (n > 0 && (size_t)n < sizeof line &&
			    write(STDOUT_FILENO, line, (size_t)n) != n)
				k->failed = 1;
		}
		cq_msg_free(m);
		consumer_arm(k);
		return;
	}
	if (st != CQ_CLOSED) {
		fprintf(stderr, "find_files: pop: %s\n", cq_strstatus(st));
		k->failed = 1;
	}
	/* Closed and drained: stop once every pop has come back. */
	if (k->active == 0)
		event_base_loopbreak(k->base);
}

/* A consumer process: pops on a libevent loop until the queue closes. */
static int
consumer(const char *needle)
{
	struct consumer k;
	cq_client *c;
	cq_status st;
	int i;

	memset(&k, 0, sizeof k);
	k.needle = needle;
	if ((st = cq_connect_named(&c, NULL, "find_files consumer")) != CQ_OK)
		die("connect", st);
	if ((st = cq_open(c, qname, &k.q)) != CQ_OK)
		die("open", st);
	if ((k.base = event_base_new()) == NULL)
		die("event_base_new", CQ_SYSTEM);
	if ((st = cq_event_attach(c, k.base)) != CQ_OK)
		die("attach", st);
	for (i = 0; i < POPS_IN_FLIGHT; i++)
		consumer_arm(&k);
	event_base_dispatch(k.base);
	cq_event_detach(c);
	event_base_free(k.base);
	cq_disconnect(c);
	return k.failed;
}

/* Fork one process running fn. */
static pid_t
spawn(int (*fn)(const char *), const char *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		fflush(stdout);
		_exit(fn(arg));
	}
	if (pid < 0) {
		perror("find_files: fork");
		exit(1);
	}
	return pid;
}

/* Create a private queue, run the producer and consumers, clean up. */
int
main(int argc, char **argv)
{
	cq_queue_attr attr;
	cq_client *c;
	cq_status st;
	pid_t pids[65];
	int n = 2, i, ws, rv = 0;

	if (argc < 3 || argc > 4 || (argc == 4 && (n = atoi(argv[3])) < 1) ||
	    n > 64) {
		fprintf(stderr, "usage: find_files DIR STRING [CONSUMERS]\n");
		return 1;
	}
	/* A private queue, small so that the producer waits for consumers. */
	snprintf(qname, sizeof qname, "find_files.%ld", (long)getpid());
	if ((st = cq_connect(&c, NULL)) != CQ_OK)
		die("connect", st);
	memset(&attr, 0, sizeof attr);
	attr.capacity = 64;
	attr.max_size = 4096;
	if ((st = cq_create(c, qname, &attr)) != CQ_OK)
		die("create", st);

	pids[0] = spawn(producer, argv[1]);
	for (i = 1; i <= n; i++)
		pids[i] = spawn(consumer, argv[2]);
	for (i = 0; i <= n; i++) {
		if (waitpid(pids[i], &ws, 0) != pids[i] || !WIFEXITED(ws) ||
		    WEXITSTATUS(ws) != 0)
			rv = 1;
	}
	cq_delete(c, qname);
	cq_disconnect(c);
	return rv;
}
