"""confluent-kafka (librdkafka) against Brook: produce/consume with keys,
headers, nulls and a large record; compression; seeks; ListOffsets by
timestamp; out-of-range fetches; DeleteRecords; admin operations."""

import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions,
                                   NewTopic, OffsetSpec)

from helpers import consume_all, create_topic


def produce(bootstrap, topic, records, **conf):
    """records: list of dicts for Producer.produce. Returns delivery reports."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    reports = []

    def on_delivery(err, msg):
        reports.append((err, msg))

    for r in records:
        while True:
            try:
                p.produce(topic, on_delivery=on_delivery, **r)
                break
            except BufferError:
                p.poll(0.1)
    assert p.flush(60) == 0
    assert all(err is None for err, _ in reports), [e for e, _ in reports if e]
    return reports


def test_keys_headers_nulls_large_record_in_order(brook):
    create_topic(brook.bootstrap, "ck-basic", partitions=3)
    records = [{"key": f"user-{i % 11}".encode(), "value": f"event-{i}".encode(), "headers": [("seq", str(i).encode()), ("kind", b"test")]}
               for i in range(3000)]
    records += [{"key": None, "value": b"no-key", "partition": 0}, {"key": b"no-value", "value": None, "partition": 1},
                {"key": b"large", "value": bytes(range(256)) * 3500, "partition": 2}]
    reports = produce(brook.bootstrap, "ck-basic", records, **{"enable.idempotence": True})
    msgs = consume_all(brook.bootstrap, "ck-basic", [0, 1, 2], len(records), extra={"fetch.max.bytes": 2_000_000})
    assert len(msgs) == len(records)
    by_partition = {}
    for m in msgs:
        by_partition.setdefault(m.partition(), []).append(m)
    for p, ms in by_partition.items():
        assert [m.offset() for m in ms] == list(range(len(ms))), f"partition {p} dense and ordered"
    # Same key → same partition, and per-partition order equals produce order.
    sent_order = {}
    for err, rep in reports:
        sent_order.setdefault(rep.partition(), []).append((rep.key(), rep.value()))
    for p, ms in by_partition.items():
        assert [(m.key(), m.value()) for m in ms] == sent_order[p]
    key_partitions = {}
    for m in msgs:
        if m.key() and m.key().startswith(b"user-"):
            key_partitions.setdefault(m.key(), set()).add(m.partition())
            seq = dict(m.headers())["seq"]
            assert m.value() == b"event-" + seq
    assert all(len(ps) == 1 for ps in key_partitions.values())
    null_key = next(m for m in msgs if m.value() == b"no-key")
    assert null_key.key() is None
    null_value = next(m for m in msgs if m.key() == b"no-value")
    assert null_value.value() is None
    large = next(m for m in msgs if m.key() == b"large")
    assert large.value() == bytes(range(256)) * 3500


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_round_trip(brook, codec):
    topic = f"ck-{codec}"
    create_topic(brook.bootstrap, topic)
    values = [f"{codec}-{i}-".encode() + b"y" * (i % 300) for i in range(2000)]
    produce(brook.bootstrap, topic, [{"key": str(i).encode(), "value": v} for i, v in enumerate(values)],
            **{"compression.type": codec, "linger.ms": 20})
    msgs = consume_all(brook.bootstrap, topic, [0], len(values))
    assert [m.value() for m in msgs] == values
    assert [m.key() for m in msgs] == [str(i).encode() for i in range(len(values))]


def test_seek_and_reread(brook):
    create_topic(brook.bootstrap, "ck-seek")
    produce(brook.bootstrap, "ck-seek", [{"value": f"v{i}".encode()} for i in range(1000)])
    for start in (0, 1, 499, 998):
        msgs = consume_all(brook.bootstrap, "ck-seek", [0], 1000 - start, start={0: start})
        assert [m.offset() for m in msgs] == list(range(start, 1000))
        assert msgs[0].value() == f"v{start}".encode()


def test_offsets_for_times(brook):
    create_topic(brook.bootstrap, "ck-time")
    base = int(time.time() * 1000) - 100_000
    produce(brook.bootstrap, "ck-time", [{"value": f"t{i}".encode(), "timestamp": base + i * 1000} for i in range(100)])
    c = Consumer({"bootstrap.servers": brook.bootstrap, "group.id": "unused"})
    try:
        for target, expected in [(base, 0), (base + 1, 1), (base + 42_000, 42), (base + 42_500, 43), (base + 99_000, 99)]:
            [tp] = c.offsets_for_times([TopicPartition("ck-time", 0, target)], timeout=10)
            assert tp.offset == expected, (target, tp.offset)
        [tp] = c.offsets_for_times([TopicPartition("ck-time", 0, base + 10_000_000)], timeout=10)
        assert tp.offset == -1, "no record at or after the timestamp: end (-1)"
    finally:
        c.close()
    admin = AdminClient({"bootstrap.servers": brook.bootstrap})
    res = admin.list_offsets({TopicPartition("ck-time", 0): OffsetSpec.max_timestamp()})
    info = res[TopicPartition("ck-time", 0)].result()
    assert info.offset == 99 and info.timestamp == base + 99_000


def test_out_of_range_fetch_is_reported(brook):
    create_topic(brook.bootstrap, "ck-range")
    produce(brook.bootstrap, "ck-range", [{"value": b"x"} for _ in range(10)])
    c = Consumer({"bootstrap.servers": brook.bootstrap, "group.id": "unused", "auto.offset.reset": "error"})
    c.assign([TopicPartition("ck-range", 0, 500)])
    err = None
    deadline = time.time() + 20
    while err is None and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error():
            err = m.error()
    c.close()
    assert err is not None, "fetching past the end must fail with offset out of range"
    assert err.code() == KafkaError._AUTO_OFFSET_RESET
    assert "out of range" in err.str().lower()


def test_delete_records_moves_log_start(brook):
    create_topic(brook.bootstrap, "ck-del")
    produce(brook.bootstrap, "ck-del", [{"value": f"d{i}".encode()} for i in range(100)])
    admin = AdminClient({"bootstrap.servers": brook.bootstrap})
    fut = admin.delete_records([TopicPartition("ck-del", 0, 60)])
    result = fut[TopicPartition("ck-del", 0)].result(timeout=30)
    assert result.low_watermark == 60
    earliest = admin.list_offsets({TopicPartition("ck-del", 0): OffsetSpec.earliest()})[TopicPartition("ck-del", 0)].result()
    assert earliest.offset == 60
    msgs = consume_all(brook.bootstrap, "ck-del", [0], 40)
    assert msgs[0].offset() == 60 and msgs[0].value() == b"d60"
    # Beyond the high watermark is refused.
    with pytest.raises(KafkaException):
        admin.delete_records([TopicPartition("ck-del", 0, 1000)])[TopicPartition("ck-del", 0)].result(timeout=30)


def test_admin_topics_configs_and_partitions(brook):
    admin = AdminClient({"bootstrap.servers": brook.bootstrap})
    fs = admin.create_topics([NewTopic("ck-admin", num_partitions=2, replication_factor=1,
                                       config={"retention.ms": "3600000", "segment.bytes": "1048576"})])
    fs["ck-admin"].result(timeout=30)
    # Already exists.
    with pytest.raises(KafkaException) as exc:
        admin.create_topics([NewTopic("ck-admin", 1, 1)])["ck-admin"].result(timeout=30)
    assert exc.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    # Invalid name, invalid config, impossible replication factor.
    for bad, code in [(NewTopic("bad/name", 1, 1), KafkaError.TOPIC_EXCEPTION),
                      (NewTopic("ck-badcfg", 1, 1, config={"retention.ms": "soon"}), KafkaError.INVALID_CONFIG),
                      (NewTopic("ck-badcfg", 1, 1, config={"no.such.config": "1"}), KafkaError.INVALID_CONFIG),
                      (NewTopic("ck-rf", 1, 3), KafkaError.INVALID_REPLICATION_FACTOR)]:
        with pytest.raises(KafkaException) as exc:
            admin.create_topics([bad])[bad.topic].result(timeout=30)
        assert exc.value.args[0].code() == code, bad.topic
    # validate_only creates nothing.
    admin.create_topics([NewTopic("ck-dry", 1, 1)], validate_only=True)["ck-dry"].result(timeout=30)
    assert "ck-dry" not in admin.list_topics(timeout=10).topics

    res = ConfigResource(ConfigResource.Type.TOPIC, "ck-admin")
    configs = admin.describe_configs([res])[res].result(timeout=30)
    assert configs["retention.ms"].value == "3600000"
    assert configs["segment.bytes"].value == "1048576"
    assert configs["max.message.bytes"].value == "1048588"
    alter = ConfigResource(ConfigResource.Type.TOPIC, "ck-admin", incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("segment.bytes", None, incremental_operation=AlterConfigOpType.DELETE)])
    admin.incremental_alter_configs([alter])[alter].result(timeout=30)
    configs = admin.describe_configs([res])[res].result(timeout=30)
    assert configs["retention.ms"].value == "7200000"
    assert configs["segment.bytes"].value == "1073741824", "deleted override falls back to the default"
    bad = ConfigResource(ConfigResource.Type.TOPIC, "ck-admin", incremental_configs=[
        ConfigEntry("retention.ms", "-5", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException):
        admin.incremental_alter_configs([bad])[bad].result(timeout=30)

    broker_res = ConfigResource(ConfigResource.Type.BROKER, "1")
    broker_cfg = admin.describe_configs([broker_res])[broker_res].result(timeout=30)
    assert broker_cfg["num.partitions"].value == "1"

    admin.create_partitions([NewPartitions("ck-admin", 5)])["ck-admin"].result(timeout=30)
    assert len(admin.list_topics("ck-admin", timeout=10).topics["ck-admin"].partitions) == 5
    with pytest.raises(KafkaException):
        admin.create_partitions([NewPartitions("ck-admin", 3)])["ck-admin"].result(timeout=30)

    cluster = admin.describe_cluster().result(timeout=30)
    assert [n.id for n in cluster.nodes] == [1]
    assert cluster.controller.id == 1

    admin.delete_topics(["ck-admin"])["ck-admin"].result(timeout=30)
    assert "ck-admin" not in admin.list_topics(timeout=10).topics
    with pytest.raises(KafkaException):
        admin.delete_topics(["ck-admin"])["ck-admin"].result(timeout=30)


def test_configs_persist_across_restart(brook):
    create_topic(brook.bootstrap, "ck-persist", config={"retention.bytes": "123456789"})
    admin = AdminClient({"bootstrap.servers": brook.bootstrap})
    broker_res = ConfigResource(ConfigResource.Type.BROKER, "1", incremental_configs=[
        ConfigEntry("log.retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([broker_res])[broker_res].result(timeout=30)
    brook.restart()
    admin = AdminClient({"bootstrap.servers": brook.bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, "ck-persist")
    configs = admin.describe_configs([res])[res].result(timeout=30)
    assert configs["retention.bytes"].value == "123456789"
    assert configs["retention.ms"].value == "86400000", "dynamic broker default applies to the topic"
