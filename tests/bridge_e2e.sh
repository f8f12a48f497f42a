#!/bin/sh
# bridge_e2e.sh - host A's queue reaches host B's through NATS JetStream:
# every message exactly once, in order within each band, bands kept, a
# small B queue slows the bridge down (backpressure) without loss, and
# closing A's queue closes B's once everything before it arrived.

. "${top_srcdir:-.}/tests/bridge_lib.sh"

N=300
start_nats
start_daemon a
start_daemon b
cli a create jobs --capacity 64 --priorities 3 || fail "create on A"
cli b create jobs --capacity 16 --priorities 3 || fail "create on B"
write_confs no

# Bad configurations are refused with a clear message.
printf '[outbound x]\nqueue = jobs\n' >"$dir/bad.conf"
"$BRIDGE" -n -c "$dir/bad.conf" 2>"$dir/err" && fail "incomplete route accepted"
grep -q "needs queue, subject and stream" "$dir/err" || fail "unclear: $(cat "$dir/err")"
printf 'window = 5\n' >"$dir/bad.conf"
"$BRIDGE" -n -c "$dir/bad.conf" 2>"$dir/err" && fail "route key outside a route accepted"
grep -q "bad.conf:1: unknown key 'window'" "$dir/err" || fail "unclear: $(cat "$dir/err")"
"$BRIDGE" -n -c "$dir/a.conf" >/dev/null || fail "good config refused"

start_bridge a
start_bridge b

# Three bands, pushed interleaved: band b gets "b<band> <seq>".
i=0
while [ "$i" -lt "$N" ]; do
	echo "b$((i % 3)) $i"
	i=$((i + 1))
done >"$dir/sent"
for band in 0 1 2; do
	grep "^b$band " "$dir/sent" | cli a push jobs --priority "$band" ||
	    fail "push band $band on A"
done

wait_stat a jobs forwarded "$N"
# B's queue (capacity 16) holds the rest back until we pop.
cli b pop jobs --count "$N" --timeout 60000 >"$dir/got" || fail "pop on B"
wait_stat b jobs forwarded "$N"

[ "$(wc -l <"$dir/got")" -eq "$N" ] || fail "B got $(wc -l <"$dir/got") of $N"
for band in 0 1 2; do
	grep "^b$band " "$dir/sent" >"$dir/want.$band"
	grep "^b$band " "$dir/got" >"$dir/got.$band"
	cmp -s "$dir/want.$band" "$dir/got.$band" ||
	    fail "band $band differs (order, loss or duplicates)"
done
[ "$(stat_of a jobs pending)" = 0 ] || fail "A still has pending messages"
expect_len() {
	out=$(cli "$1" stat jobs --json) || fail "stat on $1"
	echo "$out" | grep -q "\"length\": *$2[,}]" || fail "$1: $out"
}
expect_len a 0
expect_len b 0

# Close travels after the messages before it.
echo last | cli a push jobs || fail "push last"
cli a close jobs || fail "close on A"
out=$(cli b pop jobs --all --timeout 60000) || fail "pop --all on B"
[ "$out" = last ] || fail "pop --all printed '$out'"
wait_stat b jobs closes 1
cli b push jobs late 2>/dev/null
[ $? -eq 3 ] || fail "B's queue is not closed"

# SIGUSR1 logs the status line.
kill -USR1 "$bridgebpid"
n=0
until grep -q "^route jobs inbound .*forwarded=$((N + 1))" "$dir/bridge-b.log"; do
	n=$((n + 1))
	[ "$n" -lt 600 ] || fail "no status line after SIGUSR1"
	sleep 0.1
done

# SIGTERM stops both bridges cleanly.
kill "$bridgeapid" "$bridgebpid"
wait "$bridgeapid" || fail "bridge A exited $?"
wait "$bridgebpid" || fail "bridge B exited $?"
bridgeapid= bridgebpid=
exit 0
