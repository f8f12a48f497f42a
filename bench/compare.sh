#!/bin/sh
# compare.sh - conqueue against an earlier conqueue in the same run: build
# REV (default: the last commit before the variable-size layout, issue 17)
# in a scratch worktree, then alternate the two builds' conqueue-bench on
# the same workloads (A-64, A-4K, C-64 x sync, batch, dsync, plus the size
# sweep's 16-64 KiB), ROUNDS times (default 3), and print each figure's
# median per build and the ratio new/old. Ratios of the same run, never
# absolute figures: the machine is shared.
#
#   sh bench/compare.sh [REV]        (from a configured build directory:
#                                     top_builddir=. top_srcdir=..)
#   make bench-compare BENCH_REV=... BENCH_ROUNDS=... (BENCH_QUICK=1: -q)
set -eu

top_srcdir=${top_srcdir:-..}
top_builddir=${top_builddir:-.}
rev=${1:-${BENCH_REV:-}}
rounds=${BENCH_ROUNDS:-3}
quick=
[ -z "${BENCH_QUICK:-}" ] || quick=-q
if [ -z "$rev" ]; then
	# The parent of the commit that introduced QUEUE_LAYOUT 3.
	c=$(git -C "$top_srcdir" log --format=%H -S'#define QUEUE_LAYOUT         3' \
	    -- core/layout.h | tail -n 1)
	[ -n "$c" ] || { echo "compare.sh: no layout-3 commit: give REV" >&2; exit 2; }
	rev="$c~1"
fi
old=$(git -C "$top_srcdir" rev-parse --short "$rev")
new=$(git -C "$top_srcdir" rev-parse --short HEAD)
work=${TMPDIR:-/tmp}/cqcompare-$old
if [ ! -x "$work/build/conqueue-bench" ]; then
	rm -rf "$work"
	git -C "$top_srcdir" worktree add --detach "$work/src" "$rev" >/dev/null
	(cd "$work/src" && autoreconf -fi >/dev/null 2>&1)
	mkdir -p "$work/build"
	(cd "$work/build" && "$work/src/configure" -q --without-boost >/dev/null &&
	    make -j2 conqueued conqueue-bench >/dev/null 2>&1) ||
	    { echo "compare.sh: building $old failed" >&2; exit 1; }
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { # build-dir tag round
	CONQUEUED="$1/conqueued" "$1/conqueue-bench" -r 1 -S conqueue $quick \
	    -w A-64,A-4K,C-64 -f sync,batch,dsync --sizes "$out/$2.sizes.$3" \
	    >"$out/$2.$3" 2>&1 || true
	awk '$2 == "conqueue" && $5 == "msg/s" { print $1, $3, $4 }' \
	    "$out/$2.$3" >>"$out/$2.all"
	# The sweep's large sizes (16-64 KiB), dsync and sync: size MB/s.
	awk '/^# size/ { for (i = 3; i <= NF; i++) col[i - 1] = $i; next }
	    /^#/ { next }
	    $1 >= 16384 { for (i = 2; i <= NF; i++) print "S-" $1, col[i], $i }' \
	    "$out/$2.sizes.$3" >>"$out/$2.all" 2>/dev/null || true
}
i=1
while [ "$i" -le "$rounds" ]; do
	run "$work/build" old "$i"
	run "$top_builddir" new "$i"
	i=$((i + 1))
done

echo "conqueue $new against $old, $rounds rounds alternating (medians)"
printf '%-10s %-8s %12s %12s %8s\n' figure flavour "$old" "$new" new/old
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan";
    else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR/2] + v[NR/2+1]) / 2 }'; }
awk '{ print $1, $2 }' "$out/new.all" | sort -u | while read -r w f; do
	o=$(awk -v w="$w" -v f="$f" '$1 == w && $2 == f { print $3 }' "$out/old.all" | median)
	n=$(awk -v w="$w" -v f="$f" '$1 == w && $2 == f { print $3 }' "$out/new.all" | median)
	awk -v w="$w" -v f="$f" -v o="$o" -v n="$n" 'BEGIN {
	    r = (o > 0) ? n / o : 0
	    if (w ~ /^S-/) note = (r >= 1.0) ? "" : "  (slower)"
	    else note = (r >= 0.9) ? "" : "  (below 0.9x)"
	    printf "%-10s %-8s %12.0f %12.0f %7.2fx%s\n", w, f, o, n, r, note }'
done
