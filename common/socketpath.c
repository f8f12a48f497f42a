/* socketpath.c - the default socket path rule shared by daemon and clients. */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

/*
 * Write the default socket path: /run/conqueue/conqueued.sock for root,
 * $XDG_RUNTIME_DIR/conqueue/conqueued.sock for others, falling back to
 * /tmp/conqueue-$UID/conqueued.sock. Returns 0, or -1 if buf is too small.
 */
int
socket_default_path(char *buf, size_t len)
{
	const char *xdg;
	uid_t uid = getuid();
	int n;

	if (uid == 0)
		n = snprintf(buf, len, "%s", SOCKET_SYSTEM_PATH);
	else if ((xdg = getenv("XDG_RUNTIME_DIR")) != NULL && xdg[0] == '/')
		n = snprintf(buf, len, "%s/conqueue/conqueued.sock", xdg);
	else
		n = snprintf(buf, len, "/tmp/conqueue-%lu/conqueued.sock",
		    (unsigned long)uid);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return 0;
}

/* Public form: $CONQUEUE_SOCKET first, then the rule above. */
cq_status
cq_default_socket(char *buf, size_t len)
{
	const char *env = getenv("CONQUEUE_SOCKET");
	int n;

	if (env != NULL && env[0] != '\0') {
		n = snprintf(buf, len, "%s", env);
		return (n < 0 || (size_t)n >= len) ? CQ_INVALID : CQ_OK;
	}
	return socket_default_path(buf, len) == 0 ? CQ_OK : CQ_INVALID;
}

/*
 * A client whose own default socket is absent tries the system daemon's,
 * so that a user in its group reaches it without configuration. Nothing
 * to fall back to for root (that is its default) or when
 * $CONQUEUE_SOCKET names the socket: an explicit choice is never second-
 * guessed.
 */
const char *
socket_fallback_path(void)
{
	const char *env = getenv("CONQUEUE_SOCKET");

	if (getuid() == 0 || (env != NULL && env[0] != '\0'))
		return NULL;
	return SOCKET_SYSTEM_PATH;
}
