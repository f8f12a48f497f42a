# bridge_lib.sh - sourced by the bridge_*.sh tests: a real nats-server with
# JetStream on a private store and a random 127.0.0.1 port, two conqueued
# instances standing for hosts A and B, one conqueue-bridge per host.
# Needs CONQUEUED, CONQUEUE_CLI and top_builddir.

set -u
: "${CONQUEUED:?CONQUEUED must name the daemon binary}"
: "${CONQUEUE_CLI:?CONQUEUE_CLI must name conqueue-cli}"
: "${top_builddir:=.}"
BRIDGE=${CONQUEUE_BRIDGE:-$top_builddir/conqueue-bridge}
if [ ! -x "$BRIDGE" ]; then
	echo "SKIP: conqueue-bridge not built (configured without NATS: libnats-dev not found or --without-nats)"
	exit 77
fi
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
if [ ! -x "$NATS_SERVER" ]; then
	echo "FAIL: built with NATS but no nats-server (apt-get install nats-server)" >&2
	exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/cqbridge.XXXXXX") || exit 99
tag="br-$$-${dir##*.}"
natspid= natsport= apid= bpid= bridgeapid= bridgebpid= extrapids=

# Kill everything we started, remove the temp dir and the shm segments.
cleanup() {
	touch "$dir/stop"
	for p in $extrapids $bridgeapid $bridgebpid $apid $bpid $natspid; do
		kill "$p" 2>/dev/null
	done
	for p in $bridgeapid $bridgebpid $apid $bpid $natspid; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$dir" /dev/shm/conqueue-"$tag"-a* /dev/shm/conqueue-"$tag"-b*
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# Report a failure with the logs' tails and stop.
fail() {
	echo "FAIL: $*" >&2
	for f in "$dir"/*.log; do
		[ -s "$f" ] || continue
		echo "--- $f:" >&2
		tail -n 15 "$f" >&2
	done
	for f in "$dir"/*.stats; do
		[ -s "$f" ] && { echo "--- $f:" >&2; cat "$f" >&2; }
	done
	exit 1
}

# Start nats-server -js on a private store; the first start picks a free
# port (-p -1) and reads it from the log, restarts reuse it.
start_nats() {
	: >"$dir/nats.log"
	"$NATS_SERVER" -js -sd "$dir/js" -a 127.0.0.1 -p "${natsport:--1}" \
	    --http_port 0 2>>"$dir/nats.log" &
	natspid=$!
	n=0
	while :; do
		line=$(grep -m1 'Listening for client connections on' "$dir/nats.log")
		[ -n "$line" ] && grep -q 'Server is ready' "$dir/nats.log" && break
		kill -0 "$natspid" 2>/dev/null || fail "nats-server exited"
		n=$((n + 1))
		[ "$n" -lt 600 ] || fail "nats-server did not start"
		sleep 0.1
	done
	natsport=${line##*:}
	natsport=$(echo "$natsport" | tr -cd 0-9)
}

# start_daemon a|b: conqueued for host A or B; wait for its "ready" line.
start_daemon() {
	rm -f "$dir/ready.$1"
	mkfifo "$dir/ready.$1" || exit 99
	"$CONQUEUED" -s "$dir/$1.sock" --instance "$tag-$1" --ready-fd 3 \
	    3>"$dir/ready.$1" 2>>"$dir/daemon-$1.log" &
	eval "${1}pid=\$!"
	read -r line <"$dir/ready.$1"
	rm -f "$dir/ready.$1"
	[ "$line" = ready ] || fail "daemon $1 did not start"
}

# cli a|b ARGS: conqueue-cli on host A's or B's daemon.
cli() {
	h=$1
	shift
	timeout 120 "$CONQUEUE_CLI" -s "$dir/$h.sock" "$@"
}

# start_bridge a|b: conqueue-bridge of host A or B with $dir/$1.conf.
start_bridge() {
	$BRIDGE_WRAP "$BRIDGE" -c "$dir/$1.conf" -s "$dir/$1.sock" \
	    -u "nats://127.0.0.1:$natsport" 2>>"$dir/bridge-$1.log" &
	eval "bridge${1}pid=\$!"
}
BRIDGE_WRAP=${BRIDGE_WRAP:-}

# stat_of a|b ROUTE FIELD: a field of a route's line in a bridge's stats.
stat_of() {
	sed -n "s/^route $2 .* $3=\([^ ]*\).*/\1/p" "$dir/$1.stats" 2>/dev/null
}

# wait_stat a|b ROUTE FIELD VALUE: wait until the stats file shows it.
wait_stat() {
	n=0
	until [ "$(stat_of "$1" "$2" "$3")" = "$4" ]; do
		n=$((n + 1))
		[ "$n" -lt 1200 ] ||
		    fail "bridge $1 route $2: $3=$(stat_of "$1" "$2" "$3"), want $4"
		sleep 0.1
	done
}

# write_confs STAMP: host A forwards queue jobs, host B receives it.
write_confs() {
	cat >"$dir/a.conf" <<EOF
instance = hostA
stats_file = $dir/a.stats
stats_interval_ms = 100

[outbound jobs]
queue = jobs
subject = cq.$tag.jobs
stream = CQ_JOBS
window = 64
lease_ms = 10000
EOF
	cat >"$dir/b.conf" <<EOF
instance = hostB
stats_file = $dir/b.stats
stats_interval_ms = 100

[inbound jobs]
queue = jobs
subject = cq.$tag.jobs
stream = CQ_JOBS
durable = hostB_jobs
batch = 32
ack_wait_ms = 5000
stamp = $1
EOF
}
