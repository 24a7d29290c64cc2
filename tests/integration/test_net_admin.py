"""The admin APIs (net/srv_admin.c) with real clients: kafka-python's
KafkaAdminClient, confluent-kafka's AdminClient (Debian's 1.7.0), the
kafkajs admin and @platformatic/kafka's Admin create topics (with
configs), add partitions, delete records and delete topics, and each
effect is checked through the mount: the topic directory appears and
disappears, new partition files appear at once, and a partition read
after DeleteRecords starts at the new low watermark.  Without [fs]
allow_delete, DeleteTopics answers TOPIC_DELETION_DISABLED.  No client
gets a request refused (the daemon logs every refusal)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, read_bytes, scaled  # noqa: E402
from netutil import NetTestCase, node_client  # noqa: E402

KAFKAJS = """
import {{ Kafka, logLevel }} from 'kafkajs'
const kafka = new Kafka({{ clientId: 'topicfs-admin-test', brokers: ['127.0.0.1:{port}'],
                          logLevel: logLevel.ERROR, retry: {{ retries: 2 }} }})
{body}
"""


def wait_for(cond, timeout=10):
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


class NetAdmin(NetTestCase):
    daemon_config = {"fs": {"allow_delete": "true"}}

    def setUp(self):
        super().setUp()
        self.start()
        self.bootstrap = "127.0.0.1:%d" % self.daemon.port

    def assert_no_refusals(self):
        self.assertNotIn("refused:", self.daemon.read_log())

    def topic_file(self, name):
        with open(os.path.join(self.daemon.data, name + ".topic")) as f:
            return f.read()

    def parts(self, name):
        return sorted(int(p) for p in os.listdir(self.daemon.path(name)) if p.isdigit())

    def fill(self, topic, partition, n, prefix="line"):
        with open(self.daemon.path(topic, str(partition)), "ab") as f:
            f.write("".join("%s %d\n" % (prefix, i) for i in range(n)).encode())

    def test_kafka_python(self):
        try:
            from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
            from kafka.errors import TopicAlreadyExistsError
        except ImportError:
            self.fail("python3-kafka (kafka-python) is not installed")
        a = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="kp-admin")
        try:
            a.create_topics([NewTopic("kp", 3, 1, topic_configs={"retention.ms": "3600000",
                                                                 "segment.bytes": "1048576"})])
            self.assertTrue(os.path.isdir(self.daemon.path("kp")))
            self.assertEqual(self.parts("kp"), [0, 1, 2])
            tf = self.topic_file("kp")
            self.assertIn("retention_ms=3600000", tf)
            self.assertIn("segment_bytes=1048576", tf)
            with self.assertRaises(TopicAlreadyExistsError):
                a.create_topics([NewTopic("kp", 1, 1)])
            a.create_topics([NewTopic("kp-v", 2, 1)], validate_only=True)
            self.assertFalse(os.path.exists(self.daemon.path("kp-v")))
            a.create_partitions({"kp": NewPartitions(5)})
            self.assertEqual(self.parts("kp"), [0, 1, 2, 3, 4])
            self.fill("kp", 4, 3)
            self.assertEqual(read_bytes(self.daemon.path("kp", "4")),
                             b"line 0\nline 1\nline 2\n")
            r = a.delete_topics(["kp"])
            self.assertEqual([e for _, e in r.topic_error_codes], [0])
            self.assertTrue(wait_for(lambda: not os.path.exists(self.daemon.path("kp"))))
        finally:
            a.close()
        self.assertIn('(client "kp-admin"): created topic kp (3 partitions)',
                      self.daemon.read_log())
        self.assert_no_refusals()

    def test_confluent_kafka(self):
        try:
            from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
            from confluent_kafka import KafkaException
        except ImportError:
            self.fail("python3-confluent-kafka is not installed")
        a = AdminClient({"bootstrap.servers": self.bootstrap})
        fs = a.create_topics([NewTopic("ck", num_partitions=2, replication_factor=1,
                                       config={"retention.bytes": "1000000"})],
                             operation_timeout=10)
        fs["ck"].result(30)
        self.assertEqual(self.parts("ck"), [0, 1])
        self.assertIn("retention_bytes=1000000", self.topic_file("ck"))
        fs = a.create_topics([NewTopic("ck-bad", num_partitions=1, replication_factor=1,
                                       config={"no.such.thing": "1"})])
        with self.assertRaises(KafkaException) as cm:
            fs["ck-bad"].result(30)
        self.assertIn("INVALID_CONFIG", str(cm.exception))
        self.assertFalse(os.path.exists(self.daemon.path("ck-bad")))
        fs = a.create_partitions([NewPartitions("ck", 4)], operation_timeout=10)
        fs["ck"].result(30)
        self.assertEqual(self.parts("ck"), [0, 1, 2, 3])
        fs = a.create_partitions([NewPartitions("ck", 3)])
        with self.assertRaises(KafkaException) as cm:
            fs["ck"].result(30)
        self.assertIn("INVALID_PARTITIONS", str(cm.exception))
        fs = a.delete_topics(["ck"], operation_timeout=10)
        fs["ck"].result(30)
        self.assertTrue(wait_for(lambda: not os.path.exists(self.daemon.path("ck"))))
        self.assert_no_refusals()

    def js(self, body):
        r = node_client(KAFKAJS.format(port=self.daemon.port, body=body))
        return json.loads(r.stdout.decode().strip().splitlines()[-1])

    def test_kafkajs(self):
        created = self.js("""
const a = kafka.admin()
await a.connect()
const created = await a.createTopics({ topics: [{ topic: 'js', numPartitions: 2,
    configEntries: [{ name: 'retention.ms', value: '86400000' }] }] })
await a.disconnect()
console.log(JSON.stringify(created))
""")
        self.assertTrue(created)
        self.assertEqual(self.parts("js"), [0, 1])
        self.assertIn("retention_ms=86400000", self.topic_file("js"))
        self.fill("js", 0, 10)
        res = self.js("""
const a = kafka.admin()
await a.connect()
await a.createPartitions({ topicPartitions: [{ topic: 'js', count: 3 }] })
await a.deleteTopicRecords({ topic: 'js', partitions: [{ partition: 0, offset: '4' }] })
const offsets = await a.fetchTopicOffsets('js')
const cluster = await a.describeCluster()
await a.disconnect()
console.log(JSON.stringify({ offsets, cluster }))
""")
        self.assertEqual(self.parts("js"), [0, 1, 2])
        by_part = {o["partition"]: (o["low"], o["high"]) for o in res["offsets"]}
        self.assertEqual(by_part, {0: ("4", "10"), 1: ("0", "0"), 2: ("0", "0")})
        self.assertEqual(res["cluster"]["brokers"],
                         [{"nodeId": 0, "host": "127.0.0.1", "port": self.daemon.port}])
        self.assertEqual(res["cluster"]["clusterId"], "topicfs")
        self.assertEqual(read_bytes(self.daemon.path("js", "0")).decode().splitlines(),
                         ["line %d" % i for i in range(4, 10)])
        topics = self.js("""
const a = kafka.admin()
await a.connect()
await a.deleteTopics({ topics: ['js'] })
const topics = await a.listTopics()
await a.disconnect()
console.log(JSON.stringify(topics))
""")
        self.assertNotIn("js", topics)
        self.assertTrue(wait_for(lambda: not os.path.exists(self.daemon.path("js"))))
        self.assert_no_refusals()

    def test_platformatic_kafka(self):
        r = node_client("""
import { Admin } from '@platformatic/kafka'
const admin = new Admin({ clientId: 'topicfs-test', bootstrapBrokers: ['%s'] })
const created = await admin.createTopics({ topics: ['pk1', 'pk2'], partitions: 2, replicas: 1,
    configs: [{ name: 'max.message.bytes', value: '65536' }] })
console.log(JSON.stringify(created))
await admin.close()
""" % self.bootstrap)
        created = json.loads(r.stdout.decode())
        self.assertEqual(sorted(c["name"] for c in created), ["pk1", "pk2"])
        for c in created:
            self.assertEqual(c["partitions"], 2)
        self.assertEqual(self.parts("pk1"), [0, 1])
        self.assertIn("max_message_bytes=65536", self.topic_file("pk2"))
        node_client("""
import { Admin } from '@platformatic/kafka'
const admin = new Admin({ clientId: 'topicfs-test', bootstrapBrokers: ['%s'] })
await admin.deleteTopics({ topics: ['pk1'] })
await admin.close()
""" % self.bootstrap)
        self.assertTrue(wait_for(lambda: not os.path.exists(self.daemon.path("pk1"))))
        self.assertTrue(os.path.isdir(self.daemon.path("pk2")))
        self.assert_no_refusals()


class NetAdminNoDelete(NetTestCase):
    """Without [fs] allow_delete a DeleteTopics is refused, the topic stays."""

    def test_deletion_disabled(self):
        try:
            from kafka.admin import KafkaAdminClient
        except ImportError:
            self.fail("python3-kafka (kafka-python) is not installed")
        self.start()
        os.mkdir(self.daemon.path("keep"))
        a = KafkaAdminClient(bootstrap_servers="127.0.0.1:%d" % self.daemon.port)
        try:
            # kafka-python 2.0.2 does not know code 73 by name
            with self.assertRaises(Exception) as cm:
                a.delete_topics(["keep"])
            self.assertIn("error_code=73", str(cm.exception))
        finally:
            a.close()
        self.assertTrue(os.path.isdir(self.daemon.path("keep")))


if __name__ == "__main__":
    main()
