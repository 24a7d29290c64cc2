"""Concurrent writers, restarts, kill -9 and retention through the mount."""
import collections
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TopicfsTestCase, main, run, read_bytes, append_bytes,  # noqa: E402
                     xattrs, LineReader, wait_for, tool)

# One line per write(2); prints the index of every line whose write returned
# (to an ack file, unbuffered) so a kill -9 can be checked against it.
WRITER = r'''
import os, sys
path, wid, n, ack = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
afd = os.open(ack, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if ack != "-" else -1
for i in range(n):
    line = b"w%d-%06d-%s\n" % (wid, i, b"x" * (i % 50))
    try:
        os.write(fd, line)
    except OSError:
        sys.exit(3)
    if afd >= 0:
        os.write(afd, b"%d\n" % i)
os.close(fd)
'''

LINE_RE = re.compile(rb"^w(\d+)-(\d{6})-(x*)$")


def parse_lines(data, test):
    """Check every line is whole; return {writer: [indexes in log order]}."""
    test.assertTrue(data == b"" or data.endswith(b"\n"))
    test.assertNotIn(b"\0", data)
    seen = collections.defaultdict(list)
    for line in data.split(b"\n")[:-1]:
        m = LINE_RE.match(line)
        test.assertIsNotNone(m, "torn or foreign line %r" % line[:80])
        w, i = int(m.group(1)), int(m.group(2))
        test.assertEqual(len(m.group(3)), i % 50, "torn line %r" % line[:80])
        seen[w].append(i)
    return seen


class FsDurability(TopicfsTestCase):
    daemon_net = False

    def writers(self, path, count, n, ack=None):
        procs = []
        for w in range(count):
            a = "%s.%d" % (ack, w) if ack else "-"
            procs.append(subprocess.Popen([sys.executable, "-c", WRITER, path, str(w),
                                           str(n), a]))
        return procs

    def test_concurrent_writers(self):
        self.start()
        os.mkdir(self.daemon.path("c"))
        p = self.daemon.path("c", "0")
        procs = self.writers(p, 4, 10000)
        for pr in procs:
            self.assertEqual(pr.wait(300), 0)
        seen = parse_lines(read_bytes(p), self)
        self.assertEqual(sorted(seen), [0, 1, 2, 3])
        for w in range(4):
            self.assertEqual(seen[w], list(range(10000)), "writer %d" % w)
        self.assertEqual(xattrs(p)["user.topicfs.records"], "40000")

    def test_restart_keeps_everything(self):
        self.start({"topic.two": {"partitions": "2"}, "topic.raw": {"framing": "writes"}})
        os.mkdir(self.daemon.path("one"))
        blob = os.urandom(100000)
        append_bytes(self.daemon.path("one", "0"), b"a\nb\nc\n")
        append_bytes(self.daemon.path("two", "1"), b"x\n" * 1000)
        append_bytes(self.daemon.path("raw", "0"), [blob[:50000], blob[50000:]])
        before = {q: read_bytes(self.daemon.path(*q))
                  for q in (("one", "0"), ("two", "0"), ("two", "1"), ("raw", "0"))}
        self.assertEqual(self.daemon.stop(), 0)
        self.assertTrue(os.path.exists(os.path.join(self.daemon.data,
                                                    ".topicfs_clean_shutdown")))
        self.daemon.start()
        for q, data in before.items():
            self.assertEqual(read_bytes(self.daemon.path(*q)), data, q)
        self.assertEqual(read_bytes(self.daemon.path("raw", "0")), blob)
        self.assertEqual(xattrs(self.daemon.path("raw", "0"))["user.topicfs.records"], "2")
        append_bytes(self.daemon.path("one", "0"), b"d\n")
        self.assertEqual(read_bytes(self.daemon.path("one", "0")), b"a\nb\nc\nd\n")
        self.assertEqual(sorted(os.listdir(self.daemon.mnt)),
                         [".groups", ".status", "one", "raw", "two"])

    def test_kill_9_while_writing(self):
        self.start()
        os.mkdir(self.daemon.path("k"))
        p = self.daemon.path("k", "0")
        ack = os.path.join(self.root, "ack")
        procs = self.writers(p, 2, 10 ** 7, ack)
        # both writers must have been acknowledged a fair amount before the kill:
        # waiting on one alone let the other lag behind under the sanitizer passes
        wait_for(lambda: all(os.path.exists("%s.%d" % (ack, w)) and
                             os.path.getsize("%s.%d" % (ack, w)) > 20000 for w in range(2)),
                 60, what="both writers to get going")
        self.daemon.proc.kill()
        self.daemon.proc.wait(10)
        for pr in procs:
            pr.wait(30)
            self.assertNotEqual(pr.returncode, 0)   # they saw the daemon die
        self.daemon.kill()                          # unmount what is left
        self.daemon.start()
        seen = parse_lines(read_bytes(p), self)
        for w in range(2):
            with open("%s.%d" % (ack, w), "rb") as f:
                acked = [int(x) for x in f.read().split()]
            self.assertGreater(len(acked), 1000)
            got = seen[w]
            # every acknowledged line is there, once, in order; at most the
            # one write in flight at the kill may be there unacknowledged
            self.assertEqual(got[:len(acked)], acked, "writer %d" % w)
            self.assertLessEqual(len(got), len(acked) + 1)
            self.assertEqual(got, list(range(len(got))))
        self.assertEqual(self.daemon.stop(), 0)
        dump = tool("topicfs-dump")
        r = run([dump, "--verify", os.path.join(self.daemon.data, "k-0")],
                check=False, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        # a second start changes nothing
        data = None
        self.daemon.start()
        data = read_bytes(p)
        self.assertEqual(parse_lines(data, self), seen)

    def test_retention_keeps_cat_and_tail_working(self):
        self.start({"topic.ret": {"segment_bytes": "4096", "retention_bytes": "16384"}})
        p = self.daemon.path("ret", "0")
        n = 0

        def write_lines(count):
            nonlocal n
            chunk = []
            for _ in range(count):
                chunk.append(b"r-%06d-%s\n" % (n, b"y" * 20))
                n += 1
            for i in range(0, len(chunk), 50):
                append_bytes(p, b"".join(chunk[i:i + 50]))
        write_lines(3000)
        end = os.stat(p).st_size
        self.assertEqual(end, 3000 * 30)
        wait_for(lambda: int(xattrs(p)["user.topicfs.log_start_offset"]) > 0, 60,
                 what="retention to delete old segments")
        x = xattrs(p)
        start_off = int(x["user.topicfs.log_start_offset"])
        self.assertGreater(int(x["user.topicfs.stream_start"]), 0)
        self.assertLess(int(x["user.topicfs.bytes_on_disk"]), 3000 * 30)
        self.assertEqual(os.stat(p).st_size, end)   # never shrinks

        def check_cat(data, last):
            self.assertNotIn(b"\0", data)
            nums = []
            for line in data.split(b"\n")[:-1]:
                m = re.match(rb"^r-(\d{6})-y{20}$", line)
                self.assertIsNotNone(m, line)
                nums.append(int(m.group(1)))
            self.assertTrue(nums)
            self.assertEqual(nums, list(range(nums[0], last + 1)))
            return nums
        nums = check_cat(run(["cat", p]).stdout, 2999)
        self.assertGreaterEqual(nums[0], start_off)
        # the view and cat must agree; retention may still be trimming
        # (one pass after another), so compare two reads between which the
        # log start did not move (bounded: it settles at retention_bytes)
        for _ in range(100):
            before = xattrs(p)["user.topicfs.log_start_offset"]
            view = read_bytes(self.daemon.path("ret", "0@earliest..3000"))
            whole = run(["cat", p]).stdout
            if xattrs(p)["user.topicfs.log_start_offset"] == before:
                break
            time.sleep(0.05)
        self.assertEqual(view, whole)
        self.assertEqual(run(["tail", "-n", "3", p]).stdout,
                         b"".join(b"r-%06d-%s\n" % (i, b"y" * 20) for i in (2997, 2998, 2999)))
        tail = subprocess.Popen(["tail", "-f", p], stdout=subprocess.PIPE)
        try:
            lines = LineReader(tail.stdout)
            for i in range(10):
                got = lines.get(5)
                self.assertEqual(got, b"r-%06d-%s\n" % (2990 + i, b"y" * 20))
            # more appends, more retention: tail keeps following (rounds
            # smaller than retention_bytes so retention never deletes what
            # tail has not read yet)
            start_before = int(xattrs(p)["user.topicfs.stream_start"])
            for round_ in range(8):
                first = n
                write_lines(100)
                for i in range(first, n):
                    got = lines.get(10)
                    self.assertEqual(got, b"r-%06d-%s\n" % (i, b"y" * 20))
            wait_for(lambda: int(xattrs(p)["user.topicfs.stream_start"]) > start_before,
                     60, what="retention to move on while tail follows")
            first = n
            write_lines(10)
            for i in range(first, n):
                self.assertEqual(lines.get(10), b"r-%06d-%s\n" % (i, b"y" * 20))
        finally:
            tail.kill()
            tail.wait(10)
            tail.stdout.close()
        check_cat(run(["cat", p]).stdout, n - 1)


if __name__ == "__main__":
    main()
