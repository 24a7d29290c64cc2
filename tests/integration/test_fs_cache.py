"""The kernel page cache and partition files (fs.c, "No page cache for
partitions and views"): a reader racing appends (through the mount and over
TCP) sees every append and never a NUL byte, for `writes` and `lines`
partitions.  Page-cache opens of `writes` partitions were tried and removed:
this test caught a NUL with them in a CI rehearsal."""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TopicfsTestCase, main, read_bytes, append_bytes, scaled  # noqa: E402

KCAT = "/usr/bin/kcat"


def status_counter(daemon, name):
    for line in read_bytes(daemon.path(".status")).decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return int(parts[1])
    raise AssertionError("no %s in .status" % name)


class FsCache(TopicfsTestCase):
    daemon_config = {"topic.w": {"framing": "writes"},
                     "topic.l": {"framing": "lines"}}

    def test_every_read_reaches_the_daemon(self):
        # the page cache is off for every partition (fs.c opens them with
        # direct_io): a repeated read is served by the daemon again, for both
        # framings, so no reader can hold stale or zero-filled pages
        self.start()
        for topic, data in (("w", [b"rec-%05d|" % i * 10 for i in range(2000)]),
                            ("l", [b"one\ntwo\n"])):
            p = self.daemon.path(topic, "0")
            append_bytes(p, data)
            expect = b"".join(data)
            self.assertEqual(read_bytes(p), expect)
            before = status_counter(self.daemon, "reads")
            self.assertEqual(read_bytes(p), expect)
            self.assertGreater(status_counter(self.daemon, "reads"), before, topic)

    def test_cached_reader_sees_appends_never_zeros(self):
        self.start()
        p = self.daemon.path("w", "0")
        written = []
        got = bytearray()
        stop = threading.Event()
        errors = []

        fd = os.open(p, os.O_RDONLY)         # cached, opened before any write
        self.addCleanup(os.close, fd)

        def reader():
            while not stop.is_set():
                d = os.pread(fd, 1 << 16, len(got))
                if b"\0" in d:
                    errors.append("NUL at %d" % (len(got) + d.index(b"\0")))
                    return
                got.extend(d)

        t = threading.Thread(target=reader)
        t.start()
        try:
            w = os.open(p, os.O_WRONLY | os.O_APPEND)
            deadline = time.monotonic() + 3
            i = 0
            while time.monotonic() < deadline and not errors:
                rec = b"%d:" % i + b"y" * (i % 300)      # odd sizes, no newline
                self.assertEqual(os.write(w, rec), len(rec))
                written.append(rec)
                i += 1
            os.close(w)
            expect = b"".join(written)
            t0 = time.monotonic()
            while (len(got) < len(expect) and not errors and
                   time.monotonic() - t0 < scaled(10)):
                time.sleep(0.01)
        finally:
            stop.set()
            t.join(10)
        self.assertEqual(errors, [])
        self.assertEqual(bytes(got), expect)
        self.assertEqual(read_bytes(p), expect)

        # appends over TCP reach a cached reader too (the kernel drops its
        # pages when it sees the new size)
        if os.access(KCAT, os.X_OK):
            subprocess.run([KCAT, "-b", "127.0.0.1:%d" % self.daemon.port, "-P",
                            "-t", "w", "-p", "0"], input=b"tcp-a\ntcp-b\n",
                           capture_output=True, timeout=60, check=True)
            expect += b"tcp-atcp-b"
            d = bytearray()
            while True:
                chunk = os.pread(fd, 1 << 20, len(d))
                if not chunk:
                    break
                d.extend(chunk)
            self.assertEqual(bytes(d), expect)

    def test_lines_partition_never_shows_zeros(self):
        self.start()
        p = self.daemon.path("l", "0")
        stop = threading.Event()
        errors = []
        fd = os.open(p, os.O_RDONLY)
        self.addCleanup(os.close, fd)

        def reader():
            pos = 0
            while not stop.is_set():
                d = os.pread(fd, 1 << 16, pos)
                if b"\0" in d:
                    errors.append("NUL at %d" % (pos + d.index(b"\0")))
                    return
                pos += len(d)

        t = threading.Thread(target=reader)
        t.start()
        try:
            w = os.open(p, os.O_WRONLY | os.O_APPEND)
            line = b"z" * 99 + b"\n"
            deadline = time.monotonic() + 3
            n = 0
            while time.monotonic() < deadline and not errors:
                buf = line * 3
                os.write(w, buf[:150])           # ends mid-line: held
                os.write(w, buf[150:])
                n += 3
            os.close(w)
        finally:
            stop.set()
            t.join(10)
        self.assertEqual(errors, [])
        self.assertEqual(read_bytes(p), line * n)


if __name__ == "__main__":
    main()
