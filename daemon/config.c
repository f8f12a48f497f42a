/* config.c - conqueued.conf: defaults, key = value parsing, validation. */

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "proto/frame.h"

struct config cfg;

/* How a key's value is parsed and where it is stored. */
enum config_type { CT_STRING, CT_U32, CT_U64, CT_MODE, CT_BOOL, CT_LEVEL };

struct config_key {
	const char *name;
	enum config_type type;
	size_t off;
	uint64_t min, max; /* numeric range */
};

#define CK(n, t, lo, hi)                                                       \
	{                                                                      \
#n, t, offsetof(struct config, n), lo, hi                      \
	}
static const struct config_key config_keys[] = {
    CK(socket, CT_STRING, 0, 0),
    CK(instance, CT_STRING, 0, 0),
    CK(socket_mode, CT_MODE, 0, 0777),
    CK(socket_group, CT_STRING, 0, 0),
    CK(log_level, CT_LEVEL, 0, 0),
    CK(syslog, CT_BOOL, 0, 1),
    CK(max_frame, CT_U32, 4096, FRAME_MAX_LIMIT),
    CK(max_message, CT_U32, 1, FRAME_MAX_LIMIT),
    CK(max_capacity, CT_U32, 1, UINT32_MAX / 2),
    CK(max_connections, CT_U32, 1, 1000000),
    CK(max_connections_per_uid, CT_U32, 1, 1000000),
    CK(max_queues, CT_U32, 1, 10000000),
    CK(max_queues_per_uid, CT_U32, 1, 10000000),
    CK(max_storage_per_uid, CT_U64, 1, UINT64_MAX),
    CK(max_pending_per_conn, CT_U32, 1, 10000000),
    CK(max_batch, CT_U32, 1, 1000000),
    CK(max_outbuf, CT_U64, 65536, UINT64_MAX),
    CK(slow_reader_grace_ms, CT_U32, 1, 86400000),
    CK(frame_timeout_ms, CT_U32, 1, 86400000),
    CK(lock_timeout_ms, CT_U32, 0, 60000),
    CK(direct, CT_BOOL, 0, 1),
    CK(metrics_listen, CT_STRING, 0, 0),
    CK(dedup_max_keys, CT_U32, 1, 10000000),
    CK(state_dir, CT_STRING, 0, 0),
};
#undef CK

/* Fill c with the documented defaults. */
void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->socket_mode = 0660;
	c->log_level = LOG_LEVEL_INFO;
	c->max_frame = 4u * 1024 * 1024 + 64 * 1024;
	c->max_message = 1024 * 1024;
	c->max_capacity = 1000000;
	c->max_connections = 1024;
	c->max_connections_per_uid = 256;
	c->max_queues = 4096;
	c->max_queues_per_uid = 4096; /* a queue costs what it holds */
	c->max_storage_per_uid = 1073741824ull;
	c->max_pending_per_conn = 4096;
	c->max_batch = 1024;
	c->max_outbuf = 16777216;
	c->slow_reader_grace_ms = 10000;
	c->frame_timeout_ms = 10000;
	c->lock_timeout_ms = 100;
	c->direct = 1;
	c->dedup_max_keys = 100000;
}

/* Free the strings of c. */
void
config_free(struct config *c)
{
	free(c->socket);
	free(c->instance);
	free(c->socket_group);
	free(c->metrics_listen);
	free(c->state_dir);
	c->socket = c->instance = c->socket_group = NULL;
	c->metrics_listen = c->state_dir = NULL;
}

/* Format a reason into a new string. */
static char *config_why(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static char *
config_why(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Parse a log level name. */
int
config_log_level(const char *name)
{
	if (strcmp(name, "error") == 0)
		return LOG_LEVEL_ERROR;
	if (strcmp(name, "warn") == 0 || strcmp(name, "warning") == 0)
		return LOG_LEVEL_WARN;
	if (strcmp(name, "info") == 0)
		return LOG_LEVEL_INFO;
	if (strcmp(name, "debug") == 0)
		return LOG_LEVEL_DEBUG;
	return -1;
}

/* Name of a log level. */
const char *
config_log_level_name(int l)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	if (l < 0 || l > LOG_LEVEL_DEBUG)
		return "?";
	return names[l];
}

/* Parse an unsigned decimal number, strictly (no sign, no junk). */
static int
config_number(const char *v, int base, uint64_t *out)
{
	char *end;
	unsigned long long n;

	if (!isdigit((unsigned char)v[0]))
		return -1;
	errno = 0;
	n = strtoull(v, &end, base);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = n;
	return 0;
}

/* Set one key. */
int
config_set(struct config *c, const char *key, const char *value, char **cause)
{
	const struct config_key *k = NULL;
	char *base = (char *)c;
	uint64_t n;
	size_t i;
	int l;

	for (i = 0; i < nitems(config_keys); i++)
		if (strcmp(config_keys[i].name, key) == 0)
			k = &config_keys[i];
	if (k == NULL) {
		*cause = config_why("unknown key '%s'", key);
		return -1;
	}
	switch (k->type) {
	case CT_STRING: {
		char **sp = (char **)(void *)(base + k->off);
		if (value[0] == '\0') {
			*cause = config_why("%s: empty value", key);
			return -1;
		}
		free(*sp);
		*sp = strdup(value);
		return 0;
	}
	case CT_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
		    strcmp(value, "1") == 0 || strcmp(value, "on") == 0)
			*(int *)(void *)(base + k->off) = 1;
		else if (strcmp(value, "no") == 0 ||
		         strcmp(value, "false") == 0 ||
		         strcmp(value, "0") == 0 || strcmp(value, "off") == 0)
			*(int *)(void *)(base + k->off) = 0;
		else {
			*cause =
			    config_why("%s: '%s' is not yes or no", key, value);
			return -1;
		}
		return 0;
	case CT_LEVEL:
		if ((l = config_log_level(value)) < 0) {
			*cause = config_why(
			    "%s: '%s' is not error, warn, info or debug", key,
			    value);
			return -1;
		}
		*(int *)(void *)(base + k->off) = l;
		return 0;
	case CT_MODE:
		if (config_number(value, 8, &n) != 0 || n > k->max) {
			*cause = config_why("%s: '%s' is not an octal mode "
			                    "0..0777",
			    key, value);
			return -1;
		}
		*(uint32_t *)(void *)(base + k->off) = (uint32_t)n;
		return 0;
	case CT_U32:
	case CT_U64:
		if (config_number(value, 10, &n) != 0 || n < k->min ||
		    n > k->max) {
			*cause = config_why("%s: '%s' is not a number in "
			                    "%llu..%llu",
			    key, value, (unsigned long long)k->min,
			    (unsigned long long)k->max);
			return -1;
		}
		if (k->type == CT_U32)
			*(uint32_t *)(void *)(base + k->off) = (uint32_t)n;
		else
			*(uint64_t *)(void *)(base + k->off) = n;
		return 0;
	}
	return -1;
}

/* Trim spaces at both ends in place. */
static char *
config_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Load path over c; the first bad line stops with "path:line: reason". */
int
config_load(struct config *c, const char *path, char **cause)
{
	FILE *f;
	char *line = NULL, *key, *value, *eq, *hash, *why;
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = 0;

	if ((f = fopen(path, "re")) == NULL) {
		*cause = config_why("%s: %s", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		key = config_trim(line);
		if (*key == '\0')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			*cause = config_why(
			    "%s:%u: expected key = value", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = config_trim(key);
		value = config_trim(eq + 1);
		if (config_set(c, key, value, &why) != 0) {
			*cause = config_why(
			    "%s:%u: %s", path, lineno, why ? why : "bad value");
			free(why);
			rc = -1;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

/* Check cross-key constraints. */
int
config_check(const struct config *c, char **cause)
{
	if ((uint64_t)c->max_message + 4096 > c->max_frame) {
		*cause = config_why("max_message (%u) must be at least 4096 "
		                    "below max_frame (%u)",
		    c->max_message, c->max_frame);
		return -1;
	}
	return 0;
}

/* Format the value of key k in c. */
static void
config_format(
    const struct config *c, const struct config_key *k, char *buf, size_t len)
{
	const char *base = (const char *)c;

	switch (k->type) {
	case CT_U32:
		snprintf(buf, len, "%u",
		    *(const uint32_t *)(const void *)(base + k->off));
		break;
	case CT_U64:
		snprintf(buf, len, "%llu",
		    (unsigned long long)*(
		        const uint64_t *)(const void *)(base + k->off));
		break;
	case CT_LEVEL:
		snprintf(buf, len, "%s",
		    config_log_level_name(
		        *(const int *)(const void *)(base + k->off)));
		break;
	case CT_BOOL:
		snprintf(buf, len, "%s",
		    *(const int *)(const void *)(base + k->off) ? "yes" : "no");
		break;
	case CT_MODE:
		snprintf(buf, len, "%04o",
		    *(const uint32_t *)(const void *)(base + k->off));
		break;
	case CT_STRING: {
		const char *s = *(char *const *)(const void *)(base + k->off);
		snprintf(buf, len, "%s", s ? s : "(unset)");
		break;
	}
	}
}

/*
 * SIGHUP: take the limits and the log level of n into dst, logging each
 * change. The socket, its mode and group, the instance and syslog stay as
 * they were at start (they would need a new socket, other segments or
 * reopening the log).
 */
void
config_update(struct config *dst, const struct config *n)
{
	char was[64], now[64];
	size_t i;
	int changed = 0;

	for (i = 0; i < nitems(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		config_format(dst, k, was, sizeof was);
		config_format(n, k, now, sizeof now);
		if (strcmp(was, now) == 0)
			continue;
		if (k->type == CT_STRING || k->type == CT_MODE ||
		    k->type == CT_BOOL) {
			log_warn("reload: %s changed (%s -> %s) but needs a "
			         "restart",
			    k->name, was, now);
			continue;
		}
		log_info("reload: %s: %s -> %s", k->name, was, now);
		changed = 1;
		if (k->type == CT_U64)
			memcpy((char *)dst + k->off, (const char *)n + k->off,
			    sizeof(uint64_t));
		else if (k->type == CT_U32)
			memcpy((char *)dst + k->off, (const char *)n + k->off,
			    sizeof(uint32_t));
		else
			memcpy((char *)dst + k->off, (const char *)n + k->off,
			    sizeof(int));
	}
	if (!changed)
		log_info("reload: no changes");
}
