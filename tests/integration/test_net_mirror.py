"""Mirrors (issue 16): [mirror.NAME] push and pull between two topicfs
daemons, the edge (with the mirror) and the remote (a one-node Kafka
cluster to librdkafka), each with its own temp dirs and port.

- push: 100,000 lines written through the edge mount, the edge killed
  with kill -9 in the middle and restarted: the remote topic holds every
  line in order, and the only duplicates are exactly the records between
  the checkpointed offset (read from <data>/.mirror/up.checkpoint after
  the kill) and what the remote had received: remote = L[:k] + L[c:], c <= k;
  then the remote is stopped, writing goes on, the edge shows the error
  and the lag in .status and keeps serving its mount, and once the remote
  is back the mirror catches up with no further duplicate;
- push keeps keys, headers and timestamps, maps partition to partition
  (4 partitions), an unreachable cluster is an error in the log and
  .status (no crash), and a record the remote refuses (over its topic's
  max_message_bytes) stalls only its partition until the remote's limit is
  raised (AlterConfigs), then goes through;
- pull: a remote topic of 4 partitions into a local topic created with 4
  partitions, partition to partition, read with tail -f through the edge
  mount while new records arrive; keys, headers and timestamps kept; the
  local topic refuses writes through the mount (EROFS) and Produce
  (POLICY_VIOLATION); a restart resumes from the group's committed
  offsets without duplicates;
- SASL: a remote with a SASL_PLAINTEXT listener and a mirror with a wrong
  password: the authentication error in the edge's log and .status, no
  crash, the mount keeps working; restarted with the right password, the
  records written meanwhile arrive.
"""
import errno
import os
import socket
import urllib.request
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, LineReader, free_port, main, read_bytes,  # noqa: E402
                     scaled, tool, wait_for)
from netutil import NetTestCase  # noqa: E402

from confluent_kafka import KafkaError, Producer, TopicPartition, Consumer  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource  # noqa: E402


def line(i):
    return b"%06d\n" % i


def lines(a, b):
    return b"".join(line(i) for i in range(a, b))


def append_lines(path, a, b, chunk=500):
    """Lines a..b-1, chunk lines per write(2); returns the next line not
    acknowledged (b unless a write failed)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        for s in range(a, b, chunk):
            e = min(b, s + chunk)
            os.write(fd, lines(s, e))
    finally:
        os.close(fd)
    return b


def status(d):
    return read_bytes(d.path(".status")).decode()


def mirror_row(d, name):
    for ln in status(d).splitlines():
        f = ln.split(" ", 7)
        if len(f) == 8 and f[0] == name and f[1] in ("push", "pull"):
            return {"direction": f[1], "state": f[2], "records": int(f[3]),
                    "errors": int(f[4]), "skipped": int(f[5]), "error": f[7]}
    return None


def lag_rows(d, name):
    out = {}
    sec = False
    for ln in status(d).splitlines():
        if ln == "mirror topic partition mirrored end lag":
            sec = True
            continue
        f = ln.split()
        if sec and len(f) == 6 and f[0] == name:
            out[(f[1], int(f[2]))] = (int(f[3]), int(f[4]), int(f[5]))
    return out


class NetMirror(NetTestCase):

    def remote_daemon(self, config=None):
        root = os.path.join(self.root, "remote")
        os.makedirs(root, exist_ok=True)
        cfg = {"groups": {"initial_rebalance_delay_ms": "0"}}
        for k, v in (config or {}).items():
            cfg.setdefault(k, {}).update(v)
        r = Daemon(root, cfg)
        self.addCleanup(r.kill)
        return r

    def log(self, d):
        with open(d.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    # ------------------------------------------------------------------ push

    def test_push_kill9_restart_and_outage(self):
        remote = self.remote_daemon()
        remote.start()
        n, half = 100000, 50000
        self.start({"topic.lines": {"partitions": "1"},
                    "mirror.up": {"direction": "push",
                                  "bootstrap_servers": "127.0.0.1:%d" % remote.port,
                                  "topics": "lines", "remote_prefix": "edge."}})
        src = self.daemon.path("lines", "0")
        dst = remote.path("edge.lines", "0")
        append_lines(src, 0, half)
        # kill -9 while the mirror is on its way
        wait_for(lambda: os.path.exists(dst) and len(read_bytes(dst)) >= 7 * 20000,
                 60, interval=0.005, what="the push to start")
        self.daemon.kill()
        ckpt_path = os.path.join(self.daemon.data, ".mirror", "up.checkpoint")
        with open(ckpt_path) as f:
            ckpt = f.read().split("\n")
        self.assertEqual(ckpt[0], "topicfs-mirror-checkpoint 1")
        c = int(ckpt[1].split()[2])
        self.assertEqual(ckpt[1].split()[:2], ["lines", "0"])
        self.daemon.start()
        append_lines(src, half, n)
        expect_total = None

        def remote_lines():
            return read_bytes(dst).split(b"\n")[:-1]

        # every line arrives: the last one is there
        wait_for(lambda: read_bytes(dst).endswith(line(n - 1)), 120,
                 interval=0.2, what="all 100,000 lines at the remote")
        got = [int(x) for x in remote_lines()]
        # remote = L[:k] + L[c:], with c <= k: one run of duplicates, exactly
        # from the checkpoint to what the remote had received
        k = next((i for i in range(1, len(got)) if got[i] != got[i - 1] + 1), len(got))
        self.assertEqual(got[:k], list(range(k)))
        if k < len(got):
            self.assertEqual(got[k], c, "resent from the checkpoint")
        self.assertLessEqual(c, k)
        self.assertEqual(got[k:], list(range(c if k < len(got) else k, n)))
        dups = k - c if k < len(got) else 0
        self.assertEqual(len(got), n + dups)
        sys.stderr.write("push: %d lines, killed with %d at the remote, checkpoint %d: "
                         "%d duplicates\n" % (n, k, c, dups))
        expect_total = len(got)
        wait_for(lambda: lag_rows(self.daemon, "up").get(("lines", 0), (0, 0, 1))[2] == 0,
                 20, what="lag 0")

        # the remote goes away: the edge keeps serving and shows the error
        remote.stop()
        t0 = time.monotonic()
        append_lines(src, n, n + 5000)
        self.assertTrue(read_bytes(src).endswith(line(n + 4999)))
        wait_for(lambda: (mirror_row(self.daemon, "up") or {}).get("state") == "error",
                 30, what="state error in .status")
        row = mirror_row(self.daemon, "up")
        self.assertRegex(row["error"], r"(?i)connect|refused|down|transport")
        wait_for(lambda: lag_rows(self.daemon, "up")[("lines", 0)][2] == 5000, 10,
                 what="lag 5000 in .status")
        self.assertIn("mirror up: ", self.log(self.daemon))
        time.sleep(2)
        self.assertIsNone(self.daemon.proc.poll())
        remote.start()
        wait_for(lambda: read_bytes(dst).endswith(line(n + 4999)), 60, interval=0.1,
                 what="the catch-up")
        catchup = time.monotonic() - t0
        got2 = [int(x) for x in remote_lines()]
        self.assertEqual(got2[:expect_total], got)
        self.assertEqual(got2[expect_total:], list(range(n, n + 5000)),
                         "no duplicates after the outage")
        wait_for(lambda: mirror_row(self.daemon, "up")["state"] == "ok", 20, what="ok")
        sys.stderr.write("push: outage of the remote with 5000 lines waiting: caught "
                         "up %.1f s after the stop\n" % catchup)

    def test_push_partitions_headers_unreachable_and_refused(self):
        remote = self.remote_daemon({"topic.big": {"max_message_bytes": "1K"}})
        remote.start()
        # a port nobody listens on
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
        s.close()
        dead = "127.0.0.1:%d" % dead_port
        self.start({"topic.ev": {"partitions": "4"},
                    "topic.big": {"partitions": "1"},
                    "mirror.up": {"direction": "push",
                                  "bootstrap_servers": "127.0.0.1:%d" % remote.port,
                                  "topics": "ev, bi?", "acks": "all"},
                    "mirror.dead": {"direction": "push", "bootstrap_servers": dead,
                                    "topics": "ev"}})
        # keys, headers and timestamps through Produce into the edge
        p = Producer({"bootstrap.servers": "127.0.0.1:%d" % self.daemon.port})
        recs = []
        for part in range(4):
            for i in range(5):
                key = None if i == 0 else b"k%d-%d" % (part, i)
                hdrs = [("h", b"v%d" % i), ("n", None)] if i % 2 else None
                ts = 1700000000000 + part * 100 + i
                p.produce("ev", value=b"p%d-%d" % (part, i), key=key, headers=hdrs,
                          partition=part, timestamp=ts)
                recs.append((part, key, b"p%d-%d" % (part, i), hdrs, ts))
        self.assertEqual(p.flush(30), 0)
        for part in range(4):
            dst = remote.path("ev", str(part))
            wait_for(lambda: os.path.exists(dst) and read_bytes(dst).count(b"\n") == 5,
                     30, what="partition %d at the remote" % part)
            self.assertEqual(read_bytes(dst),
                             b"".join(b"p%d-%d\n" % (part, i) for i in range(5)))
        c = Consumer({"bootstrap.servers": "127.0.0.1:%d" % remote.port,
                      "group.id": "check", "enable.auto.commit": False})
        c.assign([TopicPartition("ev", q, 0) for q in range(4)])
        seen = []
        deadline = time.monotonic() + scaled(30)
        while len(seen) < 20 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            seen.append((m.partition(), m.key(), m.value(), m.headers(),
                         m.timestamp()[1]))
        c.close()
        self.assertEqual(sorted(seen, key=lambda r: (r[0], r[2])),
                         sorted(recs, key=lambda r: (r[0], r[2])))

        # unreachable: an error in the log and .status, the mount works
        wait_for(lambda: (mirror_row(self.daemon, "dead") or {}).get("state") == "error",
                 20, what="the dead mirror's error")
        self.assertRegex(mirror_row(self.daemon, "dead")["error"], r"(?i)refused|down")
        self.assertRegex(self.log(self.daemon), r"mirror dead: .*(refused|down|transport)")
        wait_for(lambda: lag_rows(self.daemon, "dead").get(("ev", 0), (0, 0, 0))[2] == 5,
                 10, what="lag 5 of the dead mirror")

        # refused by the remote: a record over big's max_message_bytes (1K)
        big = self.daemon.path("big", "0")
        with open(big, "ab") as f:
            f.write(b"small\n")
        wait_for(lambda: os.path.exists(remote.path("big", "0")) and
                 read_bytes(remote.path("big", "0")) == b"small\n", 30, what="small")
        with open(big, "ab") as f:
            f.write(b"x" * 3000 + b"\n")
        with open(big, "ab") as f:
            f.write(b"after\n")
        wait_for(lambda: "too large" in (mirror_row(self.daemon, "up") or {}).get(
            "error", "").lower(), 30, what="MESSAGE_TOO_LARGE in .status")
        wait_for(lambda: lag_rows(self.daemon, "up").get(("big", 0), (0, 0, 0))[2] == 2,
                 10, what="lag 2 on big/0")
        self.assertEqual(read_bytes(remote.path("big", "0")), b"small\n")
        admin = AdminClient({"bootstrap.servers": "127.0.0.1:%d" % remote.port})
        res = ConfigResource("topic", "big", set_config={"max.message.bytes": "1048576"})
        for f in admin.alter_configs([res]).values():
            f.result(30)
        wait_for(lambda: read_bytes(remote.path("big", "0")) ==
                 b"small\n" + b"x" * 3000 + b"\nafter\n", 30, what="the refused record")
        self.assertIsNone(self.daemon.proc.poll())
        self.assertEqual(self.daemon.stop(), 0)

    def test_push_sasl_wrong_then_right_password(self):
        """The remote listens on SASL_PLAINTEXT (loopback) with a user made by
        topicfs-admin; a mirror with a wrong password shows the
        authentication error in the log and .status and the edge keeps
        serving its mount; restarted with the right password, the records
        written meanwhile arrive."""
        remote = self.remote_daemon({"sasl": {"super_users": "User:edge",
                                              "failed_delay_ms": "100"}})
        remote.config["net"]["listeners"] = "SASL_PLAINTEXT://127.0.0.1:%d" % remote.port
        remote.write_config()
        subprocess.run([tool("topicfs-admin"), "-c", remote.ini, "user", "add", "edge"],
                       input=b"right-pw\n", check=True, capture_output=True, timeout=30)
        remote.start()
        mirror = {"direction": "push", "topics": "ev",
                  "bootstrap_servers": "127.0.0.1:%d" % remote.port,
                  "security_protocol": "sasl_plaintext",
                  "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "edge",
                  "sasl_password": "wrong-pw"}
        self.start({"topic.ev": {"partitions": "1"}, "mirror.up": mirror})
        src = self.daemon.path("ev", "0")
        append_lines(src, 0, 10)
        wait_for(lambda: "authentication failed" in (mirror_row(self.daemon, "up") or {})
                 .get("error", "").lower(), 20, what="the authentication error in .status")
        self.assertEqual(mirror_row(self.daemon, "up")["state"], "error")
        self.assertRegex(self.log(self.daemon),
                         r"mirror up: .*Authentication failed: Invalid username or password")
        wait_for(lambda: 'authentication failed: user "edge", SCRAM-SHA-512'
                 in self.log(remote), 10, what="the remote's log line")
        # no crash, the mount keeps working, nothing reached the remote
        append_lines(src, 10, 20)
        self.assertEqual(read_bytes(src), lines(0, 20))
        self.assertIsNone(self.daemon.proc.poll())
        self.assertFalse(os.path.exists(remote.path("ev")))
        # the right password: what was written meanwhile arrives
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.config["mirror.up"]["sasl_password"] = "right-pw"
        self.daemon.start()
        append_lines(src, 20, 30)
        wait_for(lambda: os.path.exists(remote.path("ev", "0")) and
                 read_bytes(remote.path("ev", "0")) == lines(0, 30), 30,
                 what="the records at the remote")
        wait_for(lambda: mirror_row(self.daemon, "up")["state"] == "ok", 20, what="ok")

    # ------------------------------------------------------------------ pull

    def test_pull_four_partitions_tail_f_and_read_only(self):
        remote = self.remote_daemon({"topic.events": {"partitions": "4"}})
        remote.start()
        for part in range(4):
            with open(remote.path("events", str(part)), "ab") as f:
                f.write(b"".join(b"r%d-%d\n" % (part, i) for i in range(100)))
        p = Producer({"bootstrap.servers": "127.0.0.1:%d" % remote.port})
        p.produce("events", value=b"with-headers", key=b"K", partition=2,
                  headers=[("a", b"1"), ("b", None)], timestamp=1600000000123)
        self.assertEqual(p.flush(30), 0)
        mport = free_port()
        self.start({"metrics": {"listen": "127.0.0.1:%d" % mport},
                    "mirror.down": {"direction": "pull",
                                    "bootstrap_servers": "127.0.0.1:%d" % remote.port,
                                    "topics": "ev*"}})
        wait_for(lambda: os.path.isdir(self.daemon.path("events")), 30,
                 what="the local topic")
        self.assertEqual(sorted(os.listdir(self.daemon.path("events"))),
                         ["0", "1", "2", "3"])
        tail = subprocess.Popen(["tail", "-c", "+1", "-f", self.daemon.path("events", "1")],
                                stdout=subprocess.PIPE)
        self.addCleanup(lambda: (tail.kill(), tail.wait(), tail.stdout.close()))
        reader = LineReader(tail.stdout)
        for i in range(100):
            self.assertEqual(reader.get(30), b"r1-%d\n" % i)
        # new remote records show up in tail -f
        for i in range(100, 110):
            with open(remote.path("events", "1"), "ab") as f:
                f.write(b"r1-%d\n" % i)
            self.assertEqual(reader.get(30), b"r1-%d\n" % i)
        for part in range(4):
            want = read_bytes(remote.path("events", str(part)))
            wait_for(lambda: read_bytes(self.daemon.path("events", str(part))) == want,
                     30, what="partition %d pulled" % part)
        # key, headers, timestamp kept
        c = Consumer({"bootstrap.servers": "127.0.0.1:%d" % self.daemon.port,
                      "group.id": "check", "enable.auto.commit": False})
        c.assign([TopicPartition("events", 2, 100)])
        m = None
        deadline = time.monotonic() + scaled(20)
        while m is None and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error():
                m = None
        c.close()
        self.assertIsNotNone(m)
        self.assertEqual((m.key(), m.value(), m.headers(), m.timestamp()[1]),
                         (b"K", b"with-headers", [("a", b"1"), ("b", None)],
                          1600000000123))
        # the target is read-only for everyone else
        with self.assertRaises(OSError) as cm:
            with open(self.daemon.path("events", "0"), "ab") as f:
                f.write(b"local\n")
        self.assertEqual(cm.exception.errno, errno.EROFS)
        errs = []
        p2 = Producer({"bootstrap.servers": "127.0.0.1:%d" % self.daemon.port,
                       "message.timeout.ms": 10000})
        p2.produce("events", value=b"x", partition=0,
                   on_delivery=lambda err, msg: errs.append(err))
        p2.flush(30)
        self.assertEqual(len(errs), 1)
        self.assertIsNotNone(errs[0])
        self.assertEqual(errs[0].code(), KafkaError.POLICY_VIOLATION)
        self.assertRegex(status(self.daemon), r"\ndown pull ok ")
        # a clean restart resumes from the committed offsets: no duplicates
        tail.kill()
        tail.wait()
        self.assertEqual(self.daemon.stop(), 0)
        with open(remote.path("events", "3"), "ab") as f:
            f.write(b"after-restart\n")
        self.daemon.start()
        want = read_bytes(remote.path("events", "3"))
        wait_for(lambda: read_bytes(self.daemon.path("events", "3")) == want, 30,
                 what="the record written while the edge was down")
        for part in range(4):
            self.assertEqual(read_bytes(self.daemon.path("events", str(part))),
                             read_bytes(remote.path("events", str(part))))
        wait_for(lambda: lag_rows(self.daemon, "down").get(("events", 3), (0, 0, 1))[2]
                 == 0, 20, what="lag 0 in .status")
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport,
                                      timeout=10).read().decode()
        self.assertIn('topicfs_mirror_lag{mirror="down",topic="events",partition="3"} 0',
                      body)
        self.assertIn('topicfs_mirror_state{mirror="down",direction="pull",state="ok"} 1',
                      body)
        self.assertRegex(body, r'topicfs_mirror_records_total\{mirror="down"\} \d+')
        self.assertIn('topicfs_mirror_errors_total{mirror="down"}', body)


if __name__ == "__main__":
    main()
