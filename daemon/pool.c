/* pool.c - freed records kept for reuse at the message rate. */

#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "daemon/pool.h"

/* A record of size bytes from pool, its first clear bytes zeroed. */
void *
pool_get(struct pool *pool, size_t size, size_t clear)
{
	void *p;

	if (pool->n == 0)
		return calloc(1, size);
	p = pool->v[--pool->n];
	memset(p, 0, clear);
	return p;
}

/* Keep record p in pool for reuse, or free it. */
void
pool_put(struct pool *pool, void *p)
{
	if (!CQ_ASAN && pool->n < POOL_MAX)
		pool->v[pool->n++] = p;
	else
		free(p);
}

/* Free what pool keeps. */
void
pool_free(struct pool *pool)
{
	while (pool->n > 0)
		free(pool->v[--pool->n]);
}
