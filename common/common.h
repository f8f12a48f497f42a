/* common.h - helpers shared by every part: names, time, checksums. */

#ifndef CQ_COMMON_H
#define CQ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "conqueue/conqueue.h"

#define CQ_PROTOCOL_VERSION 1

#ifndef nitems
#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#endif

/*
 * 1 when built with AddressSanitizer (gcc says so with
 * __SANITIZE_ADDRESS__, clang with __has_feature), else 0: record reuse
 * is off under it, so that a use after free is still caught.
 */
#if defined(__SANITIZE_ADDRESS__)
#define CQ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CQ_ASAN 1
#endif
#endif
#ifndef CQ_ASAN
#define CQ_ASAN 0
#endif

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t time_mono_ns(void);
/* Nanoseconds on CLOCK_REALTIME. */
uint64_t time_real_ns(void);
/*
 * Deadline in monotonic ns for a relative timeout in ms: UINT64_MAX for
 * forever (timeout < 0), now for 0. Saturates instead of overflowing.
 */
uint64_t time_deadline_ns(int64_t timeout_ms);
/* Milliseconds left until a monotonic deadline (0 if passed, -1 forever). */
int64_t time_left_ms(uint64_t deadline_ns);

/* CRC-32C (Castagnoli) of len bytes, continuing from crc (start with 0). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The system daemon's socket: root's default, everyone's fallback. */
#define SOCKET_SYSTEM_PATH "/run/conqueue/conqueued.sock"

/* The default socket path rule of cq_default_socket(3), without its
 * $CONQUEUE_SOCKET lookup. */
int socket_default_path(char *buf, size_t len);
/* The path a client tries when its default is absent, or NULL. */
const char *socket_fallback_path(void);

#endif /* CQ_COMMON_H */
