/* listener.c - the listening socket: bind, accept, connection limits. */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "common/common.h"
#include "daemon/config.h"
#include "daemon/conn.h"
#include "daemon/conn_out.h"
#include "daemon/listener.h"
#include "daemon/log.h"
#include "daemon/registry.h"

static struct evconnlistener *listener;
static struct event *listener_pause;
static int listener_spare = -1; /* released to accept when out of fds */

/*
 * Descriptors non-administrators' connections may not take: the daemon's
 * own files (listener, lock, log, segment directory, libevent, the spare)
 * and room for administrators to connect.
 */
#define LISTENER_RESERVE_FDS 32

/* Refuse a connection over a limit: one CQ_LIMIT reply with id 0. */
static void
listener_refuse(int fd, const char *why)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;

	r.id = 0;
	r.status = CQ_LIMIT;
	r.detail = (char *)(uintptr_t)why;
	conn_out_direct(fd, &r);
	close(fd);
}

/* Whether uid is an administrator (root or the daemon's own uid). */
static int
listener_admin(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* Keep one descriptor aside, to accept with when the others run out. */
static void
listener_keep_spare(void)
{
	if (listener_spare < 0)
		listener_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* A connection arrived: identify the peer, check the limits, hand it on. */
static void
listener_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	struct uid_usage *u;
	char why[128];

	(void)sa;
	(void)salen;
	(void)arg;
	/* The kernel's word for who connected; nothing the client says. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		log_warn("SO_PEERCRED: %s", strerror(errno));
		close(fd);
		return;
	}
	/* Past the budget of others, the rest is kept for administrators. */
	if (!listener_admin(cred.uid) && registry_fd_limit != 0 &&
	    (uint64_t)conn_count + LISTENER_RESERVE_FDS >= registry_fd_limit) {
		snprintf(why, sizeof why,
		    "no file descriptor left for another connection (open "
		    "files limit %llu, %u kept for administrators)",
		    (unsigned long long)registry_fd_limit,
		    LISTENER_RESERVE_FDS);
		listener_refuse(fd, why);
		return;
	}
	if (conn_count >= cfg.max_connections) {
		snprintf(why, sizeof why,
		    "too many connections (max_connections %u)",
		    cfg.max_connections);
		listener_refuse(fd, why);
		return;
	}
	u = registry_uid(cred.uid);
	if (u == NULL || u->connections >= cfg.max_connections_per_uid) {
		snprintf(why, sizeof why,
		    "too many connections for uid %u "
		    "(max_connections_per_uid %u)",
		    (unsigned)cred.uid, cfg.max_connections_per_uid);
		listener_refuse(fd, why);
		return;
	}
	if (conn_new(evconnlistener_get_base(l), fd, cred.uid, cred.gid,
	        cred.pid) != 0) {
		log_warn("cannot set up a connection: out of memory");
		close(fd);
	}
	listener_keep_spare();
}

/*
 * Out of descriptors: give up the spare to accept the pending connection
 * (the classic EMFILE trick), so that it is answered instead of left
 * hanging: an administrator's is served on it, anyone else's gets
 * CQ_LIMIT and is closed. 1 if a connection was taken off the queue.
 */
static int
listener_accept_spare(struct evconnlistener *l)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	int fd;

	if (listener_spare < 0)
		return 0;
	close(listener_spare);
	listener_spare = -1;
	fd = accept4(
	    evconnlistener_get_fd(l), NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		listener_keep_spare();
		return 0;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    listener_admin(cred.uid)) {
		/* Served on the spare's slot; a new spare when one frees. */
		listener_accept_cb(l, fd, NULL, 0, NULL);
		return 1;
	}
	listener_refuse(fd, "no file descriptor left for another connection");
	listener_keep_spare();
	return 1;
}

/* The pause after an accept failure is over: listen again. */
static void
listener_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (listener != NULL)
		evconnlistener_enable(listener);
}

/*
 * accept() failed. Out of descriptors is survivable, but the pending
 * connection keeps the socket readable: pause accepting for a moment
 * instead of spinning.
 */
static void
listener_error_cb(struct evconnlistener *l, void *arg)
{
	struct timeval tv = {0, 100 * 1000};

	(void)arg;
	if (errno == EMFILE || errno == ENFILE) {
		listener_keep_spare(); /* if a descriptor freed since */
		if (listener_accept_spare(l))
			return;
		errno = EMFILE;
	}
	log_warn("accept: %s", strerror(errno));
	if (listener_pause == NULL)
		listener_pause = evtimer_new(
		    evconnlistener_get_base(l), listener_resume_cb, NULL);
	if (listener_pause != NULL) {
		evconnlistener_disable(l);
		evtimer_add(listener_pause, &tv);
	}
}

/* Give the socket file to socket_group (a name or a number), if set. */
int
listener_group(const char *path, char **cause)
{
	const char *name = cfg.socket_group;
	struct group *gr;
	char *end;
	unsigned long n;
	gid_t gid;

	*cause = NULL;
	if (name == NULL)
		return 0;
	if ((gr = getgrnam(name)) != NULL)
		gid = gr->gr_gid;
	else {
		errno = 0;
		n = strtoul(name, &end, 10);
		if (errno != 0 || *end != '\0' || end == name) {
			if (asprintf(
			        cause, "socket_group: no group '%s'", name) < 0)
				*cause = NULL;
			return -1;
		}
		gid = (gid_t)n;
	}
	if (chown(path, (uid_t)-1, gid) != 0) {
		if (asprintf(cause, "chown %s to group %s: %s", path, name,
		        strerror(errno)) < 0)
			*cause = NULL;
		return -1;
	}
	return 0;
}

/* Bind a fresh socket at path, replacing a stale socket file. */
static int
listener_bind(const char *path, char **cause)
{
	struct sockaddr_un sun;
	struct stat sb;
	mode_t old;
	int fd, rc;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		if (asprintf(cause, "socket path too long: %s", path) < 0)
			*cause = NULL;
		return -1;
	}
	strcpy(sun.sun_path, path);
	/*
	 * The lock file is held, so no live daemon owns this socket: an
	 * existing socket file is stale. Anything else is not ours to remove.
	 */
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			if (asprintf(cause, "%s exists and is not a socket",
			        path) < 0)
				*cause = NULL;
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* Born owner-only; opened up to socket_mode once the group is set. */
	old = umask(0177);
	rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (rc != 0) {
		if (asprintf(cause, "bind %s: %s", path, strerror(errno)) < 0)
			*cause = NULL;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (listener_group(path, cause) != 0 ||
	    chmod(path, cfg.socket_mode) != 0) {
		if (*cause == NULL &&
		    asprintf(cause, "chmod %s: %s", path, strerror(errno)) < 0)
			*cause = NULL;
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

/* Bind (unless fd is an activated socket) and start accepting. */
int
listener_open(struct event_base *base, const char *path, int fd, char **cause)
{
	signal(SIGPIPE, SIG_IGN);
	if (fd < 0 && (fd = listener_bind(path, cause)) < 0)
		return -1;
	evutil_make_socket_nonblocking(fd);
	listener = evconnlistener_new(base, listener_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128, fd);
	if (listener == NULL) {
		if (asprintf(cause, "listen %s: %s", path, strerror(errno)) < 0)
			*cause = NULL;
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(listener, listener_error_cb);
	listener_keep_spare();
	return 0;
}

/* Stop accepting and close the listening socket. */
void
listener_close(void)
{
	if (listener != NULL)
		evconnlistener_free(listener);
	listener = NULL;
	if (listener_pause != NULL)
		event_free(listener_pause);
	listener_pause = NULL;
	if (listener_spare >= 0)
		close(listener_spare);
	listener_spare = -1;
}
