"""Cluster mode (Raft metadata quorum, KRaft model) with real clients against
real `brook server` processes. What this file proves:

a. three combined broker+controller nodes spread a topic's partition leaders
   round-robin, and confluent-kafka, kcat and KafkaJS each produce and consume
   every record while bootstrapping through one single broker;
b. dedicated roles (3 controller-only + 2 broker-only nodes) serve clients and
   `cluster info` reports the brokers and a controller from the quorum;
c. kill -9 of the active controller: a new one is elected quickly, topics can
   be created and described through every survivor, and the killed node
   catches up on restart;
d. a killed broker is fenced within its session timeout (its partitions go
   offline, it leaves the broker list), the rest keeps serving, and after it
   returns every record of every partition reads back;
e. a consumer group whose coordinator is one of several __consumer_offsets
   leaders keeps its committed offsets across a restart of the coordinator;
f. the metadata log stays bounded under topic churn (snapshots), and a restart
   loads the snapshot and keeps data;
g. bad input is refused at startup with a one-line error: malformed voters,
   a duplicate node.id, a changed node.id, a data dir of another cluster (left
   untouched);
h. the default single-node mode (no cluster settings) keeps topics, records
   and committed offsets across restarts.
"""

import hashlib
import json
import re
import shutil
import socket
import struct
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import (Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import cluster, cluster_factory, wait_for  # noqa: F401  (fixtures)
from conftest import free_port
from conftest import ROOT
from helpers import consume_all

NODE_DIR = ROOT / "tests" / "compat" / "node"


# --- helpers -------------------------------------------------------------


def create_topics(bootstrap, names, partitions=1, timeout=30):
    """Creates topics through `bootstrap`, retrying while the controller is
    unavailable or moving; a retry that finds the topic already there is a
    success (the earlier attempt went through)."""
    deadline = time.time() + timeout
    pending = list(names)
    attempt = 0
    while pending:
        attempt += 1
        admin = AdminClient({"bootstrap.servers": bootstrap})
        futures = admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in pending],
                                      operation_timeout=10, request_timeout=15)
        failed = []
        last = None
        for name, f in futures.items():
            try:
                f.result(timeout=max(1, deadline - time.time()))
            except KafkaException as e:
                err = e.args[0]
                if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    if attempt > 1:
                        continue
                    raise
                failed.append(name)
                last = e
        pending = failed
        if pending and time.time() >= deadline:
            raise AssertionError(f"creating {pending} through {bootstrap} kept failing: {last!r}")
        if pending:
            time.sleep(0.5)


def wait_topic_online(c, topic, partitions, bootstrap, timeout=30):
    """Waits until every partition of `topic` has a live leader as seen through `bootstrap`."""
    def online():
        leaders = c.leaders(topic, bootstrap)
        return leaders if leaders and len(leaders) == partitions and all(l >= 0 for l in leaders.values()) else None
    return wait_for(online, timeout, f"{topic}'s {partitions} partitions to have leaders via {bootstrap}")


def produce(bootstrap, topic, records, timeout=60, extra=None):
    """Produces (partition or None, key, value) records (str keys/values);
    returns [(partition, offset, key, value)]. Fails on any delivery error."""
    errors, delivered = [], []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered.append((msg.partition(), msg.offset(), msg.key().decode() if msg.key() else None,
                              msg.value().decode()))

    conf = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "message.timeout.ms": 30000}
    conf.update(extra or {})
    p = Producer(conf)
    for part, key, value in records:
        kwargs = {"partition": part} if part is not None else {}
        p.produce(topic, key=key.encode() if key is not None else None, value=value.encode(), on_delivery=on_delivery,
                  **kwargs)
        p.poll(0)
    remaining = p.flush(timeout)
    assert remaining == 0, f"{remaining} records to {topic} via {bootstrap} not delivered within {timeout}s"
    assert not errors, f"delivery errors producing to {topic} via {bootstrap}: {errors[:5]}"
    assert len(delivered) == len(records)
    return delivered


def run_kcat(*args, input=None, timeout=60):
    proc = subprocess.run(["kcat", *args], input=input, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, f"kcat {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()}"
    return proc


def by_partition(messages):
    out = {}
    for m in messages:
        out.setdefault(m.partition(), []).append(m.value().decode())
    return out


def dir_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def hash_files(data_dir):
    """sha256 of meta.properties and every file of the metadata log directory."""
    data_dir = Path(data_dir)
    files = [data_dir / "meta.properties"] + sorted((data_dir / "__cluster_metadata-0").rglob("*"))
    return {str(f.relative_to(data_dir)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}


def assert_refused(rc, stderr, *patterns):
    """A startup refusal: non-zero exit, exactly one `error: ` line on stderr
    matching every regex in `patterns` (case-insensitive), no panic."""
    assert rc != 0, f"expected a non-zero exit, got {rc}; stderr:\n{stderr[-3000:]}"
    assert "panicked" not in stderr, f"panicked instead of a clean error:\n{stderr[-3000:]}"
    errors = [l for l in stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == 1, f"expected one 'error: ' line, got {errors}; stderr:\n{stderr[-3000:]}"
    for pat in patterns:
        assert re.search(pat, errors[0], re.IGNORECASE), f"error line does not match /{pat}/: {errors[0]!r}"


def java_hash(s):
    h = 0
    for ch in s.encode("utf-8"):  # ASCII group ids: same as Java's UTF-16 hashCode
        h = (31 * h + ch) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


def offsets_partition_for(group, num_partitions):
    """Kafka's mapping of a group to its __consumer_offsets partition (Utils.abs(hashCode) % n)."""
    h = java_hash(group)
    return (0 if h == -(1 << 31) else abs(h)) % num_partitions


# --- a. three combined nodes, every client through one broker ------------


def test_combined_three_nodes_all_clients_through_single_broker(cluster):
    c = cluster
    b1, b2, b3 = (c.node(i).bootstrap for i in (1, 2, 3))
    topic = "cl-rt"
    started = time.time()
    create_topics(b1, [topic], partitions=6)
    created = time.time() - started
    # How long until every broker shows the new topic with all its leaders.
    seen = {}
    for i, b in ((1, b1), (2, b2), (3, b3)):
        wait_topic_online(c, topic, 6, b, timeout=30)
        seen[i] = time.time() - started
    print(f"new topic: CreateTopics answered in {created:.3f}s; visible with leaders via "
          + ", ".join(f"node {i} at {t:.3f}s" for i, t in seen.items()))
    leaders = wait_topic_online(c, topic, 6, b2)
    assert Counter(leaders.values()) == {1: 2, 2: 2, 3: 2}, f"leaders should be round-robin, 2 per broker: {leaders}"
    # Every broker reports the same leaders.
    for b in (b1, b3):
        assert wait_topic_online(c, topic, 6, b) == leaders, f"leaders via {b} differ from via {b2}"

    # confluent-kafka produces through node 1 only.
    expected = {f"k{i}": f"ck-{i}" for i in range(300)}
    produce(b1, topic, [(None, k, v) for k, v in expected.items()])
    # kcat produces through node 2 only.
    kc = {f"kc{i}": f"kcat-{i}" for i in range(100)}
    run_kcat("-P", "-b", b2, "-t", topic, "-K:", input="".join(f"{k}:{v}\n" for k, v in kc.items()).encode())
    expected.update(kc)

    # confluent-kafka reads everything back through node 3 only.
    got = consume_all(b3, topic, range(6), len(expected), timeout=60)
    pairs = {m.key().decode(): m.value().decode() for m in got}
    assert len(got) == len(expected) and pairs == expected, \
        f"confluent-kafka via node 3 read {len(got)} records, expected {len(expected)}"

    # kcat reads everything back through node 1 only.
    out = run_kcat("-C", "-b", b1, "-t", topic, "-e", "-o", "beginning", "-f", "%k=%s\n").stdout.decode()
    lines = [l for l in out.splitlines() if l]
    assert len(lines) == len(expected), f"kcat via node 1 read {len(lines)} records, expected {len(expected)}"
    assert dict(l.split("=", 1) for l in lines) == expected

    # KafkaJS through node 2 only: produces 50, then a group consumer reads everything.
    assert (NODE_DIR / "node_modules" / "kafkajs").is_dir(), "KafkaJS missing: run scripts/install-test-deps"
    total = len(expected) + 50
    proc = subprocess.run(["node", str(NODE_DIR / "cluster_roundtrip.js"), b2, topic, str(total)], cwd=NODE_DIR,
                          capture_output=True, timeout=90)
    assert proc.returncode == 0, f"KafkaJS script failed ({proc.returncode}): {proc.stdout.decode()[-2000:]}" \
                                 f"{proc.stderr.decode()[-3000:]}"
    result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    want = set(expected.values()) | {f"js-{i}" for i in range(50)}
    assert result["distinct"] == total and set(result["values"]) == want, \
        f"KafkaJS via node 2 saw {result['distinct']} distinct values, expected {total}"


def test_cli_group_list_covers_every_coordinator(cluster):
    """`brook group list` asks every broker: each lists only the groups it
    coordinates, so asking one would miss the others' groups."""
    c = cluster
    b1 = c.node(1).bootstrap
    topic = "gl-topic"
    create_topics(b1, [topic], partitions=1)
    wait_topic_online(c, topic, 1, b1, timeout=30)
    groups = [f"gl-group-{i}" for i in range(10)]
    for g in groups:
        consumer = Consumer({"bootstrap.servers": b1, "group.id": g, "enable.auto.commit": False})
        try:
            consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        finally:
            consumer.close()
    admin = AdminClient({"bootstrap.servers": b1})  # kept alive until its futures are done
    described = admin.describe_consumer_groups(groups)
    coordinators = {g: f.result(timeout=30).coordinator.id for g, f in described.items()}
    assert len(set(coordinators.values())) > 1, f"every group has one coordinator; the test proves nothing: {coordinators}"
    listed = {g["group"] for g in json.loads(c.cli(b1, "group", "list").stdout)}
    assert set(groups) <= listed, f"missing {sorted(set(groups) - listed)}; coordinators {coordinators}"


# --- b. dedicated roles ----------------------------------------------------


def test_dedicated_controllers_and_brokers(cluster_factory):
    c = cluster_factory(roles="dedicated").start()
    b4, b5 = c.node(4).bootstrap, c.node(5).bootstrap
    topic = "cl-ded"
    create_topics(b4, [topic], partitions=4)
    leaders = wait_topic_online(c, topic, 4, b5)
    assert Counter(leaders.values()) == {4: 2, 5: 2}, f"leaders should be the two brokers, 2 each: {leaders}"
    md = c.metadata(b4)
    assert set(md.brokers) == {4, 5}, f"metadata should list only the brokers 4 and 5: {sorted(md.brokers)}"

    for i, (via_p, via_c) in enumerate(((b4, b5), (b5, b4))):
        recs = [(n % 4, f"k{i}-{n}", f"v{i}-{n}") for n in range(100)]
        produce(via_p, topic, recs)
        got = consume_all(via_c, topic, range(4), 100 * (i + 1), timeout=60)
        values = {m.value().decode() for m in got}
        assert len(got) == 100 * (i + 1) and {v for _, _, v in recs} <= values, \
            f"produced via {via_p}, consumed via {via_c}: read {len(got)} records"

    for b in (b4, b5):
        info = c.cluster_info(b)
        live = {br["id"] for br in info["brokers"] if not br.get("fenced")}
        assert live == {4, 5}, f"cluster info via {b}: brokers {info['brokers']}"
        assert info["controller"] in {1, 2, 3}, f"cluster info via {b}: controller {info['controller']} not a voter"
        assert {v["id"] for v in info["quorum"]["voters"]} == {1, 2, 3}, f"quorum voters: {info['quorum']}"
        assert info["quorum"]["leader"] == info["controller"]


# --- c. controller failover ------------------------------------------------


def test_controller_failover(cluster):
    c = cluster
    create_topics(c.node(1).bootstrap, ["cl-before"], partitions=3)
    wait_topic_online(c, "cl-before", 3, c.node(1).bootstrap)
    produce(c.node(1).bootstrap, "cl-before", [(n % 3, None, f"b-{n}") for n in range(30)])

    old = c.cluster_info(c.node(1).bootstrap)["controller"]
    assert old in (1, 2, 3), f"no active controller: {old}"
    survivors = [i for i in (1, 2, 3) if i != old]
    c.node(old).kill9()
    started = time.time()

    def new_controller():
        info = c.cluster_info(c.node(survivors[0]).bootstrap, timeout=10)
        return info["controller"] if info["controller"] in survivors else None

    new = wait_for(new_controller, 30, f"a controller other than {old}")
    elapsed = time.time() - started
    print(f"controller failover: {old} -> {new} in {elapsed:.2f}s")
    assert elapsed < 15, f"new controller after {elapsed:.1f}s, expected < 15s"

    # New partitions go to live brokers only: wait until the new controller has fenced the killed one.
    wait_for(lambda: old not in c.metadata(c.node(survivors[0]).bootstrap).brokers, 30,
             f"node {old} to leave the broker list")

    # Topics can be created through each survivor and are seen by each.
    for i in survivors:
        create_topics(c.node(i).bootstrap, [f"cl-after-{i}"], partitions=2, timeout=30)
    all_topics = {"cl-before"} | {f"cl-after-{i}" for i in survivors}
    for i in survivors:
        for j in survivors:
            wait_topic_online(c, f"cl-after-{j}", 2, c.node(i).bootstrap)
        md = c.metadata(c.node(i).bootstrap)
        assert all_topics <= set(md.topics), f"via node {i}: topics {sorted(md.topics)} lack some of {all_topics}"
        assert set(md.brokers) == set(survivors), f"via node {i}: brokers {sorted(md.brokers)}"

    # The killed node comes back and catches up.
    c.node(old).start()
    wait_for(lambda: all_topics <= set(c.metadata(c.node(old).bootstrap).topics), 30,
             f"node {old} to show every topic after its restart")
    wait_topic_online(c, "cl-before", 3, c.node(old).bootstrap)
    got = consume_all(c.node(old).bootstrap, "cl-before", range(3), 30, timeout=30)
    assert sorted(m.value().decode() for m in got) == sorted(f"b-{n}" for n in range(30))


# --- d. broker fencing -------------------------------------------------------


def test_broker_fencing_and_return(cluster_factory):
    session_ms = 4000
    c = cluster_factory(settings={"broker.session.timeout.ms": str(session_ms),
                                  "broker.heartbeat.interval.ms": "500"}).start()
    b1 = c.node(1).bootstrap
    topic = "cl-fence"
    create_topics(b1, [topic], partitions=6)
    leaders = wait_topic_online(c, topic, 6, b1)
    expected = {p: [f"p{p}-v{i}" for i in range(60)] for p in range(6)}
    produce(b1, topic, [(p, None, v) for p, vs in expected.items() for v in vs])

    # Fence a broker that is not the active controller, so only fencing is tested.
    controller = c.cluster_info(b1)["controller"]
    victim = next(i for i in (3, 2) if i != controller)
    others = [i for i in (1, 2, 3) if i != victim]
    victim_parts = sorted(p for p, l in leaders.items() if l == victim)
    assert len(victim_parts) == 2, f"node {victim} should lead 2 partitions: {leaders}"

    c.node(victim).kill9()
    started = time.time()

    def fenced():
        md = c.metadata(b1)
        offline = all(md.topics[topic].partitions[p].leader == -1 for p in victim_parts)
        return offline and victim not in md.brokers

    wait_for(fenced, session_ms / 1000 + 20, f"node {victim} to be fenced (partitions {victim_parts} offline)")
    elapsed = time.time() - started
    print(f"broker {victim} fenced after {elapsed:.2f}s (session timeout {session_ms} ms)")
    assert elapsed <= session_ms / 1000 + 6, f"fenced after {elapsed:.1f}s, expected within session timeout + 6s"
    md = c.metadata(b1)
    assert set(md.brokers) == set(others), f"live brokers {sorted(md.brokers)}, expected {others}"
    for p, l in leaders.items():
        if l != victim:
            assert md.topics[topic].partitions[p].leader == l, f"partition {p} moved from {l} while {victim} was down"

    # A partition led by node 1 still takes writes.
    p1 = min(p for p, l in leaders.items() if l == 1)
    late = [f"p{p1}-late{i}" for i in range(10)]
    produce(b1, topic, [(p1, None, v) for v in late], timeout=30)
    expected[p1] += late

    c.node(victim).start()
    wait_for(lambda: all(c.leader_of(topic, p, b1) == victim for p in victim_parts), 30,
             f"node {victim} to lead {victim_parts} again")
    total = sum(len(v) for v in expected.values())
    got = consume_all(c.node(others[-1]).bootstrap, topic, range(6), total, timeout=60)
    assert by_partition(got) == expected, \
        f"read {len(got)} records of {total}; per partition {Counter(m.partition() for m in got)}"


# --- e. consumer group with a coordinator on one of several brokers -------


def test_consumer_group_across_brokers_survives_coordinator_restart(cluster_factory):
    c = cluster_factory(settings={"offsets.topic.num.partitions": "6"}).start()
    b1 = c.node(1).bootstrap
    topic, group = "cl-grp", "cl-group"
    create_topics(b1, [topic], partitions=6)
    wait_topic_online(c, topic, 6, b1)
    produce(b1, topic, [(n % 6, f"k{n}", f"v{n}") for n in range(600)])

    admin = AdminClient({"bootstrap.servers": c.bootstrap})

    def committed():
        res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=15)
        return {tp.partition: tp.offset for tp in res.topic_partitions if tp.topic == topic}

    conf = {"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    consumers = [Consumer({"bootstrap.servers": c.node(i).bootstrap, **conf}) for i in (1, 2)]
    for k in consumers:
        k.subscribe([topic])
    seen = set()
    last_check = 0
    deadline = time.time() + 90
    done = False
    try:
        # Both members poll; each commits synchronously what it consumed. A commit
        # lost to a rebalance is redone by the partition's next owner.
        while time.time() < deadline:
            for k in consumers:
                m = k.poll(0.1)
                if m is None or m.error():
                    continue
                seen.add((m.partition(), m.offset()))
                try:
                    k.commit(message=m, asynchronous=False)
                except KafkaException:
                    pass
            if len(seen) == 600 and time.time() - last_check > 1:
                last_check = time.time()
                try:
                    if committed() == {p: 100 for p in range(6)}:
                        done = True
                        break
                except KafkaException:
                    pass
        assert len(seen) == 600, f"the two members consumed {len(seen)} of 600 records"
        assert done, f"committed offsets did not reach the end: {committed()}"
    finally:
        for k in consumers:
            k.close()

    md = c.metadata(b1)
    assert "__consumer_offsets" in md.topics, f"__consumer_offsets not listed: {sorted(md.topics)}"
    offsets_leaders = {p: pm.leader for p, pm in md.topics["__consumer_offsets"].partitions.items()}
    assert len(offsets_leaders) == 6, f"__consumer_offsets has {len(offsets_leaders)} partitions, expected 6"
    assert len(set(offsets_leaders.values())) > 1, f"__consumer_offsets leaders all on one broker: {offsets_leaders}"

    desc = admin.describe_consumer_groups([group])[group].result(timeout=30)
    coordinator = desc.coordinator.id
    assert coordinator in (1, 2, 3), f"coordinator {coordinator}"
    part = offsets_partition_for(group, 6)
    assert coordinator == offsets_leaders[part], \
        f"coordinator {coordinator} is not the leader {offsets_leaders[part]} of __consumer_offsets-{part}"

    c.node(coordinator).stop()  # SIGTERM
    c.node(coordinator).start()
    other = next(i for i in (1, 2, 3) if i != coordinator)
    wait_topic_online(c, topic, 6, c.node(other).bootstrap)

    assigned = set()
    k = Consumer({"bootstrap.servers": c.node(other).bootstrap, **conf})
    k.subscribe([topic], on_assign=lambda _c, parts: assigned.update(p.partition for p in parts))
    got = []
    try:
        deadline = time.time() + 30
        while len(assigned) < 6 and time.time() < deadline:
            m = k.poll(0.2)
            if m is not None and not m.error():
                got.append(m)
        assert assigned == set(range(6)), f"the new member was assigned {sorted(assigned)}, expected all 6"
        quiet_until = time.time() + 5
        while time.time() < quiet_until:
            m = k.poll(0.2)
            if m is not None and not m.error():
                got.append(m)
        assert not got, f"the new member re-read {len(got)} committed records, e.g. " \
                        f"{[(m.partition(), m.offset()) for m in got[:5]]}"
        ends = {p: k.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(6)}
    finally:
        k.close()
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    final = wait_for(committed, 20, "committed offsets after the coordinator restart")
    assert final == ends, f"committed {final} != end offsets {ends}"


# --- f. metadata log bounded ------------------------------------------------


def test_metadata_log_bounded_under_topic_churn(cluster_factory):
    c = cluster_factory(n=1).start()
    node = c.node(1)
    b = node.bootstrap
    create_topics(b, ["cl-keep"], partitions=2)
    wait_topic_online(c, "cl-keep", 2, b)
    keep = [f"keep-{i}" for i in range(50)]
    produce(b, "cl-keep", [(i % 2, None, v) for i, v in enumerate(keep)])

    admin = AdminClient({"bootstrap.servers": b})
    started = time.time()
    for batch in range(20):
        names = [f"churn-{batch}-{i}" for i in range(100)]
        for name, f in admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names],
                                           operation_timeout=30).items():
            f.result(timeout=60)
        for name, f in admin.delete_topics(names, operation_timeout=30).items():
            f.result(timeout=60)
    print(f"created and deleted 2000 topics in {time.time() - started:.1f}s")

    meta_dir = node.data_dir / "__cluster_metadata-0"
    assert meta_dir.is_dir(), f"no metadata log at {meta_dir}: {sorted(p.name for p in node.data_dir.iterdir())}"
    limit = 4 * 1024 * 1024
    try:
        wait_for(lambda: dir_size(meta_dir) < limit, 30, "the metadata log to shrink under 4 MiB")
    finally:
        print(f"metadata log size after churn: {dir_size(meta_dir)} bytes "
              f"({sorted(p.name for p in meta_dir.iterdir())})")

    log_offset = node.log_path.stat().st_size
    node.restart()
    md = c.metadata(b)
    churned = [t for t in md.topics if t.startswith("churn-")]
    assert not churned, f"{len(churned)} deleted topics came back after the restart, e.g. {churned[:5]}"
    wait_topic_online(c, "cl-keep", 2, b)
    got = consume_all(b, "cl-keep", range(2), len(keep), timeout=30)
    assert sorted(m.value().decode() for m in got) == sorted(keep), f"read {len(got)} of {len(keep)} records"

    def loaded():
        with open(node.log_path, "rb") as f:
            f.seek(log_offset)
            return b"loaded metadata snapshot" in f.read()

    wait_for(loaded, 10, "'loaded metadata snapshot' in the node's log after the restart")


# --- g. bad input ----------------------------------------------------------


@pytest.mark.parametrize("voters", ["1@127.0.0.1", "x@127.0.0.1:19092", "own-id-missing"])
def test_refuses_malformed_voters(cluster_factory, voters):
    c = cluster_factory(n=1)
    node = c.node(1)
    if voters == "own-id-missing":
        voters = f"2@127.0.0.1:{node.controller_port}"
    rc, err, secs = node.run_expect_exit({"controller.quorum.voters": voters}, timeout=10)
    assert_refused(rc, err, r"controller\.quorum\.voters")
    print(f"voters={voters!r} refused in {secs:.2f}s")


def test_refuses_duplicate_and_changed_node_id(cluster_factory):
    # Dedicated roles: brokers 4 and 5 are not voters, so a second broker-only
    # process can claim node.id 4 (Kafka itself refuses a broker-only node
    # whose id is a voter, at config validation).
    c = cluster_factory(roles="dedicated").start()
    b4 = c.node(4).bootstrap
    create_topics(b4, ["cl-dup"], partitions=3)
    wait_topic_online(c, "cl-dup", 3, b4)
    values = [f"d-{i}" for i in range(30)]
    produce(b4, "cl-dup", [(i % 3, None, v) for i, v in enumerate(values)])

    # A broker-only process claiming node.id 4 (live) with a fresh data dir.
    dup = c.add_node(4, roles="broker", name="dup-node4")
    rc, err, secs = dup.run_expect_exit(timeout=20)
    assert_refused(rc, err, r"duplicate|already registered", r"\b4\b")
    print(f"duplicate node.id 4 refused in {secs:.2f}s")
    info = c.cluster_info(c.node(5).bootstrap)
    by_id = {br["id"]: br for br in info["brokers"] if not br.get("fenced")}
    assert set(by_id) == {4, 5}, f"brokers after the duplicate attempt: {info['brokers']}"
    assert by_id[4]["address"].endswith(f":{c.node(4).port}"), f"node 4's registration changed: {by_id[4]}"
    got = consume_all(c.node(4).bootstrap, "cl-dup", range(3), 30, timeout=30)
    assert sorted(m.value().decode() for m in got) == sorted(values)

    # Node 4's data dir under another node.id.
    n4 = c.node(4)
    n4.stop()
    rc, err, secs = n4.run_expect_exit({"node.id": "7"}, timeout=10)
    assert_refused(rc, err, r"node\.id")
    # It starts again with its own id and the cluster is whole.
    n4.start()
    wait_topic_online(c, "cl-dup", 3, b4)
    got = consume_all(b4, "cl-dup", range(3), 30, timeout=30)
    assert sorted(m.value().decode() for m in got) == sorted(values)


def test_refuses_data_dir_of_another_cluster(cluster_factory):
    home = cluster_factory(name="home").start()
    create_topics(home.node(1).bootstrap, ["cl-home"], partitions=3)
    wait_topic_online(home, "cl-home", 3, home.node(1).bootstrap)
    home_values = [f"h-{i}" for i in range(30)]
    produce(home.node(1).bootstrap, "cl-home", [(i % 3, None, v) for i, v in enumerate(home_values)])

    foreign = cluster_factory(name="foreign").start()
    create_topics(foreign.node(1).bootstrap, ["cl-foreign"], partitions=3)
    wait_topic_online(foreign, "cl-foreign", 3, foreign.node(1).bootstrap)
    produce(foreign.node(1).bootstrap, "cl-foreign", [(i % 3, None, f"f-{i}") for i in range(30)])
    foreign_id = foreign.cluster_info(foreign.node(1).bootstrap)["cluster_id"]
    foreign.stop()
    assert home.cluster_info(home.node(1).bootstrap)["cluster_id"] != foreign_id, "two clusters share a cluster id"

    n3 = home.node(3)
    n3.stop()
    own_dir = n3.data_dir.with_name(n3.data_dir.name + "-own")
    n3.data_dir.rename(own_dir)
    shutil.copytree(foreign.node(3).data_dir, n3.data_dir)
    before = hash_files(n3.data_dir)
    assert any(k.startswith("__cluster_metadata-0") for k in before), f"no metadata log files in the foreign dir: {before}"

    rc, err, secs = n3.run_expect_exit(timeout=30)
    assert_refused(rc, err, r"cluster[ ._-]?id")
    print(f"foreign data dir refused in {secs:.2f}s")
    after = hash_files(n3.data_dir)
    changed = sorted(k for k in before if after.get(k) != before[k])
    added = sorted(k for k in after if k not in before and "lock" not in Path(k).name)
    assert not changed and not added, f"the foreign data dir was modified: changed {changed}, added {added}"

    # Put node 3's own data back: the home cluster is whole and serves every record.
    shutil.rmtree(n3.data_dir)
    own_dir.rename(n3.data_dir)
    n3.start()
    wait_topic_online(home, "cl-home", 3, home.node(1).bootstrap)
    for i in (1, 2, 3):
        got = consume_all(home.node(i).bootstrap, "cl-home", range(3), 30, timeout=30)
        assert sorted(m.value().decode() for m in got) == sorted(home_values), f"via node {i}: read {len(got)} of 30"
    assert "cl-foreign" not in home.metadata(home.node(1).bootstrap).topics


# --- h. default single-node mode across restarts ---------------------------


def test_single_node_default_mode_survives_restarts(brook_factory):
    b = brook_factory({"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000"}).start()
    topic, group = "cl-single", "cl-single-group"
    create_topics(b.bootstrap, [topic], partitions=2)
    values = [f"s-{i}" for i in range(100)]
    produce(b.bootstrap, topic, [(i % 2, None, v) for i, v in enumerate(values)])

    k = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000})
    k.subscribe([topic])
    got = []
    deadline = time.time() + 30
    while len(got) < 100 and time.time() < deadline:
        m = k.poll(0.5)
        if m is not None and not m.error():
            got.append(m)
    assert len(got) == 100, f"consumed {len(got)} of 100 before the restart"
    commits = {0: 20, 1: 35}
    k.commit(offsets=[TopicPartition(topic, p, o) for p, o in commits.items()], asynchronous=False)
    k.close()

    for how in ("graceful", "kill9"):
        if how == "graceful":
            b.restart()
        else:
            b.kill9()
            b.start()
        assert topic in AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10).topics, \
            f"{topic} missing after a {how} restart"
        got = consume_all(b.bootstrap, topic, [0, 1], 100, timeout=30)
        assert sorted(m.value().decode() for m in got) == sorted(values), f"read {len(got)} of 100 after a {how} restart"
        k = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            res = k.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=15)
        finally:
            k.close()
        assert {tp.partition: tp.offset for tp in res} == commits, f"committed offsets after a {how} restart: {res}"


# --- wire level: a broker that does not lead a partition says so ------------


def list_offsets_v1(port, topic, partition):
    """One ListOffsets v1 request (latest offset) over a raw socket; returns
    the partition's error code. Hand-encoded so the test sees the broker's
    own answer, not a client's retry."""
    t = topic.encode()
    client = b"brook-test"
    body = struct.pack(">hhih", 2, 1, 7, len(client)) + client
    body += struct.pack(">ii", -1, 1) + struct.pack(">h", len(t)) + t + struct.pack(">iiq", 1, partition, -1)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv_exact(s, 4))[0]
        data = _recv_exact(s, size)
    # correlation id, topics[1]: name, partitions[1]: partition, error_code, ...
    (corr,) = struct.unpack_from(">i", data, 0)
    assert corr == 7
    pos = 4 + 4
    (name_len,) = struct.unpack_from(">h", data, pos)
    pos += 2 + name_len + 4
    _, error_code = struct.unpack_from(">ih", data, pos)
    return error_code


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, "connection closed early"
        buf += chunk
    return buf


def test_non_leader_answers_not_leader_or_follower(cluster):
    c = cluster
    create_topics(c.node(1).bootstrap, ["cl-nl"], partitions=3)
    leaders = wait_topic_online(c, "cl-nl", 3, c.node(1).bootstrap)
    for p, leader in leaders.items():
        for i in (1, 2, 3):
            code = list_offsets_v1(c.node(i).port, "cl-nl", p)
            want = 0 if i == leader else 6  # NONE, NOT_LEADER_OR_FOLLOWER
            assert code == want, f"partition {p} (leader {leader}) via node {i}: error {code}, expected {want}"
    # An unknown topic is UNKNOWN_TOPIC_OR_PARTITION everywhere.
    assert list_offsets_v1(c.node(2).port, "cl-no-such-topic", 0) == 3


def _request(port, api_key, version, body, correlation=11):
    client = b"brook-test"
    frame = struct.pack(">hhih", api_key, version, correlation, len(client)) + client + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", _recv_exact(s, 4))[0]
        data = _recv_exact(s, size)
    assert struct.unpack_from(">i", data, 0)[0] == correlation
    return data[4:]


def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def create_topic_v2(port, name, partitions, configs=None):
    """CreateTopics v2 for one topic, hand-encoded; returns (error code, message)."""
    configs = configs or {}
    body = struct.pack(">i", 1) + _str(name) + struct.pack(">ihi", partitions, 1, 0)
    body += struct.pack(">i", len(configs)) + b"".join(_str(k) + _str(v) for k, v in configs.items())
    body += struct.pack(">ib", 15000, 0)
    data = _request(port, 19, 2, body)
    pos = 4 + 4  # throttle, topics count
    (n,) = struct.unpack_from(">h", data, pos)
    pos += 2 + n
    (code, mlen) = struct.unpack_from(">hh", data, pos)
    message = data[pos + 4:pos + 4 + mlen].decode() if mlen >= 0 else None
    return code, message


def init_producer_id_v0(port):
    """InitProducerId v0 (no transactional id); returns (error code, producer id)."""
    data = _request(port, 22, 0, struct.pack(">hi", -1, 60000))
    _, code, pid, _ = struct.unpack_from(">ihqh", data, 0)
    return code, pid


def test_admin_requests_through_any_broker_reach_the_controller(cluster):
    c = cluster
    controller = c.cluster_info(c.node(1).bootstrap)["controller"]
    others = [i for i in (1, 2, 3) if i != controller]
    for i in others:
        port = c.node(i).port
        assert create_topic_v2(port, f"cl-fwd-{i}", 3) == (0, None), f"create via non-controller node {i}"
        # The controller's refusals come back with Kafka's codes and messages.
        code, message = create_topic_v2(port, f"cl-fwd-{i}", 3)
        assert code == 36 and "already exists" in message, (code, message)  # TOPIC_ALREADY_EXISTS
        code, message = create_topic_v2(port, f"cl-bad-{i}", 1, {"retention.ms": "soon"})
        assert code == 40 and "retention.ms" in message, (code, message)  # INVALID_CONFIG
        code, _ = create_topic_v2(port, f"cl-rf-{i}", 0)
        assert code == 37, code  # INVALID_PARTITIONS
    for i in others:
        for j in (1, 2, 3):
            wait_topic_online(c, f"cl-fwd-{i}", 3, c.node(j).bootstrap)
    # Producer ids come in blocks from the controller: unique across brokers.
    ids = []
    for _ in range(3):
        for i in (1, 2, 3):
            code, pid = init_producer_id_v0(c.node(i).port)
            assert code == 0, f"InitProducerId via node {i}: error {code}"
            ids.append(pid)
    assert len(set(ids)) == len(ids), f"producer ids repeat across brokers: {ids}"
    # A restarted broker gets a fresh block: no id handed out before comes back.
    c.node(others[0]).restart()
    code, pid = init_producer_id_v0(c.node(others[0]).port)
    assert code == 0 and pid not in ids, (code, pid, ids)


def test_refuses_voters_other_than_the_recorded_quorum(cluster):
    c = cluster
    create_topics(c.node(1).bootstrap, ["cl-voters"], partitions=3)
    wait_topic_online(c, "cl-voters", 3, c.node(1).bootstrap)
    n1 = c.node(1)
    n1.stop()
    # The same node, told of a quorum {1, 2, 4}: not the quorum its metadata log was written by.
    stray = free_port()
    voters = ",".join(v for v in c.voters.split(",") if not v.startswith("3@")) + f",4@127.0.0.1:{stray}"
    rc, err, _ = n1.run_expect_exit({"controller.quorum.voters": voters}, timeout=10)
    assert_refused(rc, err, r"controller\.quorum\.voters", r"\[1, 2, 3\]")
    # Nothing was lost: it starts with the right list and serves every topic.
    n1.start()
    wait_topic_online(c, "cl-voters", 3, n1.bootstrap)


def test_broker_restarted_right_after_kill9_rejoins(cluster):
    """A broker restarted at once after `kill -9` finds its previous
    incarnation still registered; the voters saw that process go, so it
    registers at once and rejoins (see also test_failover.py)."""
    c = cluster
    b1 = c.node(1).bootstrap
    create_topics(b1, ["cl-quick"], partitions=3)
    leaders = wait_topic_online(c, "cl-quick", 3, b1)
    values = [f"q-{i}" for i in range(30)]
    produce(b1, "cl-quick", [(i % 3, None, v) for i, v in enumerate(values)])
    controller = c.cluster_info(b1)["controller"]
    victim = next(i for i in (3, 2) if i != controller)
    c.node(victim).kill9()
    started = time.time()
    c.node(victim).start(timeout=60)
    wait_for(lambda: all(c.leader_of("cl-quick", p, b1) == l for p, l in leaders.items()), 30,
             f"node {victim} to lead its partitions again")
    print(f"node {victim} restarted right after kill -9 and leads again after {time.time() - started:.2f}s")
    got = consume_all(c.node(victim).bootstrap, "cl-quick", range(3), 30, timeout=30)
    assert sorted(m.value().decode() for m in got) == sorted(values)
