/* rawclient.c - a raw-frame client for tests that talk to conqueued. */

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "proto/frame.h"
#include "rawclient.h"

static uint64_t rc_next_id = 1;

/* Connect to path without the handshake; fd or -1. */
int
rc_connect_raw(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Connect and greet; fd or -1. */
int
rc_connect(const char *path)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Hello h = CONQUEUE__HELLO__INIT;
	int fd = rc_connect_raw(path);

	if (fd < 0)
		return -1;
	h.protocol_version = CQ_PROTOCOL_VERSION;
	h.client_name = (char *)(uintptr_t) "rawclient";
	r.op_case = CONQUEUE__REQUEST__OP_HELLO;
	r.hello = &h;
	if (rc_status(rc_call(fd, &r)) != CQ_OK) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Write all of buf; MSG_NOSIGNAL so a hang-up is EPIPE, not a signal. */
int
rc_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Pack one frame; the caller made room (get_packed_size + header). */
size_t
rc_pack(const Conqueue__Request *r, uint8_t *buf)
{
	size_t len = conqueue__request__get_packed_size(r);

	frame_put_len(buf, (uint32_t)len);
	conqueue__request__pack(r, buf + FRAME_HDR_LEN);
	return len + FRAME_HDR_LEN;
}

/* Send r as one frame. */
int
rc_send(int fd, Conqueue__Request *r)
{
	size_t len;
	uint8_t *buf;
	int rc;

	if (r->id == 0 && r->op_case != CONQUEUE__REQUEST__OP__NOT_SET)
		r->id = rc_next_id++;
	len = conqueue__request__get_packed_size(r) + FRAME_HDR_LEN;
	if ((buf = malloc(len)) == NULL)
		return -1;
	rc = rc_write(fd, buf, rc_pack(r, buf));
	free(buf);
	return rc;
}

/* Read exactly len bytes; 1, 0 on EOF or error, -1 on timeout. */
static int
rc_read_full(int fd, void *buf, size_t len)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		if (poll(&pfd, 1, RC_IO_TIMEOUT_MS) != 1)
			return -1;
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0; /* EOF or ECONNRESET: a hang-up */
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

/* A fresh request id. */
uint64_t
rc_fresh_id(void)
{
	return rc_next_id++;
}

/* The next Reply, or NULL. */
Conqueue__Reply *
rc_recv(int fd)
{
	int eof;

	return rc_recv_or_eof(fd, &eof);
}

/* The next Reply, or NULL with *eof set if the daemon hung up. */
Conqueue__Reply *
rc_recv_or_eof(int fd, int *eof)
{
	uint8_t hdr[FRAME_HDR_LEN], *body;
	Conqueue__Reply *r;
	const char *why = NULL;
	uint32_t len;
	int rc;

	*eof = 0;
	if ((rc = rc_read_full(fd, hdr, sizeof hdr)) != 1) {
		*eof = rc == 0;
		return NULL;
	}
	len = frame_get_len(hdr);
	if (len > FRAME_MAX_LIMIT || (body = malloc(len + 1)) == NULL)
		return NULL;
	if (rc_read_full(fd, body, len) != 1) {
		free(body);
		return NULL;
	}
	r = frame_decode_reply(body, len, &why);
	free(body);
	return r;
}

/* 1 once the daemon closed fd, else 0. */
int
rc_wait_eof(int fd)
{
	char buf[4096];
	struct pollfd pfd = {fd, POLLIN, 0};
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, RC_IO_TIMEOUT_MS) != 1)
			return 0;
		n = read(fd, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0 && errno != EINTR)
			return 0;
	}
}

/* Send r and return the next reply if it answers r. */
Conqueue__Reply *
rc_call(int fd, Conqueue__Request *r)
{
	Conqueue__Reply *rep;

	if (rc_send(fd, r) != 0 || (rep = rc_recv(fd)) == NULL)
		return NULL;
	if (rep->id != r->id) {
		conqueue__reply__free_unpacked(rep, NULL);
		return NULL;
	}
	return rep;
}

/* The status of r, freeing it; -1 for NULL. */
int
rc_status(Conqueue__Reply *r)
{
	int st;

	if (r == NULL)
		return -1;
	st = (int)r->status;
	conqueue__reply__free_unpacked(r, NULL);
	return st;
}

/* Named op on name. */
Conqueue__Reply *
rc_named(int fd, Conqueue__Named__Kind kind, const void *name, size_t len)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Named n = CONQUEUE__NAMED__INIT;

	n.kind = kind;
	n.name.data = (uint8_t *)(uintptr_t)name;
	n.name.len = len;
	r.op_case = CONQUEUE__REQUEST__OP_NAMED;
	r.named = &n;
	return rc_call(fd, &r);
}

/* Create a queue; status. */
int
rc_create(int fd, const void *name, size_t len, uint32_t mode,
    uint32_t capacity, uint32_t max_size)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Create c = CONQUEUE__CREATE__INIT;
	Conqueue__QueueAttr a = CONQUEUE__QUEUE_ATTR__INIT;

	c.name.data = (uint8_t *)(uintptr_t)name;
	c.name.len = len;
	a.has_mode = 1;
	a.mode = mode;
	a.has_capacity = capacity != 0;
	a.capacity = capacity;
	a.has_max_size = max_size != 0;
	a.max_size = max_size;
	c.attr = &a;
	r.op_case = CONQUEUE__REQUEST__OP_CREATE;
	r.create = &c;
	return rc_status(rc_call(fd, &r));
}

/* Push one message; status. */
int
rc_push(int fd, const char *name, const char *msg, int64_t timeout_ms)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Push p = CONQUEUE__PUSH__INIT;
	ProtobufCBinaryData data;

	data.data = (uint8_t *)(uintptr_t)msg;
	data.len = strlen(msg);
	p.name.data = (uint8_t *)(uintptr_t)name;
	p.name.len = strlen(name);
	p.n_data = 1;
	p.data = &data;
	p.has_timeout_ms = 1;
	p.timeout_ms = timeout_ms;
	r.op_case = CONQUEUE__REQUEST__OP_PUSH;
	r.push = &p;
	return rc_status(rc_call(fd, &r));
}

/* Pop (or reserve) up to max; the reply. */
Conqueue__Reply *
rc_pop(int fd, const char *name, uint32_t max, int64_t timeout_ms, int reserve)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Pop p = CONQUEUE__POP__INIT;

	p.name.data = (uint8_t *)(uintptr_t)name;
	p.name.len = strlen(name);
	p.has_max = max != 0;
	p.max = max;
	p.has_timeout_ms = 1;
	p.timeout_ms = timeout_ms;
	p.has_reserve = p.reserve = reserve != 0;
	r.op_case = CONQUEUE__REQUEST__OP_POP;
	r.pop = &p;
	return rc_call(fd, &r);
}

/* Confirm receipt of pop id. */
int
rc_confirm(int fd, uint64_t id)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;

	r.n_confirm = 1;
	r.confirm = &id;
	return rc_send(fd, &r);
}

/* MsgOp on a message; status. */
int
rc_msgop(int fd, const char *name, Conqueue__MsgOp__Kind kind, uint64_t id,
    uint32_t delay_ms)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__MsgOp mo = CONQUEUE__MSG_OP__INIT;

	mo.kind = kind;
	mo.name.data = (uint8_t *)(uintptr_t)name;
	mo.name.len = strlen(name);
	mo.msg_id = id;
	mo.has_delay_ms = delay_ms > 0;
	mo.delay_ms = delay_ms;
	r.op_case = CONQUEUE__REQUEST__OP_MSG_OP;
	r.msg_op = &mo;
	return rc_status(rc_call(fd, &r));
}

/* Chmod; status. */
int
rc_chmod(int fd, const char *name, uint32_t mode)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Chmod c = CONQUEUE__CHMOD__INIT;

	c.name.data = (uint8_t *)(uintptr_t)name;
	c.name.len = strlen(name);
	c.mode = mode;
	r.op_case = CONQUEUE__REQUEST__OP_CHMOD;
	r.chmod = &c;
	return rc_status(rc_call(fd, &r));
}

/* Ping; status. */
int
rc_ping(int fd)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Ping p = CONQUEUE__PING__INIT;

	r.op_case = CONQUEUE__REQUEST__OP_PING;
	r.ping = &p;
	return rc_status(rc_call(fd, &r));
}

/* Read one Request frame (blocking: a fake daemon has nothing else to do). */
int
rc_read_request(int fd, Conqueue__Request **req)
{
	uint8_t hdr[FRAME_HDR_LEN], *buf;
	const char *why;
	uint32_t len;

	if (rc_read_full(fd, hdr, sizeof hdr) != 1)
		return -1;
	len = frame_get_len(hdr);
	if (len > FRAME_MAX_LIMIT || (buf = malloc(len ? len : 1)) == NULL)
		return -1;
	if (rc_read_full(fd, buf, len) != 1) {
		free(buf);
		return -1;
	}
	*req = frame_decode_request(buf, len, &why);
	free(buf);
	return *req != NULL ? 0 : -1;
}

/* Send one Reply frame. */
int
rc_send_reply(int fd, const Conqueue__Reply *r)
{
	size_t n = conqueue__reply__get_packed_size(r);
	uint8_t *buf;
	int rc;

	if ((buf = malloc(n + FRAME_HDR_LEN)) == NULL)
		return -1;
	frame_put_len(buf, (uint32_t)n);
	conqueue__reply__pack(r, buf + FRAME_HDR_LEN);
	rc = rc_write(fd, buf, n + FRAME_HDR_LEN);
	free(buf);
	return rc;
}

/* The welcome of a fake daemon. */
void
rc_welcome(Conqueue__Welcome *w, Conqueue__Limits *l)
{
	conqueue__welcome__init(w);
	conqueue__limits__init(l);
	l->max_frame = 1 << 20;
	l->max_message = 1 << 16;
	l->max_pending = 100;
	l->max_batch = 10;
	w->protocol_version = 1;
	w->server_version = (char *)(uintptr_t) "fake";
	w->limits = l;
}

/*
 * Read exactly len bytes with recvmsg, keeping up to 2 SCM_RIGHTS fds in
 * fds (*nfds counts them; any beyond are closed); 1, 0 on EOF, -1.
 */
static int
rc_read_fds(int fd, uint8_t *buf, size_t len, int *fds, int *nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(8 * sizeof(int))];
	} cm;
	struct pollfd pfd = {fd, POLLIN, 0};
	struct cmsghdr *h;
	struct msghdr mh;
	struct iovec iov;
	int k, i, got[8];
	ssize_t n;

	while (len > 0) {
		if (poll(&pfd, 1, RC_IO_TIMEOUT_MS) != 1)
			return -1;
		memset(&mh, 0, sizeof mh);
		iov.iov_base = buf;
		iov.iov_len = len;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof cm.b;
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		for (h = CMSG_FIRSTHDR(&mh); h != NULL;
		     h = CMSG_NXTHDR(&mh, h)) {
			if (h->cmsg_level != SOL_SOCKET ||
			    h->cmsg_type != SCM_RIGHTS)
				continue;
			k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(got, CMSG_DATA(h), (size_t)k * sizeof(int));
			for (i = 0; i < k; i++) {
				if (*nfds < 2)
					fds[(*nfds)++] = got[i];
				else
					close(got[i]);
			}
		}
		buf += n;
		len -= (size_t)n;
	}
	return 1;
}

/* OPEN name with direct set; the status and the granted fds. */
int
rc_open_direct(int fd, const char *name, int *seg, int *bell)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Named n = CONQUEUE__NAMED__INIT;
	Conqueue__Reply *rep = NULL;
	uint8_t hdr[FRAME_HDR_LEN], *body = NULL;
	const char *why = NULL;
	int fds[2], nfds = 0, st = -1;
	uint32_t len;

	*seg = *bell = -1;
	n.kind = CONQUEUE__NAMED__KIND__OPEN;
	n.name.data = (uint8_t *)(uintptr_t)name;
	n.name.len = strlen(name);
	n.has_direct = n.direct = 1;
	r.op_case = CONQUEUE__REQUEST__OP_NAMED;
	r.named = &n;
	if (rc_send(fd, &r) != 0 ||
	    rc_read_fds(fd, hdr, sizeof hdr, fds, &nfds) != 1)
		goto out;
	len = frame_get_len(hdr);
	if (len > FRAME_MAX_LIMIT || (body = malloc(len + 1)) == NULL ||
	    rc_read_fds(fd, body, len, fds, &nfds) != 1)
		goto out;
	rep = frame_decode_reply(body, len, &why);
	if (rep == NULL || rep->id != r.id)
		goto out;
	st = (int)rep->status;
	if (st == CQ_OK && nfds == 2) {
		*seg = fds[0];
		*bell = fds[1];
		nfds = 0;
	}
out:
	while (nfds > 0)
		close(fds[--nfds]);
	if (rep != NULL)
		conqueue__reply__free_unpacked(rep, NULL);
	free(body);
	return st;
}
