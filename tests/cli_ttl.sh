#!/bin/sh
# cli_ttl.sh - conqueue-cli create --ttl and push --ttl: a message not
# popped in time is dropped, or moved to NAME.dlq when it exists, and
# counted by stat (expired); per-message TTLs survive a kill -9 of the
# daemon; bad arguments. Every wait is on state (stat), bounded at 30 s.

. "${top_srcdir:-.}/tests/cli_lib.sh"

start_daemon

# stat_field NAME KEY: one value of "stat NAME".
stat_field() {
	cli stat "$1" | sed -n "s/^$2: //p"
}

# wait_field NAME KEY VALUE: until stat shows it (hang bound 30 s).
wait_field() {
	i=0
	while [ "$(stat_field "$1" "$2")" != "$3" ]; do
		i=$((i + 1))
		[ "$i" -le 3000 ] || fail "stat $1 $2 never became $3"
		sleep 0.01
	done
}

expect_rc 0 cli create m --capacity 8
expect_rc 0 cli create q --ttl 1 --capacity 8

# Bad arguments change nothing.
expect_rc 64 cli push m --ttl x a
expect_rc 64 cli push m --ttl 0 a
expect_rc 64 cli push m --ttl 4294967296 a
expect_rc 64 cli push m --ttl 10 --front a
expect_rc 64 cli push m --ttl 10 --delay 10 a
expect_rc 64 cli create bad --ttl -1
expect_rc 64 cli create bad --ttl 4294967296
expect_rc 1 cli stat bad
expect_out 0 stat_field m total_pushed
expect_out 0 stat_field m ttl_ms
expect_out 1 stat_field q ttl_ms
expect_out 0 stat_field q expired

# A long per-message TTL: the message is there to pop.
expect_rc 0 cli push m --ttl 3600000 keep
expect_out keep cli pop m --try

# A short one: it expires unpopped, stat counts it, nothing is left.
expect_rc 0 cli push m --ttl 1 gone
wait_field m expired 1
expect_out 0 stat_field m length
expect_rc 2 cli pop m --try
cli --json stat m | json_check '.expired == 1'

# The queue's TTL applies to every message, pushed on any path.
expect_rc 0 cli push q a b c
wait_field q expired 3
expect_rc 2 cli pop q --try
expect_out 3 stat_field q total_pushed

# With NAME.dlq, an expired message moves there (dead_lettered too).
expect_rc 0 cli create m.dlq
expect_rc 0 cli push m --ttl 1 late
wait_field m expired 2
expect_out 1 stat_field m dead_lettered
expect_out late cli pop m.dlq --try

# A per-message TTL survives a kill -9 of the daemon (its record is
# reloaded): the message still expires after the start.
expect_rc 0 cli push m --ttl 1500 after-restart
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
dpid=
start_daemon
wait_field m expired 3
expect_out after-restart cli pop m.dlq --try
expect_rc 2 cli pop m --try

# Delete removes the records file with the queue.
expect_rc 0 cli delete m
expect_rc 0 cli create m
expect_out 0 stat_field m expired

echo "ttl ok"
