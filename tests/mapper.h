/* mapper.h - a test client that maps a queue the way the library does. */

#ifndef CQ_TESTS_MAPPER_H
#define CQ_TESTS_MAPPER_H

#include <stddef.h>

#include "conqueue/conqueue.h"
#include "testutil.h"

/* A queue's segment as a (hostile) direct client holds it. */
struct mapper_seg {
	int seg, bell;
	unsigned char *base;
	size_t len;
};

/* Map name through a direct OPEN on raw connection fd (asserts). */
void mapper_map(int fd, const char *name, struct mapper_seg *m);
/* Unmap and close what mapper_map gave (children too, before _exit). */
void mapper_unmap(struct mapper_seg *m);
/* Run conqueue-cli -s d->sock args (shell words): stdout into out; exit 0. */
void mapper_cli(
    const struct tu_daemon *d, const char *args, char *out, size_t len);
/* Connect the library to d (CQ_CONNECT_* flags) and open name in *q. */
cq_client *mapper_connect(
    const struct tu_daemon *d, unsigned flags, const char *name, cq_queue **q);
/* Push "msg-0".."msg-<n-1>" to name over raw connection fd. */
void mapper_fill(int fd, const char *name, int n);
/* Assert that the daemon (our child) runs and answers a ping. */
void mapper_daemon_alive(struct tu_daemon *d);

#endif /* CQ_TESTS_MAPPER_H */
