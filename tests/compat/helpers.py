"""Helpers shared by the compat tests."""

import subprocess
import time

from confluent_kafka import Consumer, TopicPartition, KafkaError
from confluent_kafka.admin import AdminClient, NewTopic


def create_topic(bootstrap, name, partitions=1, config=None):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})])
    futures[name].result(timeout=30)


def consume_all(bootstrap, topic, partitions, expected, timeout=60, start=None, extra=None):
    """Reads `expected` messages from the given partitions by assignment
    (no consumer group), from `start` offsets (default: beginning)."""
    conf = {"bootstrap.servers": bootstrap, "group.id": "unused-assign-only", "enable.auto.commit": False,
            "enable.partition.eof": False}
    conf.update(extra or {})
    c = Consumer(conf)
    c.assign([TopicPartition(topic, p, (start or {}).get(p, -2)) for p in partitions])
    out = []
    deadline = time.time() + timeout
    try:
        while len(out) < expected and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise RuntimeError(f"consume error: {m.error()}")
            out.append(m)
    finally:
        c.close()
    return out


def kcat(*args, input=None, timeout=60):
    return subprocess.run(["kcat", *args], input=input, capture_output=True, timeout=timeout, check=True)
