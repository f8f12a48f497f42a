/* pollable.c - async conqueue ops in a plain poll() loop beside other fds. */

/*
 * usage: pollable [COUNT]
 *
 * Submits COUNT (default 10) async pushes and COUNT async pops on one
 * connection, then runs an ordinary poll() loop over the client's socket
 * (cq_client_fd, with the events cq_client_events asks for) and a pipe
 * of the program's own, calling cq_client_process when the socket is
 * ready. Each popped message is printed; the pipe carries a "done" token
 * written by the last callback, as another event source would.
 */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <conqueue/conqueue.h>

/* The program's state, shared with the callbacks. */
struct state {
	int pushed, popped, count, failed;
	int wake[2]; /* our own event source */
};

/* A push finished. */
static void
pushed(cq_status st, void *arg)
{
	struct state *s = arg;

	if (st != CQ_OK) {
		fprintf(stderr, "pollable: push: %s\n", cq_strstatus(st));
		s->failed = 1;
	}
	s->pushed++;
}

/* A pop finished: print the message; the last one wakes the loop. */
static void
popped(cq_status st, cq_msg *m, void *arg)
{
	struct state *s = arg;

	if (st == CQ_OK) {
		printf(
		    "%.*s\n", (int)cq_msg_len(m), (const char *)cq_msg_data(m));
		cq_msg_free(m);
	} else {
		fprintf(stderr, "pollable: pop: %s\n", cq_strstatus(st));
		s->failed = 1;
	}
	if (++s->popped == s->count && write(s->wake[1], "x", 1) != 1)
		s->failed = 1;
}

/* Submit the ops, then run the poll() loop until the last pop. */
int
main(int argc, char **argv)
{
	struct state s;
	struct pollfd pfd[2];
	cq_queue_attr attr;
	cq_client *c;
	cq_queue *q;
	cq_status st;
	char name[64], msg[32];
	int i, done = 0;

	memset(&s, 0, sizeof s);
	s.count = argc > 1 ? atoi(argv[1]) : 10;
	if (s.count < 1 || pipe(s.wake) != 0)
		return 1;
	if ((st = cq_connect(&c, NULL)) != CQ_OK) {
		fprintf(stderr, "pollable: connect: %s\n", cq_strstatus(st));
		return 1;
	}
	snprintf(name, sizeof name, "pollable.%ld", (long)getpid());
	memset(&attr, 0, sizeof attr);
	attr.capacity = 4; /* fewer than COUNT: pushes must wait for pops */
	if ((st = cq_create(c, name, &attr)) != CQ_OK ||
	    (st = cq_open(c, name, &q)) != CQ_OK) {
		fprintf(stderr, "pollable: %s: %s\n", name, cq_strstatus(st));
		return 1;
	}
	for (i = 0; i < s.count; i++) {
		snprintf(msg, sizeof msg, "message %d", i);
		cq_push_async(
		    q, msg, strlen(msg), 0, CQ_FOREVER, pushed, &s, NULL);
		cq_pop_async(q, CQ_FOREVER, popped, &s, NULL);
	}
	while (!done) {
		pfd[0].fd = cq_client_fd(c);
		pfd[0].events = 0;
		if (cq_client_events(c) & CQ_WANT_READ)
			pfd[0].events |= POLLIN;
		if (cq_client_events(c) & CQ_WANT_WRITE)
			pfd[0].events |= POLLOUT;
		pfd[1].fd = s.wake[0];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return 1;
		if (pfd[0].revents != 0 &&
		    cq_client_process(c) == CQ_DISCONNECTED) {
			fprintf(stderr, "pollable: lost the daemon\n");
			return 1;
		}
		if (pfd[1].revents & POLLIN)
			done = 1;
	}
	cq_delete(c, name);
	cq_disconnect(c);
	return s.failed || s.pushed != s.count;
}
