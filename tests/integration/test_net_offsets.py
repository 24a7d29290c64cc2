"""Committed offsets over the Kafka protocol (issue 13, net/srv_offsets.c)
with the real clients of this machine, as simple consumers (assign + commit
with a group id, no group membership):

- FindCoordinator answers this node (raw v0 and v4 with batched keys, and
  kafka-python's and librdkafka's coordinator lookups succeed);
- kafka-python 2.0.2: KafkaConsumer(group_id=..., enable_auto_commit=False),
  assign, commit, committed; a new consumer of the group resumes after the
  committed offset;
- confluent-kafka (librdkafka): assign without an offset starts at the
  committed one, commit(asynchronous=False), committed();
- a commit acknowledged before a kill -9 of the daemon is there after the
  restart;
- topicfs-consume -g GROUP: consumes part, commits, the next run continues.

Membership (JoinGroup, kcat -G, subscribe) is tested with the coordinator,
not here.  Every client call has a timeout; no request may be refused at
the protocol level."""
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, tool  # noqa: E402
from netutil import NetTestCase, Raw, Reader, i16, i32, i64, kstr  # noqa: E402

API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
API_FIND_COORDINATOR = 10


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def cstr(s):
    b = s.encode()
    return uvarint(len(b) + 1) + b


class FlexReader(Reader):
    def uvarint(self):
        shift = n = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def cstr(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def raw_commit(port, group, topic, partition, offset):
    """OffsetCommit v2, simple consumer: the partition's error code."""
    c = Raw(port)
    try:
        body = (kstr(group) + i32(-1) + kstr("") + i64(-1) + i32(1) + kstr(topic)
                + i32(1) + i32(partition) + i64(offset) + kstr(None))
        r = Reader(c.call(API_OFFSET_COMMIT, 2, body))
        assert r.i32() == 1 and r.str() == topic and r.i32() == 1
        assert r.i32() == partition
        return r.i16()
    finally:
        c.close()


def raw_committed(port, group, topic, partition):
    """OffsetFetch v3: (offset, metadata, partition error, top-level error)."""
    c = Raw(port)
    try:
        body = kstr(group) + i32(1) + kstr(topic) + i32(1) + i32(partition)
        r = Reader(c.call(API_OFFSET_FETCH, 3, body))
        r.i32()                                         # ThrottleTimeMs
        assert r.i32() == 1 and r.str() == topic and r.i32() == 1
        assert r.i32() == partition
        off, md, err = r.i64(), r.str(), r.i16()
        return off, md, err, r.i16()
    finally:
        c.close()


class NetOffsets(NetTestCase):

    def setUp(self):
        super().setUp()
        self.start()
        self.bootstrap = "127.0.0.1:%d" % self.daemon.port
        os.mkdir(self.daemon.path("ot"))
        with open(self.daemon.path("ot", "0"), "a") as f:
            f.write("".join("line %d\n" % i for i in range(100)))

    def log(self):
        with open(self.daemon.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def assert_no_refusals(self):
        self.assertNotIn("refused:", self.log())

    # ---- FindCoordinator ---------------------------------------------------

    def test_find_coordinator_answers_this_node(self):
        c = Raw(self.daemon.port)
        try:
            r = Reader(c.call(API_FIND_COORDINATOR, 0, kstr("some-group")))
            self.assertEqual((r.i16(), r.i32(), r.str(), r.i32()),
                             (0, 0, "127.0.0.1", self.daemon.port))
            # v1 key type 1 (transaction): not available, no node
            r = Reader(c.call(API_FIND_COORDINATOR, 1, kstr("txn") + bytes([1])))
            r.i32()
            self.assertEqual(r.i16(), 15)
            # v4: batched keys, each answered with this node, in order
            body = (b"\x00" + bytes([0]) + uvarint(4) + cstr("a") + cstr("b")
                    + cstr("c") + b"\x00")
            # header v2 (tag buffer) is added by hand: Raw writes header v1
            r = FlexReader(c.call(API_FIND_COORDINATOR, 4, body))
            r.tags()                                    # response header v1
            r.i32()
            self.assertEqual(r.uvarint() - 1, 3)
            for key in "abc":
                self.assertEqual(r.cstr(), key)
                self.assertEqual((r.i32(), r.cstr(), r.i32(), r.i16()),
                                 (0, "127.0.0.1", self.daemon.port, 0))
                r.cstr()
                r.tags()
        finally:
            c.close()
        self.assert_no_refusals()

    # ---- kafka-python --------------------------------------------------------

    def test_kafka_python_commit_and_resume(self):
        try:
            from kafka import KafkaConsumer, TopicPartition
            from kafka.structs import OffsetAndMetadata
        except ImportError:
            self.fail("python3-kafka (kafka-python) is not installed")
        tp = TopicPartition("ot", 0)

        def consumer():
            return KafkaConsumer(bootstrap_servers=self.bootstrap, group_id="kp",
                                 enable_auto_commit=False,
                                 auto_offset_reset="earliest",
                                 consumer_timeout_ms=5000,
                                 request_timeout_ms=11000,
                                 session_timeout_ms=10000)

        c = consumer()
        try:
            c.assign([tp])
            self.assertIsNone(c.committed(tp))          # nothing yet
            got = []
            for m in c:
                got.append(m.value.decode())
                if len(got) == 40:
                    break
            self.assertEqual(got, ["line %d" % i for i in range(40)])
            c.commit()                                  # the position: 40
            self.assertEqual(c.committed(tp), 40)
            c.commit({tp: OffsetAndMetadata(42, "kp-meta")})
            self.assertEqual(c.committed(tp), 42)
        finally:
            c.close()
        self.assertEqual(raw_committed(self.daemon.port, "kp", "ot", 0),
                         (42, "kp-meta", 0, 0))
        c = consumer()
        try:
            c.assign([tp])
            first = next(iter(c))
            self.assertEqual((first.offset, first.value), (42, b"line 42"))
        finally:
            c.close()
        self.assert_no_refusals()

    # ---- confluent-kafka -----------------------------------------------------

    def confluent_consume(self, group, n):
        """A librdkafka simple consumer of ot/0 (assign without an offset:
        the committed one, else earliest): the first n values, then commit
        synchronously; returns (values, committed offset)."""
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                      "enable.auto.commit": False, "auto.offset.reset": "earliest",
                      "socket.timeout.ms": 10000})
        try:
            c.assign([TopicPartition("ot", 0)])
            got = []
            deadline = time.monotonic() + 30
            while len(got) < n and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None:
                    continue
                self.assertIsNone(m.error())
                got.append(m.value().decode())
            c.commit(asynchronous=False)
            tps = c.committed([TopicPartition("ot", 0)], timeout=10)
            self.assertIsNone(tps[0].error)
            return got, tps[0].offset
        finally:
            c.close()

    def test_confluent_kafka_commit_and_resume(self):
        try:
            import confluent_kafka  # noqa: F401
        except ImportError:
            self.fail("python3-confluent-kafka is not installed")
        got, off = self.confluent_consume("ck", 30)
        self.assertEqual(got, ["line %d" % i for i in range(30)])
        self.assertEqual(off, 30)
        got, off = self.confluent_consume("ck", 20)
        self.assertEqual(got, ["line %d" % i for i in range(30, 50)])
        self.assertEqual(off, 50)
        # another group is independent
        self.assertEqual(raw_committed(self.daemon.port, "other", "ot", 0)[:3],
                         (-1, "", 0))
        self.assert_no_refusals()

    # ---- kill -9 ---------------------------------------------------------------

    def test_commit_survives_kill_9(self):
        try:
            import confluent_kafka  # noqa: F401
        except ImportError:
            self.fail("python3-confluent-kafka is not installed")
        got, off = self.confluent_consume("k9", 25)
        self.assertEqual(off, 25)
        self.assertEqual(raw_commit(self.daemon.port, "k9raw", "ot", 0, 77), 0)
        self.daemon.proc.kill()                         # kill -9, no clean stop
        self.daemon.proc.wait(10)
        self.daemon.kill()                              # unmount what is left
        self.daemon.start()
        self.assertEqual(raw_committed(self.daemon.port, "k9", "ot", 0)[0], 25)
        self.assertEqual(raw_committed(self.daemon.port, "k9raw", "ot", 0)[0], 77)
        got, off = self.confluent_consume("k9", 5)
        self.assertEqual(got, ["line %d" % i for i in range(25, 30)])
        self.assertEqual(off, 30)

    # ---- topicfs-consume -g ----------------------------------------------------

    def consume(self, *args, timeout=30):
        r = subprocess.run([tool("topicfs-consume")] + list(args)
                           + [self.bootstrap, "ot", "0"],
                           capture_output=True, timeout=timeout)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode().splitlines()

    def test_topicfs_consume_group_resumes(self):
        self.assertEqual(self.consume("-g", "tc", "-c", "10"),
                         ["line %d" % i for i in range(10)])
        self.assertEqual(raw_committed(self.daemon.port, "tc", "ot", 0)[0], 10)
        self.assertEqual(self.consume("-g", "tc", "-c", "15"),
                         ["line %d" % i for i in range(10, 25)])
        # to the end, then nothing is left
        self.assertEqual(self.consume("-g", "tc"),
                         ["line %d" % i for i in range(25, 100)])
        self.assertEqual(raw_committed(self.daemon.port, "tc", "ot", 0)[0], 100)
        self.assertEqual(self.consume("-g", "tc"), [])
        # -o wins over the committed offset, and commits too
        self.assertEqual(self.consume("-g", "tc", "-o", "5", "-c", "2"),
                         ["line 5", "line 6"])
        self.assertEqual(raw_committed(self.daemon.port, "tc", "ot", 0)[0], 7)
        # without -g nothing is committed anywhere
        self.consume("-c", "3")
        self.assertEqual(raw_committed(self.daemon.port, "tc", "ot", 0)[0], 7)

    def test_topicfs_consume_group_follow_commits_on_sigterm(self):
        p = subprocess.Popen([tool("topicfs-consume"), "-g", "fol", "-f",
                              self.bootstrap, "ot", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if raw_committed(self.daemon.port, "fol", "ot", 0)[0] == 100:
                    break                               # the periodic commit
                time.sleep(0.2)
            with open(self.daemon.path("ot", "0"), "a") as f:
                f.write("line 100\nline 101\n")
            time.sleep(1.5)                             # read, printed
            p.terminate()
            out, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(out.decode().splitlines(),
                         ["line %d" % i for i in range(102)])
        self.assertEqual(raw_committed(self.daemon.port, "fol", "ot", 0)[0], 102)


if __name__ == "__main__":
    main()
