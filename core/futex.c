/* futex.c - sleep on and wake a 32-bit word in shared memory. */

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/futex.h"

/* Sleep while *word == expect, at most timeout_ns (relative, monotonic). */
int
futex_wait(uint32_t *word, uint32_t expect, int64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;

	/* FUTEX_WAIT takes a relative time, measured on CLOCK_MONOTONIC. */
	if (timeout_ns >= 0) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000);
		ts.tv_nsec = (long)(timeout_ns % 1000000000);
		tp = &ts;
	}
	if (syscall(SYS_futex, word, FUTEX_WAIT, expect, tp, NULL, 0) == 0)
		return 1;
	switch (errno) {
	case EAGAIN:    /* the word changed before we slept */
	case EINTR:     /* a signal: the caller re-checks and sleeps again */
	case ETIMEDOUT: /* the caller's own clock decides what this means */
		return 0;
	default:
		return -1;
	}
}

/* Wake up to n sleepers on word. */
int
futex_wake(uint32_t *word, int n)
{
	long r = syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);

	return r < 0 ? 0 : (int)r;
}
