#!/bin/sh
# ops_debian.sh - the Debian packages: build them with
# `dpkg-buildpackage -us -uc -b` from a copy of the source tree (out of the
# way of any build in it), check them with lintian, unpack them into a
# scratch root with `dpkg -x` and push/pop through the unpacked daemon and
# CLI. Run by `make check-debian` (a minute or more, so not part of make
# check) and by tests/all.sh.
#
# Exits 77 if dpkg-buildpackage or debhelper is missing. The package's own
# make check is skipped (DEB_BUILD_OPTIONS=nocheck: all.sh runs it in the
# plain build); CQ_DEB_CHECK=1 runs it too.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
if ! command -v dpkg-buildpackage >/dev/null 2>&1 ||
    ! command -v dh >/dev/null 2>&1; then
	echo "SKIP: dpkg-buildpackage or debhelper missing"
	exit 77
fi
# cli_lib.sh wants the daemon and CLI names; the unpacked ones are set below.
CONQUEUED=unset CONQUEUE_CLI=unset
. "$top_srcdir/tests/cli_lib.sh"

# The source tree without builds, VCS data or generated autotools files.
mkdir "$dir/src" || exit 99
(cd "$top_srcdir" && tar --exclude=./.git --exclude=./build \
    --exclude=./build-test --exclude=./build-asan \
    --exclude=./autom4te.cache --exclude='*.o' --exclude='*.lo' \
    --exclude='.libs' --exclude='.deps' -cf - .) | (cd "$dir/src" && tar -xf -) ||
    fail "copying the source tree"

if [ -n "${CQ_DEB_CHECK:-}" ]; then
	opts="parallel=${CQ_JOBS:-2}"
else
	opts="nocheck parallel=${CQ_JOBS:-2}"
fi
echo "dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS='$opts')"
(cd "$dir/src" && DEB_BUILD_OPTIONS="$opts" dpkg-buildpackage -us -uc -b) \
    >"$dir/build.log" 2>&1 ||
    fail "dpkg-buildpackage: $(tail -n 40 "$dir/build.log")"

arch=$(dpkg --print-architecture)
ver=$(cd "$dir/src" && dpkg-parsechangelog -S Version)
for p in conqueued libconqueue-client0 libconqueue-client-dev conqueue-cli; do
	[ -f "$dir/${p}_${ver}_$arch.deb" ] || fail "no package $p built"
done
changes="$dir/conqueue_${ver}_$arch.changes"
[ -f "$changes" ] || fail "no .changes file"

# Package contents and maintainer scripts that matter to operations.
dpkg-deb -c "$dir/conqueued_${ver}_$arch.deb" >"$dir/daemon.list"
for f in ./usr/sbin/conqueued ./lib/systemd/system/conqueued.service \
    ./lib/systemd/system/conqueued.socket ./usr/lib/sysusers.d/conqueued.conf \
    ./usr/share/man/man8/conqueued.8.gz; do
	grep -q " $f\$" "$dir/daemon.list" || fail "conqueued lacks $f"
done
dpkg-deb -e "$dir/conqueued_${ver}_$arch.deb" "$dir/ctl"
grep -q 'systemd-sysusers.*conqueued.conf' "$dir/ctl/postinst" ||
    fail "postinst does not create the system user"
grep -q 'deb-systemd-helper' "$dir/ctl/postinst" ||
    fail "postinst does not enable the units"
dpkg-deb --fsys-tarfile "$dir/conqueued_${ver}_$arch.deb" |
    tar -xOf - ./lib/systemd/system/conqueued.service |
    grep '^RemoveIPC=no$' >/dev/null ||
    fail "the packaged unit lost RemoveIPC=no"
dpkg-deb -c "$dir/libconqueue-client-dev_${ver}_$arch.deb" |
    grep '/include/conqueue/conqueue.h$' >/dev/null || fail "dev package lacks conqueue.h"

# lintian: no errors or warnings beyond debian/*.lintian-overrides (the
# informational tags are shown too).
if command -v lintian >/dev/null 2>&1; then
	lintian -I --fail-on error,warning "$changes" >"$dir/lintian.out" 2>&1
	rc=$?
	echo "lintian (exit $rc):"
	cat "$dir/lintian.out"
	[ "$rc" -eq 0 ] || fail "lintian"
else
	echo "SKIP: lintian not installed"
fi

# Unpack and run what was packaged.
root="$dir/root"
for deb in "$dir"/*_"$arch".deb; do
	case "$deb" in *-dbgsym_*) continue ;; esac
	dpkg -x "$deb" "$root" || fail "dpkg -x $deb"
done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
LD_LIBRARY_PATH="$root/usr/lib/$multiarch"
export LD_LIBRARY_PATH
CONQUEUED="$root/usr/sbin/conqueued"
CONQUEUE_CLI="$root/usr/bin/conqueue-cli"
ldd "$CONQUEUE_CLI" | grep "libconqueue-client.so.0 => $root/" >/dev/null ||
    fail "the CLI does not load the packaged library"
start_daemon
expect_rc 0 cli ping
expect_rc 0 cli create debq
expect_rc 0 cli push debq "from the package"
expect_out "from the package" cli pop debq
echo "packages built, lint clean and working"
exit 0
