/* guard.c - SIGBUS from a truncated segment: quarantine it, not the process. */

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/guard.h"

/* The innermost guard of this thread (initial-exec: no lazy TLS in a handler).
 */
static __thread struct core_guard *guard_top
    __attribute__((tls_model("initial-exec")));
/* What SIGBUS did before core_guard_install. */
static struct sigaction guard_old;
static int guard_installed;
/* core_guard_hold's count, and whether the handler is there for it only. */
static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long guard_holds;
static int guard_for_holds;

/* Guard base..base+len for this thread. */
void
guard_enter(struct core_guard *g, unsigned char *base, size_t len, int *faulted)
{
	g->lo = base;
	g->len = len;
	g->faulted = faulted;
	g->locked = NULL;
	g->lockword = NULL;
	g->prev = guard_top;
	/* The handler must see a whole guard: no reordering past this. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	guard_top = g;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* Guard q's mapping, and its lock if we hold it when it faults. */
void
guard_enter_q(struct core_guard *g, struct core_queue *q)
{
	guard_enter(g, q->base, q->size, &q->corrupt);
	g->locked = &q->locked;
	g->lockword = &q->hdr->lock.__data.__lock;
}

/* Leave the innermost guard. */
void
guard_leave(struct core_guard *g)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	guard_top = g->prev;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* Guard q's mapping (the daemon's own reads of message data). */
void
core_guard_enter(struct core_guard *g, struct core_queue *q)
{
	guard_enter_q(g, q);
}

/*
 * The mapping faulted while this thread holds its lock: the op under it
 * is half done and the mapping about to go. Do what the kernel does for
 * a robust owner that dies (keep the waiters bit, set FUTEX_OWNER_DIED,
 * clear the owner, wake one): the next locker gets EOWNERDEAD and runs
 * recovery, which checks the file's size. *locked becomes 2 so this
 * runs once. A fault on the lock word itself re-enters the handler,
 * which then skips this.
 */
static void
guard_orphan(struct core_guard *g)
{
	unsigned int w, tid = (unsigned int)syscall(SYS_gettid);

	if (g->locked == NULL || *g->locked != 1)
		return;
	*g->locked = 2;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	w = (unsigned int)__atomic_load_n(g->lockword, __ATOMIC_ACQUIRE);
	if ((w & FUTEX_TID_MASK) != tid)
		return;
	if (__atomic_compare_exchange_n(g->lockword, &(int){(int)w},
	        (int)((w & FUTEX_WAITERS) | FUTEX_OWNER_DIED), 0,
	        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
	    (w & FUTEX_WAITERS) != 0)
		syscall(SYS_futex, g->lockword, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Leave the innermost guard. */
void
core_guard_leave(struct core_guard *g)
{
	guard_leave(g);
}

/*
 * SIGBUS: if the kernel raised it for an address inside a guarded mapping
 * of this thread, put zero pages in place of the whole mapping (later
 * reads, glibc's robust list walking the lock we may hold included, no
 * longer fault), mark it faulted and jump back to the innermost guard of
 * that mapping, dropping the guards inside it. Anything else: restore the
 * previous disposition and let it happen (re-raise for the default).
 */
static void
guard_handler(int sig, siginfo_t *si, void *uc)
{
	unsigned char *a = si->si_addr;
	struct core_guard *g;
	int saved = errno;

	for (g = guard_top; g != NULL && si->si_code > 0; g = g->prev)
		if (a >= g->lo && a < g->lo + g->len)
			break;
	if (g != NULL && si->si_code > 0) {
		guard_orphan(g);
		mmap(g->lo, g->len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		*g->faulted = 1;
		guard_top = g->prev;
		errno = saved;
		siglongjmp(g->jb, 1);
	}
	if ((guard_old.sa_flags & SA_SIGINFO) != 0 &&
	    guard_old.sa_sigaction != NULL) {
		guard_old.sa_sigaction(sig, si, uc);
	} else if (guard_old.sa_handler != SIG_DFL &&
	           guard_old.sa_handler != SIG_IGN) {
		guard_old.sa_handler(sig);
	} else {
		/* Not ours: the default (a fault re-faults; kill dies). */
		sigaction(SIGBUS, &guard_old, NULL);
		if (guard_old.sa_handler == SIG_DFL)
			raise(SIGBUS);
	}
	errno = saved;
}

/* Install the SIGBUS handler (guard_mu held, or single-threaded). */
static int
guard_set(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = guard_handler;
	/* NODEFER: we leave by siglongjmp without restoring the mask. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &guard_old) != 0)
		return -1;
	guard_installed = 1;
	return 0;
}

/* Install the SIGBUS handler once, for good. */
int
core_guard_install(void)
{
	int rv = 0;

	pthread_mutex_lock(&guard_mu);
	if (!guard_installed)
		rv = guard_set();
	guard_for_holds = 0; /* stays, whatever the holds do */
	pthread_mutex_unlock(&guard_mu);
	return rv;
}

/* One more mapping to guard: the handler is in place while any is held. */
int
core_guard_hold(void)
{
	int rv = 0;

	pthread_mutex_lock(&guard_mu);
	if (!guard_installed) {
		rv = guard_set();
		guard_for_holds = rv == 0;
	}
	if (rv == 0)
		guard_holds++;
	pthread_mutex_unlock(&guard_mu);
	return rv;
}

/*
 * One mapping less. The last one gives SIGBUS back to what it was, unless
 * the handler was installed for good, or somebody installed another since
 * (it may chain to ours: leave it all as it is).
 */
void
core_guard_drop(void)
{
	struct sigaction cur;

	pthread_mutex_lock(&guard_mu);
	if (guard_holds > 0 && --guard_holds == 0 && guard_for_holds &&
	    sigaction(SIGBUS, NULL, &cur) == 0 &&
	    (cur.sa_flags & SA_SIGINFO) != 0 &&
	    cur.sa_sigaction == guard_handler &&
	    sigaction(SIGBUS, &guard_old, NULL) == 0) {
		guard_installed = 0;
		guard_for_holds = 0;
	}
	pthread_mutex_unlock(&guard_mu);
}
