"""kcat (librdkafka) against Brook: auto-created topics, keys, headers,
null keys and values, a ~900 KB record, and every compression codec."""

import json

import pytest

from helpers import kcat


def consume_json(bootstrap, topic, count):
    out = kcat("-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-c", str(count), "-e", "-J").stdout
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def test_keyed_records_headers_nulls_and_large_record(brook):
    lines = [f"key{i % 5}:value-{i}" for i in range(200)]
    kcat("-b", brook.bootstrap, "-P", "-t", "kc-basic", "-K", ":", "-H", "source=kcat", "-H", "n=1",
         input=("\n".join(lines) + "\n").encode())
    # -Z turns empty keys/values into NULL.
    kcat("-b", brook.bootstrap, "-P", "-t", "kc-basic", "-K", ":", "-Z", input=b":null-key\nnull-value:\n")
    big = "B" * 900_000
    kcat("-b", brook.bootstrap, "-P", "-t", "kc-basic", "-K", ":", input=f"big:{big}\n".encode())

    msgs = consume_json(brook.bootstrap, "kc-basic", 203)
    assert len(msgs) == 203
    assert [m["offset"] for m in msgs] == list(range(203)), "one partition: dense offsets in order"
    for i, m in enumerate(msgs[:200]):
        assert m["key"] == f"key{i % 5}"
        assert m["payload"] == f"value-{i}"
        assert m["headers"] == ["source", "kcat", "n", "1"]
    assert msgs[200]["key"] is None and msgs[200]["payload"] == "null-key"
    assert msgs[201]["key"] == "null-value" and msgs[201]["payload"] is None
    assert msgs[202]["key"] == "big" and msgs[202]["payload"] == big


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_round_trip(brook, codec):
    topic = f"kc-{codec}"
    lines = [f"k{i}:{codec}-payload-{i}-" + "x" * (i % 50) for i in range(500)]
    kcat("-b", brook.bootstrap, "-P", "-t", topic, "-K", ":", "-z", codec, "-X", "linger.ms=50",
         input=("\n".join(lines) + "\n").encode())
    msgs = consume_json(brook.bootstrap, topic, 500)
    assert [f"{m['key']}:{m['payload']}" for m in msgs] == lines


def test_seek_to_offset(brook):
    kcat("-b", brook.bootstrap, "-P", "-t", "kc-seek", input=("\n".join(f"m{i}" for i in range(50)) + "\n").encode())
    out = kcat("-b", brook.bootstrap, "-C", "-t", "kc-seek", "-p", "0", "-o", "37", "-c", "5", "-e", "-J").stdout
    msgs = [json.loads(l) for l in out.decode().splitlines() if l.strip()]
    assert [(m["offset"], m["payload"]) for m in msgs] == [(i, f"m{i}") for i in range(37, 42)]


def test_metadata_listing(brook):
    kcat("-b", brook.bootstrap, "-P", "-t", "kc-meta", input=b"x\n")
    meta = json.loads(kcat("-b", brook.bootstrap, "-L", "-J").stdout)
    assert meta["brokers"][0]["id"] == 1
    topic = next(t for t in meta["topics"] if t["topic"] == "kc-meta")
    assert topic["partitions"][0]["leader"] == 1
