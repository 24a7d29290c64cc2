"""The file view with shell tools: mkdir, ls, echo/printf appends, cat, head,
tail, wc, grep, dd at offsets, `>` appending like `>>`, partial lines held
until close, sizes and times, tail -f, `writes` framing with binary data and
1 MiB requests."""
import errno
import mmap
import os
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TopicfsTestCase, main, run, read_bytes, append_bytes,  # noqa: E402
                     xattrs, LineReader, wait_for, scaled)


class FsBasic(TopicfsTestCase):
    daemon_net = False
    daemon_config = {"topic.three": {"partitions": "3"},
                     "topic.bin": {"framing": "writes"}}

    def test_mkdir_ls_and_shell_tools(self):
        self.start()
        t = self.daemon.path("orders")
        os.mkdir(t)
        self.assertTrue(stat.S_ISDIR(os.stat(t).st_mode))
        self.assertIn("orders", os.listdir(self.daemon.mnt))
        self.assertEqual(os.listdir(t), ["0"])
        p = os.path.join(t, "0")
        self.assertEqual(os.stat(p).st_size, 0)
        self.assertEqual(read_bytes(p), b"")
        run("echo one >> %s" % p)
        run("printf 'two\\nthree\\n' >> %s" % p)
        run("for i in 4 5 6; do echo line$i; done >> %s" % p)
        expect = b"one\ntwo\nthree\nline4\nline5\nline6\n"
        self.assertEqual(read_bytes(p), expect)
        self.assertEqual(run(["cat", p]).stdout, expect)
        self.assertEqual(run(["head", "-n", "2", p]).stdout, b"one\ntwo\n")
        self.assertEqual(run(["tail", "-n", "2", p]).stdout, b"line5\nline6\n")
        self.assertEqual(run(["wc", "-l", p]).stdout.split()[0], b"6")
        self.assertEqual(run(["grep", "^line5$", p]).stdout, b"line5\n")
        self.assertEqual(run(["grep", "-c", "line", p]).stdout, b"3\n")
        # dd at positions: byte-wise and block-wise
        self.assertEqual(run(["dd", "if=" + p, "bs=1", "skip=4", "count=3",
                              "status=none"]).stdout, b"two")
        self.assertEqual(run(["dd", "if=" + p, "bs=4", "skip=1", "count=1",
                              "status=none"]).stdout, b"two\n")
        with open(p, "rb") as f:
            f.seek(8)
            self.assertEqual(f.read(6), b"three\n")
        self.assertEqual(os.stat(p).st_size, len(expect))
        # ls of a topic with three partitions (from its [topic.three] section)
        self.assertEqual(sorted(os.listdir(self.daemon.path("three"))), ["0", "1", "2"])
        run("echo p2 >> %s" % self.daemon.path("three", "2"))
        self.assertEqual(read_bytes(self.daemon.path("three", "2")), b"p2\n")
        self.assertEqual(read_bytes(self.daemon.path("three", "1")), b"")

    def test_truncating_redirect_appends(self):
        self.start()
        os.mkdir(self.daemon.path("t"))
        p = self.daemon.path("t", "0")
        run("echo first > %s" % p)
        run("echo second > %s" % p)
        run("echo third >> %s" % p)
        self.assertEqual(read_bytes(p), b"first\nsecond\nthird\n")
        # O_TRUNC through open(2) too, and a write at offset 0 appends
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        os.pwrite(fd, b"fourth\n", 0)
        os.close(fd)
        self.assertEqual(read_bytes(p), b"first\nsecond\nthird\nfourth\n")

    def test_partial_line_held_until_close(self):
        self.start()
        os.mkdir(self.daemon.path("t"))
        p = self.daemon.path("t", "0")
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"ab")
        os.write(fd, b"cd\nef")
        self.assertEqual(read_bytes(p), b"abcd\n")
        os.write(fd, b"gh")
        self.assertEqual(read_bytes(p), b"abcd\n")
        os.close(fd)
        self.assertEqual(read_bytes(p), b"abcd\nefgh\n")
        run("printf 'no newline' >> %s" % p)
        self.assertEqual(read_bytes(p), b"abcd\nefgh\nno newline\n")
        # fsync makes the held partial a record as well
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"synced")
        os.fsync(fd)
        self.assertEqual(read_bytes(p), b"abcd\nefgh\nno newline\nsynced\n")
        os.close(fd)
        self.assertEqual(xattrs(p)["user.topicfs.records"], "4")

    def test_size_monotonic_and_mtime_advances(self):
        self.start()
        os.mkdir(self.daemon.path("t"))
        p = self.daemon.path("t", "0")
        last = os.stat(p)
        for i in range(5):
            time.sleep(0.02)
            append_bytes(p, b"record %d\n" % i)
            st = os.stat(p)
            self.assertGreater(st.st_size, last.st_size)
            self.assertGreater(st.st_mtime_ns, last.st_mtime_ns)
            last = st
        self.assertEqual(last.st_size, len(read_bytes(p)))
        self.assertEqual(stat.S_IMODE(last.st_mode), 0o644)
        self.assertTrue(stat.S_ISREG(last.st_mode))

    def test_tail_follow_sees_appends(self):
        self.start()
        os.mkdir(self.daemon.path("t"))
        p = self.daemon.path("t", "0")
        append_bytes(p, b"before\n")
        tail = subprocess.Popen(["tail", "-n", "+1", "-f", p], stdout=subprocess.PIPE)
        try:
            lines = LineReader(tail.stdout)
            self.assertEqual(lines.get(5), b"before\n")
            for i in range(5):
                append_bytes(p, b"after %d\n" % i)
                t0 = time.monotonic()
                got = lines.get(5)              # scaled, as the bound
                self.assertEqual(got, b"after %d\n" % i)
                self.assertLess(time.monotonic() - t0, scaled(5))
        finally:
            tail.kill()
            tail.wait(10)
            tail.stdout.close()

    def test_writes_framing_binary_and_big_requests(self):
        self.start()
        p = self.daemon.path("bin", "0")
        self.assertEqual(xattrs(p)["user.topicfs.framing"], "writes")
        chunks = [os.urandom(n) for n in (1, 1000, 65536, (1 << 20) - 4096, 300000)]
        chunks.append(bytes(range(256)) * 4 + b"\n\0\n")
        # 1 MiB - 4 KiB at any alignment is one request: the largest record
        big = mmap.mmap(-1, 1 << 20)
        big.write(os.urandom(1 << 20))
        append_bytes(p, chunks + [big[1:(1 << 20) - 4095]])
        chunks.append(bytes(big[1:(1 << 20) - 4095]))
        data = read_bytes(p)
        self.assertEqual(data, b"".join(chunks))
        # one record per write(2)
        self.assertEqual(xattrs(p)["user.topicfs.records"], str(len(chunks)))
        # a page-aligned 1 MiB write could be the first piece of a larger
        # one (the kernel cuts at 1 MiB): refused whole, nothing appended
        with self.assertRaises(OSError) as cm:
            append_bytes(p, [big])
        self.assertEqual(cm.exception.errno, errno.EMSGSIZE)
        self.assertEqual(xattrs(p)["user.topicfs.records"], str(len(chunks)))
        self.assertEqual(os.stat(p).st_size, len(data))
        # reads at arbitrary positions
        with open(p, "rb") as f:
            for pos in (0, 1, 1001, 70000, 1 << 20, len(data) - 10):
                f.seek(pos)
                self.assertEqual(f.read(4096), data[pos:pos + 4096])

    def test_line_longer_than_the_message_size_is_refused(self):
        """A line longer than the topic's max_message_bytes (less a record's
        overhead) is refused with EMSGSIZE by the write that makes it too
        long; it is never cut into several records."""
        self.start()
        os.mkdir(self.daemon.path("t"))
        p = self.daemon.path("t", "0")
        line = b"z" * (2 * 1024 * 1024 + 512 * 1024)
        pieces = [line[i:i + 300000] for i in range(0, len(line), 300000)]
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        try:
            for i, piece in enumerate(pieces):
                if (i + 1) * 300000 > 1024 * 1024 - 128:
                    with self.assertRaises(OSError) as cm:
                        os.write(fd, piece)
                    self.assertEqual(cm.exception.errno, errno.EMSGSIZE)
                    break
                os.write(fd, piece)
            os.write(fd, b"\nshort\n")
        finally:
            os.close(fd)
        self.assertEqual([len(x) for x in read_bytes(p).split(b"\n")],
                         [3 * 300000, 5, 0])
        self.assertEqual(xattrs(p)["user.topicfs.records"], "2")

    def test_big_lines_write(self):
        self.start()
        os.mkdir(self.daemon.path("t"))
        p = self.daemon.path("t", "0")
        lines = [b"%07d %s\n" % (i, b"x" * (i % 200)) for i in range(20000)]
        blob = b"".join(lines)
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        off = 0
        while off < len(blob):  # odd-sized writes split lines across writes
            off += os.write(fd, blob[off:off + 777777])
        os.close(fd)
        self.assertEqual(read_bytes(p), blob)
        self.assertEqual(xattrs(p)["user.topicfs.records"], str(len(lines)))
        self.assertEqual(run("cat %s | wc -l" % p).stdout.strip(), b"20000")


if __name__ == "__main__":
    main()
