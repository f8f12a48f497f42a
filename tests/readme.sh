#!/bin/sh
# readme.sh - the README's examples work as written: the C program (run
# twice: it must clean up after itself), the "Two terminals" steps and the
# find-files recipe with a file name that has spaces and a newline.

. "${top_srcdir:-.}/tests/cli_lib.sh"

readme=$top_srcdir/README.md
[ -f "$readme" ] || fail "no README.md"
start_daemon
CONQUEUE_SOCKET=$dir/s
export CONQUEUE_SOCKET

# Lines of the first fenced block of kind $1 after a line matching $2.
block() {
	awk -v kind="$1" -v after="$2" '
	    found == 0 && $0 ~ after { found = 1; next }
	    found == 1 && $0 == "```" kind { found = 2; next }
	    found == 2 && $0 == "```" { exit }
	    found == 2 { print }' "$readme"
}

# The C program, built against this tree's library. A sanitizer build's
# library cannot be loaded by an uninstrumented program: that part only
# runs in the plain build.
if [ -z "${CQ_SANITIZER:-}" ]; then
	block c '^## Ten lines of C' >"$dir/ex.c"
	[ -s "$dir/ex.c" ] || fail "no C example in the README"
	lib=$top_builddir/.libs
	${CC:-cc} -o "$dir/ex" "$dir/ex.c" -I"$top_srcdir/include" \
	    -L"$lib" -lconqueue-client >"$dir/cc.log" 2>&1 ||
	    fail "the README's C example does not build: $(cat "$dir/cc.log")"
	for run in 1 2; do
		out=$(LD_LIBRARY_PATH="$lib" "$dir/ex" 2>"$dir/ex.err") ||
		    fail "C example run $run exited $?: $(cat "$dir/ex.err")"
		[ "$out" = hello ] || fail "C example run $run printed '$out'"
	done
	expect_rc 1 cli stat hello # it deleted its queue
fi

# "Two terminals", terminal 2, with this build's CLI.
block sh '^## Two terminals' | sed -n '/^# terminal 2:/,$p' |
    sed -e "s|\./conqueue-cli|\"\$CONQUEUE_CLI\"|g" \
        -e '/^export CONQUEUE_SOCKET/d' \
        -e 's|^\(.*pop jobs --timeout 60000\) &.*|\1 >"$dir/bg" \&|' \
        -e '/push jobs "first job"/a\
wait' \
        >"$dir/steps.sh"
grep -q 'pop jobs --all' "$dir/steps.sh" || fail "no terminal-2 steps found"
out=$(dir=$dir CONQUEUE_CLI=$CONQUEUE_CLI sh -e "$dir/steps.sh") ||
    fail "the README's steps failed: $out"
[ "$out" = "$(printf 'a\nb\nc')" ] || fail "pop --all printed '$out'"
[ "$(cat "$dir/bg")" = "first job" ] || fail "the waiting pop printed '$(cat "$dir/bg")'"

# The find-files recipe over a tree with awkward names.
tree=$dir/tree
mkdir -p "$tree/a dir"
printf 'pthread_mutex_consistent\n' >"$tree/a dir/with space.h"
printf 'pthread_mutex_consistent\n' >"$tree/new
line.h"
printf 'nothing\n' >"$tree/plain.h"
block sh '^The P0260' | sed -e "s|/usr/include|$tree|g" \
    -e "s|conqueue-cli|\"\$CONQUEUE_CLI\"|g" \
    -e 's|xargs -0 grep -l|xargs -0 grep -lZ|' >"$dir/recipe.sh"
grep -q 'xargs -0' "$dir/recipe.sh" || fail "the recipe does not use -0"
(cd "$dir" && CONQUEUE_CLI=$CONQUEUE_CLI sh "$dir/recipe.sh") >"$dir/found" ||
    fail "the find-files recipe failed"
n=$(tr -cd '\0' <"$dir/found" | wc -c)
[ "$n" -eq 2 ] || fail "the recipe found $n files, want 2"
grep -qz "with space.h" "$dir/found" || fail "missed the name with spaces"
exit 0
