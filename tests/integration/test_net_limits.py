"""The TCP server's limits seen from outside: a wildcard listen address
([net] or [metrics]) is refused unless [net] allow_wildcard_bind = true,
and when allowed the daemon warns, logs and shows the real bound address
and advertises the machine's host name (never "0" or "0.0.0.0"); the
request memory held by connections is a gauge in .status and /metrics and
goes back to 0 when they close; the daemon raises its open-files soft limit
to the hard limit at start.  Connects to 127.0.0.1 only."""
import os
import resource
import socket
import struct
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, free_port, read_bytes, wait_for  # noqa: E402
from netutil import NetTestCase, Raw, Reader, i32  # noqa: E402


def metadata_broker(port):
    """(host, port) of broker 0 in a Metadata v1 answer from 127.0.0.1."""
    c = Raw(port)
    try:
        r = Reader(c.call(3, 1, i32(-1)))
        assert r.i32() == 1
        assert r.i32() == 0
        host = r.str()
        bport = r.i32()
        return host, bport
    finally:
        c.close()


def status(daemon):
    rows = [l.split() for l in read_bytes(daemon.path(".status")).decode().splitlines()]
    return dict(r for r in rows if len(r) == 2)


class NetLimits(NetTestCase):

    def start_fails(self, config):
        """Start with config; the daemon must exit with status 2 before
        mounting.  Returns its log."""
        for sec, kv in config.items():
            self.daemon.config.setdefault(sec, {}).update(kv)
        d = self.daemon.start(wait=False)
        rc = d.proc.wait(20)
        log = d.read_log()
        self.assertEqual(rc, 2, log)
        self.assertFalse(d.mounted())
        return log

    def test_wildcard_refused_without_key(self):
        port = self.daemon.port
        for addr in ("0:%d", "0.0.0.0:%d", "[::]:%d", "[::ffff:0.0.0.0]:%d"):
            log = self.start_fails({"net": {"listen": addr % port}})
            self.assertIn("[net] listen", log)
            self.assertIn("allow_wildcard_bind", log)
            self.daemon.kill()
        mport = free_port()
        log = self.start_fails({"net": {"listen": "127.0.0.1:%d" % port},
                                "metrics": {"listen": "0.0.0.0:%d" % mport}})
        self.assertIn("[metrics] listen", log)
        self.assertIn("allow_wildcard_bind", log)

    def test_wildcard_allowed_advertises_host_name(self):
        d = self.daemon
        mport = free_port()
        # "0" is 0.0.0.0 to inet_aton: the case that advertised host "0"
        # (allow_anonymous: a listener and a metrics endpoint beyond loopback
        # without authentication, issue 14)
        self.start({"net": {"listen": "0:%d" % d.port, "allow_wildcard_bind": "true",
                            "allow_anonymous": "true"},
                    "metrics": {"listen": "0.0.0.0:%d" % mport}})
        host, bport = metadata_broker(d.port)
        self.assertEqual(host, socket.gethostname())
        self.assertNotIn(host, ("0", "0.0.0.0", "::", "[::]", ""))
        self.assertEqual(bport, d.port)
        log = d.read_log()
        self.assertIn("net: listening on 0.0.0.0:%d" % d.port, log)
        self.assertIn("reachable from other machines", log)
        self.assertIn("metrics: serving http://0.0.0.0:%d/metrics" % mport, log)
        st = status(d)
        self.assertEqual(st.get("net_listen"), "0.0.0.0:%d" % d.port)
        self.assertEqual(st.get("net_advertised"), "%s:%d" % (socket.gethostname(), d.port))
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10) as r:
            self.assertEqual(r.status, 200)

    def test_request_bytes_held_gauge(self):
        d = self.daemon
        mport = free_port()
        self.start({"net": {"max_request_bytes": "1M", "queued_max_request_bytes": "3M"},
                    "metrics": {"listen": "127.0.0.1:%d" % mport}})
        st = status(d)
        self.assertEqual(st.get("net_listen"), "127.0.0.1:%d" % d.port)
        self.assertEqual(st.get("net_request_bytes_held"), "0")
        self.assertEqual(st.get("net_request_bytes_max"), str(3 << 20))
        # four connections announce 1 MiB each and send 10 kB of it: three
        # fit the 3 MiB budget, the fourth waits (it is not closed)
        socks = []
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", d.port), 5)
            s.sendall(struct.pack(">i", 1 << 20) + b"\0" * 10000)
            socks.append(s)
        try:
            # both: the fourth connection may be seen waiting after the
            # third's memory is counted
            wait_for(lambda: (status(d).get("net_request_bytes_held"),
                              status(d).get("net_memory_waits")) == (str(3 << 20), "1"),
                     5, what="3 MiB held and one connection waiting")
            time.sleep(0.2)             # and it stays so: no fourth grant
            st = status(d)
            self.assertEqual(st.get("net_request_bytes_held"), str(3 << 20))
            self.assertEqual(st.get("net_memory_waits"), "1")
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport,
                                        timeout=10) as r:
                text = r.read().decode()
            self.assertIn("\ntopicfs_net_request_bytes_held %d\n" % (3 << 20), text)
            self.assertIn("# TYPE topicfs_net_request_bytes_held gauge", text)
            self.assertIn("\ntopicfs_net_request_bytes_max %d\n" % (3 << 20), text)
        finally:
            for s in socks:
                s.close()
        wait_for(lambda: (status(d).get("net_request_bytes_held"),
                          status(d).get("net_memory_waits")) == ("0", "0"), 5,
                 what="request memory released, no connection waiting")

    def test_open_files_limit_raised(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard <= 256:
            self.fail("the hard RLIMIT_NOFILE is %d: this test needs more than 256" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        try:
            self.start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        with open("/proc/%d/limits" % self.daemon.proc.pid) as f:
            line = [l for l in f if l.startswith("Max open files")][0]
        fields = line.split()
        want = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
        self.assertEqual(fields[3], want, line)     # soft
        self.assertEqual(fields[4], want, line)     # hard
        self.assertIn("open files limit raised from 256 to %s" % want,
                      self.daemon.read_log())


if __name__ == "__main__":
    main()
