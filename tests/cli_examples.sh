#!/bin/sh
# cli_examples.sh - run the programs of examples/ on a private daemon.

. "${top_srcdir:-.}/tests/cli_lib.sh"

ex=${top_builddir:-.}/examples
start_daemon
CONQUEUE_SOCKET=$dir/s
export CONQUEUE_SOCKET

# find_files: one producer, three async consumers on libevent loops; the
# output equals grep -rl over the same tree.
tree=$dir/tree
i=0
while [ $i -lt 200 ]; do
	d=$tree/a$((i % 5))/b$((i % 2))
	mkdir -p "$d"
	if [ $((i % 3)) -eq 0 ]; then
		printf 'x\nneedle_42 here\n' >"$d/f$i"
	else
		printf 'x\nhay %d\n' $i >"$d/f$i"
	fi
	i=$((i + 1))
done
grep -rl needle_42 "$tree" | sort >"$dir/want"
$cq_timeout "$ex/find_files" "$tree" needle_42 3 >"$dir/out" ||
    fail "find_files exited $?"
sort "$dir/out" >"$dir/got"
cmp "$dir/want" "$dir/got" || fail "find_files output differs from grep -rl"

# pollable: every message comes back, in order, through a poll() loop.
$cq_timeout "$ex/pollable" 25 >"$dir/out" || fail "pollable exited $?"
i=0
while [ $i -lt 25 ]; do
	echo "message $i"
	i=$((i + 1))
done | cmp - "$dir/out" || fail "pollable output"

# cancel_deadline: cancelled at our deadline, and nothing lost.
expect_out "$(printf 'canceled\nafter')" $cq_timeout \
    "$ex/cancel_deadline" 100

# Nothing left behind by the examples.
expect_out "" cli list
exit 0
