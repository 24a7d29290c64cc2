"""harness.py - shared scaffolding for topicfs integration tests.

Each test gets its own temp directory holding data/, mnt/ and topicfs.ini,
a daemon started in the foreground on a free loopback port, and a cleanup
that always runs: fusermount3 -u, then -uz, then SIGKILL of the daemon and
rm -rf of the temp directory.  Tests use Python's unittest; every file is
one CTest test with a timeout.

Environment (set by CTest): TOPICFS_BIN (the daemon), TOPICFS_TOOLS (the
tools directory), TOPICFS_TESTDATA (the golden data, tests/golden/ in the
repository unless set).  TOPICFS_TIME_SCALE (default 1; tools/ci-extra.sh
sets it for the sanitizer passes) multiplies every timeout: wait_for,
run, the daemon's start and stop, LineReader.get, and the explicit bounds
the tests pass through scaled().  A bound that is what a test is about
("answers at once", "does not hang") stays, scaled, below the time the
bug would take.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.environ.get("TOPICFS_BIN", "")
TOOLS = os.environ.get("TOPICFS_TOOLS", "")
TESTDATA = os.environ.get("TOPICFS_TESTDATA") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "golden"))


def tool(name):
    """Path of a tool built in tools/, failing loudly when it is missing."""
    path = os.path.join(TOOLS, name)
    if not os.access(path, os.X_OK):
        raise AssertionError("tool %s not built at %s" % (name, path))
    return path


def _time_scale():
    try:
        v = float(os.environ.get("TOPICFS_TIME_SCALE", "") or 1)
    except ValueError:
        raise AssertionError("TOPICFS_TIME_SCALE is not a number: %r"
                             % os.environ["TOPICFS_TIME_SCALE"])
    return max(v, 1.0)


TIME_SCALE = _time_scale()


def scaled(seconds):
    """seconds times TOPICFS_TIME_SCALE (a slower build, a loaded machine)."""
    return seconds * TIME_SCALE


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll pred until true; timeout is scaled by TOPICFS_TIME_SCALE."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def run(cmd, timeout=60, check=True, input=None, **kw):
    """Run a command (list or shell string), capture output, with a timeout."""
    shell = isinstance(cmd, str)
    r = subprocess.run(cmd, shell=shell, input=input, capture_output=True,
                       timeout=scaled(timeout) if timeout else timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError("command failed (%d): %s\nstdout: %r\nstderr: %r"
                             % (r.returncode, cmd, r.stdout[-2000:], r.stderr[-2000:]))
    return r


class Daemon:
    """One topicfs daemon: data dir, mount point, config and TCP port.

    config: dict of section -> dict of key -> value, merged over the
    defaults the harness needs (data_dir, mountpoint, listen).
    """

    def __init__(self, root, config=None, net=True):
        self.root = root
        self.data = os.path.join(root, "data")
        self.mnt = os.path.join(root, "mnt")
        self.ini = os.path.join(root, "topicfs.ini")
        self.log_path = os.path.join(root, "daemon.log")
        os.makedirs(self.data, exist_ok=True)
        os.makedirs(self.mnt, exist_ok=True)
        self.port = free_port() if net else 0
        self.net = net
        self.config = {"storage": {}, "fs": {}, "net": {}}
        for sec, kv in (config or {}).items():
            self.config.setdefault(sec, {}).update(kv)
        self.proc = None
        self.log = None

    def write_config(self):
        cfg = {k: dict(v) for k, v in self.config.items()}
        cfg.setdefault("storage", {}).setdefault("data_dir", self.data)
        cfg.setdefault("fs", {}).setdefault("mountpoint", self.mnt)
        if self.net:
            cfg.setdefault("net", {}).setdefault("listen", "127.0.0.1:%d" % self.port)
        else:
            cfg.setdefault("net", {}).setdefault("enabled", "false")
        with open(self.ini, "w") as f:
            for sec, kv in cfg.items():
                if not kv:
                    continue
                f.write("[%s]\n" % sec)
                for k, v in kv.items():
                    f.write("%s = %s\n" % (k, v))
                f.write("\n")

    def start(self, extra_args=(), wait=True):
        if not BIN or not os.access(BIN, os.X_OK):
            raise AssertionError("TOPICFS_BIN not set or not executable: %r" % BIN)
        self.write_config()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "-f", "-c", self.ini] + list(extra_args),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("topicfs exited with %s during startup:\n%s"
                                     % (self.proc.returncode, self.read_log()))
            if not os.path.ismount(self.mnt):
                return False
            if self.net:
                try:
                    socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                except OSError:
                    return False
            return True
        wait_for(ready, timeout, what="topicfs mount and port")

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-8000:]
        except OSError:
            return ""

    def stop(self, timeout=20):
        """Clean shutdown via SIGTERM; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("topicfs did not exit within %ds of SIGTERM"
                                     % scaled(timeout))
        rc = self.proc.returncode
        self.unmount()
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None
        return rc

    def kill(self):
        """kill -9 the daemon and lazily unmount what it leaves behind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(scaled(10))
        self.unmount()
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None

    def mounted(self):
        """True while /proc/mounts lists the mount point.  os.path.ismount
        cannot tell: it stats the path, which fails with ENOTCONN once the
        daemon behind a FUSE mount is dead."""
        with open("/proc/mounts") as f:
            return any(line.split()[1] == self.mnt for line in f)

    def unmount(self):
        if self.mounted():
            subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, timeout=10)
        if self.mounted():
            subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True, timeout=10)

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)


class TopicfsTestCase(unittest.TestCase):
    """Gives each test its own temp dir and a self.daemon (not started
    unless start() is called); always cleans up, even on failure."""

    daemon_config = None
    daemon_net = True

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="topicfs-test-")
        self.daemon = Daemon(self.root, self.daemon_config, self.daemon_net)
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        outcome = getattr(self, "_outcome", None)
        failed = outcome is not None and not getattr(outcome, "success", True)
        try:
            self.daemon.kill()
        finally:
            if failed or os.environ.get("TOPICFS_KEEP"):
                sys.stderr.write("daemon log:\n%s\n" % self.daemon.read_log())
            shutil.rmtree(self.root, ignore_errors=True)

    def start(self, config=None, **kw):
        if config:
            for sec, kv in config.items():
                self.daemon.config.setdefault(sec, {}).update(kv)
        return self.daemon.start(**kw)


# ---- helpers for the file-view tests (fs) --------------------------------

def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def append_bytes(path, data, mode=os.O_WRONLY | os.O_APPEND):
    """One open, one write(2) per chunk in data (bytes or list of bytes)."""
    chunks = [data] if isinstance(data, (bytes, bytearray)) else data
    fd = os.open(path, mode)
    try:
        for c in chunks:
            n = os.write(fd, c)
            if n != len(c):
                raise AssertionError("short write %d of %d" % (n, len(c)))
    finally:
        os.close(fd)


def xattrs(path):
    """All user.topicfs.* xattrs of path, as str values."""
    return {n: os.getxattr(path, n).decode()
            for n in os.listxattr(path) if n.startswith("user.topicfs.")}


class LineReader:
    """Reads lines of a subprocess's stdout in a thread; get() with a timeout."""

    def __init__(self, stream):
        import queue
        import threading
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.t.start()

    def _run(self, stream):
        for line in iter(stream.readline, b""):
            self.q.put(line)
        self.q.put(None)

    def get(self, timeout):
        """The next line, or None after timeout (scaled) seconds."""
        import queue
        try:
            return self.q.get(timeout=scaled(timeout))
        except queue.Empty:
            return None


def main():
    """Run the module's tests.  A skipped test fails the run: a check that
    could not run is not a pass (say what is missing with self.fail).  So
    does a run in which no test ran (a selector that matched nothing)."""
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    for test, why in r.skipped:
        print("FAIL (skipped, which counts as failed): %s: %s" % (test.id(), why),
              file=sys.stderr)
    if r.testsRun == 0:
        print("FAIL: no test ran", file=sys.stderr)
    sys.exit(0 if r.wasSuccessful() and not r.skipped and r.testsRun else 1)
