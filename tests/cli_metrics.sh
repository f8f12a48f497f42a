#!/bin/sh
# cli_metrics.sh - conqueue-cli metrics: OpenMetrics text for textfile
# collectors (issue 18 item 8).

. "${top_srcdir:-.}/tests/cli_lib.sh"

lint="${top_builddir:-.}/tests/om-lint"
[ -x "$lint" ] || { echo "SKIP: tests/om-lint not built (no Check)"; exit 77; }

# value SERIES FILE: the value of one sample line.
value() {
	awk -v k="$1" '$1 == k { print $2; found = 1 } END { exit !found }' "$2" ||
	    fail "no sample $1 in $2: $(cat "$2")"
}

# scrape [NAME...]: metrics into $dir/m.prom, checked by om-lint.
scrape() {
	cli metrics "$@" >"$dir/m.prom" 2>"$dir/stderr" ||
	    fail "metrics $* failed: $(cat "$dir/stderr")"
	"$lint" <"$dir/m.prom" 2>"$dir/lint" ||
	    fail "not OpenMetrics: $(cat "$dir/lint")"
	[ "$(tail -n 1 "$dir/m.prom")" = "# EOF" ] || fail "# EOF is not last"
}

start_daemon

# No queues: daemon figures only, still valid.
scrape
[ "$(value conqueue_daemon_queues "$dir/m.prom")" = 0 ] || fail "queues != 0"
expect_rc 0 cli create jobs
expect_rc 0 cli create other
expect_rc 0 cli push jobs a b c d
expect_rc 0 cli push other --delay 3600000 later
# One expires (wait on stat, hang bound 30 s): counted in expired_total.
expect_rc 0 cli push other --ttl 1 gone
i=0
until [ "$(cli stat other | sed -n 's/^expired: //p')" = 1 ]; do
	i=$((i + 1))
	[ "$i" -le 3000 ] || fail "never expired"
	sleep 0.01
done
expect_out a cli pop jobs --try
expect_rc 0 cli reserve jobs
scrape
[ "$(value 'conqueue_queue_depth{queue="jobs"}' "$dir/m.prom")" = 2 ] ||
    fail "depth"
# The CLI's reservation outlives it (until acked or its lease ends).
[ "$(value 'conqueue_queue_in_flight{queue="jobs"}' "$dir/m.prom")" = 1 ] ||
    fail "in flight"
[ "$(value 'conqueue_queue_pushed_total{queue="jobs"}' "$dir/m.prom")" = 4 ] ||
    fail "pushed"
[ "$(value 'conqueue_queue_delayed{queue="jobs"}' "$dir/m.prom")" = 0 ] ||
    fail "delayed"
[ "$(value 'conqueue_queue_depth{queue="other"}' "$dir/m.prom")" = 0 ] ||
    fail "other depth"
[ "$(value 'conqueue_queue_delayed{queue="other"}' "$dir/m.prom")" = 1 ] ||
    fail "other delayed"
[ "$(value 'conqueue_queue_expired_total{queue="other"}' "$dir/m.prom")" = 1 ] ||
    fail "other expired"
[ "$(value 'conqueue_queue_expired_total{queue="jobs"}' "$dir/m.prom")" = 0 ] ||
    fail "jobs expired"
[ "$(value conqueue_daemon_queues "$dir/m.prom")" = 2 ] || fail "queues"
grep -q '^conqueue_daemon_info{version="' "$dir/m.prom" || fail "no info"
# The popped total agrees with stat.
popped=$(cli stat jobs | sed -n 's/^total_popped: //p')
[ "$(value 'conqueue_queue_popped_total{queue="jobs"}' "$dir/m.prom")" = \
    "$popped" ] || fail "popped != stat's total_popped ($popped)"

# A parked pop shows as a waiter.
cli pop other --timeout 60000 >"$dir/popped" 2>&1 &
popper=$!
n=0
until [ "$(cli stat other | sed -n 's/^waiting_poppers: //p')" = 1 ]; do
	n=$((n + 1))
	[ $n -lt 30000 ] || fail "the pop never parked"
done
scrape
[ "$(value 'conqueue_queue_waiters{queue="other",kind="pop"}' \
    "$dir/m.prom")" = 1 ] || fail "pop waiter not shown"
expect_rc 0 cli push other wake
wait $popper || fail "the parked pop failed"

# Named queues only; an unknown name fails and prints nothing.
scrape other
grep -q 'queue="jobs"' "$dir/m.prom" && fail "jobs shown for 'metrics other'"
expect_rc 1 cli metrics other nosuch
[ -z "$(cli metrics nosuch 2>/dev/null)" ] || fail "output on failure"

# The textfile-collector recipe: write, then rename.
tf="$dir/textfile"
mkdir "$tf"
cli metrics >"$tf/conqueue.prom.$$" && mv "$tf/conqueue.prom.$$" "$tf/conqueue.prom" ||
    fail "textfile recipe"
"$lint" <"$tf/conqueue.prom" || fail "textfile not OpenMetrics"

# Output closed early: exit 6 (EPIPE), as for every command. 300 queues
# make the text far larger than a pipe holds, so the CLI is still writing
# when head has gone, whatever the timing.
i=0
while [ $i -lt 300 ]; do
	cli create "q$i" --capacity 1 --max-size 16 >/dev/null ||
	    fail "create q$i"
	i=$((i + 1))
done
cli metrics >"$dir/big.prom" || fail "metrics of 300 queues"
[ "$(wc -c <"$dir/big.prom")" -gt 131072 ] || fail "text not large enough"
rc=$( (cli metrics 2>/dev/null; echo $? >"$dir/rc") | head -c 1 >/dev/null
    cat "$dir/rc")
[ "$rc" = 6 ] || fail "metrics | head exited $rc, want 6"

# Usage.
expect_rc 0 cli metrics --help
expect_rc 64 cli metrics --bogus
# The daemon gone: an error, nothing on stdout.
kill "$dpid"
wait "$dpid"
dpid=
[ -z "$(cli metrics 2>/dev/null)" ] || fail "output without a daemon"
expect_rc 1 cli metrics
exit 0
