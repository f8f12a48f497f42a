#!/bin/sh
# cli_pipe.sh - pop into a pipe whose reader exits early or has gone (exit
# 6, not SIGPIPE), and into a file that cannot be written: what was not
# read stays in the queue.

. "${top_srcdir:-.}/tests/cli_lib.sh"

# into_closed_pipe ARGS...: conqueue-cli ARGS with its standard output a
# pipe whose reader has gone before it starts ("| true" races: a fast
# writer may fill the pipe before true exits); its status into $dir/rc.
into_closed_pipe() {
	python3 -c '
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
sys.exit(subprocess.call(sys.argv[1:], stdout=w))
' "$CONQUEUE_CLI" -s "$dir/s" "$@"
	echo $? >"$dir/rc"
}

start_daemon
expect_rc 0 cli create p --capacity 6000
seq 5000 | cli push p || fail "push 5000"

# head reads one line and exits: at most the message in the pipe when it
# left may be gone, never a pipe buffer's worth.
first=$(cli pop p --count 5000 | head -n 1)
[ "$first" = 1 ] || fail "head read '$first', want 1"
left=$(cli stat p | sed -n 's/^length: //p')
[ "$left" -ge 4998 ] || fail "$left messages left after | head -1, want >= 4998"

# A reader that reads everything gets everything, in order.
cli pop p --count "$left" | cat >"$dir/all" || fail "pop | cat"
[ "$(wc -l <"$dir/all")" -eq "$left" ] || fail "pop | cat lost messages"
expect_out 0 sh -c "$CONQUEUE_CLI -s '$dir/s' stat p | sed -n 's/^length: //p'"

# Into a pipe nobody reads (the reader already left): not SIGPIPE (141)
# but exit 6, quietly, and every message stays in the queue.
cli push p x y z || fail "push x y z"
before=$(cli stat p | sed -n 's/^length: //p')
into_closed_pipe pop p --count 3 2>"$dir/pipe_err"
[ "$(cat "$dir/rc")" = 6 ] || fail "pop into a closed pipe exited $(cat "$dir/rc"), want 6"
[ -s "$dir/pipe_err" ] && fail "pop into a closed pipe said: $(cat "$dir/pipe_err")"
i=0
until [ "$(cli stat p | sed -n 's/^length: //p')" = "$before" ]; do
	i=$((i + 1))
	[ $i -lt 600 ] || fail "the message popped into a closed pipe did not come back"
	sleep 0.05
done
# reserve releases what it could not print; peek just says 6.
into_closed_pipe reserve p
[ "$(cat "$dir/rc")" = 6 ] || fail "reserve into a closed pipe exited $(cat "$dir/rc"), want 6"
expect_out 0 sh -c "$CONQUEUE_CLI -s '$dir/s' stat p | sed -n 's/^in_flight: //p'"
into_closed_pipe peek p --count 100
[ "$(cat "$dir/rc")" = 6 ] || fail "peek into a closed pipe exited $(cat "$dir/rc"), want 6"
expect_out 3 cli purge p

# A write error is reported and leaves the message in the queue.
if [ -w /dev/full ]; then
	expect_rc 0 cli push p one two
	expect_rc 1 sh -c "'$CONQUEUE_CLI' -s '$dir/s' pop p --count 2 >/dev/full"
	grep -q "cannot write: No space left on device" "$dir/stderr" ||
	    fail "no message for a write error: $(cat "$dir/stderr")"
	# The daemon takes "one" back when it sees our connection close.
	i=0
	while [ "$(cli stat p | sed -n 's/^length: //p')" != 2 ]; do
		i=$((i + 1))
		[ $i -lt 600 ] || fail "the unwritten message did not come back"
		sleep 0.1
	done
	expect_out "one" cli pop p
fi
exit 0
