/* cancel_deadline.c - give up on an async pop at a deadline of our own. */

/*
 * usage: cancel_deadline [MS]
 *
 * Waits for a message with an async pop that has no timeout of its own;
 * the program keeps its own deadline (MS, default 200) and cancels the
 * pop when it passes. The callback runs exactly once, with CQ_CANCELED
 * (or with a message, had one arrived first). Cancelling never loses a
 * message: one pushed afterwards is still there for the next pop.
 * Prints "canceled" and then the message popped afterwards.
 */

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <conqueue/conqueue.h>

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The pop's one result. */
static void
got(cq_status st, cq_msg *m, void *arg)
{
	int *result = arg;

	*result = (int)st;
	if (m != NULL) {
		printf("popped before the deadline: %.*s\n", (int)cq_msg_len(m),
		    (const char *)cq_msg_data(m));
		cq_msg_free(m);
	}
}

/* Pop with a deadline of our own, cancel, then show nothing was lost. */
int
main(int argc, char **argv)
{
	long long deadline, left;
	struct pollfd pfd;
	cq_client *c;
	cq_queue *q;
	cq_msg *m;
	cq_op *op;
	cq_status st;
	char name[64];
	int result = -1, canceled = 0;

	if ((st = cq_connect(&c, NULL)) != CQ_OK) {
		fprintf(
		    stderr, "cancel_deadline: connect: %s\n", cq_strstatus(st));
		return 1;
	}
	snprintf(name, sizeof name, "cancel_deadline.%ld", (long)getpid());
	if ((st = cq_create(c, name, NULL)) != CQ_OK ||
	    (st = cq_open(c, name, &q)) != CQ_OK) {
		fprintf(stderr, "cancel_deadline: %s\n", cq_strstatus(st));
		return 1;
	}

	/* The pop itself would wait forever; the deadline is ours. */
	cq_pop_async(q, CQ_FOREVER, got, &result, &op);
	deadline = now_ms() + (argc > 1 ? atoi(argv[1]) : 200);
	while (result < 0) {
		left = deadline - now_ms();
		if (left <= 0 && !canceled) {
			/* The handle stays valid until the callback ran. */
			cq_op_cancel(op);
			canceled = 1;
		}
		pfd.fd = cq_client_fd(c);
		pfd.events = POLLIN;
		if (cq_client_events(c) & CQ_WANT_WRITE)
			pfd.events |= POLLOUT;
		poll(&pfd, 1, canceled ? -1 : (int)(left > 0 ? left : 0));
		if (cq_client_process(c) != CQ_OK)
			return 1;
	}
	printf("%s\n", result == CQ_CANCELED ? "canceled"
	                                     : cq_strstatus((cq_status)result));

	/* Nothing was lost: the next message goes to the next pop. */
	if (cq_push(q, "after", 5, CQ_FOREVER) != CQ_OK ||
	    cq_try_pop(q, &m) != CQ_OK)
		return 1;
	printf("%.*s\n", (int)cq_msg_len(m), (const char *)cq_msg_data(m));
	cq_msg_free(m);
	cq_delete(c, name);
	cq_disconnect(c);
	return result == CQ_CANCELED ? 0 : 1;
}
