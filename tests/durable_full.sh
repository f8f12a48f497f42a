#!/bin/sh
# durable_full.sh - a durable queue on a full or failing disk (an
# LD_PRELOAD fault injector, tests/faultfs.c, makes writes to the logs
# fail while a flag file exists): a create or a push that cannot be made
# durable answers CQ_LIMIT and changes nothing; an operation whose group
# commit fails never gets CQ_OK; the daemon keeps serving other queues,
# and once the disk is back every acknowledged message survives a
# reboot.

. "${top_srcdir:-.}/tests/cli_lib.sh"

lib="${top_builddir:-.}/tests/.libs/libcqfault.so"
[ -f "$lib" ] || { echo "no $lib: skipped"; exit 77; }

STATE_DIRECTORY="$dir/state"
CQ_FAULT_FLAG="$dir/full"
export STATE_DIRECTORY CQ_FAULT_FLAG
logdir="$STATE_DIRECTORY/$inst"

# Switch the injector's mode in one step (a rename): the daemon's log
# calls may read the flag at any moment, and an "echo >" is seen empty
# (a full disk) between its truncate and its write.
set_mode() {
	printf '%s\n' "$1" >"$dir/mode.tmp" && mv -f "$dir/mode.tmp" "$CQ_FAULT_FLAG"
}

stat_field() {
	cli stat "$1" | sed -n "s/^$2: //p"
}

start_faulty() {
	LD_PRELOAD="$lib"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	export LD_PRELOAD ASAN_OPTIONS
	start_daemon
	unset LD_PRELOAD
}

start_faulty
expect_rc 0 cli create plain
expect_rc 0 cli create ok --durable=never

# A create on a full disk: CQ_LIMIT, no queue, no log.
touch "$CQ_FAULT_FLAG"
cli create al --durable=always 2>"$dir/err" && fail "create on a full disk"
grep -qi "limit" "$dir/err" || fail "create: $(cat "$dir/err")"
expect_rc 1 cli stat al
[ ! -e "$logdir/al.cqlog" ] || fail "a refused create left a log"
expect_rc 0 cli push plain p1
rm -f "$CQ_FAULT_FLAG"

# Pushes until the log's reservation is used up: then CQ_LIMIT, and the
# refused push changes nothing.
# Room for every slot (--max-bytes 4M): the log runs out first.
expect_rc 0 cli create al --durable=always --max-size 65536 --capacity 64 \
    --max-bytes 4M
head -c 60000 /dev/zero | tr '\0' x >"$dir/big"
expect_rc 0 cli push al first
touch "$CQ_FAULT_FLAG"
n=1
refused=0
while [ $n -lt 40 ]; do
	if cli push al "$(cat "$dir/big")" 2>"$dir/err"; then
		n=$((n + 1))
		continue
	fi
	grep -qi "limit" "$dir/err" || fail "push: $(cat "$dir/err")"
	refused=1
	break
done
[ $refused = 1 ] || fail "no push refused on a full disk"
expect_out $n stat_field al length
# Other queues are served meanwhile.
expect_rc 0 cli push plain p2
expect_out p1 cli pop plain --try
expect_rc 0 cli push ok o1

# A disk whose syncs fail while writes succeed: the sync runs off the
# loop (daemon/dsync.c), and a pop waiting for it still never answers
# CQ_OK; the message stays (it comes back with the dropped connection).
len=$(stat_field al length)
set_mode sio
out=$(cli pop al --try 2>"$dir/err") && fail "a pop whose sync failed answered '$out'"
grep -q "CQ_DISCONNECTED" "$dir/err" || fail "pop (sync failed): $(cat "$dir/err")"
grep -q "fdatasync: Input/output error" "$dir/daemon.log" ||
	fail "no failed sync in the log: $(cat "$dir/daemon.log")"
expect_rc 0 cli push plain p3
expect_out p2 cli pop plain --try
expect_out "$len" stat_field al length

# A failing disk (EIO): a pop whose commit cannot reach the disk never
# answers CQ_OK (the connection is dropped); plain queues still work.
set_mode eio
out=$(cli pop al --try 2>"$dir/err") && fail "a pop answered '$out'"
grep -q "CQ_DISCONNECTED" "$dir/err" || fail "pop: $(cat "$dir/err")"
expect_rc 0 cli push plain p4
expect_out p3 cli pop plain --try

# The disk is back: everything works, and survives kill -9 plus a reboot.
rm -f "$CQ_FAULT_FLAG"
expect_rc 0 cli push al last
len=$(stat_field al length)
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
dpid=
rm -rf /dev/shm/conqueue-"$inst" /dev/shm/conqueue-"$inst"-*
start_faulty
expect_out "$len" stat_field al length
expect_out first cli pop al --try

echo "durable full ok"
