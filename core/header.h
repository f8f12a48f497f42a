/* header.h - a segment's geometry and the one check of its header. */

#ifndef CQ_CORE_HEADER_H
#define CQ_CORE_HEADER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "core/layout.h"

/* Compute the layout for these sizes; -1 if invalid or too large. */
int header_geom(uint32_t capacity, uint32_t max_size, uint32_t bands,
    uint64_t max_bytes, struct queue_geom *g);
/* The max_bytes in force for a create's request (0: the default); 0 if
 * the request is invalid. */
uint64_t header_max_bytes(uint32_t capacity, uint32_t max_size, uint64_t want);

/*
 * Check the file behind fd before mapping it: a regular file owned by
 * owner (our euid; the daemon's for a direct client) with mode 0600 (CQ_CORRUPT
 * otherwise), not empty (CQ_NOTFOUND: a create that died before its fallocate),
 * at least a header long; *size gets its size.
 */
cq_status header_stat(int fd, uint32_t owner, size_t *size);

/*
 * The one validation of a mapped header, shared by attach and recovery:
 * the file (header_stat) must still be size bytes, and the header must
 * carry the magic, a layout from QUEUE_LAYOUT_MIN to QUEUE_LAYOUT and the
 * checksum and describe exactly size bytes of a geometry header_geom would
 * make; with known (a handle's private copy taken at attach), it must also
 * still equal it. sb is the file's stat, taken by the caller. CQ_OK or
 * CQ_CORRUPT. With out, the copy that passed is stored there: use it, not
 * the mapped header, which a mapper may rewrite after the check.
 */
cq_status header_validate(const struct stat *sb, uint32_t owner,
    const unsigned char *base, size_t size, const struct queue_imm *known,
    struct queue_imm *out);

/* Stat q's file again (by dirfd+name, same inode, or its fd); -1 if gone. */
int header_file_stat(const struct core_queue *q, struct stat *sb);

#endif /* CQ_CORE_HEADER_H */
