"""The install tree: `cmake --install BUILD --prefix /usr` into a DESTDIR
puts the daemon in sbin, the tools in bin, a man page for each program
(rendering without warnings), the examples in share/doc/topicfs/examples
and the example INI as /etc/topicfs/topicfs.ini (kept on reinstall); every
installed program answers --help and --version; the installed INI starts
the daemon."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TopicfsTestCase, main, run, BIN  # noqa: E402

BUILD = os.path.dirname(os.path.dirname(os.path.abspath(BIN))) if BIN else ""
PROGRAMS = {"usr/sbin/topicfs": "man8/topicfs.8",
            "usr/bin/topicfs-admin": "man1/topicfs-admin.1",
            "usr/bin/topicfs-dump": "man1/topicfs-dump.1",
            "usr/bin/topicfs-consume": "man1/topicfs-consume.1",
            "usr/bin/topicfs-bench": "man1/topicfs-bench.1"}
EXAMPLES = ["topicfs.ini", "topicfs.service", "fstab.example", "demo-pipeline.sh",
            "demo-replay.sh"]


class PkgInstall(TopicfsTestCase):

    def install(self, dest):
        env = dict(os.environ, DESTDIR=dest)
        return run(["cmake", "--install", BUILD, "--prefix", "/usr"], env=env, timeout=120)

    def test_install_tree(self):
        dest = os.path.join(self.root, "destdir")
        self.install(dest)
        for prog, page in PROGRAMS.items():
            path = os.path.join(dest, prog)
            self.assertTrue(os.access(path, os.X_OK), path)
            name = os.path.basename(prog)
            r = run([path, "--version"])
            self.assertTrue(r.stdout.startswith(name.encode() + b" "), r.stdout)
            self.assertRegex(r.stdout.decode(), r"\b\d+\.\d+\.\d+\b")
            r = run([path, "--help"])
            self.assertIn(b"usage: " + name.encode(), r.stdout)
            help_text = r.stdout.decode()
            # the man page exists, renders cleanly, and documents every long
            # option of --help
            man = os.path.join(dest, "usr/share/man", page)
            self.assertTrue(os.path.isfile(man), man)
            self.assertTrue(shutil.which("groff"), "groff is missing (tools/dev.sh installs groff-base)")
            g = subprocess.run(["groff", "-man", "-Tutf8", "-ww", man],
                               capture_output=True, timeout=30)
            self.assertEqual(g.returncode, 0, g.stderr)
            self.assertEqual(g.stderr, b"", g.stderr)
            rendered = re.sub(r".\x08", "", g.stdout.decode())
            self.assertIn("NAME", rendered)
            self.assertIn("EXIT STATUS", rendered)
            self.assertIn(name, rendered)
            for opt in set(re.findall(r"(--[a-z][a-z-]+)", help_text)):
                if name == "topicfs" and opt in ("--help", "--version"):
                    continue
                self.assertIn(opt, rendered.replace("\u2010", "-").replace("\u2212", "-"),
                              "%s: %s not in its man page" % (name, opt))
        self.assertTrue(shutil.which("man"), "man is missing (tools/dev.sh installs man-db)")
        r = subprocess.run(["man", "-l", "-Tutf8",
                            os.path.join(dest, "usr/share/man/man8/topicfs.8")],
                           capture_output=True, timeout=30, env=dict(os.environ, MANPAGER="cat"))
        self.assertEqual(r.returncode, 0, r.stderr)
        for ex in EXAMPLES:
            path = os.path.join(dest, "usr/share/doc/topicfs/examples", ex)
            self.assertTrue(os.path.isfile(path), path)
            if ex.endswith(".sh"):
                self.assertTrue(os.access(path, os.X_OK), path)
        etc_ini = os.path.join(dest, "etc/topicfs/topicfs.ini")
        self.assertTrue(os.path.isfile(etc_ini))
        # reinstalling keeps an edited config
        with open(etc_ini, "a") as f:
            f.write("; edited by the admin\n")
        self.install(dest)
        with open(etc_ini) as f:
            self.assertIn("; edited by the admin", f.read())
        # the installed daemon starts on the installed config
        d = self.daemon
        r = run([os.path.join(dest, "usr/sbin/topicfs"), "-f", "-c", etc_ini,
                 "--set", "net.enabled=false", "--data-dir", d.data, d.mnt, "--help"])
        self.assertEqual(r.returncode, 0)
        d.config = {"net": {}}
        import harness
        old = harness.BIN
        harness.BIN = os.path.join(dest, "usr/sbin/topicfs")
        try:
            d.write_config()
            d.start(["-c", etc_ini, "--set", "storage.data_dir=" + d.data,
                     "--set", "fs.mountpoint=" + d.mnt,
                     "--set", "net.listen=127.0.0.1:%d" % d.port])
            self.assertTrue(os.path.exists(d.path(".status")))
            self.assertEqual(d.stop(), 0)
        finally:
            harness.BIN = old


if __name__ == "__main__":
    main()
