#!/bin/sh
# cli_find_files.sh - the P0260 "find files with a string" pipeline (the
# one in conqueue-cli(1) EXAMPLES) across processes, compared with grep -rl
# over the same tree.

. "${top_srcdir:-.}/tests/cli_lib.sh"

start_daemon

# A tree of files, some with the string, some without, some nested.
tree=$dir/tree
i=0
while [ $i -lt 300 ]; do
	d=$tree/d$((i % 7))/s$((i % 3))
	mkdir -p "$d"
	if [ $((i % 4)) -eq 0 ]; then
		printf 'head\nxx pthread_mutex_consistent yy\n' >"$d/f$i.h"
	else
		printf 'head\nnothing here %d\n' $i >"$d/f$i.h"
	fi
	i=$((i + 1))
done
grep -rl pthread_mutex_consistent "$tree" | sort >"$dir/want"
[ "$(wc -l <"$dir/want")" -eq 75 ] || fail "tree generation"

# xargs exits 123 when one grep found nothing in its batch (grep's 1): a
# consumer that got only files without the string, which a loaded machine
# makes likely. What each consumer found is checked against grep -rl.
consumer_ok() {
	[ "$1" -eq 0 ] || [ "$1" -eq 123 ]
}

# The pipeline, as conqueue-cli(1) writes it (queue created first).
expect_rc 0 cli create files --exist-ok
{ find "$tree" -type f | cli push files; cli close files; } &
prod=$!
cli pop files --all | xargs -r grep -l pthread_mutex_consistent \
    >"$dir/out1" &
c1=$!
cli pop files --all | xargs -r grep -l pthread_mutex_consistent \
    >"$dir/out2" &
c2=$!
wait $prod || fail "producer exited $?"
wait $c1; rc=$?; consumer_ok $rc || fail "consumer 1 exited $rc"
wait $c2; rc=$?; consumer_ok $rc || fail "consumer 2 exited $rc"
sort "$dir/out1" "$dir/out2" >"$dir/got"
cmp "$dir/want" "$dir/got" || fail "pipeline output differs from grep -rl"
expect_rc 0 cli delete files

# The same with NUL-separated names (spaces and newlines in them).
mkdir -p "$tree/odd dir"
printf 'pthread_mutex_consistent\n' >"$tree/odd dir/with space.h"
printf 'pthread_mutex_consistent\n' >"$tree/odd dir/new
line.h"
printf 'nothing\n' >"$tree/odd dir/plain file.h"
grep -rlZ pthread_mutex_consistent "$tree" | tr '\0' '\n' | sort \
    >"$dir/want0"
expect_rc 0 cli create files0
{ find "$tree" -type f -print0 | cli push files0 -0; cli close files0; } &
prod=$!
cli pop files0 --all -0 | xargs -r -0 grep -lZ pthread_mutex_consistent \
    >"$dir/o1" &
c1=$!
cli pop files0 --all -0 | xargs -r -0 grep -lZ pthread_mutex_consistent \
    >"$dir/o2" &
c2=$!
wait $prod || fail "producer exited $?"
wait $c1; rc=$?; consumer_ok $rc || fail "consumer 1 exited $rc"
wait $c2; rc=$?; consumer_ok $rc || fail "consumer 2 exited $rc"
cat "$dir/o1" "$dir/o2" | tr '\0' '\n' | sort >"$dir/got0"
cmp "$dir/want0" "$dir/got0" || fail "-0 pipeline output differs"
exit 0
