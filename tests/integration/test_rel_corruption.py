"""Corruption against the real daemon (docs/TESTING.md R3, R4, R5, R6):
- a flipped byte in a sealed, flushed segment: `cat` through the mount
  prints exactly the records before the bad batch and then fails with EIO;
  a Fetch over TCP returns the good batches before it (each with a valid
  CRC) and KAFKA_STORAGE_ERROR (56) at it, never its bytes; kcat prints no
  bad record; the segment is never truncated (a restart shows the same);
- damaged or missing .index/.timeindex/.sindex files, a garbage
  checkpoint, a garbage stream-start file and a missing clean-shutdown
  marker: the daemon starts (no blocking), the content and the views by
  offset and time are unchanged, and the rebuilt files verify;
- torn tails after a kill -9 (random bytes, zeros, a partial batch, a
  Length of INT32_MAX, a negative Length): the restart keeps exactly the
  acknowledged records, appending works, the files verify.
The storage-level versions are in tests/unit/test_engine.c (test_recover_*,
test_corrupt_sealed_segment); these check the daemon's startup and both
read paths."""
import errno
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import main, run, read_bytes, append_bytes, tool  # noqa: E402
from netutil import NetTestCase, Raw, fetch_v4, KCAT  # noqa: E402
from relutil import (split_batches, batch_crc_ok, batch_info, segment_logs,  # noqa: E402
                     flip_byte)


def line(i):
    return b"c-%05d-%s\n" % (i, b"z" * (i % 23))


class Corruption(NetTestCase):
    daemon_config = {"storage": {"segment_bytes": "2048", "index_interval_bytes": "128"}}

    def fill(self, topic, n, per=7):
        os.mkdir(self.daemon.path(topic))
        p = self.daemon.path(topic, "0")
        for i in range(0, n, per):
            append_bytes(p, b"".join(line(j) for j in range(i, min(n, i + per))))
        return p

    def verify(self, topic):
        r = run([tool("topicfs-dump"), "--verify", "--quiet",
                 os.path.join(self.daemon.data, topic + "-0")], check=False, timeout=120)
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace")

    def test_flipped_byte_in_sealed_segment(self):
        self.start()
        p = self.fill("c", 400)
        expect = b"".join(line(i) for i in range(400))
        self.assertEqual(read_bytes(p), expect)
        self.assertEqual(self.daemon.stop(), 0)       # flushed, sealed
        logs = segment_logs(os.path.join(self.daemon.data, "c-0"))
        self.assertGreater(len(logs), 3)
        seg = read_bytes(logs[1])
        batches = list(split_batches(seg))
        self.assertGreater(len(batches), 3)
        pos, bad = batches[2]
        bad_first, bad_last, _ = batch_info(bad)
        flip_byte(logs[1], pos + 61 + 5)            # inside the records
        self.daemon.start()

        # the mount: the records before the bad batch, then EIO
        r = subprocess.run(["cat", p], capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"Input/output error", r.stderr)
        self.assertEqual(r.stdout, b"".join(line(i) for i in range(bad_first)))
        fd = os.open(p, os.O_RDONLY)
        try:
            with self.assertRaises(OSError) as cm:
                os.pread(fd, 100, len(r.stdout))
            self.assertEqual(cm.exception.errno, errno.EIO)
        finally:
            os.close(fd)
        # past it, reads work (a bounded view from the next segment: stream
        # positions between the bad batch and the next index entry cannot be
        # computed, so a view starting there fails too)
        nxt = int(os.path.basename(logs[2])[:20])
        self.assertEqual(read_bytes(self.daemon.path("c", "0@%d..400" % nxt)),
                         b"".join(line(i) for i in range(nxt, 400)))
        with self.assertRaises(OSError):
            read_bytes(self.daemon.path("c", "0@%d..400" % (bad_last + 1)))

        # TCP: good batches up to it, then error 56 at it, never its bytes
        c = Raw(self.daemon.port)
        try:
            off, served = 0, []
            while True:
                err, hwm, rec = fetch_v4(c, "c", 0, off, max_bytes=1 << 20)
                if err:
                    break
                self.assertTrue(rec, "empty fetch before the bad batch")
                for _, b in split_batches(rec):
                    self.assertTrue(batch_crc_ok(b), "a batch with a bad CRC was served")
                    first, last, vals = batch_info(b)
                    served.extend(vals)
                    off = last + 1
            self.assertEqual(err, 56)
            self.assertEqual(off, bad_first)
            self.assertEqual(b"".join(v + b"\n" for v in served),
                             b"".join(line(i) for i in range(bad_first)))
            err, hwm, rec = fetch_v4(c, "c", 0, bad_first + 1)
            self.assertEqual((err, rec), (56, b""))
            err, hwm, rec = fetch_v4(c, "c", 0, bad_last + 1)
            self.assertEqual(err, 0)
            self.assertEqual(batch_info(next(split_batches(rec))[1])[0], bad_last + 1)
        finally:
            c.close()
        # kcat: whatever it prints is good records, in order
        r = subprocess.run(["timeout", "4", KCAT, "-b", "127.0.0.1:%d" % self.daemon.port,
                            "-C", "-t", "c", "-p", "0", "-o", "beginning", "-e", "-q"],
                           capture_output=True, timeout=30)
        self.assertTrue(b"".join(line(i) for i in range(400)).startswith(r.stdout),
                        "kcat printed records that are not the log's")
        self.assertNotIn(b"".join(line(i) for i in range(bad_first, bad_last + 1)), r.stdout)
        log = self.daemon.read_log()
        self.assertIn("corrupt batch", log)

        # never truncated: after a restart the same (the bytes stay on disk)
        self.assertEqual(self.daemon.stop(), 0)
        self.assertEqual(len(read_bytes(logs[1])), len(seg))
        self.daemon.start()
        r = subprocess.run(["cat", p], capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, b"".join(line(i) for i in range(bad_first)))
        self.assertEqual(os.getxattr(p, "user.topicfs.next_offset"), b"400")

    def test_damaged_indexes_and_checkpoint(self):
        self.start()
        p = self.fill("d", 600)
        expect = read_bytes(p)
        view = read_bytes(self.daemon.path("d", "0@333..444"))
        self.assertEqual(self.daemon.stop(), 0)
        d = os.path.join(self.daemon.data, "d-0")
        logs = segment_logs(d)
        self.assertGreater(len(logs), 4)
        base = [l[:-4] for l in logs]
        os.unlink(base[0] + ".index")
        os.unlink(base[1] + ".sindex")
        os.truncate(base[2] + ".timeindex", 7)
        with open(base[3] + ".index", "r+b") as f:           # points past the end
            f.write(struct.pack(">ii", 5, 10 ** 6) * 3)
        with open(base[-1] + ".sindex", "ab") as f:          # active: junk appended
            f.write(os.urandom(16))
        with open(base[-1] + ".index", "wb") as f:           # zero-filled (preallocated)
            f.write(b"\0" * 800)
        with open(os.path.join(self.daemon.data, "recovery-point-offset-checkpoint"), "wb") as f:
            f.write(b"0\n9\nd 0 99999999\ngarbage\n")
        with open(os.path.join(d, "stream-start"), "wb") as f:
            f.write(b"\xff\xfe not numbers\n")
        os.unlink(os.path.join(self.daemon.data, ".topicfs_clean_shutdown"))
        self.daemon.start()
        self.assertEqual(read_bytes(p), expect)
        self.assertEqual(read_bytes(self.daemon.path("d", "0@333..444")), view)
        self.assertEqual(read_bytes(self.daemon.path("d", "0@597..600")), b"".join(
            line(i) for i in (597, 598, 599)))
        append_bytes(p, line(600))
        self.assertEqual(self.daemon.stop(), 0)
        rc, out = self.verify("d")
        self.assertEqual(rc, 0, out)
        self.daemon.start()
        self.assertEqual(read_bytes(p), expect + line(600))

    def test_torn_tails_after_kill(self):
        self.start()
        p = self.fill("t", 100)
        n = 100
        tails = [
            ("random bytes", lambda last: os.urandom(333)),
            ("zeros", lambda last: b"\0" * 4096),
            ("a partial batch", lambda last: last[:len(last) - 9]),
            ("Length INT32_MAX", lambda last: struct.pack(">qi", n, 0x7FFFFFFF) + b"\0" * 60),
            ("negative Length", lambda last: struct.pack(">qi", n, -77) + b"\0" * 60),
            ("a header alone", lambda last: last[:61]),
        ]
        for what, tail in tails:
            self.daemon.proc.kill()
            self.daemon.proc.wait(10)
            self.daemon.kill()
            last_log = segment_logs(os.path.join(self.daemon.data, "t-0"))[-1]
            data = read_bytes(last_log)
            batches = list(split_batches(data))
            last = batches[-1][1] if batches else b""
            with open(last_log, "ab") as f:
                f.write(tail(last))
            self.daemon.start()
            self.assertEqual(read_bytes(p), b"".join(line(i) for i in range(n)), what)
            append_bytes(p, line(n) + line(n + 1))
            n += 2
            self.assertEqual(read_bytes(p), b"".join(line(i) for i in range(n)), what)
        self.assertEqual(self.daemon.stop(), 0)
        rc, out = self.verify("t")
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    main()
