"""Records, not just values, through the mount (issue 17): the record view
<p>@<spec>.json renders each record as the line kcat -C -J prints (checked
field by field against kcat for records kcat produced with keys, headers
and null values), reads at any position agree with one another, follows
and resumes (@group=NAME.json commits whole records one read behind);
<topic>/@keyed sends each key where librdkafka's murmur2_random sends it
(1,000 keys, compared with kcat -P -K), keyless lines go to one partition
per write(2); <topic>/@json takes headers, timestamps and partitions and
refuses a write with one bad line whole; getfattr shows the partitioner and
the separator, setfattr changes the separator."""
import errno
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, read_bytes, append_bytes, wait_for, run, scaled  # noqa: E402
from netutil import NetTestCase, kcat  # noqa: E402

NPARTS = 5


def xattr(path, name):
    return os.getxattr(path, "user.topicfs." + name).decode()


def write_once(path, data):
    """One open, one write(2); returns None or the errno it failed with."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data)
        return None
    except OSError as e:
        return e.errno
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


class FsRecords(NetTestCase):
    daemon_config = {"fs": {"default_partitions": "1"}}

    def setUp(self):
        super().setUp()
        self.start()

    def p(self, *parts):
        return self.daemon.path(*parts)

    def mk(self, topic, partitions=NPARTS):
        os.mkdir(self.p(topic))
        if partitions != 1:
            os.setxattr(self.p(topic), "user.topicfs.partitions",
                        str(partitions).encode())

    def next_offset(self, topic, part):
        return int(xattr(self.p(topic, str(part)), "next_offset"))

    def view_lines(self, topic, part, start="earliest", end=None):
        """The record view of a partition up to its current end, parsed."""
        if end is None:
            end = self.next_offset(topic, part)
        data = read_bytes(self.p(topic, "%d@%s..%d.json" % (part, start, end)))
        self.assertTrue(data == b"" or data.endswith(b"\n"))
        return [json.loads(line) for line in data.decode().splitlines()]

    def kcat_json(self, topic, count, *extra):
        r = kcat(self.daemon, "-C", "-t", topic, "-o", "beginning", "-e", "-J",
                 "-c", str(count), *extra, timeout=60)
        return [json.loads(line) for line in r.stdout.decode().splitlines()]

    # ---- the record view ----------------------------------------------------

    def test_view_matches_kcat_field_by_field(self):
        self.mk("kc", 1)
        kcat(self.daemon, "-P", "-t", "kc", "-p", "0", "-K:", "-H", "h1=x",
             "-H", "h2=", "-H", "h1=again", input=b"k1:v1\nk2:v2 with \"quotes\"\n")
        kcat(self.daemon, "-P", "-t", "kc", "-p", "0", "-K:", "-Z",
             input=b"k3:\n:v-empty-key\nk5:caf\xc3\xa9 \xe2\x82\xac\n")
        kcat(self.daemon, "-P", "-t", "kc", "-p", "0", "-z", "zstd",
             input=b"no key\ttab\n")
        ours = self.view_lines("kc", 0)
        theirs = self.kcat_json("kc", 6)
        self.assertEqual(len(ours), 6)
        self.assertEqual(len(theirs), 6)
        for a, b in zip(ours, theirs):
            self.assertEqual(a, b)
        # and the specifics the issue names
        self.assertEqual(ours[0]["headers"], ["h1", "x", "h2", "", "h1", "again"])
        self.assertEqual(ours[2]["payload"], None)      # null value (-Z)
        self.assertEqual(ours[2]["key"], "k3")
        self.assertEqual(ours[3]["key"], None)          # -Z: empty is NULL
        self.assertEqual(ours[5]["key"], None)
        self.assertEqual(ours[5]["payload"], "no key\ttab")
        # every line, byte for byte as kcat prints it
        raw = read_bytes(self.p("kc", "0@earliest..6.json"))
        r = kcat(self.daemon, "-C", "-t", "kc", "-o", "beginning", "-e", "-J",
                 "-c", "6")
        self.assertEqual(raw, r.stdout)

    def test_not_utf8_is_base64(self):
        self.mk("bin", 1)
        append_bytes(self.p("bin", "0"), b"\xff\xfe\n\n")
        recs = self.view_lines("bin", 0)
        self.assertEqual(recs[0]["payload"], {"base64": "//4="})
        self.assertEqual(recs[1]["payload"], "")          # empty, not null
        self.assertEqual(recs[0]["key"], None)

    def test_every_view_form(self):
        self.mk("v", 1)
        append_bytes(self.p("v", "0"), b"".join(b"r%d\n" % i for i in range(20)))
        allr = self.view_lines("v", 0)
        self.assertEqual([r["offset"] for r in allr], list(range(20)))
        self.assertEqual([r["payload"] for r in allr], ["r%d" % i for i in range(20)])
        for name, want in (("0@5..8.json", [5, 6, 7]), ("0@-3..20.json", [17, 18, 19]),
                           ("0@earliest..2.json", [0, 1]),
                           ("0@%dms..2.json" % (allr[0]["ts"]), [0, 1])):
            got = [json.loads(x)["offset"] for x in
                   read_bytes(self.p("v", name)).decode().splitlines()]
            self.assertEqual(got, want, name)
        # a view name that is not a view, and the read-only rule
        with self.assertRaises(FileNotFoundError):
            os.stat(self.p("v", "0@earliest.json.json"))
        with self.assertRaises(PermissionError):
            os.open(self.p("v", "0@earliest.json"), os.O_WRONLY)

    def test_positions_are_consistent(self):
        """Reads at arbitrary positions and sizes agree with one sequential
        read: the JSON stream is a function of the records."""
        self.mk("pos", 1)
        rnd = random.Random(17)
        lines = [("%d:" % i + "x" * rnd.randrange(0, 3000)).encode() for i in range(800)]
        append_bytes(self.p("pos", "0"), b"\n".join(lines) + b"\n")
        path = self.p("pos", "0@earliest..800.json")
        whole = read_bytes(path)
        self.assertEqual(len(whole.splitlines()), 800)
        fd = os.open(path, os.O_RDONLY)
        try:
            for _ in range(300):
                off = rnd.randrange(0, len(whole) + 10)
                size = rnd.choice([1, 7, 100, 4096, 65536, 300000])
                self.assertEqual(os.pread(fd, size, off), whole[off:off + size],
                                 "pread(%d, %d)" % (size, off))
            # sequential small reads give whole, correct lines
            os.lseek(fd, 0, os.SEEK_SET)
            got = b""
            while True:
                b = os.read(fd, 333)
                if not b:
                    break
                got += b
            self.assertEqual(got, whole)
        finally:
            os.close(fd)

    def test_view_follows(self):
        self.mk("f", 1)
        append_bytes(self.p("f", "0"), b"old\n")
        proc = subprocess.Popen(["cat", self.p("f", "0@latest.json")],
                                stdout=subprocess.PIPE)
        try:
            fd = proc.stdout.fileno()
            import select
            r, _, _ = select.select([fd], [], [], scaled(0.5))
            self.assertEqual(r, [])             # blocked at the end
            append_bytes(self.p("f", "@keyed"), b"k\tnew\n")
            r, _, _ = select.select([fd], [], [], scaled(10))
            self.assertEqual(r, [fd])
            line = os.read(fd, 65536)
            rec = json.loads(line)
            self.assertTrue(line.endswith(b"\n"))
            self.assertEqual((rec["offset"], rec["key"], rec["payload"]), (1, "k", "new"))
        finally:
            proc.kill()
            proc.wait()

    def test_group_json_resumes_and_commits_whole_records(self):
        self.mk("g", 1)
        append_bytes(self.p("g", "0"), b"".join(b"rec-%03d\n" % i for i in range(10)))
        lines = read_bytes(self.p("g", "0@earliest..10.json")).splitlines(True)
        view = self.p("g", "0@group=billing.json")
        fd = os.open(view, os.O_RDONLY)
        try:
            a = os.read(fd, len(lines[0]) + 5)      # record 0, part of 1
            b = os.read(fd, 10)                     # more of record 1
        finally:
            os.close(fd)
        self.assertEqual(a + b, (lines[0] + lines[1])[:len(a) + len(b)])
        # the second read committed what the first returned wholly (record
        # 0); what the last read returned is not committed
        rows = [x.split() for x in
                read_bytes(self.p(".groups", "billing")).decode().splitlines()]
        self.assertIn(["g", "0", "1", "10", "9"], rows)
        fd = os.open(view, os.O_RDONLY)
        try:
            first = os.read(fd, len(lines[1]) + len(lines[2]))
        finally:
            os.close(fd)
        self.assertEqual(first, lines[1] + lines[2])
        # a group id ending in ".json": its view writes that dot as %2E
        with open(self.p(".groups", "x.json"), "w") as f:
            f.write("g 0 7\n")
        got = read_bytes_until(self.p("g", "0@group=x%2Ejson.json"), 3)
        self.assertEqual([json.loads(x)["offset"] for x in got], [7, 8, 9])
        got = read_bytes_until(self.p("g", "0@group=x%2Ejson"), 3)
        self.assertEqual(got, [b"rec-007", b"rec-008", b"rec-009"])
        with self.assertRaises(FileNotFoundError):
            os.stat(self.p("g", "0@group=x.json.json"))

    # ---- @keyed -------------------------------------------------------------

    def test_1000_keys_land_where_librdkafka_puts_them(self):
        self.mk("ours")
        self.mk("theirs")
        rnd = random.Random(1795)
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.é€"
        keys = set()
        while len(keys) < 1000:
            keys.add("".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 24))))
        keys = sorted(keys)
        ours = "".join("%s\tvalue of %s\n" % (k, k) for k in keys).encode()
        self.assertIsNone(write_once(self.p("ours", "@keyed"), ours))
        theirs = "".join("%s:value of %s\n" % (k, k) for k in keys).encode()
        kcat(self.daemon, "-P", "-t", "theirs", "-K:", "-X",
             "partitioner=murmur2_random", input=theirs)
        want = {r["key"]: r["partition"] for r in self.kcat_json("theirs", 1000)}
        self.assertEqual(len(want), 1000)
        got = {}
        for part in range(NPARTS):
            for r in self.view_lines("ours", part):
                self.assertEqual(r["payload"], "value of " + r["key"])
                got[r["key"]] = r["partition"]
        self.assertEqual(got, want)
        self.assertGreater(len(set(got.values())), NPARTS - 1)
        # read back with kcat -K:
        r = kcat(self.daemon, "-C", "-t", "ours", "-o", "beginning", "-e", "-K:",
                 "-c", "1000")
        self.assertEqual(sorted(r.stdout.decode().splitlines()),
                         sorted("%s:value of %s" % (k, k) for k in keys))

    def test_keyless_lines_stick_to_one_partition_per_write(self):
        self.mk("s")
        fd = os.open(self.p("s", "@keyed"), os.O_WRONLY)
        try:
            for w in range(20):
                os.write(fd, b"".join(b"w%02d-%d\n" % (w, i) for i in range(5)))
        finally:
            os.close(fd)
        where = {}
        for part in range(NPARTS):
            for r in self.view_lines("s", part):
                self.assertIsNone(r["key"])
                where.setdefault(r["payload"][:3], set()).add(part)
        self.assertEqual(len(where), 20)
        for w, parts in where.items():
            self.assertEqual(len(parts), 1, w)          # one write, one partition
        used = set(p for s in where.values() for p in s)
        self.assertEqual(len(used), NPARTS)             # writes move on
        # within a write, line order is kept
        for part in range(NPARTS):
            vals = [r["payload"] for r in self.view_lines("s", part)]
            self.assertEqual(vals, sorted(vals))

    def test_keyed_partial_line_and_errors(self):
        self.mk("e", 1)
        fd = os.open(self.p("e", "@keyed"), os.O_WRONLY)
        try:
            os.write(fd, b"k1\tpar")
            self.assertEqual(self.next_offset("e", 0), 0)   # held
            os.write(fd, b"tial\nk2\tv2\n")
        finally:
            os.close(fd)
        recs = self.view_lines("e", 0)
        self.assertEqual([(r["key"], r["payload"]) for r in recs],
                         [("k1", "partial"), ("k2", "v2")])
        # a partial line becomes a record at close
        self.assertIsNone(write_once(self.p("e", "@keyed"), b"k3\tlast"))
        self.assertEqual(self.view_lines("e", 0)[-1]["payload"], "last")
        # an empty key is a key
        self.assertIsNone(write_once(self.p("e", "@keyed"), b"\tv-empty-key\n"))
        self.assertEqual(self.view_lines("e", 0)[-1]["key"], "")
        # a line too long: EMSGSIZE, nothing of that write appended
        os.setxattr(self.p("e"), "user.topicfs.max_message_bytes", b"64K")
        before = self.next_offset("e", 0)
        self.assertEqual(write_once(self.p("e", "@keyed"),
                                    b"a\tb\n" + b"k\t" + b"x" * 70000 + b"\n"),
                         errno.EMSGSIZE)
        self.assertEqual(write_once(self.p("e", "@json"),
                                    b'{"payload":"a"}\n{"payload":"' + b"x" * 70000 + b'"}\n'),
                         errno.EMSGSIZE)
        self.assertEqual(self.next_offset("e", 0), before)
        # write-only, hidden, stat-able
        with self.assertRaises(PermissionError):
            os.open(self.p("e", "@keyed"), os.O_RDONLY)
        self.assertEqual(os.stat(self.p("e", "@keyed")).st_mode & 0o777, 0o200)
        self.assertNotIn("@keyed", os.listdir(self.p("e")))
        self.assertNotIn("@json", os.listdir(self.p("e")))

    # ---- @json ----------------------------------------------------------------

    def test_json_round_trips_through_kcat(self):
        self.mk("j", 2)
        lines = [
            {"key": "k1", "payload": "v1", "headers": ["a", "1", "b", None, "a", "2"],
             "ts": 1700000000123, "partition": 1},
            {"key": None, "value": None, "headers": {"x": "y"}, "timestamp": 1600000000000,
             "partition": 1},
            {"key": {"base64": "AAE="}, "payload": {"base64": "//4="}, "partition": 1},
        ]
        data = "".join(json.dumps(x) + "\n" for x in lines).encode()
        self.assertIsNone(write_once(self.p("j", "@json"), data))
        got = self.kcat_json("j", 2, "-p", "1")   # kcat prints raw bytes for #3
        self.assertEqual(got[0]["headers"], ["a", "1", "b", None, "a", "2"])
        self.assertEqual((got[0]["key"], got[0]["payload"], got[0]["ts"], got[0]["tstype"]),
                         ("k1", "v1", 1700000000123, "create"))
        self.assertEqual((got[1]["key"], got[1]["payload"], got[1]["ts"], got[1]["headers"]),
                         (None, None, 1600000000000, ["x", "y"]))
        ours = self.view_lines("j", 1)
        self.assertEqual(ours[:2], got[:2])
        self.assertEqual((ours[2]["key"], ours[2]["payload"]),
                         ("\x00\x01", {"base64": "//4="}))   # NUL is UTF-8
        # the rendered lines written back as they are: the same records
        self.mk("j2", 2)
        self.assertIsNone(write_once(self.p("j2", "@json"),
                                     read_bytes(self.p("j", "1@earliest..3.json"))
                                     .replace(b'"topic":"j"', b'"topic":"j2"')))
        again = self.view_lines("j2", 1)
        for a, b in zip(again, ours):
            self.assertEqual({k: v for k, v in a.items() if k != "topic"},
                             {k: v for k, v in b.items() if k != "topic"})
        # without a partition, a key goes where @keyed sends it
        self.assertIsNone(write_once(self.p("j", "@json"), b'{"key":"route-me","payload":"x"}\n'))
        self.assertIsNone(write_once(self.p("j", "@keyed"), b"route-me\ty\n"))
        where = [p for p in range(2) for r in self.view_lines("j", p) if r["key"] == "route-me"]
        self.assertEqual(len(where), 2)
        self.assertEqual(where[0], where[1])

    def test_json_bad_lines_refused_whole(self):
        self.mk("b", 2)
        good = b'{"key":"a","payload":"1"}\n'
        before = [self.next_offset("b", p) for p in range(2)]
        for bad in (b'{"key":\n', b'{"key":"a","payload":"1","extra":1}\n',
                    b'{"topic":"other","payload":"1"}\n', b'{"payload":"1","partition":2}\n',
                    b'[1]\n', b'{"payload":"1"} x\n', b'{"payload":"\xff"}\n'):
            self.assertEqual(write_once(self.p("b", "@json"), good * 3 + bad + good),
                             errno.EINVAL, bad)
        self.assertEqual([self.next_offset("b", p) for p in range(2)], before)
        # blank lines are skipped, a matching topic is fine
        self.assertIsNone(write_once(self.p("b", "@json"),
                                     b'\n  \n{"topic":"b","payload":"ok","partition":0}\n'))
        self.assertEqual(self.view_lines("b", 0)[-1]["payload"], "ok")

    # ---- settings -------------------------------------------------------------

    def test_getfattr_partitioner_and_separator(self):
        self.mk("x", 1)
        out = run(["getfattr", "-d", self.p("x")]).stdout.decode()
        self.assertIn('user.topicfs.partitioner="murmur2_random"\n', out)
        self.assertIn('user.topicfs.key_separator="\\\\t"\n', out)
        run(["setfattr", "-n", "user.topicfs.key_separator", "-v", ":", self.p("x")])
        self.assertEqual(xattr(self.p("x"), "key_separator"), ":")
        self.assertIsNone(write_once(self.p("x", "@keyed"), b"k:v:w\nno-sep\tx\n"))
        recs = self.view_lines("x", 0)
        self.assertEqual([(r["key"], r["payload"]) for r in recs],
                         [("k", "v:w"), (None, "no-sep\tx")])
        for bad in ("\\x0a", "ab", "\\q"):
            r = run(["setfattr", "-n", "user.topicfs.key_separator", "-v", bad, self.p("x")],
                    check=False)
            self.assertNotEqual(r.returncode, 0, bad)
        r = run(["setfattr", "-n", "user.topicfs.partitioner", "-v", "murmur2", self.p("x")],
                check=False)
        self.assertNotEqual(r.returncode, 0)
        os.setxattr(self.p("x"), "user.topicfs.key_separator", b"\\x7c")
        self.assertEqual(xattr(self.p("x"), "key_separator"), "|")
        # survives a restart (the .topic file)
        self.daemon.stop()
        self.start()
        self.assertEqual(xattr(self.p("x"), "key_separator"), "|")


def read_bytes_until(path, n):
    """The first n lines of an unbounded view (one open, reads until n
    newlines), without their newlines."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = b""
        while data.count(b"\n") < n:
            b = os.read(fd, 65536)
            if not b:
                break
            data += b
    finally:
        os.close(fd)
    return data.split(b"\n")[:n]


if __name__ == "__main__":
    main()
