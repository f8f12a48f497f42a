#!/bin/sh
# man_lint.sh - every man page must be clean under mandoc -Tlint -Wwarning,
# and the pages must cover every function, status, key, option and command.
# The extra names of man/links (installed as symbolic links) must name a
# page that exists and lists them in its NAME section.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"

fail=0
count=0

# The pages must name what the code offers. These checks read the sources
# (not the binaries), so they run before anything is built and without
# mandoc: a new option, key, command, status or function without
# documentation fails here.

# $1 page, $2 roff text to find, $3 what it is.
need() {
	if ! grep -qF -- "$2" "$top_srcdir/man/$1"; then
		echo "FAIL: $1 does not document $3"
		fail=1
	fi
}

# A long option as mdoc writes it: "Fl \-ready\-fd" for --ready-fd.
flag() {
	printf 'Fl \\-%s' "$1" | sed 's/\([a-z]\)-/\1\\-/g'
}

# Every extra name in man/links points at a page that exists and lists the
# name (.Nm) in its NAME section, so whatis/apropos find it too.
links=$top_srcdir/man/links
grep -v '^#' "$links" | while read -r page name; do
	if [ ! -f "$top_srcdir/man/$page" ]; then
		echo "FAIL: man/links: $name -> $page, which does not exist"
		exit 1
	fi
	if [ -e "$top_srcdir/man/$name" ]; then
		echo "FAIL: man/links: $name is also a file in man/"
		exit 1
	fi
	if ! sed -n '/^\.Sh NAME/,/^\.Sh /p' "$top_srcdir/man/$page" |
	    grep -Eq "^\.Nm ${name%.*}( ,)?\$"; then
		echo "FAIL: man/links: $page does not name ${name%.*} in NAME"
		exit 1
	fi
done || fail=1

# Every exported function of the public headers has a page (its own or a
# link in man/links to its family's), so "man cq_something" always works.
for fn in $(sed -n 's/.*CQ_EXPORT[^(]*[ *]\(cq_[a-z0-9_]*\)(.*/\1/p' \
    "$top_srcdir"/include/conqueue/*.h); do
	if [ ! -f "$top_srcdir/man/$fn.3" ] &&
	    ! grep -q "^[^#][^ ]* $fn\.3\$" "$links"; then
		echo "FAIL: $fn is exported but has no man page (man/$fn.3 or man/links)"
		fail=1
	fi
done

# Every status code, with its number, in cq_strstatus(3) and protocol.md.
sed -n 's/^[[:space:]]*\(CQ_[A-Z]*\) = \([0-9]*\),.*/\1 \2/p' \
    "$top_srcdir/include/conqueue/conqueue.h" | while read -r name num; do
	if ! grep -qF ".It Dv $name Pq $num" "$top_srcdir/man/cq_strstatus.3"; then
		echo "FAIL: cq_strstatus.3 does not list $name ($num)"
		exit 1
	fi
	if ! grep -qF "| $num | \`$name\` |" "$top_srcdir/doc/protocol.md"; then
		echo "FAIL: doc/protocol.md does not list $name ($num)"
		exit 1
	fi
done || fail=1

# Every key of conqueued.conf.
for key in $(sed -n 's/^[[:space:]]*CK(\([a-z_]*\),.*/\1/p' \
    "$top_srcdir/daemon/config.c"); do
	need conqueued.conf.5 ".It Cm $key No =" "the key $key"
done

# Every long option of conqueued.
for opt in $(sed -n 's/^[[:space:]]*{"\([a-z-]*\)", [a-z_]*_argument.*/\1/p' \
    "$top_srcdir/daemon/main.c"); do
	need conqueued.8 "$(flag "$opt")" "the option --$opt"
done

# Every command and option of conqueue-cli.
for cmd in $(sed -n 's/.*cli_cmd_[a-z]* = {"\([a-z]*\)", cmd_.*/\1/p' \
    "$top_srcdir"/cli/*.c); do
	need conqueue-cli.1 ".Cm $cmd" "the command $cmd"
done
for opt in $(sed -n 's/.*{"--\([a-z-]*\)", .*/\1/p' "$top_srcdir"/cli/*.c |
    sort -u); do
	need conqueue-cli.1 "$(flag "$opt")" "the option --$opt"
done

if ! command -v mandoc >/dev/null 2>&1; then
	[ $fail -ne 0 ] && exit 1
	echo "SKIP: mandoc is not installed"
	exit 77
fi

for page in "$top_srcdir"/man/*.[1-8]; do
	base=$(basename "$page")
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

echo "checked $count pages"
exit $fail
