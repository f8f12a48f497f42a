/* guard.h - run a core operation so that a truncated segment cannot kill. */

#ifndef CQ_CORE_GUARD_H
#define CQ_CORE_GUARD_H

#include <setjmp.h>

#include "core/layout.h"

/* Guard base..base+len; *faulted is set if it faults. */
void guard_enter(
    struct core_guard *g, unsigned char *base, size_t len, int *faulted);
/* Guard q's mapping: as guard_enter, and a fault while q's lock is held
 * hands the lock on as if this thread had died holding it. */
void guard_enter_q(struct core_guard *g, struct core_queue *q);
/* Leave the innermost guard g. */
void guard_leave(struct core_guard *g);

/*
 * The value of expr (computed on q's mapping), or fallback if q is
 * quarantined or expr raised SIGBUS in the mapping. sigsetjmp sits in the
 * caller's frame, as it must; v_ (volatile, so it lives in memory) is
 * only assigned once expr has completed, so after a jump it still holds
 * fallback.
 */
#define GUARD_VALUE(q, expr, fallback)                                         \
	__extension__({                                                        \
		struct core_guard g_;                                          \
		volatile __typeof__(expr) v_ = (fallback);                     \
		if (!(q)->corrupt) {                                           \
			guard_enter_q(&g_, (q));                               \
			if (sigsetjmp(g_.jb, 0) == 0) {                        \
				v_ = (expr);                                   \
				guard_leave(&g_);                              \
			}                                                      \
		}                                                              \
		v_;                                                            \
	})

/* The status expr gives, CQ_CORRUPT if q is or just became quarantined. */
#define GUARD_STATUS(q, expr) GUARD_VALUE(q, expr, CQ_CORRUPT)

#endif /* CQ_CORE_GUARD_H */
