"""examples/ and topicfs-admin: every demo script runs against a daemon as
the README says (mount dir and broker as arguments, and as environment
variables), finishes by itself and exits 0; topicfs-admin creates,
describes, lists and deletes topics on a stopped daemon's data dir and
refuses, with exit 1, while the daemon runs."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TopicfsTestCase, main, run, tool, TOOLS  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")


class PkgExamples(TopicfsTestCase):

    def demo(self, name, args=(), env=None):
        e = dict(os.environ, PATH=TOOLS + ":" + os.environ["PATH"])
        e.update(env or {})
        r = run([os.path.join(EXAMPLES, name)] + list(args), env=e, timeout=60, check=False)
        self.assertEqual(r.returncode, 0, "%s failed:\n%s\n%s" % (name, r.stdout.decode(),
                                                                  r.stderr.decode()))
        self.assertTrue(r.stdout.decode().rstrip().endswith("OK"), r.stdout)
        return r.stdout.decode()

    def test_demos(self):
        d = self.daemon
        d.start()
        broker = "127.0.0.1:%d" % d.port
        out = self.demo("demo-pipeline.sh", [d.mnt, broker])
        self.assertIn("tail -f | grep saw 4 errors, kcat saw 20 lines", out)
        # twice, and through the environment: appends after what is there
        self.demo("demo-pipeline.sh", env={"TOPICFS_MNT": d.mnt, "TOPICFS_BROKER": broker})
        out = self.demo("demo-replay.sh", [d.mnt, broker])
        self.assertIn("ok: records at or after", out)
        self.demo("demo-replay.sh", env={"TOPICFS_MNT": d.mnt, "TOPICFS_BROKER": broker,
                                         "DEMO_TOPIC": "replay2"})
        self.assertEqual(sorted(os.listdir(d.mnt)),
                         [".groups", ".status", "demo-logs", "demo-replay", "replay2"])
        # not a mount: a clear failure
        r = run([os.path.join(EXAMPLES, "demo-replay.sh"), self.root, broker], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(d.stop(), 0)

    def test_admin(self):
        d = self.daemon
        admin = tool("topicfs-admin")
        d.config["topic.fixed"] = {"retention_ms": "2d"}
        d.write_config()
        base = [admin, "-c", d.ini]
        r = run(base + ["create", "orders", "--partitions", "3", "--compression", "zstd",
                        "--set", "retention_ms=1d"])
        self.assertIn(b"created topic orders: 3 partitions", r.stdout)
        run(base + ["create", "fixed", "--framing", "writes"])
        self.assertEqual(run(base + ["list"]).stdout, b"fixed\norders\n")
        r = run(base + ["create", "orders"], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"exists", r.stderr)
        out = run(base + ["describe", "orders"]).stdout.decode()
        self.assertIn("retention_ms 86400000", out)
        # the daemon serves what admin made; admin refuses while it runs
        # (and, at start, re-applies only the keys a [topic.NAME] section
        # names: orders keeps the retention_ms admin set, fixed gets its
        # [topic.fixed] section's)
        d.start()
        self.assertEqual(sorted(os.listdir(d.path("orders"))), ["0", "1", "2"])
        run("echo hi >> %s" % d.path("orders", "2"))
        r = run(base + ["describe", "orders"], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"in use by a running topicfs daemon", r.stderr)
        self.assertEqual(d.stop(), 0)
        out = run(base + ["describe", "orders"]).stdout.decode()
        self.assertIn("partitions 3  framing lines  compression zstd", out)
        self.assertIn("retention_ms 86400000", out)
        row2 = [l.split() for l in out.splitlines() if l.split()[:1] == ["2"]][0]
        self.assertEqual(row2[1:4], ["0", "1", "1"])       # start, next, records
        out = run(base + ["describe"]).stdout.decode()
        self.assertIn("topic fixed\n  partitions 1  framing writes", out)
        self.assertIn("retention_ms 172800000", out)        # its [topic.fixed] section
        run(base + ["delete", "fixed"])
        self.assertEqual(run(base + ["list"]).stdout, b"orders\n")
        self.assertFalse(os.path.exists(os.path.join(d.data, "fixed-0")))
        # exit codes: 1 failures, 2 usage
        self.assertEqual(run(base + ["delete", "fixed"], check=False).returncode, 1)
        self.assertEqual(run(base + ["describe", "nope"], check=False).returncode, 1)
        for bad in (["frob"], ["create"], ["create", "a/b"], ["create", "x", "--partitions", "0"],
                    ["list", "extra"], []):
            self.assertEqual(run(base + bad, check=False).returncode, 2, bad)
        self.assertEqual(run([admin, "--data-dir", d.data, "--set", "bogus.key=1", "list"],
                             check=False).returncode, 2)

    def test_tool_progress_and_exit_codes(self):
        d = self.daemon
        d.start()
        os.mkdir(d.path("big"))
        run("seq 1 20000 >> %s; for i in 1 2 3; do seq 1 100 >> %s; done"
            % (d.path("big", "0"), d.path("big", "0")))
        broker = "127.0.0.1:%d" % d.port
        consume = tool("topicfs-consume")
        # stderr not a terminal: no progress line, records on stdout
        r = run([consume, broker, "big", "0"])
        self.assertEqual(r.stdout.count(b"\n"), 20300)
        self.assertNotIn(b"\r", r.stderr)
        r = run([consume, "--progress", "-c", "20100", broker, "big", "0"])
        self.assertEqual(r.stdout.count(b"\n"), 20100)
        self.assertIn(b"consume: ", r.stderr)
        self.assertIn(b" records, ", r.stderr)
        self.assertTrue(r.stderr.endswith(b"\r\x1b[K"), r.stderr[-80:])   # erased
        self.assertEqual(run([consume, "--no-progress", broker, "nope", "0"],
                             check=False).returncode, 1)
        self.assertEqual(run([consume, "--bogus"], check=False).returncode, 2)
        self.assertEqual(d.stop(), 0)
        dump = tool("topicfs-dump")
        pdir = os.path.join(d.data, "big-0")
        r = run([dump, "--verify", "--quiet", pdir])
        self.assertNotIn(b"\r", r.stderr)
        self.assertIn(b": OK", r.stdout)
        r = run([dump, "--verify", "--quiet", "--progress", pdir])
        self.assertIn(b"verify: ", r.stderr)
        self.assertIn(b" batches, ", r.stderr)
        self.assertIn(b": OK", r.stdout)
        self.assertEqual(run([dump, "--no-progress", "/nonexistent"],
                             check=False).returncode, 1)
        self.assertEqual(run([dump, "--frob"], check=False).returncode, 2)


if __name__ == "__main__":
    main()
