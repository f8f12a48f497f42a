/* sidecar.h - a queue's daemon-only records file beside its segment. */

/*
 * N.dedup (dedup.c) and N.ttl (expire.c) live beside segment N in the
 * segment directory (mode 0600, the directory 0700: never handed to a
 * client): an 8-byte magic, then records, each beginning with the crc32c
 * of the rest of the record. A record is appended with one write(2) (the
 * page cache has it once write returns: a kill -9 keeps it); the file is
 * compacted by writing N.SFX.tmp and renaming it over N.SFX (a kill -9
 * leaves one or the other whole); a load stops at the first torn or
 * damaged record.
 */

#ifndef CQ_DAEMON_SIDECAR_H
#define CQ_DAEMON_SIDECAR_H

#include <stddef.h>
#include <stdint.h>

struct rqueue;

/* What kind of file: fixed for each user of the module. */
struct sidecar_kind {
	const char *sfx;   /* ".dedup": the file is N.dedup */
	const char *magic; /* its first 8 bytes */
	const char *what;  /* "key table": for messages */
	const char *crash; /* crash point before the rename, or NULL */
	uint64_t max_size; /* a larger file is not loaded */
	size_t hdr;        /* a record's fixed part (crc included) */
	/* A record's whole length from its fixed part; 0 if it is damaged. */
	size_t (*size)(const uint8_t *rec);
};

/* A queue's file. */
struct sidecar {
	const struct sidecar_kind *k;
	struct rqueue *q;
	int fd;           /* -1 if not open */
	uint64_t records; /* in the file (live or not) */
};

/* Set s up for q's file of kind k (nothing is opened). */
void sidecar_init(
    struct sidecar *s, const struct sidecar_kind *k, struct rqueue *q);
/* Close s's file (it stays). */
void sidecar_close(struct sidecar *s);
/* 1 if q's file of kind k exists. */
int sidecar_exists(const struct sidecar_kind *k, const struct rqueue *q);
/* Remove q's file of kind k; failures other than ENOENT are logged. */
void sidecar_unlink(const struct sidecar_kind *k, const struct rqueue *q);
/*
 * Read s's file, calling rec for each sound record (len bytes at p, its
 * crc checked) until it returns -1. No file, or a bad one (logged), gives
 * no records.
 */
void sidecar_load(struct sidecar *s,
    int (*rec)(void *arg, const uint8_t *p, size_t len), void *arg);
/*
 * Rewrite s's file with what each() puts (a new file renamed over the old)
 * and use it from now on; each() calls sidecar_put for every record and
 * returns how many it put, or -1 with errno. A failure is logged and
 * keeps the old file.
 */
void sidecar_compact(
    struct sidecar *s, int64_t (*each)(void *arg, int fd), void *arg);
/* Seal record rec (len bytes: its crc) and write it all to fd; -1, errno. */
int sidecar_put(int fd, uint8_t *rec, size_t len);
/*
 * Seal and append rec to s's file (what, e.g. "a dedup key", names it in
 * a failure's message); 0, or -1 (logged).
 */
int sidecar_append(
    struct sidecar *s, uint8_t *rec, size_t len, const char *what);

#endif /* CQ_DAEMON_SIDECAR_H */
