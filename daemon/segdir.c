/* segdir.c - the daemon's own segment directory: checked, migrated, listed. */

/*
 * The daemon keeps its segments in a directory of its own on tmpfs,
 * /dev/shm/conqueue-INSTANCE/ (mode 0700, owned by its uid: nobody else
 * can create, plant or squat a name there), each named by a decimal N the
 * registry builds itself, never from a client string. At start the old
 * layout's /dev/shm/conqueue-INSTANCE-N files of ours are moved in, and
 * every entry that can be our segment is handed to the registry.
 */

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/segdir.h"

static char segdir_instance[72]; /* at most 64 bytes */
static int segdir_dirfd = -1;    /* the segment directory */
static char segdir_dirpath[128]; /* its path, for messages */

/*
 * Whether entry name of directory dfd (where) can be a segment this daemon
 * made: a regular file owned by its uid. Anything else was planted (or is
 * a symlink): ignored and logged, never a queue, never counted against
 * max_queues.
 */
static int
segdir_ours(int dfd, const char *where, const char *name)
{
	struct stat sb;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	if (S_ISREG(sb.st_mode) && sb.st_uid == geteuid())
		return 1;
	log_warn("%s/%s: ignored: %s owned by uid %u, not a segment of "
	         "this daemon (uid %u)",
	    where, name, S_ISREG(sb.st_mode) ? "a file" : "not a regular file",
	    (unsigned)sb.st_uid, (unsigned)geteuid());
	return 0;
}

/* 1 if name is a segment's doorbell FIFO, "N.bell" (core/doorbell.c). */
static int
segdir_is_bell(const char *name)
{
	size_t len = strlen(name);

	return len > 5 && strcmp(name + len - 5, ".bell") == 0 &&
	       strspn(name, "0123456789") == len - 5;
}

/*
 * 1 if name is a segment's key table, "N.dedup" or "N.dedup.tmp"
 * (dedup.c), or its time to live records, "N.ttl" or "N.ttl.tmp"
 * (expire.c).
 */
static int
segdir_is_dedup(const char *name)
{
	const char *dot = strchr(name, '.');

	return dot != NULL && dot > name &&
	       strspn(name, "0123456789") == (size_t)(dot - name) &&
	       (strcmp(dot, ".dedup") == 0 || strcmp(dot, ".dedup.tmp") == 0 ||
	           strcmp(dot, ".ttl") == 0 || strcmp(dot, ".ttl.tmp") == 0);
}

/* The segment number a name spells (decimal, no leading 0), or 0. */
static uint32_t
segdir_segno(const char *p)
{
	unsigned long n;

	if (*p < '1' || *p > '9' || strspn(p, "0123456789") != strlen(p) ||
	    strlen(p) > 10)
		return 0;
	errno = 0;
	n = strtoul(p, NULL, 10);
	if (errno != 0 || n > UINT32_MAX - 1)
		return 0;
	return (uint32_t)n;
}

/*
 * Open (creating it, mode 0700, if absent) the segment directory and check
 * it: a directory, not a symlink, owned by our uid, writable by nobody
 * else; anything else could be a neighbour's trap, so refuse to start.
 */
static int
segdir_dir_open(char **cause)
{
	struct stat sb;
	int created = 0, fd;

	if (mkdir(segdir_dirpath, 0700) == 0)
		created = 1;
	else if (errno != EEXIST) {
		if (asprintf(cause, "cannot create %s: %s", segdir_dirpath,
		        strerror(errno)) < 0)
			*cause = NULL;
		return -1;
	}
	fd = open(
	    segdir_dirpath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (asprintf(cause, "%s: %s", segdir_dirpath,
		        errno == ELOOP || errno == ENOTDIR
		            ? "a symlink or not a directory: refusing it "
		              "(remove "
		              "it if you did not make it)"
		            : strerror(errno)) < 0)
			*cause = NULL;
		return -1;
	}
	if (created)
		(void)fchmod(fd, 0700); /* mkdir's mode went through umask */
	if (fstat(fd, &sb) != 0 || sb.st_uid != geteuid() ||
	    (sb.st_mode & 022) != 0) {
		if (asprintf(cause,
		        "%s is owned by uid %u mode %04o: it must be owned by "
		        "the daemon's uid %u and writable by nobody else; "
		        "refusing it (remove it if you did not make it)",
		        segdir_dirpath, (unsigned)sb.st_uid,
		        (unsigned)(sb.st_mode & 07777),
		        (unsigned)geteuid()) < 0)
			*cause = NULL;
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Move segments of the old layout (/dev/shm/conqueue-INSTANCE-N, ours)
 * into the directory: one rename each, atomic on one tmpfs, never over a
 * file already there.
 */
static void
segdir_migrate(void)
{
	char prefix[160];
	size_t plen;
	DIR *dir;
	struct dirent *de;
	uint32_t n;

	plen = (size_t)snprintf(
	    prefix, sizeof prefix, "conqueue-%s-", segdir_instance);
	if ((dir = opendir("/dev/shm")) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, prefix, plen) != 0 ||
		    (n = segdir_segno(de->d_name + plen)) == 0 ||
		    !segdir_ours(dirfd(dir), "/dev/shm", de->d_name))
			continue;
		if (renameat2(dirfd(dir), de->d_name, segdir_dirfd,
		        de->d_name + plen, RENAME_NOREPLACE) != 0)
			log_warn("/dev/shm/%s: cannot move it to %s: %s",
			    de->d_name, segdir_dirpath, strerror(errno));
		else
			log_info("/dev/shm/%s: moved to %s/%u", de->d_name,
			    segdir_dirpath, (unsigned)n);
	}
	closedir(dir);
}

/* Open the segment directory and list the instance's segments. */
int
segdir_open(
    const char *instance, void (*each)(const char *, uint32_t), char **cause)
{
	DIR *dir;
	struct dirent *de;
	uint32_t n;
	int dfd;

	snprintf(segdir_instance, sizeof segdir_instance, "%s", instance);
	snprintf(segdir_dirpath, sizeof segdir_dirpath, "/dev/shm/conqueue-%s",
	    instance);
	if ((segdir_dirfd = segdir_dir_open(cause)) < 0)
		return -1;
	segdir_migrate();
	/* readdir gets its own fd: segdir_dirfd stays for the handles. */
	if ((dfd = openat(
	         segdir_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (dir = fdopendir(dfd)) == NULL) {
		if (asprintf(cause, "%s: %s", segdir_dirpath, strerror(errno)) <
		    0)
			*cause = NULL;
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (segdir_is_bell(de->d_name))
			continue; /* a doorbell (bell.c): not a queue */
		if (segdir_is_dedup(de->d_name))
			continue; /* a key table, TTL records */
		if ((n = segdir_segno(de->d_name)) == 0) {
			log_warn("%s/%s: ignored: not a segment name",
			    segdir_dirpath, de->d_name);
			continue;
		}
		if (!segdir_ours(segdir_dirfd, segdir_dirpath, de->d_name))
			continue;
		each(de->d_name, n);
	}
	closedir(dir);
	return 0;
}

/* Close the directory fd. */
void
segdir_close(void)
{
	if (segdir_dirfd >= 0)
		close(segdir_dirfd);
	segdir_dirfd = -1;
}

/* The directory fd. */
int
segdir_fd(void)
{
	return segdir_dirfd;
}

/* The directory path. */
const char *
segdir_path(void)
{
	return segdir_dirpath;
}
