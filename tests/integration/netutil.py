"""netutil.py - helpers for the TCP server's integration tests
(test_net_*.py): kcat runs against the daemon, a raw Kafka-protocol
client over plain sockets, and timing helpers.

Only the standard library: the raw client writes requests byte by byte
(docs/PROTOCOL.md) so the tests do not depend on a Kafka library's
choices of versions.
"""
import os
import select
import socket
import struct
import subprocess
import threading
import time

from harness import TopicfsTestCase, run

KCAT = "/usr/bin/kcat"


def mount_listed(path):
    """True if path is a mount point in /proc/self/mounts (also when its
    FUSE daemon is gone and stat() fails with ENOTCONN, where
    os.path.ismount says False)."""
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 1 and fields[1].replace("\\040", " ") == path:
                return True
    return False


class NetTestCase(TopicfsTestCase):
    """TopicfsTestCase that also makes sure its mount is gone at the end:
    it unmounts while the daemon is still alive (a clean exit), and lazily
    unmounts a mount whose daemon died, which the harness' ismount() check
    cannot see."""

    def setUp(self):
        super().setUp()
        self.addCleanup(self._unmount_first)   # runs before the harness cleanup

    def _unmount_first(self):
        d = self.daemon
        if d.proc is not None and d.proc.poll() is None and mount_listed(d.mnt):
            subprocess.run(["fusermount3", "-u", d.mnt], capture_output=True, timeout=10)
            try:
                d.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if mount_listed(d.mnt):
            subprocess.run(["fusermount3", "-uz", d.mnt], capture_output=True, timeout=10)


def kcat(daemon, *args, input=None, timeout=60, check=True):
    """Run kcat against the daemon's broker address; returns the
    CompletedProcess (stdout/stderr as bytes)."""
    cmd = [KCAT, "-b", "127.0.0.1:%d" % daemon.port] + list(args)
    return run(cmd, input=input, timeout=timeout, check=check)


def kcat_lines(daemon, *args, **kw):
    """kcat -C ... -q; the records as a list of str lines."""
    r = kcat(daemon, *args, **kw)
    out = r.stdout.decode()
    return out.split("\n")[:-1] if out else []


def metadata_ok(daemon):
    """kcat -L works and lists this daemon as broker 0."""
    r = kcat(daemon, "-L", "-m", "10", timeout=30, check=False)
    return r.returncode == 0 and b"broker 0 at 127.0.0.1:%d" % daemon.port in r.stdout


def append_line(path, line):
    """One write(2) of line + newline, as `echo line >> path` does."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


class LineReader:
    """Unbuffered line reading from a child's stdout with a timeout."""

    def __init__(self, proc):
        self.proc = proc
        self.fd = proc.stdout.fileno()
        self.buf = b""

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


# ----------------------------- raw protocol ------------------------------

def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def kstr(s):
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def frame(api, version, corr, body=b"", client_id="nettest"):
    msg = i16(api) + i16(version) + i32(corr) + kstr(client_id) + body
    return i32(len(msg)) + msg


class Reader:
    def __init__(self, b):
        self.b = b
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.b):
            raise AssertionError("response too short")
        v = self.b[self.pos:self.pos + n]
        self.pos += n
        return v

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def str(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes(self):
        n = self.i32()
        return None if n < 0 else self.take(n)


class Raw:
    """One blocking connection speaking raw Kafka protocol."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.corr = 0

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed by the server")
            out += chunk
        return out

    def call(self, api, version, body=b""):
        """Send a request and return the response body (after the
        correlation id), checking the correlation id."""
        self.corr += 1
        self.send(frame(api, version, self.corr, body))
        size, corr = struct.unpack(">ii", self.recv_exact(8))
        if corr != self.corr:
            raise AssertionError("correlation id %d, expected %d" % (corr, self.corr))
        return self.recv_exact(size - 4)

    def closed_by_server(self, timeout=3.0):
        """True if the server closes (EOF or reset) within timeout seconds;
        any bytes it sends first are discarded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.sock], [], [], deadline - time.monotonic())
            if not r:
                continue
            try:
                if not self.sock.recv(65536):
                    return True
            except (ConnectionResetError, BrokenPipeError):
                return True
        return False


def api_versions_ok(port):
    """A fresh connection gets a valid ApiVersions v0 answer."""
    c = Raw(port)
    try:
        r = Reader(c.call(18, 0))
        return r.i16() == 0 and r.i32() >= 6   # the APIs served (docs/PROTOCOL.md)
    finally:
        c.close()


def fetch_v4(conn, topic, partition, offset, max_wait=0, min_bytes=1,
             max_bytes=1 << 20):
    """Fetch v4 for one partition: (error, high watermark, records bytes)."""
    body = (i32(-1) + i32(max_wait) + i32(min_bytes) + i32(max_bytes) + i8(0) +
            i32(1) + kstr(topic) + i32(1) + i32(partition) + i64(offset) +
            i32(max_bytes))
    r = Reader(conn.call(1, 4, body))
    r.i32()                                     # throttle
    assert r.i32() == 1
    assert r.str() == topic
    assert r.i32() == 1
    assert r.i32() == partition
    err = r.i16()
    hwm = r.i64()
    r.i64()                                     # last stable offset
    naborted = r.i32()
    if naborted > 0:
        r.take(16 * naborted)
    records = r.bytes()
    assert r.pos == len(r.b), "trailing bytes in the fetch response"
    return err, hwm, records


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


# ---- the npm clients (tests/clients, installed by tools/dev.sh deps) -------

CLIENTS_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "..", "clients"))


def node_client(script, timeout=60, check=True, env=None):
    """Run a JavaScript snippet with node from tests/clients (so it resolves
    kafkajs and @platformatic/kafka from the pinned node_modules); the
    snippet is an ES module and may use top-level await.  Fails with what
    to run when the clients are not installed."""
    mods = os.path.join(CLIENTS_DIR, "node_modules")
    for pkg in ("kafkajs", "@platformatic/kafka"):
        if not os.path.isdir(os.path.join(mods, pkg)):
            raise AssertionError("npm client %s is not installed in %s: run "
                                 "tools/dev.sh deps (npm ci in tests/clients)"
                                 % (pkg, mods))
    path = os.path.join(CLIENTS_DIR, ".test-%d-%d.mjs" % (os.getpid(), threading.get_ident()))
    with open(path, "w") as f:
        f.write(script)
    try:
        return run(["node", path], timeout=timeout, check=check,
                   cwd=CLIENTS_DIR, env=dict(os.environ, **(env or {})))
    finally:
        os.unlink(path)
