/* config.h - the settings of conqueued.conf. */

#ifndef CQ_DAEMON_CONFIG_H
#define CQ_DAEMON_CONFIG_H

#include <stdint.h>

/* Every setting of conqueued.conf; strings are owned (free with config_free).
 */
struct config {
	char *socket;   /* NULL: the default path rule */
	char *instance; /* NULL: derived from the socket path */
	uint32_t socket_mode;
	char *socket_group; /* NULL: leave the group alone */
	int log_level;
	int syslog;
	uint32_t max_frame;
	uint32_t max_message;
	uint32_t max_capacity;
	uint32_t max_connections;
	uint32_t max_connections_per_uid;
	uint32_t max_queues;
	uint32_t max_queues_per_uid;
	uint64_t max_storage_per_uid;
	uint32_t max_pending_per_conn;
	uint32_t max_batch;
	uint64_t max_outbuf;
	uint32_t slow_reader_grace_ms;
	uint32_t frame_timeout_ms;
	uint32_t lock_timeout_ms;
	int direct; /* hand segments to direct clients (DESIGN 2.5) */
	char *metrics_listen; /* NULL: no metrics listener (scrape.c) */
	uint32_t dedup_max_keys; /* keys a queue's dedup table holds */
	char *state_dir; /* durable queues' logs; NULL: the default rule */
};

/* The settings in force (main owns it; SIGHUP updates the limits). */
extern struct config cfg;

void config_defaults(struct config *c);
void config_free(struct config *c);
/* Set key to value; -1 with a malloc'd reason in *cause. */
int config_set(
    struct config *c, const char *key, const char *value, char **cause);
/* Read a file of key = value lines; -1 with "file:line: reason" in *cause. */
int config_load(struct config *c, const char *path, char **cause);
/* Check the settings against each other; -1 with a reason in *cause. */
int config_check(const struct config *c, char **cause);
/* SIGHUP: take the reloadable settings of n into dst, logging changes. */
void config_update(struct config *dst, const struct config *n);
/* Parse a log level name; -1 if unknown. */
int config_log_level(const char *name);
/* The name of log level l. */
const char *config_log_level_name(int l);

#endif /* CQ_DAEMON_CONFIG_H */
