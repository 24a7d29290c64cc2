#!/bin/bash
# demo-replay.sh - replay a partition from an offset and from a time.
#
# Writes two bursts of events a second apart, then reads them back through
# the hidden views of the partition file (<p>@<from>[..<to>]) and over the
# Kafka protocol with kcat.  Finishes by itself.
#
#   demo-replay.sh [MOUNTPOINT [HOST:PORT]]
#   env: TOPICFS_MNT (default /mnt/topics), TOPICFS_BROKER (default
#        127.0.0.1:9092), DEMO_TOPIC (default demo-replay)
#
# Exit status 0 when every replay returned the records expected.
set -euo pipefail

MNT=${1:-${TOPICFS_MNT:-/mnt/topics}}
BROKER=${2:-${TOPICFS_BROKER:-127.0.0.1:9092}}
TOPIC=${DEMO_TOPIC:-demo-replay}
P="$MNT/$TOPIC/0"
fail=0

if [ ! -f "$MNT/.status" ]; then
	echo "demo-replay: $MNT is not a topicfs mount" >&2
	exit 1
fi
next_offset() {
	awk -v t="$TOPIC" '$1 == t && $2 == "0" { print $4 }' "$MNT/.status"
}
# check NAME EXPECTED ACTUAL
check() {
	if [ "$2" = "$3" ]; then
		echo "   ok: $1"
	else
		echo "   MISMATCH: $1"; echo "     expected: $2" | head -n 3
		echo "     got:      $3" | head -n 3
		fail=1
	fi
}

mkdir -p "$MNT/$TOPIC"
base=$(next_offset)
echo "== writing events 1-10 at offsets $base..$((base + 9))"
for i in $(seq 1 10); do echo "event $i"; done >>"$P"

# the second burst starts on a fresh second, so a time-of-day replay from
# that second finds exactly it
now_ms=$(date +%s%3N)
sleep "$(printf '0.%03d' $((1000 - now_ms % 1000)))"
sleep 0.05
t1_s=$(date +%s)
t1_ms=$(date +%s%3N)
t1_iso=$(date -u -d "@$t1_s" +%Y-%m-%dT%H:%M:%SZ)
echo "== writing events 11-20 at $t1_iso ($t1_ms ms)"
for i in $(seq 11 20); do echo "event $i"; done >>"$P"

echo "== replay from an offset: head -n 3 $TOPIC/0@$((base + 4))"
out=$(head -n 3 "$P@$((base + 4))")
echo "$out" | sed 's/^/   | /'
check "offset $((base + 4)) is event 5" "$(printf 'event %s\n' 5 6 7)" "$out"

echo "== a bounded range: cat $TOPIC/0@$((base + 8))..$((base + 12))"
out=$(cat "$P@$((base + 8))..$((base + 12))")
echo "$out" | sed 's/^/   | /'
check "offsets $((base + 8))..$((base + 11))" "$(printf 'event %s\n' 9 10 11 12)" "$out"

echo "== replay from a time: head -n 2 $TOPIC/0@$t1_iso"
out=$(head -n 2 "$P@$t1_iso")
echo "$out" | sed 's/^/   | /'
check "records at or after $t1_iso" "$(printf 'event %s\n' 11 12)" "$out"

echo "== the last 3 records: cat $TOPIC/0@-3..$((base + 20))"
out=$(cat "$P@-3..$((base + 20))")
echo "$out" | sed 's/^/   | /'
check "the last three" "$(printf 'event %s\n' 18 19 20)" "$out"

if command -v kcat >/dev/null; then
	echo "== remote, from an offset: kcat -o $((base + 4)) -c 3"
	out=$(kcat -C -b "$BROKER" -t "$TOPIC" -p 0 -o "$((base + 4))" -c 3 -e -q)
	echo "$out" | sed 's/^/   | /'
	check "kcat from offset $((base + 4))" "$(printf 'event %s\n' 5 6 7)" "$out"
	echo "== remote, from a time: kcat -o s@$t1_ms -c 2"
	out=$(kcat -C -b "$BROKER" -t "$TOPIC" -p 0 -o "s@$t1_ms" -c 2 -e -q)
	echo "$out" | sed 's/^/   | /'
	check "kcat from $t1_ms ms" "$(printf 'event %s\n' 11 12)" "$out"
else
	echo "== kcat not installed: remote replay skipped"
fi

if [ "$fail" -ne 0 ]; then
	echo "demo-replay: FAILED" >&2
	exit 1
fi
echo "OK"
