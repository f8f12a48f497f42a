/* name.c - queue name validation. */

#include "common.h"

/*
 * Check a queue name: 1-64 bytes of [A-Za-z0-9._-], not starting with '.'.
 * Names are bytes: an embedded NUL or any non-ASCII byte is refused.
 */
int
cq_name_valid(const char *name, size_t len)
{
	size_t i;

	if (name == NULL || len == 0 || len > CQ_NAME_MAX || name[0] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '-')
			continue;
		return 0;
	}
	return 1;
}
