#!/bin/sh
# daemon_activation.sh - a listening socket passed the way a service manager
# does (fd 3, LISTEN_FDS=1, LISTEN_PID=the daemon's pid) is served as is,
# whatever the build (--with-systemd or not): the daemon binds nothing of
# its own, and the first client does not hang. A socket meant for another
# pid is not taken.

. "${top_srcdir:-.}/tests/cli_lib.sh"

command -v python3 >/dev/null 2>&1 || { echo "SKIP: no python3" >&2; exit 77; }

# activate SOCKET PIDFIX CMD...: bind and listen on SOCKET, then exec CMD
# with it as fd 3 and LISTEN_PID = its own pid + PIDFIX (exec keeps the pid;
# run it in the background, where exec replaces the subshell: $! is CMD).
activate() {
	exec python3 - "$@" <<'PY'
import os, socket, sys
path, fix, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid() + fix))
os.execve(argv[0], argv, env)
PY
}

# start_activated SOCKET PIDFIX: conqueued on a passed socket, ready on fd 4;
# left to itself it would bind $dir/own.sock.
start_activated() {
	mkfifo "$dir/ready" || exit 99
	CONQUEUE_SOCKET=$dir/own.sock activate "$1" "$2" "$CONQUEUED" \
	    --instance "$inst" --ready-fd 4 4>"$dir/ready" \
	    2>>"$dir/daemon.log" &
	dpid=$!
	read -r line <"$dir/ready"
	rm -f "$dir/ready"
	[ "$line" = ready ] || fail "daemon did not start"
}

# Passed to us: served on that socket, nothing bound of its own, one line
# in the log saying so, and a message round trip through it.
start_activated "$dir/act.sock" 0
[ -e "$dir/own.sock" ] && fail "the daemon bound its own socket"
$cq_timeout "$CONQUEUE_CLI" -s "$dir/act.sock" ping ||
    fail "ping on the passed socket"
grep -q "socket passed by the service manager" "$dir/daemon.log" ||
    fail "no log line for the passed socket"
expect_rc 0 "$CONQUEUE_CLI" -s "$dir/act.sock" create act
expect_rc 0 "$CONQUEUE_CLI" -s "$dir/act.sock" push act hello
expect_out hello "$CONQUEUE_CLI" -s "$dir/act.sock" pop act
kill "$dpid"
wait "$dpid" || fail "daemon exit status $? after SIGTERM"
dpid=

# LISTEN_PID names another process: not ours, so bind our own socket.
rm -f "$dir/act.sock"
start_activated "$dir/act.sock" 1
[ -S "$dir/own.sock" ] || fail "a socket passed to another pid was taken"
[ "$(grep -c "socket passed by the service manager" "$dir/daemon.log")" -eq 1 ] ||
    fail "took a socket passed to another pid"
"$CONQUEUE_CLI" -s "$dir/own.sock" ping || fail "ping on the daemon's own socket"
exit 0
