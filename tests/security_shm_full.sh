#!/bin/sh
# security_shm_full.sh - /dev/shm full: in a private mount namespace with a
# 2 MiB tmpfs on /dev/shm, a create that does not fit fails with a clear
# CQ_LIMIT/CQ_SYSTEM message and leaves no segment behind, the queues that
# exist keep working, and the daemon never dies of SIGBUS. Needs root
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

start_daemon
expect_rc 0 cli create small --capacity 16 --max-size 64
expect_rc 0 cli push small one two
# Far larger than the tmpfs: refused cleanly, nothing left behind.
cli create huge --capacity 1000 --max-size 65536 >/dev/null 2>"$dir/err" &&
    fail "a 64 MiB queue was created in a 2 MiB /dev/shm"
grep -q "CQ_LIMIT" "$dir/err" && grep -q "/dev/shm" "$dir/err" ||
    fail "unclear message for the failed create: $(cat "$dir/err")"
echo "create huge: $(cat "$dir/err")"
[ "$(shm_files)" -eq 1 ] || fail "a failed create left a segment: $(ls /dev/shm)"
# Fill the rest with 256 KiB queues until one does not fit.
i=0
while [ $i -lt 20 ]; do
	cli create "fill$i" --capacity 4 --max-size 65536 >/dev/null \
	    2>"$dir/err" || break
	i=$((i + 1))
done
[ $i -lt 20 ] || fail "20 queues of 256 KiB fit in 2 MiB"
[ $i -ge 1 ] || fail "not even one 256 KiB queue fit"
echo "fill$i: $(cat "$dir/err")"
grep -q "CQ_LIMIT" "$dir/err" || fail "fill$i: $(cat "$dir/err")"
[ "$(shm_files)" -eq $((i + 1)) ] || fail "a failed create left a segment"
# Existing queues keep working: messages in and out, no SIGBUS.
expect_out one cli pop small
expect_rc 0 cli push small three
expect_out two cli pop small
expect_rc 0 cli push fill0 --timeout 0 "$(head -c 60000 /dev/zero | tr '\0' x)"
expect_rc 0 cli pop fill0 --try
expect_rc 0 cli ping
kill -0 "$dpid" || fail "the daemon died"
# Room again after a delete.
expect_rc 0 cli delete fill0
expect_rc 0 cli create again --capacity 4 --max-size 65536
expect_rc 0 cli stat small
kill -TERM "$dpid"
wait "$dpid"
rc=$?
dpid=
[ $rc -eq 0 ] || fail "daemon exited $rc after SIGTERM"
echo "ok"
