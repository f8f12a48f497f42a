#!/bin/sh
# ops_debian.sh - the Debian packages: build them with
# `dpkg-buildpackage -us -uc -b` from a copy of the source tree (out of the
# way of any build in it), check them with lintian, unpack them into a
# scratch root with `dpkg -x` and push/pop through the unpacked daemon and
# CLI; then, as root, install them with dpkg -i, run the autopkgtests of
# debian/tests/control against the installed packages and purge them.
# Run by `make check-debian` (a minute or more, so not part of make check)
# and by tests/all.sh.
#
# The install step changes the system for its duration (the packages,
# their conffile and units) and leaves the conqueue system user behind; it
# is skipped without root, or when a conqueue package is already installed
# (CQ_DEB_INSTALL=0 skips it too).
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
pkgs="conqueued libconqueue-client0 libconqueue-client-dev libconqueue-event0
    libconqueue-event-dev conqueue-cli conqueue-bridge"
for p in $pkgs; do
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
grep -qx /etc/conqueued.conf "$dir/ctl/conffiles" ||
    fail "/etc/conqueued.conf is not a conffile: $(cat "$dir/ctl/conffiles")"
grep -q ' \./usr/share/doc/conqueued/README\.md\(\.gz\)\?$' "$dir/daemon.list" ||
    fail "conqueued lacks its README"

# What each library and development package holds: libevent only where the
# adapter is.
deb_has() { # PACKAGE PATTERN...: the package lists a path matching each
	dpkg-deb -c "$dir/${1}_${ver}_$arch.deb" >"$dir/list" || fail "dpkg-deb -c $1"
	p=$1
	shift
	for pat in "$@"; do
		grep -q " \./$pat\( ->.*\)\?\$" "$dir/list" || fail "$p lacks $pat"
	done
}
deb_has libconqueue-client-dev usr/include/conqueue/conqueue.h \
    'usr/lib/[^/]*/libconqueue-client\.so' 'usr/lib/[^/]*/pkgconfig/conqueue-client\.pc' \
    usr/share/man/man3/cq_push.3.gz 'usr/share/doc/libconqueue-client-dev/README\.md\(\.gz\)\?' \
    'usr/share/doc/libconqueue-client-dev/examples/pollable\.c\(\.gz\)\?'
# The extra man page names are links to their family's page.
grep -q ' \./usr/share/man/man3/cq_try_pop\.3\.gz -> cq_pop\.3\.gz$' "$dir/list" ||
    fail "cq_try_pop.3.gz is not a link to cq_pop.3.gz: $(grep cq_try_pop "$dir/list")"
n=$(grep -c ' \./usr/share/man/man3/.* -> cq_[a-z_]*\.3\.gz$' "$dir/list")
want=$(grep -vc '^#' "$top_srcdir/man/links")
[ "$n" -eq "$want" ] || fail "libconqueue-client-dev has $n man page links, man/links $want"
deb_has libconqueue-event-dev usr/include/conqueue/conqueue-event.h \
    'usr/lib/[^/]*/libconqueue-event\.so' 'usr/lib/[^/]*/pkgconfig/conqueue-event\.pc'
deb_has libconqueue-client0 'usr/lib/[^/]*/libconqueue-client\.so\.0'
# The NATS bridge: program, pages, unit (installed disabled: it needs its
# config first), the example config and the system user it runs as.
deb_has conqueue-bridge usr/sbin/conqueue-bridge lib/systemd/system/conqueue-bridge.service \
    usr/share/man/man8/conqueue-bridge.8.gz usr/share/man/man5/conqueue-bridge.conf.5.gz \
    'usr/share/doc/conqueue-bridge/examples/conqueue-bridge\.conf\.example' \
    usr/lib/sysusers.d/conqueue-bridge.conf
deps=$(dpkg-deb -f "$dir/conqueue-bridge_${ver}_$arch.deb" Depends)
case "$deps" in *"libconqueue-client0 (= $ver)"*) ;; *)
	fail "conqueue-bridge does not depend on libconqueue-client0 (= $ver): $deps" ;;
esac
case "$deps" in *libnats*) ;; *) fail "conqueue-bridge does not depend on libnats: $deps" ;; esac
dpkg-deb -e "$dir/conqueue-bridge_${ver}_$arch.deb" "$dir/ctl-bridge"
grep -q 'deb-systemd-helper update-state' "$dir/ctl-bridge/postinst" ||
    fail "conqueue-bridge's postinst does not register its unit"
grep -q 'systemd-sysusers.*conqueue-bridge.conf' "$dir/ctl-bridge/postinst" ||
    fail "conqueue-bridge's postinst does not create the system user"
deb_has libconqueue-event0 'usr/lib/[^/]*/libconqueue-event\.so\.0'
for p in libconqueue-client0 libconqueue-client-dev conqueue-cli; do
	deps=$(dpkg-deb -f "$dir/${p}_${ver}_$arch.deb" Depends)
	case "$deps" in *libevent* | *libconqueue-event*)
		fail "$p depends on libevent: $deps" ;;
	esac
done
dpkg-deb -f "$dir/libconqueue-event0_${ver}_$arch.deb" Depends |
    grep -q 'libconqueue-client0 (>= ' || fail "libconqueue-event0 does not depend on libconqueue-client0"
# The symbols files shipped are debian/*.symbols (dpkg-gensymbols -c4
# failed the build on any difference).
for p in libconqueue-client0 libconqueue-event0; do
	dpkg-deb -e "$dir/${p}_${ver}_$arch.deb" "$dir/ctl-$p"
	[ "$(grep -c '@Base' "$dir/ctl-$p/symbols")" -eq \
	    "$(grep -c '@Base' "$top_srcdir/debian/$p.symbols")" ] ||
	    fail "$p: shipped symbols differ from debian/$p.symbols"
done

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
"$root/usr/sbin/conqueue-bridge" -n \
    -c "$root/usr/share/doc/conqueue-bridge/examples/conqueue-bridge.conf.example" \
    >"$dir/bridge-check.out" 2>&1 ||
    fail "the packaged bridge refuses its example config: $(cat "$dir/bridge-check.out")"
ldd "$root/usr/sbin/conqueue-bridge" | grep "libconqueue-client.so.0 => $root/" >/dev/null ||
    fail "the bridge does not load the packaged library"
start_daemon
expect_rc 0 cli ping
expect_rc 0 cli create debq
expect_rc 0 cli push debq "from the package"
expect_out "from the package" cli pop debq
echo "unpacked packages work"

# Install them and run their autopkgtests as autopkgtest would: each test
# of debian/tests/control, stderr output fails it unless allow-stderr,
# exit 77 is a skip only when skippable, needs-root is met (we are root).
if [ "${CQ_DEB_INSTALL:-1}" = 0 ]; then
	echo "SKIP: install and autopkgtests (CQ_DEB_INSTALL=0)"
	exit 0
elif [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: install and autopkgtests (not root)"
	exit 0
elif dpkg-query -W -f '${Package} ${db:Status-Status}\n' $pkgs 2>/dev/null |
    grep -v ' not-installed$' | grep -q .; then
	echo "SKIP: install and autopkgtests (conqueue packages already on this system:" \
	    "$(dpkg-query -W -f '${Package} ' $pkgs 2>/dev/null))"
	exit 0
fi
unset LD_LIBRARY_PATH
installed=
# Purge what we installed, then cli_lib.sh's cleanup.
deb_cleanup() {
	if [ -n "$installed" ]; then
		dpkg --purge $pkgs >"$dir/purge.log" 2>&1 ||
		    echo "WARNING: dpkg --purge: $(tail -n 5 "$dir/purge.log")" >&2
	fi
	cleanup
}
trap deb_cleanup EXIT
installed=yes
debs=
for p in $pkgs; do
	debs="$debs $dir/${p}_${ver}_$arch.deb"
done
# shellcheck disable=SC2086
dpkg -i $debs >"$dir/install.log" 2>&1 ||
    fail "dpkg -i: $(tail -n 20 "$dir/install.log")"
[ -x /usr/sbin/conqueued ] || fail "conqueued is not installed"
getent passwd conqueue >/dev/null || fail "postinst did not create the conqueue user"
[ -x /usr/sbin/conqueue-bridge ] || fail "conqueue-bridge is not installed"
[ -e /etc/systemd/system/multi-user.target.wants/conqueue-bridge.service ] &&
    fail "installing conqueue-bridge enabled its unit (it needs a config first)"
cmp -s /etc/conqueued.conf "$top_srcdir/debian/conqueued.conf" ||
    fail "/etc/conqueued.conf is not the packaged example"
pkg-config --exists conqueue-event || fail "pkg-config does not find conqueue-event"
# The installed examples build against the installed headers, libraries
# and pkg-config files, as a user would copy them.
n=0
for ex in /usr/share/doc/libconqueue-client-dev/examples/*.c; do
	[ -f "$ex" ] || fail "no examples installed"
	# shellcheck disable=SC2046
	${CC:-cc} -o "$dir/example" "$ex" \
	    $(pkg-config --cflags --libs conqueue-event libevent_core) \
	    >"$dir/cc.log" 2>&1 || fail "installed $ex does not build: $(cat "$dir/cc.log")"
	n=$((n + 1))
done
echo "$n installed examples build"

ran=0
awk '/^Tests:/ { if (t != "") print t "|" r; t = $2; r = "" }
    /^Restrictions:/ { sub(/^Restrictions:[ \t]*/, ""); r = $0 }
    END { if (t != "") print t "|" r }' "$dir/src/debian/tests/control" \
    >"$dir/tests.list"
while IFS='|' read -r t restr; do
	case " $restr " in *[\ ,]breaks-testbed[\ ,]* | *[\ ,]isolation-machine[\ ,]*)
		echo "autopkgtest $t: SKIP (restrictions: $restr)"
		continue ;;
	esac
	(cd "$dir/src" && unset CONQUEUED CONQUEUE_CLI &&
	    AUTOPKGTEST_TMP=$dir sh "debian/tests/$t") \
	    >"$dir/apt-$t.out" 2>"$dir/apt-$t.err" </dev/null
	rc=$?
	sed "s/^/  /" "$dir/apt-$t.out"
	case "$rc,$restr" in
	77,*skippable*) echo "autopkgtest $t: SKIP"; continue ;;
	0,*) ;;
	*) fail "autopkgtest $t exited $rc: $(cat "$dir/apt-$t.err")" ;;
	esac
	case "$restr" in *allow-stderr*) ;; *)
		[ -s "$dir/apt-$t.err" ] &&
		    fail "autopkgtest $t wrote to stderr: $(cat "$dir/apt-$t.err")" ;;
	esac
	echo "autopkgtest $t: PASS"
	ran=$((ran + 1))
done <"$dir/tests.list"
[ "$ran" -ge 1 ] || fail "no autopkgtest ran"
echo "packages built, lint clean, installed and working"
exit 0
