#!/bin/sh
# man_examples.sh - compile every C program in the EXAMPLES of the man pages.
#
# Each ".Bd -literal" ... ".Ed" block of an EXAMPLES section that contains
# an #include line is a complete program: it is turned from roff back into
# C and compiled (not linked, no daemon needed) against the public headers
# of this tree, so a page cannot drift from include/conqueue/.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${CC:=cc}"
# Flags for the libraries some examples include (libevent), from configure.
: "${EXAMPLE_CFLAGS:=}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/man_examples.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

fail=0
count=0
for page in "$top_srcdir"/man/*.[1-8]; do
	# Stubs that only point at another page (.so) have no examples.
	head -n 1 "$page" | grep -q '^\.so ' && continue
	base=$(basename "$page")
	# Split the EXAMPLES section into ex-N.c files, undoing the roff
	# escapes that literal blocks need (\e for a backslash, \& to protect
	# a leading dot, \(aq and \(dq for quotes, \- for a minus).
	rm -f "$tmp"/ex-*.c
	awk -v dir="$tmp" '
		/^\.Sh / { inex = ($2 == "EXAMPLES"); next }
		inex && /^\.Bd -literal/ { inblk = 1; n++; buf = ""; next }
		inblk && /^\.Ed/ {
			inblk = 0
			if (buf ~ /#include/) {
				f = sprintf("%s/ex-%d.c", dir, n)
				printf "%s", buf > f
				close(f)
			}
			next
		}
		inblk {
			line = $0
			gsub(/\\&/, "", line)
			gsub(/\\\(aq/, "\047", line)
			gsub(/\\\(dq/, "\"", line)
			gsub(/\\-/, "-", line)
			gsub(/\\e/, "\\", line)
			buf = buf line "\n"
		}
	' "$page"
	for src in "$tmp"/ex-*.c; do
		[ -f "$src" ] || continue
		count=$((count + 1))
		# shellcheck disable=SC2086 # EXAMPLE_CFLAGS is a list
		if ! $CC -Wall -Werror -I"$top_srcdir/include" \
		    ${EXAMPLE_CFLAGS:-} -c -o "$tmp/ex.o" "$src" \
		    2>"$tmp/err"; then
			echo "FAIL: $base: EXAMPLES program $(basename "$src") does not compile:"
			cat "$tmp/err"
			fail=1
		fi
	done
done

if [ "$count" -eq 0 ]; then
	echo "FAIL: no EXAMPLES programs found in $top_srcdir/man"
	exit 1
fi
echo "compiled $count EXAMPLES programs"
exit $fail
