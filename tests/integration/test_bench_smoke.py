"""topicfs-bench keeps working: one run at tiny sizes (--tiny) must finish,
print its table, and write CSV and JSON holding every workload row with
sane numbers.  Nothing here is about speed: machines are noisy and the
ratios are for people, so only the shape and plausibility of the output
are checked.  The benchmark starts its own daemons in its own temp root;
the test checks that it removed the root and left nothing mounted."""
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, main, tool  # noqa: E402

CODECS = ("none", "lz4", "zstd")
PER_CODEC = ("append", "append_disk", "small_1w", "small_4w", "read_first",
             "read_second", "fetch", "kcat")
CODEC_NONE_ONLY = ("read_writes_first", "read_writes_second", "small_1w",
                   "small_4w", "fetch", "kcat")
# codec none on each data file system (variant = its type: tmpfs, and the
# --dir one): topicfs beside a plain file, the null FUSE file system, the
# two-copy limit 1/(1/null + 1/plain) and copy-through FUSE (that limit
# measured: topicfs-nullfs --backing, its file on the same fs)
PER_FS = ("append_plain", "append_null", "append_limit", "append_copythrough",
          "append", "read_plain", "read_null", "read_limit", "read_copythrough",
          "read_first", "read_second", "view_again")
GLOBAL = ("latency_view_p50", "latency_view_p99", "latency_view_max",
          "latency_fetch_p50", "latency_fetch_p99", "latency_fetch_max",
          "restart_kill9", "restart_clean", "rss_big_log", "rss_peak")
# plausible ranges per unit: anything outside is a broken measurement
RANGES = {"MB/s": (0.001, 1e6), "rec/s": (1, 1e9), "us": (0.1, 30e6),
          "s": (1e-5, 600), "MiB": (0.5, 1 << 16), "B/B": (0.01, 4)}


def mounts_under(root):
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(root)]


class BenchSmoke(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="topicfs-benchsmoke-")
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for m in mounts_under(self.dir):
            subprocess.run(["fusermount3", "-uz", m], capture_output=True, timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_tiny_run(self):
        bench = tool("topicfs-bench")
        out_json = os.path.join(self.dir, "bench.json")
        out_csv = os.path.join(self.dir, "bench.csv")
        work = os.path.join(self.dir, "work")
        os.mkdir(work)
        r = subprocess.run([bench, "--tiny", "--dir", work, "--daemon", BIN,
                            "--json", out_json, "--csv", out_csv],
                           capture_output=True, timeout=500)
        msg = "stdout:\n%s\nstderr:\n%s" % (r.stdout.decode(errors="replace")[-4000:],
                                            r.stderr.decode(errors="replace")[-4000:])
        self.assertEqual(r.returncode, 0, msg)
        table = r.stdout.decode()
        self.assertIn("append (cat >>)", table, msg)
        self.assertIn("ratio", table, msg)
        # the temp root is gone and nothing is left mounted: not the null
        # and copy-through FUSE instances either
        self.assertEqual([m for m in mounts_under(self.dir)
                          if os.path.basename(m) in ("ctmnt", "nullmnt")], [], msg)
        self.assertEqual(os.listdir(work), [], msg)
        self.assertEqual(mounts_under(self.dir), [], msg)

        with open(out_json) as f:
            doc = json.load(f)
        self.assertGreaterEqual(doc["machine"]["cores"], 1)
        self.assertTrue(doc["machine"]["cpu"])
        self.assertGreater(doc["params"]["input_lines"], 0)
        rows = {(row["id"], row["variant"]): row for row in doc["rows"]}
        expect = [(i, c) for c in CODECS if c != "none" for i in PER_CODEC]
        expect += [(i, "none") for i in CODEC_NONE_ONLY]
        expect += [(i, "tmpfs") for i in PER_FS]
        expect += [("append_cli", "lz4/tmpfs"), ("append_cli", "zstd/tmpfs")]
        fs_types = {row["variant"] for row in doc["rows"] if row["id"] == "append_limit"}
        self.assertIn("tmpfs", fs_types, msg)
        for fs in fs_types:
            expect += [(i, fs) for i in PER_FS]
            # the limit of each round is computed from that round's figures,
            # and topicfs' ratio is against it
            for w in ("append", "read"):
                plain = rows[(w + "_plain", fs)]["runs"]
                null = rows[(w + "_null", fs)]["runs"]
                limit = rows[(w + "_limit", fs)]["runs"]
                self.assertEqual(len(limit), len(plain), msg)
                for pl, nu, li in zip(plain, null, limit):
                    self.assertAlmostEqual(li, 1 / (1 / pl + 1 / nu), delta=li * 1e-3)
                row = rows[(w if w == "append" else "read_first", fs)]
                self.assertEqual(row["baseline"], "limit", msg)
                self.assertAlmostEqual(row["ratio"], row["median"] / row["baseline_median"],
                                       delta=row["ratio"] * 1e-3)
                self.assertIn("topicfs/copy-through ", row["note"], msg)
        # copy-through FUSE measured every round, on tmpfs and on --dir's fs
        for fs in ("tmpfs", doc["machine"]["fs_type"]):
            for w in ("append", "read"):
                key = (w + "_copythrough", fs)
                self.assertIn(key, rows, "row %s missing\n%s" % (key, msg))
                ct = rows[key]
                self.assertEqual(ct["status"], "ok", "%r\n%s" % (ct, msg))
                self.assertEqual(ct["unit"], "MB/s", msg)
                self.assertIsNone(ct["baseline"], msg)
                self.assertEqual(len(ct["runs"]), len(rows[(w + "_plain", fs)]["runs"]), msg)
                self.assertGreater(ct["median"], 0, msg)
        ids = {row["id"] for row in doc["rows"]}
        for key in expect:
            self.assertIn(key, rows, "row %s missing\n%s" % (key, msg))
        for i in GLOBAL:
            self.assertIn(i, ids, "row %s missing\n%s" % (i, msg))

        for row in doc["rows"]:
            what = "%s/%s: %r" % (row["id"], row["variant"], row)
            # the bench skips the kcat rows without kcat (or openssl, for
            # the TLS row); the test command installs both, so a skip fails
            self.assertEqual(row["status"], "ok", what)
            lo, hi = RANGES[row["unit"]]
            for v in [row["median"], row["min"], row["max"]] + row["runs"]:
                self.assertIsNotNone(v, what)
                self.assertTrue(math.isfinite(v) and lo <= v <= hi, what)
            self.assertLessEqual(row["min"], row["median"], what)
            self.assertLessEqual(row["median"], row["max"], what)
            if row["baseline"] is not None:
                self.assertTrue(row["baseline_median"] > 0, what)
                self.assertTrue(row["ratio"] is not None and row["ratio"] > 0, what)

        # the CSV holds the same rows
        with open(out_csv, newline="") as f:
            csv_rows = list(csv.DictReader(f))
        self.assertEqual(len(csv_rows), len(doc["rows"]))
        self.assertEqual([(c["id"], c["variant"]) for c in csv_rows],
                         [(j["id"], j["variant"]) for j in doc["rows"]])
        for c in csv_rows:
            if c["status"] == "ok":
                self.assertGreater(float(c["median"]), 0, c)


if __name__ == "__main__":
    main()
