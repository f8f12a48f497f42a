#!/bin/sh
# ops_install.sh - `make install DESTDIR=...` installs a usable product:
# the daemon, the CLI, the library with its soname, the headers under
# include/conqueue/, the pkg-config files, the man pages and (built
# --with-systemd) the units; a program built with `pkg-config --cflags
# --libs conqueue-client` against the staged tree pushes and pops through
# the staged library on the staged daemon.
#
# Skipped (77) under sanitizers: a program built without them cannot load
# an instrumented library. Needs top_builddir and CC (set by make check).

. "$top_srcdir/tests/cli_lib.sh"

[ -z "${CQ_SANITIZER:-}" ] || { echo "SKIP: sanitizer build"; exit 77; }
command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: no pkg-config"; exit 77; }

root="$dir/root"
# A make started by make check inherits its jobserver flags; this one is
# separate.
(unset MAKEFLAGS MFLAGS MAKELEVEL; cd "$top_builddir" &&
    make -s install DESTDIR="$root") >"$dir/install.log" 2>&1 ||
    fail "make install: $(tail -n 20 "$dir/install.log")"

# Where things went: found by name, so any --prefix/--libdir works.
one() {
	found=$(find "$root" -path "*$1" \( -type f -o -type l \) | head -n 1)
	[ -n "$found" ] || fail "make install did not install $1"
	echo "$found"
}
daemon=$(one /sbin/conqueued)
cli_bin=$(one /bin/conqueue-cli)
[ -x "$daemon" ] && [ -x "$cli_bin" ] || fail "binaries not executable"
so=$(one /libconqueue-client.so.0)
libdir=$(dirname "$so")
[ -L "$libdir/libconqueue-client.so" ] || fail "no libconqueue-client.so dev link"
[ -f "$libdir/libconqueue-event.so.0" ] || fail "no libconqueue-event.so.0"
if command -v readelf >/dev/null 2>&1; then
	readelf -d "$so" | grep -q 'SONAME.*\[libconqueue-client\.so\.0\]' ||
	    fail "soname of $so: $(readelf -d "$so" | grep SONAME)"
fi
hdr=$(one /include/conqueue/conqueue.h)
one /include/conqueue/conqueue-event.h >/dev/null
# Both pkg-config files are relocatable: every path relative to ${prefix}.
for pcname in conqueue-client conqueue-event; do
	pcfile=$(one "/pkgconfig/$pcname.pc")
	grep -q '^libdir=\${exec_prefix}' "$pcfile" &&
	    grep -q '^includedir=\${prefix}' "$pcfile" ||
	    fail "$pcname.pc is not relocatable: $(cat "$pcfile")"
done
for page in man1/conqueue-cli.1 man5/conqueued.conf.5 man7/conqueue.7 \
    man8/conqueued.8 man3/cq_push.3; do
	one "/man/$page" >/dev/null
done
# The extra names are symbolic links to their family's page, not stubs.
man3=$(dirname "$(one /man/man3/cq_push.3)")
grep -v '^#' "$top_srcdir/man/links" | while read -r page name; do
	[ -L "$man3/$name" ] && [ "$(readlink "$man3/$name")" = "$page" ] &&
	    [ -f "$man3/$name" ] ||
	    fail "man3/$name is not a link to $page: $(ls -l "$man3/$name" 2>&1)"
done || exit 1
if grep -q '^#define HAVE_SYSTEMD 1' "$top_builddir/config.h"; then
	svc=$(one /systemd/system/conqueued.service)
	one /systemd/system/conqueued.socket >/dev/null
	one /sysusers.d/conqueue.conf >/dev/null
	# The unit starts the daemon where it was installed.
	grep -q "^ExecStart=${daemon#"$root"} " "$svc" ||
	    fail "$svc does not start ${daemon#"$root"}"
fi

# A program built only from what pkg-config says about the staged tree.
cat >"$dir/t.c" <<'EOF'
#include <conqueue/conqueue.h>
#include <stdio.h>
#include <string.h>

/* Push one message and pop it back on the daemon at argv[1]. */
int
main(int argc, char **argv)
{
	cq_client *c;
	cq_queue *q;
	cq_msg *m = NULL;
	int ok;

	if (argc != 2 || cq_connect(&c, argv[1]) != CQ_OK)
		return 1;
	if (cq_create(c, "inst", NULL) != CQ_OK || cq_open(c, "inst", &q) != CQ_OK)
		return 2;
	if (cq_push(q, "installed", 9, CQ_FOREVER) != CQ_OK)
		return 3;
	if (cq_pop(q, &m, 10000) != CQ_OK)
		return 4;
	ok = cq_msg_len(m) == 9 && memcmp(cq_msg_data(m), "installed", 9) == 0;
	printf("%.*s\n", (int)cq_msg_len(m), (const char *)cq_msg_data(m));
	cq_msg_free(m);
	cq_queue_free(q);
	cq_disconnect(c);
	return ok ? 0 : 5;
}
EOF
pc=$(dirname "$(one /pkgconfig/conqueue-client.pc)")
flags=$(PKG_CONFIG_PATH="$pc" PKG_CONFIG_LIBDIR="$pc" \
    PKG_CONFIG_SYSROOT_DIR="$root" pkg-config --cflags --libs conqueue-client) ||
    fail "pkg-config conqueue-client failed"
case "$flags" in
*"-I$(dirname "$(dirname "$hdr")")"*) ;;
*) fail "pkg-config flags '$flags' do not point into $root" ;;
esac
# shellcheck disable=SC2086 # flags are words
${CC:-cc} -o "$dir/t" "$dir/t.c" $flags >"$dir/cc.log" 2>&1 ||
    fail "building against the installed library: $(cat "$dir/cc.log")"

LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
if command -v ldd >/dev/null 2>&1; then
	ldd "$dir/t" | grep -q "libconqueue-client.so.0 => $libdir/" ||
	    fail "the program does not load the staged library: $(ldd "$dir/t")"
fi

# The staged daemon and CLI serve the staged program.
CONQUEUED=$daemon
CONQUEUE_CLI=$cli_bin
start_daemon
expect_rc 0 cli ping
expect_out installed "$dir/t" "$dir/s"
expect_rc 2 cli pop inst --try
exit 0
