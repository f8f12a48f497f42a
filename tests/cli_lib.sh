# cli_lib.sh - sourced by the cli_*.sh regress tests: a private daemon,
# cleanup on exit, and assertions. Needs CONQUEUED and CONQUEUE_CLI.

set -u
: "${CONQUEUED:?CONQUEUED must name the daemon binary}"
: "${CONQUEUE_CLI:?CONQUEUE_CLI must name conqueue-cli}"

dir=$(mktemp -d "${TMPDIR:-/tmp}/cqcli.XXXXXX") || exit 99
inst="cli-$$-${dir##*.}"
dpid=

# Kill our daemon, remove the temp dir and the daemon's shm segments.
cleanup() {
	if [ -n "$dpid" ]; then
		kill "$dpid" 2>/dev/null
		wait "$dpid" 2>/dev/null
	fi
	rm -rf "$dir"
	rm -rf /dev/shm/conqueue-"$inst" /dev/shm/conqueue-"$inst"-*
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# Report a failure and stop (the EXIT trap cleans up).
fail() {
	echo "FAIL: $*" >&2
	if [ -s "$dir/daemon.log" ]; then
		echo "--- daemon log:" >&2
		tail -n 20 "$dir/daemon.log" >&2
	fi
	exit 1
}

# Start conqueued on $dir/s and wait for its "ready" line.
start_daemon() {
	mkfifo "$dir/ready" || exit 99
	"$CONQUEUED" -s "$dir/s" --instance "$inst" --ready-fd 3 \
	    3>"$dir/ready" 2>>"$dir/daemon.log" &
	dpid=$!
	read -r line <"$dir/ready"
	rm -f "$dir/ready"
	[ "$line" = ready ] || fail "daemon did not start"
}

# Run conqueue-cli on our daemon; a hung command fails the test instead
# of hanging it.
if command -v timeout >/dev/null 2>&1; then
	cq_timeout="timeout 60"
else
	cq_timeout=
fi
cli() {
	$cq_timeout "$CONQUEUE_CLI" -s "$dir/s" "$@"
}

# expect_rc N CMD...: run CMD (output discarded) and check its exit status.
expect_rc() {
	want=$1
	shift
	"$@" >/dev/null 2>"$dir/stderr"
	got=$?
	[ "$got" -eq "$want" ] ||
	    fail "'$*' exited $got, want $want: $(cat "$dir/stderr")"
}

# expect_out WANT CMD...: run CMD (exit 0) and compare its output.
expect_out() {
	want=$1
	shift
	out=$("$@" 2>"$dir/stderr") || fail "'$*' failed: $(cat "$dir/stderr")"
	[ "$out" = "$want" ] || fail "'$*' printed '$out', want '$want'"
}

# json_check FILTER < JSON: the input is valid JSON and FILTER holds.
json_check() {
	if command -v jq >/dev/null 2>&1; then
		jq -e "$1" >/dev/null || fail "JSON check '$1' failed"
	else
		python3 -m json.tool >/dev/null || fail "invalid JSON"
	fi
}
