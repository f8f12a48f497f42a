#!/bin/sh
# run.sh - no lost messages: SIGKILL the daemon and clients under load, then check.
#
# Starts a private conqueued (-s SOCK --instance NAME --ready-fd N), creates
# a queue, runs producer and consumer processes (cq_crash_client, each
# logging every op) and meanwhile SIGKILLs the daemon and restarts it on the
# same socket (each restart is timed until ready and the figures reported,
# not judged: a loaded machine decides them), and SIGKILLs random clients
# and restarts them. At the end it closes the queue, lets the consumers
# drain it until CQ_CLOSED, checks that nothing is left queued or in
# flight, stops the daemon with SIGTERM (exit 0) and runs cq_crash_check
# on the logs.
#
# Scenarios (CQ_CRASH_SCENARIO, or the first argument):
#   random  kills at random moments (seeded), spread over the traffic
#   sites   for every crash site named in core/queue.h (and every
#           CORE_HOOK in core/*.c and crashpoint in daemon/*.c), for a
#           few n: restart the daemon with CONQUEUE_CRASH_AT=site:n, drive
#           traffic until it dies there, restart it normally, and check
#           once at the end
#
# Environment (defaults):
#   CQ_CRASH_MESSAGES (100000)  CQ_CRASH_KILLS (20)  CQ_CRASH_CLIENT_KILLS
#   (= KILLS)  CQ_CRASH_PRODUCERS (4)  CQ_CRASH_CONSUMERS (4)
#   CQ_CRASH_MODE (pop | reserve)  CQ_CRASH_SEED (from the clock, printed)
#   CQ_CRASH_BATCH (4: odd-numbered producers use push_many and, in pop
#   mode, odd-numbered consumers pop_many of that many; 1: never)
#   CQ_CRASH_CANCEL (7: consumer 2 pops async and cancels every 7th pop)
#   CQ_CRASH_ABANDON (50: in reserve mode consumer 0 never acks every 50th
#   reservation, under a lease of CQ_CRASH_LEASE_MS (300), so it expires)
#   CQ_CRASH_CAPACITY (256)  CQ_CRASH_SIZE (64)
#   CQ_CRASH_TIMEOUT (900 s for the whole run)  CQ_CRASH_SITE_COUNTS
#   ("1 3 20")  CQ_CRASH_KEEP (1: keep the logs in /tmp on failure)
#   CQ_CRASH_STALL (60: fail when the daemon hands out nothing for that
#   many seconds)
#   CQ_CRASH_INJECT_LOSS (N: consumers forget every N-th message, so the
#   run must FAIL: the harness's own self-test, see selftest.sh)
#   CQ_CRASH_DIRECT (0: clients as the library defaults; 1: every client
#   asks for the direct path, CONQUEUE_DIRECT=1, so pushes and pops run
#   on the mapped segment (but consumer 2, whose async pops ride the
#   socket, stays a socket client: see client_env);
#   mixed: even-numbered clients direct, odd ones on the socket). Unless
#   0, every daemon kill of the random scenario waits, before the restart,
#   until the direct producers got CQ_CRASH_DOWN_TRAFFIC (200) more pushes
#   acknowledged with no daemon running (they keep working), bounded.
#   CQ_CRASH_PACE_US (0: each producer's pause between pushes in the
#   random scenario; direct.sh sets 100 so that the direct path's traffic
#   lasts long enough for the kills to land in it)
#   CONQUEUED, top_builddir, top_srcdir (set by make check)

# Bash for $RANDOM, arrays, read -t and $EPOCHREALTIME.
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi
set -u

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
CONQUEUED=${CONQUEUED:-$top_builddir/conqueued}
CLIENT=$top_builddir/tests/crash/cq_crash_client
CHECK=$top_builddir/tests/crash/cq_crash_check

SCENARIO=${CQ_CRASH_SCENARIO:-${1:-random}}
MESSAGES=${CQ_CRASH_MESSAGES:-100000}
KILLS=${CQ_CRASH_KILLS:-20}
CLIENT_KILLS=${CQ_CRASH_CLIENT_KILLS:-$KILLS}
PRODUCERS=${CQ_CRASH_PRODUCERS:-4}
CONSUMERS=${CQ_CRASH_CONSUMERS:-4}
MODE=${CQ_CRASH_MODE:-pop}
SEED=${CQ_CRASH_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
CAPACITY=${CQ_CRASH_CAPACITY:-256}
BATCH=${CQ_CRASH_BATCH:-4}
CANCEL=${CQ_CRASH_CANCEL:-7}
ABANDON=${CQ_CRASH_ABANDON:-50}
LEASE_MS=${CQ_CRASH_LEASE_MS:-300}
SIZE=${CQ_CRASH_SIZE:-64}
TIMEOUT=${CQ_CRASH_TIMEOUT:-900}
SITE_COUNTS=${CQ_CRASH_SITE_COUNTS:-1 3 20}
KEEP=${CQ_CRASH_KEEP:-0}
STALL=${CQ_CRASH_STALL:-60}
LOSE=${CQ_CRASH_INJECT_LOSS:+-X $CQ_CRASH_INJECT_LOSS}
DIRECT=${CQ_CRASH_DIRECT:-0}
DOWN_TRAFFIC=${CQ_CRASH_DOWN_TRAFFIC:-200}
PACE_US=${CQ_CRASH_PACE_US:-0}

# Bytes of one producer push in its log: an "I" and an "O" line of
# cq_crash_client, both fixed-width, so log sizes measure progress.
PUSH_BYTES=78
# Longest wait for an armed daemon to reach its crash site.
SITE_WAIT_MS=2000
# Traffic (messages) that must flow after each crash of the sites scenario.
SITE_TRAFFIC=300
# Pause of each producer between pushes in the sites scenario, which runs
# until every site was tried: about 2,000 messages/s with 4 producers.
SITE_PACE_US=2000
# Time the sites scenario's last consumer holds each message before going
# on; it is killed every 100 ms while an armed daemon waits for its site.
SITE_WORK_US=20000
# Longest wait for DOWN_TRAFFIC pushes while the daemon is down.
DOWN_WAIT_MS=15000
Q=crashq

for v in SEED MESSAGES KILLS CLIENT_KILLS PRODUCERS CONSUMERS BATCH CAPACITY \
    DOWN_TRAFFIC PACE_US; do
	case ${!v} in '' | *[!0-9]*)
		echo "run.sh: CQ_CRASH_$v must be a number" >&2
		exit 2
		;;
	esac
done
if [ "$PRODUCERS" -lt 1 ] || [ "$CONSUMERS" -lt 1 ]; then
	echo "run.sh: at least one producer and one consumer" >&2
	exit 2
fi
case $SCENARIO in random | sites) ;; *)
	echo "run.sh: unknown scenario '$SCENARIO' (random or sites)" >&2
	exit 2
	;;
esac
case $DIRECT in 0 | 1 | mixed) ;; *)
	echo "run.sh: CQ_CRASH_DIRECT must be 0, 1 or mixed" >&2
	exit 2
	;;
esac
case $MODE in pop) RFLAG= ;; reserve) RFLAG=-r ;; *)
	echo "run.sh: CQ_CRASH_MODE must be pop or reserve" >&2
	exit 2
	;;
esac
for prog in "$CONQUEUED" "$CLIENT" "$CHECK"; do
	if [ ! -x "$prog" ]; then
		echo "run.sh: $prog not built" >&2
		exit 99
	fi
done

tmp=$(mktemp -d /tmp/cqcrash.XXXXXX) || exit 99
sock=$tmp/cq.sock
logs=$tmp/logs
stopfile=$tmp/stop
inst=crash-$$-${tmp##*.}
mkdir "$logs" || exit 99
mkfifo "$tmp/ready" || exit 99
# The durable scratch queues of the sites scenario log here.
STATE_DIRECTORY=$tmp/state
export STATE_DIRECTORY

dpid=
declare -a ppid cpid pdone pstarts
restarts=0
restart_max=0
restart_sum=0
daemon_kills=0
client_kills=0
down_pushes=0
down_checks=0
result=1

# Kill what is left, remove the shm segments and the temp dir.
cleanup() {
	local pid
	for pid in ${ppid[@]+"${ppid[@]}"} ${cpid[@]+"${cpid[@]}"} $dpid; do
		kill -KILL "$pid" 2>/dev/null
	done
	{ wait; } 2>/dev/null
	rm -rf /dev/shm/conqueue-"$inst" /dev/shm/conqueue-"$inst"-* 2>/dev/null
	if [ "$result" -ne 0 ] && [ "$KEEP" = 1 ]; then
		echo "run.sh: logs kept in $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Print a message and fail, with the daemon's and clients' last words.
fail() {
	echo "FAIL: $*"
	echo "seed $SEED, scenario $SCENARIO, mode $MODE (CQ_CRASH_SEED=$SEED reproduces the schedule)"
	[ -s "$tmp/daemon.log" ] && { echo "--- daemon log (tail)"; tail -n 20 "$tmp/daemon.log"; }
	[ -s "$tmp/clients.err" ] && { echo "--- client errors (tail)"; tail -n 20 "$tmp/clients.err"; }
	[ -s "$tmp/shell.err" ] && { echo "--- driver errors (tail)"; grep -v Killed "$tmp/shell.err" | tail -n 20; }
	exit 1
}

# Microseconds on the wall clock, without a fork.
now_us() {
	echo "${EPOCHREALTIME/./}"
}

# True while pid runs (a zombie does not count).
alive() {
	local _a _b st
	{ read -r _a _b st _ <"/proc/$1/stat"; } 2>/dev/null || return 1
	[ "$st" != Z ]
}

# Set R to a random number in 0..$1-1 from bash's seeded generator (no
# subshell: it would not advance the generator of this shell).
rnd() {
	R=$((((RANDOM << 15) | RANDOM) % $1))
}

# Start the daemon (optional VAR=value environment as arguments) and wait
# for its ready line. Returns 1 if it died before getting ready.
#
# The ready FIFO is opened anew for each start, by the read alone (no fd
# of this shell stays open, so no child inherits a reader): the daemon
# holds the only write end, so the read returns the line, or EOF as soon
# as the daemon dies. (A read with a short timeout in a loop can be
# interrupted halfway through the line under load, and then never sees
# "ready".)
daemon_start() {
	local t0 line ms i
	t0=$(now_us)
	env "$@" "$CONQUEUED" -s "$sock" --instance "$inst" --ready-fd 8 \
	    -l warn 8>"$tmp/ready" 2>>"$tmp/daemon.log" &
	dpid=$!
	line=
	read -r -t 10 line <"$tmp/ready"
	if [ "$line" != ready ]; then
		# EOF: it exits (give it a bounded moment); else it hangs.
		for ((i = 0; i < 500; i++)); do
			alive "$dpid" || break
			sleep 0.02
		done
		alive "$dpid" && fail "daemon not ready after 10 s"
		{ wait "$dpid"; } 2>/dev/null
		dstatus=$?
		dpid=
		return 1
	fi
	ms=$((($(now_us) - t0) / 1000))
	restarts=$((restarts + 1))
	restart_sum=$((restart_sum + ms))
	[ "$ms" -gt "$restart_max" ] && restart_max=$ms
	return 0
}

# SIGKILL the daemon and reap it.
daemon_kill() {
	[ -n "$dpid" ] || return 0
	kill -KILL "$dpid" 2>/dev/null
	{ wait "$dpid"; } 2>/dev/null
	dpid=
	daemon_kills=$((daemon_kills + 1))
}

# Batch size of client $1: odd ones use push_many / pop_many.
batch_of() {
	if [ $(($1 % 2)) -eq 1 ]; then echo "$BATCH"; else echo 1; fi
}

# Set CENV to the environment of client $1 (the path it asks for; role
# $2). Consumer 2's async pops (-C) stay on the socket: on a direct handle
# the daemon may serve one and its receipt then waits for the next socket
# request while the handle's other ops go direct, so a later reply no
# longer proves the daemon read it, which the checker's rule assumes.
client_env() {
	CENV=()
	case $DIRECT in
	0) CENV=(CONQUEUE_DIRECT=0) ;; # the library's default is direct
	1) CENV=(CONQUEUE_DIRECT=1) ;;
	mixed) CENV=(CONQUEUE_DIRECT=$((1 - $1 % 2))) ;;
	esac
	[ "$DIRECT" != 0 ] && [ "$2" = consumer ] && [ "$MODE" = pop ] &&
	    [ "$1" -eq 2 ] && CENV=(CONQUEUE_DIRECT=0)
}

# Start producer $1 (its share of the messages, or until the stop file).
start_producer() {
	local n=$((MESSAGES / PRODUCERS))
	[ "$1" -eq $((PRODUCERS - 1)) ] && n=$((MESSAGES - n * (PRODUCERS - 1)))
	local pace=$PACE_US
	if [ "$SCENARIO" = sites ]; then
		n=1000000000000
		pace=$SITE_PACE_US
	fi
	client_env "$1" producer
	env ${CENV[@]+"${CENV[@]}"} \
	    "$CLIENT" producer -s "$sock" -q "$Q" -i "$1" -n "$n" -z "$SIZE" \
	    -w "$pace" -b "$(batch_of "$1")" \
	    -l "$logs/p$1.log" -x "$stopfile" 2>>"$tmp/clients.err" &
	ppid[$1]=$!
	pdone[$1]=0
	pstarts[$1]=$((${pstarts[$1]:-0} + 1))
}

# Start consumer $1.
start_consumer() {
	local b=1 extra=
	[ "$MODE" = pop ] && b=$(batch_of "$1")
	[ "$MODE" = pop ] && [ "$1" -eq 2 ] && extra="-C $CANCEL"
	[ "$MODE" = reserve ] && [ "$1" -eq 0 ] && extra="-H $ABANDON -L $LEASE_MS"
	# The sites scenario's slow consumer holds each message for a while,
	# so that killing it returns messages (return.* sites).
	[ "$SCENARIO" = sites ] && [ "$1" -eq $((CONSUMERS - 1)) ] &&
	    extra="$extra -P $SITE_WORK_US"
	client_env "$1" consumer
	env ${CENV[@]+"${CENV[@]}"} \
	    "$CLIENT" consumer -s "$sock" -q "$Q" -i "$1" $RFLAG $LOSE -b "$b" $extra \
	    -l "$logs/c$1.log" 2>>"$tmp/clients.err" &
	cpid[$1]=$!
}

# Pushes acknowledged so far (about: retries count too), from log sizes.
progress() {
	local s total=0
	for s in $(stat -c %s "$logs"/p*.log 2>/dev/null); do
		total=$((total + s))
	done
	echo $((total / PUSH_BYTES))
}

# Reap producers that finished; fail on any error exit. True when all are.
producers_done() {
	local i all=0 rc
	for ((i = 0; i < PRODUCERS; i++)); do
		[ "${pdone[$i]}" = 1 ] && continue
		if alive "${ppid[$i]}"; then
			all=1
			continue
		fi
		wait "${ppid[$i]}"
		rc=$?
		[ "$rc" -eq 0 ] || fail "producer $i exited with status $rc"
		pdone[$i]=1
	done
	return $all
}

# Consumers exit only when the queue is closed: fail if one did before.
consumers_running() {
	local i rc
	for ((i = 0; i < CONSUMERS; i++)); do
		alive "${cpid[$i]}" && continue
		wait "${cpid[$i]}"
		rc=$?
		fail "consumer $i exited with status $rc before the queue was closed"
	done
}

# SIGKILL consumer $1 and start it again. In pop mode a plain pop is
# confirmed as soon as the library hands the message over (issue 20), so a
# consumer killed between that and its log line has received a message
# the harness cannot see: pop-mode consumers are not killed (a consumer
# killed while its pop waits is covered by the reserve mode and the
# daemon's own tests); reserve mode kills them, mid-work included.
kill_consumer() {
	[ "$MODE" = pop ] && return 0
	kill -KILL "${cpid[$1]}" 2>/dev/null
	{ wait "${cpid[$1]}"; } 2>/dev/null
	start_consumer "$1"
	client_kills=$((client_kills + 1))
}

# SIGKILL a random client (mostly consumers, caught mid-pop/reserve or
# mid-ack) and start it again with the same id and log.
kill_client() {
	local i
	rnd $((CONSUMERS + PRODUCERS))
	i=$R
	rnd 3
	# Direct pop mode: consumers are not killed (see kill_consumer), so
	# every kill hits a producer, maybe holding the segment lock.
	if [ "$DIRECT" != 0 ] && [ "$MODE" = pop ]; then
		rnd "$PRODUCERS"
		i=$R
		R=0
	fi
	if [ "$i" -lt "$PRODUCERS" ] && [ "$R" -eq 0 ] &&
	    [ "${pdone[$i]}" = 0 ] && alive "${ppid[$i]}"; then
		kill -KILL "${ppid[$i]}" 2>/dev/null
		{ wait "${ppid[$i]}"; } 2>/dev/null
		start_producer "$i"
	else
		kill_consumer $((i % CONSUMERS))
		return
	fi
	client_kills=$((client_kills + 1))
}

# The direct producers that can work without a daemon: running, and past
# the start of their current incarnation (one restarted just before the
# kill has no handle yet and waits for the daemon; its S line may not
# even be written yet): their ids in DREADY.
direct_ready() {
	local i last
	DREADY=
	for ((i = 0; i < PRODUCERS; i++)); do
		[ "$DIRECT" = mixed ] && [ $((i % 2)) -eq 1 ] && continue
		[ "${pdone[$i]}" = 1 ] && continue
		[ "$(grep -c '^S' "$logs/p$i.log" 2>/dev/null)" = "${pstarts[$i]}" ] ||
		    continue
		last=$(tail -n 1 "$logs/p$i.log" 2>/dev/null) || continue
		case $last in I* | O* | F* | U*) DREADY="$DREADY $i" ;; esac
	done
}

# Pushes acknowledged so far by the producers in DREADY (P), and how many
# of them still run (DLEFT).
progress_ready() {
	local i s total=0
	DLEFT=0
	for i in $DREADY; do
		s=$(stat -c %s "$logs/p$i.log" 2>/dev/null) || s=0
		total=$((total + s))
		[ "${pdone[$i]}" = 1 ] || DLEFT=$((DLEFT + 1))
	done
	P=$((total / PUSH_BYTES))
}

# With no daemon running, direct clients must keep moving messages: wait
# until the ready direct producers got DOWN_TRAFFIC more pushes
# acknowledged (or are all done), bounded (below the clients' 30 s
# reconnect bound).
down_traffic() {
	local p0 t0
	direct_ready
	[ -n "$DREADY" ] || return 0
	progress_ready
	p0=$P
	t0=$(now_us)
	while progress_ready && [ "$P" -lt $((p0 + DOWN_TRAFFIC)) ]; do
		producers_done && break
		[ "$DLEFT" -gt 0 ] || break
		[ $((($(now_us) - t0) / 1000)) -lt "$DOWN_WAIT_MS" ] ||
		    fail "direct producers${DREADY} moved $((P - p0)) of $DOWN_TRAFFIC messages in $((DOWN_WAIT_MS / 1000)) s with the daemon down"
		sleep 0.01
	done
	down_pushes=$((down_pushes + P - p0))
	down_checks=$((down_checks + 1))
}

# SIGKILL the daemon and start it again; fail if it cannot start.
crash_daemon() {
	daemon_kill
	[ "$DIRECT" = 0 ] || down_traffic
	daemon_start || fail "daemon died during a normal restart (status $dstatus)"
}

# Fail once the run took longer than CQ_CRASH_TIMEOUT.
check_time() {
	local now st why=$1
	now=$(now_us)
	[ "$now" -lt "$run_deadline" ] ||
	    fail "run exceeded CQ_CRASH_TIMEOUT=${TIMEOUT}s ($why)"
	# Every 5 s: the daemon must have handed out messages within the
	# last CQ_CRASH_STALL seconds, or the traffic is stuck (say, messages
	# left in flight forever); the queue's state tells which.
	[ "$now" -ge "$stall_next" ] || return 0
	stall_next=$((now + 5000000))
	st=$("$CLIENT" stat -s "$sock" -q "$Q" -R 0 2>/dev/null) || return 0
	set -- $st
	if [ "$5" != "$stall_popped" ]; then
		stall_popped=$5
		stall_since=$now
	elif [ $(((now - stall_since) / 1000000)) -ge "$STALL" ]; then
		fail "no message handed out for ${STALL} s ($why): queue length $1, in flight $2, closed $3, pushed $4, popped $5"
	fi
}

# Wait until $1 more pushes were logged (traffic flows), bounded.
await_progress() {
	local target=$(($(progress) + $1))
	while [ "$(progress)" -lt "$target" ]; do
		check_time "waiting for traffic after a restart"
		producers_done && return 0
		sleep 0.02
	done
}

# Random scenario: kills spread over the traffic at seeded positions.
scenario_random() {
	local events ev target kind lo hi i p
	lo=$((MESSAGES * 3 / 100))
	hi=$((MESSAGES * 92 / 100))
	events=
	for ((i = 0; i < KILLS + CLIENT_KILLS; i++)); do
		rnd $((hi - lo + 1))
		kind=client
		[ "$i" -lt "$KILLS" ] && kind=daemon
		events+="$((lo + R)) $kind"$'\n'
	done
	events=$(sort -n <<<"$events")
	set -- $events
	while ! producers_done; do
		check_time "producers not done"
		consumers_running
		p=$(progress)
		while [ $# -ge 2 ] && [ "$1" -le "$p" ]; do
			case $2 in
			daemon) crash_daemon ;;
			client) kill_client ;;
			esac
			shift 2
		done
		sleep 0.02
	done
	# Whatever the progress estimate did not reach happens now, while
	# the consumers still drain.
	while [ $# -ge 2 ]; do
		case $2 in
		daemon) crash_daemon ;;
		client) kill_client ;;
		esac
		shift 2
	done
}

# Crash sites: named in core/queue.h's comment, used in core/*.c
# (CORE_HOOK) and in daemon/*.c (crashpoint).
crash_sites() {
	{
		sed -n '/Test seam/,/core_crash_hook/p' "$top_srcdir/core/queue.h" |
		    grep -o '"[A-Za-z0-9_.]*"'
		cat "$top_srcdir"/core/*.c "$top_srcdir"/daemon/*.c 2>/dev/null |
		    grep -o -E '(CORE_HOOK|crashpoint)\("[A-Za-z0-9_.]*"\)' |
		    grep -o '"[^"]*"'
	} | tr -d '"' | sort -u
}

# A durable (always) scratch queue through conqueue-cli: create, push,
# pop, delete, for the durable.* sites. Without the CLI, nothing.
scratch_durable() {
	local cli=${CONQUEUE_CLI:-}
	[ -n "$cli" ] || return 0
	timeout 10 "$cli" -s "$sock" create "$1" --durable=always \
	    --capacity 4 >/dev/null 2>&1 &&
	    timeout 10 "$cli" -s "$sock" push "$1" x >/dev/null 2>&1 &&
	    timeout 10 "$cli" -s "$sock" pop "$1" --try >/dev/null 2>&1 &&
	    timeout 10 "$cli" -s "$sock" delete "$1" >/dev/null 2>&1
	return 0
}

# Sites scenario: arm the daemon at each site and pass count, drive traffic
# (plus a scratch create/browse/delete, a durable scratch queue for the
# durable.* sites, and consumer kills, so that create.*,
# purge.*, remove.* and return.* are reached) until it dies there, restart normally.
scenario_sites() {
	local site n t0 hits=0 misses=0 startup=0 i r=0 hit first skipped=0
	local -A site_hits
	local sites
	sites=$(crash_sites)
	[ -n "$sites" ] || fail "no crash sites found in $top_srcdir/core"
	for site in $sites; do
		site_hits[$site]=0
		first=1
		for n in $SITE_COUNTS; do
			# Not reached at the first pass count: not at a later
			# one either (this traffic does not pass the site; its
			# own crash test covers it). Saves a wait per count.
			if [ "$first" = 0 ] && [ "${site_hits[$site]}" = 0 ]; then
				skipped=$((skipped + 1))
				continue
			fi
			first=0
			check_time "site $site:$n"
			r=$((r + 1))
			daemon_kill
			hit=0
			if ! daemon_start "CONQUEUE_CRASH_AT=$site:$n"; then
				# Died while reattaching (recover.*).
				[ "$dstatus" -eq 137 ] ||
				    fail "armed daemon ($site:$n) exited with status $dstatus"
				hit=1
				startup=$((startup + 1))
			else
				for ((i = 0; i < 3 && hit == 0; i++)); do
					"$CLIENT" create -s "$sock" -q "$Q.s$r" -R 0 \
					    -c 4 2>/dev/null &&
					    "$CLIENT" browse -s "$sock" -q "$Q.s$r" \
						-R 0 2>/dev/null &&
					    "$CLIENT" delete -s "$sock" -q "$Q.s$r" \
						-R 0 2>/dev/null
					alive "$dpid" || hit=1
					[ "$hit" = 0 ] && scratch_durable "$Q.d$r.$i"
					alive "$dpid" || hit=1
				done
				t0=$(now_us)
				while [ "$hit" = 0 ] && alive "$dpid"; do
					[ $((($(now_us) - t0) / 1000)) -lt "$SITE_WAIT_MS" ] ||
					    break
					rnd 5
					[ "$R" -eq 0 ] && kill_client
					[ $(((($(now_us) - t0) / 20000) % 5)) -eq 4 ] &&
					    kill_consumer $((CONSUMERS - 1))
					sleep 0.02
				done
				if alive "$dpid"; then
					misses=$((misses + 1))
					daemon_kill
				else
					{ wait "$dpid"; } 2>/dev/null
					dstatus=$?
					dpid=
					[ "$dstatus" -eq 137 ] ||
					    fail "armed daemon ($site:$n) exited with status $dstatus"
					daemon_kills=$((daemon_kills + 1))
					hit=1
				fi
			fi
			if [ "$hit" = 1 ]; then
				hits=$((hits + 1))
				site_hits[$site]=$((site_hits[$site] + 1))
			fi
			daemon_start || fail "daemon died during a normal restart after $site:$n (status $dstatus)"
			consumers_running
			await_progress "$SITE_TRAFFIC"
		done
	done
	echo "crash sites (hits of $(echo $SITE_COUNTS | wc -w) pass counts):"
	for site in $sites; do
		printf '  %-28s %d\n' "$site" "${site_hits[$site]}"
	done
	echo "armed restarts: $hits crashed at their site ($startup during start-up), $misses never reached it ($skipped later pass counts of a site never reached skipped)"
	[ "$hits" -gt 0 ] || fail "no crash site was ever reached: is CONQUEUE_CRASH_AT wired into conqueued?"
	touch "$stopfile"
	while ! producers_done; do
		check_time "producers not stopping"
		sleep 0.02
	done
}

RANDOM=$SEED
run_deadline=$(($(now_us) + TIMEOUT * 1000000))
stall_next=0
stall_popped=
stall_since=$(now_us)
echo "crash run: scenario $SCENARIO, mode $MODE, seed $SEED, $PRODUCERS producers, $CONSUMERS consumers, capacity $CAPACITY, direct $DIRECT"
[ "$SCENARIO" = random ] &&
    echo "  $MESSAGES messages, $KILLS daemon kills, $CLIENT_KILLS client kills"

daemon_start || fail "daemon did not start (status $dstatus)"
"$CLIENT" create -s "$sock" -q "$Q" -c "$CAPACITY" 2>>"$tmp/clients.err" ||
    fail "cannot create the queue"
for ((i = 0; i < PRODUCERS; i++)); do start_producer "$i"; done
for ((i = 0; i < CONSUMERS; i++)); do start_consumer "$i"; done
t_start=$(now_us)

# Bash reports daemons that SIGKILLed themselves ("Killed") on stderr.
scenario_$SCENARIO 2>>"$tmp/shell.err"

# Close, then every consumer drains until CQ_CLOSED and exits 0.
"$CLIENT" close -s "$sock" -q "$Q" 2>>"$tmp/clients.err" ||
    fail "cannot close the queue"
for ((i = 0; i < CONSUMERS; i++)); do
	while alive "${cpid[$i]}"; do
		check_time "consumer $i not draining"
		sleep 0.02
	done
	wait "${cpid[$i]}"
	rc=$?
	[ "$rc" -eq 0 ] || fail "consumer $i exited with status $rc while draining"
done
# A last consumer catches anything put back after the others saw CLOSED.
"$CLIENT" consumer -s "$sock" -q "$Q" -i "$CONSUMERS" $RFLAG -R 5000 \
    -l "$logs/c$CONSUMERS.log" 2>>"$tmp/clients.err" ||
    fail "final drain failed"
st=$("$CLIENT" stat -s "$sock" -q "$Q" 2>>"$tmp/clients.err") ||
    fail "cannot stat the queue"
set -- $st
[ "$1" = 0 ] && [ "$2" = 0 ] && [ "$3" = 1 ] ||
    fail "queue not drained after close: length $1, in flight $2, closed $3"
t_end=$(now_us)

kill -TERM "$dpid"
wait "$dpid"
rc=$?
dpid=
[ "$rc" -eq 0 ] || fail "daemon exited with status $rc on SIGTERM"

echo "daemon: $daemon_kills SIGKILLs, $restarts starts, restart until ready: max ${restart_max} ms, mean $((restart_sum / restarts)) ms"
[ "$DIRECT" = 0 ] ||
    echo "daemon down: $down_pushes pushes acknowledged while no daemon ran ($down_checks of $daemon_kills kills found a direct producer at work)"
echo "clients: $client_kills SIGKILLs; traffic took $(((t_end - t_start) / 1000)) ms; daemon totals pushed $4, popped $5"
"$CHECK" "$logs" || fail "the checker found violations"
result=0
echo "PASS"
exit 0
