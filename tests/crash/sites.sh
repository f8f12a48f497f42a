#!/bin/sh
# sites.sh - run.sh's crash-site scenario (CONQUEUE_CRASH_AT=site:n).
#
# Skipped (exit 77) when conqueued was built without crash points (the
# default; --enable-crash-points compiles them in): the message it logs when
# one is armed exists only then (the variable's name alone is also in the
# error for a malformed value, which is always built). Otherwise, a site
# that is never reached is reported and a daemon that never dies at any site
# fails.
CONQUEUED=${CONQUEUED:-${top_builddir:-.}/conqueued}
if ! grep -q -a 'test crash point armed' "$CONQUEUED" 2>/dev/null; then
	echo "sites.sh: $CONQUEUED was built without crash points: skipped"
	exit 77
fi
exec sh "$(dirname "$0")/run.sh" sites
