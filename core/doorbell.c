/* doorbell.c - a queue's doorbell: a FIFO next to its segment. */

/*
 * Direct clients ring the daemon's doorbell (core/direct.h) through a
 * descriptor it handed over with the segment. A segment outlives the
 * daemon; so must the doorbell, or clients that mapped before a restart
 * would ring something the new daemon never reads, and socket clients
 * parked in it would not be served after their commits. An eventfd dies
 * with its last reader's interest; a FIFO has a name: the new daemon opens
 * the same FIFO and reads what clients of the old one write to it.
 *
 * The FIFO is opened read-write (Linux: never blocks, and a writer always
 * has a reader, itself, so a client writing while no daemon runs gets no
 * SIGPIPE, only EAGAIN once the pipe is full, which means "already rung")
 * and non-blocking (the flag lives in the open file description, which
 * the clients share). A client writes 8 bytes as to an eventfd: nothing
 * changes for it.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/layout.h"

/* "<segment>.bell" into buf; -1 (ENAMETOOLONG) if it does not fit. */
static int
doorbell_name(const struct core_queue *q, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.bell", q->fname);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Open q's doorbell FIFO (making it first if create); fd or -1. */
int
core_doorbell_open(struct core_queue *q, int create)
{
	char name[sizeof q->fname + 8];
	struct stat sb;
	int fd;

	if (q->dirfd < 0 || q->fd >= 0) {
		errno = EBADF; /* only the daemon's own, named segments */
		return -1;
	}
	if (doorbell_name(q, name, sizeof name) != 0)
		return -1;
	if (create && mkfifoat(q->dirfd, name, 0600) != 0 && errno != EEXIST)
		return -1;
	fd = openat(
	    q->dirfd, name, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* Ours and nothing else (the directory is the daemon's). */
	if (fstat(fd, &sb) != 0 || !S_ISFIFO(sb.st_mode) ||
	    sb.st_uid != geteuid() || (sb.st_mode & 077) != 0) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* Remove q's doorbell FIFO (the queue is deleted); 0 or -1. */
int
core_doorbell_unlink(struct core_queue *q)
{
	char name[sizeof q->fname + 8];

	if (q->dirfd < 0 || q->fd >= 0) {
		errno = EBADF;
		return -1;
	}
	if (doorbell_name(q, name, sizeof name) != 0)
		return -1;
	if (unlinkat(q->dirfd, name, 0) != 0 && errno != ENOENT)
		return -1;
	return 0;
}
