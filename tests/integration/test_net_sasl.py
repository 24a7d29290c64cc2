"""SASL (issue 14): a SASL_PLAINTEXT listener with users made by
topicfs-admin user add.  kcat (librdkafka: SaslHandshake v1 +
SaslAuthenticate), kafka-python 2.0.2 (SaslHandshake v0 + bare tokens) and
confluent-kafka produce and consume with SCRAM-SHA-512, SCRAM-SHA-256 and
PLAIN, a group consumer included; kafkajs with scram-sha-512.  A wrong
password and an unknown user are refused with a clear client-side error
and a server log line, answered only after [sasl] failed_delay_ms, while
another client keeps working; a user added with topicfs-admin while the
daemon runs logs in at once, a deleted one no longer can.  Raw requests
check the Kafka errors: UNSUPPORTED_SASL_MECHANISM with the enabled list,
ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED and the close after it.

The test users are super users (no ACL is needed for what they do)."""
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, run, scaled, tool, wait_for  # noqa: E402
from netutil import KCAT, NetTestCase, Raw, Reader, i32, kstr, node_client  # noqa: E402

USERS = {"alice": "wonder land", "bob": "b0b-pass", "admin": "s3cret"}
MECHS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
DELAY_MS = 400


class SaslTest(NetTestCase):

    def setUp(self):
        super().setUp()
        self.admin_bin = tool("topicfs-admin")

    def admin(self, *args, input=None, check=True):
        return run([self.admin_bin, "-c", self.daemon.ini] + list(args), input=input,
                   check=check)

    def add_user(self, name, password):
        return self.admin("user", "add", name, input=(password + "\n").encode())

    def start_sasl(self, users=USERS):
        self.daemon.config["net"]["listeners"] = \
            "SASL_PLAINTEXT://127.0.0.1:%d" % self.daemon.port
        self.daemon.config["net"]["auto_create_topics"] = "true"
        self.daemon.config["sasl"] = {
            "super_users": ", ".join("User:%s" % u for u in USERS) + ", User:dave",
            "failed_delay_ms": str(DELAY_MS)}
        self.daemon.write_config()
        for name, pw in users.items():
            self.add_user(name, pw)
        self.daemon.start()

    def kcat(self, mech, user, password, *args, input=None, check=True, timeout=60):
        cmd = [KCAT, "-b", "127.0.0.1:%d" % self.daemon.port,
               "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=" + mech,
               "-X", "sasl.username=" + user, "-X", "sasl.password=" + password] + list(args)
        return run(cmd, input=input, timeout=timeout, check=check)

    # ---------------------------------------------------------------- kcat

    def test_kcat_every_mechanism(self):
        self.start_sasl()
        for i, mech in enumerate(MECHS):
            topic = "k%d" % i
            self.kcat(mech, "alice", USERS["alice"], "-P", "-t", topic,
                      input=b"one-%d\ntwo-%d\n" % (i, i))
            out = self.kcat(mech, "bob", USERS["bob"], "-C", "-t", topic, "-e", "-q",
                            "-o", "beginning").stdout.decode().split("\n")[:-1]
            self.assertEqual(out, ["one-%d" % i, "two-%d" % i], mech)
        self.assertEqual(open(self.daemon.path("k2", "0")).read(), "one-2\ntwo-2\n")
        # a group consumer (kcat -G: JoinGroup, SyncGroup, OffsetCommit)
        r = self.kcat("SCRAM-SHA-512", "alice", USERS["alice"], "-G", "kg", "k0",
                      "-e", "-q", "-o", "beginning", "-X", "auto.offset.reset=earliest",
                      timeout=90)
        self.assertEqual(r.stdout.decode().split("\n")[:-1], ["one-0", "two-0"])

    def test_kcat_refusals_and_others_keep_working(self):
        self.start_sasl()
        self.kcat("SCRAM-SHA-512", "alice", USERS["alice"], "-P", "-t", "r",
                  input=b"x\n")
        for mech, user, pw in (("SCRAM-SHA-512", "alice", "wrong"),
                               ("SCRAM-SHA-256", "nobody", "x"),
                               ("PLAIN", "alice", "wrong"),
                               ("PLAIN", "nobody", "x")):
            t0 = time.monotonic()
            r = self.kcat(mech, user, pw, "-L", "-m", "5", check=False)
            self.assertNotEqual(r.returncode, 0, (mech, user))
            err = r.stderr.decode()
            self.assertIn("Authentication failed", err, (mech, user, err))
            self.assertGreaterEqual(time.monotonic() - t0, DELAY_MS / 1000.0 * 0.9)
            wait_for(lambda: ('authentication failed: user "%s", %s' % (user, mech))
                     in self.daemon.read_log(), scaled(10), what="server log line")
            # the server keeps serving a good client
            out = self.kcat("PLAIN", "bob", USERS["bob"], "-C", "-t", "r", "-e", "-q",
                            "-o", "beginning").stdout
            self.assertEqual(out, b"x\n")
        # a mechanism that is not enabled
        r = self.kcat("SCRAM-SHA-1", "alice", USERS["alice"], "-L", "-m", "5",
                      check=False)
        self.assertNotEqual(r.returncode, 0)

    # --------------------------------------------------------- kafka-python

    def test_kafka_python_every_mechanism_and_group(self):
        from kafka import KafkaConsumer, KafkaProducer
        from kafka.errors import KafkaError
        self.start_sasl()
        boot = "127.0.0.1:%d" % self.daemon.port
        for i, mech in enumerate(MECHS):
            sec = dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism=mech,
                       sasl_plain_username="alice", sasl_plain_password=USERS["alice"])
            topic = "py%d" % i
            p = KafkaProducer(bootstrap_servers=boot, **sec)
            for n in range(5):
                p.send(topic, b"m%d" % n).get(timeout=30)
            p.close()
            c = KafkaConsumer(topic, bootstrap_servers=boot, group_id="pyg%d" % i,
                              auto_offset_reset="earliest", consumer_timeout_ms=8000,
                              **sec)
            got = [m.value for m in c]
            c.commit()
            c.close()
            self.assertEqual(got, [b"m%d" % n for n in range(5)], mech)
        # a wrong password: the producer never connects
        with self.assertRaises((KafkaError, Exception)):
            KafkaProducer(bootstrap_servers=boot, security_protocol="SASL_PLAINTEXT",
                          sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice",
                          sasl_plain_password="nope", max_block_ms=3000,
                          request_timeout_ms=3000).send("py0", b"z").get(timeout=10)
        wait_for(lambda: "(bare tokens)" in self.daemon.read_log(), scaled(10),
                 what="log line of the failed bare-token login")

    # ------------------------------------------------------- confluent-kafka

    def test_confluent_kafka_every_mechanism_and_group(self):
        from confluent_kafka import Consumer, Producer
        self.start_sasl()
        boot = "127.0.0.1:%d" % self.daemon.port
        for i, mech in enumerate(MECHS):
            sec = {"bootstrap.servers": boot, "security.protocol": "SASL_PLAINTEXT",
                   "sasl.mechanisms": mech, "sasl.username": "bob",
                   "sasl.password": USERS["bob"]}
            topic = "ck%d" % i
            p = Producer(sec)
            for n in range(5):
                p.produce(topic, b"c%d" % n)
            self.assertEqual(p.flush(30), 0)
            c = Consumer(dict(sec, **{"group.id": "ckg%d" % i,
                                      "auto.offset.reset": "earliest"}))
            c.subscribe([topic])
            got = []
            deadline = time.monotonic() + scaled(40)
            while len(got) < 5 and time.monotonic() < deadline:
                m = c.poll(1.0)
                if m is not None and not m.error():
                    got.append(m.value())
            c.commit(asynchronous=False)
            c.close()
            self.assertEqual(got, [b"c%d" % n for n in range(5)], mech)
        # a wrong password: an authentication error reaches the client
        errors = []
        p = Producer({"bootstrap.servers": boot, "security.protocol": "SASL_PLAINTEXT",
                      "sasl.mechanisms": "SCRAM-SHA-256", "sasl.username": "bob",
                      "sasl.password": "bad", "error_cb": errors.append})
        wait_for(lambda: p.poll(0.2) is not None and any(
            "Authentication failed" in str(e) for e in errors), scaled(20),
            what="an authentication error callback")

    # ------------------------------------------------------------- kafkajs

    def test_kafkajs_scram_sha_512(self):
        self.start_sasl()
        script = """
import { Kafka } from 'kafkajs';
const kafka = new Kafka({ brokers: ['127.0.0.1:%d'], logLevel: 0,
  sasl: { mechanism: 'scram-sha-512', username: 'alice', password: '%s' } });
const p = kafka.producer();
await p.connect();
await p.send({ topic: 'js', messages: [{ value: 'hello' }, { value: 'world' }] });
await p.disconnect();
const bad = new Kafka({ brokers: ['127.0.0.1:%d'], logLevel: 0, retry: { retries: 0 },
  sasl: { mechanism: 'scram-sha-512', username: 'alice', password: 'nope' } });
const q = bad.producer();
try { await q.connect(); console.log('connected?'); }
catch (e) { console.log('refused: ' + e.message); }
process.exit(0);   // the refused client's timers would keep node alive
""" % (self.daemon.port, USERS["alice"], self.daemon.port)
        out = node_client(script, timeout=90).stdout.decode()
        self.assertIn("refused: ", out)
        self.assertIn("Authentication failed", out)
        self.assertEqual(open(self.daemon.path("js", "0")).read(), "hello\nworld\n")

    # ------------------------------------------------------- users at runtime

    def test_user_added_and_deleted_while_running(self):
        self.start_sasl(users={"alice": USERS["alice"]})
        r = self.kcat("SCRAM-SHA-512", "dave", "d4ve", "-L", "-m", "5", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.add_user("dave", "d4ve")
        listed = self.admin("user", "list").stdout.decode()
        self.assertIn("dave SCRAM-SHA-256,SCRAM-SHA-512", listed)
        st = os.stat(os.path.join(self.daemon.data, "sasl-users"))
        self.assertEqual(st.st_mode & 0o777, 0o600)
        for mech in MECHS:
            self.kcat(mech, "dave", "d4ve", "-L", "-m", "10")
        # a new password replaces the old one
        self.add_user("dave", "n3w")
        self.assertNotEqual(self.kcat("PLAIN", "dave", "d4ve", "-L", "-m", "5",
                                      check=False).returncode, 0)
        self.kcat("PLAIN", "dave", "n3w", "-L", "-m", "10")
        self.admin("user", "delete", "dave")
        r = self.kcat("SCRAM-SHA-256", "dave", "n3w", "-L", "-m", "5", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Authentication failed", r.stderr.decode())
        self.assertIn("loaded", self.daemon.read_log())
        # a damaged file keeps the users loaded before
        path = os.path.join(self.daemon.data, "sasl-users")
        with open(path, "a") as f:
            f.write("garbage line\n")
        self.kcat("SCRAM-SHA-512", "alice", USERS["alice"], "-L", "-m", "10")
        wait_for(lambda: "keeping the" in self.daemon.read_log(), scaled(10),
                 what="the bad file's log line")
        # refused by topicfs-admin too, rather than replaced
        r = self.admin("user", "add", "eve", input=b"x\n", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("garbage", r.stderr.decode())

    def test_password_never_on_the_command_line(self):
        self.daemon.write_config()
        r = self.admin("user", "add", "alice", "secret", check=False)
        self.assertEqual(r.returncode, 2)
        r = self.admin("user", "add", "alice", input=b"", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("empty password", r.stderr.decode())
        r = self.admin("user", "add", "a,b", input=b"pw\n", check=False)
        self.assertEqual(r.returncode, 2)
        # a password base64 cannot contain ('-' and '.' are not in its
        # alphabet): "pw" turned up inside a random salt once
        pw = "not-in.base64"
        self.add_user("alice", pw)
        with open(os.path.join(self.daemon.data, "sasl-users")) as f:
            text = f.read()
        self.assertNotIn(pw, text)
        self.assertNotIn(pw.encode().hex(), text)
        self.assertIn("alice SCRAM-SHA-512 iterations=8192 salt=", text)

    # -------------------------------------------------------- raw protocol

    def handshake(self, conn, version, mech):
        r = Reader(conn.call(17, version, kstr(mech)))
        err = r.i16()
        return err, [r.str() for _ in range(r.i32())]

    def test_raw_errors(self):
        self.start_sasl()
        port = self.daemon.port
        # an unknown mechanism: 33 and the enabled list, then closed
        c = Raw(port)
        err, mechs = self.handshake(c, 1, "GSSAPI")
        self.assertEqual((err, mechs), (33, list(MECHS)))
        c.send(struct.pack(">i", 0))    # anything: closed
        self.assertTrue(c.closed_by_server(scaled(5)))
        c.close()
        # SaslAuthenticate without a handshake: ILLEGAL_SASL_STATE
        c = Raw(port)
        r = Reader(c.call(36, 1, i32(3) + b"abc"))
        self.assertEqual(r.i16(), 34)
        c.close()
        # before authentication, other APIs are refused (the gate)
        c = Raw(port)
        c.send(struct.pack(">ihhi", 10, 3, 0, 1) + b"\xff\xff")   # Metadata v0
        self.assertTrue(c.closed_by_server(scaled(5)))
        c.close()
        # PLAIN, wrong password: 58 with a message after the delay, then closed
        c = Raw(port)
        self.assertEqual(self.handshake(c, 1, "PLAIN")[0], 0)
        t0 = time.monotonic()
        tok = b"\0alice\0bad"
        r = Reader(c.call(36, 1, i32(len(tok)) + tok))
        self.assertGreaterEqual(time.monotonic() - t0, DELAY_MS / 1000.0 * 0.9)
        self.assertEqual(r.i16(), 58)
        self.assertIn("Invalid username or password", r.str())
        self.assertEqual(r.bytes(), b"")
        self.assertEqual(r.i64(), 0)
        c.send(struct.pack(">ihhi", 10, 18, 0, 9) + b"\xff\xff")  # ApiVersions
        self.assertTrue(c.closed_by_server(scaled(5)))
        c.close()
        # PLAIN, good: authenticated, then Kafka requests are served, and a
        # second handshake is ILLEGAL_SASL_STATE
        c = Raw(port)
        self.assertEqual(self.handshake(c, 1, "PLAIN")[0], 0)
        tok = b"admin\0admin\0" + USERS["admin"].encode()
        r = Reader(c.call(36, 1, i32(len(tok)) + tok))
        self.assertEqual(r.i16(), 0)
        self.assertIsNone(r.str())
        self.assertEqual(self.handshake(c, 1, "PLAIN")[0], 34)
        Reader(c.call(3, 0, i32(0)))           # Metadata v0: served
        c.close()
        # v0: bare tokens; a wrong one is closed without an answer
        c = Raw(port)
        self.assertEqual(self.handshake(c, 0, "PLAIN")[0], 0)
        tok = b"\0alice\0" + USERS["alice"].encode()
        c.send(i32(len(tok)) + tok)
        self.assertEqual(c.recv_exact(4), b"\0\0\0\0")         # PLAIN: empty
        Reader(c.call(3, 0, i32(0)))
        c.close()
        c = Raw(port)
        self.assertEqual(self.handshake(c, 0, "PLAIN")[0], 0)
        t0 = time.monotonic()
        c.send(i32(10) + b"\0alice\0bad")
        self.assertTrue(c.closed_by_server(scaled(5)))
        self.assertGreaterEqual(time.monotonic() - t0, DELAY_MS / 1000.0 * 0.9)
        c.close()


if __name__ == "__main__":
    main()
