#!/bin/sh
# cli_socket_fallback.sh - a user whose own default socket is absent
# reaches the system daemon at /run/conqueue/conqueued.sock (cq_connect(3)),
# and a failed connect names every path tried and the ways out. Runs in a
# private mount namespace with its own /run: needs root and unshare(1).

if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null 2>&1 ||
    ! command -v setpriv >/dev/null 2>&1 ||
    ! unshare --mount --propagation private true 2>/dev/null; then
	echo "SKIP: needs root, unshare and setpriv" >&2
	exit 77
fi
if [ -z "${CQ_FALLBACK_INNER:-}" ]; then
	CQ_FALLBACK_INNER=1 exec unshare --mount --propagation private \
	    sh "$0" "$@"
fi
. "${top_srcdir:-.}/tests/cli_lib.sh"

mount -t tmpfs -o mode=0755 tmpfs /run || fail "mount tmpfs on /run"
chmod 0755 "$dir"

# As an unprivileged user with no CONQUEUE_SOCKET and an empty runtime dir.
as_user() {
	env -u CONQUEUE_SOCKET XDG_RUNTIME_DIR="$dir/xdg" \
	    setpriv --reuid=65534 --regid=65534 --clear-groups \
	    $cq_timeout "$CONQUEUE_CLI" "$@"
}

# Nobody anywhere: exit 1, both paths with their reasons, and the fixes.
as_user ping 2>"$dir/err" && fail "ping succeeded with no daemon"
grep -q "tried $dir/xdg/conqueue/conqueued.sock: No such file" "$dir/err" ||
    fail "own default not listed: $(cat "$dir/err")"
grep -q "tried /run/conqueue/conqueued.sock: No such file" "$dir/err" ||
    fail "system socket not listed: $(cat "$dir/err")"
for fix in "systemctl start conqueued.socket" CONQUEUE_SOCKET usermod; do
	grep -q "$fix" "$dir/err" || fail "no '$fix' hint: $(cat "$dir/err")"
done

# The system daemon, its socket not open to us: refused, and told so.
mkdir -p /run/conqueue
mkfifo "$dir/ready" || exit 99
"$CONQUEUED" --instance "$inst" --ready-fd 3 -m 0660 \
    3>"$dir/ready" 2>>"$dir/daemon.log" &
dpid=$!
read -r line <"$dir/ready"
[ "$line" = ready ] || fail "daemon did not start"
[ -S /run/conqueue/conqueued.sock ] || fail "root's default is not /run"
as_user ping 2>"$dir/err" && fail "ping through a 0660 root socket"
grep -q "tried /run/conqueue/conqueued.sock: Permission denied" "$dir/err" ||
    fail "refusal not explained: $(cat "$dir/err")"

# Opened to us: the fallback reaches it, for the CLI and the library.
chmod 0666 /run/conqueue/conqueued.sock
as_user ping || fail "no fallback to the system socket"
as_user create fallback || fail "create through the fallback"
echo hello | as_user push fallback || fail "push through the fallback"
expect_out hello as_user pop fallback
# The CLI re-dials each path to explain a failure: check the library's own
# fallback with a program that only calls cq_connect(NULL).
env -u CONQUEUE_SOCKET XDG_RUNTIME_DIR="$dir/xdg" \
    setpriv --reuid=65534 --regid=65534 --clear-groups \
    $cq_timeout "${top_builddir:-.}/examples/pollable" 3 >"$dir/out" ||
    fail "cq_connect(NULL) did not fall back: exit $?"
[ "$(wc -l <"$dir/out")" -eq 3 ] || fail "pollable output: $(cat "$dir/out")"

# An explicit CONQUEUE_SOCKET is never second-guessed.
CONQUEUE_SOCKET=$dir/none setpriv --reuid=65534 --regid=65534 \
    --clear-groups "$CONQUEUE_CLI" ping 2>"$dir/err" &&
    fail "CONQUEUE_SOCKET=absent fell back"
grep -q "/run/conqueue" "$dir/err" && fail "fell back past CONQUEUE_SOCKET"
"$CONQUEUE_CLI" -s /run/conqueue/conqueued.sock delete fallback
exit 0
