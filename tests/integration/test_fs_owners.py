"""Owners and modes in the mount (issue 14; docs/FILE-VIEW.md, "Owners and
modes"), against the real daemon mounted with allow_other (so
default_permissions) and a second local user, nobody (uid 65534), through
setpriv:
- root's topic made with mode 0755: its partition is 0644, nobody reads it
  and cannot append (EACCES); after chmod 0777 (partitions 0666) nobody
  appends; nobody cannot chmod root's topic (EPERM);
- the root is 1777: nobody makes its own topic (owned by nobody, shown by
  stat), chmods it, cannot give it away or chgrp it to a group it is not
  in (EPERM), root can chown it; nobody cannot rmdir root's topic even
  with allow_delete (the sticky root), can rmdir its own;
- owners and modes survive a restart (the .topic file's owner lines), a
  .topic file without them loads as the daemon's 0755 (as before owners),
  and without allow_other the root stays 0755;
- a .groups file shows nobody only the rows of topics nobody may read.
Needs root (the test mounts and switches to nobody); fails otherwise."""
import errno
import os
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TopicfsTestCase, main, read_bytes, append_bytes, scaled  # noqa: E402

NOBODY = 65534

# Run as nobody: one operation, then "ok" (and what it read) or the errno
# name on the last line.
NOBODY_OP = r'''
import errno, os, sys
op, path = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else None
try:
    if op == "append":
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, arg.encode())
        finally:
            os.close(fd)
    elif op == "read":
        with open(path, "rb") as f:
            sys.stdout.write(f.read().decode())
    elif op == "mkdir":
        os.mkdir(path, int(arg, 8))
    elif op == "rmdir":
        os.rmdir(path)
    elif op == "chmod":
        os.chmod(path, int(arg, 8))
    elif op == "chown":
        uid, gid = arg.split(":")
        os.chown(path, int(uid), int(gid))
    else:
        raise SystemExit("unknown op " + op)
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
'''


def as_nobody(op, path, arg=None, groups=None):
    """groups: supplementary gids for nobody (default: none)."""
    cmd = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY]
    cmd += ["--groups=" + ",".join(map(str, groups))] if groups else ["--clear-groups"]
    cmd += [sys.executable, "-c", NOBODY_OP, op, path]
    if arg is not None:
        cmd.append(arg)
    r = subprocess.run(cmd, capture_output=True, timeout=scaled(30))
    if r.returncode != 0:
        raise AssertionError("as nobody %s %s: exit %d: %s" % (op, path, r.returncode,
                                                                r.stderr.decode()))
    out = r.stdout.decode()
    lines = out.rstrip("\n").split("\n")
    return lines[-1], "\n".join(lines[:-1])


def mode_of(path):
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


class FsOwners(TopicfsTestCase):
    daemon_net = False
    daemon_config = {"fs": {"allow_other": "true", "allow_delete": "true"}}

    def setUp(self):
        if os.geteuid() != 0:
            self.fail("this test mounts with allow_other and switches to nobody: run it as root")
        super().setUp()
        # nobody must reach the mount point through the test's temp dir
        os.chmod(self.root, 0o755)
        self.old_umask = os.umask(0o022)
        self.addCleanup(os.umask, self.old_umask)

    def assertErrno(self, code, fn, *args):
        with self.assertRaises(OSError) as cm:
            fn(*args)
        self.assertEqual(cm.exception.errno, code,
                         "%s%r: %s" % (fn.__name__, args, cm.exception))

    def test_other_user_cannot_append_until_chmod(self):
        self.start()
        t = self.daemon.path("t1")
        p = os.path.join(t, "0")
        os.mkdir(t, 0o755)
        self.assertEqual(mode_of(t), (0o755, 0, 0))
        self.assertTrue(stat.S_ISDIR(os.stat(t).st_mode))
        self.assertEqual(mode_of(p), (0o644, 0, 0))
        self.assertEqual(mode_of(p + "@earliest"), (0o444, 0, 0))
        self.assertEqual(mode_of(os.path.join(t, "@keyed")), (0o200, 0, 0))
        append_bytes(p, b"from root\n")
        # nobody reads (the partition and a view) but cannot append
        self.assertEqual(as_nobody("read", p), ("ok", "from root"))
        self.assertEqual(as_nobody("read", p + "@earliest..1"), ("ok", "from root"))
        self.assertEqual(as_nobody("append", p, "from nobody\n")[0], "EACCES")
        self.assertEqual(as_nobody("chmod", t, "777")[0], "EPERM")
        self.assertEqual(as_nobody("chown", t, "%d:%d" % (NOBODY, NOBODY))[0], "EPERM")
        self.assertEqual(read_bytes(p), b"from root\n")
        # chmod of a partition or a view: change the topic instead
        self.assertErrno(errno.EPERM, os.chmod, p, 0o666)
        self.assertErrno(errno.EPERM, os.chown, p, NOBODY, NOBODY)
        # the owner opens the topic: partitions 0666, views 0444
        os.chmod(t, 0o777)
        self.assertEqual(mode_of(t), (0o777, 0, 0))
        self.assertEqual(mode_of(p), (0o666, 0, 0))
        self.assertEqual(mode_of(p + "@earliest"), (0o444, 0, 0))
        self.assertEqual(mode_of(os.path.join(t, "@json")), (0o222, 0, 0))
        self.assertEqual(as_nobody("append", p, "from nobody\n")[0], "ok")
        self.assertEqual(read_bytes(p), b"from root\nfrom nobody\n")
        # and closes it again: 0700 shuts nobody out of reading too
        os.chmod(t, 0o700)
        self.assertEqual(mode_of(p), (0o600, 0, 0))
        self.assertEqual(as_nobody("read", p)[0], "EACCES")
        self.assertEqual(as_nobody("append", p, "x\n")[0], "EACCES")
        self.assertEqual(read_bytes(p), b"from root\nfrom nobody\n")
        # the change was logged
        self.assertIn("topic t1: owner 0:0 mode 0700", self.daemon.read_log())

    def test_other_user_owns_its_topic_and_cannot_delete_others(self):
        self.start()
        self.assertEqual(stat.S_IMODE(os.stat(self.daemon.mnt).st_mode), 0o1777)
        theirs = self.daemon.path("roots")
        os.mkdir(theirs, 0o777)          # a umask of 022: 0755
        self.assertEqual(mode_of(theirs), (0o755, 0, 0))
        mine = self.daemon.path("mine")
        self.assertEqual(as_nobody("mkdir", mine, "750")[0], "ok")
        self.assertEqual(mode_of(mine), (0o750, NOBODY, NOBODY))
        self.assertEqual(mode_of(os.path.join(mine, "0")), (0o640, NOBODY, NOBODY))
        self.assertEqual(as_nobody("append", os.path.join(mine, "0"), "mine\n")[0], "ok")
        self.assertEqual(as_nobody("chmod", mine, "700")[0], "ok")
        self.assertEqual(mode_of(mine), (0o700, NOBODY, NOBODY))
        # nobody cannot give it away, nor chgrp it to a group it is not in
        self.assertEqual(as_nobody("chown", mine, "0:%d" % NOBODY)[0], "EPERM")
        self.assertEqual(as_nobody("chown", mine, "%d:0" % NOBODY)[0], "EPERM")
        self.assertEqual(as_nobody("chown", mine, "%d:%d" % (NOBODY, NOBODY))[0], "ok")
        self.assertEqual(mode_of(mine), (0o700, NOBODY, NOBODY))
        # a supplementary group of the caller counts (read from the calling
        # thread's /proc status)
        self.assertEqual(as_nobody("chown", mine, "%d:100" % NOBODY, groups=[100])[0], "ok")
        self.assertEqual(mode_of(mine), (0o700, NOBODY, 100))
        self.assertEqual(as_nobody("chown", mine, "%d:%d" % (NOBODY, NOBODY))[0], "ok")
        # nobody cannot delete root's topic (sticky root), even 0777 and
        # with allow_delete; nor make one inside a topic
        os.chmod(theirs, 0o777)
        self.assertIn(as_nobody("rmdir", theirs)[0], ("EPERM", "EACCES"))
        self.assertTrue(os.path.isdir(theirs))
        self.assertIn(as_nobody("mkdir", os.path.join(mine, "sub"), "755")[0],
                      ("EPERM", "EACCES"))
        # root can read it, append and chown it
        append_bytes(os.path.join(mine, "0"), b"root\n")
        self.assertEqual(read_bytes(os.path.join(mine, "0")), b"mine\nroot\n")
        os.chown(mine, 0, 0)
        self.assertEqual(mode_of(mine), (0o700, 0, 0))
        self.assertEqual(as_nobody("read", os.path.join(mine, "0"))[0], "EACCES")
        os.chown(mine, NOBODY, NOBODY)
        # nobody deletes its own topic
        self.assertEqual(as_nobody("rmdir", mine)[0], "ok")
        self.assertFalse(os.path.exists(mine))
        self.assertEqual(sorted(os.listdir(self.daemon.mnt)), [".groups", ".status", "roots"])

    def test_groups_file_shows_only_readable_topics(self):
        self.start()
        secret, public = self.daemon.path("secret"), self.daemon.path("public")
        os.mkdir(secret, 0o700)
        os.mkdir(public, 0o755)
        for t in (secret, public):
            append_bytes(os.path.join(t, "0"), b"a\nb\nc\n")
        with open(self.daemon.path(".groups", "g"), "w") as f:
            f.write("secret 0 1\npublic 0 2\n")
        mine = read_bytes(self.daemon.path(".groups", "g")).decode()
        self.assertRegex(mine, r"(?m)^secret\s+0\s+1\s+3\s+2$")
        self.assertRegex(mine, r"(?m)^public\s+0\s+2\s+3\s+1$")
        self.assertIn("offsets 2\n", mine)
        res, out = as_nobody("read", self.daemon.path(".groups", "g"))
        self.assertEqual(res, "ok", out)
        self.assertRegex(out, r"(?m)^public\s+0\s+2\s+3\s+1$")
        self.assertNotIn("secret", out)
        self.assertIn("offsets 1\n", out)
        # a chmod opens it up at the next open
        os.chmod(secret, 0o755)
        res, out = as_nobody("read", self.daemon.path(".groups", "g"))
        self.assertEqual(res, "ok", out)
        self.assertRegex(out, r"(?m)^secret\s+0\s+1\s+3\s+2$")
        # and no one but the daemon's user may reset
        res, out = as_nobody("append", self.daemon.path(".groups", "g"), "public 0 0\n")
        self.assertEqual(res, "EACCES", out)

    def test_owners_persist_and_old_files_load_as_before(self):
        self.start()
        a = self.daemon.path("a")
        os.mkdir(a, 0o755)
        os.chmod(a, 0o750)
        os.chown(a, NOBODY, 4321)
        self.assertEqual(as_nobody("mkdir", self.daemon.path("b"), "700")[0], "ok")
        os.mkdir(self.daemon.path("old"), 0o700)
        append_bytes(self.daemon.path("old", "0"), b"kept\n")
        self.assertEqual(self.daemon.stop(), 0)
        with open(os.path.join(self.daemon.data, "a.topic")) as f:
            text = f.read()
        self.assertIn("\nowner_uid=%d\nowner_gid=4321\nmode=0750\ntopic_id=" % NOBODY, text)
        # a .topic file written before owners: no owner lines
        path = os.path.join(self.daemon.data, "old.topic")
        with open(path) as f:
            lines = f.read().splitlines(True)
        with open(path, "w") as f:
            f.write("".join(x for x in lines
                            if not x.startswith(("owner_uid=", "owner_gid=", "mode="))))
        # and restarted without allow_other: the owners stay, the root is 0755
        self.daemon.config["fs"].pop("allow_other")
        self.start()
        self.assertEqual(stat.S_IMODE(os.stat(self.daemon.mnt).st_mode), 0o755)
        self.assertEqual(mode_of(a), (0o750, NOBODY, 4321))
        self.assertEqual(mode_of(os.path.join(a, "0")), (0o640, NOBODY, 4321))
        self.assertEqual(mode_of(self.daemon.path("b")), (0o700, NOBODY, NOBODY))
        self.assertEqual(mode_of(self.daemon.path("old")), (0o755, 0, 0))
        self.assertEqual(mode_of(self.daemon.path("old", "0")), (0o644, 0, 0))
        self.assertEqual(read_bytes(self.daemon.path("old", "0")), b"kept\n")
        self.assertFalse(os.path.exists(path + ".damaged"))
        with open(path) as f:
            self.assertNotIn("owner_uid", f.read())
        # the root owns everything it did before: appends to nobody's 0700
        append_bytes(self.daemon.path("b", "0"), b"root\n")
        self.assertEqual(read_bytes(self.daemon.path("b", "0")), b"root\n")


if __name__ == "__main__":
    main()
