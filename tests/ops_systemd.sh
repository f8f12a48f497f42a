#!/bin/sh
# ops_systemd.sh - the daemon under a service manager: the generated unit's
# hardening score and syntax (systemd-analyze, offline), and socket
# activation with readiness and watchdog notifications
# (systemd-socket-activate, a --with-systemd build only).
#
# Parts whose tool is missing are skipped; if every part is skipped the
# test exits 77. Needs top_builddir (set by make check).

. "$top_srcdir/tests/cli_lib.sh"

unit="$top_builddir/systemd/conqueued.service"
socket_unit="$top_srcdir/systemd/conqueued.socket"
ran=0
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

# Most exposure systemd-analyze may report for the unit, in its 0-100 scale
# (20 = 2.0, "OK"); the unit scores 0.7 today.
max_exposure=20

# systemd-analyze security: the unit scores at most 2.0, and the check is
# real: the same unit with its sandboxing stripped scores above it.
if command -v systemd-analyze >/dev/null 2>&1 &&
    systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
	ran=1
	[ -f "$unit" ] || fail "$unit was not generated"
	cp "$unit" "$dir/conqueued.service"
	systemd-analyze security --offline=true --no-pager \
	    --threshold=$max_exposure "$dir/conqueued.service" \
	    >"$dir/security.out" 2>&1 ||
	    fail "exposure above 2.0: $(tail -n 3 "$dir/security.out")"
	grep 'Overall exposure level' "$dir/security.out" ||
	    fail "no exposure figure: $(tail -n 3 "$dir/security.out")"
	mkdir "$dir/weak"
	grep -v -E '^(Protect|Private|Restrict|SystemCall|Capability|NoNew)' \
	    "$unit" >"$dir/weak/conqueued.service"
	if systemd-analyze security --offline=true --no-pager \
	    --threshold=$max_exposure "$dir/weak/conqueued.service" \
	    >/dev/null 2>&1; then
		fail "an unhardened unit passes the exposure threshold"
	fi
else
	echo "SKIP: systemd-analyze security --offline not available"
fi

# systemd-analyze verify: both units parse and reference an executable
# (the built daemon stands in for the installed one; man pages are not
# installed here, so --man=no).
if command -v systemd-analyze >/dev/null 2>&1 &&
    systemd-analyze verify --help 2>/dev/null | grep -q -- --man; then
	ran=1
	mkdir "$dir/verify"
	sed -e "s|^ExecStart=[^ ]*|ExecStart=$CONQUEUED|" "$unit" \
	    >"$dir/verify/conqueued.service"
	grep -q "^ExecStart=$CONQUEUED " "$dir/verify/conqueued.service" ||
	    fail "no ExecStart line in $unit"
	cp "$socket_unit" "$dir/verify/conqueued.socket"
	(cd "$dir/verify" && systemd-analyze verify --man=no \
	    conqueued.service conqueued.socket) >"$dir/verify.out" 2>&1 ||
	    fail "systemd-analyze verify: $(cat "$dir/verify.out")"
	[ ! -s "$dir/verify.out" ] ||
	    fail "systemd-analyze verify warns: $(cat "$dir/verify.out")"
	# A unit with a bad ExecStart must fail the same check.
	sed -e "s|^ExecStart=[^ ]*|ExecStart=$dir/nonexistent|" "$unit" \
	    >"$dir/verify/bad.service"
	if (cd "$dir/verify" && systemd-analyze verify --man=no \
	    bad.service) >/dev/null 2>&1; then
		fail "systemd-analyze verify accepts a missing executable"
	fi
else
	echo "SKIP: systemd-analyze verify --man not available"
fi

# Socket activation: systemd-socket-activate binds the socket and starts
# the daemon at the first connection with LISTEN_FDS and a NOTIFY_SOCKET
# that a small python3 listener reads. The daemon must serve that first
# connection on the inherited socket (same inode, no rebind), send READY=1
# and then watchdog pings at half of WATCHDOG_USEC.
if ! grep -q '^#define HAVE_SYSTEMD 1' "$top_builddir/config.h"; then
	echo "SKIP: socket activation (built without --with-systemd)"
elif ! command -v systemd-socket-activate >/dev/null 2>&1; then
	echo "SKIP: socket activation (no systemd-socket-activate)"
elif ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: socket activation (no python3 for the notify listener)"
else
	ran=1
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
fi

[ "$ran" -eq 1 ] || exit 77
exit 0
