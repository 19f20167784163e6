"""Partition replication under real faults, driven by real clients
(confluent-kafka) against real `brook` processes: ISR replication with
followers fetching from leaders, acks=all completing at the high watermark,
min.insync.replicas, leader election from the ISR when a leader dies, and
followers truncating to the new leader's history.

The history check: every record an acks=all producer had acknowledged is in
the log exactly once, at the offset it was acknowledged at, in order; no
consumer ever saw one offset with two different records.
"""

import json
import os
import random
import signal
import threading
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import cluster, cluster_factory, wait_for  # noqa: F401  (fixtures)
from helpers import consume_all

FAST = {"replica.lag.time.max.ms": "4000", "broker.session.timeout.ms": "4000"}


def create_replicated(bootstrap, name, partitions, rf=3, configs=None):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, rf, config=configs or {})], request_timeout=20)
    futures[name].result(timeout=30)


def isr_of(c, topic, bootstrap=None):
    md = c.metadata(bootstrap)
    return {p: (pm.leader, sorted(pm.isrs)) for p, pm in md.topics[topic].partitions.items()}


def wait_full_isr(c, topic, partitions, rf=3, bootstrap=None, timeout=60):
    """Waits until every partition has a leader and `rf` in-sync replicas,
    as every running broker reports it (one with stale metadata, e.g. just
    back from a network partition, must have caught up too)."""
    def full():
        views = [bootstrap] if bootstrap else [n.bootstrap for n in c.brokers if n.running()]
        states = [isr_of(c, topic, v) for v in views]
        state = states[0]
        ok = len(state) == partitions and all(l >= 0 and len(isr) == rf for l, isr in state.values())
        return state if ok and all(s == state for s in states) else None
    return wait_for(full, timeout, f"every partition of {topic} to have a leader and {rf} in-sync replicas")


class History:
    """What the producer had acknowledged and what consumers saw."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}  # value -> (partition, offset)
        self.failed = 0
        self.seen = {}  # (partition, offset) -> value
        self.conflicts = []

    def on_delivery(self, err, msg):
        with self.lock:
            if err is None:
                self.acked[msg.value().decode()] = (msg.partition(), msg.offset())
            else:
                self.failed += 1

    def saw(self, partition, offset, value):
        with self.lock:
            old = self.seen.setdefault((partition, offset), value)
            if old != value:
                self.conflicts.append((partition, offset, old, value))


def produce_loop(bootstrap, topic, history, stop, counter):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 5, "message.timeout.ms": 60000, "request.timeout.ms": 10000})
    n = 0
    while not stop.is_set():
        try:
            p.produce(topic, key=str(n % 50), value=f"v-{n}", on_delivery=history.on_delivery)
            n += 1
        except BufferError:
            pass
        p.poll(0.002)
        if n % 20 == 0:
            time.sleep(0.01)  # a steady stream, not a flood
    left = p.flush(90)
    counter["sent"] = n
    counter["unflushed"] = left


class Producing:
    """An idempotent acks=all producer thread for the length of a `with`
    block; on exit it stops, flushes and joins."""

    def __init__(self, bootstrap, topic, history):
        self.stop = threading.Event()
        self.counter = {}
        self.thread = threading.Thread(target=produce_loop, args=(bootstrap, topic, history, self.stop, self.counter),
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(120)
        assert not self.thread.is_alive(), "the producer did not finish"
        return False


def consume_loop(bootstrap, topic, group, history, stop):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": True, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    c.subscribe([topic])
    try:
        while not stop.is_set():
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            history.saw(m.partition(), m.offset(), m.value().decode())
    finally:
        c.close()


_COMMIT_WATCHER = '''
import json, sys, time
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
bootstrap, group, topic, partitions = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
admin = AdminClient({"bootstrap.servers": bootstrap})
deadline = time.time() + 900
while time.time() < deadline:
    try:
        res = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])]
        )[group].result(timeout=5)
        print(json.dumps({tp.partition: tp.offset for tp in res.topic_partitions if tp.offset >= 0}), flush=True)
    except Exception:
        # The coordinator may be moving; a fresh client does not keep a stale
        # view of it (one run got no reading for 40 s from the same client).
        admin = AdminClient({"bootstrap.servers": bootstrap})
    time.sleep(0.5)
'''


def watch_commits(bootstrap, group, topic, partitions, stop, seen):
    """Polls the group's committed offsets, in a child process (a client
    library crash there cannot take the test down); records every reading,
    so a commit going backwards (lost after a failover) shows."""
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-c", _COMMIT_WATCHER, bootstrap, group, topic, str(partitions)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        stop.wait()
    finally:
        proc.kill()
        out, _ = proc.communicate(timeout=30)
    for line in out.splitlines():
        seen.append({int(k): v for k, v in json.loads(line).items()})


def assert_commits_never_go_back(seen):
    high = {}
    for reading in seen:
        for p, o in reading.items():
            assert o >= high.get(p, -1), f"partition {p}: committed offset went back from {high[p]} to {o}"
            high[p] = o


def check_history(c, topic, partitions, history, bootstrap, streams=None):
    """`streams`: ranges of value numbers each sent by one producer, whose
    order must be kept (default: one producer sent them all)."""
    ends = {}
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": "probe"})
    for p in range(partitions):
        ends[p] = probe.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1]
    probe.close()
    total = sum(ends.values())
    got = consume_all(bootstrap, topic, range(partitions), total, timeout=120)
    log = {(m.partition(), m.offset()): m.value().decode() for m in got}
    assert len(log) == total, f"read {len(log)} records, the log holds {total}"
    by_value = {}
    for (p, o), v in log.items():
        assert v not in by_value, f"record {v} is in the log twice: at {by_value[v]} and {(p, o)}"
        by_value[v] = (p, o)
    lost = [(v, at) for v, at in history.acked.items() if by_value.get(v) != at]
    assert not lost, f"{len(lost)} acknowledged records missing or moved, e.g. {lost[:5]}"
    for (p, o), v in history.seen.items():
        assert log.get((p, o)) == v, f"a consumer saw {v!r} at {p}/{o}, the log holds {log.get((p, o))!r}"
    assert not history.conflicts, f"offsets seen with two records: {history.conflicts[:5]}"
    # Per partition, each producer's acknowledged records are in the order it sent them.
    for stream in streams or [None]:
        for p in range(partitions):
            acked_here = sorted((o, int(v[2:])) for v, (pp, o) in history.acked.items()
                                if pp == p and (stream is None or int(v[2:]) in stream))
            seq = [n for _, n in acked_here]
            assert seq == sorted(seq), f"partition {p}: acknowledged records out of order"
    return total


def test_replicated_round_trip_and_isr(cluster_factory):
    c = cluster_factory(settings=FAST).start()
    b = c.bootstrap
    create_replicated(b, "rep-rt", 3, configs={"min.insync.replicas": "2"})
    state = wait_full_isr(c, "rep-rt", 3)
    assert sorted(l for l, _ in state.values()) == [1, 2, 3], f"leaders should spread: {state}"
    history = History()
    p = Producer({"bootstrap.servers": b, "acks": "all", "enable.idempotence": True})
    for n in range(600):
        p.produce("rep-rt", key=str(n), value=f"v-{n}", on_delivery=history.on_delivery)
    assert p.flush(30) == 0 and history.failed == 0 and len(history.acked) == 600
    check_history(c, "rep-rt", 3, history, b)
    # Every replica holds the same bytes: read each partition's data dir size.
    for part in range(3):
        sizes = {i: sum(f.stat().st_size for f in (c.node(i).data_dir / f"rep-rt-{part}").glob("*.log"))
                 for i in (1, 2, 3)}
        wait_for(lambda: len(set({i: sum(f.stat().st_size for f in (c.node(i).data_dir / f"rep-rt-{part}").glob("*.log"))
                                  for i in (1, 2, 3)}.values())) == 1, 15,
                 f"replicas of rep-rt-{part} to hold the same bytes (now {sizes})")


def test_acks_all_survives_random_kills(cluster_factory):
    seed = int(os.environ.get("BROOK_FAULT_SEED", random.randrange(1 << 30)))
    rounds = int(os.environ.get("BROOK_FAULT_ROUNDS", "3"))
    rng = random.Random(seed)
    print(f"fault seed {seed}, {rounds} rounds")
    from cluster import netns_available
    # With network namespaces (root), rounds may also cut a node off the network.
    netns = netns_available()
    faults = ["kill9", "pause"] + (["isolate"] if netns else [])
    print(f"faults: {faults}")
    c = cluster_factory(settings={**FAST, "offsets.topic.replication.factor": "3",
                                  "offsets.topic.num.partitions": "6"}, netns=netns).start()
    b = c.bootstrap
    topic = "rep-faults"
    create_replicated(b, topic, 3, configs={"min.insync.replicas": "2"})
    wait_full_isr(c, topic, 3)
    history = History()
    stop = threading.Event()
    counter = {}
    producer = threading.Thread(target=produce_loop, args=(b, topic, history, stop, counter), daemon=True)
    consumer = threading.Thread(target=consume_loop, args=(b, topic, "rep-faults-g", history, stop), daemon=True)
    commits = []
    watcher = threading.Thread(target=watch_commits, args=(b, "rep-faults-g", topic, 3, stop, commits), daemon=True)
    producer.start()
    consumer.start()
    watcher.start()
    try:
        time.sleep(2)
        for r in range(rounds):
            victim = rng.choice([1, 2, 3])
            fault = rng.choice(faults)
            before = len(history.acked)
            print(f"round {r}: {fault} node {victim} ({before} acknowledged so far)")
            if fault == "kill9":
                c.node(victim).kill9()
                time.sleep(rng.uniform(1, 5))
                c.node(victim).start()
            elif fault == "pause":
                # Past the session timeout: the node is fenced, then resumes.
                os.kill(c.node(victim).proc.pid, signal.SIGSTOP)
                time.sleep(rng.uniform(5, 7))
                os.kill(c.node(victim).proc.pid, signal.SIGCONT)
            else:
                c.network.isolate(victim)
                time.sleep(rng.uniform(5, 7))
                c.network.heal(victim)
            wait_full_isr(c, topic, 3, timeout=90)
            wait_for(lambda: len(history.acked) > before + 50, 90, "the producer to make progress")
    finally:
        stop.set()
        producer.join(120)
        consumer.join(30)
        watcher.join(30)
    assert not producer.is_alive(), "the producer did not finish"
    assert len(commits) > 5, f"only {len(commits)} readings of the group's commits"
    assert_commits_never_go_back(commits)
    total = check_history(c, topic, 3, history, b)
    print(f"{len(history.acked)} acknowledged of {counter.get('sent')} sent, {history.failed} failed, "
          f"{total} in the log, {len(history.seen)} offsets seen by the group")
    assert len(history.acked) > 0


def test_two_of_three_down_not_enough_replicas(cluster_factory):
    # Dedicated controllers, so the quorum survives the loss of two brokers.
    c = cluster_factory(roles="dedicated", brokers=3,
                        settings={**FAST, "leader.imbalance.check.interval.seconds": "2"}).start()
    b = c.bootstrap
    create_replicated(b, "rep-min", 1, configs={"min.insync.replicas": "2"})
    preferred = wait_full_isr(c, "rep-min", 1)[0][0]
    # The leader and one follower go down; the third broker is left alone.
    survivor = next(i for i in (4, 5, 6) if i != preferred)
    down = [i for i in (4, 5, 6) if i != survivor]
    for i in down:
        c.node(i).kill9()
    sb = c.node(survivor).bootstrap
    wait_for(lambda: isr_of(c, "rep-min", sb)[0] == (survivor, [survivor]), 30,
             f"broker {survivor} to lead alone")

    def send(acks):
        result = []
        p = Producer({"bootstrap.servers": sb, "acks": acks, "retries": 0, "enable.idempotence": False,
                      "message.timeout.ms": 10000})
        p.produce("rep-min", value=f"acks{acks}", on_delivery=lambda e, m: result.append(e))
        p.flush(20)
        return result[0]

    err = send("all")
    assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, f"acks=all with one replica: {err}"
    assert send("1") is None, "acks=1 still works with one replica"
    for i in down:
        c.node(i).start()
    wait_full_isr(c, "rep-min", 1, timeout=60)
    wait_for(lambda: isr_of(c, "rep-min")[0][0] == preferred, 30,
             f"the preferred leader {preferred} to lead again")
    assert send("all") is None, "acks=all works again once the ISR is back"
    got = consume_all(b, "rep-min", [0], 2, timeout=30)
    assert [m.value().decode() for m in got] == ["acks1", "acksall"]


def test_paused_leader_is_replaced_and_truncates(cluster_factory):
    c = cluster_factory(settings=FAST).start()
    b = c.bootstrap
    create_replicated(b, "rep-pause", 1, configs={"min.insync.replicas": "2"})
    state = wait_full_isr(c, "rep-pause", 1)
    old = state[0][0]
    history = History()
    conf = {"bootstrap.servers": b, "acks": "all", "enable.idempotence": True, "message.timeout.ms": 120000}
    stuck = Producer(conf)
    for n in range(100):
        stuck.produce("rep-pause", value=f"v-{n}", on_delivery=history.on_delivery)
    assert stuck.flush(20) == 0
    others = [i for i in (1, 2, 3) if i != old]
    ob = c.node(others[0]).bootstrap
    os.kill(c.node(old).proc.pid, signal.SIGSTOP)
    try:
        # Sent to the paused leader: it must not acknowledge these unless they end up in the log.
        for n in range(100, 200):
            stuck.produce("rep-pause", value=f"v-{n}", on_delivery=history.on_delivery)
        stuck.poll(0.5)
        started = time.time()
        wait_for(lambda: isr_of(c, "rep-pause", ob)[0][0] in others, 30, "a new leader while the old one is paused")
        print(f"leader {old} paused; successor elected after {time.time() - started:.2f}s")
        fresh = Producer(conf)
        for n in range(200, 300):
            fresh.produce("rep-pause", value=f"v-{n}", on_delivery=history.on_delivery)
        assert fresh.flush(30) == 0, "acks=all through the new leader"
    finally:
        os.kill(c.node(old).proc.pid, signal.SIGCONT)
    stuck.flush(120)
    wait_full_isr(c, "rep-pause", 1, timeout=60)
    assert all(f"v-{n}" in history.acked for n in range(200, 300))
    check_history(c, "rep-pause", 1, history, b, streams=[range(0, 200), range(200, 300)])
    print(f"{len(history.acked)} acknowledged, {history.failed} failed")

    # The resumed replica cut its unreplicated tail and holds the leader's log.
    def same_size():
        sizes = {i: sum(f.stat().st_size for f in (c.node(i).data_dir / "rep-pause-0").glob("*.log")) for i in (1, 2, 3)}
        return len(set(sizes.values())) == 1
    wait_for(same_size, 30, "the resumed replica to hold the leader's log")


def test_group_offsets_survive_killing_their_leader(cluster_factory):
    c = cluster_factory(settings={**FAST, "offsets.topic.num.partitions": "3",
                                  "offsets.topic.replication.factor": "3"}).start()
    b = c.bootstrap
    create_replicated(b, "rep-grp", 3)
    wait_full_isr(c, "rep-grp", 3)
    p = Producer({"bootstrap.servers": b, "acks": "all"})
    for n in range(300):
        p.produce("rep-grp", key=str(n), value=f"v-{n}")
    assert p.flush(30) == 0
    conf = {"bootstrap.servers": b, "group.id": "rep-g", "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 6000}
    k = Consumer(conf)
    k.subscribe(["rep-grp"])
    got = 0
    deadline = time.time() + 60
    while got < 150 and time.time() < deadline:
        m = k.poll(0.2)
        if m is not None and not m.error():
            got += 1
    k.commit(asynchronous=False)
    committed = {tp.partition: tp.offset for tp in k.committed([TopicPartition("rep-grp", i) for i in range(3)], timeout=10)}
    k.close()
    assert got >= 150 and sum(o for o in committed.values() if o >= 0) == got, (got, committed)
    admin = AdminClient({"bootstrap.servers": b})
    coordinator = admin.describe_consumer_groups(["rep-g"])["rep-g"].result(timeout=30).coordinator.id
    c.node(coordinator).kill9()
    survivors = [n.bootstrap for n in c.brokers if n.id != coordinator]

    def committed_now():
        k2 = Consumer({**conf, "bootstrap.servers": ",".join(survivors)})
        try:
            return {tp.partition: tp.offset for tp in
                    k2.committed([TopicPartition("rep-grp", i) for i in range(3)], timeout=10)}
        finally:
            k2.close()
    now = wait_for(lambda: (lambda got: got if got == committed else None)(committed_now()), 60,
                   f"the group's commits {committed} to be served by the new coordinator")
    assert now == committed


def _code(e):
    """The error code of a KafkaError or a KafkaException."""
    return e.code() if isinstance(e, KafkaError) else e.args[0].code()


def _leaders(c, topic, bootstrap=None):
    return {p: l for p, (l, _) in isr_of(c, topic, bootstrap).items()}


def _displace_a_leader(c, topic, partitions):
    """Kills the leader of partition 0 and brings it back in sync; returns
    (preferred leaders, the leaders after it returned)."""
    state = wait_full_isr(c, topic, partitions)
    preferred = {p: l for p, (l, _) in state.items()}
    victim = preferred[0]
    c.node(victim).kill9()
    others = [n.bootstrap for n in c.brokers if n.id != victim]
    wait_for(lambda: all(l not in (victim, -1) for l in _leaders(c, topic, others[0]).values()), 30,
             f"leadership to move off node {victim}")
    c.node(victim).start()
    wait_full_isr(c, topic, partitions, timeout=60)
    return preferred, _leaders(c, topic)


def test_preferred_leaders_restored_automatically(cluster_factory):
    c = cluster_factory(settings={**FAST, "leader.imbalance.check.interval.seconds": "2"}).start()
    create_replicated(c.bootstrap, "rep-pref", 3)
    preferred, _ = _displace_a_leader(c, "rep-pref", 3)
    wait_for(lambda: _leaders(c, "rep-pref") == preferred, 30,
             f"auto.leader.rebalance.enable to restore the preferred leaders {preferred}")


def test_elect_leaders_api(cluster_factory):
    from confluent_kafka import ElectionType
    c = cluster_factory(settings={**FAST, "auto.leader.rebalance.enable": "false"}).start()
    create_replicated(c.bootstrap, "rep-elect", 3)
    preferred, now = _displace_a_leader(c, "rep-elect", 3)
    assert now != preferred, "without auto rebalance the leadership stays moved"
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    result = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("rep-elect", p) for p in range(3)]).result(30)
    errors = {tp.partition: (_code(e) if e else None) for tp, e in result.items()}
    moved = [p for p in range(3) if now[p] != preferred[p]]
    for p in range(3):
        want = None if p in moved else KafkaError.ELECTION_NOT_NEEDED
        assert errors[p] == want, f"partition {p}: {errors[p]}, expected {want} (moved {moved})"
    wait_for(lambda: _leaders(c, "rep-elect") == preferred, 20, "ElectLeaders to restore preferred leaders")
    # Unclean elections are refused: Brook never elects outside the ISR.
    result = admin.elect_leaders(ElectionType.UNCLEAN, [TopicPartition("rep-elect", 0)]).result(30)
    err = result[TopicPartition("rep-elect", 0)]
    assert err is not None and _code(err) == KafkaError.ELIGIBLE_LEADERS_NOT_AVAILABLE, err


def _replicas(c, topic, bootstrap=None):
    md = c.metadata(bootstrap)
    return {p: (pm.leader, list(pm.replicas)) for p, pm in md.topics[topic].partitions.items()}


def test_reassign_partition_while_writing(cluster_factory):
    c = cluster_factory(settings=FAST).start()
    b = c.bootstrap
    topic = "rep-move"
    create_replicated(b, topic, 1, rf=1)
    wait_full_isr(c, topic, 1, rf=1)
    source = _replicas(c, topic)[0][0]
    target = next(i for i in (1, 2, 3) if i != source)
    history = History()
    with Producing(b, topic, history):
        wait_for(lambda: len(history.acked) > 300, 30, "records before the move")
        out = c.cli(c.node(target).bootstrap, "cluster", "reassign", topic, "--partition", "0",
                    "--replicas", str(target))
        print("reassign:", out.stdout.decode().strip())
        wait_for(lambda: _replicas(c, topic)[0] == (target, [target]), 60,
                 f"{topic}-0 to move from broker {source} to {target}")
        assert json.loads(c.cli(b.split(",")[0], "cluster", "reassignments").stdout) == []
        before = len(history.acked)
        wait_for(lambda: len(history.acked) > before + 300, 60, "the producer to keep going after the move")
    check_history(c, topic, 1, history, b)
    print(f"{len(history.acked)} acknowledged across the move, {history.failed} failed")
    wait_for(lambda: not (c.node(source).data_dir / f"{topic}-0").exists(), 30,
             f"broker {source} to remove its old replica's files")


def test_drain_a_broker(cluster_factory):
    c = cluster_factory(settings=FAST).start()
    b = c.bootstrap
    topic = "rep-drain"
    create_replicated(b, topic, 3, rf=2)
    wait_full_isr(c, topic, 3, rf=2)
    p = Producer({"bootstrap.servers": b, "acks": "all"})
    for n in range(300):
        p.produce(topic, key=str(n), value=f"v-{n}")
    assert p.flush(30) == 0
    c.cli(c.node(1).bootstrap, "cluster", "drain", "3")
    wait_for(lambda: all(3 not in r for _, r in _replicas(c, topic).values()), 60, "no replica left on broker 3")
    wait_full_isr(c, topic, 3, rf=2)
    got = consume_all(c.node(1).bootstrap, topic, range(3), 300, timeout=60)
    assert sorted(m.value().decode() for m in got) == sorted(f"v-{n}" for n in range(300))
    wait_for(lambda: not any((c.node(3).data_dir / f"{topic}-{i}").exists() for i in range(3)), 30,
             "broker 3 to remove the drained replicas")


def test_isolated_leader_loses_nothing_acknowledged(cluster_factory):
    """A leader cut off from every other node (network namespaces, its link
    down): the majority fences it and elects another leader; the cut-off
    leader cannot complete acks=all writes (its followers are gone), so no
    two leaders acknowledge writes to one partition; once the link is back it
    truncates to the new leader's log and rejoins the ISR."""
    import pytest
    from cluster import netns_available
    if not netns_available():
        pytest.skip("network namespaces need root and iproute2")
    c = cluster_factory(settings=FAST, netns=True).start()
    b = c.bootstrap
    topic = "rep-iso"
    create_replicated(b, topic, 1, configs={"min.insync.replicas": "2"})
    old = wait_full_isr(c, topic, 1)[0][0]
    history = History()
    others = [i for i in (1, 2, 3) if i != old]
    with Producing(b, topic, history):
        try:
            wait_for(lambda: len(history.acked) > 200, 30, "records before the cut")
            c.network.isolate(old)
            started = time.time()
            ob = c.node(others[0]).bootstrap
            wait_for(lambda: isr_of(c, topic, ob)[0][0] in others, 30, "a new leader on the majority side")
            print(f"leader {old} cut off; successor elected after {time.time() - started:.2f}s")
            before = len(history.acked)
            wait_for(lambda: len(history.acked) > before + 200, 60, "acks=all through the new leader")
            time.sleep(2)
        finally:
            c.network.heal(old)
        wait_full_isr(c, topic, 1, timeout=90)
        before = len(history.acked)
        wait_for(lambda: len(history.acked) > before + 100, 60, "progress after healing")
    check_history(c, topic, 1, history, b)
    print(f"{len(history.acked)} acknowledged, {history.failed} failed")
