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

/* Add n bytes at 64-aligned off; 0 on overflow. */
static uint64_t
header_add(uint64_t off, uint64_t count, uint64_t size)
{
	uint64_t n;

	if (off == 0 || __builtin_mul_overflow(count, size, &n) ||
	    __builtin_add_overflow(off, n, &off))
		return 0;
	return header_roundup(off, 64);
}

/*
 * The max_bytes a create asks for in force: 0 is the default, raised to
 * max_size and lowered to capacity * max_size (what fixed slots held); a
 * value below max_size or above CORE_MAX_BYTES_MAX is invalid (0).
 */
uint64_t
header_max_bytes(uint32_t capacity, uint32_t max_size, uint64_t want)
{
	uint64_t all = (uint64_t)capacity * max_size;

	if (want == 0) {
		want = CORE_MAX_BYTES_DEFAULT;
		if (want < max_size)
			want = max_size;
	} else if (want < max_size || want > CORE_MAX_BYTES_MAX)
		return 0;
	return want < all ? want : all;
}

/*
 * Compute the layout for these sizes (max_bytes in force); -1 if invalid
 * or too large. The heap holds any capacity messages of max_bytes in all:
 * a record is its 32-byte header and payload rounded up to whole chunks,
 * so it needs at most (32 + 63) bytes more than its payload.
 */
int
header_geom(uint32_t capacity, uint32_t max_size, uint32_t bands,
    uint64_t max_bytes, struct queue_geom *g)
{
	uint64_t off, words, chunks, slack;

	if (capacity < 1 || capacity > UINT32_MAX - 1 || max_size < 1 ||
	    max_size > QUEUE_MAX_SIZE || bands < 1 || bands > CQ_BANDS_MAX ||
	    max_bytes < max_size || max_bytes > CORE_MAX_BYTES_MAX)
		return -1;
	chunks = (max_bytes + (uint64_t)capacity *
	                          (sizeof(struct queue_slot) + QUEUE_CHUNK - 1) +
	             QUEUE_CHUNK - 1) /
	         QUEUE_CHUNK;
	chunks = header_roundup(chunks, QUEUE_PAGE_CHUNKS);
	if (chunks == 0 || chunks > UINT32_MAX)
		return -1;
	g->heap_chunks = chunks;
	words = chunks / 64; /* one map word per heap page */
	off = header_roundup(sizeof(struct queue_hdr), 64);
	g->ring_off = off;
	off = header_add(off, (uint64_t)bands * capacity, sizeof(uint32_t));
	g->idx_off = off;
	off = header_add(off, capacity, sizeof(uint64_t));
	g->inflight_off = off;
	off = header_add(off, capacity, sizeof(struct queue_inflight));
	g->free_off = off;
	off = header_add(off, capacity, sizeof(uint32_t));
	g->map_off = off;
	off = header_add(off, words, sizeof(uint64_t));
	g->back_off = off;
	off = header_add(off, (words + 63) / 64, sizeof(uint64_t));
	g->heap_off = off = header_roundup(off, QUEUE_PAGE);
	slack = header_roundup(sizeof(struct queue_slot) + max_size, QUEUE_PAGE);
	off = header_add(off, chunks, QUEUE_CHUNK);
	if (off == 0 || __builtin_add_overflow(off, slack, &off))
		return -1;
	g->total = off;
	if (g->total > (uint64_t)SIZE_MAX || g->total > (uint64_t)INT64_MAX)
		return -1;
	return 0;
}

/* The geometry of a create's attributes; -1 if they are invalid. */
static int
header_attr_geom(const struct core_attr *attr, struct queue_geom *g,
    uint64_t *mb)
{
	*mb = header_max_bytes(attr->capacity, attr->max_size, attr->max_bytes);
	if (*mb == 0 || header_geom(attr->capacity, attr->max_size,
	                    attr->bands, *mb, g) != 0)
		return -1;
	return 0;
}

/* The segment file's size for attr (sparse: see core_charge_size). */
size_t
core_segment_size(const struct core_attr *attr)
{
	struct queue_geom g;
	uint64_t mb;

	if (header_attr_geom(attr, &g, &mb) != 0)
		return 0;
	return (size_t)g.total;
}

/*
 * What the storage quota charges for attr: everything reserved at create
 * (all but the heap) plus the max_bytes in force; 0 if invalid.
 */
size_t
core_charge_size(const struct core_attr *attr)
{
	struct queue_geom g;
	uint64_t mb;

	if (header_attr_geom(attr, &g, &mb) != 0 ||
	    g.heap_off + mb > (uint64_t)SIZE_MAX)
		return 0;
	return (size_t)(g.heap_off + mb);
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
	if (header_geom(im.capacity, im.max_size, im.bands, im.max_bytes,
	        &g) != 0 ||
	    g.total != im.total_size || g.total != size ||
	    g.ring_off != im.ring_off || g.idx_off != im.idx_off ||
	    g.inflight_off != im.inflight_off || g.free_off != im.free_off ||
	    g.map_off != im.map_off || g.back_off != im.back_off ||
	    g.heap_off != im.heap_off || g.heap_chunks != im.heap_chunks ||
	    im.pad0 != 0 || im.serial > 1 ||
	    im.base % im.capacity != 0 || im.base < (UINT64_C(1) << 61) ||
	    memchr(im.name, '\0', CQ_NAME_MAX + 1) == NULL)
		return CQ_CORRUPT;
	if (out != NULL)
		*out = im;
	return CQ_OK;
}
