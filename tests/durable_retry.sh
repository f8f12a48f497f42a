#!/bin/sh
# durable_retry.sh - the timer's retry of a failed durable log runs
# between a read callback and its deferred group commit (a test hook of
# crash-point builds, $CONQUEUE_TEST_RETRY, makes that interleaving
# happen on every deferred commit): a pop whose state the retry failed
# to write must still never answer CQ_OK. Before the fix, the retry
# recorded the failed state as settled and the group commit skipped it:
# the pop answered its message, never written to the disk.

. "${top_srcdir:-.}/tests/cli_lib.sh"

lib="${top_builddir:-.}/tests/.libs/libcqfault.so"
[ -f "$lib" ] || { echo "no $lib: skipped"; exit 77; }
if ! grep -q -a 'test hook armed' "$CONQUEUED" 2>/dev/null; then
	echo "$CONQUEUED was built without crash points: skipped"
	exit 77
fi

STATE_DIRECTORY="$dir/state"
CQ_FAULT_FLAG="$dir/fault"
CONQUEUE_TEST_RETRY=1
export STATE_DIRECTORY CQ_FAULT_FLAG CONQUEUE_TEST_RETRY

set_mode() {
	printf '%s\n' "$1" >"$dir/mode.tmp" && mv -f "$dir/mode.tmp" "$CQ_FAULT_FLAG"
}

stat_field() {
	cli stat "$1" | sed -n "s/^$2: //p"
}

LD_PRELOAD="$lib"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export LD_PRELOAD ASAN_OPTIONS
start_daemon
unset LD_PRELOAD
grep -q "test hook armed" "$dir/daemon.log" && fail "hook armed before use"

# A healthy disk: the retry writes and syncs, the commit finds it done.
expect_rc 0 cli create al --durable=always
expect_rc 0 cli push al first
expect_rc 0 cli push al second
grep -q "test hook armed" "$dir/daemon.log" || fail "the hook never ran"

# A failing disk: each pop's state fails in the retry first; the pop
# must not answer, the message stays.
set_mode eio
for i in 1 2 3; do
	out=$(cli pop al --try 2>"$dir/err") && fail "pop $i answered '$out'"
	grep -q "CQ_DISCONNECTED" "$dir/err" || fail "pop $i: $(cat "$dir/err")"
done
expect_out 2 stat_field al length

# A disk whose syncs fail while writes succeed: the same.
set_mode sio
out=$(cli pop al --try 2>"$dir/err") && fail "pop (sio) answered '$out'"
grep -q "CQ_DISCONNECTED" "$dir/err" || fail "pop (sio): $(cat "$dir/err")"
expect_out 2 stat_field al length

# The disk is back: the messages come out in order, and a push works.
rm -f "$CQ_FAULT_FLAG"
expect_out first cli pop al --try
expect_rc 0 cli push al third
expect_out second cli pop al --try
expect_out third cli pop al --try
echo "durable retry ok"
