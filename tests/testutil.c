/* testutil.c - helpers for tests: private daemons, temp dirs, waiting. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdint.h>

#include "testutil.h"

static char tu_registry[128]; /* this suite run's registry file */

/* Drop const for an argv entry (execv does not modify its strings). */
static char *
tu_str(const char *s)
{
	return (char *)(uintptr_t)s;
}

/* Find a built program. */
const char *
tu_program(const char *name, char *buf, size_t len)
{
	const char *top = getenv("top_builddir");

	if (strcmp(name, "conqueued") == 0 && getenv("CONQUEUED") != NULL)
		snprintf(buf, len, "%s", getenv("CONQUEUED"));
	else if (strcmp(name, "conqueue-cli") == 0 &&
	         getenv("CONQUEUE_CLI") != NULL)
		snprintf(buf, len, "%s", getenv("CONQUEUE_CLI"));
	else if (top != NULL)
		snprintf(buf, len, "%s/%s", top, name);
	else
		snprintf(buf, len, "./%s", name);
	return buf;
}

/* Fork the daemon with --ready-fd and wait for its "ready" line. */
static int
tu_daemon_spawn(struct tu_daemon *d, const char *const *extra)
{
	char prog[512], fdarg[16];
	char *argv[64];
	int p[2], n = 0, i;
	char buf[16];
	ssize_t r;
	size_t got = 0;

	tu_program("conqueued", prog, sizeof prog);
	if (pipe(p) != 0)
		return -1;
	snprintf(fdarg, sizeof fdarg, "%d", p[1]);
	argv[n++] = prog;
	argv[n++] = tu_str("-s");
	argv[n++] = d->sock;
	argv[n++] = tu_str("--instance");
	argv[n++] = d->instance;
	argv[n++] = tu_str("--ready-fd");
	argv[n++] = fdarg;
	for (i = 0; extra != NULL && extra[i] != NULL && n < 62; i++)
		argv[n++] = (char *)(uintptr_t)extra[i];
	argv[n] = NULL;

	d->pid = fork();
	if (d->pid < 0)
		return -1;
	if (d->pid == 0) {
		close(p[0]);
		if (getenv("CQ_TEST_DAEMON_QUIET") == NULL) {
			int null = open("/dev/null", O_WRONLY);
			if (null >= 0 && getenv("CQ_TEST_VERBOSE") == NULL)
				dup2(null, 2);
		}
		execv(prog, argv);
		_exit(127);
	}
	close(p[1]);
	/* Blocks until the daemon writes "ready\n" or exits (EOF). */
	while (got < sizeof buf - 1) {
		r = read(p[0], buf + got, sizeof buf - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(buf, '\n', got) != NULL)
			break;
	}
	close(p[0]);
	buf[got] = '\0';
	if (strncmp(buf, "ready", 5) != 0) {
		int st;
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &st, 0);
		d->pid = -1;
		return -1;
	}
	return 0;
}

/* Start a daemon on a private socket. */
int
tu_daemon_start(struct tu_daemon *d, const char *const *extra)
{
	static int seq;
	char tmpl[] = "/tmp/cqtest.XXXXXX";

	memset(d, 0, sizeof *d);
	d->pid = -1;
	if (mkdtemp(tmpl) == NULL)
		return -1;
	snprintf(d->dir, sizeof d->dir, "%s", tmpl);
	snprintf(d->sock, sizeof d->sock, "%s/cq.sock", d->dir);
	snprintf(d->instance, sizeof d->instance, "t%ld-%d-%s", (long)getpid(),
	    seq++, strrchr(tmpl, '.') + 1);
	tu_registry_note(d);
	return tu_daemon_spawn(d, extra);
}

/* Write a config file into a fresh temp path. */
const char *
tu_write_config(const char *text)
{
	static char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/tmp/cqconf.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	n = write(fd, text, strlen(text));
	close(fd);
	if (n != (ssize_t)strlen(text))
		unlink(path); /* before the assertion ends the test */
	ck_assert_int_eq(n, (ssize_t)strlen(text));
	return path;
}

/* Start a daemon reading a config file made of text. */
int
tu_daemon_start_config(struct tu_daemon *d, const char *text)
{
	const char *cfgpath = tu_write_config(text);
	const char *args[] = {"-c", cfgpath, NULL};
	int rc;

	rc = tu_daemon_start(d, args);
	unlink(cfgpath);
	return rc;
}

/* Start a daemon under a lower open-files limit. */
int
tu_daemon_start_nofile(struct tu_daemon *d, const char *const *extra,
    unsigned long nofile, int hard)
{
	struct rlimit rl, low;
	int rc;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = rl;
	low.rlim_cur = rl.rlim_max < nofile ? rl.rlim_max : nofile;
	if (hard)
		low.rlim_max = low.rlim_cur;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	rc = tu_daemon_start(d, extra);
	if (!hard)
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	return rc;
}

/* Start again on the same socket and instance. */
int
tu_daemon_restart(struct tu_daemon *d, const char *const *extra)
{
	return tu_daemon_spawn(d, extra);
}

/* SIGKILL and reap. */
void
tu_daemon_kill(struct tu_daemon *d)
{
	int st;

	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		while (waitpid(d->pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	d->pid = -1;
}

/* SIGTERM and reap; return the exit status. */
int
tu_daemon_stop(struct tu_daemon *d)
{
	int st = 0;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	while (waitpid(d->pid, &st, 0) < 0 && errno == EINTR)
		;
	d->pid = -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Stop and remove everything the daemon left. */
void
tu_daemon_cleanup(struct tu_daemon *d)
{
	char path[600];
	DIR *dir;
	struct dirent *de;

	tu_daemon_kill(d);
	if (d->instance[0] != '\0')
		tu_shm_remove_prefix(d->instance);
	if (d->dir[0] == '\0')
		return;
	if ((dir = opendir(d->dir)) != NULL) {
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(
			    path, sizeof path, "%s/%s", d->dir, de->d_name);
			unlink(path);
		}
		closedir(dir);
	}
	rmdir(d->dir);
}

/*
 * Walk /dev/shm entries named conqueue-PREFIX*: the daemon's segment
 * directories (conqueue-INSTANCE/, count and remove what is inside, then
 * the directory) and old-style or planted files; remove them if asked.
 */
static int
tu_shm_walk(const char *prefix, int remove)
{
	char want[128], name[600];
	DIR *dir, *sub;
	struct dirent *de, *se;
	struct stat sb;
	int n = 0;

	snprintf(want, sizeof want, "conqueue-%s", prefix);
	if ((dir = opendir("/dev/shm")) == NULL)
		return 0;
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, want, strlen(want)) != 0)
			continue;
		snprintf(name, sizeof name, "/dev/shm/%s", de->d_name);
		if (lstat(name, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			if ((sub = opendir(name)) != NULL) {
				while ((se = readdir(sub)) != NULL) {
					if (strcmp(se->d_name, ".") == 0 ||
					    strcmp(se->d_name, "..") == 0)
						continue;
					n++;
					if (remove && unlinkat(dirfd(sub),
					                  se->d_name, 0) != 0)
						(void)unlinkat(dirfd(sub),
						    se->d_name, AT_REMOVEDIR);
				}
				closedir(sub);
			}
			if (remove)
				rmdir(name);
			continue;
		}
		n++;
		if (remove)
			unlink(name);
	}
	closedir(dir);
	return n;
}

/* Remove shm segments of an instance. */
void
tu_shm_remove_prefix(const char *prefix)
{
	tu_shm_walk(prefix, 1);
}

/* Count shm segments of an instance. */
int
tu_shm_count_prefix(const char *prefix)
{
	return tu_shm_walk(prefix, 0);
}

/* Create the registry file of this suite run. */
void
tu_registry_open(const char *tag)
{
	int fd;

	snprintf(tu_registry, sizeof tu_registry, "/tmp/cq%s-reg.XXXXXX", tag);
	if ((fd = mkstemp(tu_registry)) >= 0)
		close(fd);
	else
		tu_registry[0] = '\0';
}

/* Note d's instance and directory for the final sweep. */
void
tu_registry_note(const struct tu_daemon *d)
{
	FILE *f;

	if (tu_registry[0] != '\0' && (f = fopen(tu_registry, "a")) != NULL) {
		fprintf(f, "%s %s\n", d->instance, d->dir);
		fclose(f);
	}
}

/* In the parent: remove the segments and dirs of every noted daemon. */
void
tu_registry_sweep(void)
{
	struct tu_daemon d;
	FILE *f;

	if (tu_registry[0] == '\0' || (f = fopen(tu_registry, "r")) == NULL)
		return;
	memset(&d, 0, sizeof d);
	d.pid = -1;
	while (fscanf(f, "%63s %255s", d.instance, d.dir) == 2)
		tu_daemon_cleanup(&d); /* its daemon died with the test */
	fclose(f);
	unlink(tu_registry);
}

/* Milliseconds on the monotonic clock. */
int64_t
tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run conqueued to completion, collecting its stderr. */
int
tu_daemon_run(const char *const *args, char *err, size_t errlen)
{
	char prog[512];
	char *argv[32];
	int p[2], st, n = 0, i;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	tu_program("conqueued", prog, sizeof prog);
	argv[n++] = prog;
	for (i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = tu_str(args[i]);
	argv[n] = NULL;
	if (pipe(p) != 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		execv(prog, argv);
		_exit(127);
	}
	close(p[1]);
	while (got + 1 < errlen &&
	       ((r = read(p[0], err + got, errlen - 1 - got)) > 0 ||
	           (r < 0 && errno == EINTR)))
		got += r > 0 ? (size_t)r : 0;
	if (errlen > 0)
		err[got] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run a suite between opening and sweeping the registry. */
int
tu_run(Suite *s, const char *tag)
{
	SRunner *sr = srunner_create(s);
	int failed;

	tu_registry_open(tag);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tu_registry_sweep();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Skip the whole program unless ok. */
void
tu_require(int ok, const char *why)
{
	if (ok)
		return;
	printf("SKIP: %s\n", why);
	fflush(stdout);
	exit(77);
}

/* Whether argv0's base name ends in suffix (libtool's lt- prefix aside). */
int
tu_is_variant(const char *argv0, const char *suffix)
{
	size_t n = strlen(argv0), m = strlen(suffix);

	return n >= m && strcmp(argv0 + n - m, suffix) == 0;
}

/* Listen on dir/name and fork the child that serves it. */
pid_t
tu_fake_start(const char *dir, const char *name, char *path, size_t pathlen,
    void (*serve)(int lfd, void *arg), void *arg)
{
	struct sockaddr_un sa;
	pid_t pid;
	int lfd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if ((size_t)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", dir,
	        name) >= sizeof sa.sun_path ||
	    (size_t)snprintf(path, pathlen, "%s", sa.sun_path) >= pathlen)
		return -1;
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(lfd, 8) != 0 || (pid = fork()) < 0) {
		close(lfd);
		return -1;
	}
	if (pid == 0) {
		serve(lfd, arg);
		_exit(0);
	}
	close(lfd);
	return pid;
}

/* Reap a fake daemon. */
int
tu_fake_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}
