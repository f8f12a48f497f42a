#!/bin/sh
# cli_browse.sh - peek, purge and remove (issue 18): they see and change
# only the queued messages, in place, and the exit statuses say the rest.

. "${top_srcdir:-.}/tests/cli_lib.sh"

start_daemon
expect_rc 0 cli create b --priorities 2 --capacity 8
expect_rc 2 cli peek b
cli push b a b c || fail "push a b c"
expect_rc 0 cli push b z --priority 1

# Pop order, nothing taken, nothing counted as delivered.
expect_out "z" cli peek b
expect_out "z a b c" sh -c "'$CONQUEUE_CLI' -s '$dir/s' peek b --count 10 | tr '\n' ' ' | sed 's/ \$//'"
expect_out "4" sh -c "'$CONQUEUE_CLI' -s '$dir/s' stat b | sed -n 's/^length: //p'"
cli peek b --count 2 --json >"$dir/peek.json" || fail "peek --json"
json_check 'length == 2 and .[0].data == "z" and .[0].band == 1 and .[0].deliveries == 0 and .[1].data == "a"' <"$dir/peek.json"
expect_rc 1 cli peek nonesuch
expect_rc 64 cli peek b --count 0

# remove by the id peek --json shows: the others keep their order.
id=$(cli peek b --count 3 --json | jq '.[2].id') || fail "peek for ids"
[ "$(cli peek b --count 3 --json | jq -r '.[2].data')" = b ] || fail "third is not b"
expect_rc 0 cli remove b "$id"
expect_out "z a c" sh -c "'$CONQUEUE_CLI' -s '$dir/s' peek b --count 10 | tr '\n' ' ' | sed 's/ \$//'"
expect_rc 1 cli remove b "$id"
grep -q "CQ_NOTFOUND" "$dir/stderr" || fail "remove of a gone id: $(cat "$dir/stderr")"
expect_rc 64 cli remove b x
expect_rc 64 cli remove b

# A popped (reserved) message is not queued: peek skips it, remove misses it.
line=$(cli reserve b) || fail "reserve"
rid=${line%%	*}
expect_out "a" cli peek b
expect_rc 1 cli remove b "$rid"
expect_rc 0 cli ack b "$rid"

# Peek works while paused; purge drops every queued message at once.
expect_rc 0 cli pause b
expect_out "a" cli peek b
expect_rc 0 cli resume b
expect_out "2" cli purge b
expect_rc 2 cli peek b
expect_out "0" cli purge b
expect_out '{"purged": 0}' cli --json purge b
expect_out "4" sh -c "'$CONQUEUE_CLI' -s '$dir/s' stat b | sed -n 's/^total_popped: //p'"

# The room is back: the queue takes its capacity again; ids go on.
seq 8 | cli push b || fail "push 8 after purge"
expect_rc 2 cli push b --try nine
expect_out "8" cli purge b
expect_rc 0 cli push b last
expect_rc 0 cli close b
expect_out "last" cli peek b
expect_out "1" cli purge b
expect_rc 3 cli peek b
expect_rc 1 cli purge nonesuch
exit 0
