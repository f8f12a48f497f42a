/* pool.h - freed records kept for reuse at the message rate. */

#ifndef CQ_DAEMON_POOL_H
#define CQ_DAEMON_POOL_H

#include <stddef.h>

/*
 * Every one-message pop makes an op (its hand-off record) and every
 * reserved message a resv, so they come and go at the message rate. Not
 * under ASan, which should see a use after free.
 */
#define POOL_MAX 256
struct pool {
	void *v[POOL_MAX];
	size_t n;
};

/* A record of size bytes from pool, its first clear bytes zeroed. */
void *pool_get(struct pool *pool, size_t size, size_t clear);
/* Keep record p in pool for reuse, or free it. */
void pool_put(struct pool *pool, void *p);
/* Free what pool keeps. */
void pool_free(struct pool *pool);

#endif /* CQ_DAEMON_POOL_H */
