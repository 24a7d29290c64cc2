"""The TCP server against bad and greedy clients, over raw sockets: a fetch
at an out-of-range offset gets error 1 and an unknown topic error 3;
garbage bytes, a negative or huge size prefix and an unsupported API or
version close the connection (logged); ApiVersions v3 gets Kafka's
UNSUPPORTED_VERSION v0 answer; after each bad client kcat -L still works.
Excess connections are refused while existing ones keep working; a client
dripping a request byte by byte is closed by request_timeout_ms; one that
sends nothing by idle_timeout_ms."""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, read_bytes, scaled, wait_for  # noqa: E402
from netutil import (NetTestCase, Raw, Reader, fetch_v4, frame, i32, kstr, metadata_ok,  # noqa: E402
                     append_line, api_versions_ok)


class NetHygiene(NetTestCase):

    def open_connections(self):
        for line in read_bytes(self.daemon.path(".status")).decode().splitlines():
            if line.startswith("net_open_connections "):
                return int(line.split()[1])
        raise AssertionError("no net_open_connections in .status")

    def setup_topic(self):
        os.mkdir(self.daemon.path("T"))
        p = self.daemon.path("T", "0")
        for i in range(5):
            append_line(p, "line %d" % i)
        return p

    def test_fetch_errors(self):
        self.start()
        self.setup_topic()
        c = Raw(self.daemon.port)
        try:
            err, hwm, rec = fetch_v4(c, "T", 0, 0)
            self.assertEqual((err, hwm), (0, 5))
            self.assertGreater(len(rec), 61)
            # at the end: empty, no error
            self.assertEqual(fetch_v4(c, "T", 0, 5), (0, 5, b""))
            # out of range, both sides: OFFSET_OUT_OF_RANGE, empty records
            for off in (6, 1000, -3):
                err, hwm, rec = fetch_v4(c, "T", 0, off)
                self.assertEqual(err, 1, "offset %d" % off)
                self.assertEqual(rec, b"")
            # unknown topic and unknown partition: 3, at once even when
            # long-polling (the bound, scaled for slow builds, stays below
            # one max_wait, which the socket outlasts)
            bound = min(scaled(2.0), 20.0)
            c.sock.settimeout(40)
            t0 = time.monotonic()
            self.assertEqual(fetch_v4(c, "nosuch", 0, 0, max_wait=30000)[0], 3)
            self.assertEqual(fetch_v4(c, "T", 7, 0, max_wait=30000)[0], 3)
            self.assertLess(time.monotonic() - t0, bound)
            # the connection is still good
            self.assertEqual(fetch_v4(c, "T", 0, 4)[0], 0)
        finally:
            c.close()
        self.assertTrue(metadata_ok(self.daemon))

    def test_bad_clients_are_closed(self):
        self.start()
        self.setup_topic()
        cases = [
            ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64)),
            ("http", b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
            ("negative size", struct.pack(">i", -7) + b"\x00\x12\x00\x00"),
            ("zero size", struct.pack(">i", 0) + b"\x00\x12\x00\x00"),
            ("huge size", struct.pack(">i", 0x7fffffff) + b"\x00\x12\x00\x00"),
            ("over max_request_bytes", struct.pack(">i", 100 * 1024 * 1024 + 1)),
            ("unsupported api", frame(99, 0, 1)),
            ("unsupported fetch version", frame(1, 17, 1, b"\x00" * 40)),
            ("fetch v3", frame(1, 3, 1, b"\x00" * 40)),
            ("unsupported metadata version", frame(3, 13, 1, b"\x00\x00")),
            ("truncated metadata", frame(3, 1, 1, i32(5) + kstr("x"))),
        ]
        for what, data in cases:
            c = Raw(self.daemon.port)
            try:
                c.send(data)
                self.assertTrue(c.closed_by_server(scaled(3.0)), "%s: not closed" % what)
            finally:
                c.close()
            self.assertTrue(metadata_ok(self.daemon), "after %s" % what)
        log = self.daemon.read_log()
        self.assertIn("refused: unsupported api 99 v0", log)
        self.assertIn("closing: request size -7 out of range", log)
        self.assertIn('client "nettest"', log)

    def test_api_versions_v3_fallback(self):
        self.start()
        table = {0: (0, 11), 1: (4, 16), 2: (0, 8), 3: (0, 12), 10: (0, 4),
                 18: (0, 4), 22: (0, 5),
                 # admin APIs (srv_admin.c)
                 19: (0, 7), 20: (0, 6), 21: (0, 2), 23: (0, 4), 37: (0, 3),
                 60: (0, 1)}
        c = Raw(self.daemon.port)
        try:
            # ApiVersions v3 as librdkafka sends it: flexible header v2, compact
            # strings and tagged fields in the body; the answer has header v0
            # and a flexible body (compact array, tag buffers)
            body = b"\x00" + b"\x08librdka" + b"\x062.0.2" + b"\x00"
            r = Reader(c.call(18, 3, body))
            self.assertEqual(r.i16(), 0)
            n = r.i8() - 1                      # uvarint count + 1 (< 128)
            got = {}
            for _ in range(n):
                k, lo, hi = r.i16(), r.i16(), r.i16()
                self.assertEqual(r.i8(), 0)     # empty tag buffer
                got[k] = (lo, hi)
            # every row above, at its range (other APIs may be served too)
            self.assertEqual({k: got.get(k) for k in table}, table)
            self.assertEqual(r.i32(), 0)
            self.assertEqual(r.i8(), 0)
            self.assertEqual(r.pos, len(r.b))
            # a version above ours (v5): Kafka's v0-shaped fallback
            r = Reader(c.call(18, 5, body))
            self.assertEqual(r.i16(), 35)
            self.assertEqual(r.i32(), 1)
            self.assertEqual((r.i16(), r.i16(), r.i16()), (18, 0, 4))
            self.assertEqual(r.pos, len(r.b))
            # and the retry with v2 gets the real table
            r = Reader(c.call(18, 2))
            self.assertEqual(r.i16(), 0)
            got = {}
            for _ in range(r.i32()):
                k, lo, hi = r.i16(), r.i16(), r.i16()
                got[k] = (lo, hi)
            # every row above, at its range (other APIs may be served too)
            self.assertEqual({k: got.get(k) for k in table}, table)
            self.assertEqual(r.i32(), 0)
        finally:
            c.close()
        # a refused request is logged with the software the client named
        c = Raw(self.daemon.port)
        try:
            c.call(18, 3, body)
            c.send(frame(1, 17, 1, b"\x00" * 40))
            self.assertTrue(c.closed_by_server(scaled(3.0)))
        finally:
            c.close()
        log = self.daemon.read_log()
        self.assertIn("refused: unsupported fetch (api 1) version 17 (serving 4..16)", log)
        self.assertIn("software librdka 2.0.2", log)

    def test_too_many_connections(self):
        self.start({"net": {"max_connections": "4"}})
        self.setup_topic()
        # the harness' probe connection must be gone first (a fixed 0.2 s
        # was not always enough for a slow server to see it close)
        wait_for(lambda: self.open_connections() == 0, 10, what="the probe connection closed")
        held = [Raw(self.daemon.port) for _ in range(4)]
        try:
            for c in held:
                self.assertEqual(fetch_v4(c, "T", 0, 0)[0], 0)
            extra = Raw(self.daemon.port)
            try:
                self.assertTrue(extra.closed_by_server(scaled(2.0)), "5th connection accepted")
            finally:
                extra.close()
            # the existing ones keep working
            for c in held:
                self.assertEqual(fetch_v4(c, "T", 0, 3)[:2], (0, 5))
            self.assertIn("max_connections", self.daemon.read_log())
        finally:
            held.pop().close()
            wait_for(lambda: self.open_connections() <= len(held), 10,
                     what="a held connection closed")
            self.assertTrue(metadata_ok(self.daemon))
            for c in held:
                c.close()

    def test_slow_request_closed_by_deadline(self):
        self.start({"net": {"request_timeout_ms": "500"}})
        self.setup_topic()
        req = frame(18, 0, 1)
        c = Raw(self.daemon.port)
        try:
            t0 = time.monotonic()
            closed = False
            for b in req:
                try:
                    c.send(bytes([b]))
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                if c.closed_by_server(0.15):
                    closed = True
                    break
            if not closed:
                closed = c.closed_by_server(scaled(2.0))
            elapsed = time.monotonic() - t0
            self.assertTrue(closed, "slow client not closed")
            self.assertGreater(elapsed, 0.4)
            # the log line below names the cause: the request deadline
            self.assertLess(elapsed, scaled(2.0))
        finally:
            c.close()
        self.assertTrue(metadata_ok(self.daemon))
        self.assertIn("request incomplete after 500 ms", self.daemon.read_log())

    def test_idle_connection_closed(self):
        # the whole timeline scales: the busy connection must be used more
        # often than idle_timeout_ms even when each round trip is slow
        idle_s = scaled(1.0)
        self.start({"net": {"idle_timeout_ms": str(int(idle_s * 1000))}})
        idle = Raw(self.daemon.port)
        busy = Raw(self.daemon.port)
        try:
            t0 = time.monotonic()
            self.assertFalse(idle.closed_by_server(idle_s / 2), "closed before idle_timeout_ms")
            for _ in range(6):
                time.sleep(idle_s / 4)
                self.assertTrue(api_versions_ok(self.daemon.port))
                busy.call(18, 0)
            self.assertTrue(idle.closed_by_server(idle_s * 2))
            self.assertGreater(time.monotonic() - t0, idle_s * 0.9)
            busy.call(18, 1)    # active connections stay open
        finally:
            idle.close()
            busy.close()


if __name__ == "__main__":
    main()
