"""The Prometheus endpoint: every family has HELP and TYPE, counters end in
_total and move with mount writes, TCP produce and fetch, per-partition
gauges carry topic/partition labels and agree with .status; 404 and 405
for anything else; off by default."""
import os
import socket
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TopicfsTestCase, main, run, free_port, read_bytes, wait_for  # noqa: E402
from netutil import kcat  # noqa: E402
from pkgutil import parse_prometheus  # noqa: E402


class PkgMetrics(TopicfsTestCase):

    def setUp(self):
        super().setUp()
        self.mport = free_port()
        self.daemon.config["metrics"] = {"listen": "127.0.0.1:%d" % self.mport}
        self.daemon.config["topic.orders"] = {"partitions": "2"}

    def scrape(self, path="/metrics"):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.mport, path),
                                    timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            return r.read().decode()

    def test_scrape(self):
        d = self.daemon
        d.start()
        text = self.scrape()
        samples, types, helps = parse_prometheus(text)
        names = {n for n, _ in samples}
        for n in names:
            self.assertIn(n, types, n)
            self.assertIn(n, helps, n)
            if types[n] == "counter":
                self.assertTrue(n.endswith("_total"), n)
        for n in ("topicfs_storage_batches_written_total", "topicfs_storage_records_written_total",
                  "topicfs_storage_bytes_written_total", "topicfs_storage_flushes_total",
                  "topicfs_storage_recoveries_total", "topicfs_storage_errors_total",
                  "topicfs_fs_appends_total", "topicfs_fs_bytes_written_total",
                  "topicfs_fs_reads_total", "topicfs_fs_errors_total",
                  "topicfs_net_connections_total", "topicfs_net_fetches_total",
                  "topicfs_net_produces_total", "topicfs_net_bytes_sent_total",
                  "topicfs_partition_next_offset", "topicfs_partition_size_bytes",
                  "topicfs_topic_size_bytes", "topicfs_uptime_seconds"):
            self.assertIn(n, types, n)

        def val(name, **labels):
            return samples[(name, frozenset(labels.items()))]
        base_recs = val("topicfs_storage_records_written_total")
        # writes through the mount, a produce and a fetch over TCP
        run("for i in 1 2 3 4 5; do echo line$i; done >> %s" % d.path("orders", "1"))
        with open(d.path("orders", "1"), "ab") as f:
            f.write(b"a\nb\nc\n")
        kcat(d, "-P", "-t", "orders", "-p", "0", input=b"x\ny\n")
        got = kcat(d, "-C", "-t", "orders", "-p", "1", "-o", "beginning", "-e", "-q").stdout
        self.assertEqual(got, b"line1\nline2\nline3\nline4\nline5\na\nb\nc\n")
        samples, types, helps = parse_prometheus(self.scrape())
        self.assertEqual(val("topicfs_partition_next_offset", topic="orders", partition="1"), 8)
        self.assertEqual(val("topicfs_partition_next_offset", topic="orders", partition="0"), 2)
        self.assertEqual(val("topicfs_partition_records", topic="orders", partition="1"), 8)
        self.assertEqual(val("topicfs_storage_records_written_total") - base_recs, 10)
        self.assertGreaterEqual(val("topicfs_fs_appends_total"), 2)
        self.assertEqual(val("topicfs_fs_records_written_total"), 8)
        self.assertGreaterEqual(val("topicfs_net_produces_total"), 1)
        self.assertGreaterEqual(val("topicfs_net_fetches_total"), 1)
        self.assertGreaterEqual(val("topicfs_net_connections_total"), 2)
        self.assertGreater(val("topicfs_net_bytes_sent_total"), 0)
        self.assertEqual(val("topicfs_topics"), 1)
        self.assertEqual(val("topicfs_partitions"), 2)
        # a file held open on the mount is counted until the daemon has
        # released it (the kernel sends RELEASE after close(2) returns)
        def open_files():
            return parse_prometheus(self.scrape())[0][("topicfs_fs_open_handles", frozenset())]
        wait_for(lambda: open_files() == 0, 10, what="the writes' files released")
        with open(d.path("orders", "0"), "rb"):
            self.assertEqual(open_files(), 1)
        wait_for(lambda: open_files() == 0, 10, what="the file's release")
        self.assertEqual(types["topicfs_fs_open_handles"], "gauge")
        # the same numbers as .status
        rows = [l.split() for l in read_bytes(d.path(".status")).decode().splitlines()]
        for r in rows:
            if len(r) == 11 and r[0] == "orders":
                self.assertEqual(val("topicfs_partition_next_offset", topic="orders",
                                     partition=r[1]), int(r[3]))
                self.assertEqual(val("topicfs_partition_size_bytes", topic="orders",
                                     partition=r[1]), int(r[8]))
        status = dict(r for r in rows if len(r) == 2)
        self.assertEqual(int(status["storage_records_written"]),
                         val("topicfs_storage_records_written_total"))
        self.assertIn("net_fetches", status)
        self.assertEqual(val("topicfs_topic_size_bytes", topic="orders"),
                         val("topicfs_partition_size_bytes", topic="orders", partition="0") +
                         val("topicfs_partition_size_bytes", topic="orders", partition="1"))
        # other paths and methods
        with self.assertRaises(urllib.error.HTTPError) as cm:
            self.scrape("/nope")
        self.assertEqual(cm.exception.code, 404)
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % self.mport,
                                     data=b"x", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(cm.exception.code, 405)
        # a client that sends nothing does not block the next scrape for long
        s = socket.create_connection(("127.0.0.1", self.mport))
        self.addCleanup(s.close)
        self.assertIn("topicfs_info", self.scrape())
        self.assertEqual(d.stop(), 0)

    def test_off_by_default_and_bad_address(self):
        d = self.daemon
        del d.config["metrics"]
        d.start()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.mport), 1).close()
        self.assertEqual(d.stop(), 0)
        d.config["metrics"] = {"listen": "127.0.0.1"}
        d.write_config()
        r = run([os.environ["TOPICFS_BIN"], "-f", "-c", d.ini], check=False, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"[metrics] listen", r.stderr)


if __name__ == "__main__":
    main()
