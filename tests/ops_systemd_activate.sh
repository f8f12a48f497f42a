#!/bin/sh
# ops_systemd_activate.sh - the daemon under a service manager: socket
# activation with readiness and watchdog notifications
# (systemd-socket-activate). Needs a --with-systemd build,
# systemd-socket-activate and python3: exits 77 (skipped) otherwise.

if ! grep -q '^#define HAVE_SYSTEMD 1' "$top_builddir/config.h"; then
	echo "SKIP: socket activation (built without --with-systemd)"
	exit 77
elif ! command -v systemd-socket-activate >/dev/null 2>&1; then
	echo "SKIP: socket activation (no systemd-socket-activate)"
	exit 77
elif ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: socket activation (no python3 for the notify listener)"
	exit 77
fi

. "$top_srcdir/tests/cli_lib.sh"

npid=

# cli_lib.sh's cleanup, plus the notify listener.
ops_cleanup() {
	if [ -n "$npid" ]; then
		kill "$npid" 2>/dev/null
		wait "$npid" 2>/dev/null
	fi
	cleanup
}
trap ops_cleanup EXIT

# Socket activation: systemd-socket-activate binds the socket and starts
# the daemon at the first connection with LISTEN_FDS and a NOTIFY_SOCKET
# that a small python3 listener reads. The daemon must serve that first
# connection on the inherited socket (same inode, no rebind), send READY=1
# and then watchdog pings at half of WATCHDOG_USEC.
mkfifo "$dir/notify.out" || exit 99
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
print("bound", flush=True)
ready = pings = 0
try:
    while pings < 2:
        msg = s.recv(4096).decode()
        if "READY=1" in msg.split("\n"):
            ready = 1
            print("READY=1", flush=True)
        elif msg == "WATCHDOG=1" and ready:
            pings += 1
            print("WATCHDOG=1", flush=True)
except socket.timeout:
    print("timeout", flush=True)
' "$dir/notify" >"$dir/notify.out" &
npid=$!
exec 4<"$dir/notify.out"
read -r line <&4
[ "$line" = bound ] || fail "notify listener did not start"

systemd-socket-activate -l "$dir/s" \
    -E NOTIFY_SOCKET="$dir/notify" -E WATCHDOG_USEC=200000 -- \
    "$CONQUEUED" -s "$dir/s" --instance "$inst" 2>>"$dir/daemon.log" &
dpid=$!
# Bounded poll: systemd-socket-activate binds before it waits.
i=0
while [ ! -S "$dir/s" ]; do
	i=$((i + 1))
	[ $i -le 500 ] || fail "systemd-socket-activate did not bind"
	kill -0 "$dpid" 2>/dev/null || fail "systemd-socket-activate died"
	sleep 0.01
done
inode=$(stat -c %i "$dir/s")
expect_rc 0 cli ping
read -r line <&4
[ "$line" = READY=1 ] || fail "no READY=1 (got '$line')"
read -r line <&4
[ "$line" = WATCHDOG=1 ] || fail "no watchdog ping (got '$line')"
read -r line <&4
[ "$line" = WATCHDOG=1 ] || fail "no second watchdog ping (got '$line')"
wait "$npid" || fail "notify listener failed"
npid=
exec 4<&-
[ "$(stat -c %i "$dir/s")" = "$inode" ] ||
    fail "the daemon rebound the socket instead of using the passed one"
grep -q 'using the socket passed by the service manager' \
    "$dir/daemon.log" || fail "the daemon did not take the passed socket"
expect_rc 0 cli create actq
expect_rc 0 cli push actq hello
expect_out hello cli pop actq
kill "$dpid"
wait "$dpid"
rc=$?
dpid=
[ "$rc" -eq 0 ] || fail "daemon exited $rc on SIGTERM"
exit 0
