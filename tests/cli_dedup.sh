#!/bin/sh
# cli_dedup.sh - keyed pushes through conqueue-cli (issue 18 item 5).

. "${top_srcdir:-.}/tests/cli_lib.sh"

start_daemon

# stat_field NAME KEY: one value of "stat NAME".
stat_field() {
	cli stat "$1" | sed -n "s/^$2: //p"
}

expect_rc 0 cli create q --dedup-window 600000
expect_out 600000 stat_field q dedup_window_ms
# A key seen within the window: success, nothing added.
expect_rc 0 cli push q one --dedup-key k1
expect_rc 0 cli push q one-again --dedup-key k1
expect_rc 0 cli push q --try two --dedup-key k2
expect_out 2 stat_field q length
expect_out 2 stat_field q dedup_keys
expect_out 1 stat_field q dedup_suppressed
cli --json stat q | json_check \
    '.dedup_window_ms == 600000 and .dedup_keys == 2 and .dedup_suppressed == 1'
expect_out one cli pop q --try
# Popped or not, the key is held for the whole window.
expect_rc 0 cli push q one --dedup-key k1
expect_out two cli pop q --try
expect_rc 2 cli pop q --try
# Bad use: usage errors, nothing pushed.
expect_rc 64 cli push q a b --dedup-key k3
expect_rc 64 cli push q a --dedup-key ''
expect_rc 64 cli push q a --dedup-key k3 --front
expect_rc 64 cli push q a --dedup-key \
    "$(printf '%0257d' 0)"
expect_rc 64 cli create q2 --dedup-window -1
expect_rc 64 cli create q2 --dedup-window 86400001
# A queue without a window refuses keys (CQ_INVALID: exit 1).
expect_rc 0 cli create plain
expect_rc 1 cli push plain a --dedup-key k
expect_out 0 stat_field plain length
expect_out 0 stat_field plain dedup_window_ms
expect_out 0 stat_field q length
# The keys survive a kill -9 of the daemon.
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
dpid=
start_daemon
expect_rc 0 cli push q one --dedup-key k1
expect_out 0 stat_field q length
expect_out 600000 stat_field q dedup_window_ms
# And a clean restart.
kill "$dpid"
wait "$dpid"
dpid=
start_daemon
expect_rc 0 cli push q two --dedup-key k2
expect_out 0 stat_field q length
# After its window a key is taken again: wait for that state (bounded).
expect_rc 0 cli create short --dedup-window 200
expect_rc 0 cli push short x --dedup-key k
n=0
while [ "$(stat_field short length)" != 2 ]; do
	n=$((n + 1))
	[ "$n" -le 300 ] || fail "key k never expired (window 200 ms)"
	expect_rc 0 cli push short x --dedup-key k
	sleep 0.1
done
# Deleting the queue removes its key table.
ls /dev/shm/conqueue-"$inst"/ | grep -q '\.dedup$' ||
    fail "no key table in /dev/shm/conqueue-$inst"
for f in /dev/shm/conqueue-"$inst"/*.dedup; do
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f: mode $(stat -c %a "$f")"
done
expect_rc 0 cli delete short
expect_rc 0 cli delete q
! ls /dev/shm/conqueue-"$inst"/ | grep -q '\.dedup' ||
    fail "key tables left: $(ls /dev/shm/conqueue-"$inst"/)"

# A damaged record ends the table's load (daemon/sidecar.c): the keys
# before it are held after a restart, it and those after it are not.
expect_rc 0 cli create torn --dedup-window 600000
for k in a1 a2 a3; do
	expect_rc 0 cli push torn "$k" --dedup-key "$k"
done
f=$(ls /dev/shm/conqueue-"$inst"/*.dedup) || fail "no key table for torn"
# magic (8), then 26-byte records (24 + a 2-byte key): a2's key at 58.
[ "$(stat -c %s "$f")" = 86 ] || fail "$f: $(stat -c %s "$f") bytes"
[ "$(dd if="$f" bs=1 skip=58 count=2 2>/dev/null)" = a2 ] ||
    fail "$f: no key a2 at offset 58"
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
dpid=
printf X | dd of="$f" bs=1 seek=58 conv=notrunc 2>/dev/null ||
    fail "cannot damage $f"
start_daemon
expect_out 3 stat_field torn length
expect_out 1 stat_field torn dedup_keys
expect_rc 0 cli push torn again --dedup-key a1
expect_out 3 stat_field torn length
expect_rc 0 cli push torn a2 --dedup-key a2
expect_rc 0 cli push torn a3 --dedup-key a3
expect_out 5 stat_field torn length
expect_rc 0 cli delete torn
exit 0
