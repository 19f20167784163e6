"""Cluster-state metrics on /metrics (issue 18), scraped with the Prometheus
text parser from real brook processes: under-replicated partitions when a
broker dies and returns, consumer-group lag against what was produced and
committed, the controller and quorum gauges, /health/ready through a
broker's start, and the Grafana dashboard's queries against /metrics."""

import json
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from cluster import cluster, cluster_factory, wait_for  # noqa: F401  (fixtures)

RETRY_COMMIT = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
                KafkaError.COORDINATOR_LOAD_IN_PROGRESS}
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "brook-dashboard.json"


def scrape(node, timeout=5):
    """{sample name: [(labels, value)]} of one node's /metrics."""
    with urllib.request.urlopen(node.admin_url + "/metrics", timeout=timeout) as r:
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(samples, name, **labels):
    """The sum of `name`'s samples whose labels include `labels` (0 if none)."""
    return sum(v for l, v in samples.get(name, []) if all(l.get(k) == str(x) for k, x in labels.items()))


def cluster_sum(nodes, name):
    return sum(value(scrape(n), name) for n in nodes)


def http_status(url, timeout=3):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def wait_all_ready(nodes, timeout=60):
    """Every broker registered and unfenced (/health/ready), so RF=3 topics can be placed."""
    wait_for(lambda: all(http_status(n.admin_url + "/health/ready") == 200 for n in nodes), timeout=timeout,
             what="every node ready")


def create(bootstrap, name, partitions, rf=3):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=rf)])[name].result(timeout=30)


def produce(bootstrap, topic, counts):
    """counts: {partition: records}, acks=all."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for partition, n in counts.items():
        for i in range(n):
            p.produce(topic, value=f"{partition}-{i}".encode(), partition=partition)
    assert p.flush(60) == 0, "records left unsent"


def commit(bootstrap, group, offsets, timeout=30):
    """Commits {(topic, partition): offset} for `group` (no membership),
    retrying while the group's coordinator is still being set up
    (__consumer_offsets is created by the first FindCoordinator)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    deadline = time.time() + timeout
    try:
        while True:
            try:
                consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                asynchronous=False)
                return
            except KafkaException as e:
                if not e.args[0].retriable() and e.args[0].code() not in RETRY_COMMIT or time.time() > deadline:
                    raise
                time.sleep(0.3)
    finally:
        consumer.close()


def test_under_replicated_partitions_follow_a_dead_broker_and_quorum_gauges_agree(cluster_factory):
    c = cluster_factory(settings={"replica.lag.time.max.ms": "1500", "broker.session.timeout.ms": "8000"}).start()
    nodes = list(c.nodes.values())
    wait_all_ready(nodes)

    # One active controller, and every node names the same quorum leader and epoch.
    def quorum_agrees():
        scrapes = [scrape(n) for n in nodes]
        active = [n.id for n, s in zip(nodes, scrapes) if value(s, "kafka_controller_kafkacontroller_activecontrollercount") == 1]
        leaders = {value(s, "kafka_server_raft_metrics_current_leader") for s in scrapes}
        epochs = {value(s, "kafka_server_raft_metrics_current_epoch") for s in scrapes}
        total = sum(value(s, "kafka_controller_kafkacontroller_activecontrollercount") for s in scrapes)
        return total == 1 and leaders == {active[0]} and len(epochs) == 1 and min(epochs) > 0
    wait_for(quorum_agrees, timeout=30, what="one active controller that every node names, at one epoch")
    leader = next(n for n in nodes if value(scrape(n), "kafka_controller_kafkacontroller_activecontrollercount") == 1)
    lead = scrape(leader)
    # The quorum leader reports every voter's lag.
    assert {l["voter"] for l, _ in lead["brook_raft_voter_lag"]} == {"1", "2", "3"}

    topic, partitions = "urp", 6
    create(c.bootstrap, topic, partitions)
    produce(c.bootstrap, topic, {p: 20 for p in range(partitions)})
    wait_for(lambda: cluster_sum(nodes, "kafka_server_replicamanager_leadercount") == partitions
             and cluster_sum(nodes, "kafka_server_replicamanager_underreplicatedpartitions") == 0,
             timeout=30, what="6 led partitions, none under-replicated")
    assert cluster_sum(nodes, "kafka_server_replicamanager_partitioncount") == partitions * 3
    expands_before = cluster_sum(nodes, "kafka_server_replicamanager_isrexpands_total")

    victim = c.node(3)
    live = [n for n in nodes if n.id != victim.id]
    victim_led = value(scrape(victim), "kafka_server_replicamanager_leadercount")
    elections_before = cluster_sum(live, "brook_partition_leader_elections_total")
    controller_elections_before = cluster_sum(live, "kafka_controller_controllerstats_leaderelections_total")
    victim.kill9()
    # RF=3 on three brokers: every partition had the victim as a replica, so
    # all 6 become under-replicated on their (live) leaders once the
    # victim leaves their ISR (fencing, or replica.lag.time.max.ms).
    wait_for(lambda: cluster_sum(live, "kafka_server_replicamanager_underreplicatedpartitions") == partitions,
             timeout=45, what="6 under-replicated partitions after kill -9")
    assert cluster_sum(live, "kafka_server_replicamanager_leadercount") == partitions
    assert cluster_sum(live, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    # Each partition the victim led got a new leader among the survivors.
    assert cluster_sum(live, "brook_partition_leader_elections_total") == elections_before + victim_led
    # ... elected by the active controller (a survivor, even if the victim was it).
    assert cluster_sum(live, "kafka_controller_controllerstats_leaderelections_total") \
        == controller_elections_before + victim_led
    # min.insync.replicas=1 by default: an ISR of 2 is above it.
    assert cluster_sum(live, "kafka_server_replicamanager_underminisrpartitioncount") == 0

    victim.start()
    wait_for(lambda: cluster_sum(nodes, "kafka_server_replicamanager_underreplicatedpartitions") == 0,
             timeout=60, what="no under-replicated partition after the broker returned")
    # Its partitions' leaders took it back into their ISRs (accepted changes).
    assert cluster_sum(nodes, "kafka_server_replicamanager_isrexpands_total") >= expands_before + partitions

    # A broker that stops fetching without dying (SIGSTOP) is dropped from
    # the ISRs by its partitions' leaders (replica.lag.time.max.ms, before
    # its session times out): that is an ISR shrink the leaders count.
    active = next(n for n in nodes if value(scrape(n), "kafka_controller_kafkacontroller_activecontrollercount") == 1)
    paused = next(n for n in nodes if n.id != active.id)
    others = [n for n in nodes if n.id != paused.id]
    led_elsewhere = cluster_sum(others, "kafka_server_replicamanager_leadercount")
    shrinks_before = cluster_sum(others, "kafka_server_replicamanager_isrshrinks_total")
    paused.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: cluster_sum(others, "kafka_server_replicamanager_isrshrinks_total") > shrinks_before,
                 timeout=30, what="an ISR shrink counted by a leader")
    finally:
        paused.proc.send_signal(signal.SIGCONT)
    assert led_elsewhere > 0
    wait_for(lambda: cluster_sum(nodes, "kafka_server_replicamanager_underreplicatedpartitions") == 0,
             timeout=60, what="no under-replicated partition after the pause")


def test_group_lag_is_produced_minus_committed(cluster):
    nodes = list(cluster.nodes.values())
    topic, group = "lagged", "lag-group"
    wait_all_ready(nodes)
    produced = {0: 10, 1: 25, 2: 7}
    committed = {0: 4, 1: 25, 2: 0}
    create(cluster.bootstrap, topic, 3)
    produce(cluster.bootstrap, topic, produced)
    commit(cluster.bootstrap, group, {(topic, p): o for p, o in committed.items()})

    expected = {str(p): produced[p] - committed[p] for p in produced}

    def lags():
        # Exported by the group's coordinator alone.
        found = {}
        for n in nodes:
            s = scrape(n)
            rows = [(l, v) for l, v in s.get("kafka_consumergroup_lag", []) if l["consumergroup"] == group]
            if rows:
                found[n.id] = (rows, s)
        return found

    def settled():
        found = lags()
        if len(found) != 1:
            return False
        rows, _ = next(iter(found.values()))
        return {l["partition"]: v for l, v in rows if l["topic"] == topic} == expected
    wait_for(settled, timeout=30, what=f"group lag {expected} on the coordinator")
    (rows, s), = lags().values()
    current = {l["partition"]: v for l, v in s["kafka_consumergroup_current_offset"] if l["consumergroup"] == group}
    assert current == {str(p): o for p, o in committed.items()}
    assert value(s, "kafka_consumergroup_lag_sum", consumergroup=group, topic=topic) == sum(expected.values())
    assert value(s, "kafka_consumergroup_current_offset_sum", consumergroup=group, topic=topic) == sum(committed.values())

    # More records: the lag grows by as many, on whichever broker leads the partition.
    produce(cluster.bootstrap, topic, {0: 5})
    expected["0"] += 5
    wait_for(settled, timeout=30, what=f"group lag {expected} after 5 more records")

    # Log size per partition: every replica of a written partition has bytes.
    sizes = [v for n in nodes for l, v in scrape(n).get("kafka_log_log_size", []) if l.get("topic") == topic]
    assert len(sizes) == 9 and all(v > 0 for v in sizes), sizes


def test_ready_only_once_registered_and_unfenced(cluster_factory):
    c = cluster_factory()
    first, *others = c.nodes.values()
    first.spawn()
    wait_for(lambda: http_status(first.admin_url + "/health/live") == 200, timeout=30, what="node 1 live")
    # No quorum: it cannot register, so it is live but not ready.
    for _ in range(10):
        assert http_status(first.admin_url + "/health/ready") == 503
        time.sleep(0.2)
    for n in others:
        n.spawn()
    for n in c.nodes.values():
        n.wait_ready(60)
    wait_for(lambda: all(http_status(n.admin_url + "/health/ready") == 200 for n in c.nodes.values()),
             timeout=60, what="every node ready once the quorum formed")

    # A restarted broker is not ready until this incarnation is registered
    # and unfenced: its admin listener starts before it registers, so the
    # first answer it gives is 503.
    victim = c.node(3)
    victim.kill9()
    victim.spawn()
    seen = []
    deadline = time.time() + 60
    while time.time() < deadline and 200 not in seen:
        status = http_status(victim.admin_url + "/health/ready", timeout=1)
        if status is not None:
            seen.append(status)
        time.sleep(0.02)
    assert seen and seen[0] == 503 and seen[-1] == 200, seen


def dashboard_metric_names():
    """Every kafka_*/brook_* series the dashboard's queries (panel targets,
    variable queries) use, as queried (a histogram's *_bucket, a counter's *_total)."""
    dashboard = json.loads(DASHBOARD.read_text())  # well-formed
    queries = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("expr", "definition") and isinstance(v, str):
                    queries.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(dashboard)
    assert len(queries) > 20, "the dashboard has too few queries: is it the right file?"
    return {name for q in queries for name in re.findall(r"\b((?:kafka|brook)_[a-z0-9_]+)", q)}


def test_dashboard_queries_only_exported_metrics(brook):
    """Needs the request/traffic metrics of the other issue-18 branch too:
    passes once both are merged."""
    create(brook.bootstrap, "dash", 1, rf=1)
    produce(brook.bootstrap, "dash", {0: 3})
    commit(brook.bootstrap, "dash-group", {("dash", 0): 1})
    # Two scrapes over a second apart: ratios over a scrape window (of at
    # least 1 s) appear from the second.
    for _ in range(2):
        time.sleep(1.2)
        with urllib.request.urlopen(brook.admin_url + "/metrics", timeout=5) as r:
            text = r.read().decode()
    exported = set()
    for family in text_string_to_metric_families(text):
        exported.add(family.name)
        exported.update(s.name for s in family.samples)
    # A labelled family with no series yet (no error so far) still declares
    # itself: its family name is the query's minus _total/_bucket.
    missing = sorted(n for n in dashboard_metric_names()
                     if n not in exported and re.sub(r"_(total|bucket)$", "", n) not in exported)
    assert not missing, f"the dashboard queries metrics /metrics does not export: {missing}"


def test_cleaner_metrics_and_per_topic_series_without_per_partition(brook_factory):
    """metrics.per.partition=false: log size by topic only, no per-partition
    offsets or lag, lag summed per topic; the cleaner's passes and bytes."""
    b = brook_factory({"log.cleaner.backoff.ms": "200", "metrics.per.partition": "false",
                       "group.initial.rebalance.delay.ms": "0"}).start()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    config = {"cleanup.policy": "compact", "segment.bytes": "16384", "segment.ms": "1000",
              "min.cleanable.dirty.ratio": "0.01"}
    admin.create_topics([NewTopic("squashed", num_partitions=2, replication_factor=1, config=config)])["squashed"] \
        .result(timeout=30)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5, "batch.size": 4096})
    for i in range(3000):
        p.produce("squashed", key=f"k{i % 10}".encode(), value=b"v" * 100, partition=i % 2)
    assert p.flush(60) == 0
    time.sleep(1.2)  # past segment.ms: the next append rolls the active segment
    for part in (0, 1):
        p.produce("squashed", key=b"roll", value=b"x", partition=part)
    assert p.flush(30) == 0
    commit(b.bootstrap, "sums", {("squashed", 0): 100, ("squashed", 1): 1500})

    wait_for(lambda: value(scrape(b), "brook_log_cleaner_passes_total") >= 2, timeout=60,
             what="both partitions cleaned")
    s = scrape(b)
    cleaned, written = value(s, "brook_log_cleaner_bytes_cleaned_total"), value(s, "brook_log_cleaner_bytes_written_total")
    # 10 keys out of ~1500 records per partition: most bytes go.
    assert 0 < written < cleaned / 2, (written, cleaned)
    assert 0 < value(s, "kafka_log_logcleaner_cleaner_recopy_percent") < 50
    assert value(s, "kafka_log_logcleanermanager_uncleanable_partitions_count") == 0

    assert [l for l, _ in s["kafka_log_log_size"] if l.get("topic") == "squashed"] == [{"topic": "squashed"}]
    assert "kafka_log_log_logendoffset" not in s and "kafka_consumergroup_lag" not in s
    # Lag summed over the topic: each partition ended at 1501 (1500 + the roll record).
    assert value(s, "kafka_consumergroup_lag_sum", consumergroup="sums", topic="squashed") == (1501 - 100) + (1501 - 1500)
