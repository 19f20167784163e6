"""kafka-python against Brook: admin, keyed produce with headers, nulls and
a large record, compression, assignment consume, seek and offsets_for_times."""

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError


def consume(bootstrap, topic, partitions, expected, seek=None):
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000,
                      max_partition_fetch_bytes=2_000_000, fetch_max_bytes=4_000_000)
    tps = [TopicPartition(topic, p) for p in partitions]
    c.assign(tps)
    if seek:
        for p, off in seek.items():
            c.seek(TopicPartition(topic, p), off)
    else:
        c.seek_to_beginning()
    out = []
    deadline = time.time() + 60
    while len(out) < expected and time.time() < deadline:
        for batch in c.poll(timeout_ms=500).values():
            out.extend(batch)
    c.close()
    return out


def test_admin_produce_consume_round_trip(brook):
    admin = KafkaAdminClient(bootstrap_servers=brook.bootstrap)
    admin.create_topics([NewTopic("kp-basic", num_partitions=2, replication_factor=1)])
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic("kp-basic", num_partitions=2, replication_factor=1)])
    p = KafkaProducer(bootstrap_servers=brook.bootstrap, max_request_size=2_000_000)
    for i in range(1000):
        p.send("kp-basic", key=f"k{i % 13}".encode(), value=f"v{i}".encode(), headers=[("i", str(i).encode())])
    p.send("kp-basic", key=None, value=b"null-key", partition=0)
    p.send("kp-basic", key=b"null-value", value=None, partition=1)
    big = b"z" * 900_000
    p.send("kp-basic", key=b"big", value=big, partition=0)
    p.flush()
    p.close()
    msgs = consume(brook.bootstrap, "kp-basic", [0, 1], 1003)
    assert len(msgs) == 1003
    for part in (0, 1):
        offs = [m.offset for m in msgs if m.partition == part]
        assert offs == list(range(len(offs)))
    normal = [m for m in msgs if m.key and m.key.startswith(b"k")]
    assert sorted(int(m.value[1:]) for m in normal) == list(range(1000))
    for m in normal:
        assert dict(m.headers)["i"] == m.value[1:]
    assert next(m for m in msgs if m.value == b"null-key").key is None
    assert next(m for m in msgs if m.key == b"null-value").value is None
    assert next(m for m in msgs if m.key == b"big").value == big


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression(brook, codec):
    pytest.importorskip({"gzip": "gzip", "snappy": "snappy", "lz4": "lz4", "zstd": "zstandard"}[codec])
    p = KafkaProducer(bootstrap_servers=brook.bootstrap, compression_type=codec, linger_ms=20)
    values = [f"{codec}-{i}".encode() * 5 for i in range(300)]
    for v in values:
        p.send("kp-" + codec, value=v)
    p.flush()
    p.close()
    assert [m.value for m in consume(brook.bootstrap, "kp-" + codec, [0], 300)] == values


def test_seek_and_offsets_for_times(brook):
    p = KafkaProducer(bootstrap_servers=brook.bootstrap)
    base = int(time.time() * 1000) - 50_000
    for i in range(50):
        p.send("kp-time", value=f"t{i}".encode(), timestamp_ms=base + i * 1000)
    p.flush()
    p.close()
    msgs = consume(brook.bootstrap, "kp-time", [0], 10, seek={0: 40})
    assert [m.offset for m in msgs] == list(range(40, 50))
    c = KafkaConsumer(bootstrap_servers=brook.bootstrap)
    tp = TopicPartition("kp-time", 0)
    found = c.offsets_for_times({tp: base + 25_500})
    assert found[tp].offset == 26
    assert c.beginning_offsets([tp])[tp] == 0
    assert c.end_offsets([tp])[tp] == 50
    c.close()
