"""Transactions through real clients and the `brook txn` CLI: a hanging
transaction (begun by confluent-kafka's transactional producer, never
ended, timeout far away) blocks read_committed consumers until
`brook txn abort --start-offset` writes its ABORT marker; `brook txn list`
and `describe` show it first. And transactional offset commits
(`send_offsets_to_transaction`): visible to the group only once the
transaction commits, never when it aborts."""

import json
import subprocess
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import BROOK_TEST_BINARY as BROOK_BIN
from helpers import consume_all

HANGING_ID = "hanging-tx"


def run_brook(b, *args, check=True, timeout=60):
    proc = subprocess.run([BROOK_BIN, "--bootstrap-server", b.bootstrap, *args], capture_output=True,
                          timeout=timeout, env={"PATH": "/usr/bin:/bin"})
    if check and proc.returncode != 0:
        raise AssertionError(f"brook {args} failed: {proc.stderr.decode()}")
    return proc


def brook_json(b, *args):
    return json.loads(run_brook(b, *args, "--output", "json").stdout)


def transactional_producer(b, transactional_id):
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": transactional_id,
                  # Far away: the coordinator must not abort it on its own during the test.
                  "transaction.timeout.ms": 60000})
    p.init_transactions(30)
    return p


def values(messages):
    return [m.value().decode() for m in messages]


def test_hanging_transaction_is_listed_described_and_aborted(brook):
    run_brook(brook, "topic", "create", "txn-hang", "--partitions", "1")
    hanging = transactional_producer(brook, HANGING_ID)
    hanging.begin_transaction()
    for i in range(3):
        hanging.produce("txn-hang", value=f"in-txn-{i}".encode(), partition=0)
    assert hanging.flush(30) == 0
    # Plain records after it: read_committed consumers cannot pass the open transaction.
    plain = Producer({"bootstrap.servers": brook.bootstrap})
    for i in range(2):
        plain.produce("txn-hang", value=f"after-{i}".encode(), partition=0)
    assert plain.flush(30) == 0
    read_committed = {"isolation.level": "read_committed"}
    assert consume_all(brook.bootstrap, "txn-hang", [0], 1, timeout=5, extra=read_committed) == []

    listed = brook_json(brook, "txn", "list")
    mine = [t for t in listed if t["transactional_id"] == HANGING_ID]
    assert len(mine) == 1 and mine[0]["state"] == "Ongoing", listed
    producer_id = mine[0]["producer_id"]
    assert [t["transactional_id"] for t in brook_json(brook, "txn", "list", "--state", "Ongoing")] == [HANGING_ID]
    assert brook_json(brook, "txn", "list", "--producer-id", str(producer_id + 1)) == []
    human = run_brook(brook, "txn", "list").stdout.decode()
    assert "TransactionalId" in human and HANGING_ID in human

    described = brook_json(brook, "txn", "describe", HANGING_ID)
    assert described["state"] == "Ongoing" and described["producer_id"] == producer_id
    assert described["timeout_ms"] == 60000 and described["start_time_ms"] is not None
    assert {"topic": "txn-hang", "partition": 0} in described["partitions"]

    # The transaction's first record is the partition's first offset.
    aborted = brook_json(brook, "txn", "abort", "--topic", "txn-hang", "--partition", "0", "--start-offset", "0")
    assert aborted["aborted"] is True and aborted["producer_id"] == producer_id

    got = consume_all(brook.bootstrap, "txn-hang", [0], 2, timeout=30, extra=read_committed)
    assert values(got) == ["after-0", "after-1"]
    # Nothing of the aborted transaction, even after waiting for more.
    everything = consume_all(brook.bootstrap, "txn-hang", [0], 3, timeout=5, extra=read_committed)
    assert values(everything) == ["after-0", "after-1"]

    # No open transaction starts there any more.
    again = run_brook(brook, "txn", "abort", "--topic", "txn-hang", "--partition", "0", "--start-offset", "0",
                      check=False)
    assert again.returncode != 0 and "could not find any open transaction" in again.stderr.decode()


def committed_offset(b, group, topic, partition, timeout=30):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    try:
        # librdkafka asks with require_stable for read_committed, and retries
        # while the broker answers UNSTABLE_OFFSET_COMMIT.
        return c.committed([TopicPartition(topic, partition)], timeout=timeout)[0].offset
    finally:
        c.close()


def test_transactional_offset_commits(brook):
    run_brook(brook, "topic", "create", "txn-out", "--partitions", "1")
    run_brook(brook, "topic", "create", "txn-in", "--partitions", "1")
    group = "txn-group"
    source = Consumer({"bootstrap.servers": brook.bootstrap, "group.id": group, "enable.auto.commit": False})
    metadata = source.consumer_group_metadata()
    producer = transactional_producer(brook, "offsets-tx")

    producer.begin_transaction()
    producer.produce("txn-out", value=b"x", partition=0)
    producer.send_offsets_to_transaction([TopicPartition("txn-in", 0, 42)], metadata, 30)
    producer.commit_transaction(30)
    assert committed_offset(brook, group, "txn-in", 0) == 42

    # An aborted transaction leaves the committed offset alone.
    producer.begin_transaction()
    producer.produce("txn-out", value=b"y", partition=0)
    producer.send_offsets_to_transaction([TopicPartition("txn-in", 0, 77)], metadata, 30)
    producer.abort_transaction(30)
    assert committed_offset(brook, group, "txn-in", 0) == 42

    # A later committed one moves it; the group's description shows it.
    producer.begin_transaction()
    producer.send_offsets_to_transaction([TopicPartition("txn-in", 0, 99)], metadata, 30)
    producer.commit_transaction(30)
    assert committed_offset(brook, group, "txn-in", 0) == 99
    described = brook_json(brook, "group", "describe", group)
    assert [r["committed_offset"] for r in described["partitions"] if r["topic"] == "txn-in"] == [99]

    # They survive a restart: the coordinator replays the transactional batches and markers.
    source.close()
    brook.restart()
    deadline = time.time() + 30
    while True:
        try:
            assert committed_offset(brook, group, "txn-in", 0) == 99
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.5)
