/* timeutil.c - monotonic and wall-clock time helpers. */

#include <time.h>

#include "common.h"

/* Return nanoseconds on the monotonic clock. */
uint64_t
time_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Return nanoseconds on the wall clock. */
uint64_t
time_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Turn a relative timeout in ms into a monotonic deadline in ns. */
uint64_t
time_deadline_ns(int64_t timeout_ms)
{
	uint64_t now = time_mono_ns();
	uint64_t add;

	if (timeout_ms < 0)
		return UINT64_MAX;
	if ((uint64_t)timeout_ms > (UINT64_MAX - now) / 1000000u)
		return UINT64_MAX - 1;
	add = (uint64_t)timeout_ms * 1000000u;
	return now + add;
}

/* Return the milliseconds left until a monotonic deadline. */
int64_t
time_left_ms(uint64_t deadline_ns)
{
	uint64_t now;

	if (deadline_ns == UINT64_MAX)
		return -1;
	now = time_mono_ns();
	if (now >= deadline_ns)
		return 0;
	return (int64_t)((deadline_ns - now + 999999u) / 1000000u);
}
