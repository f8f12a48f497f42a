/* header.c - a segment's geometry and the one check of its header. */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "core/header.h"

/* Round v up to a multiple of a (a power of two); 0 on overflow. */
static uint64_t
header_roundup(uint64_t v, uint64_t a)
{
	if (v > UINT64_MAX - (a - 1))
		return 0;
	return (v + a - 1) & ~(a - 1);
}

/* Compute the layout for these sizes; -1 if invalid or too large. */
int
header_geom(
    uint32_t capacity, uint32_t max_size, uint32_t bands, struct queue_geom *g)
{
	uint64_t off, n;

	if (capacity < 1 || capacity > UINT32_MAX - 1 || max_size < 1 ||
	    max_size > QUEUE_MAX_SIZE || bands < 1 || bands > CQ_BANDS_MAX)
		return -1;
	g->slot_size =
	    (uint32_t)(sizeof(struct queue_slot) + header_roundup(max_size, 8));
	off = header_roundup(sizeof(struct queue_hdr), 64);
	g->ring_off = off;
	off += (uint64_t)bands * capacity * sizeof(uint32_t);
	g->slot_off = off = header_roundup(off, 64);
	if (__builtin_mul_overflow((uint64_t)capacity, g->slot_size, &n) ||
	    __builtin_add_overflow(off, n, &off))
		return -1;
	g->inflight_off = off = header_roundup(off, 64);
	if (off == 0)
		return -1;
	off += (uint64_t)capacity * sizeof(struct queue_inflight);
	g->free_off = off = header_roundup(off, 64);
	if (off == 0)
		return -1;
	off += (uint64_t)capacity * sizeof(uint32_t);
	g->total = header_roundup(off, 64);
	if (g->total == 0 || g->total > (uint64_t)SIZE_MAX ||
	    g->total > (uint64_t)INT64_MAX)
		return -1;
	return 0;
}

/* Return the segment size for attr; 0 if the attributes are invalid. */
size_t
core_segment_size(const struct core_attr *attr)
{
	struct queue_geom g;

	if (header_geom(attr->capacity, attr->max_size, attr->bands, &g) != 0)
		return 0;
	return (size_t)g.total;
}

/* Check the file stat sb describes: ours, 0600, not empty; size in *size. */
static cq_status
header_check_sb(const struct stat *sb, uint32_t owner, size_t *size)
{
	/* Someone else's file, or one we would not have made: don't trust. */
	if (!S_ISREG(sb->st_mode) || sb->st_uid != owner ||
	    (sb->st_mode & 07777) != 0600)
		return CQ_CORRUPT;
	/* A create that died before its fallocate committed nothing. */
	if (sb->st_size == 0)
		return CQ_NOTFOUND;
	if (sb->st_size < (off_t)sizeof(struct queue_hdr) ||
	    (uint64_t)sb->st_size > SIZE_MAX)
		return CQ_CORRUPT;
	*size = (size_t)sb->st_size;
	return CQ_OK;
}

/* Check the file behind fd: ours, 0600, not empty; its size in *size. */
cq_status
header_stat(int fd, uint32_t owner, size_t *size)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0)
		return CQ_SYSTEM;
	return header_check_sb(&sb, owner, size);
}

/*
 * Stat q's file without holding an fd: by dirfd and name (no symlink
 * followed), and it must still be the file attach checked; fstat of the
 * handed-over fd for core_attach_fd. -1 if it is gone or replaced.
 */
int
header_file_stat(const struct core_queue *q, struct stat *sb)
{
	if (q->fd >= 0)
		return fstat(q->fd, sb);
	if (fstatat(q->dirfd, q->fname, sb, AT_SYMLINK_NOFOLLOW) != 0)
		return -1;
	if ((unsigned long long)sb->st_dev != q->dev ||
	    (unsigned long long)sb->st_ino != q->ino) {
		errno = ESTALE;
		return -1;
	}
	return 0;
}

/*
 * Validate the file and the header mapped at base (size bytes). Attach
 * calls it once before trusting anything, recovery every time it runs:
 * a shrunk file would SIGBUS the repair, a changed owner or mode means
 * someone else touched it, a changed immutable part means the cached
 * geometry no longer describes the segment.
 */
cq_status
header_validate(const struct stat *sb, uint32_t owner,
    const unsigned char *base, size_t size, const struct queue_imm *known,
    struct queue_imm *out)
{
	const struct queue_hdr *hdr = (const void *)base;
	struct queue_imm im;
	struct queue_geom g;
	size_t now;
	cq_status st;

	if ((st = header_check_sb(sb, owner, &now)) != CQ_OK)
		return CQ_CORRUPT;
	if (now != size || size < sizeof *hdr)
		return CQ_CORRUPT;
	im = hdr->imm;
	if (im.magic != QUEUE_MAGIC || im.layout < QUEUE_LAYOUT_MIN ||
	    im.layout > QUEUE_LAYOUT || im.hdr_size != sizeof *hdr ||
	    crc32c(0, &im, sizeof im) != hdr->hcrc)
		return CQ_CORRUPT;
	if (known != NULL && memcmp(&im, known, sizeof im) != 0)
		return CQ_CORRUPT;
	if (header_geom(im.capacity, im.max_size, im.bands, &g) != 0 ||
	    g.total != im.total_size || g.total != size ||
	    g.ring_off != im.ring_off || g.slot_off != im.slot_off ||
	    g.inflight_off != im.inflight_off || g.free_off != im.free_off ||
	    g.slot_size != im.slot_size || im.serial > 1 ||
	    im.base % im.capacity != 0 || im.base < (UINT64_C(1) << 61) ||
	    memchr(im.name, '\0', CQ_NAME_MAX + 1) == NULL)
		return CQ_CORRUPT;
	if (out != NULL)
		*out = im;
	return CQ_OK;
}
