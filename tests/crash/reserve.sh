#!/bin/sh
# reserve.sh - run.sh with reserve + ack consumers instead of plain pops.
CQ_CRASH_MODE=reserve
export CQ_CRASH_MODE
exec sh "$(dirname "$0")/run.sh" random
