"""SASL_SSL (issue 14): SASL over TLS on one loopback listener, with a CA and
server certificate made in the test by openssl (make_certs of
test_net_tls.py) and users made with `topicfs-admin user add` (password on
stdin).  kcat (SCRAM-SHA-512 and PLAIN), kafka-python 2.0.2 (SaslHandshake
v0 + bare tokens inside TLS) and confluent-kafka (a group consumer) produce
and consume; an authenticated client sends a record larger than the
pre-authentication cap.  Refused, with a clear client-side error and a
server log line while a good client keeps working: a wrong password (kcat,
kafka-python, confluent-kafka), and a plaintext client on the SASL_SSL
port.  The pre-authentication size cap (Kafka's sasl.server.max.receive.size,
512 KiB): a 1 MiB size prefix from a client that has not logged in closes
the connection at once, before its body is sent (so before any memory is
reserved for it), over TLS and on a SASL_PLAINTEXT listener of the same
daemon, which keeps serving.

The test users are super users (no ACL is needed for what they do)."""
import os
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import free_port, main, run, scaled, tool, wait_for  # noqa: E402
from netutil import KCAT, NetTestCase  # noqa: E402
from test_net_tls import make_certs  # noqa: E402

USERS = {"alice": "wonder land", "bob": "b0b-pass"}
DELAY_MS = 300
CAP = 512 * 1024


class SaslSsl(NetTestCase):

    def setUp(self):
        super().setUp()
        self.certs = make_certs(self.root)
        self.port = self.daemon.port            # SASL_SSL
        self.plain_port = free_port()           # SASL_PLAINTEXT (the raw cap test)
        self.admin_bin = tool("topicfs-admin")

    def add_user(self, name, password):
        run([self.admin_bin, "-c", self.daemon.ini, "user", "add", name],
            input=(password + "\n").encode())

    def start_sasl_ssl(self):
        d = self.daemon
        d.config["net"].update({
            "listeners": "SASL_SSL://127.0.0.1:%d, SASL_PLAINTEXT://127.0.0.1:%d"
                         % (self.port, self.plain_port),
            "auto_create_topics": "true"})
        d.config["tls"] = {"cert_file": self.certs["srv.pem"],
                           "key_file": self.certs["srv.key"]}
        d.config["sasl"] = {"super_users": "User:alice, User:bob",
                            "failed_delay_ms": str(DELAY_MS)}
        d.write_config()
        for name, pw in USERS.items():
            self.add_user(name, pw)
        d.start()

    def kcat(self, mech, user, password, *args, input=None, check=True, timeout=60,
             proto="SASL_SSL"):
        cmd = [KCAT, "-b", "127.0.0.1:%d" % self.port,
               "-X", "security.protocol=" + proto,
               "-X", "ssl.ca.location=" + self.certs["ca.pem"],
               "-X", "sasl.mechanisms=" + mech,
               "-X", "sasl.username=" + user, "-X", "sasl.password=" + password]
        return run(cmd + list(args), input=input, timeout=timeout, check=check)

    def conf(self, user="bob", password=USERS["bob"], mech="SCRAM-SHA-512"):
        return {"bootstrap.servers": "127.0.0.1:%d" % self.port,
                "security.protocol": "SASL_SSL",
                "ssl.ca.location": self.certs["ca.pem"],
                "sasl.mechanisms": mech, "sasl.username": user,
                "sasl.password": password}

    def log(self):
        return self.daemon.read_log()

    # ---------------------------------------------------------------- kcat

    def test_kcat_scram_and_plain(self):
        self.start_sasl_ssl()
        for i, mech in enumerate(("SCRAM-SHA-512", "PLAIN")):
            topic = "k%d" % i
            self.kcat(mech, "alice", USERS["alice"], "-P", "-t", topic,
                      input=b"one-%d\ntwo-%d\n" % (i, i))
            out = self.kcat(mech, "bob", USERS["bob"], "-C", "-t", topic, "-e", "-q",
                            "-o", "beginning").stdout.decode().split("\n")[:-1]
            self.assertEqual(out, ["one-%d" % i, "two-%d" % i], mech)
        with open(self.daemon.path("k0", "0")) as f:
            self.assertEqual(f.read(), "one-0\ntwo-0\n")

    # --------------------------------------------------------- kafka-python

    def test_kafka_python_produce_consume(self):
        from kafka import KafkaConsumer, KafkaProducer
        from kafka.errors import KafkaError
        self.start_sasl_ssl()
        boot = "127.0.0.1:%d" % self.port
        sec = dict(security_protocol="SASL_SSL", ssl_cafile=self.certs["ca.pem"],
                   sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice",
                   sasl_plain_password=USERS["alice"])
        p = KafkaProducer(bootstrap_servers=boot, **sec)
        for n in range(5):
            p.send("py", b"m%d" % n).get(timeout=30)
        p.close()
        c = KafkaConsumer("py", bootstrap_servers=boot, group_id="pyg",
                          auto_offset_reset="earliest", consumer_timeout_ms=8000, **sec)
        got = [m.value for m in c]
        c.commit()
        c.close()
        self.assertEqual(got, [b"m%d" % n for n in range(5)])
        # a wrong password: the client fails, the server logs the attempt
        bad = dict(sec, sasl_plain_password="nope")
        with self.assertRaises((KafkaError, Exception)):
            KafkaProducer(bootstrap_servers=boot, max_block_ms=3000,
                          request_timeout_ms=3000, **bad).send("py", b"z").get(timeout=10)
        wait_for(lambda: 'authentication failed: user "alice", SCRAM-SHA-512'
                 in self.log(), scaled(10), what="the failed login's log line")

    # ------------------------------------------------------- confluent-kafka

    def test_confluent_kafka_group_and_large_record(self):
        from confluent_kafka import Consumer, Producer
        self.start_sasl_ssl()
        p = Producer(self.conf())
        for n in range(5):
            p.produce("ck", b"c%d" % n, partition=0)
        # once logged in, a request may be larger than the pre-login cap
        big = b"B" * (700 * 1024)
        p.produce("ck", big, partition=0)
        self.assertEqual(p.flush(scaled(30)), 0)
        c = Consumer(dict(self.conf(), **{"group.id": "ckg",
                                          "auto.offset.reset": "earliest"}))
        c.subscribe(["ck"])
        got = []
        deadline = time.monotonic() + scaled(40)
        while len(got) < 6 and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None and not m.error():
                got.append(m.value())
        c.commit(asynchronous=False)
        c.close()
        self.assertEqual(got, [b"c%d" % n for n in range(5)] + [big])

    # ------------------------------------------------------------ refusals

    def test_refusals_and_others_keep_working(self):
        from confluent_kafka import Producer
        self.start_sasl_ssl()
        good = Producer(dict(self.conf(), **{"linger.ms": 0}))
        good.produce("r", b"before", partition=0)
        self.assertEqual(good.flush(scaled(30)), 0)
        # kcat, wrong password: a clear error after the delay, a log line
        for mech in ("SCRAM-SHA-512", "PLAIN"):
            t0 = time.monotonic()
            r = self.kcat(mech, "alice", "wrong", "-L", "-m", "5", check=False)
            self.assertNotEqual(r.returncode, 0, mech)
            self.assertIn("Authentication failed", r.stderr.decode(), mech)
            self.assertGreaterEqual(time.monotonic() - t0, DELAY_MS / 1000.0 * 0.9)
            wait_for(lambda: 'authentication failed: user "alice", %s' % mech
                     in self.log(), scaled(10), what="the %s log line" % mech)
        # confluent-kafka, wrong password: an authentication error callback
        errors = []
        bad = Producer(dict(self.conf(password="bad"), error_cb=errors.append))
        wait_for(lambda: bad.poll(0.2) is not None and any(
            "Authentication failed" in str(e) for e in errors), scaled(20),
            what="an authentication error callback")
        # a plaintext client (SASL_PLAINTEXT) on the SASL_SSL port
        r = self.kcat("SCRAM-SHA-512", "alice", USERS["alice"], "-L", "-m", "3",
                      check=False, proto="SASL_PLAINTEXT")
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr.decode(), r"(?i)ssl listener|disconnect|transport")
        wait_for(lambda: "a plaintext client on a TLS listener?" in self.log(),
                 scaled(10), what="the plaintext-client log line")
        # the open connection kept working through all of it
        good.produce("r", b"after", partition=0)
        self.assertEqual(good.flush(scaled(30)), 0)
        with open(self.daemon.path("r", "0"), "rb") as f:
            self.assertEqual(f.read(), b"before\nafter\n")

    # ------------------------------------------------- pre-login size cap

    def assert_cap(self, sock, what):
        """A size prefix over the cap and nothing else: closed at once,
        without the server waiting for the body (request_timeout_ms is
        30 s), which is what it would do had it reserved the memory."""
        sock.sendall(struct.pack(">i", 1 << 20))
        sock.settimeout(scaled(5))
        t0 = time.monotonic()
        try:
            self.assertEqual(sock.recv(1), b"", what)
        except (ConnectionResetError, ssl.SSLError):
            pass
        self.assertLess(time.monotonic() - t0, scaled(4), what)

    def test_pre_authentication_size_cap(self):
        self.start_sasl_ssl()
        line = ("request of 1048576 bytes before SASL authentication on a %s "
                "listener (at most 524288 until logged in)")
        # SASL_PLAINTEXT: a raw socket
        s = socket.create_connection(("127.0.0.1", self.plain_port), 5)
        self.assert_cap(s, "SASL_PLAINTEXT")
        s.close()
        wait_for(lambda: line % "SASL_PLAINTEXT" in self.log(), scaled(10),
                 what="the SASL_PLAINTEXT log line")
        # SASL_SSL: the same inside TLS
        ctx = ssl.create_default_context(cafile=self.certs["ca.pem"])
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.port), 5),
                            server_hostname="localhost")
        self.assert_cap(s, "SASL_SSL")
        s.close()
        wait_for(lambda: line % "SASL_SSL" in self.log(), scaled(10),
                 what="the SASL_SSL log line")
        # at the cap it is still read (then refused as no SASL request)
        s = socket.create_connection(("127.0.0.1", self.plain_port), 5)
        s.sendall(struct.pack(">i", CAP))
        s.settimeout(0.5)
        with self.assertRaises(socket.timeout):
            s.recv(1)
        s.close()
        # the server keeps serving
        self.kcat("SCRAM-SHA-512", "alice", USERS["alice"], "-P", "-t", "cap",
                  input=b"still here\n")
        out = self.kcat("PLAIN", "bob", USERS["bob"], "-C", "-t", "cap", "-e", "-q",
                        "-o", "beginning").stdout
        self.assertEqual(out, b"still here\n")
        self.assertIsNone(self.daemon.proc.poll())


if __name__ == "__main__":
    main()
