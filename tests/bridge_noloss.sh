#!/bin/sh
# bridge_noloss.sh - the no-loss harness: traffic runs from host A through
# NATS JetStream to host B while the bridges, the NATS server and either
# daemon are killed with SIGKILL at random points and restarted. At the
# end: lost 0, unexpected 0, and every duplicate carries the id it came
# with (inbound "stamp = yes"). BRIDGE_KILLS sets the number of kills
# (make check-bridge-long runs many more).

. "${top_srcdir:-.}/tests/bridge_lib.sh"

KILLS=${BRIDGE_KILLS:-6}
start_nats
start_daemon a
start_daemon b
cli a create jobs --capacity 256 --priorities 2 || fail "create on A"
cli b create jobs --capacity 64 --priorities 2 || fail "create on B"
write_confs yes
start_bridge a
start_bridge b

# Producer: batches of 20 lines, one message per line; -v tells how many
# went in. The one at which a push failed (its daemon was killed) may
# still have gone in: it and the rest of its batch count as "maybe".
(
	seq=0
	while [ ! -e "$dir/stop" ]; do
		i=0
		while [ "$i" -lt 20 ]; do
			echo "m$((seq + i))"
			i=$((i + 1))
		done >"$dir/batch"
		timeout 20 "$CONQUEUE_CLI" -v -s "$dir/a.sock" push jobs \
		    --priority $((seq / 20 % 2)) --timeout 5000 <"$dir/batch" \
		    >/dev/null 2>"$dir/push.err"
		rc=$?
		k=$(sed -n 's/.*pushed \([0-9]*\).*/\1/p' "$dir/push.err" | head -n1)
		[ "$rc" -eq 0 ] && k=20
		k=${k:-0}
		head -n "$k" "$dir/batch" >>"$dir/acked"
		tail -n +"$((k + 1))" "$dir/batch" >>"$dir/maybe"
		[ "$rc" -eq 0 ] || sleep 0.05
		seq=$((seq + 20))
	done
) &
prodpid=$!
extrapids=$prodpid

# Consumer on B: pops until B's queue is closed and drained, and goes on
# after its daemon was killed.
(
	while :; do
		timeout 30 "$CONQUEUE_CLI" -s "$dir/b.sock" pop jobs --all \
		    --timeout 2000 >>"$dir/got" 2>>"$dir/pop.err"
		rc=$?
		[ "$rc" -eq 0 ] && break
		sleep 0.05
	done
) &
conspid=$!
extrapids="$prodpid $conspid"

# Kill something at a random moment, restart it.
rand() {
	od -An -N2 -tu2 /dev/urandom | tr -d ' '
}
k=0
while [ "$k" -lt "$KILLS" ]; do
	sleep "0.$(($(rand) % 9 + 1))"
	victim=$(($(rand) % 5))
	case $victim in
	0) kill -9 "$bridgeapid"; wait "$bridgeapid" 2>/dev/null; start_bridge a ;;
	1) kill -9 "$bridgebpid"; wait "$bridgebpid" 2>/dev/null; start_bridge b ;;
	2) kill -9 "$natspid"; wait "$natspid" 2>/dev/null; start_nats ;;
	3) kill -9 "$apid"; wait "$apid" 2>/dev/null; start_daemon a ;;
	4) kill -9 "$bpid"; wait "$bpid" 2>/dev/null; start_daemon b ;;
	esac
	echo "kill $k: victim $victim" >>"$dir/kills.log"
	k=$((k + 1))
done

# Stop producing, then close A's queue: the close marker follows every
# message and closes B's queue, which ends the consumer.
touch "$dir/stop"
wait "$prodpid"
[ -s "$dir/acked" ] || fail "no push succeeded"
until cli a close jobs 2>/dev/null; do sleep 0.1; done
n=0
while kill -0 "$conspid" 2>/dev/null; do
	n=$((n + 1))
	[ "$n" -lt 1800 ] || fail "B's queue was never closed: messages stuck"
	sleep 0.1
done
wait "$conspid"

# Each line is "hostA/jobs/ID<TAB>mSEQ": payload and the id it came with.
touch "$dir/maybe"
awk -F '\t' 'NF != 2 || $1 !~ /^hostA\/jobs\/[0-9]+$/ { bad++ }
    END { exit bad > 0 }' "$dir/got" || fail "a message without its id"
cut -f2 "$dir/got" | sort -u >"$dir/got.u"
sort -u "$dir/acked" >"$dir/acked.u"
sort -u "$dir/acked" "$dir/maybe" >"$dir/all.u"
lost=$(comm -23 "$dir/acked.u" "$dir/got.u" | wc -l)
unexpected=$(comm -13 "$dir/all.u" "$dir/got.u" | wc -l)
dups=$(($(wc -l <"$dir/got") - $(wc -l <"$dir/got.u")))
# A payload that arrived twice must have come with the same id each time.
reid=$(sort -u "$dir/got" | cut -f2 | sort | uniq -d | wc -l)
echo "acked $(wc -l <"$dir/acked.u") maybe $(wc -l <"$dir/maybe")" \
    "received $(wc -l <"$dir/got") lost $lost unexpected $unexpected" \
    "duplicates $dups (all with their ids) kills $KILLS"
[ "$lost" -eq 0 ] || fail "lost $lost: $(comm -23 "$dir/acked.u" "$dir/got.u" | head -5)"
[ "$unexpected" -eq 0 ] || fail "unexpected $unexpected"
[ "$reid" -eq 0 ] || fail "$reid payloads arrived under two different ids"
exit 0
