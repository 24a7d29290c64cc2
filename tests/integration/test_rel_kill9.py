"""kill -9 loop (docs/TESTING.md R1): writers through the mount and over TCP log
what was acknowledged; the daemon is killed at a random moment (in some
rounds killed again during its recovery, before it is ready); after each
restart every acknowledged record is there once, in order, nothing is
torn, and the bytes at every stream position are the ones an earlier round
read there; at the end `topicfs-dump --verify` passes on every partition
and a second restart changes nothing.  A result table closes the run.

Rounds: TOPICFS_KILL9_ROUNDS (default 20 in CI, ~1-2 minutes).  The soak,
1,000 rounds (about half an hour on 2 cores), by hand:
    TOPICFS_KILL9_ROUNDS=1000 TOPICFS_BIN=build/daemon/topicfs \\
    TOPICFS_TOOLS=build/tools nice python3 tests/integration/test_rel_kill9.py
TOPICFS_KILL9_SEED fixes the random choices (printed at the start; a
failure names its round and seed); TOPICFS_KILL9_KEEP=DIR copies the data
dir and the ack files there when a round fails.

Every round runs all of these at once, each continuing its own stream of
numbered lines across rounds:
  - four topics: lines/none, lines/zstd, writes/lz4, writes/none (8 and
    16 KiB segments so kills land around rolls; retention_bytes 1 MiB so
    they land around retention too, whose bound is checked every round:
    bytes_on_disk <= retention_bytes + 2 segments);
  - a mount writer per topic (1..3 lines per write(2)), two of them
    fsync()ing every 64 writes, two never; a new round's writer resumes
    after the last line found in the log (no duplicates allowed);
  - three TCP producers (Produce v3): acks=1 plain batches, acks=all (-1)
    gzip batches, acks=all plain batches; a new round's producer first
    re-sends the request that was in flight at the kill, as a retrying
    Kafka producer does, so a duplicate of that one request is allowed
    (and counted);
  - flush_ms 20 so flushes, recovery points and checkpoints move while the
    daemon dies.
"""
import array
import bisect
import collections
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import main, run, read_bytes, wait_for, tool  # noqa: E402
from netutil import NetTestCase  # noqa: E402

ROUNDS = int(os.environ.get("TOPICFS_KILL9_ROUNDS", "20"))
SEED = int(os.environ.get("TOPICFS_KILL9_SEED", str(int(time.time()) % 100000)))
MAX_LINES = 2000           # per writer and round: bounds a round's data
RECOVERY_KILL_P = 0.3      # share of rounds that also kill during recovery
RETENTION = 1 << 20
MAXREQ = 3                 # lines per write(2) / records per Produce

# topic -> (framing, codec, segment_bytes)
TOPICS = {
    "k_ln": ("lines", "none", 8192),
    "k_lz": ("lines", "zstd", 16384),
    "k_wl": ("writes", "lz4", 8192),
    "k_wn": ("writes", "none", 16384),
}
# writer tag -> (kind, topic, option); kinds are the table's rows
WRITERS = {
    "m_ln": ("mount+fsync", "k_ln", 64),
    "m_lz": ("mount", "k_lz", 0),
    "m_wl": ("mount+fsync", "k_wl", 64),
    "m_wn": ("mount", "k_wn", 0),
    "t_lz": ("tcp acks=1", "k_lz", (1, 0)),
    "t_wl": ("tcp acks=all", "k_wl", (-1, 1)),       # gzip batches
    "t_ln": ("tcp acks=all", "k_ln", (-1, 0)),
}
KINDS = ["mount+fsync", "mount", "tcp acks=1", "tcp acks=all"]
DUPS_ALLOWED = {"tcp acks=1", "tcp acks=all"}

# 1..3 lines per write(2) from index `start`; an fsync every `fs` writes
# (0: never); the ack file gets the index of every line whose write returned.
MOUNT_WRITER = r'''
import os, sys
path, tag, ack = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
start, limit, fs = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
afd = os.open(ack, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
i, w = start, 0
while i < start + limit:
    n = 1 + (i * 7 + w) % 3
    data = b"".join(b"%s-%06d-%s\n" % (tag, j, b"x" * (j % 41)) for j in range(i, i + n))
    try:
        os.write(fd, data)
    except OSError:
        sys.exit(3)
    os.write(afd, b"".join(b"%d\n" % j for j in range(i, i + n)))
    i += n
    w += 1
    if fs and w % fs == 0:
        try:
            os.fsync(fd)
        except OSError:
            sys.exit(3)
'''

# Produce v3 of 1..3 records per request over one connection, from index
# `start`; the first request is `first_n` records (the retried one).  The
# inflight file names each request before it is sent.
TCP_WRITER = r'''
import gzip, os, struct, sys
sys.path.insert(0, sys.argv[1])
from netutil import Raw
from relutil import encode_batch, produce_v3, crc32c
port, topic, tag, ack, infl = int(sys.argv[2]), sys.argv[3], sys.argv[4].encode(), sys.argv[5], sys.argv[6]
start, limit, acks, gz, first_n, nl = [int(x) for x in sys.argv[7:13]]
afd = os.open(ack, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

def gzip_batch(b):
    # the records section compressed (gzip), attributes codec 1, CRC again
    recs = gzip.compress(b[61:], 1)
    after = struct.pack(">h", 1) + b[23:61] + recs
    hdr = b[:8] + struct.pack(">i", 4 + 1 + 4 + len(after)) + b[12:17]
    return hdr + struct.pack(">I", crc32c(after)) + after

try:
    c = Raw(port)
except OSError:
    sys.exit(3)
i = start
while i < start + limit:
    n = first_n if i == start and first_n else 1 + (i * 5) % 3
    vals = [b"%s-%06d-%s%s" % (tag, j, b"x" * (j % 41), b"\n" if nl else b"")
            for j in range(i, i + n)]
    b = encode_batch(vals)
    if gz:
        b = gzip_batch(b)
    with open(infl, "w") as f:
        f.write("%d %d\n" % (i, n))
    try:
        err, base = produce_v3(c, topic, 0, b, acks=acks)
    except Exception:
        sys.exit(3)
    if err != 0:
        sys.exit(4)
    os.write(afd, b"".join(b"%d\n" % j for j in range(i, i + n)))
    i += n
'''

LINE_RE = re.compile(rb"^([mt]_[a-z]{2})-(\d{6,})-(x*)$")   # %06d: 7 digits past 999999


class Kill9Loop(NetTestCase):
    daemon_config = dict(
        {"storage": {"segment_bytes": "8192", "index_interval_bytes": "256",
                     "flush_ms": "20"}},
        **{"topic." + t: {"framing": f, "compression": c, "segment_bytes": str(s),
                          "retention_bytes": str(RETENTION)}
           for t, (f, c, s) in TOPICS.items()})

    def fail_round(self, msg):
        sys.stderr.write("round %d (seed %d): %s\n" % (self.rnd, SEED, msg))
        keep = os.environ.get("TOPICFS_KILL9_KEEP")
        if keep:
            # the data dir and the ack files, for a post-mortem (retention
            # may delete files of the live daemon meanwhile)
            try:
                shutil.copytree(self.root, keep, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("mnt"))
            except shutil.Error:
                pass
            msg += " (copy of the test dir in %s)" % keep
        self.fail("round %d (seed %d): %s" % (self.rnd, SEED, msg))

    def read_topic(self, topic):
        """(stream_start, bytes) of partition 0, read whole through the
        mount; re-read if retention moved the start meanwhile."""
        path = self.daemon.path(topic, "0")
        for _ in range(20):
            ss = int(os.getxattr(path, "user.topicfs.stream_start"))
            fd = os.open(path, os.O_RDONLY)
            try:
                chunks, pos = [], ss
                while True:
                    try:
                        b = os.pread(fd, 1 << 20, pos)
                    except OSError:
                        b = None        # overtaken by retention
                        break
                    if not b:
                        break
                    chunks.append(b)
                    pos += len(b)
            finally:
                os.close(fd)
            if b is not None and int(os.getxattr(path, "user.topicfs.stream_start")) == ss:
                return ss, b"".join(chunks)
            time.sleep(0.05)
        self.fail_round("%s: could not read a stable stream" % topic)

    def parse(self, topic, data):
        """{writer tag: [indexes in log order]}, checking every line whole."""
        if not (data == b"" or data.endswith(b"\n")):
            self.fail_round("%s: partial last line %r" % (topic, data[-80:]))
        if b"\0" in data:
            self.fail_round("%s: NUL byte at %d" % (topic, data.index(b"\0")))
        seen = collections.defaultdict(list)
        for line in data.split(b"\n")[:-1]:
            m = LINE_RE.match(line)
            if m is None:
                self.fail_round("%s: torn or foreign line %r" % (topic, line[:80]))
            tag, i = m.group(1).decode(), int(m.group(2))
            if m.group(3) != b"x" * (i % 41):
                self.fail_round("%s: torn line %r" % (topic, line[:80]))
            seen[tag].append(i)
        return seen

    def acked(self, tag):
        """The indexes a writer saw acknowledged, increasing (each round's
        writer starts past the last one found), as an array read
        incrementally: the soak's ack files reach millions of lines."""
        arr, off = self.ack_cache.get(tag, (array.array("q"), 0))
        try:
            with open(self.acks[tag], "rb") as f:
                f.seek(off)
                data = f.read()
        except FileNotFoundError:
            data = b""
        end = data.rfind(b"\n") + 1
        if end:
            arr.extend(int(x) for x in data[:end].split())
            off += end
        self.ack_cache[tag] = (arr, off)
        return arr

    def check(self):
        """Every acknowledged record of every writer so far, once (or twice
        for a retried request), in order; positions stable; retention
        within its bound.  Returns {tag: end index found}."""
        got = {}
        for topic, (fr, codec, segb) in TOPICS.items():
            path = self.daemon.path(topic, "0")
            ss, data = self.read_topic(topic)
            old = self.streams.get(topic)
            if old is not None:
                # the bytes at a position never change
                oss, odata = old
                lo, hi = max(ss, oss), oss + len(odata)
                if ss < oss:
                    self.fail_round("%s: stream start went back %d -> %d" % (topic, oss, ss))
                if ss + len(data) < hi:
                    self.fail_round("%s: stream end went back %d -> %d"
                                    % (topic, hi, ss + len(data)))
                if lo < hi and data[lo - ss:hi - ss] != odata[lo - oss:hi - oss]:
                    k = next(j for j in range(hi - lo)
                             if data[lo - ss + j] != odata[lo - oss + j])
                    self.fail_round("%s: bytes at stream position %d changed: %r -> %r"
                                    % (topic, lo + k, odata[lo - oss + k:lo - oss + k + 60],
                                       data[lo - ss + k:lo - ss + k + 60]))
            self.streams[topic] = (ss, data)
            bod = int(os.getxattr(path, "user.topicfs.bytes_on_disk"))
            self.max_over[topic] = max(self.max_over.get(topic, 0), bod - RETENTION)
            if bod > RETENTION + 2 * segb:
                self.fail_round("%s: %d bytes on disk, over retention_bytes %d + 2 "
                                "segments of %d" % (topic, bod, RETENTION, segb))
            for tag, seq in self.parse(topic, data).items():
                if WRITERS.get(tag, (None, None))[1] != topic:
                    self.fail_round("%s: lines of writer %s" % (topic, tag))
                got[tag] = seq
        ends = {}
        for tag, (kind, topic, _) in WRITERS.items():
            seq = got.get(tag, [])
            acked = self.acked(tag)
            amax = acked[-1] if acked else -1
            prev_start, prev_end = self.ranges.get(tag, (0, 0))
            if not seq:
                if amax >= 0:
                    self.fail_round("writer %s lost every record (acked up to %d)"
                                    % (tag, amax))
                ends[tag] = 0
                continue
            start, expect, dups = seq[0], seq[0], 0
            for i in seq:
                if i == expect:
                    expect += 1
                elif kind in DUPS_ALLOWED and expect - MAXREQ <= i < expect:
                    dups += 1
                else:
                    self.fail_round("writer %s: %d after %d (hole, reorder or "
                                    "duplicate)" % (tag, i, expect - 1))
            if start < prev_start or start > prev_end:
                self.fail_round("writer %s: first record %d, was %d..%d"
                                % (tag, start, prev_start, prev_end))
            if start > 0 and int(os.getxattr(self.daemon.path(topic, "0"),
                                              "user.topicfs.log_start_offset")) == 0:
                self.fail_round("writer %s: records 0..%d missing, no retention"
                                % (tag, start - 1))
            lost = list(acked[bisect.bisect_left(acked, max(start, expect)):])
            if lost:
                self.fail_round("writer %s (%s, topic %s) lost %d acknowledged "
                                "records: %s (found %d..%d)"
                                % (tag, kind, topic, len(lost), lost[:20], start,
                                   expect - 1))
            if expect - 1 > amax + MAXREQ:
                self.fail_round("writer %s: records up to %d, acknowledged up to "
                                "%d: more than the request in flight"
                                % (tag, expect - 1, amax))
            self.dups[tag] = dups
            self.ranges[tag] = (start, expect)
            ends[tag] = expect
        return ends

    def spawn(self, ends):
        procs = []
        for tag, (kind, topic, opt) in WRITERS.items():
            if kind.startswith("mount"):
                cmd = [sys.executable, "-c", MOUNT_WRITER, self.daemon.path(topic, "0"),
                       tag, self.acks[tag], str(ends[tag]), str(MAX_LINES), str(opt)]
            else:
                # retry the request in flight at the kill, if any
                infl = os.path.join(self.root, "inflight." + tag)
                acked = self.acked(tag)
                nxt, first_n = (acked[-1] + 1 if acked else 0), 0
                if os.path.exists(infl):
                    with open(infl) as f:
                        s, n = [int(x) for x in f.read().split()]
                    if s == nxt:
                        first_n = n
                acks, gz = opt
                nl = 1 if TOPICS[topic][0] == "writes" else 0
                cmd = [sys.executable, "-c", TCP_WRITER, HERE, str(self.daemon.port),
                       topic, tag, self.acks[tag], infl, str(nxt), str(MAX_LINES),
                       str(acks), str(gz), str(first_n), str(nl)]
            procs.append((tag, subprocess.Popen(cmd)))
        return procs

    def ready_now(self):
        if not self.daemon.mounted():
            return False
        try:
            socket.create_connection(("127.0.0.1", self.daemon.port), 0.1).close()
        except OSError:
            return False
        return True

    def test_kill9_loop(self):
        rng = random.Random(SEED)
        sys.stderr.write("kill -9 loop: %d rounds, seed %d\n" % (ROUNDS, SEED))
        self.acks = {tag: os.path.join(self.root, "ack." + tag) for tag in WRITERS}
        self.ack_cache = {}
        self.streams, self.ranges, self.dups, self.max_over = {}, {}, {}, {}
        self.rnd = -1
        t_start = time.monotonic()
        self.start()
        ends = {tag: 0 for tag in WRITERS}
        recovery_kills = recovery_tries = 0
        restart_est = 0.3
        for rnd in range(ROUNDS):
            self.rnd = rnd
            before = {tag: len(self.acked(tag)) for tag in WRITERS}
            procs = self.spawn(ends)
            try:
                # let every writer get something acknowledged, then a random
                # moment more
                wait_for(lambda: all(len(self.acked(t)) > before[t] for t in WRITERS),
                         30, what="writers of round %d to start" % rnd)
                time.sleep(rng.uniform(0.0, 0.5))
                self.daemon.proc.kill()
                self.daemon.proc.wait(10)
            finally:
                for _, p in procs:
                    if p.poll() is None:
                        try:
                            p.wait(10)
                        except subprocess.TimeoutExpired:
                            p.kill()
                            p.wait(10)
            self.daemon.kill()                  # unmount what is left
            if rng.random() < RECOVERY_KILL_P:
                # kill again while it recovers, before it is ready
                recovery_tries += 1
                self.daemon.start(wait=False)
                time.sleep(rng.uniform(0.0, restart_est * 0.8))
                if not self.ready_now():
                    recovery_kills += 1
                self.daemon.kill()
            t0 = time.monotonic()
            self.daemon.start()
            restart = time.monotonic() - t0
            restart_est = 0.7 * restart_est + 0.3 * restart
            ends = self.check()
            n = sum(len(self.acked(t)) for t in WRITERS)
            sys.stderr.write("round %d: %d acknowledged, %d new, restart %.2fs, "
                             "%d/%d recovery kills, %.0fs\n"
                             % (rnd, n, n - sum(before.values()), restart,
                                recovery_kills, recovery_tries,
                                time.monotonic() - t_start))
        # clean stop: the files verify, and a second start changes nothing
        # but what retention may still remove from the front (a roll just
        # before the stop can leave a segment that the next maintenance
        # pass deletes): the stream after the restart is the old one from
        # a later start, byte for byte, and the start moved by whole records
        # read_topic: the start and the bytes of one moment (a retention
        # pass between reading the start and cat-ing the partition gave a
        # start and bytes that do not belong together: a CI run failed so)
        before = {t: self.read_topic(t) for t in TOPICS}
        self.assertEqual(self.daemon.stop(), 0)
        dump = tool("topicfs-dump")
        for t in TOPICS:
            r = run([dump, "--verify", "--quiet", os.path.join(self.daemon.data, t + "-0")],
                    check=False, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        self.daemon.start()
        for t in TOPICS:
            start0, data0 = before[t]
            start1, data1 = self.read_topic(t)
            dropped = start1 - start0
            self.assertGreaterEqual(dropped, 0, "%s: the log start went back" % t)
            if dropped:
                # only retention may drop: the bytes on disk were over the
                # bound, and a lines stream loses whole lines
                self.assertLessEqual(dropped, RETENTION, t)
                if TOPICS[t][0] == "lines":
                    self.assertEqual(data0[dropped - 1:dropped], b"\n", t)
            self.assertEqual(data1, data0[dropped:], "%s: the stream changed" % t)
        ends = self.check()
        self.table(recovery_kills, recovery_tries, ends, time.monotonic() - t_start)

    def table(self, recovery_kills, recovery_tries, ends, secs):
        rows = collections.OrderedDict((k, [0, 0, 0, 0, 0]) for k in KINDS)
        for tag, (kind, _, _) in WRITERS.items():
            acked = self.acked(tag)
            start, end = self.ranges.get(tag, (0, 0))
            r = rows[kind]
            r[0] += len(acked)                           # acknowledged
            r[1] += end                                  # records found (ever)
            r[2] += len(acked) - bisect.bisect_left(acked, start)  # still held
            r[3] += len(acked) - bisect.bisect_left(acked, end)    # lost
            r[4] += self.dups.get(tag, 0)
        out = ["", "kill -9 soak: seed %d, %d rounds, %d kills while writing, %d kills "
               "during recovery (%d tried), %.0f s" % (SEED, ROUNDS, ROUNDS,
                                                      recovery_kills, recovery_tries, secs),
               "%-14s %12s %12s %12s %6s %10s" % ("writer kind", "acknowledged",
                                                  "found", "still held", "lost",
                                                  "duplicates")]
        for kind, r in rows.items():
            out.append("%-14s %12d %12d %12d %6d %10s"
                       % (kind, r[0], r[1], r[2], r[3],
                          str(r[4]) if kind in DUPS_ALLOWED else "0 (none allowed)"))
        tot = [sum(r[i] for r in rows.values()) for i in range(5)]
        out.append("%-14s %12d %12d %12d %6d %10d" % ("total", *tot))
        out.append("retention: max bytes_on_disk - retention_bytes per topic: %s"
                   % ", ".join("%s %d (bound %d)" % (t, self.max_over.get(t, 0),
                                                    2 * TOPICS[t][2]) for t in TOPICS))
        sys.stderr.write("\n".join(out) + "\n")
        self.assertEqual(tot[3], 0)


if __name__ == "__main__":
    main()
