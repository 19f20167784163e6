"""Retention deletes whole old segments by size and by time, moving the
earliest offset up; consuming deletes nothing."""

import time

from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from helpers import consume_all, create_topic
from test_durability import segment_files


def offsets(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    tp = TopicPartition(topic, 0)
    earliest = admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result().offset
    latest = admin.list_offsets({tp: OffsetSpec.latest()})[tp].result().offset
    return earliest, latest


def produce_batches(bootstrap, topic, count, timestamp=None):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(count):
        kwargs = {"timestamp": timestamp} if timestamp else {}
        p.produce(topic, value=f"r{i:05d}".encode() * 20, **kwargs)
        if i % 10 == 0:
            p.flush(10)
    assert p.flush(30) == 0


def wait_for(predicate, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_retention_by_size(brook_factory):
    brook = brook_factory({"log.retention.check.interval.ms": "200"}).start()
    create_topic(brook.bootstrap, "ret-size", config={"segment.bytes": "4096", "retention.bytes": "16384"})
    produce_batches(brook.bootstrap, "ret-size", 400)
    assert wait_for(lambda: offsets(brook.bootstrap, "ret-size")[0] > 0), "log start must move up"
    earliest, latest = offsets(brook.bootstrap, "ret-size")
    assert latest == 400
    # The last produce may land after the latest retention pass: wait for the next one.
    size = lambda: sum(f.stat().st_size for f in segment_files(brook.data_dir, "ret-size"))
    assert wait_for(lambda: size() <= 16384 + 4096), f"retention.bytes not applied: {size()} bytes"
    earliest, latest = offsets(brook.bootstrap, "ret-size")
    files = segment_files(brook.data_dir, "ret-size")
    first_base = int(files[0].name.split(".")[0])
    assert earliest == first_base, "earliest offset is the first remaining segment's base"
    msgs = consume_all(brook.bootstrap, "ret-size", [0], latest - earliest)
    assert msgs[0].offset() == earliest


def test_retention_by_time(brook_factory):
    brook = brook_factory({"log.retention.check.interval.ms": "200"}).start()
    create_topic(brook.bootstrap, "ret-time", config={"segment.bytes": "4096", "retention.ms": "60000"})
    old = int(time.time() * 1000) - 3_600_000
    produce_batches(brook.bootstrap, "ret-time", 200, timestamp=old)
    assert wait_for(lambda: offsets(brook.bootstrap, "ret-time")[0] == 200), "every old segment deleted"
    assert offsets(brook.bootstrap, "ret-time") == (200, 200)
    produce_batches(brook.bootstrap, "ret-time", 10)  # fresh records are kept
    time.sleep(1)
    assert offsets(brook.bootstrap, "ret-time") == (200, 210)
    msgs = consume_all(brook.bootstrap, "ret-time", [0], 10)
    assert [m.offset() for m in msgs] == list(range(200, 210))
