#!/bin/sh
# cli_pause.sh - counted pause/resume through conqueue-cli (issue 18).

. "${top_srcdir:-.}/tests/cli_lib.sh"

start_daemon

# stat_field NAME KEY: one value of "stat NAME".
stat_field() {
	cli stat "$1" | sed -n "s/^$2: //p"
}

expect_rc 0 cli create q
expect_rc 0 cli push q one
expect_rc 0 cli pause q
expect_rc 0 cli pause q
expect_out 2 stat_field q pause_count
expect_out true stat_field q paused
cli --json stat q | json_check '.pause_count == 2 and .paused == true'
# One resume is not enough: the message stays.
expect_rc 0 cli resume q
expect_out 1 stat_field q pause_count
expect_rc 2 cli pop q --try
expect_rc 0 cli resume q
expect_out 0 stat_field q pause_count
expect_out false stat_field q paused
expect_out one cli pop q --try
# An extra resume does nothing, and does not cancel a later pause.
expect_rc 0 cli resume q
expect_out 0 stat_field q pause_count
expect_rc 0 cli push q two
expect_rc 0 cli pause q
expect_rc 2 cli pop q --try
# A parked pop is served by the last resume only.
cli pop q --timeout 60000 >"$dir/out" 2>&1 &
popper=$!
expect_rc 0 cli pause q
expect_rc 0 cli resume q
expect_out 1 stat_field q pause_count
expect_rc 0 cli resume q
wait "$popper" || fail "parked pop exited $?"
[ "$(cat "$dir/out")" = two ] || fail "parked pop printed '$(cat "$dir/out")'"
# The count survives a daemon restart (it lives in the segment).
expect_rc 0 cli pause q
expect_rc 0 cli pause q
kill "$dpid"
wait "$dpid"
dpid=
start_daemon
expect_out 2 stat_field q pause_count
exit 0
