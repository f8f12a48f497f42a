#!/bin/sh
# selftest.sh - the crash harness must be able to fail: broken histories.
#
# Feeds cq_crash_check hand-written logs, one correct history and one per
# rule with exactly that rule broken, and checks the verdicts. Then, when
# conqueued is built, runs run.sh with consumers that forget messages
# (CQ_CRASH_INJECT_LOSS) and expects it to report them lost and fail.

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
CHECK=$top_builddir/tests/crash/cq_crash_check
CONQUEUED=${CONQUEUED:-$top_builddir/conqueued}

if [ ! -x "$CHECK" ]; then
	echo "selftest.sh: $CHECK not built" >&2
	exit 99
fi
tmp=$(mktemp -d /tmp/cqcrashself.XXXXXX) || exit 99
trap 'rm -rf "$tmp"' EXIT
failed=0

# A correct history: producer 0 pushes 0, 1 and 2 (2 after an unknown
# outcome, retried), consumer 0 pops them in order and sees CQ_CLOSED.
base() {
	rm -rf "$tmp/l"
	mkdir "$tmp/l"
	cat >"$tmp/l/p0.log" <<'EOF'
S 100 producer 0 1
I 1000 push 0000000000
O 1100 push 0000000000
I 1200 push 0000000001
O 1300 push 0000000001
I 1400 push 0000000002
U 1500 push 0000000002 CQ_DISCONNECTED
I 1600 push 0000000002
O 1700 push 0000000002
E 1800 exit 0
EOF
	cat >"$tmp/l/c0.log" <<'EOF'
S 900 consumer 0 2
I 1150 pop 1
O 1160 pop 1 1 1 0 0 1
I 1350 pop 2
O 1360 pop 2 2 1 0 1 1
I 1750 pop 3
O 1760 pop 3 4 1 0 2 1
I 1770 pop 4
F 1780 pop 4 CQ_CLOSED
E 1790 exit 0
EOF
}

# Run the checker on $tmp/l: expect status $1 and output matching $2.
expect() {
	out=$("$CHECK" "$tmp/l" 2>&1)
	rc=$?
	if [ "$rc" -ne "$1" ] || ! printf '%s\n' "$out" | grep -q -e "$2"; then
		echo "FAIL: $3: status $rc (want $1), output:"
		printf '%s\n' "$out"
		failed=1
	else
		echo "ok: $3"
	fi
}

base
expect 0 'RESULT: OK' "a correct history passes"

base
sed -i '/^O 1360 pop 2/d' "$tmp/l/c0.log"
expect 1 'lost 1,' "an acknowledged push never delivered is lost"

base
printf 'S 2000 consumer 1 3\nI 2010 pop 1\nO 2020 pop 1 9 1 0 7 1\n' \
    >"$tmp/l/c1.log"
expect 1 'unexpected 1,' "a delivery of a value never pushed is unexpected"

base
printf 'S 2000 consumer 1 3\nI 2010 pop 1\nO 2020 pop 1 9 1 0 1 0\n' \
    >"$tmp/l/c1.log"
expect 1 'corrupt body' "a delivery with a bad checksum is unexpected"

base
printf 'S 2000 consumer 1 3\nI 2010 pop 1\nO 2020 pop 1 2 2 0 1 1\n' \
    >"$tmp/l/c1.log"
expect 1 'had confirmed it' "a redelivery after a confirmed receipt fails"

base
# Consumer 0 is killed right after its last message: the receipt never
# left, so a redelivery is allowed (and counted).
sed -i '/^I 1770/,$d' "$tmp/l/c0.log"
printf 'S 2000 consumer 0 4\nI 2010 pop 1\nO 2020 pop 1 4 2 0 2 1\nI 2030 pop 2\nF 2040 pop 2 CQ_CLOSED\nE 2050 exit 0\n' \
    >>"$tmp/l/c0.log"
expect 0 'redeliveries 1,' "a redelivery after a crash before the receipt passes"

base
# pop_many: the second message of a reply is no receipt for the first.
sed -i '/^I 1350/,$d' "$tmp/l/c0.log"
printf 'I 1750 pop 2\nO 1760 pop 2 2 1 0 1 1\nO 1760 pop 2 4 1 0 2 1\n' \
    >>"$tmp/l/c0.log"
printf 'S 2000 consumer 1 3\nI 2010 pop 1\nO 2020 pop 1 2 2 0 1 1\n' \
    >"$tmp/l/c1.log"
expect 0 'redeliveries 1,' "pop_many: a redelivery of a batch's first message passes"

base
# push_many: the values of a batch are invoked and completed together.
cat >"$tmp/l/p0.log" <<'EOF'
S 100 producer 0 1
I 1000 push 0000000000
I 1000 push 0000000001
O 1100 push 0000000000
O 1100 push 0000000001
I 1400 push 0000000002
U 1500 push 0000000002 CQ_DISCONNECTED
I 1600 push 0000000002
O 1700 push 0000000002
E 1800 exit 0
EOF
expect 0 'RESULT: OK' "push_many: a batch's lines are read as one op"

base
# push_many retried after an unknown outcome: both copies of the batch
# arrive, in id order, so 0:1's first copy comes before 0:0's second.
cat >"$tmp/l/p0.log" <<'EOF'
S 100 producer 0 1
I 1000 push 0000000000
I 1000 push 0000000001
U 1100 push 0000000000 CQ_DISCONNECTED
U 1100 push 0000000001 CQ_DISCONNECTED
I 1200 push 0000000000
I 1200 push 0000000001
O 1300 push 0000000000
O 1300 push 0000000001
E 1800 exit 0
EOF
cat >"$tmp/l/c0.log" <<'EOF'
S 900 consumer 0 2
I 1310 pop 1
O 1320 pop 1 1 1 0 0 1
I 1330 pop 2
O 1340 pop 2 2 1 0 1 1
I 1350 pop 3
O 1360 pop 3 3 1 0 0 1
I 1370 pop 4
O 1380 pop 4 4 1 0 1 1
I 1390 pop 5
F 1400 pop 5 CQ_CLOSED
E 1410 exit 0
EOF
expect 0 'double pushes 2' "push_many: a retried batch arrives twice, in id order"

base
sed -i '/^I 1770/,$d' "$tmp/l/c0.log"
printf 'S 2000 consumer 0 4\nI 2010 pop 1\nO 2020 pop 1 4 1 0 2 1\n' \
    >>"$tmp/l/c0.log"
expect 1 'twice with delivery count' "a redelivery must carry a new delivery count"

base
# The connection is lost after the message: the receipt may be lost too.
sed -i 's/^F 1780 pop 4 CQ_CLOSED/U 1780 pop 4 CQ_DISCONNECTED/' \
    "$tmp/l/c0.log"
printf 'S 2000 consumer 1 3\nI 2010 pop 1\nO 2020 pop 1 4 2 0 2 1\n' \
    >"$tmp/l/c1.log"
expect 0 'RESULT: OK' "a redelivery after a lost connection passes"

base
sed -i 's/^O 1160 pop 1 1 1 0 0 1/O 1160 pop 1 2 1 0 1 1/; s/^O 1360 pop 2 2 1 0 1 1/O 1360 pop 2 1 1 0 0 1/' \
    "$tmp/l/c0.log"
expect 1 'order violations 1' "FIFO is checked in real time"

base
printf 'S 2000 consumer 1 3\nI 2010 pop 1\nO 2020 pop 1 3 1 0 1 1\n' \
    >"$tmp/l/c1.log"
expect 1 'at most 1 times' "a value pushed once cannot arrive as two messages"

base
printf 'S 2000 consumer 1 3\nI 2010 pop 1\nO 2020 pop 1 5 1 0 2 1\n' \
    >"$tmp/l/c1.log"
expect 0 'double pushes 1' "a value retried after an unknown push may arrive twice"

base
sed -i 's/^O 1360 pop 2 2 1 0 1 1/O 1360 pop 2 0 1 0 1 1/' "$tmp/l/c0.log"
expect 1 'not newer than' "message ids grow with each producer's sequence"

base
# Reserve mode: the ack is what makes a delivery safe.
cat >"$tmp/l/c0.log" <<'EOF'
S 900 consumer 0 2
I 1150 reserve 1
O 1160 reserve 1 1 1 0 0 1
I 1161 ack 2 1
O 1162 ack 2 1
I 1350 reserve 3
O 1360 reserve 3 2 1 0 1 1
I 1361 ack 4 2
U 1362 ack 4 2 CQ_DISCONNECTED
I 1750 reserve 5
O 1760 reserve 5 4 1 0 2 1
I 1761 ack 6 4
O 1762 ack 6 4
I 1770 reserve 7
O 1780 reserve 7 2 2 0 1 1
I 1781 ack 8 2
O 1782 ack 8 2
EOF
expect 0 'redeliveries 1,' "reserve: a redelivery after a lost ack passes"
printf 'S 2000 consumer 1 3\nI 2010 reserve 1\nO 2020 reserve 1 1 2 0 0 1\n' \
    >"$tmp/l/c1.log"
expect 1 'had confirmed it' "reserve: a redelivery after a successful ack fails"
rm "$tmp/l/c1.log"
# An abandoned reservation (no ack) expires and comes back to the same
# consumer, which acks the new copy: the old copy stays at risk.
printf 'I 1790 reserve 9\nO 1791 reserve 9 4 2 0 2 1\nI 1792 ack 10 4\nO 1793 ack 10 4\n' \
    >>"$tmp/l/c0.log"
sed -i '/^I 1761 ack 6 4$/d; /^O 1762 ack 6 4$/d' "$tmp/l/c0.log"
expect 0 'redeliveries 2,' "reserve: an expired lease allows one redelivery"

# End to end: consumers that forget messages must make run.sh fail.
if [ -x "$CONQUEUED" ]; then
	out=$(CQ_CRASH_MESSAGES=4000 CQ_CRASH_KILLS=2 CQ_CRASH_CLIENT_KILLS=2 \
	    CQ_CRASH_INJECT_LOSS=101 CQ_CRASH_SEED=7 \
	    sh "$top_srcdir/tests/crash/run.sh" random 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && printf '%s\n' "$out" | grep -q 'lost [1-9]'; then
		echo "ok: run.sh fails when consumers forget messages"
	else
		echo "FAIL: run.sh with CQ_CRASH_INJECT_LOSS: status $rc, output:"
		printf '%s\n' "$out"
		failed=1
	fi
fi
exit $failed
