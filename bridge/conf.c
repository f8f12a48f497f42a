/* conf.c - conqueue-bridge.conf: global keys, [outbound]/[inbound] routes. */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/bridge.h"

/* Set *cause to a formatted message and return -1. */
static int
conf_error(char **cause, const char *path, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (asprintf(cause, "%s:%d: %s", path, line, msg) < 0)
		*cause = NULL;
	return -1;
}

/* Trim spaces at both ends of s, in place. */
static char *
conf_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Parse an unsigned number within [lo, hi]. */
static int
conf_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long long n;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < lo || n > hi)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* Parse yes/no. */
static int
conf_bool(const char *v, int *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
	         strcmp(v, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* A JetStream name: no spaces, dots, wildcards or path characters. */
static int
conf_js_name(const char *v)
{
	if (*v == '\0' || strlen(v) > 128)
		return 0;
	for (; *v != '\0'; v++)
		if (!isalnum((unsigned char)*v) && *v != '-' && *v != '_')
			return 0;
	return 1;
}

/* A publish subject: dot-separated tokens, no wildcards. */
static int
conf_subject(const char *v)
{
	int tok = 0;

	if (*v == '\0' || strlen(v) > 255)
		return 0;
	for (; *v != '\0'; v++) {
		if (*v == '.') {
			if (tok == 0)
				return 0;
			tok = 0;
		} else if (isspace((unsigned char)*v) || *v == '*' || *v == '>')
			return 0;
		else
			tok++;
	}
	return tok > 0;
}

/* Start a route section "[outbound NAME]" or "[inbound NAME]". */
static int
conf_section(
    struct bridge *b, char *s, const char *path, int line, char **cause)
{
	struct route *r, *nr;
	char *close, *name;
	enum route_kind kind;
	size_t i;

	close = strchr(s, ']');
	if (close == NULL || close[1] != '\0')
		return conf_error(cause, path, line, "bad section line");
	*close = '\0';
	s = conf_trim(s + 1);
	if (strncmp(s, "outbound", 8) == 0 && isspace((unsigned char)s[8]))
		kind = ROUTE_OUT;
	else if (strncmp(s, "inbound", 7) == 0 && isspace((unsigned char)s[7]))
		kind = ROUTE_IN;
	else
		return conf_error(cause, path, line,
		    "section must be [outbound NAME] or [inbound NAME]");
	name = conf_trim(s + (kind == ROUTE_OUT ? 8 : 7));
	if (!conf_js_name(name))
		return conf_error(cause, path, line,
		    "route name '%s' must be letters, digits, - and _", name);
	for (i = 0; i < b->nroutes; i++)
		if (strcmp(b->routes[i].name, name) == 0)
			return conf_error(cause, path, line,
			    "route '%s' defined twice", name);
	nr = realloc(b->routes, (b->nroutes + 1) * sizeof *nr);
	if (nr == NULL)
		return conf_error(cause, path, line, "out of memory");
	b->routes = nr;
	r = &b->routes[b->nroutes++];
	memset(r, 0, sizeof *r);
	r->kind = kind;
	r->name = strdup(name);
	r->window = 256;
	r->lease_ms = 30000;
	r->batch = 128;
	r->ack_wait_ms = 30000;
	r->max_deliver = -1;
	r->b = b;
	return r->name == NULL ? conf_error(cause, path, line, "no memory") : 0;
}

/* Replace the string *dst by a copy of v. */
static int
conf_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst == NULL ? -1 : 0;
}

/* Apply one key = value of a route section. */
static int
conf_route_key(struct route *r, const char *k, const char *v)
{
	uint32_t n;

	if (strcmp(k, "queue") == 0)
		return cq_name_valid(v, strlen(v)) ? conf_str(&r->queue, v)
		                                   : -1;
	if (strcmp(k, "subject") == 0)
		return conf_subject(v) ? conf_str(&r->subject, v) : -1;
	if (strcmp(k, "stream") == 0)
		return conf_js_name(v) ? conf_str(&r->stream, v) : -1;
	if (strcmp(k, "durable") == 0 && r->kind == ROUTE_IN)
		return conf_js_name(v) ? conf_str(&r->durable, v) : -1;
	if (strcmp(k, "window") == 0 && r->kind == ROUTE_OUT)
		return conf_u32(v, 1, 65536, &r->window);
	if (strcmp(k, "lease_ms") == 0 && r->kind == ROUTE_OUT)
		return conf_u32(v, 1000, 86400000, &r->lease_ms);
	if (strcmp(k, "batch") == 0 && r->kind == ROUTE_IN)
		return conf_u32(v, 1, 1024, &r->batch);
	if (strcmp(k, "ack_wait_ms") == 0 && r->kind == ROUTE_IN)
		return conf_u32(v, 1000, 86400000, &r->ack_wait_ms);
	if (strcmp(k, "max_deliver") == 0 && r->kind == ROUTE_IN) {
		if (conf_u32(v, 0, 1000000, &n) != 0)
			return -1;
		r->max_deliver = n == 0 ? -1 : (int64_t)n;
		return 0;
	}
	if (strcmp(k, "stamp") == 0 && r->kind == ROUTE_IN)
		return conf_bool(v, &r->stamp);
	return -2;
}

/* Apply one global key = value. */
static int
conf_global_key(struct bridge *b, const char *k, const char *v)
{
	if (strcmp(k, "instance") == 0)
		return conf_js_name(v) ? conf_str(&b->instance, v) : -1;
	if (strcmp(k, "socket") == 0)
		return *v == '/' ? conf_str(&b->socket, v) : -1;
	if (strcmp(k, "nats_url") == 0)
		return *v != '\0' ? conf_str(&b->nats_url, v) : -1;
	if (strcmp(k, "stats_file") == 0)
		return *v == '/' ? conf_str(&b->stats_file, v) : -1;
	if (strcmp(k, "stats_interval_ms") == 0)
		return conf_u32(v, 100, 3600000, &b->stats_interval_ms);
	if (strcmp(k, "duplicates_ms") == 0)
		return conf_u32(v, 1000, 86400000, &b->duplicates_ms);
	return -2;
}

/* Check that each route names what it needs. */
static int
conf_validate(struct bridge *b, const char *path, char **cause)
{
	struct route *r;
	size_t i, j;

	if (b->nroutes == 0)
		return conf_error(
		    cause, path, 0, "no [outbound] or [inbound] route");
	for (i = 0; i < b->nroutes; i++) {
		r = &b->routes[i];
		if (r->queue == NULL || r->subject == NULL || r->stream == NULL)
			return conf_error(cause, path, 0,
			    "route '%s' needs queue, subject and stream",
			    r->name);
		if (r->kind == ROUTE_IN && r->durable == NULL)
			return conf_error(cause, path, 0,
			    "inbound route '%s' needs durable", r->name);
		for (j = 0; j < i; j++)
			if (r->kind == ROUTE_OUT &&
			    b->routes[j].kind == ROUTE_OUT &&
			    strcmp(r->queue, b->routes[j].queue) == 0)
				return conf_error(cause, path, 0,
				    "queue '%s' has two outbound routes",
				    r->queue);
	}
	return 0;
}

/* Load path into b (defaults first). 0, or -1 with *cause (freed by caller). */
int
conf_load(struct bridge *b, const char *path, char **cause)
{
	char buf[1024], host[256], *s, *eq, *k, *v;
	struct route *r = NULL;
	FILE *f;
	int line = 0, rc;

	b->stats_interval_ms = 5000;
	b->duplicates_ms = 120000;
	if ((f = fopen(path, "r")) == NULL)
		return conf_error(cause, path, 0, "%s", strerror(errno));
	while (fgets(buf, sizeof buf, f) != NULL) {
		line++;
		if (strchr(buf, '\n') == NULL && !feof(f)) {
			fclose(f);
			return conf_error(cause, path, line, "line too long");
		}
		if ((s = strchr(buf, '#')) != NULL)
			*s = '\0';
		s = conf_trim(buf);
		if (*s == '\0')
			continue;
		if (*s == '[') {
			if (conf_section(b, s, path, line, cause) != 0) {
				fclose(f);
				return -1;
			}
			r = &b->routes[b->nroutes - 1];
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL) {
			fclose(f);
			return conf_error(
			    cause, path, line, "expected key = value");
		}
		*eq = '\0';
		k = conf_trim(s);
		v = conf_trim(eq + 1);
		rc = r != NULL ? conf_route_key(r, k, v)
		               : conf_global_key(b, k, v);
		if (rc != 0) {
			fclose(f);
			return conf_error(cause, path, line,
			    rc == -2 ? "unknown key '%s'%s"
			             : "bad value for '%s'%s",
			    k, r != NULL ? " in this route" : "");
		}
	}
	fclose(f);
	if (b->instance == NULL) {
		if (gethostname(host, sizeof host) != 0)
			snprintf(host, sizeof host, "host");
		host[sizeof host - 1] = '\0';
		for (s = host; *s != '\0'; s++)
			if (!isalnum((unsigned char)*s) && *s != '-')
				*s = '_';
		if (conf_str(&b->instance, host) != 0)
			return conf_error(cause, path, 0, "out of memory");
	}
	if (b->nats_url == NULL &&
	    conf_str(&b->nats_url, "nats://127.0.0.1:4222") != 0)
		return conf_error(cause, path, 0, "out of memory");
	return conf_validate(b, path, cause);
}

/* Free what conf_load allocated. */
void
conf_free(struct bridge *b)
{
	size_t i;

	for (i = 0; i < b->nroutes; i++) {
		free(b->routes[i].name);
		free(b->routes[i].queue);
		free(b->routes[i].subject);
		free(b->routes[i].stream);
		free(b->routes[i].durable);
	}
	free(b->routes);
	free(b->instance);
	free(b->socket);
	free(b->nats_url);
	free(b->stats_file);
	b->routes = NULL;
	b->nroutes = 0;
}
