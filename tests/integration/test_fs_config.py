"""The command line and the INI config: bad files refuse to start with the
file, line and key named; --help, --version, --set, no config at all,
[topic.NAME] sections, daemon mode, fusermount3 -u, a stale mount."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, TopicfsTestCase, main, run, read_bytes,  # noqa: E402
                     append_bytes, xattrs, wait_for)


class FsConfig(TopicfsTestCase):
    daemon_net = False

    def bin(self):
        if not BIN or not os.access(BIN, os.X_OK):
            raise AssertionError("TOPICFS_BIN not set or not executable: %r" % BIN)
        return BIN

    def refuse(self, ini_text, *expect, args=()):
        """Start with this INI; it must exit non-zero, print every expected
        fragment on stderr and mount nothing."""
        ini = os.path.join(self.root, "bad.ini")
        with open(ini, "w") as f:
            f.write(ini_text)
        r = run([self.bin(), "-f", "-c", ini] + list(args), check=False, timeout=20)
        err = r.stderr.decode(errors="replace")
        self.assertIn(r.returncode, (1, 2), err)
        for e in expect:
            self.assertIn(e, err)
        self.assertTrue(err.startswith("topicfs: "), err)
        self.assertFalse(os.path.ismount(self.daemon.mnt))
        return err

    def base(self):
        return ("[storage]\ndata_dir = %s\n[fs]\nmountpoint = %s\n[net]\nenabled = false\n"
                % (self.daemon.data, self.daemon.mnt))

    def test_bad_configs_refuse_to_start(self):
        b = self.base()   # lines 1..6
        self.refuse(b + "[storage]\nfoo = 1\n", "bad.ini:8: [storage] foo: unknown key")
        self.refuse(b + "[bogus]\n", "bad.ini:7: [bogus]: unknown section")
        self.refuse(b + "[storage]\nsegment_bytes = abc\n",
                    "bad.ini:8: [storage] segment_bytes: value 'abc' is not a number")
        self.refuse(b + "[storage]\nsegment_bytes = 10\n",
                    "bad.ini:8: [storage] segment_bytes: value 10 out of range "
                    "(1024 .. 1073741824)")
        self.refuse(b + "[storage]\nsegment_bytes = 2G\n", "bad.ini:8:", "out of range")
        self.refuse(b + "[fs]\nallow_delete = maybe\n",
                    "bad.ini:8: [fs] allow_delete: value 'maybe' is not a boolean")
        self.refuse(b + "[storage]\ncompression = gzip\n",
                    "bad.ini:8: [storage] compression:", "not a codec")
        self.refuse(b + "[fs]\nframing = bytes\n", "bad.ini:8: [fs] framing:")
        self.refuse(b + "[net]\nlisten = localhost\n", "bad.ini:8: [net] listen:")
        self.refuse(b + "[net]\nlisten = 127.0.0.1:70000\n", "bad.ini:8: [net] listen:")
        self.refuse(b + "[storage]\ndata_dir = /x%s\n" % ("y" * 5000),
                    "bad.ini:8: line too long")
        self.refuse(b + "; comment " + "z" * 5000 + "\n", "bad.ini:7: line too long")
        self.refuse(b + "[topic.a b]\npartitions = 2\n",
                    "bad.ini:7: [topic.a b]: invalid topic name")
        self.refuse(b + "[topic.bad/name]\n", "bad.ini:7:", "invalid topic name")
        self.refuse(b + "[topic..]\n", "bad.ini:7:", "invalid topic name")
        self.refuse(b, "--set topic.%s.partitions=1" % ("n" * 250), "invalid topic name",
                    args=["--set", "topic.%s.partitions=1" % ("n" * 250)])
        self.refuse(b + "[topic.ok]\npartitions = 0\n",
                    "bad.ini:8: [topic.ok] partitions: value 0 out of range (1 .. 100000)")
        self.refuse(b + "[topic.ok]\nmountpoint = /x\n",
                    "bad.ini:8: [topic.ok] mountpoint: unknown per-topic key")
        self.refuse("x = 1\n" + b, "bad.ini:1: x: key outside of any section")
        self.refuse(b + "[storage\n", "bad.ini:7: syntax error")
        self.refuse(b + "just words\n", "bad.ini:7: syntax error")
        self.refuse(b, "--set storage.linger_ms=-1:", "out of range",
                    args=["--set", "storage.linger_ms=-1"])
        self.refuse(b, "--set storage.nope=1: [storage] nope: unknown key",
                    args=["--set", "storage.nope=1"])
        self.refuse(b, "--set", "expected SECTION.KEY=VALUE", args=["--set", "garbage"])
        self.refuse(b.replace(self.daemon.mnt, self.daemon.data + "/mnt"),
                    "must not contain one another")
        r = run([self.bin(), "-f", "-c", os.path.join(self.root, "missing.ini")],
                check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"missing.ini: cannot open config", r.stderr)
        r = run([self.bin(), "--no-such-option"], check=False)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(os.listdir(self.daemon.data), [])

    def test_help_and_version(self):
        r = run([self.bin(), "--help"])
        out = r.stdout.decode()
        for key in ("segment_bytes", "retention_ms", "linger_ms", "allow_delete",
                    "max_request_bytes", "advertised_host", "--set", "MOUNTPOINT"):
            self.assertIn(key, out)
        r = run([self.bin(), "--version"])
        self.assertTrue(r.stdout.startswith(b"topicfs "), r.stdout)

    def test_example_ini_documents_every_key_with_its_default(self):
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "..", "..", "examples", "topicfs.ini")
        help_defaults = {}
        section = None
        for line in run([self.bin(), "--help"]).stdout.decode().splitlines():
            m = re.match(r"^  \[(\w+)\]$", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r'^    (\w+)\s+= ("[^"]*"|\S+)', line)
            if m and section:
                v = m.group(2)
                help_defaults[(section, m.group(1))] = \
                    v[1:-1] if v.startswith('"') else v
        self.assertGreaterEqual(len(help_defaults), 25)
        example_values = {}
        section = None
        with open(example) as f:
            for line in f:
                self.assertLessEqual(len(line.rstrip("\n")), 197)
                m = re.match(r"^\[(\w+)\]", line)
                if m:
                    section = m.group(1)
                    continue
                m = re.match(r"^(\w+)\s*=\s*(.*?)\s*$", line)
                if m:
                    example_values[(section, m.group(1))] = m.group(2)
        self.assertEqual(example_values, help_defaults)
        # and the daemon starts on it (paths and port overridden)
        self.daemon.config = {}
        args = ["--set", "storage.data_dir=" + self.daemon.data,
                "--set", "fs.mountpoint=" + self.daemon.mnt, "--set", "net.enabled=false"]
        log = open(os.path.join(self.root, "example.log"), "wb")
        proc = subprocess.Popen([self.bin(), "-f", "-c", example] + args,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: os.path.ismount(self.daemon.mnt) or proc.poll() is not None,
                     15, what="mount")
            self.assertTrue(os.path.ismount(self.daemon.mnt), "daemon exited")
            os.mkdir(self.daemon.path("ex"))
            self.assertEqual(xattrs(self.daemon.path("ex"))["user.topicfs.segment_bytes"],
                             "1073741824")
            proc.terminate()
            self.assertEqual(proc.wait(20), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
            self.daemon.unmount()

    def test_no_config_file_and_set(self):
        """Embedded defaults plus command-line options only."""
        args = [self.bin(), "-f", "--data-dir", self.daemon.data,
                "--set", "net.enabled=false", "--set", "storage.segment_bytes=64K",
                "--set", "topic.cli.partitions=2", "--set", "topic.cli.framing=writes",
                self.daemon.mnt]
        log = open(os.path.join(self.root, "cli.log"), "wb")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: os.path.ismount(self.daemon.mnt) or proc.poll() is not None,
                     15, what="mount")
            self.assertTrue(os.path.ismount(self.daemon.mnt))
            self.assertEqual(sorted(os.listdir(self.daemon.path("cli"))), ["0", "1"])
            self.assertEqual(xattrs(self.daemon.path("cli"))["user.topicfs.framing"], "writes")
            self.assertEqual(xattrs(self.daemon.path("cli"))["user.topicfs.segment_bytes"],
                             "65536")
            os.mkdir(self.daemon.path("plain"))
            append_bytes(self.daemon.path("plain", "0"), b"hello\n")
            self.assertEqual(read_bytes(self.daemon.path("plain", "0")), b"hello\n")
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(20), 0)
            self.assertFalse(os.path.ismount(self.daemon.mnt))
            self.assertTrue(os.path.exists(
                os.path.join(self.daemon.data, ".topicfs_clean_shutdown")))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
            self.daemon.unmount()

    def test_topic_sections_and_restart(self):
        self.start({"topic.events": {"partitions": "4", "retention_ms": "1h"},
                    "storage": {"retention_bytes": "10M", "linger_ms": "0"}})
        ev = self.daemon.path("events")
        self.assertEqual(sorted(os.listdir(ev)), ["0", "1", "2", "3"])
        x = xattrs(ev)
        self.assertEqual(x["user.topicfs.retention_ms"], "3600000")
        self.assertEqual(x["user.topicfs.retention_bytes"], str(10 << 20))
        append_bytes(self.daemon.path("events", "3"), b"kept\n")
        self.assertEqual(self.daemon.stop(), 0)
        # fixed settings stay as created, mutable ones follow the config
        self.daemon.config["topic.events"] = {"partitions": "2", "retention_ms": "2h"}
        self.daemon.start()
        self.assertEqual(sorted(os.listdir(ev)), ["0", "1", "2", "3"])
        self.assertEqual(xattrs(ev)["user.topicfs.retention_ms"], "7200000")
        self.assertEqual(read_bytes(self.daemon.path("events", "3")), b"kept\n")
        self.assertIn("fixed at creation", self.daemon.read_log())

    def test_fusermount_unmount_is_a_clean_shutdown(self):
        self.start()
        os.mkdir(self.daemon.path("t"))
        fd = os.open(self.daemon.path("t", "0"), os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"line\n")
        os.close(fd)
        run(["fusermount3", "-u", self.daemon.mnt])
        self.assertEqual(self.daemon.proc.wait(20), 0)
        self.assertTrue(os.path.exists(
            os.path.join(self.daemon.data, ".topicfs_clean_shutdown")))
        self.daemon.proc = None
        self.daemon.start()
        self.assertEqual(read_bytes(self.daemon.path("t", "0")), b"line\n")

    def test_stale_mount_after_kill(self):
        self.start()
        os.mkdir(self.daemon.path("t"))
        append_bytes(self.daemon.path("t", "0"), b"before kill\n")
        self.daemon.proc.kill()          # leaves a dead mount behind
        self.daemon.proc.wait(10)
        with self.assertRaises(OSError):
            os.listdir(self.daemon.mnt)     # ENOTCONN
        self.daemon.proc = None
        self.daemon.log.close()
        self.daemon.log = None
        self.daemon.start()
        self.assertEqual(read_bytes(self.daemon.path("t", "0")), b"before kill\n")
        self.assertIn("stale", self.daemon.read_log())

    def test_daemon_mode_is_ready_when_parent_exits(self):
        self.daemon.write_config()
        r = run([self.bin(), "-c", self.daemon.ini], timeout=30)
        self.assertEqual(r.returncode, 0)
        try:
            self.assertTrue(os.path.ismount(self.daemon.mnt))
            os.mkdir(self.daemon.path("d"))
            append_bytes(self.daemon.path("d", "0"), b"daemonised\n")
            self.assertEqual(read_bytes(self.daemon.path("d", "0")), b"daemonised\n")
        finally:
            run(["fusermount3", "-u", self.daemon.mnt], check=False)
        wait_for(lambda: os.path.exists(
            os.path.join(self.daemon.data, ".topicfs_clean_shutdown")), 20,
            what="clean shutdown of the daemon")
        # a second daemon on a mountpoint it cannot use fails in the parent
        ini = os.path.join(self.root, "fail.ini")
        with open(ini, "w") as f:
            f.write("[storage]\ndata_dir = /proc/nope\n[fs]\nmountpoint = %s\n"
                    "[net]\nenabled = false\n" % self.daemon.mnt)
        r = run([self.bin(), "-c", ini], check=False, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"cannot open data dir", r.stderr)


class FsConfigNet(TopicfsTestCase):
    """The TCP server runs in the same process (net/)."""

    def test_tcp_port_is_bound(self):
        self.start()     # waits for the mount and for the port to accept
        os.mkdir(self.daemon.path("t"))
        append_bytes(self.daemon.path("t", "0"), b"x\n")
        self.assertEqual(self.daemon.stop(), 0)


if __name__ == "__main__":
    main()
