"""Failover without waiting out the broker session (issue 14, item 7).

Every node holds a session connection to each controller voter for the life
of its process; the kernel closes it when the process dies, so the
controller moves a killed broker's partitions at once and fences it a moment
later (and a voter that takes over as controller does the same for the
processes it saw die, the old controller's included).
A process that is merely stopped keeps its connections and is not fenced
before its session expires.

The kill tests set broker.session.timeout.ms far above their deadlines, so
passing them proves the dead-process path, not a fast timeout. No timing is
asserted beyond those generous bounds; the measured failover is printed.
"""

import os
import signal
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import cluster_factory, wait_for  # noqa: F401  (fixtures)

LONG_SESSION = {"broker.session.timeout.ms": "60000"}


def create(c, name, assignment=None, partitions=1):
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    if assignment:
        topic = NewTopic(name, num_partitions=len(assignment), replica_assignment=assignment,
                         config={"min.insync.replicas": "2"})
    else:
        topic = NewTopic(name, partitions, 3, config={"min.insync.replicas": "2"})
    admin.create_topics([topic], request_timeout=20)[name].result(30)


def partition_state(c, topic, bootstrap):
    md = c.metadata(bootstrap, timeout=5)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    return {p: (pm.leader, sorted(pm.isrs)) for p, pm in t.partitions.items()}, sorted(md.brokers)


def full(c, topic, partitions, bootstrap):
    def check():
        got = partition_state(c, topic, bootstrap)
        if got and len(got[0]) == partitions and all(l >= 0 and len(isr) == 3 for l, isr in got[0].values()):
            return got[0]
        return None
    return wait_for(check, 60, f"{topic}: every partition with a leader and 3 in-sync replicas")


def controller_of(c, bootstrap):
    """The active controller, the quorum's leader (DescribeQuorum through
    `brook cluster info`: DescribeCluster names the answering broker), once
    every broker is registered and live."""
    def ask():
        info = c.cluster_info(bootstrap, timeout=10)
        live = [b for b in info["brokers"] if not b.get("fenced")]
        return info["controller"] if info["controller"] >= 0 and len(live) == 3 else None
    return wait_for(ask, 60, "an active controller and three live brokers")


def produce_all(bootstrap, topic, values, timeout):
    """acks=all produce of `values` to partition 0; returns the errors."""
    errors = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": int(timeout * 1000),
                  "linger.ms": 1})
    for v in values:
        p.produce(topic, partition=0, value=v, on_delivery=lambda e, m: errors.append(e) if e else None)
    left = p.flush(timeout + 5)
    return errors + (["unflushed"] * left)


def place_leader(c, topic, want_controller):
    """Creates `topic` (one partition, RF 3) led by the active controller or
    by another node; returns (leader, controller)."""
    ctl = controller_of(c, c.bootstrap)
    others = [i for i in (1, 2, 3) if i != ctl]
    first = ctl if want_controller else others[0]
    create(c, topic, assignment=[[first] + [i for i in (1, 2, 3) if i != first]])
    state = full(c, topic, 1, c.bootstrap)
    assert state[0][0] == first, f"{topic}: expected leader {first}, got {state}"
    # The controller may have moved meanwhile (it does not under a steady cluster).
    return first, controller_of(c, c.node(first).bootstrap)


@pytest.mark.parametrize("victim", ["leader", "leader_and_controller"])
def test_killed_leader_is_replaced_without_waiting_out_its_session(cluster_factory, victim):
    c = cluster_factory(settings=LONG_SESSION).start()
    topic = f"fo-kill-{victim.replace('_', '-')}"
    leader, controller = place_leader(c, topic, victim == "leader_and_controller")
    assert (leader == controller) == (victim == "leader_and_controller")
    assert produce_all(c.bootstrap, topic, [b"before"], 20) == []
    survivor = c.node(next(i for i in (1, 2, 3) if i != leader))
    killed = time.time()
    c.node(leader).kill9()
    # Far below the 60 s session: only the dead-process path can move it this soon.
    state = wait_for(lambda: (lambda s: s if s and s[0][0][0] not in (leader, -1) else None)(
        partition_state(c, topic, survivor.bootstrap)), 20, "a new leader for partition 0")
    moved = time.time() - killed
    new_leader, isr = state[0][0]
    assert leader not in isr, f"the dead broker left the ISR: {isr}"
    # It is fenced (no longer listed) a moment after its partitions moved.
    wait_for(lambda: leader not in partition_state(c, topic, survivor.bootstrap)[1], 10,
             f"node {leader} to be fenced")
    errors = produce_all(survivor.bootstrap, topic, [b"after"], 20 - min(moved, 10))
    assert errors == [], f"acks=all through the new leader {new_leader}: {errors}"
    print(f"{victim}: node {leader} killed; leader {new_leader} after {moved:.2f}s, "
          f"acks=all write done after {time.time() - killed:.2f}s")
    logs = "\n".join(c.node(i).log() for i in (1, 2, 3) if i != leader)
    assert "fencing broker: its process is gone" in logs, "fenced for its closed session, not for a timeout"


@pytest.mark.parametrize("victim", ["leader", "leader_and_controller"])
def test_stopped_leader_is_not_fenced_before_its_session_expires(cluster_factory, victim):
    session_ms = 8000
    c = cluster_factory(settings={"broker.session.timeout.ms": str(session_ms)}).start()
    topic = f"fo-stop-{victim.replace('_', '-')}"
    leader, controller = place_leader(c, topic, victim == "leader_and_controller")
    before = full(c, topic, 1, c.bootstrap)
    watcher = c.node(next(i for i in (1, 2, 3) if i != leader))
    pid = c.node(leader).proc.pid
    seen = []
    os.kill(pid, signal.SIGSTOP)
    stopped = time.time()
    try:
        while time.time() - stopped < session_ms / 2000:
            try:
                seen.append(partition_state(c, topic, watcher.bootstrap))
            except Exception as e:  # a controller election may be going on
                seen.append(repr(e))
            time.sleep(0.25)
    finally:
        os.kill(pid, signal.SIGCONT)
    # Keep watching a little after it resumes: a decision taken during the stop would show now.
    until = time.time() + 3
    while time.time() < until:
        try:
            seen.append(partition_state(c, topic, watcher.bootstrap))
        except Exception as e:
            seen.append(repr(e))
        time.sleep(0.25)
    states = [s for s in seen if isinstance(s, tuple)]
    assert len(states) >= 10, f"too few metadata readings: {seen}"
    for partitions, brokers in states:
        assert partitions[0][0] == leader, f"leadership moved while node {leader} was stopped: {partitions}"
        assert leader in brokers, f"node {leader} was fenced while stopped: brokers {brokers}"
    logs = "\n".join(c.node(i).log() for i in (1, 2, 3))
    assert f"fencing broker: session expired broker={leader}" not in logs
    assert f"fencing broker: its process is gone (session connection closed) broker={leader}" not in logs
    assert full(c, topic, 1, c.bootstrap) == before
    assert produce_all(c.bootstrap, topic, [b"after-stop"], 20) == []
    print(f"{victim}: node {leader} stopped {session_ms / 2000:.1f}s (controller was {controller}); "
          f"{len(states)} readings, never fenced")


@pytest.mark.parametrize("victim", ["leader", "leader_and_controller"])
def test_node_restarted_right_after_kill9_registers_at_once(cluster_factory, victim):
    c = cluster_factory(settings=LONG_SESSION).start()
    topic = f"fo-restart-{victim.replace('_', '-')}"
    leader, _ = place_leader(c, topic, victim == "leader_and_controller")
    node = c.node(leader)
    node.kill9()
    started = time.time()
    # Its listener opens only once it is registered and caught up.
    node.start(timeout=30)
    ready = time.time() - started
    survivor = c.node(next(i for i in (1, 2, 3) if i != leader))
    full(c, topic, 1, survivor.bootstrap)
    assert leader in partition_state(c, topic, survivor.bootstrap)[1]
    rejoined = time.time() - started
    assert rejoined < 40, f"node {leader} took {rejoined:.1f}s to rejoin (its old session lasts 60 s)"
    assert "retrying until its session expires" not in node.log(), "the new incarnation was refused"
    assert produce_all(c.bootstrap, topic, [b"after-restart"], 20) == []
    print(f"{victim}: node {leader} restarted after kill -9: registered and serving after {ready:.2f}s, "
          f"back in the ISR after {rejoined:.2f}s")
