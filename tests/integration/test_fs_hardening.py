"""Hardening of the file view against careless and hostile local users.

- Blocked view readers hold no FUSE thread: thousands of `cat p@latest`
  style readers wait at once while ls, appends and .status stay quick; an
  append wakes every one of them; an interrupted reader returns at once.
- A reader overtaken by retention never gets spliced bytes: at a record
  boundary it moves to the log start (counted in .status), in the middle of
  a record it gets ENODATA.
- Held partial lines are bounded per handle (the topic's message size:
  EMSGSIZE, nothing appended) and in total ([fs] max_held_bytes: the
  partial is appended early, nothing lost).
- A long line is kept whole up to the message size; a `writes` record is
  one write(2) up to 1 MiB - 4 KiB and a larger write is refused whole.
"""
import errno
import os
import resource
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TopicfsTestCase, main, read_bytes, append_bytes,  # noqa: E402
                     wait_for, scaled)

WRITE_UNIT_MAX = 1024 * 1024 - 4096


def status(daemon):
    out = {}
    for line in read_bytes(daemon.path(".status")).decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def timed(fn, *a):
    t0 = time.monotonic()
    r = fn(*a)
    return r, time.monotonic() - t0


class BlockedReaders(TopicfsTestCase):
    daemon_config = {"topic.t": {"partitions": "2"}}

    def test_thousands_of_blocked_readers_keep_the_mount_responsive(self):
        n = int(os.environ.get("TOPICFS_BLOCKED_READERS", "10000"))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < n + 200:
            raise AssertionError("needs RLIMIT_NOFILE >= %d, hard limit is %d"
                                 % (n + 200, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 200), hard))
        self.start()
        view = self.daemon.path("t", "0@latest")
        fds = [os.open(view, os.O_RDONLY) for _ in range(n)]
        got = [None] * n
        threading.stack_size(64 * 1024)

        def reader(i):
            try:
                got[i] = os.read(fds[i], 65536)
            except OSError as e:
                got[i] = e

        threads = [threading.Thread(target=reader, args=(i,), daemon=True)
                   for i in range(n)]
        try:
            for t in threads:
                t.start()
            wait_for(lambda: status(self.daemon)["blocked_reads"] >= n, 60,
                     what="%d parked readers" % n)
            # with every reader blocked, the rest of the mount answers at once
            # (a FUSE thread held per reader would make them hang: the bound,
            # scaled for the sanitizer passes, stays far below that)
            _, dt = timed(os.listdir, self.daemon.mnt)
            self.assertLess(dt, scaled(2.0), "ls took %.2fs with %d blocked readers" % (dt, n))
            _, dt = timed(append_bytes, self.daemon.path("t", "1"), b"other\n")
            self.assertLess(dt, scaled(2.0), "append took %.2fs" % dt)
            self.assertEqual(read_bytes(self.daemon.path("t", "1")), b"other\n")
            # one append to partition 0 wakes every reader with the line
            append_bytes(self.daemon.path("t", "0"), b"wake up\n")
            deadline = time.monotonic() + scaled(60)
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
            self.assertFalse(any(t.is_alive() for t in threads), "readers still blocked")
            bad = [g for g in got if g != b"wake up\n"]
            self.assertEqual(bad[:3], [], "%d readers got something else" % len(bad))
            self.assertEqual(status(self.daemon)["blocked_reads"], 0)
        finally:
            for fd in fds:
                os.close(fd)

    def test_interrupted_blocked_reader_returns_at_once(self):
        self.start()
        t0 = time.monotonic()
        r = subprocess.run(["timeout", "-s", "INT", "0.5", "cat",
                            self.daemon.path("t", "0@latest")], capture_output=True)
        dt = time.monotonic() - t0
        self.assertEqual(r.returncode, 124)
        self.assertLess(dt, 0.5 + scaled(2.5), "cat took %.2fs to die of SIGINT" % dt)
        wait_for(lambda: status(self.daemon)["blocked_reads"] == 0, 5,
                 what="the interrupted read unparked")

    def test_blocked_reader_of_a_deleted_topic_sees_the_end(self):
        self.start({"fs": {"allow_delete": "true"}})
        os.mkdir(self.daemon.path("gone"))
        p = subprocess.Popen(["cat", self.daemon.path("gone", "0@latest")],
                             stdout=subprocess.PIPE)
        wait_for(lambda: status(self.daemon)["blocked_reads"] == 1, 10,
                 what="the reader parked")
        os.rmdir(self.daemon.path("gone"))
        out, _ = p.communicate(timeout=scaled(10))
        self.assertEqual(out, b"")

    def test_daemon_stops_with_blocked_readers(self):
        self.start()
        procs = [subprocess.Popen(["cat", self.daemon.path("t", "0@latest")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(20)]
        wait_for(lambda: status(self.daemon)["blocked_reads"] == 20, 10,
                 what="20 parked readers")
        self.assertEqual(self.daemon.stop(timeout=15), 0)
        for p in procs:
            p.communicate(timeout=scaled(10))


class RetentionOvertakes(TopicfsTestCase):
    # tiny segments and a byte bound: retention removes the front quickly
    daemon_config = {"topic.r": {"segment_bytes": "1K", "retention_bytes": "4K"}}

    def fill_until_trimmed(self, part, above):
        """Append lines until the log start passes stream position above."""
        i = 0
        deadline = time.monotonic() + scaled(30)
        while time.monotonic() < deadline:
            append_bytes(part, [b"line-%06d\n" % (i + k) for k in range(50)])
            i += 50
            xa = os.getxattr(part, "user.topicfs.stream_start")
            if int(xa) > above:
                return
            time.sleep(0.02)
        raise AssertionError("retention never passed position %d" % above)

    def test_mid_record_reader_gets_enodata_never_spliced_bytes(self):
        self.start()
        part = self.daemon.path("r", "0")
        append_bytes(part, b"line-first\n")
        fd = os.open(part, os.O_RDONLY)
        try:
            self.assertEqual(os.read(fd, 4), b"line")        # mid-record
            self.fill_until_trimmed(part, 4)
            with self.assertRaises(OSError) as cm:
                os.read(fd, 100)
            self.assertEqual(cm.exception.errno, errno.ENODATA)
        finally:
            os.close(fd)
        self.assertGreaterEqual(status(self.daemon)["reads_overtaken"], 1)

    def test_reader_at_a_record_boundary_moves_to_the_log_start(self):
        self.start()
        part = self.daemon.path("r", "0")
        append_bytes(part, b"line-first\n")
        fd = os.open(part, os.O_RDONLY)
        try:
            self.assertEqual(os.read(fd, 11), b"line-first\n")   # a whole line
            before = status(self.daemon)["reader_shifts"]
            self.fill_until_trimmed(part, 11)
            rest = b""
            while True:
                b = os.read(fd, 65536)
                if not b:
                    break
                rest += b
        finally:
            os.close(fd)
        lines = rest.split(b"\n")
        self.assertEqual(lines[-1], b"")
        for line in lines[:-1]:                 # every line whole: no splice
            self.assertRegex(line, rb"^line-\d{6}$")
        st = status(self.daemon)
        self.assertGreater(st["reader_shifts"], before)
        self.assertGreater(st["reader_skipped_bytes"], 0)

    def test_cat_of_a_trimmed_log_prints_whole_lines(self):
        self.start()
        part = self.daemon.path("r", "0")
        self.fill_until_trimmed(part, 0)
        for line in read_bytes(part).split(b"\n")[:-1]:
            self.assertRegex(line, rb"^line-\d{6}$")


class HeldLines(TopicfsTestCase):
    daemon_config = {"fs": {"max_held_bytes": "4M"},
                     "topic.big": {"max_message_bytes": "16M"}}

    def test_total_held_bytes_are_bounded_and_nothing_is_lost(self):
        self.start()
        part = self.daemon.path("h", "0")
        os.mkdir(self.daemon.path("h"))
        fds = [os.open(part, os.O_WRONLY | os.O_APPEND) for _ in range(40)]
        chunk = b"x" * (256 * 1024)            # 40 x 256 KiB = 10 MiB held
        try:
            for i, fd in enumerate(fds):
                self.assertEqual(os.write(fd, b"%03d" % i + chunk), len(chunk) + 3)
                st = status(self.daemon)
                self.assertLessEqual(st["held_bytes"], 4 << 20)
            self.assertGreater(status(self.daemon)["held_flushes"], 0)
        finally:
            for fd in fds:
                os.close(fd)
        self.assertEqual(status(self.daemon)["held_bytes"], 0)
        lines = read_bytes(part).split(b"\n")[:-1]
        self.assertEqual(sorted(l[:3] for l in lines), [b"%03d" % i for i in range(40)])
        for l in lines:
            self.assertEqual(l[3:], chunk)

    def test_line_over_the_message_size_is_refused_whole(self):
        self.start()
        os.mkdir(self.daemon.path("h"))
        part = self.daemon.path("h", "0")
        fd = os.open(part, os.O_WRONLY | os.O_APPEND)
        try:
            # each write(2) below 1 MiB - 4 KiB is one FUSE request, so
            # it is accepted or refused whole
            half = b"y" * (600 * 1024)
            os.write(fd, b"kept\npartial-" + half)
            with self.assertRaises(OSError) as cm:
                os.write(fd, half + b"\nafter\n")
            self.assertEqual(cm.exception.errno, errno.EMSGSIZE)
            os.write(fd, b"end\n")             # the held partial is intact
        finally:
            os.close(fd)
        self.assertEqual(read_bytes(part), b"kept\npartial-" + half + b"end\n")



class LongLines(TopicfsTestCase):
    daemon_config = {"topic.big": {"max_message_bytes": "16M"}}

    def test_a_10mb_line_comes_back_as_one_line(self):
        self.start()
        part = self.daemon.path("big", "0")
        line = bytes(range(32, 127)) * (10 * 1024 * 1024 // 95)
        subprocess.run(["dd", "of=" + part, "oflag=append", "conv=notrunc",
                        "bs=4M", "status=none"], input=line + b"\n", check=True)
        data = read_bytes(part)
        self.assertEqual(data.count(b"\n"), 1)
        self.assertEqual(data, line + b"\n")


class Layout(TopicfsTestCase):
    """The data dir and the mount point must not contain each other, by any
    path, and a live mount point is not mounted over."""

    def refused(self, data_dir, mnt=None, want="inside|contain one another"):
        self.daemon.config["storage"]["data_dir"] = data_dir
        if mnt:
            self.daemon.config["fs"]["mountpoint"] = mnt
        self.daemon.start(wait=False)
        rc = self.daemon.proc.wait(20)
        log = self.daemon.read_log()
        self.assertNotEqual(rc, 0, log)
        self.assertRegex(log, want)
        self.assertFalse(self.daemon.mounted())
        self.daemon.proc = None

    def test_data_dir_through_the_mount_is_refused(self):
        m = self.daemon.mnt
        self.refused(os.path.join(m, "..", os.path.basename(m), "data"))

    def test_data_dir_through_a_symlink_into_the_mount_is_refused(self):
        link = os.path.join(self.root, "link")
        os.symlink(self.daemon.mnt, link)
        self.refused(os.path.join(link, "data"))

    def test_mountpoint_inside_the_data_dir_is_refused(self):
        self.refused(self.daemon.data, os.path.join(self.daemon.data, "mnt"),
                     want="inside the data dir|contain one another")

    def test_second_daemon_on_a_live_mountpoint_is_refused(self):
        self.start()
        os.mkdir(self.daemon.path("first"))
        other_root = os.path.join(self.root, "other")
        os.makedirs(os.path.join(other_root, "data"))
        from harness import Daemon
        second = Daemon(other_root, {"storage": {"data_dir": os.path.join(other_root, "data")},
                                     "fs": {"mountpoint": self.daemon.mnt}})
        try:
            second.start(wait=False)
            rc = second.proc.wait(20)
            self.assertNotEqual(rc, 0)
            self.assertIn("already mounted", second.read_log())
        finally:
            if second.proc and second.proc.poll() is None:
                second.proc.kill()
        # the first daemon still serves its mount
        self.assertIn("first", os.listdir(self.daemon.mnt))


class WritesFraming(TopicfsTestCase):
    daemon_config = {"topic.w": {"framing": "writes", "max_message_bytes": "4M"}}

    def test_one_write_is_one_record_up_to_the_bound(self):
        self.start()
        part = self.daemon.path("w", "0")
        unit = b"u" * WRITE_UNIT_MAX
        append_bytes(part, unit)
        self.assertEqual(os.getxattr(part, "user.topicfs.next_offset"), b"1")
        with self.assertRaises(OSError) as cm:
            append_bytes(part, b"v" * (1024 * 1024))
        self.assertEqual(cm.exception.errno, errno.EMSGSIZE)
        with self.assertRaises(OSError) as cm:
            append_bytes(part, b"w" * (3 * 1024 * 1024))
        self.assertEqual(cm.exception.errno, errno.EMSGSIZE)
        self.assertEqual(os.getxattr(part, "user.topicfs.next_offset"), b"1")
        self.assertEqual(read_bytes(part), unit)


if __name__ == "__main__":
    main()
