"""kill -9 loop (RELIABILITY 1): writers through the mount and over TCP log
what was acknowledged; the daemon is killed at a random moment; after each
restart every acknowledged record is there once, in order (at most the one
request in flight at the kill may be there unacknowledged), nothing is torn;
at the end `topicfs-dump --verify` passes on every partition and a second
restart changes nothing.

Rounds: TOPICFS_KILL9_ROUNDS (default 5 in CI).  Long run by hand:
    TOPICFS_KILL9_ROUNDS=200 TOPICFS_BIN=build/daemon/topicfs \\
    TOPICFS_TOOLS=build/tools python3 tests/integration/test_rel_kill9.py
TOPICFS_KILL9_SEED fixes the random kill moments (printed at the start).

Small segments (8 KiB) so kills land around rolls; flush_ms 20 so flushes,
recovery points and checkpoints move while the daemon dies; the mount
writers also fsync() every 64 lines.
"""
import collections
import os
import random
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import main, run, read_bytes, wait_for, tool  # noqa: E402
from netutil import NetTestCase  # noqa: E402

ROUNDS = int(os.environ.get("TOPICFS_KILL9_ROUNDS", "5"))
SEED = int(os.environ.get("TOPICFS_KILL9_SEED", str(int(time.time()) % 100000)))
MAX_LINES = 20000          # per writer and round: bounds the log on long runs

# One line per write(2), an fsync every 64 lines; the ack file gets the
# index of every line whose write returned.
MOUNT_WRITER = r'''
import os, sys
path, tag, ack, limit = sys.argv[1], sys.argv[2].encode(), sys.argv[3], int(sys.argv[4])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
afd = os.open(ack, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
for i in range(limit):
    line = b"%s-%06d-%s\n" % (tag, i, b"m" * (i % 41))
    try:
        os.write(fd, line)
    except OSError:
        sys.exit(3)
    os.write(afd, b"%d\n" % i)
    if i % 64 == 63:
        try:
            os.fsync(fd)
        except OSError:
            sys.exit(3)
import time
time.sleep(3600)
'''

# Produce v3 acks=1 of 1..3 records per request over one connection.
TCP_WRITER = r'''
import os, sys
sys.path.insert(0, sys.argv[5])
from netutil import Raw
from relutil import encode_batch, produce_v3
port, topic, tag, ack = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), sys.argv[4]
limit = int(sys.argv[6])
afd = os.open(ack, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
c = Raw(port)
i = 0
while i < limit:
    n = 1 + i % 3
    vals = [b"%s-%06d-%s" % (tag, j, b"t" * (j % 37)) for j in range(i, i + n)]
    try:
        err, base = produce_v3(c, topic, 0, encode_batch(vals))
    except Exception:
        sys.exit(3)
    if err != 0:
        sys.exit(4)
    os.write(afd, b"".join(b"%d\n" % j for j in range(i, i + n)))
    i += n
import time
time.sleep(3600)
'''

LINE_RE = re.compile(rb"^([mt]\d+_\d+)-(\d{6})-([mt]*)$")


class Kill9Loop(NetTestCase):
    daemon_config = {
        "storage": {"segment_bytes": "8192", "index_interval_bytes": "256",
                    "flush_ms": "20"},
    }

    def parse(self, data):
        """{writer tag: [indexes in log order]}, checking every line whole."""
        self.assertTrue(data == b"" or data.endswith(b"\n"), "partial last line")
        self.assertNotIn(b"\0", data)
        seen = collections.defaultdict(list)
        for line in data.split(b"\n")[:-1]:
            m = LINE_RE.match(line)
            self.assertIsNotNone(m, "torn or foreign line %r" % line[:80])
            tag, i = m.group(1).decode(), int(m.group(2))
            fill = b"m" if tag[0] == "m" else b"t"
            self.assertEqual(m.group(3), fill * (i % (41 if tag[0] == "m" else 37)),
                             "torn line %r" % line[:80])
            seen[tag].append(i)
        return seen

    def check(self, acks, inflight):
        """Every acknowledged record of every writer so far, once, in order."""
        got = {}
        for topic in ("km", "kt"):
            got.update(self.parse(read_bytes(self.daemon.path(topic, "0"))))
        for tag, ackfile in acks.items():
            with open(ackfile, "rb") as f:
                acked = [int(x) for x in f.read().split()]
            g = got.get(tag, [])
            self.assertEqual(g[:len(acked)], acked, "writer %s lost acknowledged records"
                             % tag)
            self.assertLessEqual(len(g), len(acked) + inflight[tag],
                                 "writer %s: more than the request in flight" % tag)
            self.assertEqual(g, list(range(len(g))), "writer %s: duplicate or hole" % tag)
        return got

    def test_kill9_loop(self):
        rng = random.Random(SEED)
        sys.stderr.write("kill -9 loop: %d rounds, seed %d\n" % (ROUNDS, SEED))
        self.start()
        os.mkdir(self.daemon.path("km"))
        os.mkdir(self.daemon.path("kt"))
        acks, inflight = {}, {}
        total_acked = 0
        for rnd in range(ROUNDS):
            procs = []
            for w in range(2):
                tag = "m%d_%d" % (rnd, w)
                acks[tag] = os.path.join(self.root, "ack." + tag)
                inflight[tag] = 1
                procs.append(subprocess.Popen(
                    [sys.executable, "-c", MOUNT_WRITER, self.daemon.path("km", "0"),
                     tag, acks[tag], str(MAX_LINES)]))
            tag = "t%d_0" % rnd
            acks[tag] = os.path.join(self.root, "ack." + tag)
            inflight[tag] = 3
            procs.append(subprocess.Popen(
                [sys.executable, "-c", TCP_WRITER, str(self.daemon.port), "kt", tag,
                 acks[tag], HERE, str(MAX_LINES)]))
            try:
                # let every writer get something acknowledged, then a random
                # moment more
                wait_for(lambda: all(os.path.exists(acks[t]) and os.path.getsize(acks[t]) > 0
                                     for t in acks if t.startswith(("m%d_" % rnd, "t%d_" % rnd))),
                         20, what="writers of round %d to start" % rnd)
                time.sleep(rng.uniform(0.0, 0.6))
                self.daemon.proc.kill()
                self.daemon.proc.wait(10)
            finally:
                for p in procs:
                    if p.poll() is None:
                        try:
                            p.wait(10)
                        except subprocess.TimeoutExpired:
                            p.kill()
                            p.wait(10)
            self.daemon.kill()                  # unmount what is left
            t0 = time.monotonic()
            self.daemon.start()
            restart = time.monotonic() - t0
            got = self.check(acks, inflight)
            n = sum(len(v) for v in got.values())
            sys.stderr.write("round %d: %d records, %d new, restart %.2fs\n"
                             % (rnd, n, n - total_acked, restart))
            total_acked = n
        # clean stop: the files verify, and a second start changes nothing
        before = {t: read_bytes(self.daemon.path(t, "0")) for t in ("km", "kt")}
        self.assertEqual(self.daemon.stop(), 0)
        dump = tool("topicfs-dump")
        for t in ("km", "kt"):
            r = run([dump, "--verify", "--quiet", os.path.join(self.daemon.data, t + "-0")],
                    check=False, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        self.daemon.start()
        for t in ("km", "kt"):
            self.assertEqual(read_bytes(self.daemon.path(t, "0")), before[t])
        self.check(acks, inflight)


if __name__ == "__main__":
    main()
