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


def read_values(bootstrap, topic, partition, isolation="read_committed", timeout=120, conf=None):
    """Every value of one partition from offset 0 to its end at `isolation`
    (the last stable offset for read_committed). `conf`: extra client
    settings (TLS, SASL)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "verify", "enable.auto.commit": False,
                  "enable.partition.eof": True, "isolation.level": isolation, **(conf or {})})
    c.assign([TopicPartition(topic, partition, 0)])
    out = []
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    return out
                continue
            out.append(m.value())
    finally:
        c.close()
    raise AssertionError(f"{topic}[{partition}] not read to its end in {timeout}s ({len(out)} so far)")


def kcat(*args, input=None, timeout=60):
    return subprocess.run(["kcat", *args], input=input, capture_output=True, timeout=timeout, check=True)


# --- compaction, compression and topic-config helpers ----------------------

import struct as _struct
from pathlib import Path as _Path

# librdkafka consumer errors that only mean "not there yet" (a restarted or
# failed-over leader, metadata still propagating): read_partition retries them.
_TRANSIENT = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError.UNKNOWN_TOPIC_OR_PART,
              KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_LEADER_FOR_PARTITION}


def read_partition(bootstrap, topic, partition=0, timeout=60):
    """Reads one partition from its beginning to its end (librdkafka's
    partition EOF event, i.e. the high watermark) by assignment, with CRC
    checks. Returns [(offset, key, value)] with str keys and values (None
    for a null key or value). Raises if the end is not reached in time."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-read-partition", "enable.auto.commit": False,
                  "enable.partition.eof": True, "check.crcs": True, "fetch.wait.max.ms": 100})
    c.assign([TopicPartition(topic, partition, -2)])  # OFFSET_BEGINNING
    out = []
    deadline = time.time() + timeout
    try:
        while True:
            if time.time() >= deadline:
                raise RuntimeError(f"{topic}-{partition}: no end of partition within {timeout}s ({len(out)} records read)")
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                code = m.error().code()
                if code == KafkaError._PARTITION_EOF:
                    return out
                if code in _TRANSIENT or m.error().retriable():
                    continue
                raise RuntimeError(f"consume error on {topic}-{partition}: {m.error()}")
            key, value = m.key(), m.value()
            out.append((m.offset(), key.decode() if key is not None else None,
                        value.decode() if value is not None else None))
    finally:
        c.close()


def high_watermark(bootstrap, topic, partition=0, timeout=10):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-watermarks", "enable.auto.commit": False})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)[1]
    finally:
        c.close()


def dir_size(path):
    """Bytes of every regular file under `path` (0 if it does not exist)."""
    path = _Path(path)
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def log_bytes(path):
    """Bytes of a partition directory's files other than offset/time/txn
    indexes: segment files plus any cleaner or temporary file. This is what
    compaction must shrink; indexes are left out because a broker may
    preallocate them (Kafka does, for the active segment)."""
    path = _Path(path)
    if not path.exists():
        return 0
    skip = (".index", ".timeindex", ".txnindex")
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file() and not any(s in f.name for s in skip))


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _zigzag_varint(buf, pos):
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
    return (result >> 1) ^ -(result & 1), pos


def decode_records(data, count):
    """Decodes `count` v2 records from uncompressed record bytes:
    [(offset_delta, key bytes or None, value bytes or None)]."""
    out, pos = [], 0
    for _ in range(count):
        length, pos = _zigzag_varint(data, pos)
        end = pos + length
        pos += 1  # attributes
        _, pos = _zigzag_varint(data, pos)  # timestamp delta
        offset_delta, pos = _zigzag_varint(data, pos)
        klen, pos = _zigzag_varint(data, pos)
        key = None if klen < 0 else bytes(data[pos:pos + klen])
        pos += max(klen, 0)
        vlen, pos = _zigzag_varint(data, pos)
        value = None if vlen < 0 else bytes(data[pos:pos + vlen])
        pos = end  # headers are not needed
        out.append((offset_delta, key, value))
    return out


def read_batches(segment, decode=True):
    """Walks a segment file (`NNNNNNNNNNNNNNNNNNNN.log`) batch by batch
    (RecordBatch v2: baseOffset i64, batchLength i32, partitionLeaderEpoch
    i32, magic i8, crc u32, attributes i16, lastOffsetDelta i32, ...,
    recordCount i32 at byte 57). Returns one dict per batch: base_offset,
    last_offset_delta, magic, codec (attributes & 7), count, crc_ok, and
    with `decode` (codecs none, gzip, lz4) records: [(offset, key, value)]
    as bytes. A torn batch raises AssertionError; a zero tail ends the walk."""
    data = _Path(segment).read_bytes()
    out, pos = [], 0
    while pos + 12 <= len(data):
        base, length = _struct.unpack_from(">qi", data, pos)
        if base == 0 and length == 0:
            break  # preallocated zero tail
        end = pos + 12 + length
        assert length >= 49 and end <= len(data), f"{segment}: torn batch at byte {pos} (length {length})"
        magic, crc, attributes, last_delta = _struct.unpack_from(">bIhi", data, pos + 16)
        (count,) = _struct.unpack_from(">i", data, pos + 57)
        batch = {"base_offset": base, "last_offset_delta": last_delta, "magic": magic, "codec": attributes & 7,
                 "count": count, "crc_ok": crc32c(data[pos + 21:end]) == crc, "position": pos}
        if decode:
            payload = data[pos + 61:end]
            codec = attributes & 7
            if codec == 1:
                import gzip
                payload = gzip.decompress(payload)
            elif codec == 3:
                import lz4.frame
                payload = lz4.frame.decompress(payload)
            elif codec != 0:
                payload = None
            batch["records"] = None if payload is None else [
                (base + delta, key, value) for delta, key, value in decode_records(payload, count)]
        out.append(batch)
        pos = end
    return out


def segment_batches(partition_dir, decode=True):
    """read_batches over every segment of a partition directory, in offset order."""
    return [b for seg in sorted(_Path(partition_dir).glob("*.log")) for b in read_batches(seg, decode)]


def alter_topic_configs(bootstrap, topic, configs, op=None, timeout=30):
    """IncrementalAlterConfigs on one topic: every {name: value} with one
    operation (an AlterConfigOpType, default SET). Raises KafkaException
    when the broker refuses it."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
    op = op or AlterConfigOpType.SET
    res = ConfigResource("TOPIC", topic, incremental_configs=[
        ConfigEntry(k, v, incremental_operation=op) for k, v in configs.items()])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.incremental_alter_configs([res], request_timeout=timeout)[res].result(timeout=timeout)


def describe_topic_configs(bootstrap, topic, timeout=30):
    """DescribeConfigs of one topic: {name: (value, ConfigSource)}."""
    from confluent_kafka.admin import ConfigResource, ConfigSource
    res = ConfigResource("TOPIC", topic)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    entries = admin.describe_configs([res], request_timeout=timeout)[res].result(timeout=timeout)
    return {name: (e.value, e.source if isinstance(e.source, ConfigSource) else ConfigSource(e.source))
            for name, e in entries.items()}
