/* peek.c - read a segment's immutable header without attaching it. */

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "core/layout.h"

/*
 * The immutable part of layouts 1 and 2 (fixed slots): read only to give a
 * refused older segment its name and owner, so that it is quarantined
 * under the queue's own name (stat and delete work) instead of vanishing.
 */
struct queue_imm_v2 {
	uint64_t magic;
	uint32_t layout;
	uint32_t hdr_size;
	uint64_t offs[6]; /* total_size .. free_off, base */
	uint32_t capacity;
	uint32_t max_size;
	uint32_t bands;
	uint32_t slot_size;
	uint32_t uid;
	uint32_t gid;
	uint32_t max_deliveries;
	uint32_t lease_ms;
	uint32_t serial;
	uint32_t flags;
	char name[QUEUE_NAME_LEN];
};

/* An older segment's name and owner into a (0), or -1 if it is none. */
static int
peek_old(const void *buf, size_t n, struct core_attr *a)
{
	struct queue_imm_v2 im;
	uint32_t crc;

	if (n < sizeof im + sizeof crc)
		return -1;
	memcpy(&im, buf, sizeof im);
	memcpy(&crc, (const unsigned char *)buf + sizeof im, sizeof crc);
	if (im.magic != QUEUE_MAGIC || im.layout < 1 ||
	    im.layout >= QUEUE_LAYOUT_MIN || crc32c(0, &im, sizeof im) != crc ||
	    memchr(im.name, '\0', CQ_NAME_MAX + 1) == NULL)
		return -1;
	memcpy(a->name, im.name, strlen(im.name) + 1);
	a->capacity = im.capacity;
	a->max_size = im.max_size;
	a->bands = im.bands;
	a->uid = im.uid;
	a->gid = im.gid;
	a->max_deliveries = im.max_deliveries;
	a->lease_ms = im.lease_ms;
	a->serial = im.serial;
	a->mode = 0600;
	return 0;
}

/*
 * Read the name and owner of segment segname with pread only (nothing is
 * mapped, so a truncated file cannot SIGBUS). CQ_OK only if the file is
 * ours (mode 0600) and the immutable header carries its magic and checksum:
 * then the name is the queue's own, even when the rest of the segment is
 * damaged. The caller keeps a quarantined queue under that name.
 */
cq_status
core_peek_at(int dirfd, const char *segname, struct core_attr *a)
{
	struct queue_hdr hdr;
	struct stat sb;
	ssize_t n;
	int fd;

	memset(a, 0, sizeof *a);
	if ((fd = openat(dirfd, segname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) <
	    0)
		return CQ_NOTFOUND;
	/* Only a file nobody else could have written names a queue. */
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != geteuid() || (sb.st_mode & 07777) != 0600) {
		close(fd);
		return CQ_CORRUPT;
	}
	memset(&hdr, 0, sizeof hdr);
	n = pread(fd, &hdr, offsetof(struct queue_hdr, lock), 0);
	close(fd);
	/* An older layout: named, so that attach refuses it by name. */
	if (n > 0 && hdr.imm.magic == QUEUE_MAGIC &&
	    hdr.imm.layout < QUEUE_LAYOUT_MIN)
		return peek_old(&hdr, (size_t)n, a) == 0 ? CQ_OK : CQ_CORRUPT;
	if (n < (ssize_t)offsetof(struct queue_hdr, pad1) ||
	    hdr.imm.magic != QUEUE_MAGIC || hdr.imm.layout != QUEUE_LAYOUT ||
	    crc32c(0, &hdr.imm, sizeof hdr.imm) != hdr.hcrc ||
	    memchr(hdr.imm.name, '\0', CQ_NAME_MAX + 1) == NULL)
		return CQ_CORRUPT;
	memcpy(a->name, hdr.imm.name, strlen(hdr.imm.name) + 1);
	a->capacity = hdr.imm.capacity;
	a->max_size = hdr.imm.max_size;
	a->bands = hdr.imm.bands;
	a->uid = hdr.imm.uid;
	a->gid = hdr.imm.gid;
	a->max_deliveries = hdr.imm.max_deliveries;
	a->lease_ms = hdr.imm.lease_ms;
	a->serial = hdr.imm.serial;
	a->no_direct = (hdr.imm.flags & QUEUE_IMM_NO_DIRECT) != 0;
	a->max_bytes = hdr.imm.max_bytes;
	/* The owner word is mutable: trust it only if the whole read came. */
	if (n == (ssize_t)offsetof(struct queue_hdr, lock)) {
		layout_owner(hdr.owner, &a->uid, &a->gid);
		a->mode = (uint32_t)hdr.mode & 0777u;
	}
	return CQ_OK;
}

/* core_peek_at for a shm_open-style name ("/name") in /dev/shm. */
cq_status
core_peek(const char *segname, struct core_attr *a)
{
	cq_status st;
	int dfd;

	memset(a, 0, sizeof *a);
	if (segname == NULL || segname[0] != '/')
		return CQ_INVALID;
	if ((dfd = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return CQ_SYSTEM;
	st = core_peek_at(dfd, segname + 1, a);
	close(dfd);
	return st;
}
