"""Consumer groups with real clients: partition sharing and rebalancing on
close and on kill, committed offsets across broker restarts, kafka-python,
aiokafka, a mixed group, static membership, and group admin."""

import asyncio
import subprocess
import sys
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from helpers import create_topic

GROUP_SETTINGS = {"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000"}


@pytest.fixture
def gbrook(brook_factory):
    return brook_factory(GROUP_SETTINGS).start()


def produce_n(bootstrap, topic, n, partitions):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, key=str(i).encode(), value=f"v{i}".encode(), partition=i % partitions)
    assert p.flush(30) == 0


class GroupMember:
    """A confluent-kafka group member polling in its own thread."""

    def __init__(self, bootstrap, group, topic, cooperative=False, **conf):
        if cooperative:
            conf["partition.assignment.strategy"] = "cooperative-sticky"
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                                  "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                                  **conf})
        self.assignment = set()
        self.events = []
        self.messages = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

        # Eager protocols hand over the whole assignment; cooperative ones only the changes.
        def on_assign(c, parts):
            with self.lock:
                self.events.append(("assign", sorted(p.partition for p in parts)))
                given = {p.partition for p in parts}
                self.assignment = (self.assignment | given) if cooperative else given

        def on_revoke(c, parts):
            with self.lock:
                self.events.append(("revoke", sorted(p.partition for p in parts)))
                taken = {p.partition for p in parts}
                self.assignment = (self.assignment - taken) if cooperative else set()

        self.consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            m = self.consumer.poll(0.2)
            if m is not None and not m.error():
                with self.lock:
                    self.messages.append((m.partition(), m.offset()))

    def close(self):
        self.stop.set()
        self.thread.join(10)
        self.consumer.close()


def wait_until(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def assignments(members):
    return [frozenset(m.assignment) for m in members]


def balanced(members, total, each):
    sets = assignments(members)
    union = set().union(*sets)
    return all(len(s) == each for s in sets) and union == set(range(total)) and sum(len(s) for s in sets) == total


MEMBER_SCRIPT = """
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "session.timeout.ms": 6000,
              "heartbeat.interval.ms": 500, "auto.offset.reset": "earliest"})
c.subscribe([sys.argv[3]], on_assign=lambda c, p: print("assigned", len(p), flush=True))
deadline = time.time() + 120
while time.time() < deadline:
    c.poll(0.2)
"""


def test_three_members_share_six_partitions_and_rebalance(gbrook):
    create_topic(gbrook.bootstrap, "grp-six", partitions=6)
    produce_n(gbrook.bootstrap, "grp-six", 600, 6)
    members = [GroupMember(gbrook.bootstrap, "g-six", "grp-six") for _ in range(3)]
    try:
        wait_until(lambda: balanced(members, 6, 2), what="2 partitions each")
        # A clean close (LeaveGroup): the other two take over all six.
        members[0].close()
        rest = members[1:]
        wait_until(lambda: balanced(rest, 6, 3), what="3 partitions each after a close")
        # A member killed without LeaveGroup: the survivor gets everything within the session timeout.
        proc = subprocess.Popen([sys.executable, "-c", MEMBER_SCRIPT, gbrook.bootstrap, "g-six", "grp-six"],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert "assigned" in proc.stdout.readline()
            wait_until(lambda: sum(len(s) for s in assignments(rest)) == 4, what="the third member to get 2 partitions")
            started = time.time()
            proc.kill()
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        wait_until(lambda: balanced(rest, 6, 3), timeout=20, what="reassignment after a kill")
        assert time.time() - started < 6 + 5, "within the session timeout (plus a heartbeat round)"
        # The survivors read every partition (from the start: nothing was committed).
        wait_until(lambda: {p for m in members for (p, _) in list(m.messages)} == set(range(6)), what="records from all 6")
    finally:
        for m in members[1:]:
            m.close()


def consume_group(bootstrap, group, topic, count, timeout=30):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000})
    c.subscribe([topic])
    got = []
    deadline = time.time() + timeout
    while len(got) < count and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m)
    return c, got


@pytest.mark.parametrize("stop", ["graceful", "kill9"])
def test_committed_offsets_survive_restart(gbrook, stop):
    create_topic(gbrook.bootstrap, "grp-dur", partitions=3)
    produce_n(gbrook.bootstrap, "grp-dur", 300, 3)
    c, got = consume_group(gbrook.bootstrap, "g-dur", "grp-dur", 150)
    assert len(got) >= 150
    # Commit exactly what this member processed, per partition.
    last = {}
    for m in got[:150]:
        last[m.partition()] = max(last.get(m.partition(), -1), m.offset())
    commits = [TopicPartition("grp-dur", p, o + 1) for p, o in last.items()]
    c.commit(offsets=commits, asynchronous=False)
    c.close()
    if stop == "graceful":
        gbrook.restart()
    else:
        gbrook.kill9()
        gbrook.start()
    c, got2 = consume_group(gbrook.bootstrap, "g-dur", "grp-dur", 300 - 150)
    c.close()
    first = {}
    for m in got2:
        first.setdefault(m.partition(), m.offset())
    for p in range(3):
        assert first.get(p, 100) == last.get(p, -1) + 1, f"partition {p} resumes right after its commit"
    delivered = {(m.partition(), m.offset()) for m in got[:150]} | {(m.partition(), m.offset()) for m in got2}
    committed_records = {(m.partition(), m.offset()) for m in got[:150] if m.offset() <= last[m.partition()]}
    redelivered = committed_records & {(m.partition(), m.offset()) for m in got2}
    assert not redelivered
    assert len(delivered) == 300, "nothing skipped"


def test_kafka_python_group_join_consume_commit_resume(gbrook):
    from kafka import KafkaConsumer
    create_topic(gbrook.bootstrap, "grp-kp", partitions=2)
    produce_n(gbrook.bootstrap, "grp-kp", 200, 2)
    c = KafkaConsumer("grp-kp", bootstrap_servers=gbrook.bootstrap, group_id="g-kp", auto_offset_reset="earliest",
                      enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500)
    got = []
    deadline = time.time() + 30
    while len(got) < 120 and time.time() < deadline:
        for recs in c.poll(timeout_ms=500, max_records=120 - len(got)).values():
            got.extend(recs)
    assert len(got) == 120
    c.commit()
    positions = {tp.partition: c.position(tp) for tp in c.assignment()}
    c.close()
    c = KafkaConsumer("grp-kp", bootstrap_servers=gbrook.bootstrap, group_id="g-kp", auto_offset_reset="earliest",
                      enable_auto_commit=False, session_timeout_ms=6000)
    rest = []
    deadline = time.time() + 30
    while len(rest) < 80 and time.time() < deadline:
        for recs in c.poll(timeout_ms=500).values():
            rest.extend(recs)
    c.close()
    assert len(rest) == 80
    for p, pos in positions.items():
        offs = [r.offset for r in rest if r.partition == p]
        if offs:
            assert min(offs) == pos
    assert {(r.partition, r.offset) for r in got} | {(r.partition, r.offset) for r in rest} == \
        {(p, o) for p in range(2) for o in range(100)}


def test_aiokafka_group_join_consume_commit_resume(gbrook):
    aiokafka = pytest.importorskip("aiokafka")
    create_topic(gbrook.bootstrap, "grp-aio", partitions=2)
    produce_n(gbrook.bootstrap, "grp-aio", 100, 2)

    async def run(limit):
        c = aiokafka.AIOKafkaConsumer("grp-aio", bootstrap_servers=gbrook.bootstrap, group_id="g-aio",
                                      auto_offset_reset="earliest", enable_auto_commit=False,
                                      session_timeout_ms=6000, heartbeat_interval_ms=500)
        await c.start()
        got = []
        try:
            deadline = time.time() + 30
            while len(got) < limit and time.time() < deadline:
                batch = await c.getmany(timeout_ms=500, max_records=limit - len(got))
                for recs in batch.values():
                    got.extend(recs)
            await c.commit()
        finally:
            await c.stop()
        return got

    first = asyncio.run(run(60))
    second = asyncio.run(run(40))
    assert len(first) == 60 and len(second) == 40
    assert {(r.partition, r.offset) for r in first}.isdisjoint({(r.partition, r.offset) for r in second})
    assert len({(r.partition, r.offset) for r in first + second}) == 100


def test_mixed_group_confluent_and_kafka_python(gbrook):
    from kafka import KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    create_topic(gbrook.bootstrap, "grp-mix", partitions=4)
    produce_n(gbrook.bootstrap, "grp-mix", 400, 4)
    ck = GroupMember(gbrook.bootstrap, "g-mix", "grp-mix", **{"partition.assignment.strategy": "range"})
    kp = KafkaConsumer("grp-mix", bootstrap_servers=gbrook.bootstrap, group_id="g-mix", auto_offset_reset="earliest",
                       enable_auto_commit=False, session_timeout_ms=10000, heartbeat_interval_ms=500,
                       partition_assignment_strategy=[RangePartitionAssignor])
    kp_assignment = set()
    stop = threading.Event()

    def run_kp():
        # kafka-python drives its group membership from poll(): keep polling.
        nonlocal kp_assignment
        while not stop.is_set():
            kp.poll(timeout_ms=100)
            kp_assignment = {tp.partition for tp in kp.assignment()}

    thread = threading.Thread(target=run_kp, daemon=True)
    thread.start()
    try:
        def shared():
            mine = set(kp_assignment)
            return len(mine) == 2 and len(ck.assignment) == 2 and mine.isdisjoint(ck.assignment) \
                and mine | ck.assignment == {0, 1, 2, 3}
        wait_until(shared, timeout=40, what="a 2/2 split between the two client libraries")
    finally:
        stop.set()
        thread.join(10)
        kp.close()
        ck.close()


def test_static_membership_rejoin_without_rebalance(gbrook):
    create_topic(gbrook.bootstrap, "grp-static", partitions=4)
    a = GroupMember(gbrook.bootstrap, "g-static", "grp-static", **{"group.instance.id": "a", "session.timeout.ms": 20000})
    b = GroupMember(gbrook.bootstrap, "g-static", "grp-static", **{"group.instance.id": "b", "session.timeout.ms": 20000})
    try:
        wait_until(lambda: balanced([a, b], 4, 2), what="2/2 split")
        b_events = len(b.events)
        a_partitions = set(a.assignment)
        # a restarts with the same instance id; a static member's close sends no LeaveGroup.
        a.close()
        a2 = GroupMember(gbrook.bootstrap, "g-static", "grp-static", **{"group.instance.id": "a", "session.timeout.ms": 20000})
        wait_until(lambda: len(a2.assignment) == 2, what="a to get its partitions back")
        assert a2.assignment == a_partitions
        time.sleep(2)
        assert b.events[b_events:] == [], f"b saw no rebalance: {b.events[b_events:]}"
        a2.close()
    finally:
        b.close()


def test_admin_lists_describes_and_reports_lag(gbrook):
    create_topic(gbrook.bootstrap, "grp-admin", partitions=2)
    produce_n(gbrook.bootstrap, "grp-admin", 100, 2)
    c, got = consume_group(gbrook.bootstrap, "g-admin", "grp-admin", 30)
    c.commit(offsets=[TopicPartition("grp-admin", 0, 10), TopicPartition("grp-admin", 1, 20)], asynchronous=False)
    admin = AdminClient({"bootstrap.servers": gbrook.bootstrap})
    try:
        listed = admin.list_consumer_groups().result(timeout=30)
        assert "g-admin" in {g.group_id for g in listed.valid}
        desc = admin.describe_consumer_groups(["g-admin"])["g-admin"].result(timeout=30)
        assert len(desc.members) == 1
        assert {tp.partition for tp in desc.members[0].assignment.topic_partitions} == {0, 1}
        from confluent_kafka import ConsumerGroupTopicPartitions
        res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("g-admin")])["g-admin"].result(timeout=30)
        committed = {tp.partition: tp.offset for tp in res.topic_partitions}
        assert committed == {0: 10, 1: 20}
        ends = admin.list_offsets({TopicPartition("grp-admin", p): OffsetSpec.latest() for p in (0, 1)})
        lag = {tp.partition: f.result().offset - committed[tp.partition] for tp, f in ends.items()}
        assert lag == {0: 40, 1: 30}
    finally:
        c.close()
    # Once empty, the group can be deleted.
    wait_until(lambda: admin.describe_consumer_groups(["g-admin"])["g-admin"].result(timeout=30).state.name == "EMPTY",
               what="the group to become empty")
    admin.delete_consumer_groups(["g-admin"])["g-admin"].result(timeout=30)
    listed = admin.list_consumer_groups().result(timeout=30)
    assert "g-admin" not in {g.group_id for g in listed.valid}


def test_cooperative_sticky_incremental_rebalance(gbrook):
    """librdkafka's cooperative-sticky assignor drives incremental rebalances
    over the classic protocol: a member keeps its partitions across a join
    and only gives up those that move."""
    create_topic(gbrook.bootstrap, "grp-coop", partitions=6)
    a = GroupMember(gbrook.bootstrap, "g-coop", "grp-coop", cooperative=True)
    try:
        wait_until(lambda: len(a.assignment) == 6, what="first member owns all 6")
        before = set(a.assignment)
        events_before = len(a.events)
        b = GroupMember(gbrook.bootstrap, "g-coop", "grp-coop", cooperative=True)
        try:
            wait_until(lambda: len(a.assignment) == 3 and len(b.assignment) == 3, timeout=40, what="a 3/3 cooperative split")
            assert a.assignment.isdisjoint(b.assignment) and a.assignment | b.assignment == set(range(6))
            revoked = set()
            for kind, parts in a.events[events_before:]:
                if kind == "revoke":
                    revoked |= set(parts)
            assert revoked == before - a.assignment, f"only moved partitions are revoked: {a.events}"
        finally:
            b.close()
    finally:
        a.close()
