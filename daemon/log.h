/* log.h - log lines to stderr or syslog. */

#ifndef CQ_DAEMON_LOG_H
#define CQ_DAEMON_LOG_H

#define LOG_LEVEL_ERROR 0
#define LOG_LEVEL_WARN  1
#define LOG_LEVEL_INFO  2
#define LOG_LEVEL_DEBUG 3

void log_open(int level, int use_syslog);
void log_set_level(int level);
void log_close(void);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* CQ_DAEMON_LOG_H */
