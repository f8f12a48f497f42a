#!/bin/sh
# security_shm_full.sh - /dev/shm full: in a private mount namespace with a
# 2 MiB tmpfs on /dev/shm, a create whose reserved part does not fit fails
# with a clear CQ_LIMIT message and leaves no segment behind, a push that
# finds no memory for its message is CQ_LIMIT and changes nothing, the
# queues that exist keep working, and the daemon never dies of SIGBUS. Needs root
# (unshare -m); exits 77 (skipped) otherwise.

set -u
if [ "${CQ_IN_NS:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ] || ! unshare -m true 2>/dev/null; then
		echo "SKIP: needs root and unshare -m for a private /dev/shm"
		exit 77
	fi
	CQ_IN_NS=1
	export CQ_IN_NS
	# unshare makes the namespace's mounts private: the host's /dev/shm
	# is not touched.
	exec unshare -m sh -c \
	    'mount -t tmpfs -o size=2m tmpfs /dev/shm && exec sh "$0"' "$0"
fi

. "${top_srcdir:-.}/tests/cli_lib.sh"

# Number of our segments in the private /dev/shm (not the N.bell doorbell
# FIFOs made next to them for direct clients).
shm_files() {
	ls "/dev/shm/conqueue-$inst" 2>/dev/null | grep -v '\.bell$' | grep -c .
}

stat_field() {
	cli stat "$1" | sed -n "s/^$2: //p"
}

start_daemon
expect_rc 0 cli create small --capacity 16 --max-size 64
expect_rc 0 cli push small one two
# A queue whose reserved part (rings, tables: ~40 bytes a slot) does not
# fit: refused cleanly, nothing left behind.
cli create huge --capacity 1000000 --max-size 64 >/dev/null 2>"$dir/err" &&
    fail "a queue reserving 40 MB was created in a 2 MiB /dev/shm"
grep -q "CQ_LIMIT" "$dir/err" && grep -q "/dev/shm" "$dir/err" ||
    fail "unclear message for the failed create: $(cat "$dir/err")"
echo "create huge: $(cat "$dir/err")"
[ "$(shm_files)" -eq 1 ] || fail "a failed create left a segment: $(ls /dev/shm)"
# Queues cost what they hold (doc/varsize.md): eight default queues
# (512 KiB each) are created, and filling them finds the end of the
# tmpfs as a CQ_LIMIT push that changes nothing, never a SIGBUS.
head -c 60000 /dev/zero | tr '\0' x >"$dir/big"
i=0
limit=
while [ $i -lt 8 ] && [ -z "$limit" ]; do
	expect_rc 0 cli create "fill$i" --capacity 16 --max-size 65536
	n=0
	while [ $n -lt 9 ]; do
		cli push "fill$i" --timeout 0 "$(cat "$dir/big")" 2>"$dir/err"
		rc=$?
		if [ $rc -eq 0 ]; then
			n=$((n + 1))
			continue
		fi
		if grep -q "CQ_LIMIT" "$dir/err"; then
			limit=fill$i
			break
		fi
		# Full (exit 2): its 512 KiB are held (8 x 60000 bytes).
		[ $rc -eq 2 ] || fail "push: exit $rc: $(cat "$dir/err")"
		[ $n -eq 8 ] || fail "fill$i full after $n pushes"
		break
	done
	i=$((i + 1))
done
[ -n "$limit" ] || fail "4 MiB of messages went into a 2 MiB /dev/shm"
echo "$limit after $n pushes: $(cat "$dir/err")"
grep -q "/dev/shm" "$dir/err" || fail "unclear message: $(cat "$dir/err")"
expect_out "$n" stat_field "$limit" length
# Existing queues keep working: messages in and out, no SIGBUS.
expect_out one cli pop small
expect_rc 0 cli push small three
expect_out two cli pop small
expect_rc 0 cli ping
kill -0 "$dpid" || fail "the daemon died"
# Room again once fill0 drains: the daemon gives its pages back (about
# a second after the last change); wait for that state, bounded.
cli purge fill0 >/dev/null || fail "purge fill0"
t=0
until cli push "$limit" --timeout 0 "$(cat "$dir/big")" 2>"$dir/err"; do
	t=$((t + 1))
	[ $t -lt 300 ] || fail "no room after fill0 drained: $(cat "$dir/err")"
	sleep 0.1
done
expect_out $((n + 1)) stat_field "$limit" length
expect_rc 0 cli stat small
kill -TERM "$dpid"
wait "$dpid"
rc=$?
dpid=
[ $rc -eq 0 ] || fail "daemon exited $rc after SIGTERM"
echo "ok"
