/* sidecar.c - a queue's daemon-only records file beside its segment. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "daemon/crashpoint.h"
#include "daemon/log.h"
#include "daemon/registry.h"
#include "daemon/segdir.h"
#include "daemon/sidecar.h"

/* The file name of q's file of kind k (+ sfx). */
static void
sidecar_name(const struct sidecar_kind *k, const struct rqueue *q, char *buf,
    size_t len, const char *sfx)
{
	snprintf(buf, len, "%s%s%s", q->segname, k->sfx, sfx);
}

/* Set s up for q's file of kind k. */
void
sidecar_init(struct sidecar *s, const struct sidecar_kind *k, struct rqueue *q)
{
	s->k = k;
	s->q = q;
	s->fd = -1;
	s->records = 0;
}

/* Close s's file. */
void
sidecar_close(struct sidecar *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* 1 if q's file of kind k exists. */
int
sidecar_exists(const struct sidecar_kind *k, const struct rqueue *q)
{
	char name[160];

	sidecar_name(k, q, name, sizeof name, "");
	return faccessat(segdir_fd(), name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Remove q's file of kind k. */
void
sidecar_unlink(const struct sidecar_kind *k, const struct rqueue *q)
{
	char name[160];

	sidecar_name(k, q, name, sizeof name, "");
	if (unlinkat(segdir_fd(), name, 0) != 0 && errno != ENOENT)
		log_warn("queue '%.*s': removing %s/%s: %s", (int)q->namelen,
		    q->name, segdir_path(), name, strerror(errno));
}

/* Set rec's crc (its first 4 bytes) from the rest. */
static void
sidecar_seal(uint8_t *rec, size_t len)
{
	uint32_t crc = crc32c(0, rec + sizeof crc, len - sizeof crc);

	memcpy(rec, &crc, sizeof crc);
}

/* Write all of buf at the end of fd; -1 with errno. */
static int
sidecar_write(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Seal rec and write it to fd. */
int
sidecar_put(int fd, uint8_t *rec, size_t len)
{
	sidecar_seal(rec, len);
	return sidecar_write(fd, rec, len);
}

/* Seal and append rec to s's file. */
int
sidecar_append(struct sidecar *s, uint8_t *rec, size_t len, const char *what)
{
	/* The page cache has it once write returns: a kill -9 keeps it. */
	if (s->fd < 0 || sidecar_put(s->fd, rec, len) != 0) {
		log_warn("queue '%.*s': recording %s: %s", (int)s->q->namelen,
		    s->q->name, what,
		    s->fd < 0 ? "no file to record it in" : strerror(errno));
		return -1;
	}
	s->records++;
	return 0;
}

/* Rewrite s's file with what each() puts, renamed over the old one. */
void
sidecar_compact(
    struct sidecar *s, int64_t (*each)(void *arg, int fd), void *arg)
{
	struct rqueue *q = s->q;
	char tmp[160], name[160];
	int64_t n = -1;
	int fd;

	sidecar_name(s->k, q, tmp, sizeof tmp, ".tmp");
	sidecar_name(s->k, q, name, sizeof name, "");
	fd = openat(segdir_fd(), tmp,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || sidecar_write(fd, s->k->magic, 8) != 0 ||
	    (n = each(arg, fd)) < 0)
		goto fail;
	if (s->k->crash != NULL)
		crashpoint(s->k->crash);
	if (renameat(segdir_fd(), tmp, segdir_fd(), name) != 0)
		goto fail;
	sidecar_close(s);
	s->fd = fd;
	s->records = (uint64_t)n;
	return;
fail:
	log_warn("queue '%.*s': writing %s/%s: %s", (int)q->namelen, q->name,
	    segdir_path(), tmp, strerror(errno));
	if (fd >= 0) {
		close(fd);
		unlinkat(segdir_fd(), tmp, 0);
	}
}

/* Read s's file record by record; a bad record ends the log. */
void
sidecar_load(struct sidecar *s,
    int (*rec)(void *arg, const uint8_t *p, size_t len), void *arg)
{
	const struct sidecar_kind *k = s->k;
	struct rqueue *q = s->q;
	struct stat sb;
	uint8_t *buf = NULL, *p, *end;
	uint32_t crc;
	char name[160];
	size_t len;
	int fd;

	sidecar_name(k, q, name, sizeof name, "");
	fd = openat(segdir_fd(), name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("queue '%.*s': %s/%s: %s", (int)q->namelen,
			    q->name, segdir_path(), name, strerror(errno));
		return;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != geteuid() || sb.st_size < 8 ||
	    (uint64_t)sb.st_size > k->max_size ||
	    (buf = malloc((size_t)sb.st_size)) == NULL ||
	    pread(fd, buf, (size_t)sb.st_size, 0) != sb.st_size ||
	    memcmp(buf, k->magic, 8) != 0) {
		log_warn("queue '%.*s': %s/%s: not a %s, ignored",
		    (int)q->namelen, q->name, segdir_path(), name, k->what);
		goto out;
	}
	end = buf + sb.st_size;
	/* A torn or damaged record ends the log: what follows is lost. */
	for (p = buf + 8; (size_t)(end - p) >= k->hdr; p += len) {
		if ((len = k->size(p)) < k->hdr || (size_t)(end - p) < len)
			break;
		memcpy(&crc, p, sizeof crc);
		if (crc32c(0, p + sizeof crc, len - sizeof crc) != crc ||
		    rec(arg, p, len) != 0)
			break;
	}
out:
	free(buf);
	close(fd);
}
