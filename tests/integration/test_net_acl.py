"""ACLs (issue 14, authorization part) on a SASL_PLAINTEXT listener with
users made by topicfs-admin user add: alice (no super user) and admin
([sasl] super_users).  admin creates, lists and deletes ACLs with
kafka-python's KafkaAdminClient (CreateAcls, DescribeAcls, DeleteAcls);
alice, allowed READ and DESCRIBE on topic A and READ on group g, consumes
A with a group (kcat -G and confluent-kafka), cannot produce to A
(TOPIC_AUTHORIZATION_FAILED), does not see B in Metadata and cannot read
it, gets GROUP_AUTHORIZATION_FAILED for another group and
CLUSTER_AUTHORIZATION_FAILED for the ACL APIs.  A deleted ACL stops
working at once; `topicfs-admin acl add` while the daemon runs works
within the documented second; the ACLs survive a restart."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, run, scaled, tool, wait_for  # noqa: E402
from netutil import KCAT, NetTestCase, append_line  # noqa: E402

USERS = {"alice": "alice-pw", "admin": "admin-pw"}


class AclTest(NetTestCase):

    def setUp(self):
        super().setUp()
        self.admin_bin = tool("topicfs-admin")
        self.daemon.config["net"]["listeners"] = \
            "SASL_PLAINTEXT://127.0.0.1:%d" % self.daemon.port
        self.daemon.config["sasl"] = {"super_users": "User:admin",
                                      "mechanisms": "PLAIN, SCRAM-SHA-512"}
        self.daemon.write_config()
        for name, pw in USERS.items():
            self.admin("user", "add", name, input=(pw + "\n").encode())
        self.daemon.start()
        for t in ("A", "B"):
            os.mkdir(self.daemon.path(t))
            for i in range(3):
                append_line(self.daemon.path(t, "0"), "%s%d" % (t.lower(), i))
        self.boot = "127.0.0.1:%d" % self.daemon.port

    def admin(self, *args, input=None, check=True):
        return run([self.admin_bin, "-c", self.daemon.ini] + list(args), input=input,
                   check=check)

    def kcat(self, user, *args, check=True, timeout=60):
        cmd = [KCAT, "-b", self.boot, "-X", "security.protocol=SASL_PLAINTEXT",
               "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=" + user,
               "-X", "sasl.password=" + USERS[user]] + list(args)
        return run(cmd, timeout=timeout, check=check)

    def ck_conf(self, user, **extra):
        c = {"bootstrap.servers": self.boot, "security.protocol": "SASL_PLAINTEXT",
             "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": user,
             "sasl.password": USERS[user]}
        c.update(extra)
        return c

    def kp_admin(self, user="admin"):
        from kafka.admin import KafkaAdminClient
        return KafkaAdminClient(bootstrap_servers=self.boot,
                                security_protocol="SASL_PLAINTEXT",
                                sasl_mechanism="PLAIN", sasl_plain_username=user,
                                sasl_plain_password=USERS[user],
                                request_timeout_ms=int(scaled(10000)))

    def alice_acls(self):
        from kafka.admin import (ACL, ACLOperation, ACLPermissionType,
                                 ResourcePattern, ResourceType)
        allow = ACLPermissionType.ALLOW
        return [ACL("User:alice", "*", ACLOperation.READ, allow,
                    ResourcePattern(ResourceType.TOPIC, "A")),
                ACL("User:alice", "*", ACLOperation.DESCRIBE, allow,
                    ResourcePattern(ResourceType.TOPIC, "A")),
                ACL("User:alice", "*", ACLOperation.READ, allow,
                    ResourcePattern(ResourceType.GROUP, "g"))]

    def group_consume(self, group, topic="A", n=3):
        """confluent-kafka group consumer (JoinGroup, SyncGroup,
        OffsetFetch; no commit): (values, first error code)."""
        from confluent_kafka import Consumer
        c = Consumer(self.ck_conf("alice", **{"group.id": group,
                                              "enable.auto.commit": False,
                                              "auto.offset.reset": "earliest"}))
        got, err = [], None
        try:
            c.subscribe([topic])
            deadline = time.monotonic() + scaled(30)
            while len(got) < n and err is None and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None:
                    continue
                if m.error():
                    err = m.error().code()
                else:
                    got.append(m.value())
        finally:
            c.close()
        return got, err

    # ------------------------------------------------------------------

    def test_everything_alice_may_and_may_not(self):
        from confluent_kafka import KafkaError, Producer
        from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType,
                                 ResourcePatternFilter, ResourceType,
                                 ACLResourcePatternType)
        # no ACL: alice sees nothing, may read nothing
        r = self.kcat("alice", "-L", "-m", "10")
        self.assertNotIn(b'topic "A"', r.stdout)
        self.assertNotIn(b'topic "B"', r.stdout)
        # alice may not manage ACLs (CLUSTER_AUTHORIZATION_FAILED)
        adm_a = self.kp_admin("alice")
        try:
            res = adm_a.create_acls(self.alice_acls())
            self.assertEqual(res["succeeded"], [])
            self.assertEqual(len(res["failed"]), 3)
            self.assertIn("ClusterAuthorizationFailed", repr(res["failed"][0]))
        finally:
            adm_a.close()

        adm = self.kp_admin()
        try:
            res = adm.create_acls(self.alice_acls())
            self.assertEqual(len(res["succeeded"]), 3, res)
            self.assertEqual(res["failed"], [])
            any_filter = ACLFilter(principal=None, host=None,
                                   operation=ACLOperation.ANY,
                                   permission_type=ACLPermissionType.ANY,
                                   resource_pattern=ResourcePatternFilter(
                                       ResourceType.ANY, None,
                                       ACLResourcePatternType.ANY))
            acls, err = adm.describe_acls(any_filter)
            self.assertEqual(err.errno, 0)
            self.assertEqual(sorted((a.principal, a.operation.name,
                                     a.resource_pattern.resource_type.name,
                                     a.resource_pattern.resource_name) for a in acls),
                             [("User:alice", "DESCRIBE", "TOPIC", "A"),
                              ("User:alice", "READ", "GROUP", "g"),
                              ("User:alice", "READ", "TOPIC", "A")])
        finally:
            adm.close()
        with open(os.path.join(self.daemon.data, "acls")) as f:
            self.assertIn("ALLOW User:alice * READ TOPIC LITERAL A\n", f.read())

        # Metadata: A only; B named explicitly is TOPIC_AUTHORIZATION_FAILED
        r = self.kcat("alice", "-L", "-m", "10")
        self.assertIn(b'topic "A"', r.stdout)
        self.assertNotIn(b'topic "B"', r.stdout)
        from confluent_kafka.admin import AdminClient
        md = AdminClient(self.ck_conf("alice")).list_topics(topic="B", timeout=10)
        self.assertEqual(md.topics["B"].error.code(),
                         KafkaError.TOPIC_AUTHORIZATION_FAILED)
        # kcat consumes A, with a group too
        r = self.kcat("alice", "-C", "-t", "A", "-e", "-q", "-o", "beginning")
        self.assertEqual(r.stdout, b"a0\na1\na2\n")
        got, err = self.group_consume("g")
        self.assertEqual((got, err), ([b"a0", b"a1", b"a2"], None))
        r = self.kcat("alice", "-G", "g", "A", "-e", "-q", "-X",
                      "auto.offset.reset=earliest", timeout=90)
        self.assertEqual(r.stdout, b"a0\na1\na2\n")
        # B cannot be read
        r = self.kcat("alice", "-C", "-t", "B", "-e", "-q", "-o", "beginning",
                      check=False, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"uthorization", r.stderr)
        # produce to A: TOPIC_AUTHORIZATION_FAILED
        errs = []
        p = Producer(self.ck_conf("alice", **{"message.timeout.ms": 10000}))
        p.produce("A", b"nope", partition=0,
                  on_delivery=lambda e, m: errs.append(e))
        p.flush(scaled(20))
        self.assertEqual([e.code() for e in errs if e],
                         [KafkaError.TOPIC_AUTHORIZATION_FAILED])
        with open(self.daemon.path("A", "0"), "rb") as f:
            self.assertEqual(f.read(), b"a0\na1\na2\n")
        # another group: GROUP_AUTHORIZATION_FAILED
        got, err = self.group_consume("h")
        self.assertEqual(err, KafkaError.GROUP_AUTHORIZATION_FAILED)
        wait_for(lambda: "acl: User:alice denied" in self.daemon.read_log(),
                 scaled(5), what="a denial in the log")

        # delete the group ACL: effective at once
        adm = self.kp_admin()
        try:
            res = adm.delete_acls([ACLFilter(
                principal="User:alice", host="*", operation=ACLOperation.READ,
                permission_type=ACLPermissionType.ALLOW,
                resource_pattern=ResourcePatternFilter(
                    ResourceType.GROUP, "g", ACLResourcePatternType.LITERAL))])
            self.assertEqual(len(res), 1)
            _, matched, err = res[0]
            self.assertEqual(err.errno, 0)
            self.assertEqual(len(matched), 1)
        finally:
            adm.close()
        got, err = self.group_consume("g")
        self.assertEqual(err, KafkaError.GROUP_AUTHORIZATION_FAILED)
        self.assertNotIn("refused:", self.daemon.read_log())

    def test_topicfs_admin_acl_live_and_persistent(self):
        # while the daemon runs: prefixed WRITE + DESCRIBE, then alice produces
        r = self.admin("acl", "add", "--allow-principal", "User:alice",
                       "--operation", "Write", "--operation", "Describe",
                       "--topic", "A", "--resource-pattern-type", "prefixed")
        self.assertIn(b"added: ALLOW User:alice * WRITE TOPIC PREFIXED A", r.stdout)
        self.admin("acl", "add", "--allow-principal", "User:alice",
                   "--operation", "Read", "--topic", "A")
        out = self.admin("acl", "list", "--topic", "A").stdout.decode()
        self.assertEqual(out.count("\n"), 3, out)          # named A: any pattern
        out = self.admin("acl", "list", "--topic", "A", "--resource-pattern-type",
                         "literal").stdout.decode()
        self.assertEqual(out, "ALLOW User:alice * READ TOPIC LITERAL A\n")
        out = self.admin("acl", "list", "--topic", "A2", "--resource-pattern-type",
                         "match").stdout.decode()
        self.assertEqual(out.count("\n"), 2, out)          # the prefixed ones
        out = self.admin("acl", "list").stdout.decode().split("\n")[:-1]
        self.assertEqual(len(out), 3, out)
        self.assertEqual(os.stat(os.path.join(self.daemon.data, "acls")).st_mode & 0o777,
                         0o600)
        # effective within the documented second
        time.sleep(1.2)     # the daemon checks the file at most once a second
        run([KCAT, "-b", self.boot, "-X", "security.protocol=SASL_PLAINTEXT",
             "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=alice",
             "-X", "sasl.password=" + USERS["alice"], "-P", "-t", "A", "-p", "0"],
            input=b"w1\n", timeout=30)
        wait_for(lambda: open(self.daemon.path("A", "0"), "rb").read().endswith(b"w1\n"),
                 scaled(10), what="alice's record in A")
        # a bad flag, a wrong operation for the resource
        r = self.admin("acl", "add", "--allow-principal", "User:alice",
                       "--operation", "Write", "--group", "g", check=False)
        self.assertEqual(r.returncode, 2)
        r = self.admin("acl", "add", "--allow-principal", "alice",
                       "--operation", "Read", "--topic", "A", check=False)
        self.assertEqual(r.returncode, 2)
        # a damaged file is refused by the tool and keeps the daemon's table
        path = os.path.join(self.daemon.data, "acls")
        good = open(path).read()
        with open(path, "a") as f:
            f.write("ALLOW User:alice * FLY TOPIC LITERAL A\n")
        r = self.admin("acl", "list", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"FLY", r.stderr)
        os.kill(self.daemon.proc.pid, 1)                # SIGHUP: read again
        wait_for(lambda: "keeping the 3 bindings" in self.daemon.read_log(),
                 scaled(10), what="the damaged file refused")
        r = self.kcat("alice", "-C", "-t", "A", "-e", "-q", "-o", "beginning")
        self.assertIn(b"w1\n", r.stdout)
        with open(path, "w") as f:
            f.write(good)
        # delete through the tool: effective at once on SIGHUP
        r = self.admin("acl", "delete", "--allow-principal", "User:alice",
                       "--operation", "Read", "--topic", "A")
        self.assertIn(b"deleted: ALLOW User:alice * READ TOPIC LITERAL A", r.stdout)
        os.kill(self.daemon.proc.pid, 1)
        wait_for(lambda: self.kcat("alice", "-C", "-t", "A", "-e", "-q", "-o",
                                   "beginning", check=False,
                                   timeout=30).returncode != 0,
                 scaled(15), what="READ gone")
        # restart: what is left is still in force
        self.daemon.stop()
        self.daemon.start()
        self.assertIn(b'topic "A"', self.kcat("alice", "-L", "-m", "10").stdout)
        self.assertNotIn(b'topic "B"', self.kcat("alice", "-L", "-m", "10").stdout)
        run([KCAT, "-b", self.boot, "-X", "security.protocol=SASL_PLAINTEXT",
             "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=alice",
             "-X", "sasl.password=" + USERS["alice"], "-P", "-t", "A", "-p", "0"],
            input=b"w2\n", timeout=30)
        wait_for(lambda: open(self.daemon.path("A", "0"), "rb").read().endswith(b"w2\n"),
                 scaled(10), what="alice's record after the restart")
        # the super user sees and reads everything
        self.assertIn(b'topic "B"', self.kcat("admin", "-L", "-m", "10").stdout)
        r = self.kcat("admin", "-C", "-t", "B", "-e", "-q", "-o", "beginning")
        self.assertEqual(r.stdout, b"b0\nb1\nb2\n")


if __name__ == "__main__":
    main()
