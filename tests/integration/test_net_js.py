"""JavaScript clients from the npm registry (pinned in tests/clients, set
up by tools/dev.sh deps): kafkajs produces plain and gzip batches that cat
shows through the mount, lists the topics and reads the partition offsets
with its admin client.  (kafkajs consumers always join a group, and
@platformatic/kafka opens with ApiVersions v3: their tests come with the
protocol and group issues.)"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, read_bytes  # noqa: E402
from netutil import NetTestCase, node_client  # noqa: E402

KAFKAJS = """
import {{ Kafka, logLevel, CompressionTypes }} from 'kafkajs'
const kafka = new Kafka({{ clientId: 'topicfs-test', brokers: ['127.0.0.1:{port}'],
                          logLevel: logLevel.ERROR, retry: {{ retries: 2 }} }})
{body}
"""


class NetKafkajs(NetTestCase):
    daemon_config = {"topic.orders": {"partitions": "2"}}

    def js(self, body, **kw):
        r = node_client(KAFKAJS.format(port=self.daemon.port, body=body), **kw)
        return r.stdout.decode()

    def test_kafkajs_produces_what_cat_shows(self):
        self.start()
        out = self.js("""
const p = kafka.producer()
await p.connect()
const plain = await p.send({ topic: 'orders', messages:
    Array.from({ length: 100 }, (_, i) => ({ value: `plain ${i}`, partition: 0 })) })
const gz = await p.send({ topic: 'orders', compression: CompressionTypes.GZIP, messages:
    Array.from({ length: 100 }, (_, i) => ({ value: `gzip ${i}`, partition: 1 })) })
await p.disconnect()
console.log(JSON.stringify([plain, gz]))
""")
        res = json.loads(out)
        self.assertEqual(res[0][0]["errorCode"], 0)
        self.assertEqual(res[1][0]["errorCode"], 0)
        self.assertEqual(read_bytes(self.daemon.path("orders", "0")).decode().splitlines(),
                         ["plain %d" % i for i in range(100)])
        self.assertEqual(read_bytes(self.daemon.path("orders", "1")).decode().splitlines(),
                         ["gzip %d" % i for i in range(100)])

    def test_kafkajs_admin_lists_topics_and_offsets(self):
        self.start()
        os.mkdir(self.daemon.path("events"))
        with open(self.daemon.path("orders", "1"), "ab") as f:
            f.write(b"a\nb\nc\n")
        out = self.js("""
const a = kafka.admin()
await a.connect()
const topics = (await a.listTopics()).sort()
const offsets = await a.fetchTopicOffsets('orders')
await a.disconnect()
console.log(JSON.stringify({ topics, offsets }))
""")
        res = json.loads(out)
        self.assertEqual(res["topics"], ["events", "orders"])
        by_part = {o["partition"]: (o["low"], o["high"]) for o in res["offsets"]}
        self.assertEqual(by_part, {0: ("0", "0"), 1: ("0", "3")})


if __name__ == "__main__":
    main()
