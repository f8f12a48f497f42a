/* om_lint.c - a small OpenMetrics text checker for the metrics tests. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/om_lint.h"

#define OM_MAX_SERIES 4096

struct om_state {
	char family[256];
	char type[32];
	int has_type, has_help, has_unit, samples;
	char **seen; /* series of every family, for duplicates */
	size_t nseen;
	char *err;
	size_t errlen;
	int line;
};

/* Record the first problem. */
static int om_fail(struct om_state *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
om_fail(struct om_state *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(s->err, s->errlen, "line %d: ", s->line);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < s->errlen)
		vsnprintf(s->err + n, s->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Length of the metric or label name at p ([a-zA-Z_:][a-zA-Z0-9_:]*). */
static size_t
om_name(const char *p, int colon)
{
	size_t n = 0;

	while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
	       p[n] == '_' || (colon && p[n] == ':') ||
	       (n > 0 && p[n] >= '0' && p[n] <= '9'))
		n++;
	return n;
}

/* Whether p is a number as OpenMetrics writes one; its value in *v. */
static int
om_number(const char *p, double *v)
{
	char *end;

	if (strcmp(p, "NaN") == 0 || strcmp(p, "+Inf") == 0 ||
	    strcmp(p, "-Inf") == 0) {
		*v = 0;
		return 1;
	}
	if (p[0] == '\0' || strspn(p, "+-0123456789.eE") != strlen(p))
		return 0;
	*v = strtod(p, &end);
	return *end == '\0';
}

/* Check a "# TYPE|HELP|UNIT name ..." line. */
static int
om_meta(struct om_state *s, char *l)
{
	static const char *const types[] = {"counter", "gauge", "info",
	    "stateset", "histogram", "gaugehistogram", "summary", "unknown",
	    NULL};
	char *kw = l + 2, *name, *rest;
	size_t n, i;

	if ((name = strchr(kw, ' ')) == NULL)
		return om_fail(s, "metadata without a name");
	*name++ = '\0';
	n = om_name(name, 1);
	if (n == 0 || name[n] != ' ')
		return om_fail(s, "bad metric family name");
	name[n] = '\0';
	rest = name + n + 1;
	if (strcmp(name, s->family) != 0) {
		if (s->family[0] != '\0' && s->samples == 0 && !s->has_type)
			return om_fail(s, "family %s has no samples", s->family);
		for (i = 0; i < s->nseen; i++)
			if (strncmp(s->seen[i], "#", 1) == 0 &&
			    strcmp(s->seen[i] + 1, name) == 0)
				return om_fail(s, "family %s declared twice",
				    name);
		if (s->nseen < OM_MAX_SERIES && asprintf(&s->seen[s->nseen],
		                                    "#%s", name) >= 0)
			s->nseen++;
		snprintf(s->family, sizeof s->family, "%s", name);
		s->has_type = s->has_help = s->has_unit = s->samples = 0;
		s->type[0] = '\0';
	}
	if (s->samples != 0)
		return om_fail(s, "metadata after the samples of %s", name);
	if (strcmp(kw, "TYPE") == 0) {
		if (s->has_type++)
			return om_fail(s, "two TYPE lines for %s", name);
		for (i = 0; types[i] != NULL; i++)
			if (strcmp(rest, types[i]) == 0)
				break;
		if (types[i] == NULL)
			return om_fail(s, "unknown type '%s'", rest);
		snprintf(s->type, sizeof s->type, "%s", rest);
	} else if (strcmp(kw, "HELP") == 0) {
		if (s->has_help++)
			return om_fail(s, "two HELP lines for %s", name);
	} else if (strcmp(kw, "UNIT") == 0) {
		n = strlen(name);
		if (s->has_unit++)
			return om_fail(s, "two UNIT lines for %s", name);
		if (strlen(rest) + 1 > n || name[n - strlen(rest) - 1] != '_' ||
		    strcmp(name + n - strlen(rest), rest) != 0)
			return om_fail(s, "family %s does not end in _%s", name,
			    rest);
	} else
		return om_fail(s, "unknown metadata '%s'", kw);
	return 0;
}

/* Check the labels at *pp ("{a="x",b="y"}"), moving past them. */
static int
om_labels(struct om_state *s, char **pp)
{
	char *p = *pp + 1, seen[16][64];
	size_t n, i, k = 0;

	while (*p != '}') {
		if ((n = om_name(p, 0)) == 0 || p[n] != '=' || p[n + 1] != '"')
			return om_fail(s, "bad label");
		for (i = 0; i < k; i++)
			if (strlen(seen[i]) == n && strncmp(seen[i], p, n) == 0)
				return om_fail(s, "label repeated");
		if (k < 16 && n < 64) {
			memcpy(seen[k], p, n);
			seen[k++][n] = '\0';
		}
		for (p += n + 2; *p != '"'; p++) {
			if (*p == '\0')
				return om_fail(s, "unterminated label value");
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return om_fail(s, "bad escape \\%c", *p);
			}
		}
		p++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return om_fail(s, "expected , or } after a label");
	}
	*pp = p + 1;
	return 0;
}

/* Check a sample line against the current family. */
static int
om_sample(struct om_state *s, char *l)
{
	char *p, *sp, want[300];
	size_t n, i, keylen;
	double v;

	if ((n = om_name(l, 1)) == 0)
		return om_fail(s, "bad sample name");
	if (!s->has_type)
		return om_fail(s, "sample before its TYPE");
	if (strcmp(s->type, "counter") == 0)
		snprintf(want, sizeof want, "%s_total", s->family);
	else if (strcmp(s->type, "info") == 0)
		snprintf(want, sizeof want, "%s_info", s->family);
	else
		snprintf(want, sizeof want, "%s", s->family);
	if (strlen(want) != n || strncmp(l, want, n) != 0)
		return om_fail(s, "sample %.*s is not in family %s (%s)",
		    (int)n, l, s->family, s->type);
	p = l + n;
	if (*p == '{' && om_labels(s, &p) != 0)
		return -1;
	if (*p != ' ')
		return om_fail(s, "expected a space before the value");
	keylen = (size_t)(p - l);
	p++;
	if ((sp = strchr(p, ' ')) != NULL) {
		*sp = '\0'; /* a timestamp follows */
		if (!om_number(sp + 1, &v))
			return om_fail(s, "bad timestamp");
	}
	if (!om_number(p, &v))
		return om_fail(s, "bad value '%s'", p);
	if (strcmp(s->type, "counter") == 0 && v < 0)
		return om_fail(s, "negative counter");
	for (i = 0; i < s->nseen; i++)
		if (strlen(s->seen[i]) == keylen &&
		    strncmp(s->seen[i], l, keylen) == 0)
			return om_fail(s, "series repeated");
	if (s->nseen < OM_MAX_SERIES &&
	    (s->seen[s->nseen] = strndup(l, keylen)) != NULL)
		s->nseen++;
	s->samples++;
	return 0;
}

/* Check the whole text. */
int
om_lint(const char *text, size_t len, char *err, size_t errlen)
{
	struct om_state s;
	char *copy, *l, *nl;
	int rc = 0, eof = 0;
	size_t i;

	memset(&s, 0, sizeof s);
	s.err = err;
	s.errlen = errlen;
	if ((s.seen = calloc(OM_MAX_SERIES, sizeof *s.seen)) == NULL ||
	    (copy = malloc(len + 1)) == NULL) {
		free(s.seen);
		return snprintf(err, errlen, "out of memory"), -1;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (len == 0 || copy[len - 1] != '\n')
		rc = om_fail(&s, "the text does not end with a newline");
	else if (strlen(copy) != len)
		rc = om_fail(&s, "a NUL byte in the text");
	for (l = copy; rc == 0 && *l != '\0'; l = nl + 1) {
		nl = strchr(l, '\n');
		*nl = '\0';
		s.line++;
		if (eof)
			rc = om_fail(&s, "text after # EOF");
		else if (strcmp(l, "# EOF") == 0)
			eof = 1;
		else if (strncmp(l, "# ", 2) == 0)
			rc = om_meta(&s, l);
		else if (l[0] == '#' || l[0] == '\0' || l[0] == ' ')
			rc = om_fail(&s, "not a sample or metadata line");
		else
			rc = om_sample(&s, l);
	}
	if (rc == 0 && !eof)
		rc = om_fail(&s, "no # EOF line");
	for (i = 0; i < s.nseen; i++)
		free(s.seen[i]);
	free(s.seen);
	free(copy);
	return rc;
}

/* Find series at a line start and read its value. */
int
om_value(const char *text, const char *series, double *out)
{
	size_t n = strlen(series);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, series, n) == 0 && p[n] == ' ') {
			*out = strtod(p + n + 1, NULL);
			return 0;
		}
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return -1;
}
