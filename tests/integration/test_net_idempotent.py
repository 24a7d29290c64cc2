"""Idempotent producers (issue 12) with the real clients of this machine:
each gets a producer id from InitProducerId, numbers its batches, and the
records arrive exactly once, in order (checked through the mount and in
the segment file's batch headers).  The daemon is restarted between two
sends of the same producer (clients keep their id; the broker's producer
state is rebuilt from the log), which must not break it:

- kcat -X enable.idempotence=true: 1000 lines;
- confluent-kafka Producer({'enable.idempotence': True}) (librdkafka):
  restart between two sends;
- kafkajs producer({ idempotent: true }) and @platformatic/kafka
  Producer({ idempotent: true }): restart between two sends of one
  producer object;
- kafka-python 2.0.2 has no enable_idempotence (it refuses the setting):
  checked, so an upgrade that brings it is noticed.

A transactional producer is refused with a clear fatal error (no client
waits forever); no request is refused at the protocol level."""
import json
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, scaled  # noqa: E402
from netutil import (NetTestCase, CLIENTS_DIR, Raw, Reader, i32, kcat,  # noqa: E402
                     kcat_lines, kstr)

API_INIT_PRODUCER_ID = 22


def batch_producer_ids(seg_path):
    """(ProducerId, ProducerEpoch, BaseSequence) of every batch of a
    segment file (RecordBatch v2 header, docs/FORMAT.md section 2)."""
    out = []
    with open(seg_path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 61 <= len(data):
        length = struct.unpack(">i", data[pos + 8:pos + 12])[0]
        pid, epoch, seq = struct.unpack(">qhi", data[pos + 43:pos + 57])
        out.append((pid, epoch, seq))
        pos += 12 + length
    return out


class NetIdempotent(NetTestCase):

    def setUp(self):
        super().setUp()
        self.start()
        self.bootstrap = "127.0.0.1:%d" % self.daemon.port

    def log(self):
        with open(self.daemon.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def assert_no_refusals(self):
        self.assertNotIn("refused:", self.log())

    def restart(self):
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()

    def check_topic(self, topic, lines):
        with open(self.daemon.path(topic, "0")) as f:
            self.assertEqual(f.read(), "".join(x + "\n" for x in lines))

    def check_batches(self, topic, min_epoch=0):
        """Every stored batch carries a producer id (idempotence was
        really used); returns the distinct producer ids."""
        seg = os.path.join(self.daemon.data, topic + "-0", "%020d.log" % 0)
        ids = batch_producer_ids(seg)
        self.assertTrue(ids)
        for pid, epoch, seq in ids:
            self.assertGreaterEqual(pid, 0)
            self.assertGreaterEqual(epoch, min_epoch)
            self.assertGreaterEqual(seq, 0)
        return {pid for pid, _, _ in ids}

    # ---- kcat ------------------------------------------------------------

    def test_kcat(self):
        os.mkdir(self.daemon.path("kc"))
        lines = ["kcat idem %04d" % i for i in range(1000)]
        r = kcat(self.daemon, "-P", "-X", "enable.idempotence=true", "-t", "kc",
                 "-p", "0", input=("\n".join(lines) + "\n").encode())
        self.assertNotIn(b"not supported", r.stderr)
        self.assertNotIn(b"rror", r.stderr)
        self.check_topic("kc", lines)
        self.assertEqual(len(self.check_batches("kc")), 1)
        got = kcat_lines(self.daemon, "-C", "-t", "kc", "-p", "0", "-o", "beginning",
                         "-e", "-q")
        self.assertEqual(got, lines)
        self.assert_no_refusals()

    # ---- confluent-kafka (librdkafka) ------------------------------------

    def test_confluent_kafka(self):
        try:
            from confluent_kafka import Producer
        except ImportError:
            self.fail("python3-confluent-kafka is not installed")
        os.mkdir(self.daemon.path("ck"))
        p = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True,
                      "linger.ms": 5, "acks": "all"})
        errors = []

        def send(first, n):
            for i in range(first, first + n):
                p.produce("ck", value=b"ck %d" % i, partition=0,
                          on_delivery=lambda err, msg: err and errors.append(err))
            self.assertEqual(p.flush(60), 0)

        send(0, 300)
        self.restart()
        send(300, 300)
        self.assertEqual(errors, [])
        self.check_topic("ck", ["ck %d" % i for i in range(600)])
        self.assertEqual(len(self.check_batches("ck")), 1)   # the same id
        self.assert_no_refusals()

    def test_confluent_kafka_transactional_refused(self):
        try:
            from confluent_kafka import KafkaException, Producer
        except ImportError:
            self.fail("python3-confluent-kafka is not installed")
        p = Producer({"bootstrap.servers": self.bootstrap,
                      "transactional.id": "tx-1", "transaction.timeout.ms": 5000})
        t0 = time.monotonic()
        with self.assertRaises(KafkaException):
            p.init_transactions(10)
        self.assertLess(time.monotonic() - t0, scaled(30))

    # ---- raw InitProducerId with a transactional id -----------------------

    def test_raw_transactional_refused(self):
        c = Raw(self.daemon.port)
        try:
            r = Reader(c.call(API_INIT_PRODUCER_ID, 1, kstr("tx") + i32(1000)))
            r.i32()
            self.assertEqual(r.i16(), 53)
            self.assertEqual((r.i64(), r.i16()), (-1, -1))
            r = Reader(c.call(API_INIT_PRODUCER_ID, 1, kstr(None) + i32(1000)))
            r.i32()
            self.assertEqual(r.i16(), 0)
            self.assertGreaterEqual(r.i64(), 0)
            self.assertEqual(r.i16(), 0)
            r = Reader(c.call(API_INIT_PRODUCER_ID, 0, kstr("tx2") + i32(1000)))
            r.i32()
            self.assertEqual(r.i16(), 53)       # logged once per connection
        finally:
            c.close()
        self.assertEqual(self.log().count("TRANSACTIONAL_ID_AUTHORIZATION_FAILED"), 1)

    # ---- the npm clients ---------------------------------------------------

    def node_two_sends(self, script, topic):
        """Run a node script that prints a line after its first send, waits
        for a flag file, sends again and prints a JSON line; restart the
        daemon in between."""
        flag = os.path.join(self.root, "flag-" + topic)
        path = os.path.join(CLIENTS_DIR, ".test-idem-%d-%s.mjs" % (os.getpid(), topic))
        with open(path, "w") as f:
            f.write(script.replace("@BROKER@", self.bootstrap)
                    .replace("@FLAG@", flag).replace("@TOPIC@", topic))
        self.addCleanup(os.unlink, path)
        proc = subprocess.Popen(["node", path], cwd=CLIENTS_DIR, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            first = proc.stdout.readline().decode().strip()
            self.assertEqual(first, "sent1", proc.stderr.read(4000) if not first else "")
            self.restart()
            open(flag, "w").close()
            out, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err.decode()[-4000:])
        return json.loads(out.decode().strip().splitlines()[-1])

    def test_kafkajs(self):
        os.mkdir(self.daemon.path("kj"))
        res = self.node_two_sends("""
import fs from 'node:fs'
import { Kafka, logLevel } from 'kafkajs'
const kafka = new Kafka({ clientId: 'idem-kafkajs', brokers: ['@BROKER@'],
                          logLevel: logLevel.NOTHING,
                          retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } })
const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
await p.connect()
const msgs = (a, b) => Array.from({ length: b - a }, (_, i) => ({ value: `kj ${a + i}`, partition: 0 }))
await p.send({ topic: '@TOPIC@', messages: msgs(0, 200) })
console.log('sent1')
while (!fs.existsSync('@FLAG@')) await new Promise(r => setTimeout(r, 50))
const r2 = await p.send({ topic: '@TOPIC@', messages: msgs(200, 400) })
await p.disconnect()
console.log(JSON.stringify(r2))
""", "kj")
        self.assertEqual(res[0]["errorCode"], 0)
        self.assertEqual(res[0]["baseOffset"], "200")
        self.check_topic("kj", ["kj %d" % i for i in range(400)])
        self.assertEqual(len(self.check_batches("kj")), 1)   # the same id
        self.assert_no_refusals()

    def test_platformatic_kafka(self):
        os.mkdir(self.daemon.path("pk"))
        res = self.node_two_sends("""
import fs from 'node:fs'
import { Producer, stringSerializers } from '@platformatic/kafka'
const p = new Producer({ clientId: 'idem-platformatic', bootstrapBrokers: ['@BROKER@'],
                         serializers: stringSerializers, idempotent: true,
                         retryDelay: 200 })
const msgs = (a, b) => Array.from({ length: b - a }, (_, i) => ({ topic: '@TOPIC@', value: `pk ${a + i}`, partition: 0 }))
await p.send({ messages: msgs(0, 200) })
console.log('sent1')
while (!fs.existsSync('@FLAG@')) await new Promise(r => setTimeout(r, 50))
const r2 = await p.send({ messages: msgs(200, 400) })
await p.close()
console.log(JSON.stringify({ offsets: r2.offsets },
                           (k, v) => typeof v === 'bigint' ? v.toString() : v))
""", "pk")
        self.assertEqual(res["offsets"], [{"topic": "pk", "partition": 0, "offset": "200"}])
        self.check_topic("pk", ["pk %d" % i for i in range(400)])
        self.assertEqual(len(self.check_batches("pk")), 1)   # the same id
        self.assert_no_refusals()

    # ---- kafka-python ------------------------------------------------------

    def test_kafka_python_has_no_idempotence(self):
        try:
            import kafka
            from kafka import KafkaProducer
        except ImportError:
            self.fail("python3-kafka (kafka-python) is not installed")
        if tuple(int(x) for x in kafka.__version__.split(".")[:2]) >= (2, 1):
            self.fail("kafka-python %s may support enable_idempotence: test "
                      "idempotent producing with it here" % kafka.__version__)
        with self.assertRaises(AssertionError):     # "Unrecognized configs"
            KafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=True)


if __name__ == "__main__":
    main()
