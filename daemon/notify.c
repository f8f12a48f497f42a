/* notify.c - service manager glue: readiness notification and activation. */

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "daemon/log.h"
#include "daemon/notify.h"

/* The first passed descriptor (SD_LISTEN_FDS_START). */
#define NOTIFY_LISTEN_FDS_START 3

#ifdef HAVE_SYSTEMD

/* Tell systemd about a state change. */
void
notify_send(const char *state)
{
	sd_notify(0, state);
}

/* The one socket systemd passed us, or -1 (bind ourselves). */
int
notify_listen_fd(void)
{
	int n = sd_listen_fds(1);

	if (n > 1)
		log_warn("%d sockets passed by systemd: using the first", n);
	if (n < 1)
		return -1;
	if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <=
	    0) {
		log_warn("the socket passed by systemd is not a listening "
		         "AF_UNIX stream socket: ignored");
		return -1;
	}
	return SD_LISTEN_FDS_START;
}

/* The watchdog interval asked for by systemd in microseconds, or 0. */
uint64_t
notify_watchdog_usec(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

#else

/*
 * The sd_notify protocol without libsystemd: one datagram to the socket in
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace).
 */
void
notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	size_t plen;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	plen = strlen(path);
	if (plen >= sizeof sun.sun_path)
		return;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	        (struct sockaddr *)&sun, len) < 0)
		log_debug("sd_notify %s: %s", path, strerror(errno));
	close(fd);
}

/* $WATCHDOG_USEC, if meant for this process (sd_watchdog_enabled). */
uint64_t
notify_watchdog_usec(void)
{
	const char *v = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long usec;
	char *end;

	if (v == NULL)
		return 0;
	if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	errno = 0;
	usec = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v)
		return 0;
	return usec;
}

/*
 * sd_listen_fds(1) without libsystemd: LISTEN_FDS/LISTEN_PID is a small,
 * documented protocol (sd_listen_fds(3)), and a build that ignored it
 * would bind its own socket over the one the service manager holds. The
 * variables are dropped either way, as sd_listen_fds(1) does, so that no
 * child takes our sockets for its own.
 */
int
notify_listen_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int type = 0, acc = 0, fd;
	struct sockaddr_un sun;
	socklen_t len;
	long n, p;
	char *end;

	if (pid == NULL || fds == NULL)
		return -1;
	errno = 0;
	p = strtol(pid, &end, 10);
	if (errno != 0 || *end != '\0' || end == pid || p != (long)getpid()) {
		n = 0;
	} else {
		n = strtol(fds, &end, 10);
		if (errno != 0 || *end != '\0' || end == fds || n < 0)
			n = 0;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n < 1)
		return -1;
	if (n > 1)
		log_warn("%ld sockets passed by the service manager: using the "
		         "first",
		    n);
	for (fd = NOTIFY_LISTEN_FDS_START; fd < NOTIFY_LISTEN_FDS_START + n;
	     fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	fd = NOTIFY_LISTEN_FDS_START;
	len = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0) {
		len = sizeof acc;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) != 0)
			acc = 0;
	}
	len = sizeof sun;
	memset(&sun, 0, sizeof sun);
	if (type != SOCK_STREAM || !acc ||
	    getsockname(fd, (struct sockaddr *)&sun, &len) != 0 ||
	    sun.sun_family != AF_UNIX) {
		log_warn("the socket passed by the service manager is not a "
		         "listening AF_UNIX stream socket: ignored");
		return -1;
	}
	return fd;
}

#endif
