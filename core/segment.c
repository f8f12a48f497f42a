/* segment.c - create, attach, detach and unlink queue segments. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "core/direct.h"
#include "core/guard.h"
#include "core/header.h"
#include "core/lock.h"

/* Map an errno of shm_open to a status. */
static cq_status
segment_open_status(int err)
{
	switch (err) {
	case EEXIST:
		return CQ_EXISTS;
	case ENOENT:
		return CQ_NOTFOUND;
	case EACCES:
	case EPERM:
		return CQ_DENIED;
	case EINVAL:
	case ENAMETOOLONG:
		return CQ_INVALID;
	case EMFILE:
	case ENFILE:
		return CQ_LIMIT;
	default:
		return CQ_SYSTEM;
	}
}

/*
 * Fill the handle's pointers and caches from a validated mapping. im is
 * the private copy that was validated, never the mapped header: a mapper
 * may rewrite that between the check and this use.
 */
static cq_status
segment_handle(unsigned char *base, size_t size, int fd,
    const struct queue_imm *im, struct core_queue **qp)
{
	struct core_queue *q;
	struct queue_hdr *hdr = (struct queue_hdr *)(void *)base;

	q = calloc(1, sizeof *q);
	if (q == NULL)
		return CQ_SYSTEM;
	q->base = base;
	q->size = size;
	q->fd = fd;
	q->dirfd = -1;
	q->file_uid = (uint32_t)geteuid(); /* core_attach_fd: the daemon's */
	q->hdr = hdr;
	q->imm = *im;
	q->capacity = im->capacity;
	q->max_size = im->max_size;
	q->bands = im->bands;
	q->heap_chunks = im->heap_chunks;
	q->ring = (uint32_t *)(void *)(base + im->ring_off);
	q->idx = (uint64_t *)(void *)(base + im->idx_off);
	q->inflight =
	    (struct queue_inflight *)(void *)(base + im->inflight_off);
	q->free = (uint32_t *)(void *)(base + im->free_off);
	q->map = (uint64_t *)(void *)(base + im->map_off);
	q->back = (uint64_t *)(void *)(base + im->back_off);
	q->heap = base + im->heap_off;
	q->mark = malloc(q->capacity);
	q->order = calloc(q->capacity, sizeof *q->order);
	if (q->mark == NULL || q->order == NULL) {
		free(q->mark);
		free(q->order);
		free(q);
		errno = ENOMEM;
		return CQ_SYSTEM;
	}
	memcpy(q->attr.name, im->name, CQ_NAME_MAX);
	q->attr.name[CQ_NAME_MAX] = '\0';
	q->attr.capacity = im->capacity;
	q->attr.max_size = im->max_size;
	q->attr.bands = im->bands;
	q->attr.max_bytes = im->max_bytes;
	q->attr.mode = (uint32_t)__atomic_load_n(&hdr->mode, __ATOMIC_RELAXED);
	q->attr.uid = im->uid;
	q->attr.gid = im->gid;
	layout_owner(__atomic_load_n(&hdr->owner, __ATOMIC_ACQUIRE),
	    &q->attr.uid, &q->attr.gid);
	q->attr.max_deliveries = im->max_deliveries;
	q->attr.lease_ms = im->lease_ms;
	q->attr.serial = im->serial;
	q->attr.no_direct = (im->flags & QUEUE_IMM_NO_DIRECT) != 0;
	q->attr.ttl_ms = __atomic_load_n(&hdr->ttl_ms, __ATOMIC_RELAXED);
	q->attr.dedup_window_ms =
	    __atomic_load_n(&hdr->dedup_window_ms, __ATOMIC_RELAXED);
	*qp = q;
	return CQ_OK;
}

/* Record the file behind fd as the one a reopen must find again. */
static int
segment_remember(struct core_queue *q, int dirfd, const char *name, int fd)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0 || (size_t)snprintf(q->fname, sizeof q->fname,
	                               "%s", name) >= sizeof q->fname)
		return -1;
	q->dirfd = dirfd;
	q->dev = (unsigned long long)sb.st_dev;
	q->ino = (unsigned long long)sb.st_ino;
	return 0;
}

/*
 * Create and initialise segment name in directory dirfd. The handle keeps
 * no fd of the file: after the mapping it is closed (core_reopen opens it
 * again by dirfd and name when needed).
 */
cq_status
core_create_at(int dirfd, const char *name, const struct core_attr *attr,
    struct core_queue **qp)
{
	struct queue_geom g;
	struct queue_imm im;
	struct queue_hdr *hdr;
	unsigned char *base;
	uint64_t mb;
	cq_status st;
	uint32_t i;
	int fd, r, saved;

	*qp = NULL;
	mb = header_max_bytes(attr->capacity, attr->max_size, attr->max_bytes);
	if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL ||
	    mb == 0 ||
	    header_geom(attr->capacity, attr->max_size, attr->bands, mb, &g) !=
	        0 ||
	    memchr(attr->name, '\0', sizeof attr->name) == NULL ||
	    (attr->mode & ~07777u) != 0 || attr->serial > 1)
		return CQ_INVALID;

	fd = openat(dirfd, name,
	    O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return segment_open_status(errno);
	CORE_HOOK("create.after_open");
	/* open's mode went through the umask; set what we mean. */
	if (fchmod(fd, 0600) != 0) {
		st = CQ_SYSTEM;
		goto fail;
	}
	/*
	 * Size the file for the whole heap, but reserve only what comes
	 * before it: heap pages are backed when a record first needs them
	 * (core/heap.c), so tmpfs ENOSPC is a CQ_LIMIT then, never a SIGBUS.
	 */
	if (ftruncate(fd, (off_t)g.total) != 0) {
		st = errno == EFBIG || errno == ENOSPC ? CQ_LIMIT : CQ_SYSTEM;
		goto fail;
	}
	if ((r = posix_fallocate(fd, 0, (off_t)g.heap_off)) != 0) {
		errno = r;
		st = (r == ENOSPC || r == EFBIG || r == ENOMEM) ? CQ_LIMIT
		                                                : CQ_SYSTEM;
		goto fail;
	}
	CORE_HOOK("create.after_fallocate");
	base = mmap(
	    NULL, (size_t)g.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		st = errno == ENOMEM ? CQ_LIMIT : CQ_SYSTEM;
		goto fail;
	}
	hdr = (struct queue_hdr *)(void *)base;

	memset(&im, 0, sizeof im);
	im.magic = QUEUE_MAGIC;
	im.layout = QUEUE_LAYOUT;
	im.hdr_size = sizeof(struct queue_hdr);
	im.total_size = g.total;
	im.ring_off = g.ring_off;
	im.idx_off = g.idx_off;
	im.inflight_off = g.inflight_off;
	im.free_off = g.free_off;
	im.map_off = g.map_off;
	im.back_off = g.back_off;
	im.heap_off = g.heap_off;
	im.heap_chunks = g.heap_chunks;
	im.max_bytes = mb;
	im.base = (UINT64_C(1) << 62) / attr->capacity * attr->capacity;
	im.capacity = attr->capacity;
	im.max_size = attr->max_size;
	im.bands = attr->bands;
	im.uid = attr->uid;
	im.gid = attr->gid;
	im.max_deliveries = attr->max_deliveries;
	im.lease_ms = attr->lease_ms;
	im.serial = attr->serial;
	im.flags = attr->no_direct ? QUEUE_IMM_NO_DIRECT : 0;
	memcpy(im.name, attr->name, strlen(attr->name));

	/* The magic is written last: a crash mid-create leaves no magic. */
	hdr->hcrc = crc32c(0, &im, sizeof im);
	im.magic = 0;
	hdr->imm = im;
	hdr->mode = attr->mode;
	hdr->ttl_ms = attr->ttl_ms;
	hdr->dedup_window_ms = attr->dedup_window_ms;
	hdr->next_id = 1;
	for (i = 0; i < CQ_BANDS_MAX; i++)
		hdr->head[i] = hdr->tail[i] = im.base;
	if ((r = lock_init(&hdr->lock)) != 0) {
		munmap(base, (size_t)g.total);
		errno = r;
		st = CQ_SYSTEM;
		goto fail;
	}
	st = segment_handle(base, (size_t)g.total, -1, &im, qp);
	if (st == CQ_OK && segment_remember(*qp, dirfd, name, fd) != 0) {
		core_detach(*qp);
		*qp = NULL;
		st = CQ_SYSTEM;
		goto fail;
	}
	if (st != CQ_OK) {
		munmap(base, (size_t)g.total);
		goto fail;
	}
	close(fd);
	for (i = 0; i < attr->capacity; i++)
		(*qp)->free[i] = attr->capacity - 1 - i;
	hdr->free_top = attr->capacity;
	__atomic_store_n(&hdr->imm.magic, QUEUE_MAGIC, __ATOMIC_RELEASE);
	(*qp)->imm.magic = QUEUE_MAGIC;
	return CQ_OK;

fail:
	saved = errno;
	unlinkat(dirfd, name, 0);
	close(fd);
	errno = saved;
	return st;
}

/*
 * Validate the mapping of fd at base (size bytes) and make the handle *qp:
 * the header check (the file owned by owner), then the lock and recovery,
 * as after a restart.
 */
static cq_status
segment_attach_mapped(unsigned char *base, size_t size, int fd, int dirfd,
    const char *name, uint32_t owner, struct core_queue **qp)
{
	struct stat sb;
	struct queue_imm im;
	cq_status st;

	/* No magic: a create that died before its commit (the magic store). */
	if (__atomic_load_n(
	        &((const struct queue_hdr *)(const void *)base)->imm.magic,
	        __ATOMIC_ACQUIRE) == 0)
		return CQ_NOTFOUND;
	if (fstat(fd, &sb) != 0)
		return CQ_SYSTEM;
	if ((st = header_validate(&sb, owner, base, size, NULL, &im)) != CQ_OK)
		return st;
	if ((st = segment_handle(
	         base, size, name == NULL ? fd : -1, &im, qp)) != CQ_OK)
		return st;
	(*qp)->file_uid = owner;
	if (name != NULL && segment_remember(*qp, dirfd, name, fd) != 0)
		return CQ_SYSTEM;
	/* The daemon attaches after its own restart: validate and repair. */
	st = lock_take(*qp, QUEUE_ATTACH_LOCK_MS);
	if (st == CQ_OK) {
		if (lock_recover(*qp) != 0) {
			__atomic_store_n(
			    &(*qp)->hdr->quarantined, 1, __ATOMIC_RELEASE);
			st = CQ_CORRUPT;
		}
		lock_release(*qp);
	}
	return st;
}

/*
 * Attach existing segment name in dirfd, validating it before any use. The
 * file may be cut short between its fstat and our reads: a SIGBUS guard
 * makes that CQ_CORRUPT too. The fd is closed once mapped.
 */
cq_status
core_attach_at(int dirfd, const char *name, struct core_queue **qp)
{
	struct core_guard g;
	unsigned char *base;
	volatile cq_status st = CQ_CORRUPT;
	size_t size;
	int fd, faulted = 0;

	*qp = NULL;
	if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL)
		return CQ_INVALID;
	fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? CQ_CORRUPT : segment_open_status(errno);
	if ((st = header_stat(fd, (uint32_t)geteuid(), &size)) != CQ_OK) {
		close(fd);
		return st;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		close(fd);
		return CQ_SYSTEM;
	}
	st = CQ_CORRUPT;
	guard_enter(&g, base, size, &faulted);
	if (sigsetjmp(g.jb, 0) == 0) {
		st = segment_attach_mapped(
		    base, size, fd, dirfd, name, (uint32_t)geteuid(), qp);
		guard_leave(&g);
	}
	close(fd);
	if (st != CQ_OK) {
		if (*qp != NULL) {
			core_detach(*qp);
			*qp = NULL;
		} else
			munmap(base, size);
	}
	return st;
}

/* Unmap the segment and free the handle. */
void
core_detach(struct core_queue *q)
{
	if (q == NULL)
		return;
	/* The lock is in no robust list (core/lock.c): nothing refers to
	 * the mapping once it is gone, even after a SIGBUS under the lock. */
	munmap(q->base, q->size);
	if (q->fd >= 0)
		close(q->fd);
	if (q->own_dirfd)
		close(q->dirfd);
	free(q->mark);
	free(q->order);
	free(q);
}

/* Remove segment name from dirfd. */
cq_status
core_unlink_at(int dirfd, const char *name)
{
	if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL)
		return CQ_INVALID;
	if (unlinkat(dirfd, name, 0) != 0)
		return segment_open_status(errno);
	return CQ_OK;
}

/*
 * Open q's file again (O_RDWR|O_CLOEXEC, the caller closes it): by dirfd
 * and name, refusing a symlink and any file other than the one attach
 * checked; a dup of the handed-over fd for core_attach_fd. -1 with errno.
 */
int
core_reopen(struct core_queue *q)
{
	struct stat sb;
	int fd;

	if (q->fd >= 0)
		return fcntl(q->fd, F_DUPFD_CLOEXEC, 0);
	if (q->dirfd < 0) {
		errno = EBADF;
		return -1;
	}
	fd = openat(q->dirfd, q->fname, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || (unsigned long long)sb.st_dev != q->dev ||
	    (unsigned long long)sb.st_ino != q->ino) {
		close(fd);
		errno = ESTALE;
		return -1;
	}
	return fd;
}

/*
 * Open /dev/shm for the shm_open-style wrappers ("/name"): the fd, or -1
 * with the status in *st.
 */
static int
segment_shm_dir(const char *segname, cq_status *st)
{
	int dfd;

	if (segname == NULL || segname[0] != '/') {
		*st = CQ_INVALID;
		return -1;
	}
	dfd = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		*st = segment_open_status(errno);
	return dfd;
}

/* Give the handle *qp that st made the directory fd dfd, or close it. */
static cq_status
segment_own_dir(cq_status st, int dfd, struct core_queue **qp)
{
	if (st != CQ_OK) {
		close(dfd);
		return st;
	}
	(*qp)->own_dirfd = 1;
	return CQ_OK;
}

/* core_create_at in /dev/shm; the handle owns the directory fd. */
cq_status
core_create(
    const char *segname, const struct core_attr *attr, struct core_queue **qp)
{
	cq_status st;
	int dfd;

	*qp = NULL;
	if ((dfd = segment_shm_dir(segname, &st)) < 0)
		return st;
	return segment_own_dir(
	    core_create_at(dfd, segname + 1, attr, qp), dfd, qp);
}

/* core_attach_at in /dev/shm; the handle owns the directory fd. */
cq_status
core_attach(const char *segname, struct core_queue **qp)
{
	cq_status st;
	int dfd;

	*qp = NULL;
	if ((dfd = segment_shm_dir(segname, &st)) < 0)
		return st;
	return segment_own_dir(core_attach_at(dfd, segname + 1, qp), dfd, qp);
}

/* Remove segment segname ("/name") from /dev/shm. */
cq_status
core_unlink(const char *segname)
{
	if (segname == NULL || segname[0] != '/')
		return CQ_INVALID;
	if (shm_unlink(segname) != 0)
		return segment_open_status(errno);
	return CQ_OK;
}

/*
 * Attach a segment through an fd the daemon handed over (the direct
 * path): the file must be owned by owner (the daemon's uid, from the
 * socket's peer credentials), with a layout that has the direct words;
 * then the same checks, validation and repair as core_attach, under the
 * same SIGBUS guard. On CQ_OK the handle owns fd; on failure the caller
 * keeps it. CQ_INVALID for a layout-1 segment (served over the socket).
 */
cq_status
core_attach_fd(int fd, uint32_t owner, struct core_queue **qp)
{
	struct core_guard g;
	unsigned char *base;
	volatile cq_status st = CQ_CORRUPT;
	size_t size;
	int faulted = 0;

	*qp = NULL;
	if ((st = header_stat(fd, owner, &size)) != CQ_OK)
		return st == CQ_NOTFOUND ? CQ_CORRUPT : st;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return CQ_SYSTEM;
	st = CQ_CORRUPT;
	guard_enter(&g, base, size, &faulted);
	if (sigsetjmp(g.jb, 0) == 0) {
		st = segment_attach_mapped(base, size, fd, -1, NULL, owner, qp);
		guard_leave(&g);
	}
	if (st == CQ_NOTFOUND)
		st = CQ_CORRUPT; /* the daemon handed over a half-made file */
	if (st == CQ_OK && !direct_usable(*qp))
		st = CQ_INVALID;
	if (st != CQ_OK) {
		if (*qp != NULL) {
			(*qp)->fd = -1; /* the caller keeps its fd */
			core_detach(*qp);
			*qp = NULL;
		} else
			munmap(base, size);
	}
	return st;
}
