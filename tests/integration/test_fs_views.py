"""Views: <p>@<from>[..<to>] streams from an offset, a time, the last N
records, earliest, latest (following), bounded ranges, blocking at the end
and being interrupted by signals."""
import datetime
import errno
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TopicfsTestCase, main, run, read_bytes, append_bytes,  # noqa: E402
                     scaled, wait_for, LineReader)


def lines(a, b):
    return b"".join(b"line-%d\n" % i for i in range(a, b))


class FsViews(TopicfsTestCase):
    daemon_net = False

    def setUp(self):
        super().setUp()
        self.start()
        os.mkdir(self.daemon.path("t"))
        self.p = self.daemon.path("t", "0")
        append_bytes(self.p, lines(0, 100))

    def v(self, spec):
        return self.daemon.path("t", "0@" + spec)

    def blocked_reads(self):
        for line in read_bytes(self.daemon.path(".status")).decode().splitlines():
            if line.startswith("blocked_reads "):
                return int(line.split()[1])
        raise AssertionError("no blocked_reads in .status")

    def wait_parked(self, n=1):
        """Until n view reads are parked at the end of the stream: a
        reader started in the background has really blocked (a fixed sleep
        let a slow reader come late, and the test checked nothing)."""
        wait_for(lambda: self.blocked_reads() >= n, 10, what="%d parked view reads" % n)

    def test_bounded_ranges(self):
        self.assertEqual(read_bytes(self.v("50..60")), lines(50, 60))
        self.assertEqual(read_bytes(self.v("0..100")), lines(0, 100))
        self.assertEqual(read_bytes(self.v("earliest..3")), lines(0, 3))
        self.assertEqual(read_bytes(self.v("-5..98")), lines(95, 98))
        self.assertEqual(read_bytes(self.v("10..10")), b"")
        self.assertEqual(run(["head", "-n", "3", self.v("20..90")]).stdout, lines(20, 23))
        self.assertEqual(run(["grep", "-c", "line-7", self.v("0..100")]).stdout, b"11\n")

    def test_unbounded_views_block_at_the_end(self):
        # cat never ends on a view: it prints everything, then blocks (parked
        # at the end, still running) until a signal ends it, at once; the
        # output is complete.  (`timeout 1 cat` assumed cat got it all out
        # within a second.)
        for spec, expect in (("50", lines(50, 100)), ("-10", lines(90, 100)),
                             ("earliest", lines(0, 100)), ("latest", b""),
                             ("99", lines(99, 100))):
            proc = subprocess.Popen(["cat", self.v(spec)], stdout=subprocess.PIPE)
            try:
                rd = LineReader(proc.stdout)
                got = b""
                while len(got) < len(expect):
                    line = rd.get(10)
                    self.assertIsNotNone(line, "%s: output stopped at %r" % (spec, got[-40:]))
                    got += line
                self.assertEqual(got, expect, spec)
                self.wait_parked()
                self.assertIsNone(proc.poll(), spec)
                t0 = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                proc.wait(scaled(5))
                self.assertLess(time.monotonic() - t0, scaled(4), spec)
                self.assertEqual(proc.returncode, -signal.SIGTERM, spec)
                self.assertIsNone(rd.get(5), spec)       # nothing after it: EOF
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
            wait_for(lambda: self.blocked_reads() == 0, 10, what="the reader unparked")
        self.assertEqual(run(["head", "-n", "2", self.v("30")]).stdout, lines(30, 32))

    def test_views_are_seekable_from_their_start(self):
        # file position 0 of a view is its first record: pread and head's
        # lseek back over what it read past the last line both work
        r = run(["head", "-n", "1", self.v("-3")], check=False)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, lines(97, 98), b""))
        fd = os.open(self.v("90..100"), os.O_RDONLY)
        try:
            self.assertEqual(os.pread(fd, 8, len(lines(90, 92))), b"line-92\n")
            self.assertEqual(os.pread(fd, 8, 0), b"line-90\n")
            self.assertEqual(os.lseek(fd, 0, os.SEEK_CUR), 0)
        finally:
            os.close(fd)

    def test_time_views(self):
        time.sleep(0.05)
        t_ms = int(time.time() * 1000)
        time.sleep(0.05)
        append_bytes(self.p, lines(100, 110))
        self.assertEqual(read_bytes(self.v("%dms..110" % t_ms)), lines(100, 110))
        iso = datetime.datetime.fromtimestamp(t_ms / 1000, datetime.timezone.utc)
        iso_z = iso.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t_ms % 1000)
        self.assertEqual(read_bytes(self.v(iso_z + "..110")), lines(100, 110))
        # the same instant written with a +02:00 offset
        local = iso + datetime.timedelta(hours=2)
        iso_off = local.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+02:00" % (t_ms % 1000)
        self.assertEqual(read_bytes(self.v(iso_off + "..110")), lines(100, 110))
        # a time before everything: from the start
        self.assertEqual(read_bytes(self.v("2000-01-01..5")), lines(0, 5))
        self.assertEqual(read_bytes(self.v("0ms..5")), lines(0, 5))

    def test_latest_follows_with_low_latency(self):
        fd = os.open(self.v("latest"), os.O_RDONLY)
        got = []

        def reader():
            got.append((os.read(fd, 65536), time.monotonic()))
        try:
            th = threading.Thread(target=reader, daemon=True)
            th.start()
            # the read must really be parked before the append (a slow
            # thread reading after it measured no wake-up at all)
            self.wait_parked()
            self.assertTrue(th.is_alive(), "a read at the end must block")
            t0 = time.monotonic()
            append_bytes(self.p, b"wake up\n")
            th.join(scaled(5))
            self.assertFalse(th.is_alive(), "blocked reader did not wake")
            data, t1 = got[0]
            self.assertEqual(data, b"wake up\n")
            self.assertLess(t1 - t0, scaled(1.0))
            # and the next appends arrive in order
            append_bytes(self.p, b"two\n")
            append_bytes(self.p, b"three\n")
            buf = b""
            deadline = time.monotonic() + scaled(5)
            while buf != b"two\nthree\n" and time.monotonic() < deadline:
                buf += os.read(fd, 65536)
            self.assertEqual(buf, b"two\nthree\n")
        finally:
            os.close(fd)

    def test_future_offset_and_bounded_wait(self):
        # a range whose end is not written yet: serves what exists, waits
        proc = subprocess.Popen(["cat", self.v("98..105")], stdout=subprocess.PIPE)
        try:
            self.wait_parked()          # served 98 and 99, waiting for 100
            self.assertIsNone(proc.poll(), "bounded view ended before its end offset")
            append_bytes(self.p, lines(100, 110))
            out, _ = proc.communicate(timeout=scaled(10))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(out, lines(98, 105))
        self.assertEqual(proc.returncode, 0)
        # a start offset in the future waits for that record
        proc = subprocess.Popen(["head", "-n", "1", self.v("115")], stdout=subprocess.PIPE)
        try:
            self.wait_parked()          # waiting for record 115
            self.assertIsNone(proc.poll())
            append_bytes(self.p, lines(110, 120))
            out, _ = proc.communicate(timeout=scaled(10))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(out, b"line-115\n")

    def test_interrupted_by_signal(self):
        t0 = time.monotonic()
        r = run(["timeout", "1", "cat", self.v("latest")], check=False, timeout=20)
        self.assertEqual(r.returncode, 124)
        self.assertLess(time.monotonic() - t0, 1 + scaled(3))
        proc = subprocess.Popen(["cat", self.v("latest")], stdout=subprocess.PIPE)
        try:
            self.wait_parked()          # the signal must hit a blocked read
            proc.send_signal(2)
            proc.wait(scaled(5))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        self.assertNotEqual(proc.returncode, 0)

    def test_shutdown_with_a_blocked_reader(self):
        proc = subprocess.Popen(["cat", self.v("latest")], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            self.wait_parked()          # a reader really blocked at the stop
            self.assertIsNone(proc.poll())
            t0 = time.monotonic()
            self.assertEqual(self.daemon.stop(), 0)
            self.assertLess(time.monotonic() - t0, scaled(10))
            proc.wait(scaled(10))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        self.assertTrue(os.path.exists(os.path.join(self.daemon.data,
                                                    ".topicfs_clean_shutdown")))

    def test_bad_view_names_do_not_exist(self):
        for name in ("0@", "0@foo", "0@1..x", "0@..5", "0@--1", "1@0", "00@0",
                     "x@0", "0@1.5", "0@2026-13-01", "0@2026-02-30",
                     "0@12:00", "0@1msx", "0@latest..", "@0"):
            with self.assertRaises(FileNotFoundError, msg=name):
                os.stat(self.daemon.path("t", name))
        self.assertEqual(sorted(os.listdir(self.daemon.path("t"))), ["0"])
        self.assertTrue(os.path.exists(self.v("earliest")))
        self.assertTrue(os.path.exists(self.v("2026-11-22T05:00:00Z")))
        self.assertTrue(os.path.exists(self.v("1763780000000ms..5")))

    def test_views_are_read_only(self):
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND):
            with self.assertRaises(OSError) as cm:
                os.open(self.v("earliest"), flags)
            self.assertEqual(cm.exception.errno, errno.EACCES)
        self.assertEqual(read_bytes(self.p), lines(0, 100))


if __name__ == "__main__":
    main()
