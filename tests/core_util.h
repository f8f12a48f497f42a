/* core_util.h - helpers shared by the core test suites. */

#ifndef CQ_CORE_UTIL_H
#define CQ_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/queue.h"

struct Suite; /* check.h */

/* Remember the suite's pid: every segment name starts with it. */
void cu_init(void);
/* A fresh segment name unique to this process and call. */
void cu_segname(char *buf, size_t len);
/* Remove every segment this suite (and its children) left behind. */
void cu_cleanup(void);
/* Count the suite's segments still in /dev/shm. */
int cu_count(void);
/* Attributes for a test queue (owner: us, mode 0600). */
struct core_attr cu_attr(uint32_t capacity, uint32_t max_size, uint32_t bands);
/* n, or n / 10 (at least 1) when running under valgrind. */
long cu_scaled(long n);
/* $name as a positive count, else dflt scaled by cu_scaled. */
long cu_count_env(const char *name, long dflt);
/* A small deterministic PRNG (xorshift64*). */
uint64_t cu_rand(uint64_t *state);
/*
 * A core suite's main: run make()'s suite, then fail if it left a segment
 * behind (and remove those); name labels the message. Exit status for main.
 */
int cu_run(struct Suite *(*make)(void), const char *name);

#endif /* CQ_CORE_UTIL_H */
