"""Transactions (KIP-98, KIP-890) with confluent-kafka (librdkafka) against a
real `brook server`. What this file proves, on one node:

a. commit and abort: read_committed consumers see exactly the committed
   records, read_uncommitted ones see the aborted ones too; an open
   transaction holds the last stable offset (ListOffsets READ_COMMITTED)
   and read_committed consumers stop there;
b. zombie fencing: a second producer with the same transactional.id fences
   the first; nothing the first sends afterwards is ever read committed;
c. a hanging transaction is aborted by the coordinator after its
   transaction.timeout.ms, and the last stable offset moves on;
d. the cleaner removes an aborted transaction's records from a compacted
   topic, and keeps the committed values;
e. consume-transform-produce: offsets committed inside the transaction
   (TxnOffsetCommit) become the group's committed offsets on commit only.

The three-node copier under faults is in test_txn_copier.py.
"""

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from helpers import create_topic

# A single broker holds the transaction log alone; timed-out transactions
# are looked for every 500 ms instead of Kafka's 10 s.
TXN_SETTINGS = {
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "offsets.topic.replication.factor": "1",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": "500",
    "log.cleaner.backoff.ms": "200",
}


def txn_producer(bootstrap, txn_id, **extra):
    conf = {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5}
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    p = Producer(conf)
    p.init_transactions(30)
    return p


def read_to_end(bootstrap, topic, partitions, isolation, timeout=30):
    """Every record (partition, offset, key, value) from the beginning up to
    where the consumer's isolation level lets it read (the high watermark,
    or the last stable offset for read_committed)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}",
                  "enable.auto.commit": False, "enable.partition.eof": True, "isolation.level": isolation})
    c.assign([TopicPartition(topic, p, 0) for p in partitions])
    out, done = [], set()
    deadline = time.time() + timeout
    try:
        while len(done) < len(partitions) and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    done.add(m.partition())
                    continue
                raise RuntimeError(f"consume error: {m.error()}")
            out.append((m.partition(), m.offset(), m.key(), m.value()))
    finally:
        c.close()
    assert len(done) == len(partitions), f"{isolation}: not at the end of {topic} after {timeout}s"
    return out


def values(records):
    return sorted(r[3] for r in records)


def stable_offset(bootstrap, topic, partition):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "lso", "isolation.level": "read_committed"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
    finally:
        c.close()


def high_watermark(bootstrap, topic, partition):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "hw", "isolation.level": "read_uncommitted"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
    finally:
        c.close()


def test_commit_abort_and_the_last_stable_offset(brook_factory):
    b = brook_factory(TXN_SETTINGS).start()
    create_topic(b.bootstrap, "tx", partitions=2)
    p = txn_producer(b.bootstrap, "tx-a")
    p.begin_transaction()
    for i in range(10):
        p.produce("tx", value=f"c1-{i}".encode(), partition=i % 2)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(5):
        p.produce("tx", value=f"ab-{i}".encode(), partition=i % 2)
    p.flush(10)  # abort_transaction purges what is still queued: write them first
    p.abort_transaction(30)
    p.begin_transaction()
    for i in range(3):
        p.produce("tx", value=f"c2-{i}".encode(), partition=i % 2)
    p.commit_transaction(30)

    committed = [f"c1-{i}".encode() for i in range(10)] + [f"c2-{i}".encode() for i in range(3)]
    assert values(read_to_end(b.bootstrap, "tx", [0, 1], "read_committed")) == sorted(committed)
    everything = committed + [f"ab-{i}".encode() for i in range(5)]
    assert values(read_to_end(b.bootstrap, "tx", [0, 1], "read_uncommitted")) == sorted(everything)
    # Markers take offsets: three per partition here.
    assert stable_offset(b.bootstrap, "tx", 0) == high_watermark(b.bootstrap, "tx", 0) == 5 + 3 + 2 + 3

    # An open transaction holds the last stable offset where it starts.
    before = high_watermark(b.bootstrap, "tx", 0)
    p.begin_transaction()
    p.produce("tx", value=b"open", partition=0)
    p.flush(10)
    assert high_watermark(b.bootstrap, "tx", 0) == before + 1
    assert stable_offset(b.bootstrap, "tx", 0) == before
    assert b"open" not in values(read_to_end(b.bootstrap, "tx", [0], "read_committed"))
    assert b"open" in values(read_to_end(b.bootstrap, "tx", [0], "read_uncommitted"))
    p.commit_transaction(30)
    assert stable_offset(b.bootstrap, "tx", 0) == before + 2
    assert b"open" in values(read_to_end(b.bootstrap, "tx", [0], "read_committed"))

    # A restart keeps it all: markers, aborted index, producer state.
    b.restart()
    assert values(read_to_end(b.bootstrap, "tx", [0, 1], "read_committed")) == sorted(committed + [b"open"])
    p2 = txn_producer(b.bootstrap, "tx-a")
    p2.begin_transaction()
    p2.produce("tx", value=b"after-restart", partition=1)
    p2.commit_transaction(30)
    assert b"after-restart" in values(read_to_end(b.bootstrap, "tx", [1], "read_committed"))


def test_a_second_producer_fences_the_first(brook_factory):
    b = brook_factory(TXN_SETTINGS).start()
    create_topic(b.bootstrap, "fence", partitions=1)
    zombie = txn_producer(b.bootstrap, "fence-id")
    zombie.begin_transaction()
    zombie.produce("fence", value=b"zombie-before")
    zombie.flush(10)

    # The new instance aborts the zombie's open transaction and takes over.
    fresh = txn_producer(b.bootstrap, "fence-id")
    fresh.begin_transaction()
    fresh.produce("fence", value=b"fresh")
    fresh.commit_transaction(30)

    # Everything the zombie does now fails: it is fenced.
    with pytest.raises(KafkaException) as failure:
        zombie.produce("fence", value=b"zombie-after")
        zombie.flush(10)
        zombie.commit_transaction(15)
    error = failure.value.args[0]
    assert error.fatal() or error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                             KafkaError.INVALID_PRODUCER_EPOCH), error
    committed = values(read_to_end(b.bootstrap, "fence", [0], "read_committed"))
    assert committed == [b"fresh"], committed
    everything = values(read_to_end(b.bootstrap, "fence", [0], "read_uncommitted"))
    assert b"zombie-after" not in everything, "a fenced producer's batch was written"


def test_a_hanging_transaction_is_aborted_after_its_timeout(brook_factory):
    b = brook_factory(TXN_SETTINGS).start()
    create_topic(b.bootstrap, "hang", partitions=1)
    hanging = txn_producer(b.bootstrap, "hang-id", transaction_timeout_ms=3000)
    hanging.begin_transaction()
    hanging.produce("hang", value=b"never-committed")
    hanging.flush(10)
    plain = Producer({"bootstrap.servers": b.bootstrap})
    for i in range(3):
        plain.produce("hang", value=f"plain-{i}".encode())
    plain.flush(10)
    assert stable_offset(b.bootstrap, "hang", 0) == 0
    started = time.time()
    deadline = started + 30
    while stable_offset(b.bootstrap, "hang", 0) == 0 and time.time() < deadline:
        time.sleep(0.3)
    waited = time.time() - started
    assert stable_offset(b.bootstrap, "hang", 0) > 0, "the hanging transaction was never aborted"
    print(f"hanging transaction aborted after {waited:.1f}s (timeout 3s)")
    assert values(read_to_end(b.bootstrap, "hang", [0], "read_committed")) == [b"plain-0", b"plain-1", b"plain-2"]
    assert b"never-committed" in values(read_to_end(b.bootstrap, "hang", [0], "read_uncommitted"))
    # The timed-out producer is fenced (its epoch was bumped by the abort).
    with pytest.raises(KafkaException):
        hanging.commit_transaction(15)


def test_compaction_removes_aborted_records(brook_factory):
    b = brook_factory(TXN_SETTINGS).start()
    create_topic(b.bootstrap, "ctx", partitions=1, config={
        "cleanup.policy": "compact", "segment.bytes": "2000", "segment.ms": "1000",
        "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "1000"})
    p = txn_producer(b.bootstrap, "ctx-id")
    for round_ in range(6):
        p.begin_transaction()
        for k in range(10):
            p.produce("ctx", key=f"k{k}".encode(), value=f"committed-{round_}-{k}-".encode() + b"x" * 40)
        p.commit_transaction(30)
        p.begin_transaction()
        for k in range(10):
            p.produce("ctx", key=f"k{k}".encode(), value=f"aborted-{round_}-{k}".encode())
        p.flush(10)
        p.abort_transaction(30)
    assert any(v.startswith(b"aborted") for v in values(read_to_end(b.bootstrap, "ctx", [0], "read_uncommitted")))
    # Roll the active segment (segment.ms) with a committed write, then wait for the cleaner.
    deadline = time.time() + 60
    seen = None
    n = 0
    while time.time() < deadline:
        time.sleep(1.2)
        p.begin_transaction()
        p.produce("ctx", key=f"roll-{n}".encode(), value=b"roll")
        p.commit_transaction(30)
        n += 1
        seen = read_to_end(b.bootstrap, "ctx", [0], "read_uncommitted")
        if not any(r[3].startswith(b"aborted") for r in seen):
            break
    assert seen is not None and not any(r[3].startswith(b"aborted") for r in seen), "aborted records survived"
    latest = {}
    for _, _, k, v in read_to_end(b.bootstrap, "ctx", [0], "read_committed"):
        latest[k] = v
    for k in range(10):
        assert latest[f"k{k}".encode()].startswith(f"committed-5-{k}-".encode()), latest


def test_offsets_committed_inside_a_transaction(brook_factory):
    """Consume-transform-produce: input offsets go in the output transaction."""
    b = brook_factory(TXN_SETTINGS).start()
    create_topic(b.bootstrap, "in", partitions=2)
    create_topic(b.bootstrap, "out", partitions=2)
    seed = Producer({"bootstrap.servers": b.bootstrap})
    for i in range(200):
        seed.produce("in", value=f"r{i}".encode(), partition=i % 2)
    seed.flush(10)

    group = "copier"
    consumer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    consumer.subscribe(["in"])
    producer = txn_producer(b.bootstrap, "copier-1")
    copied = 0
    aborted_once = False
    deadline = time.time() + 60
    while copied < 200 and time.time() < deadline:
        msgs = consumer.consume(50, 1.0)
        msgs = [m for m in msgs if not m.error()]
        if not msgs:
            continue
        producer.begin_transaction()
        for m in msgs:
            producer.produce("out", value=m.value(), partition=m.partition())
        producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                             consumer.consumer_group_metadata(), 30)
        if not aborted_once:
            # The first transaction is aborted: its offsets must not count.
            producer.abort_transaction(30)
            aborted_once = True
            committed = consumer.committed([TopicPartition("in", 0), TopicPartition("in", 1)], timeout=10)
            assert all(tp.offset < 0 for tp in committed), committed
            # Rewind to the last committed position and copy again.
            for tp in consumer.assignment():
                consumer.seek(TopicPartition("in", tp.partition, 0))
            continue
        producer.commit_transaction(30)
        copied += len(msgs)
    consumer.close()
    assert copied == 200
    out = read_to_end(b.bootstrap, "out", [0, 1], "read_committed")
    assert values(out) == sorted(f"r{i}".encode() for i in range(200))
    check = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group})
    committed = check.committed([TopicPartition("in", 0), TopicPartition("in", 1)], timeout=10)
    check.close()
    assert sorted(tp.offset for tp in committed) == [100, 100], committed
