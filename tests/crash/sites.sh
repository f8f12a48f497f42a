#!/bin/sh
# sites.sh - run.sh's crash-site scenario (CONQUEUE_CRASH_AT=site:n).
#
# Skipped (exit 77) while conqueued does not know CONQUEUE_CRASH_AT at all
# (built without crash points); once it does, a site that is never reached
# is reported and a daemon that never dies at any site fails.
CONQUEUED=${CONQUEUED:-${top_builddir:-.}/conqueued}
if ! grep -q -a CONQUEUE_CRASH_AT "$CONQUEUED" 2>/dev/null; then
	echo "sites.sh: $CONQUEUED does not read CONQUEUE_CRASH_AT: skipped"
	exit 77
fi
exec sh "$(dirname "$0")/run.sh" sites
