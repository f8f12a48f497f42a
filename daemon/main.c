/* main.c - conqueued: options, start-up, signals and shutdown. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/common.h"
#include "daemon/admin.h"
#include "daemon/bell.h"
#include "daemon/config.h"
#include "daemon/conn.h"
#include "daemon/crashpoint.h"
#include "daemon/dispatch.h"
#include "daemon/durable.h"
#include "daemon/lease.h"
#include "daemon/listener.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/stall.h"
#include "daemon/registry.h"
#include "daemon/scrape.h"
#include "daemon/trim.h"
#include "daemon/waiters.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define MAIN_DEFAULT_CONFIG SYSCONFDIR "/conqueued.conf"
/* Longest wait for connections to take their last replies at SIGTERM. */
#define MAIN_STOP_GRACE_MS 2000

/* A command-line setting, applied over the file (again at each SIGHUP). */
struct main_flag {
	const char *key;
	const char *value;
};

static struct main_flag main_flags[16];
static size_t main_nflags;
static const char *main_config_path; /* NULL: none */
static struct event_base *main_base;
static struct event *main_stop_timer;
static struct event *main_watchdog;
static int main_stopping;

static void main_fatal(const char *, char *) __attribute__((noreturn));

/* Print usage to f. */
static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: conqueued [-hV] [-s SOCKET] [-c CONFIG] [-i INSTANCE] "
	    "[--ready-fd N]\n"
	    "                 [-l LEVEL] [--syslog] [-m MODE] [-g GROUP] "
	    "[--no-direct]\n"
	    "                 [--metrics-listen ADDRESS] [--state-dir DIR]\n"
	    "  -s, --socket PATH        socket path (default: the "
	    "CONQUEUE_SOCKET rule)\n"
	    "  -c, --config FILE        configuration file (default %s if "
	    "present)\n"
	    "  -i, --instance NAME      shared-memory namespace (default: "
	    "from the socket)\n"
	    "      --ready-fd N         write \"ready\\n\" to fd N once "
	    "serving\n"
	    "  -l, --log-level LEVEL    error, warn, info (default) or "
	    "debug\n"
	    "      --syslog             log to syslog as well\n"
	    "  -m, --socket-mode OCTAL  socket file mode (default 0660)\n"
	    "  -g, --socket-group GROUP socket file group\n"
	    "      --no-direct          never hand segments to clients "
	    "(direct = no)\n"
	    "      --metrics-listen ADDRESS  serve GET /metrics on a socket "
	    "path or a\n"
	    "                         loopback HOST:PORT (metrics_listen)\n"
	    "      --state-dir DIR      durable queues' logs (state_dir; "
	    "default\n"
	    "                         $STATE_DIRECTORY, /var/lib/conqueue "
	    "or the XDG one)\n"
	    "  -h, --help               this help\n"
	    "  -V, --version            print the version\n",
	    MAIN_DEFAULT_CONFIG);
}

/* Build the settings: defaults, then the file, then the flags. */
static int
main_load(struct config *c, char **cause)
{
	size_t i;
	char *why;

	config_defaults(c);
	if (main_config_path != NULL &&
	    config_load(c, main_config_path, cause) != 0)
		return -1;
	for (i = 0; i < main_nflags; i++) {
		if (config_set(
		        c, main_flags[i].key, main_flags[i].value, &why) != 0) {
			if (asprintf(cause, "command line: %s",
			        why ? why : "bad value") < 0)
				*cause = NULL;
			free(why);
			return -1;
		}
	}
	return config_check(c, cause);
}

/* Exit the loop once every connection has gone. */
static void
main_all_closed(void)
{
	event_base_loopexit(main_base, NULL);
}

/* Connections that never read their last replies do not hold us up. */
static void
main_stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopexit(main_base, NULL);
}

/* SIGTERM/SIGINT: stop accepting, answer parked ops, close, exit 0. */
static void
main_stop(void)
{
	struct timeval tv = {
	    MAIN_STOP_GRACE_MS / 1000, (MAIN_STOP_GRACE_MS % 1000) * 1000};

	if (main_stopping)
		return;
	main_stopping = 1;
	log_info("shutting down");
	notify_send("STOPPING=1");
	listener_close();
	scrape_close();
	dispatch_shutdown();
	main_stop_timer = evtimer_new(main_base, main_stop_timer_cb, NULL);
	if (main_stop_timer != NULL)
		evtimer_add(main_stop_timer, &tv);
	conn_close_all(main_all_closed);
}

/* Tell the service manager we are alive (WatchdogSec in the unit). */
static void
main_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_send("WATCHDOG=1");
}

/* Ping the watchdog at half its interval, if one is asked for. */
static void
main_watchdog_start(void)
{
	uint64_t usec = notify_watchdog_usec() / 2;
	struct timeval tv;

	if (usec == 0)
		return;
	tv.tv_sec = (time_t)(usec / 1000000u);
	tv.tv_usec = (suseconds_t)(usec % 1000000u);
	main_watchdog =
	    event_new(main_base, -1, EV_PERSIST, main_watchdog_cb, NULL);
	if (main_watchdog == NULL || event_add(main_watchdog, &tv) != 0)
		main_fatal("cannot arm the watchdog timer", NULL);
}

/*
 * Raise the soft limit on open files to the hard one: every queue holds a
 * descriptor, and a daemon started from a shell (ulimit -n 1024) would
 * run out with a thousand queues. Tell the registry what it has.
 */
static void
main_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t old;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	old = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_warn("cannot raise the open files limit from %llu "
			         "to %llu: %s",
			    (unsigned long long)old,
			    (unsigned long long)rl.rlim_max, strerror(errno));
			rl.rlim_cur = old;
		} else
			log_info("open files limit raised from %llu to %llu",
			    (unsigned long long)old,
			    (unsigned long long)rl.rlim_cur);
	}
	registry_fd_limit =
	    rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

/* SIGHUP: reload the limits and the log level. */
static void
main_reload(void)
{
	struct config n;
	struct rqueue *q;
	char *cause = NULL;

	if (main_load(&n, &cause) != 0) {
		log_error("reload failed, keeping the old settings: %s",
		    cause ? cause : "out of memory");
		free(cause);
		config_free(&n);
		return;
	}
	config_update(&cfg, &n);
	config_free(&n);
	log_set_level(cfg.log_level);
	TAILQ_FOREACH(q, &registry_queues, link)
	{
		stall_set_timeout(q); /* lock_timeout_ms, or shorter */
	}
}

/* A signal arrived (libevent runs this from the loop, not the handler). */
static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGHUP)
		main_reload();
	else
		main_stop();
}

/*
 * Create the socket's directory (0755) if missing, and refuse one that
 * others could use to swap the socket: not ours or root's, or writable by
 * its group or everyone without the sticky bit (a group member could
 * unlink the socket and listen in our place).
 */
static int
main_socket_dir(const char *sockpath, char **cause)
{
	char *copy = strdup(sockpath), *dir;
	struct stat sb;
	int rc = -1;

	if (copy == NULL)
		return -1;
	dir = dirname(copy);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		if (asprintf(cause, "mkdir %s: %s", dir, strerror(errno)) < 0)
			*cause = NULL;
		goto out;
	}
	if (stat(dir, &sb) != 0) {
		if (asprintf(cause, "%s: %s", dir, strerror(errno)) < 0)
			*cause = NULL;
		goto out;
	}
	if (!S_ISDIR(sb.st_mode) ||
	    (sb.st_uid != geteuid() && sb.st_uid != 0) ||
	    ((sb.st_mode & (S_IWGRP | S_IWOTH)) && !(sb.st_mode & S_ISVTX))) {
		if (asprintf(cause,
		        "unsafe socket directory %s: must be a directory "
		        "owned by us or root, not group- or world-writable "
		        "without the sticky bit",
		        dir) < 0)
			*cause = NULL;
		goto out;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

/* Take "<socket>.lock": a second daemon on the same socket must not run. */
static int
main_lock(const char *sockpath, char **cause)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof path, "%s.lock", sockpath) >=
	    sizeof path) {
		*cause = strdup("socket path too long");
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		if (asprintf(cause, "%s: %s", path, strerror(errno)) < 0)
			*cause = NULL;
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			if (asprintf(cause,
			        "another conqueued is already running on %s "
			        "(%s is locked)",
			        sockpath, path) < 0)
				*cause = NULL;
		} else if (asprintf(cause, "flock %s: %s", path,
		               strerror(errno)) < 0)
			*cause = NULL;
		close(fd);
		return -1;
	}
	return fd;
}

/* Instance names end up in /dev/shm file names: keep them plain. */
static int
main_instance_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 64 && s[0] != '.' &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                 "0123456789._-") == n;
}

/* The file system path a listening socket is bound to; -1 if none. */
static int
main_fd_path(int fd, char *buf, size_t len)
{
	struct sockaddr_un sun;
	socklen_t slen = sizeof sun;
	size_t n;

	memset(&sun, 0, sizeof sun);
	if (getsockname(fd, (struct sockaddr *)&sun, &slen) != 0 ||
	    sun.sun_family != AF_UNIX || sun.sun_path[0] != '/')
		return -1;
	n = strnlen(sun.sun_path, sizeof sun.sun_path);
	if (n >= len || n == sizeof sun.sun_path)
		return -1;
	memcpy(buf, sun.sun_path, n);
	buf[n] = '\0';
	return 0;
}

/* Tell whoever started us (--ready-fd) that we serve now. */
static void
main_ready(int fd)
{
	static const char msg[] = "ready\n";
	ssize_t n;

	if (fd < 0)
		return;
	do
		n = write(fd, msg, sizeof msg - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
}

/* Fail at start-up with a reason. */
static void __attribute__((noreturn)) main_fatal(const char *what, char *cause)
{
	log_error("%s%s%s", what, cause ? ": " : "", cause ? cause : "");
	free(cause);
	exit(1);
}

/* Remember a flag as a config setting. */
static void
main_flag(const char *key, const char *value)
{
	if (main_nflags < nitems(main_flags)) {
		main_flags[main_nflags].key = key;
		main_flags[main_nflags].value = value;
		main_nflags++;
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"config", required_argument, NULL, 'c'},
	    {"instance", required_argument, NULL, 'i'},
	    {"ready-fd", required_argument, NULL, 'R'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"syslog", no_argument, NULL, 'S'},
	    {"socket-mode", required_argument, NULL, 'm'},
	    {"socket-group", required_argument, NULL, 'g'},
	    {"no-direct", no_argument, NULL, 'D'},
	    {"metrics-listen", required_argument, NULL, 'M'},
	    {"state-dir", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	char sockpath[PATH_MAX], instance[128], cwd[PATH_MAX];
	struct event *sigs[3];
	static const int signums[3] = {SIGTERM, SIGINT, SIGHUP};
	char *cause = NULL, *end;
	int ch, ready_fd = -1, lock_fd, act_fd, i;
	long n;

	log_open(LOG_LEVEL_INFO, 0);
	while ((ch = getopt_long(
	            argc, argv, "s:c:i:l:m:g:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			main_flag("socket", optarg);
			break;
		case 'c':
			main_config_path = optarg;
			break;
		case 'i':
			main_flag("instance", optarg);
			break;
		case 'R':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || n < 0 ||
			    n > INT_MAX) {
				fprintf(stderr,
				    "conqueued: bad --ready-fd '%s'\n", optarg);
				return 1;
			}
			ready_fd = (int)n;
			break;
		case 'l':
			main_flag("log_level", optarg);
			break;
		case 'S':
			main_flag("syslog", "yes");
			break;
		case 'm':
			main_flag("socket_mode", optarg);
			break;
		case 'g':
			main_flag("socket_group", optarg);
			break;
		case 'D':
			main_flag("direct", "no");
			break;
		case 'M':
			main_flag("metrics_listen", optarg);
			break;
		case 'T':
			main_flag("state_dir", optarg);
			break;
		case 'h':
			main_usage(stdout);
			return 0;
		case 'V':
			printf("conqueued %s\n", PACKAGE_VERSION);
			return 0;
		default:
			main_usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		main_usage(stderr);
		return 1;
	}
	if (main_config_path == NULL && access(MAIN_DEFAULT_CONFIG, F_OK) == 0)
		main_config_path = MAIN_DEFAULT_CONFIG;
	if (main_load(&cfg, &cause) != 0)
		main_fatal("configuration", cause);
	log_open(cfg.log_level, cfg.syslog);
	if (cfg.metrics_listen != NULL &&
	    scrape_check(cfg.metrics_listen, &cause) != 0)
		main_fatal("configuration", cause);

	/*
	 * The socket path, absolute (the default instance hashes it); an
	 * activated socket's own path names the lock and the instance.
	 */
	act_fd = notify_listen_fd();
	if (act_fd >= 0 && main_fd_path(act_fd, sockpath, sizeof sockpath) == 0)
		log_info("using the socket passed by the service manager");
	else if (act_fd >= 0)
		main_fatal("the activated socket has no path", NULL);
	else if (cfg.socket != NULL)
		snprintf(sockpath, sizeof sockpath, "%s", cfg.socket);
	else if (cq_default_socket(sockpath, sizeof sockpath) != CQ_OK)
		main_fatal("default socket path too long", NULL);
	if (sockpath[0] != '/') {
		if (getcwd(cwd, sizeof cwd) == NULL ||
		    strlen(cwd) + 1 + strlen(sockpath) >= sizeof sockpath)
			main_fatal(
			    "cannot make the socket path absolute", NULL);
		memmove(
		    sockpath + strlen(cwd) + 1, sockpath, strlen(sockpath) + 1);
		memcpy(sockpath, cwd, strlen(cwd));
		sockpath[strlen(cwd)] = '/';
	}
	if (cfg.instance != NULL)
		snprintf(instance, sizeof instance, "%s", cfg.instance);
	else
		registry_default_instance(sockpath, instance, sizeof instance);
	if (!main_instance_valid(instance))
		main_fatal(
		    "instance names are 1-64 bytes of [A-Za-z0-9._-]", NULL);

	if (act_fd < 0 && main_socket_dir(sockpath, &cause) != 0)
		main_fatal("socket directory", cause);
	if ((lock_fd = main_lock(sockpath, &cause)) < 0)
		main_fatal("lock", cause);

	if (crashpoint_init() != 0)
		main_fatal(
		    "CONQUEUE_CRASH_AT must be SITE:N with N >= 1", NULL);
	/*
	 * Frames of up to max_frame come and go all the time: keep large
	 * buffers in the heap instead of a fresh mmap (and its page faults)
	 * for each one.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
	if ((main_base = event_base_new()) == NULL)
		main_fatal("cannot create the event loop", NULL);
	main_raise_nofile();
	waiters_init(main_base, dispatch_waiter_expired);
	lease_init(); /* before the registry re-arms delayed messages */
	admin_start_ns = time_mono_ns();
	/* A truncated segment quarantines its queue instead of killing us. */
	if (core_guard_install() != 0)
		main_fatal("cannot handle SIGBUS", NULL);
	if (registry_open(instance, &cause) != 0)
		main_fatal("registry", cause);
	/* Durable queues come back before the socket accepts. */
	if (durable_open(main_base, cfg.state_dir, instance, &cause) != 0)
		main_fatal("durable queues", cause);
	bell_init(main_base);
	if (trim_start(main_base) != 0)
		main_fatal("cannot arm the trim timer", NULL);
	if (cfg.metrics_listen != NULL &&
	    scrape_open(main_base, cfg.metrics_listen, &cause) != 0)
		main_fatal("metrics", cause);
	if (listener_open(main_base, sockpath, act_fd, &cause) != 0)
		main_fatal("listen", cause);
	for (i = 0; i < 3; i++) {
		sigs[i] =
		    evsignal_new(main_base, signums[i], main_signal_cb, NULL);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) != 0)
			main_fatal("cannot handle signals", NULL);
	}

	log_info("conqueued %s serving %s (instance %s)", PACKAGE_VERSION,
	    sockpath, instance);
	main_ready(ready_fd);
	notify_send("READY=1\nSTATUS=serving");
	main_watchdog_start();

	event_base_dispatch(main_base);

	scrape_close();
	conn_free_all();
	dispatch_free_all();
	trim_stop();
	durable_close();
	registry_close();
	if (act_fd < 0)
		unlink(sockpath);
	for (i = 0; i < 3; i++)
		event_free(sigs[i]);
	if (main_stop_timer != NULL)
		event_free(main_stop_timer);
	if (main_watchdog != NULL)
		event_free(main_watchdog);
	event_base_free(main_base);
	close(lock_fd);
	log_info("stopped");
	log_close();
	config_free(&cfg);
	return 0;
}
