#!/bin/sh
# cli_basic.sh - conqueue-cli queue management, --help, --json, exit status.

. "${top_srcdir:-.}/tests/cli_lib.sh"

# --help (and -h) on the tool and every command: usage on stdout, exit 0.
for c in "" ping create delete list stat push pop close pause resume \
    reserve ack release touch info; do
	out=$("$CONQUEUE_CLI" $c --help) || fail "$c --help exited $?"
	case $out in *usage*) ;; *) fail "$c --help printed no usage" ;; esac
	"$CONQUEUE_CLI" $c -h >/dev/null || fail "$c -h exited $?"
done
expect_rc 0 "$CONQUEUE_CLI" -V
# Bad usage: message on stderr, exit 1.
expect_rc 64 "$CONQUEUE_CLI"
expect_rc 64 "$CONQUEUE_CLI" frobnicate
expect_rc 64 "$CONQUEUE_CLI" --bogus ping
expect_rc 64 "$CONQUEUE_CLI" stat
expect_rc 1 "$CONQUEUE_CLI" stat a b
expect_rc 64 "$CONQUEUE_CLI" pop q --count
expect_rc 64 "$CONQUEUE_CLI" pop q --count 0
expect_rc 64 "$CONQUEUE_CLI" pop q --count 2 --all
expect_rc 64 "$CONQUEUE_CLI" create q --mode 9
expect_rc 64 "$CONQUEUE_CLI" create q --priorities 9
expect_rc 64 "$CONQUEUE_CLI" ack q notanumber
"$CONQUEUE_CLI" frobnicate 2>&1 >/dev/null | grep -q . ||
    fail "no message on stderr for a bad command"

# No daemon yet: exit 1 with a message.
expect_rc 1 cli ping

start_daemon
expect_rc 0 cli ping
CONQUEUE_SOCKET=$dir/s expect_rc 0 "$CONQUEUE_CLI" ping

# create: defaults, attributes, errors.
expect_rc 0 cli create jobs
expect_rc 1 cli create jobs
expect_rc 0 cli create jobs --exist-ok
# --exist-ok succeeds whatever the queue's state (paused, a message
# reserved, closed) and changes nothing.
expect_rc 0 cli create states --capacity 7
expect_rc 0 cli push states one
expect_rc 0 cli pause states
expect_rc 0 cli create states --exist-ok --capacity 9
expect_rc 0 cli resume states
cli reserve states --timeout 0 >/dev/null || fail "reserve states"
expect_rc 0 cli create states --exist-ok
expect_rc 0 cli close states
expect_rc 0 cli create states --exist-ok
cli stat states >"$dir/stat" || fail "stat states failed"
grep -qx 'capacity: 7' "$dir/stat" || fail "--exist-ok changed capacity"
grep -qx 'closed: true' "$dir/stat" || fail "--exist-ok reopened it"
expect_rc 0 cli delete states
expect_rc 64 cli create 'bad name'
expect_rc 64 cli create .hidden
expect_rc 0 cli create --capacity 5 com.example.big --max-size 10 \
    --priorities 3 --mode 0640
cli stat jobs >"$dir/stat" || fail "stat failed"
grep -qx 'name: jobs' "$dir/stat" || fail "stat: name"
grep -qx 'capacity: 1024' "$dir/stat" || fail "stat: default capacity"
grep -qx 'max_size: 65536' "$dir/stat" || fail "stat: default max_size"
grep -qx 'bands: 1' "$dir/stat" || fail "stat: default bands"
grep -qx 'mode: 0600' "$dir/stat" || fail "stat: default mode"
grep -qx 'length: 0' "$dir/stat" || fail "stat: length"
grep -qx 'closed: false' "$dir/stat" || fail "stat: closed"
cli stat com.example.big | grep -qx 'mode: 0640' || fail "stat: mode"
cli --json stat com.example.big | json_check \
    '.name == "com.example.big" and .capacity == 5 and .max_size == 10
     and .bands == 3 and .mode == 416 and .closed == false'
cli stat jobs --json | json_check '.name == "jobs" and .length == 0'
expect_rc 1 cli stat nosuch
cli stat nosuch 2>&1 | grep -q nosuch || fail "stat: no reason given"

# list, text and JSON.
expect_out "$(printf 'com.example.big\njobs')" sh -c \
    "\"$CONQUEUE_CLI\" -s \"$dir/s\" list | sort"
cli --json list | json_check \
    'length == 2 and (map(.name) | sort) == ["com.example.big", "jobs"]'

# info, text and JSON.
cli info >"$dir/info" || fail "info failed"
grep -q '^version: ' "$dir/info" || fail "info: version"
grep -qx "pid: $dpid" "$dir/info" || fail "info: pid"
grep -qx 'queues: 2' "$dir/info" || fail "info: queues"
cli --json info | json_check ".pid == $dpid and .queues == 2 and
    (.version | type) == \"string\" and .connections >= 1"

# close, pause, resume.
expect_rc 0 cli pause jobs
cli stat jobs | grep -qx 'paused: true' || fail "pause"
expect_rc 0 cli push jobs x
expect_rc 2 cli pop jobs --try
expect_rc 0 cli resume jobs
expect_out x cli pop jobs --try
expect_rc 0 cli close jobs
expect_rc 0 cli close jobs
cli stat jobs | grep -qx 'closed: true' || fail "close"
expect_rc 1 cli close nosuch
expect_rc 1 cli pause nosuch

# delete.
expect_rc 0 cli delete jobs
expect_rc 1 cli delete jobs
expect_rc 1 cli stat jobs
expect_out com.example.big cli list

# The direct path: on by default, off for a queue created --no-direct and
# for a client that says CONQUEUE_DIRECT=0; info NAME tells which.
expect_rc 0 cli create fast
expect_rc 0 cli create slow --no-direct
cli info fast | grep -qx 'direct: true' || fail "info fast: not direct"
cli info slow | grep -qx 'direct: false' || fail "info slow: direct"
CONQUEUE_DIRECT=0 cli info fast | grep -qx 'direct: false' ||
	fail "CONQUEUE_DIRECT=0 info fast: direct"
cli stat slow | grep -qx 'no_direct: true' || fail "stat slow: no_direct"
cli stat fast | grep -qx 'no_direct: false' || fail "stat fast: no_direct"
cli --json info slow | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["direct"] is False and d["queue"] == "slow" and "pid" in d["daemon"]' ||
	fail "info --json slow"
expect_rc 0 cli push slow s1
expect_out s1 cli pop slow
expect_rc 1 cli info nosuch
expect_rc 0 cli delete fast
expect_rc 0 cli delete slow
exit 0
