#!/bin/sh
# cli_chown_root.sh - conqueue-cli chown and chmod by the queue's owner
# (its own group change) and what non-owners are refused, as numeric ids
# through setpriv (no users added). Needs root and setpriv: exits 77
# (skipped) otherwise.

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	echo "SKIP: cli_chown_root needs root and setpriv"
	exit 77
fi

. "${top_srcdir:-.}/tests/cli_lib.sh"

start_daemon

# stat_field NAME KEY: one value of "stat NAME".
stat_field() {
	cli stat "$1" | sed -n "s/^$2: //p"
}

expect_rc 0 cli create q --mode 0600
# as UID GID GROUPS ARGS...: conqueue-cli ARGS as numeric ids (the
# daemon's peer credentials are all it looks at).
as() {
	u=$1 g=$2 gs=$3
	shift 3
	$cq_timeout setpriv --reuid "$u" --regid "$g" --groups "$gs" \
	    "$CONQUEUE_CLI" -s "$dir/s" "$@"
}
chmod 0711 "$dir"
chmod 0666 "$dir/s"
expect_rc 0 cli chown q 61001:61101
# The owner: a group it belongs to, not another group, not a new owner.
expect_rc 0 as 61001 61101 61102 chown q :61102
expect_out 61102 stat_field q gid
expect_rc 1 as 61001 61101 61102 chown q :61104
grep -q "not in group" "$dir/stderr" || fail "no reason: $(cat "$dir/stderr")"
expect_rc 1 as 61001 61101 61102 chown q 61002
grep -q "only an admin" "$dir/stderr" || fail "no reason: $(cat "$dir/stderr")"
expect_rc 0 as 61001 61101 61102 chmod q 0660
# Others, even in the queue's group, may not.
expect_rc 1 as 61003 61102 61102 chown q :61102
expect_rc 1 as 61003 61102 61102 chmod q 0666
expect_out 61001 stat_field q uid
expect_out 61102 stat_field q gid
expect_out 0660 stat_field q mode

# An owner who clears its own mode bits is not locked out: its ops go by
# name (issue 20), and create --mode 0000 is accepted.
expect_rc 0 as 61001 61101 61101 chmod q 0
expect_out 0000 stat_field q mode
expect_rc 1 as 61001 61101 61101 push q x
expect_rc 0 as 61001 61101 61101 pause q
expect_rc 0 as 61001 61101 61101 resume q
expect_rc 0 as 61001 61101 61101 chmod q 0600
expect_rc 0 as 61001 61101 61101 push q x
expect_rc 0 as 61001 61101 61101 close q
expect_out true stat_field q closed
expect_rc 0 as 61001 61101 61101 create mine --mode 0000
expect_out 0000 stat_field mine mode
expect_rc 0 as 61001 61101 61101 chmod mine 0640
expect_out 0640 stat_field mine mode
exit 0
