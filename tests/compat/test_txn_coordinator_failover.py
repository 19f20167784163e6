"""Transaction coordinator failover between EndTxn and the markers (issue 15).

Three nodes. The transaction's data partition is led by broker L, its
coordinator (the leader of its `__transaction_state` partition) is another
broker C. L is frozen (SIGSTOP, with a long broker session so it stays
leader in metadata), the producer commits: EndTxn is answered once
PrepareCommit is replicated, but the commit marker cannot reach L. Then C
is killed with kill -9 and L thawed. A new coordinator loads the
transaction log, finds the transaction in PrepareCommit and sends its
markers again: the partition's last stable offset moves past the
transaction and a read_committed consumer reads its records.
"""

import signal
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import cluster_factory, wait_for  # noqa: F401  (fixture)
from helpers import read_values

TXN_PARTITIONS = 6
SETTINGS = {
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "transaction.state.log.num.partitions": str(TXN_PARTITIONS),
    "offsets.topic.replication.factor": "3",
    # L stays registered while frozen; the ISR drops it quickly instead.
    "broker.session.timeout.ms": "60000",
    "replica.lag.time.max.ms": "2000",
}


def java_hash_partition(key, partitions):
    """Kafka's partition for a transactional id: abs(String.hashCode) % n."""
    units = key.encode("utf-16-be")
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i:i + 2], "big")) & 0xFFFFFFFF
    if h >= 1 << 31:
        h -= 1 << 32
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def stable_offset(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "lso", "isolation.level": "read_committed"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        c.close()


def test_new_coordinator_completes_a_prepared_commit(cluster_factory):
    c = cluster_factory(settings=SETTINGS).start()
    txn_id = "failover-txn"
    producer = Producer({"bootstrap.servers": c.bootstrap, "transactional.id": txn_id, "linger.ms": 1})
    producer.init_transactions(60)  # creates __transaction_state

    state_partition = java_hash_partition(txn_id, TXN_PARTITIONS)
    coordinator = wait_for(lambda: (c.leaders("__transaction_state") or {}).get(state_partition, -1) >= 0
                           and c.leaders("__transaction_state")[state_partition], 30, "a coordinator")
    data_leader = next(b for b in c.broker_ids if b != coordinator)
    third = next(b for b in c.broker_ids if b not in (coordinator, data_leader))
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    admin.create_topics([NewTopic("data", num_partitions=1, replica_assignment=[[data_leader, coordinator, third]],
                                  config={"min.insync.replicas": "2"})])["data"].result(30)
    wait_for(lambda: c.leaders("data") == {0: data_leader}, 30, "the data partition led by L")

    producer.begin_transaction()
    for i in range(10):
        producer.produce("data", value=f"v{i}".encode(), partition=0)
    assert producer.flush(30) == 0
    assert stable_offset(c.bootstrap, "data") == 0

    leader_node = c.node(data_leader)
    leader_node.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.time()
        producer.commit_transaction(60)  # PrepareCommit written; the marker cannot reach L
        print(f"EndTxn answered after {time.time() - started:.1f}s with L frozen")
        c.node(coordinator).kill9()
    finally:
        leader_node.proc.send_signal(signal.SIGCONT)
    bootstrap = ",".join(c.node(b).bootstrap for b in c.broker_ids if b != coordinator)

    def completed():
        try:
            return stable_offset(bootstrap, "data") >= 11
        except Exception:
            return False
    wait_for(completed, 90, "the new coordinator's commit marker (LSO past the transaction)")
    assert read_values(bootstrap, "data", 0, timeout=60) == [f"v{i}".encode() for i in range(10)]
    # The new coordinator found the transaction prepared and completed it.
    # (The old one's marker request may still sit in L's socket buffer and be
    # applied after the thaw; either way the commit is written once.)
    survivors = [c.node(b) for b in c.broker_ids if b != coordinator]
    resumed = [n.id for n in survivors for line in n.log_path.read_text(errors="replace").splitlines()
               if f"partition=__transaction_state-{state_partition} " in line and "completing=1" in line]
    assert resumed, "no surviving broker resumed the prepared transaction:\n" + c.logs()
