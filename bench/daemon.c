/* daemon.c - the benchmark's private conqueued: start, measure, stop. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"

/* Drop const for an argv entry (execv does not modify its strings). */
static char *
bdaemon_str(const char *s)
{
	return (char *)(uintptr_t)s;
}

/* Copy the daemon's log to stderr: it says why it did not start. */
static void
bdaemon_show_log(const struct bdaemon *d)
{
	char line[512];
	FILE *f = fopen(d->log, "r");

	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL)
		fprintf(stderr, "conqueued: %s", line);
	fclose(f);
}

/*
 * Start prog (wrapped in wrap[], e.g. valgrind, when not NULL) on a
 * private socket and instance with --ready-fd, and block until it says
 * "ready" (or exits). Its stderr goes to d->log. Returns 0 or -1.
 */
int
bdaemon_start(struct bdaemon *d, const char *prog, const char *config,
    const char *const *wrap)
{
	char tmpl[] = "/tmp/cqbench.XXXXXX", fdarg[16], buf[16];
	char *argv[64];
	int p[2], n = 0, i, fd, st;
	struct pollfd pfd;
	size_t got = 0;
	ssize_t r;

	memset(d, 0, sizeof *d);
	d->pid = -1;
	if (mkdtemp(tmpl) == NULL)
		return -1;
	snprintf(d->dir, sizeof d->dir, "%s", tmpl);
	snprintf(d->sock, sizeof d->sock, "%s/cq.sock", d->dir);
	snprintf(d->log, sizeof d->log, "%s/conqueued.log", d->dir);
	snprintf(d->instance, sizeof d->instance, "bench%ld", (long)getpid());
	if (pipe(p) != 0)
		return -1;
	snprintf(fdarg, sizeof fdarg, "%d", p[1]);
	for (i = 0; wrap != NULL && wrap[i] != NULL && n < 40; i++)
		argv[n++] = bdaemon_str(wrap[i]);
	argv[n++] = bdaemon_str(prog);
	argv[n++] = bdaemon_str("-s");
	argv[n++] = d->sock;
	argv[n++] = bdaemon_str("--instance");
	argv[n++] = d->instance;
	argv[n++] = bdaemon_str("--ready-fd");
	argv[n++] = fdarg;
	argv[n++] = bdaemon_str("-l");
	argv[n++] = bdaemon_str("warn");
	if (config != NULL) {
		argv[n++] = bdaemon_str("-c");
		argv[n++] = bdaemon_str(config);
	}
	argv[n] = NULL;

	d->pid = fork();
	if (d->pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (d->pid == 0) {
		close(p[0]);
		fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		/* Keep the daemon off our stdout: a pipe must see EOF. */
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	/* Bounded: a daemon that never gets ready must not hang the run. */
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (got < sizeof buf - 1) {
		if (poll(&pfd, 1, 60000) <= 0)
			break;
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
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &st, 0);
		d->pid = -1;
		bdaemon_show_log(d);
		return -1;
	}
	return 0;
}

/* 1 while the daemon runs. */
int
bdaemon_alive(const struct bdaemon *d)
{
	int st;

	return d->pid > 0 && waitpid(d->pid, &st, WNOHANG) == 0;
}

/* SIGTERM, wait up to 30 s, then SIGKILL; returns the exit status or -1. */
int
bdaemon_stop(struct bdaemon *d)
{
	int st = 0, i;
	pid_t w = 0;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	for (i = 0; i < 3000; i++) {
		w = waitpid(d->pid, &st, WNOHANG);
		if (w != 0)
			break;
		usleep(10000); /* bounded poll for the exit */
	}
	if (w == 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &st, 0);
		st = -1;
	}
	d->pid = -1;
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Stop the daemon; remove its socket dir and shm segments. */
void
bdaemon_cleanup(struct bdaemon *d)
{
	char want[128], name[400];
	DIR *dir;
	struct dirent *de;

	if (d->pid > 0)
		bdaemon_stop(d);
	if (d->instance[0] != '\0' && (dir = opendir("/dev/shm")) != NULL) {
		snprintf(want, sizeof want, "conqueue-%s-", d->instance);
		while ((de = readdir(dir)) != NULL) {
			if (strncmp(de->d_name, want, strlen(want)) != 0)
				continue;
			snprintf(name, sizeof name, "/%s", de->d_name);
			shm_unlink(name);
		}
		closedir(dir);
	}
	/* The daemon's segment directory, /dev/shm/conqueue-INSTANCE/. */
	if (d->instance[0] != '\0') {
		snprintf(
		    want, sizeof want, "/dev/shm/conqueue-%s", d->instance);
		if ((dir = opendir(want)) != NULL) {
			while ((de = readdir(dir)) != NULL)
				if (de->d_name[0] != '.')
					(void)unlinkat(
					    dirfd(dir), de->d_name, 0);
			closedir(dir);
		}
		rmdir(want);
	}
	if (d->dir[0] == '\0')
		return;
	if ((dir = opendir(d->dir)) != NULL) {
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(
			    name, sizeof name, "%s/%s", d->dir, de->d_name);
			unlink(name);
		}
		closedir(dir);
	}
	rmdir(d->dir);
	d->dir[0] = '\0';
}

/* User + system CPU seconds of a live process, from /proc/PID/stat. */
double
bdaemon_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces: fields start after the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	        &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A "Vm...:  N kB" field of /proc/PID/status, or -1. */
long
bdaemon_status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			v = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}
