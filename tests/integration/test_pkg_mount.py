"""Mounting the usual ways: mount(8) through mount.fuse3 (source first,
topicfs settings in -o, fstab-only options tolerated), an /etc/fstab-style
line (mount --fstab), `topicfs DATA_DIR MOUNTPOINT`, umount stopping the
daemon cleanly, and the data dir lock refusing a second daemon."""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TopicfsTestCase, main, run, read_bytes, free_port, BIN  # noqa: E402
from pkgutil import (mounted, mount_entry, unmount_and_reap, wait_mounted,  # noqa: E402
                     daemon_pids)


class PkgMount(TopicfsTestCase):

    def setUp(self):
        super().setUp()
        d = self.daemon
        self.port = free_port()
        self.ini = os.path.join(self.root, "mount.ini")
        with open(self.ini, "w") as f:
            f.write("[net]\nlisten = 127.0.0.1:%d\n" % self.port)
        self.addCleanup(self._reap)
        self.bindir = os.path.join(self.root, "bin")
        os.makedirs(self.bindir)
        os.symlink(os.path.abspath(BIN), os.path.join(self.bindir, "topicfs"))
        self.assertFalse(mounted(d.mnt))

    def _reap(self):
        killed = unmount_and_reap(self.daemon.mnt, self.root)
        self.assertEqual(killed, [], "a daemon did not exit after its unmount")

    def use_mount(self, port=None):
        """The mount works: a topic, an append, a read, the TCP port."""
        d = self.daemon
        wait_mounted(d.mnt)
        ent = mount_entry(d.mnt)
        self.assertEqual(ent[2], "fuse.topicfs")
        self.assertEqual(ent[0], d.data)    # fsname: the data dir, as in fstab
        os.mkdir(d.path("orders"))
        run("echo 'order 1' >> %s" % d.path("orders", "0"))
        self.assertEqual(read_bytes(d.path("orders", "0")), b"order 1\n")
        self.assertTrue(os.path.isdir(os.path.join(d.data, "orders-0")))
        socket.create_connection(("127.0.0.1", port or self.port), 2).close()

    def umount_clean(self):
        d = self.daemon
        pids = daemon_pids(self.root)
        self.assertEqual(len(pids), 1, pids)
        run(["umount", d.mnt])
        self.assertFalse(mounted(d.mnt))
        killed = unmount_and_reap(d.mnt, self.root)
        self.assertEqual(killed, [])
        # a clean exit leaves the clean-shutdown marker
        self.assertTrue(os.path.exists(os.path.join(d.data, ".topicfs_clean_shutdown")))

    def test_mount_t_fuse_topicfs_via_mount_fuse3(self):
        # exactly what mount(8) runs for `mount -t fuse.topicfs SRC MNT -o ...`
        # (mount(8) itself clears PATH, so the daemon must be in sbin for it;
        # here mount.fuse3 is run with the build on PATH)
        d = self.daemon
        env = dict(os.environ, PATH=self.bindir + ":" + os.environ["PATH"])
        r = run(["/sbin/mount.fuse3", d.data, d.mnt, "-t", "fuse.topicfs", "-o",
                 "rw,config=%s,_netdev,nofail,allow_other,noatime,"
                 "storage.linger_ms=0,log_level=warn" % self.ini],
                env=env, timeout=30)
        self.assertEqual(r.returncode, 0)
        self.use_mount()
        opts = mount_entry(d.mnt)[3].split(",")
        self.assertIn("allow_other", opts)
        self.assertIn("noatime", opts)
        self.umount_clean()

    def test_mount_8_with_program_in_source(self):
        # mount(8) -> /sbin/mount.fuse -> sh -c 'PROGRAM SOURCE MNT -o ...'
        d = self.daemon
        metrics = free_port()
        r = run(["mount", "-t", "fuse", "%s#%s" % (os.path.abspath(BIN), d.data), d.mnt,
                 "-o", "config=%s,defaults,_netdev,metrics=127.0.0.1:%d,x-systemd.after=x"
                 % (self.ini, metrics)], timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.use_mount()
        socket.create_connection(("127.0.0.1", metrics), 2).close()
        self.umount_clean()

    def test_fstab_line(self):
        d = self.daemon
        port = free_port()
        fstab = os.path.join(self.root, "fstab")
        with open(fstab, "w") as f:
            f.write("# test fstab\n%s#%s %s fuse config=%s,listen=127.0.0.1:%d,"
                    "_netdev,noauto,nofail,allow_other 0 0\n"
                    % (os.path.abspath(BIN), d.data, d.mnt, self.ini, port))
        r = run(["mount", "--fstab", fstab, d.mnt], timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.use_mount(port)
        self.umount_clean()

    def test_source_first_on_the_command_line_and_bad_options(self):
        d = self.daemon
        # `topicfs DATA_DIR MOUNTPOINT`, daemonising: returns once ready
        r = run([BIN, d.data, d.mnt, "-o", "config=" + self.ini], timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.use_mount()
        # a second daemon on the same data dir is refused, clearly
        other = os.path.join(self.root, "mnt2")
        r = run([BIN, "-f", d.data, other, "-o", "config=%s,listen=127.0.0.1:0" % self.ini],
                check=False, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"in use by another topicfs", r.stderr)
        self.assertFalse(mounted(other))
        self.umount_clean()
        # a bad topicfs setting in -o is a configuration error (2), before
        # anything is mounted
        r = run([BIN, "-f", d.data, d.mnt, "-o", "storage.linger_ms=forever"],
                check=False, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"linger_ms", r.stderr)
        r = run([BIN, "-f", d.data, d.mnt, "-o", "config="], check=False, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertFalse(mounted(d.mnt))


if __name__ == "__main__":
    main()
