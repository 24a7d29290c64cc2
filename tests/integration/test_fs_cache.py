"""The kernel page cache and partition files (fs.c, "No page cache for
partitions and views"): a reader racing appends (through the mount and over
TCP) sees every append and never a NUL byte, for `writes` and `lines`
partitions.  Page-cache opens of `writes` partitions were tried and removed:
this test caught a NUL with them in a CI rehearsal.  The one exception,
bounded views of written records ("Immutable views"), is read through the
page cache and must still show exactly the log's bytes, also after
retention moves the view's start."""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TopicfsTestCase, main, read_bytes, append_bytes, scaled,  # noqa: E402
                     wait_for, xattrs)

KCAT = "/usr/bin/kcat"


def status_counter(daemon, name):
    for line in read_bytes(daemon.path(".status")).decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return int(parts[1])
    raise AssertionError("no %s in .status" % name)


def reads_delta(daemon, fn):
    """How many reads reached the daemon while fn ran, less what reading
    .status itself costs (measured the same way around nothing)."""
    a = status_counter(daemon, "reads")
    b = status_counter(daemon, "reads")
    fn()
    c = status_counter(daemon, "reads")
    return (c - b) - (b - a)


def wait_released(daemon):
    """Wait until the daemon has released every file but the .status being
    read: the kernel sends RELEASE after close(2) has returned, so an open
    made at once may still find the closed file open."""
    wait_for(lambda: status_counter(daemon, "open_handles") == 1, 10,
             what="the daemon to release the closed files")


class FsCache(TopicfsTestCase):
    daemon_config = {"topic.w": {"framing": "writes"},
                     "topic.l": {"framing": "lines"},
                     "topic.ret": {"segment_bytes": "4096"}}

    def test_bounded_view_of_written_records_uses_the_page_cache(self):
        self.start()
        p = self.daemon.path("l", "0")
        lines = [b"line-%05d-%s\n" % (i, b"z" * (i % 50)) for i in range(3000)]
        append_bytes(p, b"".join(lines))
        v = self.daemon.path("l", "0@100..2000")
        expect = b"".join(lines[100:2000])
        self.assertEqual(os.stat(v).st_size, len(expect))
        opens = status_counter(self.daemon, "cached_opens")
        self.assertEqual(read_bytes(v), expect)
        # the second read is the kernel's: no request reaches the daemon
        got = []
        self.assertEqual(reads_delta(self.daemon, lambda: got.append(read_bytes(v))), 0)
        self.assertEqual(got, [expect])
        self.assertEqual(status_counter(self.daemon, "cached_opens"), opens + 2)
        # seeking and reading a middle piece agrees too
        fd = os.open(v, os.O_RDONLY)
        try:
            self.assertEqual(os.pread(fd, 5000, 12345), expect[12345:17345])
        finally:
            os.close(fd)
        # a bound not written yet: size 0, every read goes to the daemon;
        # once written, the same name is cached and exact
        u = self.daemon.path("l", "0@2500..4000")
        self.assertEqual(os.stat(u).st_size, 0)
        more = [b"more-%05d\n" % i for i in range(1000)]
        append_bytes(p, b"".join(more))
        expect_u = b"".join((lines + more)[2500:4000])
        self.assertEqual(os.stat(u).st_size, len(expect_u))
        self.assertEqual(read_bytes(u), expect_u)
        self.assertEqual(reads_delta(self.daemon, lambda: read_bytes(u)), 0)
        # unbounded views and partitions are never cached (an unbounded
        # view blocks at its end: read only what is there)
        self.assertGreater(reads_delta(self.daemon, lambda: read_bytes(p)), 0)

        def head_of_unbounded():
            fd = os.open(self.daemon.path("l", "0@-5"), os.O_RDONLY)
            try:
                self.assertEqual(os.read(fd, 11), b"more-00995\n")
            finally:
                os.close(fd)
        head_of_unbounded()
        self.assertGreater(reads_delta(self.daemon, head_of_unbounded), 0)

    def test_partition_read_ahead(self):
        # sequential reads of a partition are served from windows rendered
        # ahead (fs.c "Read-ahead"): the bytes are exactly the log's, for
        # READs of one size, of changing sizes, and at random positions
        self.start()
        p = self.daemon.path("l", "0")
        data = b"".join(b"ra-%07d-%s\n" % (i, b"q" * (i % 90)) for i in range(160000))
        append_bytes(p, [data[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20)])
        ahead = status_counter(self.daemon, "reads_ahead")
        fd = os.open(p, os.O_RDONLY)
        try:
            got = bytearray()
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                got.extend(b)
            self.assertEqual(bytes(got), data)
            n_reads = len(data) // (1 << 20)
            self.assertGreaterEqual(status_counter(self.daemon, "reads_ahead") - ahead,
                                    n_reads - 2)
            os.lseek(fd, 0, os.SEEK_SET)
            got = bytearray()
            sizes = [1 << 20, 300000, 1 << 20, 4096, 777777]
            k = 0
            while True:
                b = os.read(fd, sizes[k % len(sizes)])
                k += 1
                if not b:
                    break
                got.extend(b)
            self.assertEqual(bytes(got), data)
            for k in range(200):
                at = (k * 7919 * 1031) % len(data)
                self.assertEqual(os.pread(fd, 1 << 20, at), data[at:at + (1 << 20)])
        finally:
            os.close(fd)

    def test_read_ahead_with_appends_and_closes(self):
        # a reader in sequence while a writer appends sees a prefix of the
        # log, never a NUL; and closing right after a read (its next window
        # still being rendered) leaves the daemon well: nothing leaks or
        # crashes (the ASan pass checks the memory)
        self.start()
        p = self.daemon.path("l", "0")
        line = b"w" * 99 + b"\n"
        append_bytes(p, line * 40000)
        stop = threading.Event()

        def writer():
            while not stop.is_set():
                append_bytes(p, line * 5000)
        t = threading.Thread(target=writer)
        t.start()
        try:
            fd = os.open(p, os.O_RDONLY)
            try:
                total = 0
                while total < 40 << 20:
                    b = os.read(fd, 1 << 20)
                    if not b:
                        time.sleep(0.01)
                        continue
                    self.assertNotIn(b"\0", b)
                    k = total % 100
                    self.assertEqual(b, (line * (len(b) // 100 + 2))[k:k + len(b)])
                    total += len(b)
            finally:
                os.close(fd)
            for _ in range(200):
                fd = os.open(p, os.O_RDONLY)
                os.read(fd, 1 << 20)
                os.close(fd)
        finally:
            stop.set()
            t.join(30)
        self.assertEqual(status_counter(self.daemon, "errors"), 0)
        size = os.stat(p).st_size
        self.assertEqual(size % 100, 0)
        self.assertEqual(read_bytes(p), line * (size // 100))

    def test_cached_view_follows_retention(self):
        # retention removes the front of a cached view: a new open shows
        # the records still in the log (from the new log start), never the
        # cached old bytes, both while an old open still reads them and
        # after it closed
        self.start()
        p = self.daemon.path("ret", "0")
        lines = [b"r-%06d-%s\n" % (i, b"y" * 20) for i in range(1000)]
        for i in range(0, 1000, 50):
            append_bytes(p, b"".join(lines[i:i + 50]))
        v = self.daemon.path("ret", "0@earliest..1000")
        self.assertEqual(read_bytes(v), b"".join(lines))
        old = os.open(v, os.O_RDONLY)
        try:
            self.assertEqual(os.pread(old, 100, 0), b"".join(lines)[:100])
            os.setxattr(self.daemon.path("ret"), "user.topicfs.retention_bytes", b"8192")
            wait_for(lambda: int(xattrs(p)["user.topicfs.log_start_offset"]) > 0, 30,
                     what="retention to delete old segments")
            start = int(xattrs(p)["user.topicfs.log_start_offset"])
            expect = b"".join(lines[start:])
            self.assertEqual(os.stat(v).st_size, len(expect))
            self.assertEqual(read_bytes(v), expect)     # around the cache
        finally:
            os.close(old)
        # the old open's RELEASE reaches the daemon after close(2) returns;
        # an open before it still goes around the cache (and refills nothing)
        wait_released(self.daemon)
        self.assertEqual(read_bytes(v), expect)         # cache dropped, refilled
        self.assertEqual(reads_delta(self.daemon, lambda: read_bytes(v)), 0)
        self.assertEqual(read_bytes(v), expect)

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
        self.assertTrue(os.access(KCAT, os.X_OK),
                        "%s is missing (tools/dev.sh deps installs kcat)" % KCAT)
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
