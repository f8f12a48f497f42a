#!/bin/sh
# smoke.sh - conqueue-bench --quick on A-64 prints a verified figure for
# every system, and a corrupted message fails the run (the checks work).
#
# Uses $top_builddir/conqueue-bench (else ./conqueue-bench) and the daemon
# in $CONQUEUED (else $top_builddir/conqueued). Exit 0 pass, 1 fail.
set -u

top=${top_builddir:-.}
bench=$top/conqueue-bench
CONQUEUED=${CONQUEUED:-$top/conqueued}
export CONQUEUED
out=$(mktemp "${TMPDIR:-/tmp}/cqbench-smoke.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT
trap 'exit 1' HUP INT TERM PIPE
fail=0

# Report a failed expectation and show the output it was about.
bad() {
	echo "FAIL: $*"
	sed 's/^/| /' "$out"
	fail=1
}

# 1. Every system gives a figure on A-64 (boost: or "not built");
#    conqueue in every flavour, on both paths.
if ! "$bench" --quick -r 1 -t 60 -w A-64 >"$out" 2>&1; then
	bad "conqueue-bench --quick -w A-64 exited non-zero"
fi
for re in \
    '^A-64 +socketpair +- +[0-9]+ msg/s' \
    '^A-64 +posix-mq +- +[0-9]+ msg/s' \
    '^A-64 +conqueue +sync +[0-9]+ msg/s +[0-9.]+x +[0-9.]+x' \
    '^A-64 +conqueue +async +[0-9]+ msg/s +[0-9.]+x +[0-9.]+x' \
    '^A-64 +conqueue +batch +[0-9]+ msg/s +[0-9.]+x +[0-9.]+x' \
    '^A-64 +conqueue +sbatch +[0-9]+ msg/s +[0-9.]+x +[0-9.]+x' \
    '^A-64 +conqueue +dsync +[0-9]+ msg/s +[0-9.]+x +[0-9.]+x' \
    '^A-64 +conqueue +dbatch +[0-9]+ msg/s +[0-9.]+x +[0-9.]+x' \
    '^A-64 +conqueue +dsbatch +[0-9]+ msg/s +[0-9.]+x +[0-9.]+x' \
    '^A-64 +boost +- +([0-9]+ msg/s|not built)' \
    '^direct: (verified|unverified) ' \
    '^target +dsync A-64 / POSIX mq A-64 +[0-9.]+x' \
    '^target +dbatch A-64 / POSIX mq A-64 +[0-9.]+x' \
    '^target +batch A-64 / POSIX mq A-64 +[0-9.]+x' \
    '^target +async A-64 / POSIX mq A-64 +[0-9.]+x' \
    '^daemon: CPU [0-9.]+ s in all, peak RSS \(VmHWM\) [0-9]+ kB' \
    '^result: all runs passed their checks'; do
	grep -Eq "$re" "$out" || bad "no line matching: $re"
done

# 2. A duplicated message must fail the run, for every system.
if CQ_BENCH_INJECT=dup "$bench" --quick -r 1 -t 60 -w A-64 -f sync \
    >"$out" 2>&1; then
	bad "a duplicated message did not fail the run"
fi
for sys in socketpair posix-mq conqueue; do
	grep -Eq "^A-64 +$sys +[-a-z]+ +FAILED" "$out" ||
	    bad "$sys: duplicate not detected"
done
if ! grep -Eq '^A-64 +boost +- +not built' "$out"; then
	grep -Eq '^A-64 +boost +- +FAILED' "$out" ||
	    bad "boost: duplicate not detected"
fi
if CQ_BENCH_INJECT=dup "$bench" --quick -r 1 -t 60 -w A-64 -f dsync \
    -S conqueue >"$out" 2>&1; then
	bad "a duplicated message did not fail the dsync run"
fi
grep -Eq '^A-64 +conqueue +dsync +FAILED' "$out" ||
    bad "dsync: duplicate not detected"

# 3. So must a corrupted payload (socket and direct batch).
if CQ_BENCH_INJECT=corrupt "$bench" --quick -r 1 -t 60 -w A-64 \
    -f batch,dbatch \
    -S conqueue >"$out" 2>&1; then
	bad "a corrupted message did not fail the run"
fi
for fl in batch dbatch; do
	grep -Eq "^A-64 +conqueue +$fl +FAILED" "$out" ||
	    bad "$fl: corruption not detected"
done
grep -q 'payload corrupt' "$out" || bad "corruption not reported"

[ $fail -eq 0 ] && echo "PASS: bench smoke"
exit $fail
