"""The config APIs (DescribeConfigs, AlterConfigs; docs/PROTOCOL.md) with
the real admin clients of this machine: kafka-python's KafkaAdminClient,
confluent-kafka's AdminClient (Debian python3-confluent-kafka 1.7.0),
kafkajs' admin and @platformatic/kafka's Admin.  Each one describes a
topic (our values in Kafka's formats: retention.ms, flush.ms as
Long.MAX_VALUE for "never", compression.type uncompressed), alters
retention.ms, and the change shows at once in the topic directory's xattr
(getfattr -n user.topicfs.retention_ms through the mount) and survives a
daemon restart.  No client gets a request refused."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main  # noqa: E402
from netutil import NetTestCase, node_client  # noqa: E402

WEEK_MS = "604800000"
LONG_MAX = "9223372036854775807"


class NetConfigs(NetTestCase):

    def setUp(self):
        super().setUp()
        self.start()
        os.mkdir(self.daemon.path("cfg"))
        self.bootstrap = "127.0.0.1:%d" % self.daemon.port

    def getfattr(self, key):
        r = subprocess.run(["getfattr", "--only-values", "-n", "user.topicfs." + key,
                            self.daemon.path("cfg")], capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode().strip()

    def assert_no_refusals(self):
        with open(self.daemon.log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        self.assertNotIn("refused:", log)

    def check_altered(self, value):
        """value shows in the xattr at once and after a restart."""
        self.assertEqual(self.getfattr("retention_ms"), value)
        self.daemon.stop()
        self.daemon.start()
        self.assertEqual(self.getfattr("retention_ms"), value)
        self.assert_no_refusals()

    def test_kafka_python(self):
        try:
            from kafka import KafkaAdminClient
            from kafka.admin import ConfigResource, ConfigResourceType
        except ImportError:
            self.fail("python3-kafka (kafka-python) is not installed")
        a = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            res = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "cfg")])
            got = {}
            for resp in res:
                for err, _msg, _type, name, entries in resp.resources:
                    self.assertEqual((err, name), (0, "cfg"))
                    for e in entries:
                        got[e[0]] = e[1]
            self.assertEqual(got["retention.ms"], WEEK_MS)
            self.assertEqual(got["flush.ms"], LONG_MAX)
            self.assertEqual(got["compression.type"], "uncompressed")
            self.assertEqual(got["cleanup.policy"], "delete")
            r = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "cfg",
                                                configs={"retention.ms": "3600000"})])
            self.assertEqual([x[0] for x in r.resources], [0])
            r = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "cfg",
                                                configs={"retention.ms": "soon"})])
            self.assertEqual([x[0] for x in r.resources], [40])
        finally:
            a.close()
        self.check_altered("3600000")

    def test_confluent_kafka(self):
        try:
            from confluent_kafka.admin import AdminClient, ConfigResource
        except ImportError:
            self.fail("python3-confluent-kafka is not installed")
        a = AdminClient({"bootstrap.servers": self.bootstrap})
        fs = a.describe_configs([ConfigResource("topic", "cfg")])
        (f,) = fs.values()
        entries = f.result(30)
        self.assertEqual(entries["retention.ms"].value, WEEK_MS)
        self.assertTrue(entries["retention.ms"].is_default)
        self.assertFalse(entries["retention.ms"].is_read_only)
        self.assertEqual(entries["flush.messages"].value, LONG_MAX)
        self.assertTrue(entries["compression.type"].is_read_only)
        self.assertEqual(entries["max.message.bytes"].value, "1048576")
        fs = a.describe_configs([ConfigResource("broker", "0")])
        (f,) = fs.values()
        broker = f.result(30)
        self.assertEqual(broker["num.partitions"].value, "1")
        self.assertTrue(broker["num.partitions"].is_read_only)
        fs = a.alter_configs([ConfigResource("topic", "cfg",
                                             set_config={"retention.ms": "7200000"})])
        (f,) = fs.values()
        f.result(30)
        fs = a.describe_configs([ConfigResource("topic", "cfg")])
        (f,) = fs.values()
        entries = f.result(30)
        self.assertEqual(entries["retention.ms"].value, "7200000")
        self.assertFalse(entries["retention.ms"].is_default)
        self.check_altered("7200000")

    def test_kafkajs(self):
        r = node_client("""
import kafkajs from 'kafkajs'
const { Kafka, ConfigResourceTypes, logLevel } = kafkajs
const kafka = new Kafka({ clientId: 'topicfs-test', brokers: ['%s'],
                          logLevel: logLevel.NOTHING })
const admin = kafka.admin()
await admin.connect()
const d = await admin.describeConfigs({ includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: 'cfg' }] })
await admin.alterConfigs({ validateOnly: false, resources: [{
    type: ConfigResourceTypes.TOPIC, name: 'cfg',
    configEntries: [{ name: 'retention.ms', value: '10800000' }] }] })
let bad = null
try {
  await admin.alterConfigs({ validateOnly: false, resources: [{
      type: ConfigResourceTypes.TOPIC, name: 'cfg',
      configEntries: [{ name: 'no.such.config', value: '1' }] }] })
} catch (e) { bad = e.type || String(e) }
const d2 = await admin.describeConfigs({ includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: 'cfg',
                  configNames: ['retention.ms'] }] })
await admin.disconnect()
console.log(JSON.stringify({ d, d2, bad }))
""" % self.bootstrap)
        res = json.loads(r.stdout.decode())
        (rs,) = res["d"]["resources"]
        self.assertEqual(rs["errorCode"], 0)
        got = {e["configName"]: e for e in rs["configEntries"]}
        self.assertEqual(got["retention.ms"]["configValue"], WEEK_MS)
        self.assertEqual(got["flush.ms"]["configValue"], LONG_MAX)
        self.assertTrue(got["cleanup.policy"]["readOnly"])
        (rs,) = res["d2"]["resources"]
        self.assertEqual([(e["configName"], e["configValue"]) for e in rs["configEntries"]],
                         [("retention.ms", "10800000")])
        self.assertEqual(res["bad"], "INVALID_CONFIG")
        self.check_altered("10800000")

    def test_platformatic_kafka(self):
        r = node_client("""
import { Admin } from '@platformatic/kafka'
const admin = new Admin({ clientId: 'topicfs-test', bootstrapBrokers: ['%s'] })
const d = await admin.describeConfigs({ resources: [
    { resourceType: 2, resourceName: 'cfg' }] })
await admin.alterConfigs({ resources: [{ resourceType: 2, resourceName: 'cfg',
    configs: [{ name: 'retention.ms', value: '14400000' }] }] })
await admin.close()
console.log(JSON.stringify(d, (k, v) => typeof v === 'bigint' ? v.toString() : v))
""" % self.bootstrap)
        d = json.loads(r.stdout.decode())
        (rs,) = d
        got = {e["name"]: e["value"] for e in rs["configs"]}
        self.assertEqual(got["retention.ms"], WEEK_MS)
        self.assertEqual(got["compression.type"], "uncompressed")
        self.check_altered("14400000")


if __name__ == "__main__":
    main()
