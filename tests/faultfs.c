/*
 * faultfs.c - an LD_PRELOAD fault injector for the durable log tests:
 * while the file named by $CQ_FAULT_FLAG exists, calls on a durable log
 * ("*.cqlog" or "*.cqlog.tmp") fail as a full disk would (posix_fallocate
 * with ENOSPC, a pwrite past the file's allocated size with ENOSPC; a
 * pwrite into space already there succeeds), or, when the flag file
 * starts with "eio", as a failing one (pwrite and fdatasync with EIO), or,
 * when it starts with "sio", as one whose syncs fail (fdatasync with EIO,
 * writes go through: the page cache took them).
 * Every other file, and every call while the flag is absent, goes through.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* 0: no fault for fd; 1: the disk is full; 2: it fails (EIO); 3: syncs fail. */
static int
faulty(int fd)
{
	const char *flag = getenv("CQ_FAULT_FLAG");
	char link[64], path[4096], mode[4] = "";
	ssize_t n;
	FILE *f;

	if (flag == NULL || (f = fopen(flag, "r")) == NULL)
		return 0;
	if (fgets(mode, sizeof mode, f) == NULL)
		mode[0] = '\0';
	fclose(f);
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof path - 1)) <= 0)
		return 0;
	path[n] = '\0';
	if (strstr(path, ".cqlog") == NULL)
		return 0;
	if (strncmp(mode, "sio", 3) == 0)
		return 3;
	return strncmp(mode, "eio", 3) == 0 ? 2 : 1;
}

int
posix_fallocate(int fd, off_t off, off_t len)
{
	int (*real)(int, off_t, off_t) =
	    (int (*)(int, off_t, off_t))dlsym(RTLD_NEXT, "posix_fallocate");

	int k = faulty(fd);

	if (k == 1 || k == 2)
		return ENOSPC;
	return real(fd, off, len);
}

int
posix_fallocate64(int fd, off_t off, off_t len)
{
	return posix_fallocate(fd, off, len);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t (*real)(int, const void *, size_t, off_t) =
	    (ssize_t (*)(int, const void *, size_t, off_t))dlsym(
	        RTLD_NEXT, "pwrite");

	struct stat sb;
	int k = faulty(fd);

	if (k == 2 || (k == 1 && (fstat(fd, &sb) != 0 ||
	                             (off_t)(off + (off_t)len) >
	                                 (off_t)sb.st_blocks * 512))) {
		errno = k == 2 ? EIO : ENOSPC;
		return -1;
	}
	return real(fd, buf, len, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}

int
fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	int k = faulty(fd);

	if (k == 2 || k == 3) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}
