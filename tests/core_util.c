/* core_util.c - helpers shared by the core test suites. */

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/core_util.h"

static char cu_prefix[64];
static unsigned cu_counter;

/* Remember the suite's pid: every segment name starts with it. */
void
cu_init(void)
{
	snprintf(cu_prefix, sizeof cu_prefix, "cqcore-%ld-", (long)getpid());
}

/* Make a fresh segment name. */
void
cu_segname(char *buf, size_t len)
{
	snprintf(
	    buf, len, "/%s%ld-%u", cu_prefix, (long)getpid(), cu_counter++);
}

/* Walk the suite's segments, removing them if asked; return the count. */
static int
cu_walk(int remove)
{
	struct dirent *de;
	char name[300];
	DIR *d;
	int n = 0;

	if (cu_prefix[0] == '\0' || (d = opendir("/dev/shm")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, cu_prefix, strlen(cu_prefix)) != 0)
			continue;
		n++;
		if (remove) {
			snprintf(name, sizeof name, "/%s", de->d_name);
			shm_unlink(name);
		}
	}
	closedir(d);
	return n;
}

/* Remove every segment this suite left behind. */
void
cu_cleanup(void)
{
	cu_walk(1);
}

/* Count the suite's segments. */
int
cu_count(void)
{
	return cu_walk(0);
}

/* Attributes for a test queue. */
struct core_attr
cu_attr(uint32_t capacity, uint32_t max_size, uint32_t bands)
{
	struct core_attr a;

	memset(&a, 0, sizeof a);
	snprintf(a.name, sizeof a.name, "test.q");
	a.capacity = capacity;
	a.max_size = max_size;
	a.bands = bands;
	a.mode = 0600;
	a.uid = (uint32_t)getuid();
	a.gid = (uint32_t)getgid();
	a.lease_ms = 30000;
	return a;
}

/* Scale a loop count down under valgrind, where each process crawls. */
long
cu_scaled(long n)
{
	if (getenv("CQ_UNDER_VALGRIND") == NULL)
		return n;
	return n / 10 > 0 ? n / 10 : 1;
}

/* A loop count: $name (long runs on demand), else dflt scaled. */
long
cu_count_env(const char *name, long dflt)
{
	const char *e = getenv(name);

	if (e != NULL && atol(e) > 0)
		return atol(e);
	return cu_scaled(dflt);
}

/* xorshift64*: deterministic per seed. */
uint64_t
cu_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(2685821657736338717);
}

/* Run the suite, then remove any segment a failed test left behind. */
int
cu_run(struct Suite *(*make)(void), const char *name)
{
	SRunner *sr;
	int failed;

	cu_init();
	sr = srunner_create(make());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (cu_count() != 0) {
		fprintf(stderr, "%s: segments left behind\n", name);
		failed++;
	}
	cu_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
