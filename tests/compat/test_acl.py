"""Authorization with Kafka's StandardAuthorizer semantics, driven by real
clients. A broker with two listeners, as Kafka deployments run them:
PLAINTEXT (the brokers' and the operators' listener; its anonymous principal
is a super user) and SASL_PLAINTEXT (clients authenticate as User:alice or
User:bob with PLAIN and get only what ACLs allow). ACLs are created with
confluent-kafka's AdminClient, the `brook acl` CLI and checked with
confluent-kafka, kafka-python and raw wire requests (ListOffsets, which no
client sends without first passing Metadata's identical DESCRIBE check)."""

import json
import socket
import struct
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   NewTopic, ResourcePatternType, ResourceType)

from cluster import Cluster, cluster_factory, wait_for  # noqa: F401  (fixtures)
from conftest import BROOK_TEST_BINARY, free_port
from helpers import kcat

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
        'password="admin-secret" user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";')
PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret", "admin": "admin-secret"}
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED


def acl_settings(plain_port, sasl_port):
    return {
        "listeners": f"PLAINTEXT://127.0.0.1:{plain_port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
        "authorizer.class.name": AUTHORIZER,
        # The internal PLAINTEXT listener is trusted (brokers, operators); admin too on SASL.
        "super.users": "User:ANONYMOUS;User:admin",
        "auto.create.topics.enable": "false",
    }


def wait_unfenced(bootstrap, timeout=30):
    """The listener accepts before the broker is unfenced; until then
    Metadata lists no broker and librdkafka's admin requests wait for a
    controller that never shows. Returns once the broker is listed."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if admin.list_topics(timeout=5).brokers:
                return
        except KafkaException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"broker at {bootstrap} not listed in Metadata within {timeout}s")


@pytest.fixture
def broker(brook_factory):
    plain, sasl = free_port(), free_port()
    b = brook_factory(acl_settings(plain, sasl))
    b.port = plain
    b.start()
    b.sasl_port = sasl
    b.sasl_bootstrap = f"127.0.0.1:{sasl}"
    wait_unfenced(b.bootstrap)
    return b


# Consumers by assignment still look up their group's coordinator (librdkafka):
# a principal without ACLs on that group sees GROUP_AUTHORIZATION_FAILED, beside the point there.
ASSIGN_ONLY = {"group.id": "unused", "enable.auto.commit": False}
NO_GROUP = (KafkaError.GROUP_AUTHORIZATION_FAILED,)


def conf(broker, user, **extra):
    c = {"bootstrap.servers": broker.sasl_bootstrap, "security.protocol": "SASL_PLAINTEXT",
         "sasl.mechanism": "PLAIN", "sasl.username": user, "sasl.password": PASSWORDS[user]}
    c.update(extra)
    return c


def super_admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def add_acls(admin, *acls):
    futures = admin.create_acls([AclBinding(rt, name, pt, principal, "*", op, perm)
                                 for (rt, name, pt, principal, op, perm) in acls])
    for f in futures.values():
        f.result(timeout=30)


def create_topics(broker, *names, partitions=1):
    admin = super_admin(broker)
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    for f in futures.values():
        f.result(timeout=30)


def produce_as_super(broker, topic, values):
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for v in values:
        p.produce(topic, v)
    assert p.flush(30) == 0


def high_watermark(broker, topic, partition=0):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "hw-check"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
    finally:
        c.close()


def poll_until(consumer, want, timeout=30, ignore=()):
    """Polls until `want` values arrive or an error (not in `ignore`) is seen;
    returns (values, error code)."""
    got = []
    deadline = time.time() + timeout
    while len(got) < want and time.time() < deadline:
        m = consumer.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() in (KafkaError._PARTITION_EOF, *ignore):
                continue
            return got, m.error().code()
        got.append(m.value())
    return got, None


# --- raw wire requests over SASL PLAIN (non-flexible versions) -----------------

def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class RawSasl:
    """One connection authenticated with SaslHandshake v1 + SaslAuthenticate v0 (PLAIN)."""

    def __init__(self, port, user, password, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.correlation = 0
        assert struct.unpack(">h", self.call(17, 1, _str("PLAIN"))[:2])[0] == 0
        token = b"\0" + user.encode() + b"\0" + password.encode()
        assert struct.unpack(">h", self.call(36, 0, struct.pack(">i", len(token)) + token)[:2])[0] == 0

    def _read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            out += chunk
        return out

    def call(self, api_key, version, body):
        self.correlation += 1
        header = struct.pack(">hhi", api_key, version, self.correlation) + _str("acl-test")
        self.sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        size = struct.unpack(">i", self._read(4))[0]
        data = self._read(size)
        assert struct.unpack(">i", data[:4])[0] == self.correlation
        return data[4:]

    def list_offsets_error(self, topic, partition=0):
        """ListOffsets v1 for the latest offset: the partition's error code."""
        body = struct.pack(">ii", -1, 1) + _str(topic) + struct.pack(">iiq", 1, partition, -1)
        r = self.call(2, 1, body)
        (ntopics,) = struct.unpack(">i", r[:4])
        (name_len,) = struct.unpack(">h", r[4:6])
        pos = 6 + name_len
        (nparts, index, error) = struct.unpack(">iih", r[pos:pos + 10])
        assert ntopics == 1 and nparts == 1 and index == partition
        return error

    def close(self):
        self.sock.close()


# --- tests ------------------------------------------------------------------------

def test_fetch_and_list_offsets_need_topic_acls(broker):
    create_topics(broker, "orders")
    produce_as_super(broker, "orders", [b"a", b"b", b"c"])
    admin = super_admin(broker)
    # alice may DESCRIBE (Metadata, ListOffsets) but not READ: Fetch is refused.
    add_acls(admin, (ResourceType.TOPIC, "orders", LITERAL, "User:alice", AclOperation.DESCRIBE, ALLOW))
    c = Consumer(conf(broker, "alice", **ASSIGN_ONLY))
    try:
        c.assign([TopicPartition("orders", 0, 0)])
        got, error = poll_until(c, 3, ignore=NO_GROUP)
        assert got == [] and error == KafkaError.TOPIC_AUTHORIZATION_FAILED
    finally:
        c.close()
    # ListOffsets: DESCRIBE suffices (Kafka's rule); bob, with no ACL, is refused.
    raw = RawSasl(broker.sasl_port, "alice", PASSWORDS["alice"])
    assert raw.list_offsets_error("orders") == 0
    raw.close()
    raw = RawSasl(broker.sasl_port, "bob", PASSWORDS["bob"])
    assert raw.list_offsets_error("orders") == 29  # TOPIC_AUTHORIZATION_FAILED
    raw.close()
    # READ granted: the same consumer now reads everything.
    add_acls(admin, (ResourceType.TOPIC, "orders", LITERAL, "User:alice", AclOperation.READ, ALLOW))
    c = Consumer(conf(broker, "alice", **ASSIGN_ONLY))
    try:
        c.assign([TopicPartition("orders", 0, 0)])
        got, error = poll_until(c, 3, ignore=NO_GROUP)
        assert (got, error) == ([b"a", b"b", b"c"], None)
    finally:
        c.close()


def test_produce_needs_write_and_writes_nothing(broker):
    create_topics(broker, "payments")
    add_acls(super_admin(broker),
             (ResourceType.TOPIC, "payments", LITERAL, "User:alice", AclOperation.READ, ALLOW))
    errors = []
    p = Producer(conf(broker, "alice", **{"message.timeout.ms": 10000}))
    for i in range(5):
        p.produce("payments", b"x%d" % i, on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    assert len(errors) == 5 and all(e is not None and e.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
                                    for e in errors), errors
    assert high_watermark(broker, "payments") == 0
    # With WRITE the same producer's records land.
    add_acls(super_admin(broker),
             (ResourceType.TOPIC, "payments", LITERAL, "User:alice", AclOperation.WRITE, ALLOW))
    p = Producer(conf(broker, "alice"))
    p.produce("payments", b"ok")
    assert p.flush(30) == 0
    assert high_watermark(broker, "payments") == 1


def test_group_needs_read(broker):
    create_topics(broker, "events")
    produce_as_super(broker, "events", [b"e1", b"e2"])
    admin = super_admin(broker)
    add_acls(admin,
             (ResourceType.TOPIC, "events", LITERAL, "User:alice", AclOperation.READ, ALLOW),
             # DESCRIBE lets FindCoordinator through; JoinGroup needs READ.
             (ResourceType.GROUP, "g1", LITERAL, "User:alice", AclOperation.DESCRIBE, ALLOW))
    c = Consumer(conf(broker, "alice", **{"group.id": "g1", "auto.offset.reset": "earliest"}))
    try:
        c.subscribe(["events"])
        got, error = poll_until(c, 2)
        assert got == [] and error == KafkaError.GROUP_AUTHORIZATION_FAILED
    finally:
        c.close()
    # kafka-python sees the same refusal.
    from kafka import KafkaConsumer
    from kafka.errors import GroupAuthorizationFailedError
    kc = KafkaConsumer("events", bootstrap_servers=broker.sasl_bootstrap, group_id="g1",
                       security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_plain_username="alice",
                       sasl_plain_password=PASSWORDS["alice"], auto_offset_reset="earliest",
                       request_timeout_ms=20000)
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            deadline = time.time() + 30
            while time.time() < deadline:
                kc.poll(timeout_ms=500)
    finally:
        kc.close()
    add_acls(admin, (ResourceType.GROUP, "g1", LITERAL, "User:alice", AclOperation.READ, ALLOW))
    c = Consumer(conf(broker, "alice", **{"group.id": "g1", "auto.offset.reset": "earliest"}))
    try:
        c.subscribe(["events"])
        got, error = poll_until(c, 2, timeout=60)
        assert (sorted(got), error) == ([b"e1", b"e2"], None)
        c.commit(asynchronous=False)
    finally:
        c.close()


def test_acl_apis_need_cluster_permissions(broker):
    admin = AdminClient(conf(broker, "alice"))
    binding = AclBinding(ResourceType.TOPIC, "t", LITERAL, "User:alice", "*", AclOperation.ALL, ALLOW)
    with pytest.raises(KafkaException) as refused:
        admin.create_acls([binding])[binding].result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    # DescribeAcls needs DESCRIBE on the cluster (kafka-python raises the response's
    # error; confluent-kafka 2.16 answers an empty list for it).
    from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient,
                             ResourcePattern, ResourcePatternFilter)
    from kafka.admin import ResourceType as KResourceType
    from kafka.errors import ClusterAuthorizationFailedError
    kadmin = KafkaAdminClient(bootstrap_servers=broker.sasl_bootstrap, security_protocol="SASL_PLAINTEXT",
                              sasl_mechanism="PLAIN", sasl_plain_username="alice",
                              sasl_plain_password=PASSWORDS["alice"], request_timeout_ms=20000)
    try:
        any_acl = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                            permission_type=ACLPermissionType.ANY,
                            resource_pattern=ResourcePatternFilter(KResourceType.ANY, None, ACLResourcePatternType.ANY))
        with pytest.raises(ClusterAuthorizationFailedError):
            kadmin.describe_acls(any_acl)
    finally:
        kadmin.close()
    root = super_admin(broker)
    assert root.describe_acls(everything).result(timeout=30) == []
    # KIP-554 SCRAM administration needs ALTER on the cluster too.
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
    upsert = UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"pw")
    with pytest.raises(KafkaException) as refused:
        for f in admin.alter_user_scram_credentials([upsert]).values():
            f.result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # ALTER on the cluster is what CreateAcls needs.
    add_acls(super_admin(broker),
             (ResourceType.BROKER, "kafka-cluster", LITERAL, "User:alice", AclOperation.ALTER, ALLOW))
    admin.create_acls([binding])[binding].result(timeout=30)
    # Bad input: an empty resource name is INVALID_REQUEST.
    bad = AclBinding(ResourceType.TOPIC, "", LITERAL, "User:alice", "*", AclOperation.READ, ALLOW)
    root = super_admin(broker)
    with pytest.raises(KafkaException) as refused:
        root.create_acls([bad])[bad].result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.INVALID_REQUEST


def test_security_disabled_without_authorizer(brook):
    wait_unfenced(brook.bootstrap)
    admin = AdminClient({"bootstrap.servers": brook.bootstrap})
    binding = AclBinding(ResourceType.TOPIC, "t", LITERAL, "User:alice", "*", AclOperation.READ, ALLOW)
    with pytest.raises(KafkaException) as refused:
        admin.create_acls([binding])[binding].result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.SECURITY_DISABLED


def test_prefixed_acl_shows_only_own_topics(broker):
    create_topics(broker, "alice-1", "alice-2", "bob-1")
    add_acls(super_admin(broker),
             (ResourceType.TOPIC, "alice-", PREFIXED, "User:alice", AclOperation.READ, ALLOW))
    admin = AdminClient(conf(broker, "alice"))
    assert set(admin.list_topics(timeout=10).topics) == {"alice-1", "alice-2"}
    named = admin.list_topics(topic="bob-1", timeout=10).topics["bob-1"]
    assert named.error is not None and named.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert set(AdminClient(conf(broker, "bob")).list_topics(timeout=10).topics) == set()
    # kcat's metadata listing as alice shows the same two topics.
    listing = json.loads(kcat("-b", broker.sasl_bootstrap, "-X", "security.protocol=SASL_PLAINTEXT",
                              "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=alice",
                              "-X", f"sasl.password={PASSWORDS['alice']}", "-L", "-J").stdout)
    assert {t["topic"] for t in listing["topics"]} == {"alice-1", "alice-2"}
    assert {"alice-1", "alice-2", "bob-1"} <= set(super_admin(broker).list_topics(timeout=10).topics)


def test_deny_overrides_allow(broker):
    create_topics(broker, "open", "closed")
    produce_as_super(broker, "open", [b"o"])
    produce_as_super(broker, "closed", [b"c"])
    add_acls(super_admin(broker),
             (ResourceType.TOPIC, "*", LITERAL, "User:alice", AclOperation.ALL, ALLOW),
             (ResourceType.TOPIC, "closed", LITERAL, "User:*", AclOperation.READ, DENY))
    for topic, expected in (("open", ([b"o"], None)), ("closed", ([], KafkaError.TOPIC_AUTHORIZATION_FAILED))):
        c = Consumer(conf(broker, "alice", **ASSIGN_ONLY))
        try:
            c.assign([TopicPartition(topic, 0, 0)])
            assert poll_until(c, 1, ignore=NO_GROUP) == expected, topic
        finally:
            c.close()


def brook_cli(bootstrap, *args, timeout=60):
    r = subprocess.run([BROOK_TEST_BINARY, "--bootstrap-server", bootstrap, *args],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_cli_round_trip(broker):
    create_topics(broker, "cli-1", "other")
    produce_as_super(broker, "cli-1", [b"v"])
    out = brook_cli(broker.bootstrap, "acl", "add", "--allow-principal", "User:alice", "--operation", "Read",
                    "--operation", "Describe", "--topic", "cli-", "--resource-pattern-type", "prefixed")
    assert "Added 2 ACL(s)" in out
    listed = json.loads(brook_cli(broker.bootstrap, "--output", "json", "acl", "list", "--topic", "cli-"))
    assert sorted(a["operation"] for a in listed) == ["DESCRIBE", "READ"]
    assert all(a["pattern_type"] == "PREFIXED" and a["principal"] == "User:alice" for a in listed)
    # What the CLI wrote, a real client reads and obeys.
    admin = AdminClient(conf(broker, "alice"))
    assert set(admin.list_topics(timeout=10).topics) == {"cli-1"}
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    root = super_admin(broker)
    assert len(root.describe_acls(everything).result(timeout=30)) == 2
    out = brook_cli(broker.bootstrap, "acl", "remove", "--allow-principal", "User:alice", "--operation", "Read",
                    "--topic", "cli-", "--resource-pattern-type", "prefixed")
    assert "Removed 1 ACL(s)" in out
    listed = json.loads(brook_cli(broker.bootstrap, "--output", "json", "acl", "list"))
    assert [a["operation"] for a in listed] == ["DESCRIBE"]
    brook_cli(broker.bootstrap, "acl", "remove", "--topic", "cli-", "--resource-pattern-type", "prefixed")
    assert json.loads(brook_cli(broker.bootstrap, "--output", "json", "acl", "list")) == []


def test_cli_over_sasl(broker, tmp_path):
    """`brook acl` as a SASL principal (--command-config): the super user
    admin may, alice may not (CLUSTER_AUTHORIZATION_FAILED, exit code 1)."""
    configs = {}
    for user in ("admin", "alice"):
        configs[user] = tmp_path / f"{user}.properties"
        configs[user].write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                                 f"sasl.username={user}\nsasl.password={PASSWORDS[user]}\n")
    brook_cli(broker.sasl_bootstrap, "--command-config", str(configs["admin"]), "acl", "add", "--allow-principal",
              "User:bob", "--operation", "Write", "--transactional-id", "tx-1")
    listed = json.loads(brook_cli(broker.sasl_bootstrap, "--command-config", str(configs["admin"]), "--output", "json",
                                  "acl", "list", "--transactional-id", "tx-1"))
    assert [(a["resource_type"], a["operation"]) for a in listed] == [("TRANSACTIONAL_ID", "WRITE")]
    refused = subprocess.run([BROOK_TEST_BINARY, "--bootstrap-server", broker.sasl_bootstrap, "--command-config",
                              str(configs["alice"]), "acl", "list"], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "authorization" in refused.stderr.lower(), refused.stderr


def test_acls_survive_restart_and_reach_every_broker(tmp_path):
    cluster = Cluster(tmp_path, n=3, settings={"authorizer.class.name": AUTHORIZER,
                                                "super.users": "User:ANONYMOUS"})
    try:
        cluster.start()
        admin = cluster.admin(cluster.node(1).bootstrap)
        admin.create_topics([NewTopic("replicated", num_partitions=2, replication_factor=3)])["replicated"].result(
            timeout=30)
        add_acls(admin,
                 (ResourceType.TOPIC, "app-", PREFIXED, "User:alice", AclOperation.READ, ALLOW),
                 (ResourceType.GROUP, "app-group", LITERAL, "User:alice", AclOperation.READ, ALLOW),
                 (ResourceType.TOPIC, "app-secret", LITERAL, "User:alice", AclOperation.READ, DENY))
        # Replication and acks=all work with the authorizer on (brokers fetch as a super user).
        p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
        for i in range(20):
            p.produce("replicated", b"%d" % i, partition=i % 2)
        assert p.flush(60) == 0
        everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                      AclOperation.ANY, AclPermissionType.ANY)

        def acls_everywhere():
            for n in cluster.brokers:
                node_admin = cluster.admin(n.bootstrap)  # alive until its answer arrives
                if len(node_admin.describe_acls(everything).result(timeout=10)) != 3:
                    return False
            return True

        cluster.wait_for(acls_everywhere, timeout=30, what="ACLs on every broker")
        cluster.stop()
        for n in cluster.nodes.values():
            n.proc = None
        cluster.start()
        cluster.wait_for(acls_everywhere, timeout=60, what="ACLs on every broker after a restart")
        node3 = cluster.admin(cluster.node(3).bootstrap)
        bindings = node3.describe_acls(everything).result(timeout=10)
        assert {(b.name, b.permission_type) for b in bindings} == {
            ("app-", ALLOW), ("app-group", ALLOW), ("app-secret", DENY)}
        # Still replicated and readable after the restart.
        c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "after-restart",
                      "auto.offset.reset": "earliest", "enable.partition.eof": False})
        try:
            c.assign([TopicPartition("replicated", p, 0) for p in (0, 1)])
            got, error = poll_until(c, 20, timeout=60)
            assert error is None and len(got) == 20
        finally:
            c.close()
    finally:
        cluster.stop()


def test_three_nodes_with_sasl_inter_broker_and_only_the_broker_user_super(cluster_factory):
    """The recommended production shape: brokers log in to each other as
    User:admin over SASL and only that user is super; the PLAINTEXT
    listener's anonymous principal gets nothing. Replication (follower
    Fetch needs CLUSTER_ACTION) and acks=all still work."""
    c = cluster_factory(settings={
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
        "authorizer.class.name": AUTHORIZER,
        "super.users": "User:admin",
    })
    sasl_ports = {}
    for n in c.nodes.values():
        sasl_ports[n.id] = free_port()
        n.overrides["listeners"] = (f"PLAINTEXT://127.0.0.1:{n.port},CONTROLLER://127.0.0.1:{n.controller_port},"
                                    f"SASL_PLAINTEXT://127.0.0.1:{sasl_ports[n.id]}")
    c.start()
    sasl_bootstrap = ",".join(f"127.0.0.1:{p}" for p in sasl_ports.values())
    as_admin = {"bootstrap.servers": sasl_bootstrap, "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN", "sasl.username": "admin", "sasl.password": PASSWORDS["admin"]}
    admin = AdminClient(as_admin)
    wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, timeout=60, what="three brokers listed")
    admin.create_topics([NewTopic("guarded", 1, 3)])["guarded"].result(timeout=30)
    p = Producer({**as_admin, "acks": "all"})
    for i in range(20):
        p.produce("guarded", b"%d" % i)
    assert p.flush(60) == 0

    def all_in_sync():
        md = admin.list_topics("guarded", timeout=10).topics["guarded"].partitions[0]
        return sorted(md.isrs) == [1, 2, 3]
    wait_for(all_in_sync, timeout=30, what="ISR of 3 with the authorizer on")
    # The anonymous PLAINTEXT principal is not a super user here: nothing is visible to it.
    anonymous = AdminClient({"bootstrap.servers": c.node(1).bootstrap})
    assert "guarded" not in anonymous.list_topics(timeout=10).topics
    named = anonymous.list_topics(topic="guarded", timeout=10).topics["guarded"]
    assert named.error is not None and named.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
