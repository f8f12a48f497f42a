#!/bin/sh
# all.sh - build and run the whole test suite: plain (--with-systemd),
# ASan+UBSan (without systemd, so both notify paths are tested), libFuzzer,
# valgrind, make distcheck, the Debian packages (also `make check-debian`).
#
# Builds out of tree in build-test/ and build-asan/ (next to this checkout's
# sources) so it never disturbs an in-progress build/. Exits non-zero if any
# test fails. Extra configure flags: CQ_CONFIGURE_FLAGS.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
jobs=${CQ_JOBS:-2}
cd "$src"

step() { printf '\n===== %s =====\n' "$*"; }

# Print every Check summary line and the automake counts of one build.
summary() {
	grep -h -E '^[0-9]+%: Checks: ' "$1"/tests/*.log 2>/dev/null || true
	sed -n 's/^# \(TOTAL\|PASS\|SKIP\|XFAIL\|FAIL\|XPASS\|ERROR\):/\1:/p' \
	    "$1/test-suite.log" 2>/dev/null | head -7 || true
}

# Show the logs of failed tests.
failures() {
	for f in "$1"/tests/*.trs; do
		[ -f "$f" ] || continue
		if grep -q -E ':test-result: (FAIL|ERROR)' "$f"; then
			log=${f%.trs}.log
			echo "----- $log"
			tail -n 60 "$log"
		fi
	done
}

step "autoreconf"
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi

step "plain build --with-systemd + make check (warnings are errors)"
mkdir -p build-test
(cd build-test && "$src/configure" -q --enable-werror --with-systemd --enable-crash-points \
    ${CQ_CONFIGURE_FLAGS:-} &&
    make -j"$jobs" >/dev/null && make -j"$jobs" check) || {
	failures build-test; summary build-test; exit 1; }
summary build-test

step "ASan + UBSan build + make check"
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
mkdir -p build-asan
# No -Werror here: -O1 makes gcc's truncation analysis noisier, and this
# build is about runtime checks; the plain build above enforces warnings.
(cd build-asan && "$src/configure" -q --enable-crash-points ${CQ_CONFIGURE_FLAGS:-} \
    CFLAGS="-O1 -g -fno-omit-frame-pointer $san" LDFLAGS="$san" &&
    make -j"$jobs" >/dev/null &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-3} \
    CQ_SANITIZER=1 make -j"$jobs" check) || {
	failures build-asan; summary build-asan; exit 1; }
summary build-asan

step "libFuzzer: frame decoder, ${CQ_FUZZ_TIME:-120} s under ASan+UBSan"
(cd build-test && make fuzz FUZZ_TIME="${CQ_FUZZ_TIME:-120}" >fuzz.log 2>&1) || {
	tail -n 60 build-test/fuzz.log; exit 1; }
grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' build-test/fuzz.log

step "valgrind over the Check suites (daemons included)"
(cd build-test && make -j"$jobs" check-valgrind) || {
	failures build-test; exit 1; }

step "make distcheck (the release tarball builds, passes make check, installs)"
(cd build-test && make -j"$jobs" distcheck >distcheck.log 2>&1) || {
	grep -E '^(FAIL|ERROR)|Error|error:' build-test/distcheck.log | head -n 40
	exit 1; }
grep -E 'archives ready for distribution|\.tar\.gz$' build-test/distcheck.log

step "Debian packages: dpkg-buildpackage, lintian, run what they install"
rc=0
top_srcdir="$src" sh "$src/tests/ops_debian.sh" || rc=$?
case $rc in
0) ;;
77) echo "skipped: no dpkg-buildpackage or debhelper" ;;
*) exit 1 ;;
esac

step "all passed"
# One closing line over the plain, sanitizer and valgrind runs.
count() {
	grep -h -E "^# $1: " build-test/test-suite.log build-asan/test-suite.log \
	    build-test/test-suite-valgrind.log 2>/dev/null |
	    awk '{ n += $3 } END { print n + 0 }'
}
echo "tests: $(count PASS) passed, $(( $(count FAIL) + $(count ERROR) )) failed, $(count SKIP) skipped"
