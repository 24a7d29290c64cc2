"""The test harness's own rule: a skipped test fails its file's run (a check
that could not run is not a pass), as do a failure, an error, an expected
failure that passed and a run in which no test ran; a run whose tests all
pass exits 0.  Each case runs a small test module, written to a temp dir,
that uses harness.main() as every integration test does."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import main  # noqa: E402

MODULE = '''import sys, unittest
sys.path.insert(0, %r)
from harness import main
class T(unittest.TestCase):
    def test_ok(self):
        self.assertEqual(1 + 1, 2)
%s
if __name__ == "__main__":
    main()
'''

SKIPPED = '''    def test_needs_something(self):
        self.skipTest("something is missing")
'''

OTHERS = {
    "failure": '''    def test_bad(self):
        self.assertEqual(1, 2)
''',
    "error": '''    def test_raises(self):
        raise RuntimeError("boom")
''',
    "unexpected success": '''    @unittest.expectedFailure
    def test_thought_broken(self):
        self.assertEqual(1, 1)
''',
}


class Harness(unittest.TestCase):

    def run_module(self, extra, *args):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "mod.py")
            with open(path, "w") as f:
                f.write(MODULE % (HERE, extra))
            return subprocess.run([sys.executable, path] + list(args),
                                  capture_output=True, text=True, timeout=60)

    def test_all_pass_exits_0(self):
        r = self.run_module("")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_a_skip_fails_the_run(self):
        r = self.run_module(SKIPPED)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("test_needs_something: something is missing", r.stderr)
        self.assertIn("counts as failed", r.stderr)

    def test_failures_fail_the_run(self):
        for what, extra in OTHERS.items():
            r = self.run_module(extra)
            self.assertEqual(r.returncode, 1, "%s: %s" % (what, r.stderr))

    def test_no_test_run_fails(self):
        r = self.run_module("", "-k", "no_such_test")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no test ran", r.stderr)


if __name__ == "__main__":
    main()
