#!/bin/sh
# ops_symbols.sh - debian/libconqueue-client0.symbols and
# debian/libconqueue-event0.symbols list exactly the symbols the built
# libraries export, so a new cq_ function cannot reach the Debian build
# (which fails on any difference, dpkg-gensymbols -c4) unannounced.
# Regenerate a file with: dpkg-gensymbols -pPACKAGE -vVERSION
# -e.libs/LIB.so.0 -O (then add the Build-Depends-Package line back).
#
# Exits 77 without nm or a shared library build.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
command -v nm >/dev/null 2>&1 || { echo "SKIP: no nm"; exit 77; }

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
rc=0
for lib in client event; do
	so=$top_builddir/.libs/libconqueue-$lib.so.0
	sym=$top_srcdir/debian/libconqueue-${lib}0.symbols
	[ -f "$so" ] || { echo "SKIP: no $so (static build?)"; exit 77; }
	[ -f "$sym" ] || { echo "FAIL: no $sym"; exit 1; }
	head -n 1 "$sym" | grep -q "^libconqueue-$lib\.so\.0 libconqueue-${lib}0 " ||
	    { echo "FAIL: $sym: header '$(head -n 1 "$sym")'"; rc=1; }
	nm -D --defined-only "$so" | awk 'NF == 3 && $2 ~ /^[A-Z]$/ { print $3 }' |
	    sort >"$tmp/exported"
	sed -n 's/^ \([^@ ]*\)@Base .*/\1/p' "$sym" | sort >"$tmp/listed"
	[ -s "$tmp/exported" ] || { echo "FAIL: nm found no symbols in $so"; rc=1; }
	if ! diff -u "$tmp/listed" "$tmp/exported" >"$tmp/diff"; then
		echo "FAIL: $sym does not match the exports of $so (- listed only, + exported only):"
		tail -n +3 "$tmp/diff" | grep '^[-+]'
		rc=1
	fi
done
[ $rc -eq 0 ] && echo "symbols files match the exports of both libraries"
exit $rc
