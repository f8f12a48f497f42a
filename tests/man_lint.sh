#!/bin/sh
# man_lint.sh - every man page must be clean under mandoc -Tlint -Wwarning.
#
# Pages that are only ".so" links are checked for a target that exists
# instead, since mandoc resolves .so relative to the current directory.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"

if ! command -v mandoc >/dev/null 2>&1; then
	echo "SKIP: mandoc is not installed"
	exit 77
fi

fail=0
count=0
for page in "$top_srcdir"/man/*.[1-8]; do
	base=$(basename "$page")
	first=$(head -n 1 "$page")
	case "$first" in
	.so\ *)
		target=${first#.so }
		if [ ! -f "$top_srcdir/man/$(basename "$target")" ]; then
			echo "FAIL: $base: .so target $target does not exist"
			fail=1
		fi
		continue
		;;
	esac
	count=$((count + 1))
	# mandoc exits non-zero on warnings, but check the output too so a
	# message at any level counts.
	out=$(mandoc -Tlint -Wwarning "$page" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || [ -n "$out" ]; then
		echo "FAIL: $base (mandoc exit $rc):"
		echo "$out"
		fail=1
	fi
done

if [ "$count" -eq 0 ]; then
	echo "FAIL: no man pages found in $top_srcdir/man"
	exit 1
fi

# Every exported function of the public headers has a page (its own or a
# .so link to its family's), so "man cq_something" always works.
for fn in $(sed -n 's/.*CQ_EXPORT[^(]*[ *]\(cq_[a-z0-9_]*\)(.*/\1/p' \
    "$top_srcdir"/include/conqueue/*.h); do
	if [ ! -f "$top_srcdir/man/$fn.3" ]; then
		echo "FAIL: $fn is exported but man/$fn.3 does not exist"
		fail=1
	fi
done
echo "checked $count pages"
exit $fail
