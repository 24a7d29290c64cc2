"""The TCP server with the real clients of this machine (Debian's kcat,
python3-confluent-kafka and python3-kafka; @platformatic/kafka from
tests/clients, which opens with ApiVersions v3 and speaks the newest
versions) at the versions they pick from our ApiVersions (flexible ones
included): a server holding 500 topics answers Metadata that each client
parses in full (confluent-kafka's list_topics(), kafka-python's
KafkaConsumer.topics(), kcat -L, @platformatic/kafka's listTopics()), and
a produce/consume round trip works with each (@platformatic/kafka: produce
only; its consumer needs groups).  No client gets a request refused (the
daemon logs every refusal)."""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, scaled  # noqa: E402
from netutil import NetTestCase, kcat, kcat_lines, node_client  # noqa: E402

NTOPICS = 500


def topic_name(i):
    # long-ish names, as real ones are: the response is ~50 KiB
    return "clients-topic-with-a-longer-name-%04d" % i


class NetClients(NetTestCase):

    def setUp(self):
        super().setUp()
        self.start()
        for i in range(NTOPICS):
            os.mkdir(self.daemon.path(topic_name(i)))
        os.mkdir(self.daemon.path("rt"))        # the round-trip topic
        self.bootstrap = "127.0.0.1:%d" % self.daemon.port
        self.want = {topic_name(i) for i in range(NTOPICS)} | {"rt"}

    def assert_no_refusals(self):
        with open(self.daemon.log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        self.assertNotIn("refused:", log)

    def test_kcat_metadata_and_round_trip(self):
        out = kcat(self.daemon, "-L", timeout=60).stdout.decode()
        got = set(re.findall(r'topic "([^"]+)" with 1 partitions:', out))
        self.assertEqual(got, self.want)
        self.assertIn("%d topics:" % len(self.want), out)
        lines = ["kcat %d" % i for i in range(50)]
        kcat(self.daemon, "-P", "-t", "rt", "-p", "0",
             input=("\n".join(lines) + "\n").encode())
        got = kcat_lines(self.daemon, "-C", "-t", "rt", "-p", "0", "-o", "beginning",
                         "-e", "-q")
        self.assertEqual(got, lines)
        with open(self.daemon.path("rt", "0")) as f:
            self.assertEqual(f.read(), "".join(x + "\n" for x in lines))
        self.assert_no_refusals()

    def test_confluent_kafka(self):
        try:
            from confluent_kafka import Consumer, Producer, TopicPartition
            from confluent_kafka import OFFSET_BEGINNING
        except ImportError:
            self.fail("python3-confluent-kafka is not installed")
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "g",
                      "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        try:
            md = c.list_topics(timeout=30)
            self.assertEqual(set(md.topics), self.want)
            for name in self.want:
                t = md.topics[name]
                self.assertIsNone(t.error)
                self.assertEqual(list(t.partitions), [0])
                self.assertEqual(t.partitions[0].leader, 0)
            self.assertEqual(list(md.brokers), [0])
        finally:
            c.close()
        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5,
                      "compression.type": "zstd"})
        errors = []
        for i in range(100):
            p.produce("rt", value=b"ck %d" % i, partition=0,
                      on_delivery=lambda err, msg: err and errors.append(err))
        self.assertEqual(p.flush(scaled(30)), 0)
        self.assertEqual(errors, [])
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "g",
                      "enable.auto.commit": False})
        try:
            c.assign([TopicPartition("rt", 0, OFFSET_BEGINNING)])
            got = []
            deadline = time.monotonic() + scaled(30)
            while len(got) < 100 and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None:
                    continue
                self.assertIsNone(m.error())
                got.append(m.value().decode())
            self.assertEqual(got, ["ck %d" % i for i in range(100)])
            lo, hi = c.get_watermark_offsets(TopicPartition("rt", 0), timeout=10)
            self.assertEqual((lo, hi), (0, 100))
        finally:
            c.close()
        self.assert_no_refusals()

    def test_kafka_python(self):
        try:
            from kafka import KafkaConsumer, KafkaProducer, TopicPartition
        except ImportError:
            self.fail("python3-kafka (kafka-python) is not installed")
        c = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                          consumer_timeout_ms=3000)
        try:
            self.assertEqual(c.topics(), self.want)
            self.assertEqual(c.partitions_for_topic(topic_name(7)), {0})
        finally:
            c.close()
        prod = KafkaProducer(bootstrap_servers=self.bootstrap, acks=1, linger_ms=5)
        try:
            for i in range(100):
                prod.send("rt", value=b"kp %d" % i, partition=0)
            prod.flush(scaled(10))
        finally:
            prod.close(5)
        c = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                          consumer_timeout_ms=3000)
        try:
            tp = TopicPartition("rt", 0)
            c.assign([tp])
            c.seek_to_beginning(tp)
            got = []
            deadline = time.monotonic() + scaled(20)
            while len(got) < 100 and time.monotonic() < deadline:
                for recs in c.poll(timeout_ms=500).values():
                    got.extend(r.value.decode() for r in recs)
            self.assertEqual(got, ["kp %d" % i for i in range(100)])
            self.assertEqual(c.end_offsets([tp])[tp], 100)
        finally:
            c.close()
        self.assert_no_refusals()

    def test_platformatic_kafka(self):
        r = node_client("""
import { Admin, Producer, stringSerializers } from '@platformatic/kafka'
const brokers = ['%s']
const admin = new Admin({ clientId: 'topicfs-test', bootstrapBrokers: brokers })
const topics = await admin.listTopics()
await admin.close()
const p = new Producer({ clientId: 'topicfs-test', bootstrapBrokers: brokers,
                         serializers: stringSerializers, idempotent: false, acks: 1 })
const res = await p.send({ messages: Array.from({ length: 50 },
    (_, i) => ({ topic: 'rt', value: `pk ${i}`, partition: 0 })) })
await p.close()
console.log(JSON.stringify({ topics, offsets: res.offsets },
                           (k, v) => typeof v === 'bigint' ? v.toString() : v))
""" % self.bootstrap)
        res = json.loads(r.stdout.decode())
        self.assertEqual(set(res["topics"]), self.want)
        self.assertEqual(res["offsets"], [{"topic": "rt", "partition": 0, "offset": "0"}])
        got = kcat_lines(self.daemon, "-C", "-t", "rt", "-p", "0", "-o", "beginning",
                         "-e", "-q")
        self.assertEqual(got, ["pk %d" % i for i in range(50)])
        self.assert_no_refusals()


if __name__ == "__main__":
    main()
