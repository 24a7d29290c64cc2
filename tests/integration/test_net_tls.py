"""Listeners and TLS (issue 14): [net] listeners with PLAINTEXT and SSL at
once, each advertising its own port in Metadata; kcat, kafka-python and
confluent-kafka producing and consuming over SSL, with a topic large
enough (20 MB) that fetches go through the TLS slice path (kernel TLS or
the user-space buffer) and the bytes match; [tls] client_auth = required
(a client without a certificate is refused, one with a certificate gets its
subject as principal); a plaintext client on the TLS port and a TLS client
on the plaintext port are refused with a server log line while another
client keeps working; a handshake is bounded by request_timeout_ms; a
non-loopback listener without authentication (and a non-loopback metrics
endpoint without a token) refuses to start unless allow_anonymous; SIGHUP
reloads the certificate (checked with openssl s_client), a bad new one
keeps the old; the metrics endpoint with a bearer token and over HTTPS.

Certificates are made in the test with /usr/bin/openssl: a CA, a server
certificate for 127.0.0.1 and localhost (subjectAltName), a client
certificate CN=alice,OU=eng,O=acme."""
import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import free_port, main, run, scaled, wait_for  # noqa: E402
from netutil import KCAT, NetTestCase  # noqa: E402

OPENSSL = "/usr/bin/openssl"

EXT = """[srv]
subjectAltName = IP:127.0.0.1, DNS:localhost
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
[cli]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
"""


def make_certs(d):
    """CA, server and client certificates in d; returns a dict of paths."""
    p = {k: os.path.join(d, k) for k in
         ("ca.pem", "ca.key", "srv.pem", "srv.key", "cli.pem", "cli.key",
          "ext.cnf")}
    with open(p["ext.cnf"], "w") as f:
        f.write(EXT)
    run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         p["ca.key"], "-out", p["ca.pem"], "-days", "2", "-subj", "/CN=topicfs test CA"])
    issue(p, "srv", "/CN=localhost")
    issue(p, "cli", "/O=acme/OU=eng/CN=alice")
    return p


def issue(p, name, subject, out=None):
    """A certificate and key signed by the test CA (out: another prefix)."""
    d = os.path.dirname(p["ca.pem"])
    stem = os.path.join(d, out or name)
    run([OPENSSL, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", stem + ".key",
         "-out", stem + ".csr", "-subj", subject])
    run([OPENSSL, "x509", "-req", "-in", stem + ".csr", "-CA", p["ca.pem"], "-CAkey",
         p["ca.key"], "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
         "-out", stem + ".pem", "-days", "2", "-extfile", p["ext.cnf"],
         "-extensions", name])
    return stem + ".pem", stem + ".key"


def served_serial(port):
    """The serial of the certificate the server presents, via s_client."""
    r = run("%s s_client -connect 127.0.0.1:%d -servername localhost </dev/null "
            "2>/dev/null | %s x509 -noout -serial" % (OPENSSL, port, OPENSSL),
            check=False, timeout=20)
    m = re.search(r"serial=([0-9A-F]+)", r.stdout.decode())
    return m.group(1) if m else None


def file_serial(path):
    r = run([OPENSSL, "x509", "-in", path, "-noout", "-serial"])
    return re.search(r"serial=([0-9A-F]+)", r.stdout.decode()).group(1)


class NetTls(NetTestCase):

    def setUp(self):
        super().setUp()
        self.certs = make_certs(self.root)
        self.plain_port = self.daemon.port
        self.ssl_port = free_port()

    # ---- helpers ---------------------------------------------------------

    def start_listeners(self, extra=None, tls=None, listeners=None):
        net = {"listeners": listeners or "PLAINTEXT://127.0.0.1:%d, SSL://127.0.0.1:%d"
               % (self.plain_port, self.ssl_port)}
        net.update(extra or {})
        t = {"cert_file": self.certs["srv.pem"], "key_file": self.certs["srv.key"]}
        t.update(tls or {})
        return self.start({"net": net, "tls": t, "log": {"level": "debug"}})

    def ssl_args(self, port=None, cert=False):
        a = [KCAT, "-b", "127.0.0.1:%d" % (port or self.ssl_port), "-X",
             "security.protocol=SSL", "-X", "ssl.ca.location=" + self.certs["ca.pem"]]
        if cert:
            a += ["-X", "ssl.certificate.location=" + self.certs["cli.pem"],
                  "-X", "ssl.key.location=" + self.certs["cli.key"]]
        return a

    def log(self):
        return self.daemon.read_log()

    def status(self):
        with open(self.daemon.path(".status")) as f:
            return dict(line.rstrip("\n").split(" ", 1) for line in f
                        if " " in line and not line.startswith(" "))

    def fill(self, topic, nbytes):
        """Lines of 100 bytes into topic via the mount; returns the bytes."""
        os.mkdir(self.daemon.path(topic))
        n = nbytes // 100
        data = b"".join(b"%08d " % i + b"x" * 90 + b"\n" for i in range(n))
        with open(self.daemon.path(topic, "0"), "ab") as f:
            for off in range(0, len(data), 1 << 20):
                f.write(data[off:off + (1 << 20)])
        return data

    # ---- tests -----------------------------------------------------------

    def test_two_listeners_clients_and_large_fetch(self):
        self.start_listeners()
        # Metadata via each listener advertises that listener's port
        for port, args in ((self.plain_port, [KCAT, "-b", "127.0.0.1:%d" % self.plain_port]),
                           (self.ssl_port, self.ssl_args())):
            out = run(args + ["-L"], timeout=60).stdout.decode()
            self.assertIn("broker 0 at 127.0.0.1:%d" % port, out, out)
        st = self.status()
        self.assertEqual(st["net_listeners"], "PLAINTEXT://127.0.0.1:%d SSL://127.0.0.1:%d"
                         % (self.plain_port, self.ssl_port))
        self.assertIn(st["tls_mode"], ("kernel", "user"))
        self.assertIn("tls: kernel TLS", self.log())

        data = self.fill("big", 20 * 1000 * 1000)
        nlines = data.count(b"\n")
        digest = hashlib.sha256(data).hexdigest()
        # kcat over SSL: every byte of 20 MB
        r = run(self.ssl_args() + ["-C", "-t", "big", "-p", "0", "-o", "beginning",
                                   "-e", "-q", "-X", "fetch.max.bytes=4194304"], timeout=300)
        self.assertEqual(len(r.stdout), len(data))
        self.assertEqual(hashlib.sha256(r.stdout).hexdigest(), digest)
        # confluent-kafka over SSL
        from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
        conf = {"bootstrap.servers": "127.0.0.1:%d" % self.ssl_port,
                "security.protocol": "SSL", "ssl.ca.location": self.certs["ca.pem"]}
        c = Consumer(dict(conf, **{"group.id": "tls-g", "enable.auto.commit": False}))
        try:
            c.assign([TopicPartition("big", 0, OFFSET_BEGINNING)])
            h, got = hashlib.sha256(), 0
            deadline = time.monotonic() + scaled(300)
            while got < nlines and time.monotonic() < deadline:
                m = c.poll(1.0)
                if m is None:
                    continue
                self.assertIsNone(m.error())
                h.update(m.value() + b"\n")
                got += 1
            self.assertEqual(got, nlines)
            self.assertEqual(h.hexdigest(), digest)
        finally:
            c.close()
        os.mkdir(self.daemon.path("small"))
        p = Producer(dict(conf, **{"linger.ms": 5}))
        errors = []
        for i in range(50):
            p.produce("small", value=b"ck %d" % i, partition=0,
                      on_delivery=lambda err, msg: err and errors.append(err))
        self.assertEqual(p.flush(scaled(30)), 0)
        self.assertEqual(errors, [])
        # kafka-python over SSL
        from kafka import KafkaConsumer, KafkaProducer
        from kafka import TopicPartition as KTP
        kconf = dict(bootstrap_servers="127.0.0.1:%d" % self.ssl_port,
                     security_protocol="SSL", ssl_cafile=self.certs["ca.pem"])
        prod = KafkaProducer(acks=1, linger_ms=5, **kconf)
        try:
            for i in range(50):
                prod.send("small", value=b"kp %d" % i, partition=0)
            prod.flush(scaled(20))
        finally:
            prod.close(5)
        kc = KafkaConsumer(group_id=None, consumer_timeout_ms=int(scaled(10000)),
                           fetch_max_bytes=8 << 20, max_partition_fetch_bytes=4 << 20,
                           **kconf)
        try:
            tp = KTP("big", 0)
            kc.assign([tp])
            kc.seek_to_beginning(tp)
            h, got = hashlib.sha256(), 0
            for m in kc:
                h.update(m.value + b"\n")
                got += 1
                if got == nlines:
                    break
            self.assertEqual(got, nlines)
            self.assertEqual(h.hexdigest(), digest)
        finally:
            kc.close()
        # kcat produce over SSL, then everything is in the file
        run(self.ssl_args() + ["-P", "-t", "small", "-p", "0"],
            input=b"".join(b"kc %d\n" % i for i in range(50)))
        with open(self.daemon.path("small", "0"), "rb") as f:
            lines = f.read().split(b"\n")[:-1]
        self.assertEqual(lines, [b"ck %d" % i for i in range(50)] +
                         [b"kp %d" % i for i in range(50)] +
                         [b"kc %d" % i for i in range(50)])
        self.assertNotIn("refused:", self.log())
        self.assertIn("TLS handshake done on SSL listener", self.log())

    def test_client_auth_required(self):
        self.daemon.port = self.ssl_port        # what the harness waits for
        self.start_listeners(listeners="SSL://127.0.0.1:%d" % self.ssl_port,
                             tls={"client_auth": "required",
                                  "ca_file": self.certs["ca.pem"]})
        r = run(self.ssl_args() + ["-L", "-m", "5"], check=False, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        wait_for(lambda: "TLS handshake failed" in self.log(), 10,
                 what="the refused handshake in the log")
        r = run(self.ssl_args(cert=True) + ["-L"], timeout=60)
        self.assertIn(b"broker 0 at 127.0.0.1:%d" % self.ssl_port, r.stdout)
        wait_for(lambda: "principal User:CN=alice,OU=eng,O=acme" in self.log(), 10,
                 what="the client certificate's principal in the log")

    def test_wrong_protocol_clients_are_refused(self):
        self.start_listeners(extra={"request_timeout_ms": "1000"})
        from confluent_kafka import Producer
        good = Producer({"bootstrap.servers": "127.0.0.1:%d" % self.ssl_port,
                         "security.protocol": "SSL",
                         "ssl.ca.location": self.certs["ca.pem"], "linger.ms": 0})
        os.mkdir(self.daemon.path("w"))
        good.produce("w", value=b"before", partition=0)
        self.assertEqual(good.flush(scaled(30)), 0)
        # a plaintext client on the TLS port
        r = run([KCAT, "-b", "127.0.0.1:%d" % self.ssl_port, "-L", "-m", "3"],
                check=False, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        wait_for(lambda: "a plaintext client on a TLS listener?" in self.log(), 10,
                 what="the plaintext-client log line")
        # a TLS client on the plaintext port
        r = run(self.ssl_args(port=self.plain_port) + ["-L", "-m", "3"],
                check=False, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        wait_for(lambda: "TLS client on a PLAINTEXT listener" in self.log(), 10,
                 what="the TLS-client log line")
        # a client that connects to the TLS port and says nothing: closed
        # after request_timeout_ms
        s = socket.create_connection(("127.0.0.1", self.ssl_port), 5)
        s.settimeout(scaled(10))
        t0 = time.monotonic()
        self.assertEqual(s.recv(1), b"")
        self.assertLess(time.monotonic() - t0, scaled(8))
        s.close()
        self.assertIn("TLS handshake not complete after 1000 ms", self.log())
        # the open connection kept working through all of it
        good.produce("w", value=b"after", partition=0)
        self.assertEqual(good.flush(scaled(30)), 0)
        with open(self.daemon.path("w", "0"), "rb") as f:
            self.assertEqual(f.read(), b"before\nafter\n")
        self.assertGreaterEqual(int(self.status()["tls_handshake_failures"]), 2)

    def refused(self, config, *want):
        """The daemon refuses to start with config; the log has want."""
        self.daemon.config = {"storage": {}, "fs": {}, "net": {}}
        for sec, kv in config.items():
            self.daemon.config.setdefault(sec, {}).update(kv)
        self.daemon.start(wait=False)
        try:
            rc = self.daemon.proc.wait(scaled(20))
        finally:
            self.daemon.kill()
        self.assertNotEqual(rc, 0)
        log = self.log()
        for w in want:
            self.assertIn(w, log)
        return log

    def test_refusals_at_start(self):
        port = self.plain_port
        tls = {"cert_file": self.certs["srv.pem"], "key_file": self.certs["srv.key"]}
        self.refused({"net": {"listeners": "PLAINTEXT://0.0.0.0:%d" % port,
                              "allow_wildcard_bind": "true"}},
                     "[net] listeners: PLAINTEXT://0.0.0.0:%d is not on loopback" % port,
                     "allow_anonymous")
        self.refused({"net": {"listeners": "SSL://0.0.0.0:%d" % port,
                              "allow_wildcard_bind": "true"}, "tls": tls},
                     "no authentication", "client_auth = required")
        self.refused({"net": {"listen": "0.0.0.0:%d" % port, "allow_wildcard_bind": "true"}},
                     "[net] listen: PLAINTEXT://0.0.0.0:%d is not on loopback" % port)
        self.refused({"net": {"listeners": "SASL_SSL://127.0.0.1:%d" % port}, "tls": tls},
                     "SASL")
        self.refused({"net": {"listeners": "SSL://127.0.0.1:%d" % port}},
                     "[tls] cert_file: not set")
        self.refused({"net": {"listeners": "FOO://127.0.0.1:%d" % port}},
                     "topicfs.ini:", "[net] listeners: unknown security protocol 'FOO'")
        self.refused({"net": {"listeners": "PLAINTEXT://127.0.0.1:1, PLAINTEXT://127.0.0.1:2"}},
                     "PLAINTEXT given twice")
        self.refused({"net": {"listeners": "SSL://127.0.0.1:%d" % port},
                      "tls": dict(tls, client_auth="sometimes")},
                     "[tls] client_auth: value 'sometimes' is not none, requested or required")
        self.refused({"net": {"listeners": "SSL://127.0.0.1:%d" % port},
                      "tls": dict(tls, client_auth="required")},
                     "[tls] client_auth: client certificates need [tls] ca_file")
        self.refused({"net": {"allow_wildcard_bind": "true"},
                      "metrics": {"listen": "0.0.0.0:%d" % free_port()}},
                     "[metrics] listen", "token_file")
        bad_key = os.path.join(self.root, "bad.key")
        with open(bad_key, "w") as f:
            f.write("not a key\n")
        self.refused({"net": {"listeners": "SSL://127.0.0.1:%d" % port},
                      "tls": dict(tls, key_file=bad_key)},
                     "tls: key %s" % bad_key)
        # allowed: SSL with required client certificates on every interface,
        # and PLAINTEXT there with allow_anonymous
        self.daemon.config = {"storage": {}, "fs": {}, "net": {}}
        self.daemon.port = free_port()
        self.start({"net": {"listeners": "SSL://0.0.0.0:%d, PLAINTEXT://0.0.0.0:%d"
                            % (port, self.daemon.port),
                            "allow_wildcard_bind": "true", "allow_anonymous": "true"},
                    "tls": dict(tls, client_auth="required", ca_file=self.certs["ca.pem"])})
        self.assertIn("net: listening on 0.0.0.0:%d (SSL" % port, self.log())

    def test_sighup_reloads_the_certificate(self):
        self.start_listeners()
        old = file_serial(self.certs["srv.pem"])
        self.assertEqual(served_serial(self.ssl_port), old)
        # a new certificate in place of the old files
        pem, key = issue(self.certs, "srv", "/CN=localhost", out="srv2")
        new = file_serial(pem)
        self.assertNotEqual(new, old)
        os.replace(pem, self.certs["srv.pem"])
        os.replace(key, self.certs["srv.key"])
        self.daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: served_serial(self.ssl_port) == new, 20,
                 what="the new certificate to be served")
        self.assertIn("tls: reloaded certificate", self.log())
        self.assertIsNone(self.daemon.proc.poll())
        # a broken certificate: the last good one stays
        with open(self.certs["srv.pem"], "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
        self.daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "tls: reload failed, keeping the previous certificate"
                 in self.log(), 20, what="the failed reload in the log")
        self.assertEqual(served_serial(self.ssl_port), new)
        r = run(self.ssl_args() + ["-L"], timeout=60)
        self.assertIn(b"broker 0 at 127.0.0.1:%d" % self.ssl_port, r.stdout)

    def test_metrics_token_and_https(self):
        token = os.path.join(self.root, "token")
        with open(token, "w") as f:
            f.write("s3cret-token\n")
        mport = free_port()
        self.daemon.config["metrics"] = {"listen": "127.0.0.1:%d" % mport,
                                         "token_file": token, "tls": "true"}
        self.start_listeners()
        ctx = ssl.create_default_context(cafile=self.certs["ca.pem"])
        url = "https://127.0.0.1:%d/metrics" % mport
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(url, context=ctx, timeout=scaled(10))
        self.assertEqual(cm.exception.code, 401)
        req = urllib.request.Request(url, headers={"Authorization": "Bearer nope"})
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, context=ctx, timeout=scaled(10))
        self.assertEqual(cm.exception.code, 401)
        req = urllib.request.Request(url, headers={"Authorization": "Bearer s3cret-token"})
        body = urllib.request.urlopen(req, context=ctx, timeout=scaled(10)).read().decode()
        self.assertIn('topicfs_tls_connections{mode="user"}', body)
        self.assertRegex(body, r'topicfs_tls_mode\{mode="(kernel|user)"\} 1')
        self.assertIn("topicfs_tls_handshake_failures_total", body)
        self.assertIn("bearer token required", self.log())


if __name__ == "__main__":
    main()
