/* status.c - status codes and their texts. */

#include "common.h"

static const struct {
	const char *name;
	const char *text;
} status_table[] = {
    [CQ_OK] = {"CQ_OK", "success"},
    [CQ_EMPTY] = {"CQ_EMPTY", "queue is empty"},
    [CQ_FULL] = {"CQ_FULL", "queue is full"},
    [CQ_CLOSED] = {"CQ_CLOSED", "queue is closed"},
    [CQ_BUSY] = {"CQ_BUSY", "queue is busy (lock held elsewhere)"},
    [CQ_TIMEDOUT] = {"CQ_TIMEDOUT", "operation timed out"},
    [CQ_CANCELED] = {"CQ_CANCELED", "operation was cancelled"},
    [CQ_NOTFOUND] = {"CQ_NOTFOUND", "no such queue or message"},
    [CQ_EXISTS] = {"CQ_EXISTS", "queue already exists"},
    [CQ_DENIED] = {"CQ_DENIED", "permission denied"},
    [CQ_INVALID] = {"CQ_INVALID", "invalid argument"},
    [CQ_TOOBIG] = {"CQ_TOOBIG", "message too big for the queue"},
    [CQ_LIMIT] = {"CQ_LIMIT", "daemon limit reached"},
    [CQ_DISCONNECTED] = {"CQ_DISCONNECTED", "not connected to the daemon"},
    [CQ_PROTOCOL] = {"CQ_PROTOCOL", "protocol error"},
    [CQ_SYSTEM] = {"CQ_SYSTEM", "system error"},
    [CQ_CORRUPT] = {"CQ_CORRUPT", "queue storage is corrupt (quarantined)"},
};

/* Return the one-line text of a status. */
const char *
cq_strstatus(cq_status s)
{
	if ((unsigned)s >= nitems(status_table))
		return "unknown status";
	return status_table[s].text;
}

/* Return the symbolic name of a status. */
const char *
cq_status_name(cq_status s)
{
	if ((unsigned)s >= nitems(status_table))
		return "CQ_UNKNOWN";
	return status_table[s].name;
}

/* Return the library version. */
const char *
cq_version(void)
{
	return PACKAGE_VERSION;
}
