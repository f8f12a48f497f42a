#!/bin/sh
# ops_systemd_security.sh - the generated unit's hardening score
# (systemd-analyze security, offline). Needs systemd-analyze with
# --offline: exits 77 (skipped) otherwise, and top_builddir (make check).

if ! command -v systemd-analyze >/dev/null 2>&1 ||
    ! systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
	echo "SKIP: systemd-analyze security --offline not available"
	exit 77
fi

. "$top_srcdir/tests/cli_lib.sh"

unit="$top_builddir/systemd/conqueued.service"

# Most exposure systemd-analyze may report for the unit, in its 0-100 scale
# (20 = 2.0, "OK"); the unit scores 0.7 today.
max_exposure=20

# systemd-analyze security: the unit scores at most 2.0, and the check is
# real: the same unit with its sandboxing stripped scores above it.
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
exit 0
