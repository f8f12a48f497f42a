#!/bin/sh
# cli_reserve.sh - conqueue-cli reserve/ack/release/touch from separate
# processes, dead-letter and serial queues, exit statuses.

. "${top_srcdir:-.}/tests/cli_lib.sh"

start_daemon

# stat_field NAME KEY: one value of "stat NAME".
stat_field() {
	cli stat "$1" | sed -n "s/^$2: //p"
}

# create: the reliability attributes, shown by stat.
expect_rc 0 cli create jobs --max-deliveries 2 --lease 60000 --mode 0640
expect_out 2 stat_field jobs max_deliveries
expect_out 60000 stat_field jobs lease_ms
expect_out false stat_field jobs serial
expect_out 0 stat_field jobs in_flight
expect_out 0 stat_field jobs dead_lettered
expect_rc 64 cli create bad --max-deliveries -1
expect_rc 64 cli create bad --lease 0
expect_rc 64 cli create bad --lease x
# No room for ".dlq" after a 61-byte name.
long=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
expect_rc 1 cli create "$long" --max-deliveries 1
grep -q "at most 60 bytes" "$dir/stderr" || fail "no reason: $(cat "$dir/stderr")"
expect_rc 0 cli create "$long"

# Empty: try exits 2, a timed reserve exits 4; unknown queue 1.
expect_rc 2 cli reserve jobs --timeout 0
expect_rc 4 cli reserve jobs --timeout 50
expect_rc 1 cli reserve nosuch --timeout 0

# reserve prints ID<TAB>MESSAGE; the reservation outlives the command.
expect_rc 0 cli push jobs "first job" second
out=$(cli reserve jobs) || fail "reserve exited $?"
id=${out%%"	"*}
msg=${out#*"	"}
[ "$msg" = "first job" ] || fail "reserve printed '$out'"
case $id in '' | *[!0-9]*) fail "bad id '$id' in '$out'" ;; esac
expect_out 1 stat_field jobs in_flight
expect_out 1 stat_field jobs length
# touch and ack from other processes.
expect_rc 0 cli touch jobs "$id"
expect_rc 0 cli touch jobs "$id" --lease 120000
expect_rc 64 cli touch jobs "$id" --lease 0
expect_rc 0 cli ack jobs "$id"
expect_out 0 stat_field jobs in_flight
# Gone now: ack, release and touch fail (exit 1, with a message).
expect_rc 1 cli ack jobs "$id"
grep -q . "$dir/stderr" || fail "ack of a done message printed nothing"
expect_rc 1 cli release jobs "$id"
expect_rc 1 cli touch jobs "$id"
expect_rc 64 cli ack jobs
expect_rc 64 cli ack jobs 1 2

# release: back at the head, delivered again; the second time (the
# queue's max_deliveries) it goes to jobs.dlq.
out=$(cli reserve jobs) || fail "reserve exited $?"
id=${out%%"	"*}
[ "${out#*"	"}" = second ] || fail "reserve printed '$out'"
expect_rc 0 cli release jobs "$id"
expect_out "$id	second" cli reserve jobs
expect_rc 0 cli release jobs "$id"
expect_out 1 stat_field jobs dead_lettered
expect_out 0 stat_field jobs length
expect_out 0 stat_field jobs in_flight
expect_out 0640 stat_field jobs.dlq mode
expect_out second cli pop jobs.dlq --try

# release --delay: in flight (and nobody's) until the delay is over. The
# delay that must not pass is ten minutes, so no scheduler can lose; the
# message coming back is waited for with a short one.
expect_rc 0 cli create later
expect_rc 0 cli push later held
out=$(cli reserve later) || fail "reserve exited $?"
id=${out%%"	"*}
expect_rc 64 cli release later "$id" --delay x
expect_rc 0 cli release later "$id" --delay 600000
expect_out 1 stat_field later in_flight
expect_out 0 stat_field later length
expect_rc 1 cli ack later "$id"
expect_rc 1 cli release later "$id"
expect_rc 0 cli push later soon
out=$(cli reserve later) || fail "reserve exited $?"
id=${out%%"	"*}
expect_rc 0 cli release later "$id" --delay 300
i=0
while [ "$(stat_field later length)" != 1 ]; do
	i=$((i + 1))
	[ $i -lt 500 ] || fail "delayed release did not come back"
	sleep 0.02 # poll interval
done
expect_out "$id	soon" cli reserve later
expect_rc 0 cli release later "$id" --delay 0
expect_out 1 stat_field later length

# A lease that runs out puts the message back (bounded wait).
expect_rc 0 cli create short
expect_rc 0 cli push short again
out=$(cli reserve short --lease 100) || fail "reserve exited $?"
id=${out%%"	"*}
i=0
while [ "$(stat_field short length)" != 1 ]; do
	i=$((i + 1))
	[ $i -lt 500 ] || fail "lease did not expire"
	sleep 0.02 # poll interval
done
expect_rc 1 cli ack short "$id"
expect_out "$id	again" cli reserve short
expect_rc 0 cli ack short "$id"

# Serial: a second reserve waits until the first is acked.
expect_rc 0 cli create ser --serial
expect_out true stat_field ser serial
expect_rc 0 cli push ser one two
out=$(cli reserve ser) || fail "reserve exited $?"
expect_rc 2 cli reserve ser --timeout 0
expect_rc 4 cli reserve ser --timeout 50
expect_rc 2 cli pop ser --try
cli reserve ser --timeout 20000 >"$dir/second" 2>&1 &
waiter=$!
i=0
while [ "$(stat_field ser waiting_poppers)" != 1 ]; do
	i=$((i + 1))
	[ $i -lt 500 ] || fail "second reserve did not wait"
	sleep 0.02 # poll interval
done
expect_rc 0 cli ack ser "${out%%"	"*}"
wait $waiter || fail "waiting reserve exited $?"
case $(cat "$dir/second") in *"	two") ;; *) fail "got '$(cat "$dir/second")'" ;; esac

# Closed and drained: exit 3.
expect_rc 0 cli close short
expect_rc 3 cli reserve short --timeout 0

# --json stat carries the counters.
cli --json stat jobs >"$dir/json" || fail "stat --json exited $?"
json_check '.in_flight == 0 and .dead_lettered == 1 and .max_deliveries == 2' \
    <"$dir/json"
exit 0
