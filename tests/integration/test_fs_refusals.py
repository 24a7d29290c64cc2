"""The refusal matrix (docs/TESTING.md R9), names (docs/TESTING.md R10), xattrs and the
.status file: every refused operation gives its documented errno and leaves
the content unchanged."""
import errno
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TopicfsTestCase, main, run, read_bytes, append_bytes, xattrs,  # noqa: E402
                     scaled, wait_for)

CONTENT = b"alpha\nbeta\ngamma\n"


class FsRefusals(TopicfsTestCase):
    daemon_net = False

    def setUp(self):
        super().setUp()
        self.start()
        self.t = self.daemon.path("t")
        os.mkdir(self.t)
        self.p = os.path.join(self.t, "0")
        append_bytes(self.p, CONTENT)

    def assertErrno(self, code, fn, *args):
        with self.assertRaises(OSError) as cm:
            fn(*args)
        self.assertEqual(cm.exception.errno, code,
                         "%s%r: %s" % (fn.__name__, args, cm.exception))

    def assertUnchanged(self):
        self.assertEqual(read_bytes(self.p), CONTENT)
        self.assertEqual(os.stat(self.p).st_size, len(CONTENT))

    def test_refusal_matrix(self):
        p, t = self.p, self.t
        self.assertErrno(errno.EPERM, os.truncate, p, 0)
        self.assertErrno(errno.EPERM, os.truncate, p, 5)
        self.assertErrno(errno.EPERM, os.truncate, p, 1000)
        os.truncate(p, len(CONTENT))                    # same size: no-op
        fd = os.open(p, os.O_WRONLY)
        try:
            self.assertErrno(errno.EPERM, os.ftruncate, fd, 0)
            self.assertErrno(errno.EPERM, os.posix_fallocate, fd, 0, 4096)
            self.assertErrno(errno.EPERM, os.posix_fallocate, fd, 100, 4096)
        finally:
            os.close(fd)
        os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))  # O_TRUNC: ignored
        self.assertUnchanged()
        self.assertErrno(errno.EPERM, os.rename, p, os.path.join(t, "1"))
        self.assertErrno(errno.EPERM, os.rename, t, self.daemon.path("u"))
        self.assertErrno(errno.EPERM, os.link, p, os.path.join(t, "9"))
        self.assertErrno(errno.EPERM, os.symlink, "0", os.path.join(t, "s"))
        self.assertErrno(errno.EPERM, os.symlink, "t", self.daemon.path("s"))
        self.assertErrno(errno.EPERM, os.chmod, p, 0o600)
        # a topic directory takes chmod and chown (test_fs_owners.py);
        # nothing else does
        self.assertErrno(errno.EPERM, os.chmod, p + "@earliest", 0o400)
        self.assertErrno(errno.EPERM, os.chmod, self.daemon.path(".status"), 0o400)
        self.assertErrno(errno.EPERM, os.chmod, self.daemon.mnt, 0o700)
        self.assertErrno(errno.EPERM, os.chown, p, 1, 1)
        self.assertErrno(errno.EPERM, os.mkfifo, os.path.join(t, "f"))
        self.assertErrno(errno.EPERM, os.mknod, os.path.join(t, "n"))
        self.assertErrno(errno.EPERM, os.unlink, p)
        self.assertErrno(errno.EPERM, os.unlink, self.daemon.path(".status"))
        self.assertErrno(errno.EPERM, os.setxattr, p, "user.x", b"1")
        self.assertErrno(errno.EPERM, os.setxattr, p, "user.topicfs.next_offset", b"0")
        self.assertErrno(errno.EPERM, os.removexattr, p, "user.topicfs.codec")
        self.assertErrno(errno.EPERM, os.open, os.path.join(t, "new"),
                         os.O_CREAT | os.O_WRONLY, 0o644)
        self.assertErrno(errno.EPERM, os.open, self.daemon.path("newfile"),
                         os.O_CREAT | os.O_WRONLY, 0o644)
        self.assertErrno(errno.EPERM, os.mkdir, os.path.join(t, "sub"))
        self.assertErrno(errno.EPERM, os.rmdir, t)      # allow_delete = false
        self.assertErrno(errno.EISDIR, os.open, t, os.O_WRONLY)
        self.assertErrno(errno.EACCES, os.open, self.daemon.path(".status"), os.O_WRONLY)
        # shell-level: the messages users see, and nothing changed
        r = run("mv %s %s/x" % (p, t), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"not permitted", r.stderr)
        r = run(["truncate", "-s", "0", p], check=False)
        self.assertNotEqual(r.returncode, 0)
        # touch works and changes nothing
        run(["touch", p])
        self.assertUnchanged()
        self.assertEqual(os.listdir(t), ["0"])
        self.assertTrue(os.path.isdir(t))
        # O_CREAT on an existing partition is an ordinary open (shell >>)
        fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
        os.write(fd, b"delta\n")
        os.close(fd)
        self.assertEqual(read_bytes(p), CONTENT + b"delta\n")

    def test_names(self):
        before_mnt = sorted(os.listdir(self.daemon.mnt))
        before_data = sorted(os.listdir(self.daemon.data))
        self.assertErrno(errno.EINVAL, os.mkdir, self.daemon.path("a" * 250))
        self.assertErrno(errno.EINVAL, os.mkdir, self.daemon.path("a b"))
        self.assertErrno(errno.EINVAL, os.mkdir, self.daemon.path("ctl\x01"))
        self.assertErrno(errno.EINVAL, os.mkdir, self.daemon.path("tab\t"))
        self.assertErrno(errno.EINVAL, os.mkdir, self.daemon.path("new\nline"))
        self.assertErrno(errno.EINVAL, os.mkdir, self.daemon.path("star*"))
        self.assertErrno(errno.EINVAL, os.mkdir, self.daemon.path("\xe9t\xe9"))
        self.assertErrno(errno.EINVAL, os.mkdir, self.daemon.path("a" * 300))
        self.assertErrno(errno.ENOENT, os.mkdir, self.daemon.path("x", "y"))
        self.assertErrno(errno.EEXIST, os.mkdir, self.daemon.path("."))
        self.assertErrno(errno.EEXIST, os.mkdir, self.daemon.path(".."))
        self.assertErrno(errno.EEXIST, os.mkdir, self.daemon.path(""))
        self.assertErrno(errno.EEXIST, os.mkdir, self.t)
        self.assertErrno(errno.EEXIST, os.mkdir, self.daemon.path(".status"))
        self.assertEqual(sorted(os.listdir(self.daemon.mnt)), before_mnt)
        self.assertEqual(sorted(os.listdir(self.daemon.data)), before_data)
        # dots, dashes, underscores
        for name in ("A.b-c_9", "..x", ".hidden", "b" * 200):
            os.mkdir(self.daemon.path(name))
            self.assertEqual(os.listdir(self.daemon.path(name)), ["0"])
        # partition names
        for name in ("1", "01", "-1", "abc", "0x0", " 0", "0 ", "+0", "1e0",
                     "99999999999999999999"):
            self.assertErrno(errno.ENOENT, os.stat, os.path.join(self.t, name))
            self.assertErrno(errno.ENOENT, os.open, os.path.join(self.t, name), os.O_RDONLY)
        self.assertErrno(errno.ENOENT, os.stat, self.daemon.path("nosuchtopic", "0"))
        self.assertErrno(errno.ENOTDIR, os.stat, os.path.join(self.p, "x"))
        self.assertUnchanged()

    def test_longest_topic_name(self):
        """249 characters is the longest valid topic name (Kafka's rule)."""
        name = "a" * 249
        os.mkdir(self.daemon.path(name))
        self.assertEqual(os.listdir(self.daemon.path(name)), ["0"])
        append_bytes(self.daemon.path(name, "0"), b"long\n")
        self.assertEqual(read_bytes(self.daemon.path(name, "0")), b"long\n")

    def test_xattrs_and_status(self):
        x = xattrs(self.p)
        self.assertEqual(x["user.topicfs.log_start_offset"], "0")
        self.assertEqual(x["user.topicfs.next_offset"], "3")
        self.assertEqual(x["user.topicfs.records"], "3")
        self.assertEqual(x["user.topicfs.stream_start"], "0")
        self.assertEqual(x["user.topicfs.stream_end"], str(len(CONTENT)))
        self.assertEqual(x["user.topicfs.segments"], "1")
        self.assertGreater(int(x["user.topicfs.bytes_on_disk"]), len(CONTENT))
        self.assertEqual(x["user.topicfs.codec"], "none")
        self.assertEqual(x["user.topicfs.framing"], "lines")
        tx = xattrs(self.t)
        self.assertEqual(tx["user.topicfs.partitions"], "1")
        self.assertEqual(tx["user.topicfs.framing"], "lines")
        self.assertErrno(errno.ENODATA, os.getxattr, self.p, "user.topicfs.nope")
        self.assertErrno(errno.ENODATA, os.getxattr, self.p, "user.other")
        out = run(["getfattr", "-d", self.p]).stdout.decode()
        self.assertIn('user.topicfs.next_offset="3"', out)
        self.assertIn('user.topicfs.codec="none"', out)
        # .status: listed, read-only, one line per partition plus counters
        self.assertIn(".status", os.listdir(self.daemon.mnt))
        st = os.stat(self.daemon.path(".status"))
        self.assertEqual(st.st_mode & 0o777, 0o444)
        text = read_bytes(self.daemon.path(".status")).decode()
        fields = dict(l.split(" ", 1) for l in text.split("\n\n")[0].splitlines()[1:])
        self.assertEqual(fields["topics"], "1")
        self.assertGreaterEqual(int(fields["records_written"]), 3)
        self.assertGreaterEqual(int(fields["appends"]), 1)
        self.assertEqual(fields["errors"], "0")
        self.assertIn("uptime_ms", fields)
        table = text.split("\n\n")[1].splitlines()
        self.assertEqual(table[0].split()[:4],
                         ["topic", "partition", "log_start_offset", "next_offset"])
        self.assertEqual(table[1].split(), ["t", "0", "0", "3", "3", "0",
                                            str(len(CONTENT)), "1",
                                            x["user.topicfs.bytes_on_disk"],
                                            "none", "lines"])
        # counters move
        append_bytes(self.p, b"more\n")
        text2 = read_bytes(self.daemon.path(".status")).decode()
        self.assertIn("t 0 0 4 4 ", text2)


class FsDelete(TopicfsTestCase):
    daemon_net = False
    daemon_config = {"fs": {"allow_delete": "true"}}

    def test_rmdir_deletes_when_allowed(self):
        self.start()
        t = self.daemon.path("gone")
        os.mkdir(t)
        append_bytes(os.path.join(t, "0"), b"x\n")
        fd = os.open(os.path.join(t, "0"), os.O_RDONLY)
        os.rmdir(t)
        self.assertFalse(os.path.exists(t))
        self.assertNotIn("gone", os.listdir(self.daemon.mnt))
        self.assertFalse(os.path.exists(os.path.join(self.daemon.data, "gone-0")))
        # an fd open on the deleted topic fails, the daemon lives on
        try:
            os.pread(fd, 10, 0)
        except OSError as e:
            self.assertEqual(e.errno, errno.ENOENT)
        os.close(fd)
        os.mkdir(t)
        self.assertEqual(read_bytes(os.path.join(t, "0")), b"")
        # a view reader blocked at the end of a topic that gets deleted
        # ends (EOF or an error), it does not hang
        append_bytes(os.path.join(t, "0"), b"y\n")
        vfd = os.open(os.path.join(t, "0@latest"), os.O_RDONLY)
        result = []

        def reader():
            try:
                result.append(os.read(vfd, 100))
            except OSError as e:
                result.append(e.errno)
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        # the read must be parked before the rmdir (a slow thread reading
        # only after it tested a plain read of a missing topic instead)
        wait_for(lambda: b"\nblocked_reads 1\n" in read_bytes(self.daemon.path(".status")),
                 10, what="the view read parked")
        self.assertTrue(th.is_alive())
        os.rmdir(t)
        th.join(scaled(10))
        self.assertFalse(th.is_alive(), "view reader hangs after rmdir")
        self.assertIn(result[0], (b"", errno.ENOENT, errno.EIO))
        os.close(vfd)
        with self.assertRaises(OSError) as cm:
            os.rmdir(self.daemon.path("nosuch"))
        self.assertEqual(cm.exception.errno, errno.ENOENT)


if __name__ == "__main__":
    main()
