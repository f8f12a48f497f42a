#!/bin/sh
# cli_chown.sh - conqueue-cli chmod and chown: ids and names, bad
# arguments, exit statuses. The owner's own group change and what
# non-owners are refused need root: cli_chown_root.sh.

. "${top_srcdir:-.}/tests/cli_lib.sh"

start_daemon

# stat_field NAME KEY: one value of "stat NAME".
stat_field() {
	cli stat "$1" | sed -n "s/^$2: //p"
}

expect_rc 0 cli create q --mode 0600
expect_rc 0 cli chmod --help
expect_rc 0 cli chown --help

# chmod NAME OCTAL.
expect_rc 0 cli chmod q 0640
expect_out 0640 stat_field q mode
expect_rc 64 cli chmod q 1777
expect_rc 64 cli chmod q 9
expect_rc 64 cli chmod q
expect_rc 1 cli chmod nosuch 0600
grep -q "not found" "$dir/stderr" || fail "chmod nosuch: $(cat "$dir/stderr")"
expect_out 0640 stat_field q mode

# chown NAME UID:GID, UID, :GID, names; stat and list show the result.
expect_rc 0 cli chown q 61001:61101
expect_out 61001 stat_field q uid
expect_out 61101 stat_field q gid
expect_rc 0 cli chown q :61102
expect_out 61001 stat_field q uid
expect_out 61102 stat_field q gid
cli --json stat q | json_check '.uid == 61001 and .gid == 61102'
cli --json list | json_check '.[] | select(.name == "q") | .uid == 61001 and .gid == 61102'
expect_rc 0 cli chown q root
expect_out 0 stat_field q uid
expect_out 61102 stat_field q gid
expect_rc 0 cli chown q 61001:root
expect_out 61001 stat_field q uid
expect_out 0 stat_field q gid

# Bad arguments change nothing and exit 64 with a reason.
for spec in "" ":" "61001:" nosuchuser_cq ":nosuchgroup_cq" 4294967295 \
    ":4294967295" -5 "1:2:3"; do
	expect_rc 64 cli chown q "$spec"
	grep -q . "$dir/stderr" || fail "chown q '$spec' said nothing"
done
expect_rc 64 cli chown q
expect_rc 64 cli chown q 1 2
expect_rc 1 cli chown nosuch 61001
expect_out 61001 stat_field q uid
expect_out 0 stat_field q gid

exit 0
