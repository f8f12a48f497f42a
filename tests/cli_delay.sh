#!/bin/sh
# cli_delay.sh - conqueue-cli push --delay: invisible until due, counted by
# stat (delayed) and against the capacity, kept across a kill -9 of the
# daemon; bad arguments.

. "${top_srcdir:-.}/tests/cli_lib.sh"

start_daemon

# stat_field NAME KEY: one value of "stat NAME".
stat_field() {
	cli stat "$1" | sed -n "s/^$2: //p"
}

expect_rc 0 cli create d --capacity 4
expect_rc 0 cli create one --capacity 1

# Bad arguments change nothing.
expect_rc 64 cli push d --delay x m
expect_rc 64 cli push d --delay -1 m
expect_rc 64 cli push d --delay 4294967296 m
expect_rc 64 cli push d --delay 10 --front m
expect_out 0 stat_field d delayed
expect_out 0 stat_field d total_pushed

# A long delay: nothing to pop, stat says delayed (not queued, not in flight).
expect_rc 0 cli push d --delay 3600000 later
expect_out 1 stat_field d delayed
expect_out 0 stat_field d length
expect_out 0 stat_field d in_flight
expect_rc 2 cli pop d --try
cli --json stat d | json_check '.delayed == 1'

# It holds a slot: a queue of capacity 1 with a delayed message is full.
expect_rc 0 cli push one --delay 3600000 x
expect_rc 2 cli push one --try y
expect_out 1 stat_field one delayed

# --delay 0 is a plain push.
expect_rc 0 cli push d --delay 0 now
expect_out now cli pop d --try

# A short delay becomes visible: a blocking pop gets it (hang bound 30 s).
expect_rc 0 cli push d --delay 50 soon
expect_out soon cli pop d --timeout 30000
expect_out 1 stat_field d delayed

# kill -9 the daemon: the delayed messages are still there after a start,
# still delayed; a short one pushed just before is delivered.
expect_rc 0 cli push d --delay 100 short
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
dpid=
start_daemon
expect_out short cli pop d --timeout 30000
expect_out 1 stat_field d delayed
expect_out 0 stat_field d length
expect_rc 2 cli pop d --try
expect_out 1 stat_field one delayed
expect_rc 2 cli push one --try y

echo "push --delay ok"
