"""pkgutil.py - helpers for the packaging tests (test_pkg_*.py): daemons
started the ways users start them (mount(8), mount.fuse3, fstab) and found
again afterwards by their mount point, and a tiny Prometheus text parser.
"""
import os
import signal
import subprocess
import time

from harness import wait_for


def mounted(mnt):
    with open("/proc/mounts") as f:
        return any(line.split()[1] == mnt for line in f)


def mount_entry(mnt):
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[1] == mnt:
                return fields
    return None


def daemon_pids(marker):
    """pids of topicfs processes whose command line contains marker (a
    unique temp path of the test)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and b"topicfs" in os.path.basename(argv[0]) and \
                any(marker.encode() in a for a in argv[1:]):
            pids.append(int(d))
    return pids


def unmount_and_reap(mnt, marker, timeout=15):
    """Unmount mnt (umount, then fusermount3 -u, then -uz) and wait for the
    daemons started for this test (found by marker) to exit; SIGKILL any
    that do not.  Returns the pids that had to be killed."""
    if mounted(mnt):
        subprocess.run(["umount", mnt], capture_output=True, timeout=10)
    if mounted(mnt):
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True, timeout=10)
    if mounted(mnt):
        subprocess.run(["fusermount3", "-uz", mnt], capture_output=True, timeout=10)
    killed = []
    deadline = time.monotonic() + timeout
    while daemon_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in daemon_pids(marker):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    if mounted(mnt):
        subprocess.run(["fusermount3", "-uz", mnt], capture_output=True, timeout=10)
    return killed


def wait_mounted(mnt, timeout=15):
    wait_for(lambda: mounted(mnt), timeout, what="mount of %s" % mnt)


def parse_prometheus(text):
    """{(name, frozenset(labels.items())): value}, plus {name: type} and the
    set of names with HELP.  Raises on a malformed line."""
    samples, types, helps = {}, {}, set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            helps.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            types[name] = typ
            continue
        if line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        labels = {}
        if "{" in name_labels:
            name, rest = name_labels.split("{", 1)
            assert rest.endswith("}"), line
            for kv in rest[:-1].split(","):
                k, v = kv.split("=", 1)
                assert v.startswith('"') and v.endswith('"'), line
                labels[k] = v[1:-1]
        else:
            name = name_labels
        samples[(name, frozenset(labels.items()))] = float(value)
    return samples, types, helps
