"""Consumer groups from the shell (issue 13): the <p>@group=NAME view reads
from the group's committed offset and commits one read behind (what the
last read returned before close is not committed: a killed reader sees it
again); a second reader of the same group and partition gets EBUSY;
.groups lists groups with committed offset, log end and lag, resets offsets
from written lines, deletes with rm; encoded names round-trip; commits
survive a clean restart and a kill -9; topicfs-admin groups works offline;
.status and /metrics show groups."""
import errno
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TopicfsTestCase, main, run, read_bytes, append_bytes,  # noqa: E402
                     wait_for, tool, free_port)

REC = 8         # every record below renders as 8 bytes: "rec-NNN\n"


def recs(a, b):
    return b"".join(b"rec-%03d\n" % i for i in range(a, b))


def parse_group_file(text):
    """(key-value dict, {(topic, partition): (current, log_end, lag)},
    member lines) of a .groups file."""
    blocks = text.split("\n\n")
    kv = dict(line.split(" ", 1) for line in blocks[0].splitlines())
    table = blocks[1].splitlines()
    assert table[0].split() == ["TOPIC", "PARTITION", "CURRENT-OFFSET",
                                "LOG-END-OFFSET", "LAG"], table[0]
    rows = {}
    for line in table[1:]:
        f = line.split()
        rows[(f[0], int(f[1]))] = tuple(int(x) if x != "-" else None for x in f[2:5])
    members = blocks[2].splitlines()[1:] if len(blocks) > 2 else []
    return kv, rows, members


class FsGroups(TopicfsTestCase):
    daemon_net = False
    daemon_config = {"fs": {"default_partitions": "2"}}

    def setUp(self):
        super().setUp()
        self.start()
        os.mkdir(self.daemon.path("t"))
        append_bytes(self.daemon.path("t", "0"), recs(0, 100))
        append_bytes(self.daemon.path("t", "1"), recs(0, 10))

    # ---- helpers ----------------------------------------------------------

    def v(self, group, part=0, topic="t"):
        return self.daemon.path(topic, "%d@group=%s" % (part, group))

    def gfile(self, name):
        return self.daemon.path(".groups", name)

    def group(self, name):
        return parse_group_file(read_bytes(self.gfile(name)).decode())

    def committed(self, name, part=0, topic="t"):
        try:
            _, rows, _ = self.group(name)
        except FileNotFoundError:
            return None
        row = rows.get((topic, part))
        return row[0] if row else None

    def wait_committed(self, name, want, part=0):
        wait_for(lambda: self.committed(name, part) == want, 5,
                 what="group %s committed %r (has %r)" % (name, want,
                                                       self.committed(name, part)))

    def first_record(self, group, part=0):
        """The first record a new reader of the group gets (then closes
        after one read, which commits nothing)."""
        fd = os.open(self.v(group, part), os.O_RDONLY)
        try:
            return os.read(fd, REC)
        finally:
            os.close(fd)

    def write_group(self, name, data):
        fd = os.open(self.gfile(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            return os.write(fd, data)
        finally:
            os.close(fd)

    def assertErrno(self, err, fn, *a):
        with self.assertRaises(OSError) as cm:
            fn(*a)
        self.assertEqual(cm.exception.errno, err, "%s%r" % (fn.__name__, a))

    # ---- the @group= view -------------------------------------------------

    def test_one_read_behind(self):
        fd = os.open(self.v("g"), os.O_RDONLY)
        try:
            r1 = os.read(fd, 20)            # rec-000, rec-001 and 4 bytes
            self.assertEqual(r1, recs(0, 3)[:20])
            time.sleep(0.4)
            # a single read commits nothing: the reader may not be done
            self.assertIsNone(self.committed("g"))
            r2 = os.read(fd, 20)            # asks for more: r1's whole records
            self.assertEqual(r2, recs(0, 5)[20:40])
            self.wait_committed("g", 2)
            kv, _, _ = self.group("g")
            self.assertEqual(kv["readers"], "1")
        finally:
            os.close(fd)
        # r2's records (rec-002 .. rec-004) were returned by the last read:
        # not committed, delivered again
        self.assertEqual(self.committed("g"), 2)
        self.assertEqual(self.first_record("g"), b"rec-002\n")
        # three reads of 20 from rec-002: 40 bytes of the first two are
        # consumed, 5 whole records -> 7
        fd = os.open(self.v("g"), os.O_RDONLY)
        try:
            got = b"".join(os.read(fd, 20) for _ in range(3))
            self.assertEqual(got, recs(2, 100)[:60])
        finally:
            os.close(fd)
        self.assertEqual(self.committed("g"), 7)
        self.assertEqual(self.first_record("g"), b"rec-007\n")
        # the release that gives the reader back follows close(2)
        wait_for(lambda: self.group("g")[0]["readers"] == "0", 5, what="release")
        self.assertEqual(self.group("g")[1][("t", 0)], (7, 100, 93))

    def test_killed_reader_sees_its_last_read_again(self):
        code = ("import os, sys, time\n"
                "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
                "for n in (16, 16, 24):\n"
                "    os.read(fd, n)\n"
                "print('read', flush=True)\n"
                "time.sleep(60)\n")
        p = subprocess.Popen([sys.executable, "-c", code, self.v("k")],
                             stdout=subprocess.PIPE)
        try:
            self.assertEqual(p.stdout.readline(), b"read\n")
            p.send_signal(signal.SIGKILL)
            p.wait(10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
        # the first two reads (32 bytes = 4 records) count; the third's 3
        # records are delivered again
        self.wait_committed("k", 4)
        wait_for(lambda: self.group("k")[0]["readers"] == "0", 5, what="release")
        self.assertEqual(self.first_record("k"), b"rec-004\n")

    def test_head_rereads(self):
        # head reads one buffer, prints 3 lines and closes: one read, so
        # nothing is committed and the next head prints the same lines
        for _ in range(2):
            self.assertEqual(run(["head", "-n", "3", self.v("h")]).stdout, recs(0, 3))
        self.assertIsNone(self.committed("h"))
        wait_for(lambda: "h" not in os.listdir(self.daemon.path(".groups")), 5,
                 what="the group without offsets and readers gone")
        # a head that needs several reads commits all but its last: the
        # next one starts at a record it already printed (at least once)
        # but after its first buffer (progress), never after its end
        append_bytes(self.daemon.path("t", "0"), recs(100, 1000) * 4)
        out = run(["head", "-n", "3000", self.v("h")]).stdout
        self.assertEqual(len(out), 3000 * REC)
        first = self.first_record("h")
        at = self.committed("h")
        self.assertIsNotNone(at)
        self.assertGreater(at, 0)
        self.assertLessEqual(at, 3000)
        self.assertEqual(first, out[at * REC:(at + 1) * REC])

    def test_follows_and_commits_while_waiting(self):
        fd = os.open(self.v("f"), os.O_RDONLY)
        got = []
        try:
            self.assertEqual(os.read(fd, 1 << 20), recs(0, 100))
            th = threading.Thread(target=lambda: got.append(os.read(fd, 1 << 20)),
                                  daemon=True)
            th.start()
            # the blocked read asked for more: the first read is consumed
            self.wait_committed("f", 100)
            time.sleep(0.3)
            self.assertTrue(th.is_alive(), "the view must wait at the end")
            append_bytes(self.daemon.path("t", "0"), recs(100, 103))
            th.join(5)
            self.assertEqual(got, [recs(100, 103)])
        finally:
            os.close(fd)
        self.assertEqual(self.committed("f"), 100)      # the last read: not
        self.assertEqual(self.first_record("f"), b"rec-100\n")

    def test_commits_are_batched(self):
        # many small reads: commits at most every few hundred ms, and the
        # close commits everything but the last read
        fd = os.open(self.v("b"), os.O_RDONLY)
        try:
            for _ in range(40):
                os.read(fd, REC)
            early = self.committed("b")
            self.assertIsNotNone(early)
            self.assertLess(early, 39)      # the 1st commit at once, then batched
        finally:
            os.close(fd)
        self.assertEqual(self.committed("b"), 39)

    def test_ebusy(self):
        fd = os.open(self.v("x"), os.O_RDONLY)
        try:
            self.assertErrno(errno.EBUSY, os.open, self.v("x"), os.O_RDONLY)
            fd1 = os.open(self.v("x", 1), os.O_RDONLY)      # another partition
            os.close(fd1)
            fd2 = os.open(self.v("y"), os.O_RDONLY)         # another group
            os.close(fd2)
            r = run(["cat", self.v("x")], check=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"busy", r.stderr)
        finally:
            os.close(fd)
        # closed: free again at once (close -> reopen), many times
        for _ in range(20):
            fd = os.open(self.v("x"), os.O_RDONLY)
            os.close(fd)
        # and a reset or rm right after a reader's close(2) is not refused
        # (the release that frees it arrives after close returns)
        for i in range(10):
            fd = os.open(self.v("x"), os.O_RDONLY)
            os.read(fd, REC)
            os.read(fd, REC)
            os.close(fd)
            self.write_group("x", b"t 0 %d\n" % i)
            fd = os.open(self.v("x"), os.O_RDONLY)
            os.close(fd)
            os.unlink(self.gfile("x"))

    def test_view_refusals(self):
        self.assertErrno(errno.EACCES, os.open, self.v("w"), os.O_WRONLY)
        self.assertErrno(errno.ENOENT, os.open, self.v("a%2f"), os.O_RDONLY)
        self.assertErrno(errno.ENOENT, os.open, self.v(""), os.O_RDONLY)
        self.assertErrno(errno.ENOENT, os.open, self.v("g", 5), os.O_RDONLY)
        self.assertErrno(errno.ENOENT, os.open, self.v("g", topic="nope"), os.O_RDONLY)

    def test_encoded_names_round_trip(self):
        name = "team%2Fetl run%3A1"        # id "team/etl run:1"
        fd = os.open(self.v(name), os.O_RDONLY)
        try:
            os.read(fd, 16)
            os.read(fd, 16)
        finally:
            os.close(fd)
        self.assertIn(name, os.listdir(self.daemon.path(".groups")))
        kv, rows, _ = self.group(name)
        self.assertEqual(kv["group"], name)
        self.assertEqual(rows[("t", 0)], (2, 100, 98))
        self.assertEqual(self.first_record(name), b"rec-002\n")
        # a non-canonical spelling of the same id is not a name
        self.assertErrno(errno.ENOENT, os.stat, self.gfile("team%2fetl run%3A1"))
        self.assertErrno(errno.ENOENT, os.stat, self.gfile("team%2Fetl run:1"))

    # ---- .groups ----------------------------------------------------------

    def test_groups_dir(self):
        self.assertIn(".groups", os.listdir(self.daemon.mnt))
        self.assertEqual(os.listdir(self.daemon.path(".groups")), [])
        fd = os.open(self.v("d"), os.O_RDONLY)
        try:
            os.read(fd, 5 * REC)
            os.read(fd, 5 * REC)
            self.wait_committed("d", 5)
            kv, rows, members = self.group("d")
            self.assertEqual((kv["group"], kv["readers"], kv["members"], kv["offsets"]),
                             ("d", "1", "0", "1"))
            self.assertEqual(rows, {("t", 0): (5, 100, 95)})
            self.assertEqual(members, [])
            # a reset while a reader holds the group
            self.assertErrno(errno.EBUSY, self.write_group, "d", b"t 0 50\n")
            self.assertErrno(errno.EBUSY, os.unlink, self.gfile("d"))
        finally:
            os.close(fd)
        self.assertEqual(self.committed("d"), 5)
        st = os.stat(self.gfile("d"))
        self.assertEqual(st.st_mode & 0o777, 0o644)
        # the lag follows the log end
        append_bytes(self.daemon.path("t", "0"), recs(100, 110))
        self.assertEqual(self.group("d")[1][("t", 0)], (5, 110, 105))
        # a reset moves where the next reader starts
        self.assertEqual(self.write_group("d", b"t 0 50\n"), 7)
        self.assertEqual(self.committed("d"), 50)
        self.assertEqual(self.first_record("d"), b"rec-050\n")
        run("echo 't 0 earliest' > '%s'" % self.gfile("d"))
        self.assertEqual(self.first_record("d"), b"rec-000\n")
        run("printf 't 0 latest\\nt 1 3\\n' > '%s'" % self.gfile("d"))
        self.assertEqual(self.group("d")[1], {("t", 0): (110, 110, 0), ("t", 1): (3, 10, 7)})
        self.write_group("d", b"# every partition\n\nt * 1\n")
        self.assertEqual(self.group("d")[1], {("t", 0): (1, 110, 109), ("t", 1): (1, 10, 9)})
        # clamped to the log, like kafka-consumer-groups
        self.write_group("d", b"t 1 500\n")
        self.assertEqual(self.group("d")[1][("t", 1)], (10, 10, 0))
        # malformed: EINVAL and nothing of that write applied
        for bad in (b"t 0\n", b"t 0 5 6\n", b"t x 5\n", b"t 0 -5\n", b"t 01 5\n",
                    b"t 0 soon\n", b"bad/name 0 5\n", b"t 0 7\nt 1\n"):
            self.assertErrno(errno.EINVAL, self.write_group, "d", bad)
        self.assertErrno(errno.ENOENT, self.write_group, "d", b"t 0 7\nnope 0 1\n")
        self.assertErrno(errno.ENOENT, self.write_group, "d", b"t 0 7\nt 2 1\n")
        self.assertEqual(self.group("d")[1], {("t", 0): (1, 110, 109), ("t", 1): (10, 10, 0)})
        # rm deletes
        os.unlink(self.gfile("d"))
        self.assertNotIn("d", os.listdir(self.daemon.path(".groups")))
        self.assertErrno(errno.ENOENT, os.stat, self.gfile("d"))
        self.assertErrno(errno.ENOENT, os.unlink, self.gfile("d"))
        self.assertEqual(self.first_record("d"), b"rec-000\n")   # from the start

    def test_groups_create_and_refusals(self):
        # echo > .groups/NEW creates the group by committing
        run("echo 't 1 4' > '%s'" % self.gfile("new%2Fone"))
        self.assertIn("new%2Fone", os.listdir(self.daemon.path(".groups")))
        self.assertEqual(self.first_record("new%2Fone", 1), b"rec-004\n")
        # a name that is not a canonical encoding
        self.assertErrno(errno.EINVAL, os.open, self.gfile("bad:name"),
                         os.O_WRONLY | os.O_CREAT, 0o644)
        self.assertErrno(errno.ENOENT, os.open, self.gfile("nope"), os.O_RDONLY)
        self.assertErrno(errno.EPERM, os.mkdir, self.gfile("sub"))
        self.assertErrno(errno.EPERM, os.rmdir, self.daemon.path(".groups"))
        self.assertErrno(errno.EEXIST, os.mkdir, self.daemon.path(".groups"))
        self.assertErrno(errno.EPERM, os.rename, self.gfile("new%2Fone"), self.gfile("x"))
        self.assertErrno(errno.EISDIR, os.open, self.daemon.path(".groups"), os.O_WRONLY)

    # ---- .status and /metrics ---------------------------------------------

    def test_status(self):
        fd = os.open(self.v("s"), os.O_RDONLY)
        try:
            os.read(fd, 10 * REC)
            os.read(fd, 10 * REC)
            self.wait_committed("s", 10)
            text = read_bytes(self.daemon.path(".status")).decode()
        finally:
            os.close(fd)
        blocks = text.split("\n\n")
        kv = dict(line.split(" ", 1) for line in blocks[0].splitlines()[1:])
        self.assertEqual(kv["groups"], "1")
        self.assertEqual(kv["group_offsets"], "1")
        self.assertGreaterEqual(int(kv["group_commits"]), 1)
        self.assertEqual(blocks[2].splitlines(),
                         ["group state members readers offsets lag",
                          "s Empty 0 1 1 90"])


class FsGroupsRestart(TopicfsTestCase):
    daemon_net = False

    def setUp(self):
        super().setUp()
        self.mport = free_port()
        self.daemon.config["metrics"] = {"listen": "127.0.0.1:%d" % self.mport}
        self.start()
        os.mkdir(self.daemon.path("t"))
        append_bytes(self.daemon.path("t", "0"), recs(0, 100))

    def v(self, group):
        return self.daemon.path("t", "0@group=" + group)

    def consume(self, group, reads):
        """reads reads of 10 records; returns what they returned.  Commits
        all but the last on close."""
        fd = os.open(self.v(group), os.O_RDONLY)
        try:
            return b"".join(os.read(fd, 10 * REC) for _ in range(reads))
        finally:
            os.close(fd)

    def test_commits_survive_restart_and_kill9(self):
        self.assertEqual(self.consume("r", 3), recs(0, 30))         # commits 20
        self.daemon.stop()
        self.start()
        self.assertEqual(self.consume("r", 2), recs(20, 40))        # commits 30
        # acknowledged: close(2) returned after the commit was written
        self.daemon.kill()
        self.start()
        self.assertEqual(self.consume("r", 1), recs(30, 40))
        text = read_bytes(self.daemon.path(".groups", "r")).decode()
        self.assertEqual(parse_group_file(text)[1], {("t", 0): (30, 100, 70)})
        # /metrics
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mport,
                                      timeout=5).read().decode()
        self.assertIn('topicfs_group_lag{group="r",topic="t",partition="0"} 70\n', body)
        self.assertIn("# TYPE topicfs_group_commits_total counter", body)

    def test_admin_offline(self):
        self.consume("a", 2)                                        # commits 10
        run("echo 't 0 60' > '%s'" % self.daemon.path(".groups", "team%2Fb"))
        self.daemon.stop()
        admin = tool("topicfs-admin")
        ini = self.daemon.ini
        out = run([admin, "-c", ini, "groups", "list"]).stdout.decode()
        self.assertEqual(out.splitlines(), ["a", "team%2Fb"])
        out = run([admin, "-c", ini, "groups", "describe", "team/b"]).stdout.decode()
        self.assertEqual(out.splitlines()[2].split(), ["t", "0", "60", "100", "40"])
        out = run([admin, "-c", ini, "groups", "describe", "a"]).stdout.decode()
        self.assertEqual(out.splitlines()[2].split(), ["t", "0", "10", "100", "90"])
        run([admin, "-c", ini, "groups", "reset", "a", "t", "0", "77"])
        out = run([admin, "-c", ini, "groups", "describe", "a"]).stdout.decode()
        self.assertEqual(out.splitlines()[2].split(), ["t", "0", "77", "100", "23"])
        run([admin, "-c", ini, "groups", "reset", "a", "t", "all", "latest"])
        out = run([admin, "-c", ini, "groups", "describe", "a"]).stdout.decode()
        self.assertEqual(out.splitlines()[2].split(), ["t", "0", "100", "100", "0"])
        run([admin, "-c", ini, "groups", "reset", "a", "t", "0", "earliest"])
        r = run([admin, "-c", ini, "groups", "describe", "nope"], check=False)
        self.assertEqual(r.returncode, 1)
        r = run([admin, "-c", ini, "groups", "reset", "a", "nope", "0", "1"], check=False)
        self.assertEqual(r.returncode, 1)
        r = run([admin, "-c", ini, "groups", "reset", "a", "t", "0"], check=False)
        self.assertEqual(r.returncode, 2)
        run([admin, "-c", ini, "groups", "delete", "team/b"])
        out = run([admin, "-c", ini, "groups", "list"]).stdout.decode()
        self.assertEqual(out.splitlines(), ["a"])
        self.start()
        self.assertEqual(self.consume("a", 1), recs(0, 10))       # reset to earliest
        # the daemon running: the tool refuses
        r = run([admin, "-c", ini, "groups", "list"], check=False)
        self.assertEqual(r.returncode, 1)


if __name__ == "__main__":
    main()
