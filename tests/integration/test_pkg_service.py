"""Running as a service: the systemd notify protocol (READY=1 only once the
mount, the Kafka port and the metrics port are up; STOPPING=1 on SIGTERM,
then a clean exit), the log level, and the example systemd unit."""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TopicfsTestCase, main, free_port, scaled  # noqa: E402
from pkgutil import mounted  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


class PkgService(TopicfsTestCase):

    def notify_socket(self, abstract=False):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "@topicfs-test-%d-%d" % (os.getpid(), time.monotonic_ns())
            s.bind("\0" + name[1:])
        else:
            name = os.path.join(self.root, "notify.sock")
            s.bind(name)
        self.addCleanup(s.close)
        return s, name

    def run_notify(self, abstract):
        d = self.daemon
        sock, name = self.notify_socket(abstract)
        metrics = free_port()
        os.environ["NOTIFY_SOCKET"] = name
        try:
            d.start(["--set", "metrics.listen=127.0.0.1:%d" % metrics], wait=False)
        finally:
            del os.environ["NOTIFY_SOCKET"]
        sock.settimeout(scaled(20))
        msg = sock.recv(4096).decode()
        # the moment READY=1 arrives, everything it promises is up
        up = (mounted(d.mnt), port_open(d.port), port_open(metrics),
              os.path.exists(d.path(".status")))
        self.assertIn("READY=1", msg.split("\n"))
        self.assertEqual(up, (True, True, True, True))
        d.proc.send_signal(signal.SIGTERM)
        msg = sock.recv(4096).decode()
        self.assertIn("STOPPING=1", msg.split("\n"))
        self.assertEqual(d.proc.wait(scaled(20)), 0)
        self.assertFalse(mounted(d.mnt))

    def test_notify_ready_after_mount_and_ports_then_stopping(self):
        self.run_notify(abstract=False)

    def test_notify_abstract_socket(self):
        self.run_notify(abstract=True)

    def test_no_notify_socket_is_fine_and_log_levels(self):
        d = self.daemon
        d.start(["--log-level", "error"])
        self.assertEqual(d.stop(), 0)
        self.assertNotIn("mounted", d.read_log())
        os.unlink(d.log_path)
        d.config["log"] = {"level": "debug"}
        d.start()
        self.assertEqual(d.stop(), 0)
        log = d.read_log()
        self.assertIn("topicfs: mounted %s on %s" % (d.data, d.mnt), log)
        self.assertIn("shutting down", log)
        for line in log.splitlines():
            self.assertTrue(line.startswith("topicfs: "), line)

    def test_example_unit(self):
        with open(os.path.join(EXAMPLES, "topicfs.service")) as f:
            unit = f.read()
        keys = {}
        for line in unit.splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                keys.setdefault(k.strip(), v.strip())
        self.assertEqual(keys["Type"], "notify")
        self.assertEqual(keys["KillMode"], "mixed")
        self.assertIn("TimeoutStopSec", keys)
        argv = keys["ExecStart"].split()
        self.assertEqual(argv[0], "/usr/sbin/topicfs")
        self.assertIn("-f", argv)
        self.assertIn("/etc/topicfs/topicfs.ini", argv)
        self.assertEqual(keys["WantedBy"], "multi-user.target")


if __name__ == "__main__":
    main()
