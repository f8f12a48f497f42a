#!/bin/sh
# cli_push_pop.sh - conqueue-cli push, pop, reserve: flags, streaming,
# binary safety and exit statuses.

. "${top_srcdir:-.}/tests/cli_lib.sh"

start_daemon
expect_rc 0 cli create q --capacity 3
expect_rc 0 cli create q4 --capacity 4
expect_rc 0 cli create p --priorities 3

# Arguments, one message each; a newline inside one stays in it.
expect_rc 0 cli push q a 'two words' "$(printf 'line1\nline2')"
expect_out a cli pop q
expect_out 'two words' cli pop q
expect_out "$(printf 'line1\nline2')" cli pop q
# A message that looks like an option, after "--".
expect_rc 0 cli push q -- --front
expect_out --front cli pop q

# Full and empty with --try (2), timeouts (4).
expect_rc 0 cli push q 1 2 3
expect_rc 2 cli push q --try 4
expect_rc 4 cli push q --timeout 50 4
expect_out "$(printf '1\n2')" cli pop q --count 2
expect_out 3 cli pop q --try
expect_rc 2 cli pop q --try
expect_rc 4 cli pop q --timeout 50
expect_rc 2 cli pop q --count 5 --try
expect_rc 4 cli pop q --all --timeout 50

# --count prints what it popped and stops at N.
expect_rc 0 cli push q x y z
expect_out "$(printf 'x\ny')" cli pop q --count 2
expect_out z cli pop q --count 1

# --front and --priority.
expect_rc 0 cli push p low1 low2
expect_rc 0 cli push p --priority 2 high
expect_rc 0 cli push p --front first
expect_rc 1 cli push p --priority 3 bad
expect_rc 64 cli push p --priority 8 bad
expect_out "$(printf 'high\nfirst\nlow1\nlow2')" cli pop p --count 4

# --all pops until closed and drained, then exits 0; afterwards 3.
printf 'l1\nl2\n\nl4' | cli push q4 || fail "stdin push"
expect_rc 0 cli close q4
expect_out "$(printf 'l1\nl2\n\nl4')" cli pop q4 --all
expect_rc 0 cli close q
expect_rc 3 cli pop q
expect_rc 3 cli pop q --try
expect_rc 3 cli push q more
expect_rc 3 cli push q --try more
expect_rc 3 cli pop q --count 2
expect_rc 1 cli push nosuch x
expect_rc 1 cli pop nosuch

# -0: records with every byte but NUL round-trip exactly.
expect_rc 0 cli create bin --capacity 10
i=1
while [ $i -le 255 ]; do
	printf "\\$(printf %03o $i)"
	i=$((i + 1))
done >"$dir/bytes"
{ cat "$dir/bytes"; printf '\0second\nrecord\0\0last-without-nul'; } \
    >"$dir/records"
cli push bin -0 <"$dir/records" || fail "push -0"
expect_rc 0 cli close bin
cli pop bin --all -0 >"$dir/out" || fail "pop --all -0"
{ cat "$dir/records"; printf '\0'; } >"$dir/want"
cmp "$dir/want" "$dir/out" || fail "-0 round trip differs"
expect_rc 0 cli delete bin

# stdin is read as it arrives: the producer writes the next line only
# after a consumer popped the previous one (a slurping push would hang).
expect_rc 0 cli create stream
mkfifo "$dir/in"
cli push stream <"$dir/in" &
ppid=$!
exec 4>"$dir/in"
for n in 1 2 3; do
	echo "line $n" >&4
	expect_out "line $n" cli pop stream --timeout 10000
done
exec 4>&-
wait $ppid || fail "streaming push exited $?"

# reserve / ack / release / touch, across processes (detached).
expect_rc 0 cli create jobs
expect_rc 0 cli push jobs job1 job2
line=$(cli reserve jobs) || fail "reserve"
id=${line%%"	"*}
[ "${line#*"	"}" = job1 ] || fail "reserve printed '$line'"
cli stat jobs | grep -qx 'in_flight: 1' || fail "reserve: not in flight"
expect_rc 0 cli touch jobs "$id"
expect_rc 0 cli release jobs "$id"
line=$(cli reserve jobs --timeout 1000) || fail "reserve again"
[ "${line%%"	"*}" = "$id" ] || fail "release did not put $id back"
expect_rc 0 cli ack jobs "$id"
expect_rc 1 cli ack jobs "$id"
expect_rc 1 cli release jobs 999999
expect_out job2 cli pop jobs
expect_rc 2 cli reserve jobs --timeout 0
expect_rc 4 cli reserve jobs --timeout 50
expect_rc 0 cli close jobs
expect_rc 3 cli reserve jobs
exit 0
