/* direct_probe.c - compiles only if conqueue.h declares cq_queue_direct. */

/*
 * Not part of any program: the build compiles it (syntax only) to write
 * bench/direct_api.h, so conqueue-bench checks its direct handles as soon
 * as the library can say which path a handle takes, and says "direct:
 * unverified" until then. It calls the function exactly as cq.c does.
 */

#include "conqueue/conqueue.h"

int direct_probe(cq_queue *q);

/* The call cq.c makes. */
int
direct_probe(cq_queue *q)
{
	return cq_queue_direct(q) ? 1 : 0;
}
