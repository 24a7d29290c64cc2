"""Consumer groups over TCP with real clients (issue 13): the group
coordinator (net/srv_group.c) with the offset APIs (net/srv_offsets.c).

- two `kcat -G` members share a 4-partition topic and consume every record
  exactly once between them; the survivor takes over every partition when
  the other leaves;
- a member that stops heartbeating (kill -STOP) is evicted after its
  session timeout and its partitions are reassigned;
- kafka-python (group_id, subscribe, commit), confluent-kafka (subscribe,
  sync and async commit, cooperative-sticky), kafkajs (groupId,
  eachMessage) and @platformatic/kafka (group consume) consume a topic
  fully, and a consumer started again in the group resumes after the
  committed offset;
- a consumer resumes after the committed offset across a kill -9 of the
  daemon.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, wait_for  # noqa: E402
from netutil import KCAT, NetTestCase, kcat, node_client  # noqa: E402

GROUPS = {"initial_rebalance_delay_ms": "0", "min_session_timeout_ms": "1000"}


class KcatMember:
    """One `kcat -G` process; its lines ("partition value") are collected
    by a thread."""

    def __init__(self, port, group, topic, extra=()):
        cmd = [KCAT, "-b", "127.0.0.1:%d" % port, "-G", group, "-u", "-q",
               "-f", "%p %s\\n", "-X", "auto.offset.reset=earliest",
               "-X", "session.timeout.ms=3000", "-X", "heartbeat.interval.ms=300"]
        cmd += list(extra) + [topic]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.lock:
                self.lines.append(raw.decode().rstrip("\n"))

    def got(self):
        with self.lock:
            return list(self.lines)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.send_signal(sig)
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.thread.join(5)
        self.proc.stdout.close()


def produce(daemon, topic, partition, values):
    kcat(daemon, "-P", "-t", topic, "-p", str(partition),
         input=("\n".join(values) + "\n").encode(), timeout=60)


class NetGroups(NetTestCase):
    daemon_config = {"groups": GROUPS,
                     "topic.orders": {"partitions": "4"},
                     "topic.kp": {"partitions": "2"},
                     "topic.ck": {"partitions": "2"},
                     "topic.js": {"partitions": "2"},
                     "topic.pk": {"partitions": "2"},
                     "topic.k9": {"partitions": "1"}}

    def setUp(self):
        super().setUp()
        self.start()
        self.bootstrap = "127.0.0.1:%d" % self.daemon.port

    def log(self):
        with open(self.daemon.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def members_now(self, group):
        """Members of the latest rebalance of group, from the log."""
        n = None
        for line in self.log().splitlines():
            if 'group "%s" rebalanced' % group in line:
                n = int(line.split(", ")[1].split()[0])
        return n

    def start_members(self, group, n, **kw):
        ms = []
        for _ in range(n):
            m = KcatMember(self.daemon.port, group, "orders", **kw)
            self.addCleanup(m.stop, signal.SIGKILL)
            ms.append(m)
        return ms

    # ------------------------------------------------------------------ kcat

    def test_kcat_two_members_share_and_survivor_takes_over(self):
        a, b = self.start_members("kg", 2)
        wait_for(lambda: self.members_now("kg") == 2, 60, what="2-member generation")
        time.sleep(1.0)                     # both synced and fetching
        want = []
        for p in range(4):
            vals = ["r%d-%d" % (p, i) for i in range(50)]
            produce(self.daemon, "orders", p, vals)
            want += ["%d %s" % (p, v) for v in vals]
        wait_for(lambda: len(a.got()) + len(b.got()) >= 200, 60, what="200 records")
        time.sleep(1.0)                     # nothing more arrives
        got = a.got() + b.got()
        self.assertEqual(sorted(got), sorted(want))      # exactly once
        parts_a = {l.split()[0] for l in a.got()}
        parts_b = {l.split()[0] for l in b.got()}
        self.assertEqual(len(parts_a), 2)
        self.assertEqual(len(parts_b), 2)
        self.assertFalse(parts_a & parts_b)
        # b leaves; a gets every partition
        b.stop()
        wait_for(lambda: self.members_now("kg") == 1, 30, what="1-member generation")
        time.sleep(1.0)
        before = len(a.got())
        more = []
        for p in range(4):
            vals = ["s%d-%d" % (p, i) for i in range(25)]
            produce(self.daemon, "orders", p, vals)
            more += ["%d %s" % (p, v) for v in vals]
        wait_for(lambda: set(more) <= set(a.got()[before:] + a.got()), 60,
                 what="the survivor reading all partitions")
        self.assertEqual({l.split()[0] for l in a.got() if l.split()[1][0] == "s"},
                         {"0", "1", "2", "3"})

    def test_stopped_member_is_evicted(self):
        a, b = self.start_members("ev", 2)
        wait_for(lambda: self.members_now("ev") == 2, 60, what="2-member generation")
        time.sleep(1.0)
        b.proc.send_signal(signal.SIGSTOP)  # no more heartbeats
        t0 = time.monotonic()
        wait_for(lambda: "evicted" in self.log(), 30, what="the eviction")
        self.assertGreater(time.monotonic() - t0, 1.0)   # its session timeout
        wait_for(lambda: self.members_now("ev") == 1, 30, what="1-member generation")
        time.sleep(1.0)
        vals = []
        for p in range(4):
            v = ["e%d-%d" % (p, i) for i in range(10)]
            produce(self.daemon, "orders", p, v)
            vals += ["%d %s" % (p, x) for x in v]
        wait_for(lambda: set(vals) <= set(a.got()), 60,
                 what="the survivor reading the evicted member's partitions")
        b.stop(signal.SIGKILL)

    # ----------------------------------------------------------- python clients

    def test_kafka_python_commits_and_resumes(self):
        from kafka import KafkaConsumer
        for p in range(2):
            produce(self.daemon, "kp", p, ["a%d-%d" % (p, i) for i in range(50)])

        def consume(n, timeout=30):
            c = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id="kpg",
                              auto_offset_reset="earliest", enable_auto_commit=False,
                              session_timeout_ms=6000, heartbeat_interval_ms=1000)
            try:
                c.subscribe(["kp"])
                got = []
                deadline = time.monotonic() + timeout
                while len(got) < n and time.monotonic() < deadline:
                    for recs in c.poll(timeout_ms=500).values():
                        got.extend(r.value.decode() for r in recs)
                c.commit()
                # nothing more than asked for
                for recs in c.poll(timeout_ms=1000).values():
                    got.extend(r.value.decode() for r in recs)
                return got
            finally:
                c.close()
        got = consume(100)
        self.assertEqual(sorted(got), sorted("a%d-%d" % (p, i)
                                             for p in range(2) for i in range(50)))
        for p in range(2):
            produce(self.daemon, "kp", p, ["b%d-%d" % (p, i) for i in range(10)])
        got = consume(20)
        self.assertEqual(sorted(got), sorted("b%d-%d" % (p, i)
                                             for p in range(2) for i in range(10)))

    def test_confluent_cooperative_sticky_commits_and_resumes(self):
        from confluent_kafka import Consumer, KafkaError, KafkaException
        for p in range(2):
            produce(self.daemon, "ck", p, ["a%d-%d" % (p, i) for i in range(50)])

        def consume(n, timeout=40):
            c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "ckg",
                          "enable.auto.commit": False,
                          "auto.offset.reset": "earliest",
                          "partition.assignment.strategy": "cooperative-sticky",
                          "session.timeout.ms": 6000})
            try:
                c.subscribe(["ck"])
                got = []
                deadline = time.monotonic() + timeout
                while len(got) < n and time.monotonic() < deadline:
                    m = c.poll(0.5)
                    if m is None:
                        continue
                    self.assertIsNone(m.error())
                    got.append(m.value().decode())
                    # half the commits synchronous, half asynchronous
                    c.commit(message=m, asynchronous=len(got) % 2 == 0)
                # flush: a synchronous commit of what is stored; when the
                # per-message commits already covered it all, librdkafka
                # answers _NO_OFFSET ("nothing to commit"), which is fine
                # (whether it does depends on when the last asynchronous
                # commit completed); the resume below checks the offsets
                try:
                    c.commit(asynchronous=False)
                except KafkaException as e:
                    if e.args[0].code() != KafkaError._NO_OFFSET:
                        raise
                self.assertEqual(len(c.assignment()), 2)
                return got
            finally:
                c.close()
        got = consume(100)
        self.assertEqual(sorted(got), sorted("a%d-%d" % (p, i)
                                             for p in range(2) for i in range(50)))
        for p in range(2):
            produce(self.daemon, "ck", p, ["b%d-%d" % (p, i) for i in range(10)])
        got = consume(20)
        self.assertEqual(sorted(got), sorted("b%d-%d" % (p, i)
                                             for p in range(2) for i in range(10)))

    def test_kill9_then_resume_after_commit(self):
        from kafka import KafkaConsumer
        produce(self.daemon, "k9", 0, ["a%d" % i for i in range(30)])

        def consume(n, timeout=30):
            c = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id="k9g",
                              auto_offset_reset="earliest", enable_auto_commit=False)
            try:
                c.subscribe(["k9"])
                got = []
                deadline = time.monotonic() + timeout
                while len(got) < n and time.monotonic() < deadline:
                    for recs in c.poll(timeout_ms=500).values():
                        got.extend(r.value.decode() for r in recs)
                c.commit()
                return got
            finally:
                c.close()
        self.assertEqual(consume(30), ["a%d" % i for i in range(30)])
        self.daemon.kill()
        self.daemon.unmount()
        self.daemon.start()
        produce(self.daemon, "k9", 0, ["b%d" % i for i in range(5)])
        self.assertEqual(consume(5), ["b%d" % i for i in range(5)])

    # --------------------------------------------------------------- npm clients

    def test_kafkajs_group_consumes_and_resumes(self):
        for p in range(2):
            produce(self.daemon, "js", p, ["a%d-%d" % (p, i) for i in range(50)])
        script = """
import { Kafka, logLevel } from 'kafkajs'
const kafka = new Kafka({ clientId: 'topicfs-test', brokers: ['%s'],
                          logLevel: logLevel.NOTHING })
const consumer = kafka.consumer({ groupId: 'jsg', sessionTimeout: 6000,
                                  heartbeatInterval: 500 })
await consumer.connect()
await consumer.subscribe({ topic: 'js', fromBeginning: true })
const got = []
await new Promise((resolve, reject) => {
  const t = setTimeout(() => resolve(), 40000)
  consumer.run({ eachMessage: async ({ message }) => {
    got.push(message.value.toString())
    if (got.length >= %d) { clearTimeout(t); setTimeout(resolve, 500) }
  } }).catch(reject)
})
await consumer.disconnect()
console.log(JSON.stringify(got))
"""
        got = json.loads(node_client(script % (self.bootstrap, 100),
                                     timeout=90).stdout.decode())
        self.assertEqual(sorted(got), sorted("a%d-%d" % (p, i)
                                             for p in range(2) for i in range(50)))
        for p in range(2):
            produce(self.daemon, "js", p, ["b%d-%d" % (p, i) for i in range(10)])
        got = json.loads(node_client(script % (self.bootstrap, 20),
                                     timeout=90).stdout.decode())
        self.assertEqual(sorted(got), sorted("b%d-%d" % (p, i)
                                             for p in range(2) for i in range(10)))

    def test_platformatic_group_consumes_and_resumes(self):
        for p in range(2):
            produce(self.daemon, "pk", p, ["a%d-%d" % (p, i) for i in range(50)])
        script = """
import { Consumer, stringDeserializers } from '@platformatic/kafka'
const consumer = new Consumer({ groupId: 'pkg', clientId: 'topicfs-test',
                                bootstrapBrokers: ['%s'],
                                deserializers: stringDeserializers })
const stream = await consumer.consume({ topics: ['pk'], autocommit: false,
                                        mode: 'committed', fallbackMode: 'earliest',
                                        sessionTimeout: 6000, heartbeatInterval: 500 })
const got = []
const t = setTimeout(() => stream.close(), 40000)
for await (const m of stream) {
  got.push(m.value)
  await m.commit()
  if (got.length >= %d) break
}
clearTimeout(t)
await consumer.close(true)
console.log(JSON.stringify(got))
process.exit(0)
"""
        got = json.loads(node_client(script % (self.bootstrap, 100),
                                     timeout=90).stdout.decode())
        self.assertEqual(sorted(got), sorted("a%d-%d" % (p, i)
                                             for p in range(2) for i in range(50)))
        for p in range(2):
            produce(self.daemon, "pk", p, ["b%d-%d" % (p, i) for i in range(10)])
        got = json.loads(node_client(script % (self.bootstrap, 20),
                                     timeout=90).stdout.decode())
        self.assertEqual(sorted(got), sorted("b%d-%d" % (p, i)
                                             for p in range(2) for i in range(10)))


if __name__ == "__main__":
    main()
