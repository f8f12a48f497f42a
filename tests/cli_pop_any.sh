#!/bin/sh
# cli_pop_any.sh - pop from several queues (issue 18): the first in the
# order given that has a message, waiting on all of them; --json says which.

. "${top_srcdir:-.}/tests/cli_lib.sh"

start_daemon
for q in a b c; do
	expect_rc 0 cli create $q --capacity 4
done
expect_rc 2 cli pop a b c --try
expect_rc 4 cli pop a b c --timeout 50
cli push c x || fail "push c"
cli push b y || fail "push b"
expect_out "y" cli pop a b c --try
cli --json pop a b c --try >"$dir/one.json" || fail "pop --json"
json_check '.queue == "c" and .index == 2 and .data == "x"' <"$dir/one.json"
expect_rc 1 cli pop a nonesuch --try
expect_rc 64 cli pop a b --count 0

# Parked on a and b; a push to b serves it, a keeps its line empty.
cli pop a b --timeout 60000 >"$dir/bg" 2>&1 &
bg=$!
i=0
until cli stat a b | grep -c '^waiting_poppers: 1' | grep -q 2; do
	i=$((i + 1))
	[ $i -lt 600 ] || fail "the pop never waited on both queues"
	sleep 0.05
done
cli push b later || fail "push b later"
wait $bg || fail "parked pop exited $?: $(cat "$dir/bg")"
[ "$(cat "$dir/bg")" = later ] || fail "parked pop printed '$(cat "$dir/bg")'"
expect_out "0" sh -c "'$CONQUEUE_CLI' -s '$dir/s' stat a | sed -n 's/^waiting_poppers: //p'"

# --all drains every queue in order of the names, then exits 0 once all
# of them are closed and drained.
cli push a 1 || fail "push a"
cli push b 2 || fail "push b"
cli push a 3 || fail "push a"
cli close a && cli close b || fail "close"
expect_out "1 3 2" sh -c "'$CONQUEUE_CLI' -s '$dir/s' pop a b --all | tr '\n' ' ' | sed 's/ \$//'"
expect_rc 3 cli pop a b --try
exit 0
