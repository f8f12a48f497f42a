/* scrape.c - the optional metrics listener: HTTP GET /metrics. */

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/common.h"
#include "common/metrics.h"
#include "daemon/admin.h"
#include "daemon/config.h"
#include "daemon/listener.h"
#include "daemon/log.h"
#include "daemon/registry.h"
#include "daemon/reply.h"
#include "daemon/scrape.h"

/* A scrape is small: a request line and a few headers, no body. */
#define SCRAPE_MAX_HEADERS 8192
#define SCRAPE_TIMEOUT_S   10

static struct evhttp *scrape_http;
static char scrape_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* Set *cause to a formatted reason. */
static int scrape_why(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
scrape_why(char **cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) < 0)
		*cause = NULL;
	va_end(ap);
	return -1;
}

/* Parse spec into an address; only socket paths and loopback TCP. */
static int
scrape_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
    char **cause)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[64];
	const char *colon, *p;
	unsigned long port = 0;
	size_t hl;

	memset(ss, 0, sizeof *ss);
	if (spec[0] == '/') {
		if (strlen(spec) >= sizeof sun->sun_path)
			return scrape_why(cause,
			    "metrics_listen: socket path too long: %s", spec);
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, spec);
		*len = sizeof *sun;
		return 0;
	}
	if ((colon = strrchr(spec, ':')) == NULL || colon[1] == '\0' ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) > 5)
		return scrape_why(cause,
		    "metrics_listen: '%s' is neither a socket path nor "
		    "HOST:PORT",
		    spec);
	for (p = colon + 1; *p != '\0'; p++)
		port = port * 10 + (unsigned long)(*p - '0');
	hl = (size_t)(colon - spec);
	if (port > 65535 || hl == 0 || hl >= sizeof host)
		return scrape_why(cause, "metrics_listen: bad address '%s'",
		    spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)port);
			*len = sizeof *sin6;
			return 0;
		}
	} else if (inet_pton(AF_INET, host, &sin->sin_addr) == 1 &&
	           (ntohl(sin->sin_addr.s_addr) >> 24) == 127) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof *sin;
		return 0;
	}
	return scrape_why(cause,
	    "metrics_listen: '%s' is not a loopback address (127.0.0.0/8, "
	    "[::1], localhost) or a socket path: whoever connects sees "
	    "every queue's name",
	    spec);
}

/* Check spec without binding (before the daemon makes anything). */
int
scrape_check(const char *spec, char **cause)
{
	struct sockaddr_storage ss;
	socklen_t len;

	*cause = NULL;
	return scrape_addr(spec, &ss, &len, cause);
}

/* Whether a live process accepts connections on the socket at path. */
static int
scrape_in_use(const struct sockaddr_un *sun)
{
	int fd, rc;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	close(fd);
	return rc == 0;
}

/*
 * Bind a socket path: born 0600 (umask), then given to socket_group with
 * mode 0660 when one is set. A stale socket file is replaced; a live one
 * (another process's) or any other file is left alone.
 */
static int
scrape_bind_unix(int fd, const struct sockaddr_un *sun, char **cause)
{
	struct stat sb;
	mode_t old;
	int rc;

	if (lstat(sun->sun_path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode))
			return scrape_why(cause, "%s exists and is not a socket",
			    sun->sun_path);
		if (scrape_in_use(sun))
			return scrape_why(cause, "%s is in use", sun->sun_path);
		unlink(sun->sun_path);
	}
	old = umask(0177);
	rc = bind(fd, (const struct sockaddr *)sun, sizeof *sun);
	umask(old);
	if (rc != 0)
		return scrape_why(cause, "bind %s: %s", sun->sun_path,
		    strerror(errno));
	snprintf(scrape_path, sizeof scrape_path, "%s", sun->sun_path);
	if (cfg.socket_group != NULL &&
	    (listener_group(sun->sun_path, cause) != 0 ||
	        chmod(sun->sun_path, 0660) != 0)) {
		if (*cause == NULL)
			scrape_why(cause, "chmod %s: %s", sun->sun_path,
			    strerror(errno));
		return -1;
	}
	return 0;
}

/* Write the daemon's and every queue's figures to f. */
int
scrape_write(FILE *f)
{
	struct metrics_daemon d;
	struct metrics_queue *mq;
	Conqueue__QueueStat s;
	struct rqueue *q;
	size_t n = 0;
	int rc;

	if ((mq = calloc(registry_count + 1, sizeof *mq)) == NULL)
		return -1;
	TAILQ_FOREACH(q, &registry_queues, link)
	{
		/* A queue whose lock stays busy is left out of this scrape. */
		if (n > registry_count || reply_fill_stat(q, &s) != CQ_OK)
			continue;
		mq[n].name = q->name;
		mq[n].quarantined = s.quarantined != 0;
		mq[n].depth = s.length;
		mq[n].in_flight = s.in_flight;
		mq[n].delayed = s.delayed;
		mq[n].capacity = s.capacity;
		mq[n].bytes = s.bytes;
		mq[n].max_bytes = s.max_bytes;
		mq[n].resident_bytes = s.resident_bytes;
		mq[n].waiting_poppers = s.waiting_poppers;
		mq[n].waiting_pushers = s.waiting_pushers;
		mq[n].pushed = s.total_pushed;
		mq[n].popped = s.total_popped;
		mq[n].dead_lettered = s.dead_lettered;
		mq[n].expired = s.expired;
		mq[n].oldest_age_ms = s.oldest_age_ms;
		mq[n].closed = s.closed != 0;
		mq[n].paused = s.paused != 0;
		n++;
	}
	memset(&d, 0, sizeof d);
	d.version = PACKAGE_VERSION;
	d.uptime_ms = (time_mono_ns() - admin_start_ns) / 1000000u;
	d.connections = admin_connections;
	d.queues = registry_count;
	d.total_ops = admin_total_ops;
	d.storage_bytes = registry_storage;
	d.rss_bytes = admin_rss();
	rc = metrics_write(f, &d, mq, n);
	free(mq);
	return rc;
}

/* Answer one request: GET /metrics, else 404 or 405. */
static void
scrape_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *body;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)arg;
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		/* evhttp_send_error drops headers: Allow needs a reply. */
		if ((body = evbuffer_new()) == NULL) {
			evhttp_send_error(req, HTTP_BADMETHOD, NULL);
			return;
		}
		evbuffer_add_printf(body, "only GET and HEAD\n");
		evhttp_add_header(out, "Allow", "GET, HEAD");
		evhttp_add_header(out, "Content-Type", "text/plain");
		evhttp_send_reply(req, HTTP_BADMETHOD, "Method Not Allowed", body);
		evbuffer_free(body);
		return;
	}
	if ((f = open_memstream(&text, &len)) == NULL ||
	    scrape_write(f) != 0 || fclose(f) != 0 ||
	    (body = evbuffer_new()) == NULL) {
		if (f != NULL)
			fclose(f);
		free(text);
		log_warn("metrics: cannot build the reply: out of memory");
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add(body, text, len);
	free(text);
	evhttp_add_header(out, "Content-Type", METRICS_CONTENT_TYPE);
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

/* Log where the listener is (the port, when 0 asked for one). */
static void
scrape_log(int fd, const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[INET6_ADDRSTRLEN];
	uint16_t port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    ss.ss_family == AF_UNIX) {
		log_info("metrics on %s", spec);
		return;
	}
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    host, sizeof host);
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		log_info("metrics on [%s]:%u", host, port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    host, sizeof host);
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		log_info("metrics on %s:%u", host, port);
	}
}

/* Bind spec and serve it. */
int
scrape_open(struct event_base *base, const char *spec, char **cause)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int fd, one = 1;

	*cause = NULL;
	if (scrape_addr(spec, &ss, &len, cause) != 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd < 0)
		return scrape_why(cause, "socket: %s", strerror(errno));
	if (ss.ss_family == AF_UNIX) {
		if (scrape_bind_unix(fd, (struct sockaddr_un *)&ss, cause) != 0)
			goto fail;
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
			scrape_why(cause, "bind %s: %s", spec, strerror(errno));
			goto fail;
		}
	}
	if (listen(fd, 16) != 0) {
		scrape_why(cause, "listen %s: %s", spec, strerror(errno));
		goto fail;
	}
	if ((scrape_http = evhttp_new(base)) == NULL ||
	    evhttp_accept_socket(scrape_http, fd) != 0) {
		scrape_why(cause, "cannot serve %s", spec);
		goto fail;
	}
	/* Any method reaches the callback, which answers 405 itself. */
	evhttp_set_allowed_methods(scrape_http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
	        EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(scrape_http, SCRAPE_MAX_HEADERS);
	evhttp_set_max_body_size(scrape_http, 0);
	evhttp_set_timeout(scrape_http, SCRAPE_TIMEOUT_S);
	evhttp_set_gencb(scrape_http, scrape_request_cb, NULL);
	scrape_log(fd, spec);
	return 0;
fail:
	if (scrape_http != NULL) {
		evhttp_free(scrape_http);
		scrape_http = NULL;
	}
	close(fd);
	if (scrape_path[0] != '\0')
		unlink(scrape_path);
	scrape_path[0] = '\0';
	return -1;
}

/* Stop serving and remove the socket file. */
void
scrape_close(void)
{
	if (scrape_http != NULL)
		evhttp_free(scrape_http);
	scrape_http = NULL;
	if (scrape_path[0] != '\0')
		unlink(scrape_path);
	scrape_path[0] = '\0';
}
