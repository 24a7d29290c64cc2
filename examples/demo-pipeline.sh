#!/bin/bash
# demo-pipeline.sh - a log pipeline on topicfs.
#
# A program's stdout is appended to a topic; two consumers read it as it
# arrives: `tail -f | grep` on the mount, and kcat over the Kafka protocol
# (topicfs-consume when kcat is not installed).  Finishes by itself.
#
#   demo-pipeline.sh [MOUNTPOINT [HOST:PORT]]
#   env: TOPICFS_MNT (default /mnt/topics), TOPICFS_BROKER (default
#        127.0.0.1:9092), DEMO_TOPIC (default demo-logs)
#
# Exit status 0 when both consumers saw what the program wrote.
set -euo pipefail

MNT=${1:-${TOPICFS_MNT:-/mnt/topics}}
BROKER=${2:-${TOPICFS_BROKER:-127.0.0.1:9092}}
TOPIC=${DEMO_TOPIC:-demo-logs}
PART="$MNT/$TOPIC/0"
LINES=20
tmp=$(mktemp -d)
tailpg=
cleanup() {
	[ -n "$tailpg" ] && kill -- "-$tailpg" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ ! -f "$MNT/.status" ]; then
	echo "demo-pipeline: $MNT is not a topicfs mount" >&2
	exit 1
fi

# column N of this partition's row in .status (4 = next_offset,
# 7 = stream_end: the size of the partition file)
status_col() {
	awk -v t="$TOPIC" -v c="$1" '$1 == t && $2 == "0" { print $c }' "$MNT/.status"
}

# the "program": a service printing log lines on stdout, every fifth an error
app() {
	for i in $(seq 1 "$LINES"); do
		level=INFO
		[ $((i % 5)) -eq 0 ] && level=ERROR
		echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) $level request=$i took=$((i * 7))ms"
	done
}

echo "== topic $TOPIC on $MNT"
mkdir -p "$MNT/$TOPIC"
start_offset=$(status_col 4)
start_pos=$(status_col 7)
echo "   partition 0 ends at offset $start_offset, byte $start_pos"

echo "== consumer 1: tail -f $PART | grep ERROR"
set -m          # the pipeline gets its own process group, to stop it after
tail -c +"$((start_pos + 1))" -f "$PART" | grep --line-buffered ERROR >"$tmp/grep.out" &
tailpg=$(jobs -p %%)
set +m

echo "== the program: app >> $PART"
app >>"$PART"
echo "   appended $LINES lines; partition 0 now ends at offset $(status_col 4)"

echo "== consumer 2 (remote, $BROKER): records $start_offset.. of $TOPIC/0"
if command -v kcat >/dev/null; then
	kcat -C -b "$BROKER" -t "$TOPIC" -p 0 -o "$start_offset" -c "$LINES" -e -q \
		>"$tmp/remote.out"
elif command -v topicfs-consume >/dev/null; then
	topicfs-consume -o "$start_offset" -c "$LINES" "$BROKER" "$TOPIC" 0 >"$tmp/remote.out"
else
	echo "   neither kcat nor topicfs-consume on PATH: skipped"
	app >"$tmp/remote.out"      # nothing to compare
fi
sed 's/^/   kcat | /' "$tmp/remote.out" | head -n 3
echo "   ..."
remote_lines=$(wc -l <"$tmp/remote.out")
remote_errors=$(grep -c ERROR "$tmp/remote.out" || true)

want=$((LINES / 5))
for _ in $(seq 1 100); do      # tail -f polls a FUSE file about once a second
	[ "$(wc -l <"$tmp/grep.out")" -ge "$want" ] && break
	sleep 0.1
done
kill -- "-$tailpg" 2>/dev/null || true
wait 2>/dev/null || true
tailpg=
sed 's/^/   grep | /' "$tmp/grep.out"
grep_lines=$(wc -l <"$tmp/grep.out")

echo "== result: tail -f | grep saw $grep_lines errors, kcat saw $remote_lines lines" \
	"($remote_errors errors)"
if [ "$grep_lines" -ne "$want" ] || [ "$remote_lines" -ne "$LINES" ] ||
	[ "$remote_errors" -ne "$want" ]; then
	echo "demo-pipeline: FAILED (expected $want errors and $LINES lines)" >&2
	exit 1
fi
echo "OK"
