#!/bin/sh
# direct.sh - run.sh with direct clients (CONQUEUE_DIRECT=1): pushes and
# pops on the mapped segment, producers SIGKILLed at random moments (maybe
# holding the segment lock), and after each daemon SIGKILL traffic must
# keep flowing before the daemon is restarted.
CQ_CRASH_DIRECT=${CQ_CRASH_DIRECT:-1}
CQ_CRASH_PACE_US=${CQ_CRASH_PACE_US:-100}
export CQ_CRASH_DIRECT CQ_CRASH_PACE_US
exec sh "$(dirname "$0")/run.sh" random
