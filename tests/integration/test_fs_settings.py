"""Per-topic settings from the shell: setfattr on a topic directory changes
a setting at run time (the table's names, syntax and bounds), getfattr -d
shows every setting, partitions only grows (the new partition file appears
at once), framing and compression stay fixed; runtime changes survive a
restart, and a [topic.NAME] section re-applies only the keys it names."""
import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TopicfsTestCase, main, run, read_bytes,  # noqa: E402
                     append_bytes, xattrs)

P = "user.topicfs."


class FsSettings(TopicfsTestCase):
    daemon_net = False

    def setfattr(self, path, key, value, check=True):
        return run(["setfattr", "-n", P + key, "-v", value, path], check=check)

    def assertErrno(self, err, fn, *args):
        with self.assertRaises(OSError) as cm:
            fn(*args)
        self.assertEqual(cm.exception.errno, err, cm.exception)

    def test_setfattr_getfattr_restart(self):
        self.start({"storage": {"linger_ms": "0"}})
        t = self.daemon.path("t")
        os.mkdir(t)
        append_bytes(self.daemon.path("t", "0"), b"zero\n")
        # getfattr -d shows every setting of the table, by its key name
        out = run(["getfattr", "-d", t]).stdout.decode()
        for key in ("partitions", "framing", "compression", "segment_bytes",
                    "segment_ms", "index_interval_bytes", "retention_bytes",
                    "retention_ms", "flush_messages", "flush_ms", "batch_bytes",
                    "linger_ms", "max_message_bytes"):
            self.assertIn(P + key + '="', out)
        self.assertIn(P + 'compression="none"', out)
        self.assertEqual(os.getxattr(t, P + "codec"), b"none")      # the alias

        # a dynamic setting, in the INI syntax
        self.setfattr(t, "retention_ms", "2h")
        self.assertEqual(xattrs(t)[P + "retention_ms"], "7200000")
        os.setxattr(t, P + "retention.bytes", b"64M\n")           # Kafka name, echo's \n
        self.assertEqual(xattrs(t)[P + "retention_bytes"], str(64 << 20))
        # out of bounds, unknown, fixed, shrinking: refused, nothing changed
        self.assertErrno(errno.EINVAL, os.setxattr, t, P + "segment_bytes", b"10")
        self.assertErrno(errno.EINVAL, os.setxattr, t, P + "retention_ms", b"soon")
        self.assertErrno(errno.EINVAL, os.setxattr, t, P + "nope", b"1")
        self.assertErrno(errno.EPERM, os.setxattr, t, P + "framing", b"writes")
        self.assertErrno(errno.EPERM, os.setxattr, t, P + "compression", b"zstd")
        self.assertErrno(errno.EPERM, os.setxattr, t, "user.other", b"1")
        self.assertErrno(errno.EPERM, os.setxattr, self.daemon.path("t", "0"),
                         P + "retention_ms", b"1")
        r = self.setfattr(t, "framing", "writes", check=False)
        self.assertNotEqual(r.returncode, 0)
        log = self.daemon.read_log()
        self.assertIn("framing is fixed at creation", log)
        self.assertIn("out of range", log)
        self.assertEqual(xattrs(t)[P + "framing"], "lines")

        # partitions grows; the new files appear at once and take appends
        self.setfattr(t, "partitions", "3")
        self.assertEqual(xattrs(t)[P + "partitions"], "3")
        self.assertEqual(sorted(os.listdir(t)), ["0", "1", "2"])
        run("echo two >> %s" % self.daemon.path("t", "2"))
        self.assertEqual(read_bytes(self.daemon.path("t", "2")), b"two\n")
        self.assertErrno(errno.EINVAL, os.setxattr, t, P + "partitions", b"2")
        self.setfattr(t, "partitions", "3")                         # unchanged: fine
        self.assertEqual(sorted(os.listdir(t)), ["0", "1", "2"])

        # a restart keeps every runtime change ([storage] defaults are not
        # re-applied to existing topics)
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.config["storage"]["retention_ms"] = "1d"
        self.daemon.start()
        x = xattrs(t)
        self.assertEqual(x[P + "partitions"], "3")
        self.assertEqual(x[P + "retention_ms"], "7200000")
        self.assertEqual(x[P + "retention_bytes"], str(64 << 20))
        self.assertEqual(read_bytes(self.daemon.path("t", "2")), b"two\n")
        self.assertEqual(read_bytes(self.daemon.path("t", "0")), b"zero\n")

        # config as code: a [topic.t] section re-applies only what it names
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.config["topic.t"] = {"retention_ms": "3h"}
        self.daemon.start()
        x = xattrs(t)
        self.assertEqual(x[P + "retention_ms"], str(3 * 3600 * 1000))
        self.assertEqual(x[P + "retention_bytes"], str(64 << 20))
        self.assertEqual(x[P + "partitions"], "3")
        # ...and wins over a runtime change at the next start
        self.setfattr(t, "retention_ms", "5h")
        self.setfattr(t, "linger_ms", "5")
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        x = xattrs(t)
        self.assertEqual(x[P + "retention_ms"], str(3 * 3600 * 1000))
        self.assertEqual(x[P + "linger_ms"], "5")

        # a section may grow partitions too, never shrink them
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.config["topic.t"] = {"partitions": "4"}
        self.daemon.start()
        self.assertEqual(sorted(os.listdir(t)), ["0", "1", "2", "3"])
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.config["topic.t"] = {"partitions": "2", "framing": "writes"}
        self.daemon.start()
        self.assertEqual(sorted(os.listdir(t)), ["0", "1", "2", "3"])
        self.assertEqual(xattrs(t)[P + "framing"], "lines")
        log = self.daemon.read_log()
        self.assertIn("only grows", log)
        self.assertIn("fixed at creation", log)


if __name__ == "__main__":
    main()
