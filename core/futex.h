/* futex.h - sleep on and wake a 32-bit word in shared memory. */

#ifndef CQ_CORE_FUTEX_H
#define CQ_CORE_FUTEX_H

/*
 * Shared futexes (not FUTEX_PRIVATE_FLAG): the word lives in a MAP_SHARED
 * segment that other processes map at other addresses, so the kernel must
 * key it by (file, offset). The word never needs a lock of its own: a
 * sleeper passes the value it read, and the kernel compares it with the
 * word and queues the sleeper atomically, so a change made before the
 * sleep starts makes futex_wait return at once.
 *
 * API
 *   futex_wait   sleep while the word holds a value, with a timeout
 *   futex_wake   wake some or all sleepers on a word
 */

#include <stdint.h>

/* Tell the CPU we are polling a word (the sibling hyperthread gets the core). */
#if defined(__x86_64__) || defined(__i386__)
#define FUTEX_RELAX() __builtin_ia32_pause()
#else
#define FUTEX_RELAX() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#endif

/*
 * Sleep while *word == expect, for at most timeout_ns nanoseconds on the
 * monotonic clock (< 0: no limit). Returns 1 when a FUTEX_WAKE took us
 * off the word (whoever made it), 0 when it is time to look at the state
 * again for another reason (the word had changed, a signal or the
 * timeout); either way the caller re-checks state and its own clock. -1
 * with errno for an error that retrying will not fix (EFAULT, ENOSYS).
 */
int futex_wait(uint32_t *word, uint32_t expect, int64_t timeout_ns);

/* Wake up to n sleepers on word (INT32_MAX: all); return how many woke. */
int futex_wake(uint32_t *word, int n);

#endif /* CQ_CORE_FUTEX_H */
