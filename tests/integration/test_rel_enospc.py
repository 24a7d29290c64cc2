"""A real full disk (docs/TESTING.md R8): data_dir on an 8 MiB tmpfs (the test
mounts it; root only) with a 2 MiB ballast file.
Writers through the mount and over TCP fill it: write(2) fails with
ENOSPC, Produce gets KAFKA_STORAGE_ERROR (56); every acknowledged record
reads back (mount and Fetch), nothing partial; a restart while full keeps
it all; once the ballast is deleted writing resumes on both paths; a clean
stop verifies with topicfs-dump.  The tmpfs is always unmounted.  Not root,
or no tmpfs: the test fails and says so."""
import errno
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import main, run, read_bytes, tool  # noqa: E402
from netutil import NetTestCase, Raw, fetch_v4  # noqa: E402
from relutil import encode_batch, produce_v3, split_batches, batch_info, batch_crc_ok  # noqa: E402


def mline(i):
    return b"m-%07d-%s\n" % (i, b"q" * (i % 53))


def tval(i):
    return b"t-%07d-%s" % (i, b"r" * (i % 47))


class FullDisk(NetTestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.fail("this test mounts a tmpfs: run it as root")
        super().setUp()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs",
                            self.daemon.data], capture_output=True, timeout=30)
        if r.returncode != 0:
            self.fail("cannot mount a tmpfs for the full disk: %r" % r.stderr)
        self.addCleanup(self._umount_tmpfs)
        self.ballast = os.path.join(self.daemon.data, "ballast.bin")
        with open(self.ballast, "wb") as f:
            f.write(b"\xa5" * (2 << 20))

    def _umount_tmpfs(self):
        self.daemon.kill()          # nothing may hold it open
        for args in (["umount", self.daemon.data], ["umount", "-l", self.daemon.data]):
            with open("/proc/mounts") as f:
                if not any(l.split()[1] == self.daemon.data for l in f):
                    return
            subprocess.run(args, capture_output=True, timeout=30)

    def fill_mount(self, p, start):
        """Append 4 KiB chunks of whole lines until ENOSPC; returns the
        acknowledged bytes and the next line number."""
        acked = []
        i = start
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        try:
            while True:
                chunk = b"".join(mline(j) for j in range(i, i + 60))
                try:
                    n = os.write(fd, chunk)
                except OSError as e:
                    self.assertEqual(e.errno, errno.ENOSPC, "write failed with %s" % e)
                    break
                self.assertEqual(n, len(chunk))
                acked.append(chunk)
                i += 60
                self.assertLess(i, 10 ** 6, "the disk never filled")
        finally:
            try:
                os.close(fd)
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC)
        return b"".join(acked), i

    def fetch_all(self, c, topic):
        vals, off = [], 0
        while True:
            err, hwm, rec = fetch_v4(c, topic, 0, off, max_bytes=4 << 20)
            self.assertEqual(err, 0)
            if not rec:
                return vals
            for _, b in split_batches(rec):
                self.assertTrue(batch_crc_ok(b))
                _, last, v = batch_info(b)
                vals.extend(v)
                off = last + 1

    def test_full_disk(self):
        self.start({"storage": {"segment_bytes": "1M"}})
        os.mkdir(self.daemon.path("m"))
        os.mkdir(self.daemon.path("t"))
        p = self.daemon.path("m", "0")
        c = Raw(self.daemon.port)
        try:
            # TCP first, a little; then the mount fills the disk
            tacked = []
            for i in range(0, 200, 4):
                vals = [tval(j) for j in range(i, i + 4)]
                err, _ = produce_v3(c, "t", 0, encode_batch(vals))
                self.assertEqual(err, 0)
                tacked += vals
            macked, nxt = self.fill_mount(p, 0)
            self.assertGreater(len(macked), 1 << 20)
            # over TCP now: storage error, nothing appended
            before = os.getxattr(self.daemon.path("t", "0"), "user.topicfs.next_offset")
            err, _ = produce_v3(c, "t", 0, encode_batch([b"x" * 3000] * 40))
            self.assertEqual(err, 56)
            self.assertEqual(os.getxattr(self.daemon.path("t", "0"),
                                         "user.topicfs.next_offset"), before)
            # everything acknowledged is there, nothing more
            self.assertEqual(read_bytes(p), macked)
            self.assertEqual(self.fetch_all(c, "t"), tacked)
            self.assertIn("No space left on device", self.daemon.read_log())
        finally:
            c.close()
        # a restart while full keeps it all
        self.daemon.stop()
        self.daemon.start()
        self.assertEqual(read_bytes(p), macked)
        # space returns: both paths write again
        os.unlink(self.ballast)
        more = b"".join(mline(j) for j in range(nxt, nxt + 500))
        with open(p, "ab") as f:
            f.write(more)
        c = Raw(self.daemon.port)
        try:
            vals = [tval(j) for j in range(200, 210)]
            err, base = produce_v3(c, "t", 0, encode_batch(vals))
            self.assertEqual((err, base), (0, 200))
            tacked += vals
            self.assertEqual(self.fetch_all(c, "t"), tacked)
        finally:
            c.close()
        self.assertEqual(read_bytes(p), macked + more)
        self.assertEqual(self.daemon.stop(), 0)
        for t in ("m", "t"):
            r = run([tool("topicfs-dump"), "--verify", "--quiet",
                     os.path.join(self.daemon.data, t + "-0")], check=False, timeout=120)
            self.assertEqual(r.returncode, 0, (r.stdout + r.stderr)[-3000:])
        self.daemon.start()
        self.assertEqual(read_bytes(p), macked + more)


if __name__ == "__main__":
    main()
