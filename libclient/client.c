/* client.c - connections: connect and handshake, disconnect, event loops. */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "arena.h"
#include "dpath.h"
#include "engine.h"
#include "ops.h"

/* Local deadline of the handshake (the daemon's frame timeout is 10 s). */
#define CLIENT_HELLO_MS 15000

/* Map a failed connect(2) to a status (errno is kept for the caller). */
static cq_status
client_connect_status(int err)
{
	switch (err) {
	case ENOENT:
	case ECONNREFUSED:
	case ENOTDIR:
		return CQ_DISCONNECTED;
	case EACCES:
	case EPERM:
		return CQ_DENIED;
	default:
		return CQ_SYSTEM;
	}
}

/* Open a non-blocking stream socket to path. Returns fd or -1/errno. */
static int
client_dial(const char *path)
{
	struct sockaddr_un sa;
	int fd, err;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	/* A blocking connect: AF_UNIX connects at once or fails at once. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		if (errno == EINTR)
			continue;
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Take the daemon's limits from its Welcome. */
static cq_status
client_welcome(cq_client *c, const Conqueue__Reply *r)
{
	const Conqueue__Welcome *w = r->welcome;
	const Conqueue__Limits *l;

	if (w == NULL || w->limits == NULL ||
	    w->protocol_version != CQ_PROTOCOL_VERSION) {
		conn_set_error(c, CQ_PROTOCOL,
		    "daemon speaks another protocol version", 0);
		return CQ_PROTOCOL;
	}
	l = w->limits;
	c->max_frame =
	    l->max_frame < FRAME_MAX_LIMIT ? l->max_frame : FRAME_MAX_LIMIT;
	c->max_message = l->max_message;
	c->max_batch = l->max_batch > 0 ? l->max_batch : 1;
	c->max_pending = l->max_pending > 0 ? l->max_pending : 1;
	/* Keep a few slots for Cancel and internal releases, which must
	 * get through even when the app's ops fill the daemon's limit. */
	if (c->max_pending > 32)
		c->window = c->max_pending - 8;
	else
		c->window = c->max_pending > 1 ? c->max_pending - 1 : 1;
	strncpy(c->server_version,
	    w->server_version != NULL ? w->server_version : "",
	    sizeof c->server_version - 1);
	return CQ_OK;
}

/* cq_connect_flags: connect, say Hello and check the Welcome. */
cq_status
cq_connect_flags(
    cq_client **cp, const char *path, const char *client_name, unsigned flags)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Hello hello = CONQUEUE__HELLO__INIT;
	Conqueue__Reply *r = NULL;
	char def[sizeof(((struct sockaddr_un *)0)->sun_path) + 64];
	const char *sys;
	cq_client *c;
	cq_status st;
	int fd, err;

	if (cp == NULL)
		return CQ_INVALID;
	*cp = NULL;
	if ((flags & ~(CQ_CONNECT_NO_DIRECT | CQ_CONNECT_DIRECT)) != 0)
		return CQ_INVALID;
	if (path == NULL) {
		if (cq_default_socket(def, sizeof def) != CQ_OK)
			return CQ_INVALID;
		path = def;
	}
	fd = client_dial(path);
	/* Nobody at the default: try the system daemon (DESIGN 2.4). An
	 * absent system socket reports the first failure; any other (a
	 * permission) is the more useful one. */
	if (fd < 0 && path == def &&
	    (errno == ENOENT || errno == ECONNREFUSED) &&
	    (sys = socket_fallback_path()) != NULL) {
		err = errno;
		if ((fd = client_dial(sys)) < 0 && errno == ENOENT)
			errno = err;
	}
	if (fd < 0)
		return errno == ENAMETOOLONG ? CQ_INVALID
		                             : client_connect_status(errno);
	if ((c = engine_new(fd)) == NULL) {
		err = errno;
		close(fd);
		errno = err;
		return CQ_SYSTEM;
	}
	c->no_direct = dpath_off(flags);
	req.op_case = CONQUEUE__REQUEST__OP_HELLO;
	req.hello = &hello;
	hello.protocol_version = CQ_PROTOCOL_VERSION;
	hello.client_name =
	    (char *)(uintptr_t)(client_name != NULL ? client_name
	                                            : "libconqueue-client");
	st = ops_call(
	    c, &req, CLIENT_HELLO_MS - OPTAB_GRACE_MS, OP_PLAIN, NULL, &r);
	/* Refused at a connection limit: say so rather than "lost". */
	if (st == CQ_DISCONNECTED && c->conn_status != CQ_OK)
		st = c->conn_status;
	if (st == CQ_OK)
		st = client_welcome(c, r);
	if (r != NULL)
		arena_reply_free(c, r);
	if (st != CQ_OK) {
		engine_shutdown(c);
		engine_free(c);
		return st;
	}
	*cp = c;
	return CQ_OK;
}

/* cq_connect_named: cq_connect_flags with the default flags. */
cq_status
cq_connect_named(cq_client **cp, const char *path, const char *client_name)
{
	return cq_connect_flags(cp, path, client_name, 0);
}

/* cq_connect: cq_connect_named without a client name. */
cq_status
cq_connect(cq_client **cp, const char *path)
{
	return cq_connect_named(cp, path, NULL);
}

/* cq_disconnect: flush receipts, cancel the rest, free everything. */
void
cq_disconnect(cq_client *c)
{
	struct cq_queue *q, *next;

	if (c == NULL)
		return;
	engine_shutdown(c);
	for (q = c->queues; q != NULL; q = next) {
		next = q->next;
		dpath_free(q);
		free(q);
	}
	engine_free(c);
}

/* cq_client_error: text of the last failure on c. */
const char *
cq_client_error(cq_client *c)
{
	return c != NULL ? c->error : "";
}

/* cq_client_errno: errno of the last CQ_SYSTEM failure on c. */
int
cq_client_errno(cq_client *c)
{
	return c != NULL ? c->sys_errno : 0;
}

/* cq_client_fd: the socket an event loop watches (-1 once lost). */
int
cq_client_fd(cq_client *c)
{
	return c->fd;
}

/* cq_client_events: CQ_WANT_READ, plus CQ_WANT_WRITE while output waits. */
int
cq_client_events(cq_client *c)
{
	return conn_events(c);
}

/* cq_client_process: do the I/O the socket allows and run callbacks. */
cq_status
cq_client_process(cq_client *c)
{
	return engine_process(c);
}

/* cq_client_pending: async ops whose callbacks have not run yet. */
size_t
cq_client_pending(cq_client *c)
{
	return c->napp;
}

/* cq_client_set_watch: be told when the wanted events change. */
void
cq_client_set_watch(cq_client *c, void (*fn)(cq_client *, void *), void *arg)
{
	c->watch = fn;
	c->watch_arg = arg;
	c->watch_last = conn_events(c);
}
