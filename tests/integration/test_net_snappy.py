"""Snappy from real clients (issue 12): kcat -P -z snappy (librdkafka sends
one raw snappy block) and kafka-python's KafkaProducer with
compression_type='snappy' (snappy-java's xerial framing, python3-snappy)
produce batches that are stored as sent and read back through the mount,
by kcat and by topicfs-consume; a topic with compression = snappy stores
what is appended through the mount as snappy batches (xerial framing,
written by topicfs) that cat, kcat and kafka-python's consumer read back."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, run, tool, scaled  # noqa: E402
from netutil import NetTestCase, kcat, kcat_lines  # noqa: E402


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data.endswith(b"\n") or not data
    return data.decode().split("\n")[:-1]


class NetSnappy(NetTestCase):
    daemon_config = {"topic.snap": {"compression": "snappy"}}

    def mktopic(self, name):
        os.mkdir(self.daemon.path(name))
        return self.daemon.path(name, "0")

    def codecs_on_disk(self, partition_dir):
        dump = run([tool("topicfs-dump"), os.path.join(self.daemon.data, partition_dir)])
        out = dump.stdout.decode()
        return re.findall(r"codec:\s*(\w+)", out), out

    def xerial_on_disk(self, partition_dir):
        """Does any stored batch use snappy-java's framing?"""
        d = os.path.join(self.daemon.data, partition_dir)
        for name in os.listdir(d):
            if name.endswith(".log"):
                with open(os.path.join(d, name), "rb") as f:
                    if b"\x82SNAPPY\x00" in f.read():
                        return True
        return False

    def consume_all(self, topic):
        return kcat_lines(self.daemon, "-C", "-t", topic, "-p", "0", "-o", "beginning",
                          "-e", "-q")

    def test_kcat_produce_snappy_50_lines(self):
        self.start()
        p = self.mktopic("T")
        lines = ["snappy line %02d %s" % (i, "abc" * (i % 7)) for i in range(50)]
        kcat(self.daemon, "-P", "-t", "T", "-p", "0", "-z", "snappy",
             input="".join(x + "\n" for x in lines).encode())
        self.assertEqual(read_lines(p), lines)
        self.assertEqual(run(["cat", p]).stdout.decode().split("\n")[:-1], lines)
        codecs, out = self.codecs_on_disk("T-0")
        self.assertIn("snappy", codecs, "no snappy batch stored:\n" + out[:2000])
        self.assertFalse(self.xerial_on_disk("T-0"), "librdkafka sends raw blocks")
        self.assertEqual(self.consume_all("T"), lines)

    def test_kcat_produce_snappy_many_batches(self):
        self.start()
        p = self.mktopic("T")
        lines = ["snappy record %05d %s" % (i, "x" * (i % 37)) for i in range(3000)]
        kcat(self.daemon, "-P", "-t", "T", "-p", "0", "-z", "snappy",
             input="".join(x + "\n" for x in lines).encode())
        self.assertEqual(read_lines(p), lines)
        self.assertEqual(self.consume_all("T"), lines)
        r = run([tool("topicfs-consume"), "127.0.0.1:%d" % self.daemon.port, "T", "0"])
        self.assertEqual(r.stdout.decode().split("\n")[:-1], lines)
        codecs, out = self.codecs_on_disk("T-0")
        self.assertIn("snappy", codecs, "no snappy batch stored:\n" + out[:2000])

    def test_kafka_python_produce_snappy(self):
        try:
            from kafka import KafkaProducer
            import kafka.codec
        except ImportError:
            self.fail("python3-kafka (kafka-python) is not installed")
        if not kafka.codec.has_snappy():
            self.fail("python3-snappy is not installed")
        self.start()
        p = self.mktopic("T")
        lines = ["kafka-python snappy %02d %s" % (i, "yz" * (i % 5)) for i in range(50)]
        prod = KafkaProducer(bootstrap_servers="127.0.0.1:%d" % self.daemon.port,
                             acks=1, linger_ms=50, compression_type="snappy")
        try:
            for ln in lines:
                prod.send("T", value=ln.encode(), partition=0)
            prod.flush(10)
        finally:
            prod.close(5)
        self.assertEqual(read_lines(p), lines)
        self.assertEqual(run(["cat", p]).stdout.decode().split("\n")[:-1], lines)
        codecs, out = self.codecs_on_disk("T-0")
        self.assertIn("snappy", codecs, "no snappy batch stored:\n" + out[:2000])
        self.assertTrue(self.xerial_on_disk("T-0"), "kafka-python sends xerial")
        self.assertEqual(self.consume_all("T"), lines)

    def test_topic_compression_snappy(self):
        self.start()
        p = self.daemon.path("snap", "0")
        lines = ["appended %05d %s" % (i, "q" * (i % 41)) for i in range(2000)]
        with open(p, "a") as f:
            for i in range(0, len(lines), 100):
                f.write("".join(x + "\n" for x in lines[i:i + 100]))
                f.flush()
        self.assertEqual(read_lines(p), lines)
        self.assertEqual(os.getxattr(self.daemon.path("snap"), "user.topicfs.codec"),
                         b"snappy")
        codecs, out = self.codecs_on_disk("snap-0")
        self.assertTrue(codecs, "topicfs-dump printed no codec:\n" + out[:2000])
        self.assertEqual(set(codecs), {"snappy"}, out[:2000])
        self.assertTrue(self.xerial_on_disk("snap-0"))
        # librdkafka reads the xerial framing topicfs writes
        self.assertEqual(self.consume_all("snap"), lines)
        try:
            from kafka import KafkaConsumer, TopicPartition
        except ImportError:
            self.fail("python3-kafka (kafka-python) is not installed")
        c = KafkaConsumer(bootstrap_servers="127.0.0.1:%d" % self.daemon.port,
                          group_id=None, consumer_timeout_ms=3000)
        try:
            tp = TopicPartition("snap", 0)
            c.assign([tp])
            c.seek_to_beginning(tp)
            got = []
            deadline = time.monotonic() + scaled(20)
            while len(got) < len(lines) and time.monotonic() < deadline:
                for recs in c.poll(timeout_ms=500).values():
                    got.extend(r.value.decode() for r in recs)
            self.assertEqual(got, lines)
        finally:
            c.close()


if __name__ == "__main__":
    main()
