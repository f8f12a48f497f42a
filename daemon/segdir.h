/* segdir.h - the daemon's own segment directory on tmpfs. */

#ifndef CQ_DAEMON_SEGDIR_H
#define CQ_DAEMON_SEGDIR_H

#include <stdint.h>

/*
 * Open (creating it if absent) /dev/shm/conqueue-INSTANCE, refuse it unless
 * it is ours alone, move in the old layout's segments, then call each() for
 * every entry that can be one of our segments, with its number. -1 with
 * *cause (allocated, may be NULL) if the directory cannot be used.
 */
int segdir_open(
    const char *instance, void (*each)(const char *, uint32_t), char **cause);
/* Close the directory (the segments stay). */
void segdir_close(void);
/* The directory's fd, for the core's *_at calls; -1 when closed. */
int segdir_fd(void);
/* The directory's path, for messages. */
const char *segdir_path(void);

#endif /* CQ_DAEMON_SEGDIR_H */
