#!/bin/sh
# cli_durable.sh - durable queues (issue 15): create --durable[=POLICY],
# stat, and a reboot (stop the daemon, remove its shared memory, start):
# durable queues come back with their messages in order, leases returned,
# delayed ones still delayed, closed and paused kept, ids still
# increasing; non-durable queues are gone; delete removes the log. An
# always queue loses nothing acknowledged even to kill -9 plus a reboot.

. "${top_srcdir:-.}/tests/cli_lib.sh"

STATE_DIRECTORY="$dir/state"
export STATE_DIRECTORY
logdir="$STATE_DIRECTORY/$inst"

stat_field() {
	cli stat "$1" | sed -n "s/^$2: //p"
}

# peek_ids NAME: the ids of its queued messages, space-separated.
peek_ids() {
	cli --json peek "$1" --count 1024 | jq -r '[.[].id] | join(" ")'
}

# stop the daemon (SIGTERM, or $1), then remove its shared memory as a
# reboot would.
reboot() {
	kill "-${1:-TERM}" "$dpid"
	wait "$dpid" 2>/dev/null
	dpid=
	rm -rf /dev/shm/conqueue-"$inst" /dev/shm/conqueue-"$inst"-*
	start_daemon
}

command -v jq >/dev/null 2>&1 || { echo "jq missing: skipped"; exit 77; }

start_daemon

# Bad policies change nothing.
expect_rc 64 cli create bad --durable=sometimes
expect_rc 64 cli create bad --durable=interval=0
expect_rc 64 cli create bad --durable=interval=x
expect_rc 64 cli create bad --durable=
expect_rc 1 cli stat bad
[ ! -e "$logdir/bad.cqlog" ] || fail "a refused create left a log"

expect_rc 0 cli create al --durable=always --priorities 2 --capacity 32
expect_rc 0 cli create iv --durable --capacity 8
expect_rc 0 cli create iv2 --durable=interval=50
expect_rc 0 cli create nv --durable=never
expect_rc 0 cli create plain
expect_out always stat_field al durable
expect_out true stat_field al no_direct
expect_out interval stat_field iv durable
expect_out 1000 stat_field iv sync_ms
expect_out 50 stat_field iv2 sync_ms
expect_out never stat_field nv durable
expect_out no stat_field plain durable
cli --json stat al | json_check '.durable == "always" and .log_bytes > 0'
[ -f "$logdir/al.cqlog" ] || fail "no log for al in $logdir"
[ ! -e "$logdir/plain.cqlog" ] || fail "a log for a plain queue"

# Messages in two bands, one leased, one delayed, one closed queue, one
# paused.
expect_rc 0 cli push al a1
expect_rc 0 cli push al a2
expect_rc 0 cli push al --priority 1 hi
expect_rc 0 cli push al a3
expect_rc 0 cli push al --delay 3600000 later
before=$(peek_ids al)
cli reserve al --lease 3600000 >"$dir/resv" || fail "reserve"
[ "$(cut -f2 "$dir/resv")" = hi ] || fail "reserved $(cat "$dir/resv")"
expect_rc 0 cli push iv i1
expect_rc 0 cli push iv i2
expect_rc 0 cli push nv n1
expect_rc 0 cli close nv
expect_rc 0 cli push iv2 p1
expect_rc 0 cli pause iv2
expect_rc 0 cli push plain x
# A chmod after the create is kept too.
expect_rc 0 cli chmod iv 0640
# A durable queue's dead-letter queue is durable too.
expect_rc 0 cli create dl --durable=always --max-deliveries 1
expect_rc 0 cli push dl dead
id=$(cli reserve dl | cut -f1)
expect_rc 0 cli release dl "$id"
expect_out 1 stat_field dl.dlq length
expect_out always stat_field dl.dlq durable

reboot

expect_out dead cli pop dl.dlq --try
expect_out 0640 stat_field iv mode

expect_rc 1 cli stat plain
expect_out 4 stat_field al length
expect_out 0 stat_field al in_flight
expect_out 1 stat_field al delayed
# The lease came back to the head of its band; the order is kept.
[ "$(peek_ids al)" = "$before" ] ||
    fail "ids after reboot '$(peek_ids al)', before '$before'"
cli --json peek al --count 1 | jq -e '.[0].data == "hi" and
    .[0].deliveries == 1' >/dev/null || fail "leased message not back first"
expect_out hi cli pop al --try
expect_out a1 cli pop al --try
expect_out a2 cli pop al --try
expect_out a3 cli pop al --try
expect_rc 2 cli pop al --try
# Ids keep increasing past every id handed out before the reboot.
expect_rc 0 cli push al a4
last=$(echo "$before" | tr ' ' '\n' | sort -n | tail -n 1)
new=$(peek_ids al)
[ "$new" -gt "$last" ] || fail "id $new after reboot, not above $last"
expect_out "i1
i2" cli pop iv --count 2 --try
expect_out true stat_field nv closed
expect_out n1 cli pop nv --try
expect_out 1 stat_field iv2 pause_count
expect_rc 0 cli resume iv2
expect_out p1 cli pop iv2 --try

# always: every acknowledged push and pop is on disk before its reply, so
# kill -9 plus a reboot loses none of them.
i=0
while [ $i -lt 20 ]; do
	expect_rc 0 cli push al "m$i"
	i=$((i + 1))
done
expect_out a4 cli pop al --try
expect_out m0 cli pop al --try
reboot KILL
expect_out 19 stat_field al length
expect_out m1 cli pop al --try

# A daemon restart (kill -9, shared memory kept) loses nothing of any
# policy: the segment is still the working copy.
# (What iv holds here depends on whether its interval flush ran before
# the reboot above: compare the whole queue before and after, never a
# guess at the clock.)
expect_rc 0 cli push iv i3
want=$(cli peek iv --count 100)
case "$want" in *i3*) ;; *) fail "iv before the restart: '$want'" ;; esac
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
dpid=
start_daemon
expect_out "$want" cli peek iv --count 100

# delete removes the log: the queue stays gone after a reboot.
expect_rc 0 cli delete iv
[ ! -e "$logdir/iv.cqlog" ] || fail "delete left the log"
reboot
expect_rc 1 cli stat iv
expect_out always stat_field al durable

# A durable queue whose segment cannot be used (one of an older layout,
# refused since layout 3; or a damaged one) comes back from its log.
expect_rc 0 cli push al z1
len=$(stat_field al length)
kill "$dpid"
wait "$dpid" 2>/dev/null
dpid=
for f in /dev/shm/conqueue-"$inst"/*; do
	case "$f" in *.bell) continue ;; esac
	printf '\002' | dd of="$f" bs=1 seek=8 conv=notrunc 2>/dev/null ||
	    fail "cannot rewrite $f"
done
start_daemon
expect_out "$len" stat_field al length
expect_out false stat_field al quarantined
grep -q "rebuilt from its log\|restored from its log" "$dir/daemon.log" ||
    fail "no restore logged"

# --state-dir wins over $STATE_DIRECTORY.
kill "$dpid"
wait "$dpid" 2>/dev/null
dpid=
mkfifo "$dir/ready" || exit 99
"$CONQUEUED" -s "$dir/s" --instance "$inst" --ready-fd 3 \
    --state-dir "$dir/other" 3>"$dir/ready" 2>>"$dir/daemon.log" &
dpid=$!
read -r line <"$dir/ready"
rm -f "$dir/ready"
[ "$line" = ready ] || fail "daemon did not start"
expect_rc 0 cli create od --durable=never
[ -f "$dir/other/$inst/od.cqlog" ] || fail "--state-dir not used"

echo "durable ok"
