/* log.c - leveled logging to stderr and optionally syslog. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/log.h"

static int log_level = LOG_LEVEL_INFO;
static int log_syslog;

/* Start logging at level; syslog as well if asked. */
void
log_open(int level, int use_syslog)
{
	log_level = level;
	if (use_syslog && !log_syslog)
		openlog("conqueued", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!use_syslog && log_syslog)
		closelog();
	log_syslog = use_syslog;
}

/* Change the level (SIGHUP). */
void
log_set_level(int level)
{
	log_level = level;
}

/* Stop using syslog. */
void
log_close(void)
{
	if (log_syslog)
		closelog();
	log_syslog = 0;
}

/* Write one line at level l; stderr lines carry a journald-style prefix. */
static void
log_vwrite(int l, const char *fmt, va_list ap)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char line[1024];

	if (l > log_level)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	/* Under journald (JOURNAL_STREAM) "<N>" keeps each line's priority. */
	if (getenv("JOURNAL_STREAM") != NULL)
		fprintf(stderr, "<%d>%s: %s\n", prio[l], names[l], line);
	else
		fprintf(stderr, "conqueued[%ld]: %s: %s\n", (long)getpid(),
		    names[l], line);
	if (log_syslog)
		syslog(prio[l], "%s", line);
}

/* Log an error. */
void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
}

/* Log a warning. */
void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

/* Log an informational line (start, stop, reloads; never per message). */
void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

/* Log a debugging line. */
void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}
