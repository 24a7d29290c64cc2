"""The TCP server with real clients: kcat -L lists topics and partitions;
lines appended through the mount are consumed by kcat exactly, from the
beginning, from the end and from an offset; kcat -P (plain, lz4, zstd)
produces records that cat shows through the mount and kcat reads back,
stored as compressed batches; a waiting consumer gets a new line within
100 ms; kafka-python's KafkaConsumer and KafkaProducer work; the
topicfs-consume tool reads what kcat reads."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, run, tool, scaled  # noqa: E402
from netutil import (NetTestCase, KCAT, kcat, kcat_lines, metadata_ok, append_line,  # noqa: E402
                     LineReader, median)


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data.endswith(b"\n") or not data
    return data.decode().split("\n")[:-1]


def stop(proc):
    proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()


class NetKcat(NetTestCase):
    daemon_config = {"topic.three": {"partitions": "3"}}

    def mktopic(self, name):
        os.mkdir(self.daemon.path(name))
        return self.daemon.path(name, "0")

    def test_list_topics_and_partitions(self):
        self.start()
        self.mktopic("orders")     # "three" comes from its [topic.three] section
        out = kcat(self.daemon, "-L").stdout.decode()
        self.assertIn("broker 0 at 127.0.0.1:%d" % self.daemon.port, out)
        self.assertIn('topic "orders" with 1 partitions:', out)
        self.assertIn('topic "three" with 3 partitions:', out)
        for p in range(3):
            self.assertIn("partition %d, leader 0, replicas: 0, isrs: 0" % p, out)
        # one topic by name
        out = kcat(self.daemon, "-L", "-t", "three").stdout.decode()
        self.assertIn('topic "three" with 3 partitions:', out)
        self.assertNotIn("orders", out)

    def test_echo_then_consume_exactly(self):
        self.start()
        p = self.mktopic("T")
        lines = ["first", "second line", "", "tab\there", "ünïcödé", "last"]
        for ln in lines:
            run("echo '%s' >> %s" % (ln, p))
        got = kcat_lines(self.daemon, "-C", "-t", "T", "-p", "0", "-o", "beginning",
                         "-e", "-q")
        self.assertEqual(got, lines)
        # many lines, several batches
        more = ["line %05d" % i for i in range(2000)]
        with open(p, "a") as f:
            for i in range(0, 2000, 100):
                f.write("".join(x + "\n" for x in more[i:i + 100]))
                f.flush()
        got = kcat_lines(self.daemon, "-C", "-t", "T", "-p", "0", "-o", "beginning",
                         "-e", "-q")
        self.assertEqual(got, lines + more)
        # the same through topicfs-consume
        r = run([tool("topicfs-consume"), "127.0.0.1:%d" % self.daemon.port, "T", "0"])
        self.assertEqual(r.stdout.decode().split("\n")[:-1], lines + more)
        r = run([tool("topicfs-consume"), "-o", "-3", "127.0.0.1:%d" % self.daemon.port,
                 "T", "0"])
        self.assertEqual(r.stdout.decode().split("\n")[:-1], more[-3:])

    def test_offsets_end_and_n(self):
        self.start()
        p = self.mktopic("T")
        for i in range(10):
            append_line(p, "old %d" % i)
        # -o 3 and -o -2 (relative to the end)
        got = kcat_lines(self.daemon, "-C", "-t", "T", "-p", "0", "-o", "3", "-e", "-q")
        self.assertEqual(got, ["old %d" % i for i in range(3, 10)])
        got = kcat_lines(self.daemon, "-C", "-t", "T", "-p", "0", "-o", "-2", "-e", "-q")
        self.assertEqual(got, ["old 8", "old 9"])
        # -o end prints only what comes after it started
        proc = subprocess.Popen([KCAT, "-b", "127.0.0.1:%d" % self.daemon.port, "-C",
                                 "-t", "T", "-p", "0", "-o", "end", "-c", "1", "-u", "-q"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            rd = LineReader(proc)
            line = None
            for k in range(20):
                append_line(p, "new %d" % k)
                line = rd.readline(scaled(0.5))
                if line is not None:
                    break
            self.assertIsNotNone(line, "kcat -o end printed nothing")
            self.assertTrue(line.startswith("new "), line)
            proc.wait(scaled(10))
        finally:
            stop(proc)

    def test_kcat_produce_then_cat(self):
        self.start()
        p = self.mktopic("T")
        append_line(p, "from the mount")
        lines = ["produced %d" % i for i in range(50)]
        kcat(self.daemon, "-P", "-t", "T", "-p", "0",
             input="".join(x + "\n" for x in lines).encode())
        self.assertEqual(read_lines(p), ["from the mount"] + lines)
        self.assertEqual(run(["cat", p]).stdout.decode().split("\n")[:-1],
                         ["from the mount"] + lines)
        # and to another partition of a 3-partition topic
        kcat(self.daemon, "-P", "-t", "three", "-p", "2", input=b"to two\n")
        self.assertEqual(read_lines(self.daemon.path("three", "2")), ["to two"])
        self.assertEqual(read_lines(self.daemon.path("three", "0")), [])

    def check_compressed(self, codec):
        self.start()
        p = self.mktopic("T")
        lines = ["%s record %05d %s" % (codec, i, "x" * (i % 37)) for i in range(3000)]
        kcat(self.daemon, "-P", "-t", "T", "-p", "0", "-z", codec,
             input="".join(x + "\n" for x in lines).encode())
        self.assertEqual(read_lines(p), lines)
        got = kcat_lines(self.daemon, "-C", "-t", "T", "-p", "0", "-o", "beginning",
                         "-e", "-q")
        self.assertEqual(got, lines)
        r = run([tool("topicfs-consume"), "127.0.0.1:%d" % self.daemon.port, "T", "0"])
        self.assertEqual(r.stdout.decode().split("\n")[:-1], lines)
        dump = run([tool("topicfs-dump"), os.path.join(self.daemon.data, "T-0")])
        out = dump.stdout.decode()
        codecs = re.findall(r"codec:\s*(\w+)", out)
        self.assertTrue(codecs, "topicfs-dump printed no codec:\n" + out[:2000])
        self.assertIn(codec, codecs, "no %s batch in the dump:\n%s" % (codec, out[:2000]))

    def test_kcat_produce_lz4(self):
        self.check_compressed("lz4")

    def test_kcat_produce_zstd(self):
        self.check_compressed("zstd")

    def test_waiting_consumer_latency(self):
        self.start()
        p = self.mktopic("T")
        proc = subprocess.Popen([KCAT, "-b", "127.0.0.1:%d" % self.daemon.port, "-C",
                                 "-t", "T", "-p", "0", "-o", "end", "-u", "-q"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            rd = LineReader(proc)
            # wait until kcat is consuming: warm-up lines until one shows up
            for k in range(40):
                append_line(p, "warm %d" % k)
                line = rd.readline(scaled(0.5))
                if line is not None:
                    break
            else:
                self.fail("kcat never printed a warm-up line")
            # then read up to the last warm-up line (waiting for 0.3 s of
            # silence let a late one be taken for a tick)
            last = "warm %d" % k
            while line != last:
                line = rd.readline(scaled(5.0))
                self.assertIsNotNone(line, "kcat stopped before %r" % last)
            lat = []
            for i in range(15):
                time.sleep(0.05)
                t0 = time.monotonic()
                append_line(p, "tick %d" % i)
                line = rd.readline(scaled(2.0))
                t1 = time.monotonic()
                self.assertEqual(line, "tick %d" % i)
                lat.append((t1 - t0) * 1000.0)
            sys.stderr.write("append -> kcat latency ms: median %.2f max %.2f %s\n"
                             % (median(lat), max(lat),
                                " ".join("%.2f" % x for x in sorted(lat))))
            self.assertLess(median(lat), scaled(100.0))
        finally:
            stop(proc)

    def test_kafka_python_consumer_and_producer(self):
        try:
            from kafka import KafkaConsumer, KafkaProducer, TopicPartition
        except ImportError:
            self.fail("python3-kafka (kafka-python) is not installed")
        self.start()
        p = self.mktopic("T")
        lines = ["kp %d" % i for i in range(300)]
        with open(p, "a") as f:
            f.write("".join(x + "\n" for x in lines))
        bootstrap = "127.0.0.1:%d" % self.daemon.port
        c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                          consumer_timeout_ms=3000)
        try:
            tp = TopicPartition("T", 0)
            c.assign([tp])
            c.seek_to_beginning(tp)
            got = []
            deadline = time.monotonic() + scaled(20)
            while len(got) < len(lines) and time.monotonic() < deadline:
                for recs in c.poll(timeout_ms=500).values():
                    got.extend(r.value.decode() for r in recs)
            self.assertEqual(got, lines)
            self.assertEqual(c.end_offsets([tp])[tp], 300)
        finally:
            c.close()
        prod = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
        try:
            for i in range(20):
                prod.send("T", value=b"py %d" % i, partition=0)
            prod.flush(10)
        finally:
            prod.close(5)
        self.assertEqual(read_lines(p), lines + ["py %d" % i for i in range(20)])


if __name__ == "__main__":
    main()
