#!/bin/sh
# bridge.sh - `make bench-bridge`: 64-byte messages A -> NATS -> B through
# two conqueue-bridge processes, against bare libnats JetStream (async
# publish, pull fetch, ack) on the same nats-server in the same run.
# Uses the test harness tests/bridge_lib.sh (private nats-server -js on a
# random 127.0.0.1 port, two conqueued instances). Environment: BENCH_N
# (messages, default 100000), BENCH_SIZE (64), BENCH_WINDOW (256: the
# outbound window and the baseline's async publishes in flight),
# BENCH_BATCH (128: the inbound fetch and the baseline's), BENCH_RUNS (3).
# Prints each run and the median ratio; exit 77 without NATS.

. "${top_srcdir:-.}/tests/bridge_lib.sh"

PROBE=$top_builddir/conqueue-bench-bridge
[ -x "$PROBE" ] || fail "no $PROBE"
N=${BENCH_N:-100000}
SIZE=${BENCH_SIZE:-64}
WINDOW=${BENCH_WINDOW:-256}
BATCH=${BENCH_BATCH:-128}
RUNS=${BENCH_RUNS:-3}

start_nats
start_daemon a
start_daemon b
cat >"$dir/a.conf" <<EOF2
instance = hostA
stats_file = $dir/a.stats
[outbound jobs]
queue = jobs
subject = bench.cq
stream = BENCH_CQ
window = $WINDOW
EOF2
cat >"$dir/b.conf" <<EOF2
instance = hostB
stats_file = $dir/b.stats
[inbound jobs]
queue = jobs
subject = bench.cq
stream = BENCH_CQ
durable = bench_b
batch = $BATCH
EOF2
cli a create jobs --capacity 4096 || fail "create on A"
cli b create jobs --capacity 4096 || fail "create on B"
start_bridge a
start_bridge b

echo "bench-bridge: $N messages of $SIZE bytes, window $WINDOW, batch $BATCH," \
    "$RUNS runs; $(nproc) CPUs; $("$NATS_SERVER" --version 2>&1)"
r=1
while [ "$r" -le "$RUNS" ]; do
	js=$("$PROBE" js "nats://127.0.0.1:$natsport" "$N" "$SIZE" "$WINDOW" "$BATCH") ||
	    fail "baseline run $r"
	cq=$("$PROBE" cq "$dir/a.sock" "$dir/b.sock" jobs "$N" "$SIZE") ||
	    fail "bridge run $r"
	jt=$(echo "$js" | sed 's/.*msgs_per_s=\([0-9]*\).*/\1/')
	ct=$(echo "$cq" | sed 's/.*msgs_per_s=\([0-9]*\).*/\1/')
	ratio=$(awk -v c="$ct" -v j="$jt" 'BEGIN { printf "%.2f", c / j }')
	echo "run $r: jetstream $js"
	echo "run $r: bridge    $cq"
	echo "run $r: ratio $ratio"
	echo "$ratio" >>"$dir/ratios"
	r=$((r + 1))
done
echo "median ratio bridge/jetstream: $(sort -n "$dir/ratios" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
# The bridges ran clean.
kill -USR1 "$bridgeapid" "$bridgebpid"
sleep 0.3
grep -h '^route ' "$dir"/bridge-*.log | tail -n 2
exit 0
