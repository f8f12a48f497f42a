#!/bin/sh
# cli_help.sh - help CMD and CMD --help, the usage-error status (64) with
# value ranges, -v summaries, stat with several names, list -l, create
# --mode 0000, and the bash completion's queue names.

. "${top_srcdir:-.}/tests/cli_lib.sh"

start_daemon
out=$(cli help pop) || fail "help pop exited $?"
[ "$out" = "$(cli pop --help)" ] || fail "help pop differs from pop --help"
echo "$out" | grep -q '^usage: conqueue-cli pop NAME' || fail "help pop: $out"
expect_rc 64 cli help nosuch
expect_rc 64 cli frobnicate
expect_rc 64 cli create q --priorities 9
grep -q "must be 1 to 8" "$dir/stderr" || fail "no range: $(cat "$dir/stderr")"

expect_rc 0 cli create q --mode 0000
expect_out 0000 sh -c "'$CONQUEUE_CLI' -s '$dir/s' stat q | sed -n 's/^mode: //p'"
expect_rc 0 cli create jobs --capacity 2
cli -v push jobs a b c --try 2>"$dir/err" </dev/null
[ $? -eq 2 ] || fail "push past capacity: want exit 2"
grep -q "pushed 2 of 3: queue is full" "$dir/err" || fail "-v: $(cat "$dir/err")"
# not a terminal: no message for full
cli push jobs x --try 2>"$dir/err"
[ -s "$dir/err" ] && fail "a message for full in a script: $(cat "$dir/err")"

cli stat q jobs >"$dir/out" || fail "stat q jobs"
[ "$(grep -c '^name: ' "$dir/out")" -eq 2 ] || fail "stat of two queues"
cli --json stat q jobs | json_check 'length == 2'
cli list -l >"$dir/out" || fail "list -l"
head -n 1 "$dir/out" | grep -q 'NAME *DEPTH *CAPACITY *IN-FLIGHT *WAITERS *MODE *OWNER *MEMORY' ||
    fail "list -l header: $(head -n 1 "$dir/out")"
grep -q '^jobs  *2  *2  *0  *0/0 0600 ' "$dir/out" || fail "list -l row: $(cat "$dir/out")"

# bash completion offers the queue names from list.
comp=${top_srcdir:-.}/completion/conqueue-cli
if command -v bash >/dev/null 2>&1 && [ -f /usr/share/bash-completion/bash_completion ]; then
	got=$(PATH=$(dirname "$CONQUEUE_CLI"):$PATH bash -c '
	    . /usr/share/bash-completion/bash_completion
	    . "$1"
	    COMP_WORDS=(conqueue-cli -s "$2" pop j); COMP_CWORD=4
	    COMP_LINE="conqueue-cli -s $2 pop j"; COMP_POINT=${#COMP_LINE}
	    _conqueue_cli; echo "${COMPREPLY[*]}"' sh "$comp" "$dir/s")
	[ "$got" = jobs ] || fail "bash completion offered '$got'"
fi
exit 0
