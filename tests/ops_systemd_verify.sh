#!/bin/sh
# ops_systemd_verify.sh - both units parse and reference an executable
# (systemd-analyze verify). Needs systemd-analyze with --man: exits 77
# (skipped) otherwise, and top_builddir (make check).

if ! command -v systemd-analyze >/dev/null 2>&1 ||
    ! systemd-analyze verify --help 2>/dev/null | grep -q -- --man; then
	echo "SKIP: systemd-analyze verify --man not available"
	exit 77
fi

. "$top_srcdir/tests/cli_lib.sh"

unit="$top_builddir/systemd/conqueued.service"
socket_unit="$top_srcdir/systemd/conqueued.socket"

# systemd-analyze verify: both units parse and reference an executable
# (the built daemon stands in for the installed one; man pages are not
# installed here, so --man=no).
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
exit 0
