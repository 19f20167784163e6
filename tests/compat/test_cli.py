"""The `brook` CLI against a live broker: every subcommand, JSON output,
and errors for bad input (one line, non-zero exit, no backtrace)."""

import json
import subprocess

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import BROOK_TEST_BINARY as BROOK_BIN
from helpers import consume_all, kcat


def run_brook(b, *args, input=None, check=True, timeout=60):
    proc = subprocess.run([BROOK_BIN, "--bootstrap-server", b.bootstrap, *args], input=input, capture_output=True,
                          timeout=timeout, env={"PATH": "/usr/bin:/bin"})
    if check and proc.returncode != 0:
        raise AssertionError(f"brook {args} failed: {proc.stderr.decode()}")
    return proc


def assert_clean_error(proc, *fragments):
    err = proc.stderr.decode()
    assert proc.returncode != 0
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "panicked" not in err and "backtrace" not in err.lower()
    for f in fragments:
        assert f in err, err


def test_topic_commands(brook):
    out = run_brook(brook, "topic", "create", "cli-a", "--partitions", "3", "--config", "retention.ms=3600000").stdout.decode()
    assert "Created topic cli-a" in out
    listed = json.loads(run_brook(brook, "topic", "list", "--output", "json").stdout)
    assert {"name": "cli-a", "partitions": 3, "internal": False} in listed
    desc = json.loads(run_brook(brook, "topic", "describe", "cli-a", "--output", "json").stdout)
    assert len(desc["partitions"]) == 3 and desc["configs"]["retention.ms"] == "3600000"
    run_brook(brook, "topic", "alter-config", "cli-a", "--set", "retention.ms=7200000", "--delete", "segment.bytes")
    desc = json.loads(run_brook(brook, "topic", "describe", "cli-a", "--output", "json").stdout)
    assert desc["configs"]["retention.ms"] == "7200000"
    human = run_brook(brook, "topic", "describe", "cli-a").stdout.decode()
    assert "partition 2" in human and "leader 1" in human
    # Human output lists the settings that differ from Kafka's defaults only.
    assert "retention.ms=7200000" in human and "segment.index.bytes" not in human, human
    run_brook(brook, "topic", "delete", "cli-a")
    assert "cli-a" not in run_brook(brook, "topic", "list").stdout.decode()
    info = json.loads(run_brook(brook, "cluster", "info", "--output", "json").stdout)
    assert info["controller"] == 1 and info["brokers"][0]["id"] == 1


def test_produce_and_consume_commands(brook):
    run_brook(brook, "topic", "create", "cli-p", "--partitions", "2")
    lines = "".join(f"k{i}:value {i}\n" for i in range(100))
    run_brook(brook, "produce", "cli-p", "--key-separator", ":", "--header", "src=cli", "--compression", "zstd", input=lines.encode())
    out = run_brook(brook, "consume", "cli-p", "--from-beginning", "--max-messages", "100", "--format", "%p|%o|%k|%v|%h").stdout.decode()
    rows = [l.split("|") for l in out.splitlines()]
    assert sorted(r[3] for r in rows) == sorted(f"value {i}" for i in range(100))
    assert all(r[4] == "src=cli" for r in rows)
    # Single partition from an offset.
    p0 = [r for r in rows if r[0] == "0"]
    out = run_brook(brook, "consume", "cli-p", "--partition", "0", "--offset", "1", "--max-messages", str(len(p0) - 1),
                "--format", "%o").stdout.decode()
    assert [int(x) for x in out.split()] == list(range(1, len(p0)))
    # A file, a fixed partition, and acks=1.
    run_brook(brook, "produce", "cli-p", "--partition", "1", "--acks", "1", input=b"x\ny\n")
    out = run_brook(brook, "consume", "cli-p", "--partition", "1", "--from-beginning", "--timeout-ms", "1500", "--format", "%v").stdout
    assert out.decode().splitlines()[-2:] == ["x", "y"]


def test_group_commands(brook):
    run_brook(brook, "topic", "create", "cli-g", "--partitions", "2")
    run_brook(brook, "produce", "cli-g", "--key-separator", ":", input="".join(f"k{i}:v{i}\n" for i in range(40)).encode())
    out = run_brook(brook, "consume", "cli-g", "--group", "cg", "--from-beginning", "--max-messages", "25").stdout.decode()
    assert len(out.splitlines()) == 25
    listed = json.loads(run_brook(brook, "group", "list", "--output", "json").stdout)
    assert any(g["group"] == "cg" for g in listed)
    desc = json.loads(run_brook(brook, "group", "describe", "cg", "--output", "json").stdout)
    committed = sum(p["committed_offset"] or 0 for p in desc["partitions"])
    assert committed == 25
    for p in desc["partitions"]:
        assert p["lag"] == p["log_end_offset"] - p["committed_offset"]
    # The next member resumes where the first stopped.
    out = run_brook(brook, "consume", "cli-g", "--group", "cg", "--max-messages", "15").stdout.decode()
    assert len(out.splitlines()) == 15
    run_brook(brook, "group", "reset-offsets", "cg", "--topic", "cli-g", "--to-earliest")
    desc = json.loads(run_brook(brook, "group", "describe", "cg", "--output", "json").stdout)
    assert all(p["committed_offset"] == 0 for p in desc["partitions"])
    run_brook(brook, "group", "reset-offsets", "cg", "--topic", "cli-g", "--to-offset", "3", "--output", "json")
    desc = json.loads(run_brook(brook, "group", "describe", "cg", "--output", "json").stdout)
    assert all(p["committed_offset"] == 3 for p in desc["partitions"])
    human = run_brook(brook, "group", "describe", "cg").stdout.decode()
    assert "LAG" in human and "cli-g" in human
    # Refused while the group has a live member.
    c = Consumer({"bootstrap.servers": brook.bootstrap, "group.id": "cg", "session.timeout.ms": 6000})
    c.subscribe(["cli-g"])
    try:
        for _ in range(40):
            c.poll(0.25)
            if c.assignment():
                break
        proc = run_brook(brook, "group", "reset-offsets", "cg", "--topic", "cli-g", "--to-latest", check=False)
        assert_clean_error(proc, "live member")
    finally:
        c.close()


def test_errors_are_one_clean_line(brook):
    assert_clean_error(run_brook(brook, "topic", "describe", "no-such-topic", check=False), "UnknownTopicOrPartition")
    assert_clean_error(run_brook(brook, "consume", "no-such-topic", "--max-messages", "1", check=False), "no-such-topic")
    assert_clean_error(run_brook(brook, "topic", "create", "bad-cfg", "--config", "retention.ms=soon", check=False), "retention.ms")
    assert_clean_error(run_brook(brook, "topic", "create", "bad/name", check=False), "InvalidTopic")
    assert_clean_error(run_brook(brook, "topic", "create", "x", "--config", "novalue", check=False), "NAME=VALUE")
    assert_clean_error(run_brook(brook, "produce", "t", "--compression", "brotli", input=b"x\n", check=False), "brotli")
    unreachable = subprocess.run([BROOK_BIN, "--bootstrap-server", "127.0.0.1:1", "topic", "list"], capture_output=True, timeout=60)
    assert_clean_error(unreachable, "127.0.0.1:1")


def test_client_interoperates_both_ways(brook):
    run_brook(brook, "topic", "create", "interop", "--partitions", "3")
    lines = "".join(f"key-{i}:payload-{i}\n" for i in range(300))
    run_brook(brook, "produce", "interop", "--key-separator", ":", "--compression", "lz4", input=lines.encode())
    # kcat and confluent-kafka read exactly what brook wrote.
    msgs = consume_all(brook.bootstrap, "interop", [0, 1, 2], 300)
    assert sorted((m.key(), m.value()) for m in msgs) == sorted((f"key-{i}".encode(), f"payload-{i}".encode()) for i in range(300))
    out = kcat("-b", brook.bootstrap, "-C", "-t", "interop", "-o", "beginning", "-c", "300", "-e", "-f", "%k=%s\n").stdout.decode()
    assert sorted(out.splitlines()) == sorted(f"key-{i}=payload-{i}" for i in range(300))
    # brook reads exactly what they wrote.
    kcat("-b", brook.bootstrap, "-P", "-t", "interop2", "-K", ":", "-z", "snappy", input=lines.encode())
    p = Producer({"bootstrap.servers": brook.bootstrap})
    for i in range(50):
        p.produce("interop2", key=f"ck-{i}".encode(), value=f"cv-{i}".encode())
    p.flush(30)
    out = run_brook(brook, "consume", "interop2", "--from-beginning", "--max-messages", "350", "--format", "%k=%v").stdout.decode()
    expected = [f"key-{i}=payload-{i}" for i in range(300)] + [f"ck-{i}=cv-{i}" for i in range(50)]
    assert sorted(out.splitlines()) == sorted(expected)


def test_partitioner_matches_kafka_python(brook):
    """The same keys, written by brook and by kafka-python's default
    partitioner, land on the same partitions."""
    from kafka import KafkaProducer
    run_brook(brook, "topic", "create", "parts", "--partitions", "7")
    run_brook(brook, "topic", "create", "parts-kp", "--partitions", "7")
    keys = [f"user-{i}" for i in range(60)] + ["a", "ünïcödé", "x" * 100, "17"]
    lines = "".join(f"{k}\t{i}\n" for i, k in enumerate(keys))
    run_brook(brook, "produce", "parts", "--key-separator", "\t", input=lines.encode())
    kp = KafkaProducer(bootstrap_servers=brook.bootstrap)
    for i, k in enumerate(keys):
        kp.send("parts-kp", key=k.encode(), value=str(i).encode())
    kp.flush()
    kp.close()

    def placement(topic):
        out = run_brook(brook, "consume", topic, "--from-beginning", "--max-messages", str(len(keys)),
                        "--format", "%k\t%p").stdout.decode()
        return dict(line.split("\t") for line in out.splitlines())

    ours, theirs = placement("parts"), placement("parts-kp")
    assert len(ours) == len(keys) and ours == theirs
    assert len(set(ours.values())) > 3, "keys spread over partitions"


def test_bench_subcommands_report(brook):
    """Tiny runs of the load generators: they finish and report what they measured."""
    p = json.loads(run_brook(brook, "--output", "json", "bench", "produce", "--topic", "bench-t", "--record-size", "100",
                             "--num-records", "20000", "--partitions", "2", "--acks", "1").stdout.decode().splitlines()[-1])
    assert p["records"] == 20000 and p["mb_per_sec"] > 0 and p["latency_ms"]["p99"] >= p["latency_ms"]["p50"]
    c = json.loads(run_brook(brook, "--output", "json", "bench", "consume", "--topic", "bench-t").stdout.decode().splitlines()[-1])
    assert c["records"] == 20000 and c["bytes"] == 20000 * 100
    e = json.loads(run_brook(brook, "--output", "json", "bench", "e2e", "--topic", "bench-e2e", "--rate", "2000",
                             "--duration-secs", "2", "--record-size", "256").stdout.decode().splitlines()[-1])
    assert e["records"] == 4000 and e["latency_ms"]["max"] > 0
    human = run_brook(brook, "bench", "produce", "--topic", "bench-t", "--num-records", "1000").stdout.decode()
    assert "records/s" in human and "latency ms" in human
