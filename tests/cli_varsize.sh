#!/bin/sh
# cli_varsize.sh - variable-size message storage (issue 17): create
# --max-bytes (plain, K/M/G), bad bounds refused creating nothing, the
# default bound, a push past the bound answered as full and changing
# nothing, stat's bytes, the metrics gauges, a durable queue's bound kept
# across a reboot, 1000 default queues under the default quota in at most
# 128 MiB of shared memory, and memory returned after a queue drains.
# Every wait is on state (stat), bounded at 30 s.

. "${top_srcdir:-.}/tests/cli_lib.sh"

STATE_DIRECTORY="$dir/state"
export STATE_DIRECTORY
segdir=/dev/shm/conqueue-$inst

[ -d /dev/shm ] || { echo "no /dev/shm: skipped"; exit 77; }

# stat_field NAME KEY: one value of "stat NAME".
stat_field() {
	cli stat "$1" | sed -n "s/^$2: //p"
}

# expect_field NAME KEY VALUE: stat NAME shows KEY: VALUE.
expect_field() {
	got=$(stat_field "$1" "$2")
	[ "$got" = "$3" ] || fail "stat $1: $2 is '$got', want '$3'"
}

# expect_bad ARGS...: create refuses ARGS as a usage error naming
# --max-bytes, and no queue 'bad' exists after.
expect_bad() {
	expect_rc 64 cli create bad "$@"
	grep -q 'max-bytes' "$dir/stderr" ||
	    fail "create bad $*: error does not name max-bytes: $(cat "$dir/stderr")"
	expect_rc 1 cli stat bad
}

# payload N: N bytes of 'x' (no newline).
payload() {
	head -c "$1" /dev/zero | tr '\0' x
}

start_daemon

# Plain byte counts and the K, M, G suffixes (powers of 1024).
expect_rc 0 cli create plain --max-size 1000 --max-bytes 5000
expect_field plain max_bytes 5000
expect_rc 0 cli create kib --max-size 512 --capacity 8 --max-bytes 1K
expect_field kib max_bytes 1024
expect_rc 0 cli create kib2 --max-size 1024 --capacity 4 --max-bytes 2KiB
expect_field kib2 max_bytes 2048
expect_rc 0 cli create mib --max-bytes 3M
expect_field mib max_bytes 3145728
# 64G is the largest; above what capacity * max_size holds it is lowered.
expect_rc 0 cli create gib --capacity 4 --max-size 1024 --max-bytes 64G
expect_field gib max_bytes 4096
# Combined with the other create options.
expect_rc 0 cli create combo --capacity 16 --max-size 256 --ttl 60000 \
    --dedup-window 1000 --priorities 2 --max-bytes 2K
expect_field combo max_bytes 2048
expect_field combo ttl_ms 60000
expect_field combo dedup_window_ms 1000
expect_field combo bands 2

# The default: 512 KiB.
expect_rc 0 cli create def
expect_field def max_bytes 524288
expect_field def bytes 0

# Bad bounds: usage errors, nothing created.
expect_bad --max-size 512 --max-bytes 100
expect_bad --max-bytes 1K # below the default max_size (65536)
expect_bad --max-bytes 65G
expect_bad --max-bytes 68719476737
expect_bad --max-bytes 1X
expect_bad --max-bytes 1KB
expect_bad --max-bytes -5
expect_bad --max-bytes " 5000"
expect_bad --max-bytes ""
expect_bad --max-bytes 99999999999999999999G

# stat in JSON carries the three fields.
cli --json stat kib >"$dir/kib.json" || fail "stat --json kib"
json_check '.max_bytes == 1024 and .bytes == 0 and (.resident_bytes | type) == "number"' \
    <"$dir/kib.json"

# bytes is the sum of the payloads held.
expect_rc 0 cli create sum --max-size 2000
expect_rc 0 cli push sum a hello "$(payload 1000)"
expect_field sum length 3
expect_field sum bytes 1006

# Full by bytes (1 KiB; the capacity of 8 is far): a push past the bound
# is answered full and changes nothing; after a pop it fits.
expect_rc 0 cli push kib "$(payload 400)" "$(payload 400)"
expect_field kib bytes 800
expect_rc 2 cli push kib --try "$(payload 400)"
expect_field kib length 2
expect_field kib bytes 800
expect_field kib total_pushed 2
expect_out "$(payload 400)" cli pop kib --try
expect_field kib bytes 400
expect_rc 0 cli push kib --try "$(payload 400)"
expect_field kib length 2
expect_field kib bytes 800
# Up to the bound exactly fits; one byte more does not.
expect_rc 0 cli push kib --try "$(payload 224)"
expect_field kib bytes 1024
expect_rc 2 cli push kib --try b
expect_field kib length 3
expect_field kib bytes 1024

# The metrics gauges.
cli metrics kib >"$dir/m.prom" || fail "metrics kib"
grep -qx 'conqueue_queue_max_bytes{queue="kib"} 1024' "$dir/m.prom" ||
    fail "metrics: no max_bytes 1024: $(grep _bytes "$dir/m.prom")"
grep -qx 'conqueue_queue_bytes{queue="kib"} 1024' "$dir/m.prom" ||
    fail "metrics: no bytes 1024: $(grep _bytes "$dir/m.prom")"
grep -q '^conqueue_queue_resident_bytes{queue="kib"} [0-9][0-9]*$' \
    "$dir/m.prom" || fail "metrics: no resident_bytes"

# A durable queue keeps its bound across a reboot (stop, shared memory
# gone, start: rebuilt from its log).
expect_rc 0 cli create dur --durable --max-size 1024 --max-bytes 2K
expect_rc 0 cli push dur "$(payload 1000)"
kill "$dpid"
wait "$dpid" 2>/dev/null
dpid=
rm -rf "$segdir" /dev/shm/conqueue-"$inst"-*
start_daemon
expect_field dur max_bytes 2048
expect_field dur length 1
expect_field dur bytes 1000
expect_rc 2 cli push dur --try "$(payload 1000)" "$(payload 1000)"
expect_rc 1 cli stat kib # not durable: gone

# Memory follows what a queue holds: about 400 KiB pushed into a default
# queue and drained, its resident storage goes back to at most 64 KiB.
expect_rc 0 cli create mem
i=0
while [ $i -lt 100 ]; do
	payload 4095
	echo
	i=$((i + 1))
done >"$dir/lines"
cli push mem <"$dir/lines" || fail "push mem"
expect_field mem length 100
expect_field mem bytes 409500
res=$(stat_field mem resident_bytes)
[ "$res" -ge 409500 ] || fail "resident_bytes $res holding 409500 bytes"
cli pop mem --count 100 >/dev/null || fail "pop mem"
expect_field mem length 0
expect_field mem bytes 0
i=0
while :; do
	res=$(stat_field mem resident_bytes)
	case $res in
	'' | *[!0-9]*) fail "stat mem: resident_bytes '$res'" ;;
	esac
	[ "$res" -gt 65536 ] || break
	i=$((i + 1))
	[ "$i" -le 3000 ] || fail "resident_bytes still $res 30 s after draining"
	sleep 0.01
done

# A thousand default queues fit one user's default quotas and take at
# most 128 MiB of shared memory together.
kill "$dpid"
wait "$dpid" 2>/dev/null
dpid=
rm -rf "$segdir" /dev/shm/conqueue-"$inst"-* "$STATE_DIRECTORY"
start_daemon
i=0
while [ $i -lt 1000 ]; do
	cli create "many$i" 2>"$dir/stderr" ||
	    fail "create many$i (after $i queues): $(cat "$dir/stderr")"
	i=$((i + 1))
done
n=$(cli list | grep -c '^many')
[ "$n" -eq 1000 ] || fail "list shows $n queues, want 1000"
kib=$(du -sk "$segdir" | cut -f1)
[ "$kib" -le 131072 ] || fail "1000 default queues take $kib KiB of /dev/shm"
echo "1000 default queues: $kib KiB of /dev/shm"
exit 0
