/* mapper.c - a test client that maps a queue the way the library does. */

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "mapper.h"
#include "rawclient.h"
#include "testutil.h"

/* Map name through a direct OPEN on raw connection fd. */
void
mapper_map(int fd, const char *name, struct mapper_seg *m)
{
	struct stat sb;

	ck_assert_int_eq(rc_open_direct(fd, name, &m->seg, &m->bell), CQ_OK);
	ck_assert_int_ge(m->seg, 0);
	ck_assert_int_eq(fstat(m->seg, &sb), 0);
	m->len = (size_t)sb.st_size;
	m->base =
	    mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED, m->seg, 0);
	ck_assert_ptr_ne(m->base, MAP_FAILED);
}

/* Unmap and close what hm_map gave (children too, before _exit). */
void
mapper_unmap(struct mapper_seg *m)
{
	munmap(m->base, m->len);
	close(m->seg);
	close(m->bell);
}

/* Run conqueue-cli -s sock with args (a shell word list); its stdout. */
void
mapper_cli(const struct tu_daemon *d, const char *args, char *out, size_t len)
{
	char prog[512], cmd[1200];
	size_t got = 0, n;
	FILE *f;

	snprintf(cmd, sizeof cmd, "%s -s '%s' %s",
	    tu_program("conqueue-cli", prog, sizeof prog), d->sock, args);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while (got + 1 < len && (n = fread(out + got, 1, len - 1 - got, f)) > 0)
		got += n;
	out[got] = '\0';
	ck_assert_int_eq(pclose(f), 0);
}

/* Connect the library to d (flags: CQ_CONNECT_*) and open name. */
cq_client *
mapper_connect(
    const struct tu_daemon *d, unsigned flags, const char *name, cq_queue **q)
{
	cq_client *c = NULL;

	ck_assert_int_eq(
	    cq_connect_flags(&c, d->sock, "hostile", flags), CQ_OK);
	ck_assert_int_eq(cq_open(c, name, q), CQ_OK);
	return c;
}

/* Push "msg-0".."msg-<n-1>" to name over fd. */
void
mapper_fill(int fd, const char *name, int n)
{
	char t[32];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(t, sizeof t, "msg-%d", i);
		ck_assert_int_eq(rc_push(fd, name, t, 0), CQ_OK);
	}
}

/* The daemon (our child) is still running. */
void
mapper_daemon_alive(struct tu_daemon *d)
{
	int fd;

	ck_assert_int_eq(waitpid(d->pid, NULL, WNOHANG), 0);
	fd = rc_connect(d->sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	close(fd);
}
