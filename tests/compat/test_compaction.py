"""Log compaction and broker-side compression with real clients against real
`brook server` processes. What this file proves:

a. a compacted topic ends up with exactly the latest value of every key, at
   the offset it was written at (offsets strictly increasing, with gaps);
   deleted keys disappear once delete.retention.ms has passed; the partition
   shrinks on disk; confluent-kafka, kcat and KafkaJS read the same log;
b. kill -9 at random moments while the cleaner works never loses a key's
   latest value nor moves a record, and the cleaner still finishes after;
c. keyless records to a compacted topic are refused with INVALID_RECORD and
   nothing of their batch is stored; keyed records still go in;
d. __consumer_offsets is compacted: many commits keep it small, and the
   committed offsets survive a clean restart and a kill -9;
e. compression.type=lz4 on a topic stores batches produced uncompressed as
   lz4 batches (checked in the segment files), read back identically;
f. in a three-node cluster every replica compacts, and after kill -9 of the
   leader the new leader serves exactly the latest value per key; a topic
   with compression.type=lz4 holds lz4 batches on every replica;
g. clients cannot produce to __consumer_offsets.

How a test gets the last writes cleaned (Kafka's rules): the active segment
is never cleaned and rolls only on an append once segment.ms has passed, so
after its writes a test waits past segment.ms and produces one more record
under a fresh key `roll-N`, which counts as a live key. Tombstones outlive the
cleaning pass that first sees them by delete.retention.ms; a later pass drops
them, so `wait_compacted` keeps rolling (a padded record every few seconds)
until the log is exactly compacted or its deadline passes.

The kill test's seed and rounds: BROOK_COMPACTION_SEED, BROOK_COMPACTION_ROUNDS.
"""

import json
import os
import random
import subprocess
import time
from collections import Counter

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import cluster_factory, wait_for  # noqa: F401  (fixture)
from conftest import ROOT
from helpers import (alter_topic_configs, consume_all, create_topic, high_watermark, kcat, log_bytes, read_partition,
                     segment_batches)

NODE_DIR = ROOT / "tests" / "compat" / "node"

# The cleaner looks for work every 200 ms instead of Kafka's 15 s.
CLEANER = {"log.cleaner.backoff.ms": "200"}
# A single node restarted right after kill -9 waits out its previous
# incarnation's session before it registers: keep that short.
QUICK_RESTART = {"broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "500"}


def compact_config(segment_bytes, segment_ms=1500, **extra):
    config = {"cleanup.policy": "compact", "segment.bytes": str(segment_bytes), "segment.ms": str(segment_ms),
              "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "1000"}
    config.update({k.replace("_", "."): str(v) for k, v in extra.items()})
    return config


# --- what was acknowledged, and what compaction may leave of it -------------


class Acked:
    """Every record a producer had acknowledged on partition 0 of a topic:
    offset -> (key, value), and per key its latest (offset, value), value
    None for a tombstone. Keys and values are str."""

    def __init__(self):
        self.at = {}
        self.latest = {}
        self.count = 0
        self.errors = []
        self.rolls = 0

    def on_delivery(self, err, msg):
        if err is not None:
            self.errors.append(err)
            return
        key = msg.key().decode() if msg.key() is not None else None
        value = msg.value().decode() if msg.value() is not None else None
        offset = msg.offset()
        self.count += 1
        self.at[offset] = (key, value)
        if key not in self.latest or offset > self.latest[key][0]:
            self.latest[key] = (offset, value)

    def live(self):
        """{key: value} of every key whose latest record is not a tombstone."""
        return {k: v for k, (_, v) in self.latest.items() if v is not None}


def produce_keyed(bootstrap, topic, records, acked, batch_size=16384, timeout=90):
    """Produces (key, value-or-None) str records to partition 0 with an
    idempotent producer (acks=all, order kept); fails on any delivery error.
    Batches stay under `batch_size` bytes so they fit small segments."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 10,
                  "batch.size": batch_size, "message.timeout.ms": 30000})
    before = acked.count
    for key, value in records:
        while True:
            try:
                p.produce(topic, key=key.encode(), value=None if value is None else value.encode(), partition=0,
                          on_delivery=acked.on_delivery)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    remaining = p.flush(timeout)
    assert remaining == 0, f"{remaining} records to {topic} not delivered within {timeout}s"
    assert not acked.errors, f"delivery errors producing to {topic}: {acked.errors[:5]}"
    assert acked.count - before == len(records), f"{acked.count - before} of {len(records)} records acknowledged"
    assert len(acked.at) == acked.count, "an offset was acknowledged twice"


def roll(bootstrap, topic, acked, pad=4096):
    """One more record under a fresh key `roll-N` (a live key from now on).
    Produced past segment.ms, it rolls the active segment so the writes before
    it become cleanable; padded, it is a dirty segment big enough (against
    min.cleanable.dirty.ratio) to make the cleaner run again."""
    acked.rolls += 1
    produce_keyed(bootstrap, topic, [(f"roll-{acked.rolls}", f"roll-{acked.rolls}:" + "r" * pad)], acked, timeout=30)


def log_problem(records, acked, exact):
    """None if `records` ([(offset, key, value)] read from the start of the
    partition) is what compaction of the acknowledged writes may leave, else
    a description of the first problem found. Always: offsets strictly
    increase, every record is the one acknowledged at its offset, every live
    key's last record is its latest write, and a deleted key's last record, if
    any, is its latest tombstone. With `exact`: one record per key and no
    tombstone left (fully compacted, delete horizon passed)."""
    offsets = [o for o, _, _ in records]
    bad = next((i for i in range(1, len(offsets)) if offsets[i] <= offsets[i - 1]), None)
    if bad is not None:
        return f"offsets not strictly increasing: {offsets[bad - 1]} then {offsets[bad]}"
    for o, k, v in records:
        if acked.at.get(o) != (k, v):
            return f"offset {o} holds {(k, v)!r:.120} but {acked.at.get(o)!r:.120} was acknowledged there"
    last = {}
    for o, k, v in records:
        last[k] = (o, v)
    for k, (o, v) in acked.latest.items():
        got = last.get(k)
        if v is None:
            if got is not None and got != (o, None):
                return f"deleted key {k} (tombstone at {o}) reads back {got!r:.120}"
            if exact and got is not None:
                return f"the tombstone of {k} is still at offset {o}"
        elif got != (o, v):
            return f"key {k}: last record read {got!r:.120}, latest write {(o, v)!r:.120}"
    if exact:
        dup = [k for k, n in Counter(k for _, k, _ in records).items() if n > 1]
        if dup:
            return f"{len(dup)} keys still have several records, e.g. {dup[:3]}"
    return None


def wait_compacted(bootstrap, topic, acked, timeout=60, roll_after=3.0):
    """Polls until reading the partition from the start gives exactly one
    record per live key with its latest value at its original offset and no
    deleted key (log_problem exact), producing a `roll` every `roll_after` s
    meanwhile. Returns the records; fails with the last problem at the deadline."""
    deadline = time.time() + timeout
    last_roll = time.time()
    problem = "nothing read yet"
    while True:
        try:
            records = read_partition(bootstrap, topic, timeout=max(5, min(30, deadline - time.time())))
            problem = log_problem(records, acked, exact=True)
            if problem is None:
                return records
        except Exception as e:  # a leader moving: retry until the deadline
            problem = f"read failed: {e!r}"
        if time.time() >= deadline:
            raise AssertionError(f"{topic} not compacted within {timeout}s: {problem}")
        if time.time() - last_roll >= roll_after:
            roll(bootstrap, topic, acked)
            last_roll = time.time()
        time.sleep(0.5)


def raw_bytes(records):
    """A lower bound of the bytes `records` take in a log: 7 bytes of record
    framing (length, attributes, timestamp and offset deltas, key and value
    lengths, header count) plus key and value, batch headers not counted."""
    return sum(7 + len(k) + len(v or "") for k, v in records)


# --- a. compaction, read by three clients --------------------------------


def test_compaction_keeps_latest_value_per_key_for_every_client(brook_factory):
    """100,000 updates over 1,000 keys and 100 deletes end as one record per
    live key with its latest value at its original offset; the partition's
    log shrinks below a quarter; kcat and KafkaJS read the same log."""
    b = brook_factory({**CLEANER, "group.initial.rebalance.delay.ms": "0"}).start()
    topic = "cp-main"
    # Nothing is cleanable until min.compaction.lag.ms is lowered, so the
    # uncleaned size can be measured.
    create_topic(b.bootstrap, topic, config=compact_config(256 * 1024, min_compaction_lag_ms=3_600_000))
    rng = random.Random(20240601)
    records = []
    for seq in range(100_000):
        k = seq if seq < 1000 else rng.randrange(1000)
        records.append((f"key-{k}", f"{k}:{seq}"))
    deleted = rng.sample(range(1000), 100)
    records += [(f"key-{k}", None) for k in deleted]
    acked = Acked()
    started = time.time()
    produce_keyed(b.bootstrap, topic, records, acked, batch_size=65536)
    print(f"produced {len(records)} records in {time.time() - started:.1f}s")

    part_dir = b.data_dir / f"{topic}-0"
    before = log_bytes(part_dir)
    assert before >= raw_bytes(records), \
        f"{before} bytes on disk, less than the {raw_bytes(records)} produced: cleaned within min.compaction.lag.ms"
    alter_topic_configs(b.bootstrap, topic, {"min.compaction.lag.ms": "0"})
    time.sleep(1.7)  # past segment.ms since the last append
    roll(b.bootstrap, topic, acked)

    started = time.time()
    got = wait_compacted(b.bootstrap, topic, acked, timeout=60)
    live = acked.live()
    assert len(got) == len(live) == 900 + acked.rolls
    assert not set(f"key-{k}" for k in deleted) & {k for _, k, _ in got}
    assert {k: v for _, k, v in got} == live
    wait_for(lambda: log_bytes(part_dir) < before // 4, 20, f"{topic}-0 to shrink below a quarter of {before} bytes")
    print(f"compacted in {time.time() - started:.1f}s: {before} -> {log_bytes(part_dir)} bytes, {len(got)} records, "
          f"{acked.rolls} roll records")

    # kcat reads the same records at the same offsets.
    out = kcat("-b", b.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-J").stdout.decode()
    kc = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [(m["offset"], m["key"], m["payload"]) for m in kc] == got, f"kcat read {len(kc)} records, expected {len(got)}"

    # So does KafkaJS.
    assert (NODE_DIR / "node_modules" / "kafkajs").is_dir(), "KafkaJS missing: run scripts/install-test-deps"
    proc = subprocess.run(["node", str(NODE_DIR / "compacted_read.js"), b.bootstrap, topic], cwd=NODE_DIR,
                          capture_output=True, timeout=90)
    assert proc.returncode == 0, f"KafkaJS script failed ({proc.returncode}): {proc.stdout.decode()[-2000:]}" \
                                 f"{proc.stderr.decode()[-3000:]}"
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]
    assert lines and lines[-1].get("done") is True, f"KafkaJS summary: {lines[-1:]}"
    js = [(r["offset"], r["key"], r["value"]) for r in lines[:-1]]
    assert js == got, f"KafkaJS read {len(js)} records, expected {len(got)}"


# --- b. kill -9 while cleaning ----------------------------------------------


def test_kill9_during_cleaning_keeps_latest_values(brook_factory):
    """Rounds of: a burst of updates and deletes, a roll, a random pause while
    the cleaner works, kill -9, restart. After every restart each record read
    is the one acknowledged at its offset and each key's last record is its
    latest write; new writes never reuse an offset; at the end the cleaner
    still compacts the log exactly."""
    seed = int(os.environ.get("BROOK_COMPACTION_SEED", random.randrange(1 << 30)))
    rounds = int(os.environ.get("BROOK_COMPACTION_ROUNDS", "5"))
    rng = random.Random(seed)
    print(f"compaction kill seed {seed}, {rounds} rounds")
    # A throttled cleaner (about 1 MB/s read + write) makes each pass last long
    # enough that the kills land inside passes, not between them.
    b = brook_factory({**CLEANER, **QUICK_RESTART, "log.cleaner.io.max.bytes.per.second": "1000000"}).start()
    topic = "cp-kill"
    create_topic(b.bootstrap, topic, config=compact_config(64 * 1024, segment_ms=1000))
    acked = Acked()
    started = time.time()
    seq = done = mid_pass = 0
    for r in range(rounds):
        if time.time() - started > 90:
            print(f"time budget spent after {done} rounds")
            break
        burst = []
        for _ in range(10_000):
            k = rng.randrange(400)
            burst.append((f"key-{k}", f"{k}:{seq}:{r}:" + "v" * rng.randrange(60)))
            seq += 1
        burst += [(f"key-{k}", None) for k in rng.sample(range(400), 20)]
        produce_keyed(b.bootstrap, topic, burst, acked)
        time.sleep(1.1)  # past segment.ms
        roll(b.bootstrap, topic, acked)
        pause = rng.uniform(0, 1.5)
        time.sleep(pause)
        b.kill9()
        # A pass cut short leaves its output under .cleaning/ or a .swap file.
        part = b.data_dir / f"{topic}-0"
        interrupted = (part / ".cleaning").exists() or any(part.glob("*.swap"))
        mid_pass += interrupted
        b.start()

        def consistent():
            records = read_partition(b.bootstrap, topic, timeout=20)
            problem = log_problem(records, acked, exact=False)
            if problem:
                raise AssertionError(problem)
            return records or True

        records = wait_for(consistent, 30, f"round {r} (seed {seed}, kill -9 {pause:.2f}s after the roll): "
                                           "the log to read back every key's latest write")
        done += 1
        print(f"round {r}: killed {pause:.2f}s after the roll{' inside a cleaning pass' if interrupted else ''}; "
              f"{len(records)} records read back, {len(acked.at)} acknowledged so far, {time.time() - started:.1f}s")
    print(f"{mid_pass} of {done} kills landed inside a cleaning pass")
    assert done >= 2, f"only {done} rounds ran"
    got = wait_compacted(b.bootstrap, topic, acked, timeout=45)
    assert {k: v for _, k, v in got} == acked.live()


# --- c. keyless records ------------------------------------------------------


def produce_outcome(bootstrap, topic, records, linger_ms=300):
    """Produces (key-or-None, value) records to partition 0 in one go (one
    batch with a long linger); returns [(error code or None, offset)]."""
    results = []
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": False, "acks": "all",
                  "linger.ms": linger_ms, "message.timeout.ms": 15000})
    for key, value in records:
        p.produce(topic, key=None if key is None else key.encode(), value=value.encode(), partition=0,
                  on_delivery=lambda err, msg: results.append((err.code() if err else None, msg.offset())))
    assert p.flush(30) == 0, "delivery reports did not arrive in time"
    assert len(results) == len(records)
    return results


def test_keyless_records_refused_on_compacted_topics(brook):
    """A compacted topic (compact, and compact,delete) refuses a batch with a
    keyless record with INVALID_RECORD, keyed records in that batch
    included, and stores nothing; keyed batches are stored. A delete-policy
    topic takes keyless records."""
    for policy in ("compact", "compact,delete"):
        topic = "cp-keyless-" + policy.replace(",", "-")
        create_topic(brook.bootstrap, topic, config={"cleanup.policy": policy})
        got = produce_outcome(brook.bootstrap, topic, [(None, f"no-key-{i}") for i in range(5)])
        assert [code for code, _ in got] == [KafkaError.INVALID_RECORD] * 5, f"{policy}: {got}"
        assert high_watermark(brook.bootstrap, topic) == 0, f"{policy}: keyless records were stored"

        # One keyless record fails its whole batch. The broker may name it
        # alone (KIP-467 record errors): librdkafka then fails the others with
        # _INVALID_DIFFERENT_RECORD.
        mixed = [("a", "1"), ("b", "2"), (None, "no-key"), ("c", "3")]
        got = produce_outcome(brook.bootstrap, topic, mixed)
        codes = [code for code, _ in got]
        assert codes[2] == KafkaError.INVALID_RECORD and \
            set(codes) <= {KafkaError.INVALID_RECORD, KafkaError._INVALID_DIFFERENT_RECORD}, \
            f"{policy}: a batch with one keyless record must be refused whole: {got}"
        assert high_watermark(brook.bootstrap, topic) == 0, f"{policy}: part of a refused batch was stored"

        keyed = [(f"k{i}", f"v{i}") for i in range(5)]
        got = produce_outcome(brook.bootstrap, topic, keyed)
        assert got == [(None, i) for i in range(5)], f"{policy}: keyed records: {got}"
        assert high_watermark(brook.bootstrap, topic) == 5
        msgs = consume_all(brook.bootstrap, topic, [0], 5, timeout=30)
        assert [(m.offset(), m.key().decode(), m.value().decode()) for m in msgs] == \
               [(i, k, v) for i, (k, v) in enumerate(keyed)]

    create_topic(brook.bootstrap, "cp-keyless-delete")
    got = produce_outcome(brook.bootstrap, "cp-keyless-delete", [(None, f"no-key-{i}") for i in range(5)])
    assert got == [(None, i) for i in range(5)], f"delete policy: {got}"


# --- d. __consumer_offsets under many commits -------------------------------


def committed_offsets(bootstrap, group, topic, partitions, timeout=30):
    """{partition: committed offset} of `group`, retried while the
    coordinator is loading or moving."""
    deadline = time.time() + timeout
    while True:
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            res = c.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
            return {tp.partition: tp.offset for tp in res}
        except KafkaException:
            if time.time() >= deadline:
                raise
            time.sleep(0.5)
        finally:
            c.close()


def commit_many(bootstrap, group, topic, partitions, start, count, seconds):
    """Synchronous commits of offsets start, start+1, ... round-robin over
    `partitions` from an assigned (not subscribed) consumer, until `count`
    commits or `seconds` have passed. A generator: yields (commits made,
    {partition: last committed offset}) every 250 commits and at the end."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p) for p in partitions])
    last, n = {}, 0
    deadline = time.time() + seconds
    try:
        while n < count and time.time() < deadline:
            offset = start + n
            p = partitions[n % len(partitions)]
            c.commit(offsets=[TopicPartition(topic, p, offset)], asynchronous=False)
            last[p] = offset
            n += 1
            if n % 250 == 0:
                yield n, dict(last)
    finally:
        c.close()
    yield n, dict(last)


def test_consumer_offsets_compacted_under_many_commits(brook_factory):
    """Up to 20,000 synchronous commits (or as many as fit in 40 s) keep
    __consumer_offsets-0 (16 KiB segments) far below its uncompacted size
    while they run and after; the last committed offsets are read back, then
    after a clean restart, more commits, and a kill -9 restart."""
    b = brook_factory({**CLEANER, **QUICK_RESTART, "offsets.topic.num.partitions": "1",
                       "offsets.topic.segment.bytes": "16384", "group.initial.rebalance.delay.ms": "0"}).start()
    topic, group = "cp-commits", "cp-many-commits"
    partitions = [0, 1, 2, 3]
    create_topic(b.bootstrap, topic, partitions=4)
    offsets_dir = b.data_dir / "__consumer_offsets-0"

    # Each commit is one batch (61 bytes of header) of one record: framing,
    # key (version, group, topic, partition), value (version, offset,
    # metadata, commit timestamp). A lower bound of its size uncompacted:
    per_commit = 61 + 7 + (2 + 2 + len(group) + 2 + len(topic) + 4) + (2 + 8 + 2 + 8)
    peak, n, last = 0, 0, {}
    started = time.time()
    for n, last in commit_many(b.bootstrap, group, topic, partitions, 1, 20_000, 40):
        peak = max(peak, log_bytes(offsets_dir))
    elapsed = time.time() - started
    uncompacted = n * per_commit
    print(f"{n} commits in {elapsed:.1f}s; uncompacted >= {uncompacted} bytes, peak on disk {peak} bytes")
    assert n >= 5000, f"only {n} commits in 40 s: too few to show compaction"
    assert offsets_dir.is_dir(), f"no {offsets_dir}: {sorted(p.name for p in b.data_dir.iterdir())}"
    assert peak < min(1 << 20, uncompacted // 2), \
        f"__consumer_offsets-0 reached {peak} bytes during {n} commits (uncompacted >= {uncompacted})"
    bound = min(1 << 20, uncompacted // 4)
    wait_for(lambda: log_bytes(offsets_dir) < bound, 20, f"__consumer_offsets-0 to settle below {bound} bytes")
    assert committed_offsets(b.bootstrap, group, topic, partitions) == last

    b.restart()
    got = committed_offsets(b.bootstrap, group, topic, partitions)
    assert got == last, f"committed offsets after a clean restart: {got}, expected {last}"

    start = max(last.values()) + 1
    for n2, more in commit_many(b.bootstrap, group, topic, partitions, start, 400, 20):
        pass
    assert n2 == 400, f"only {n2} of 400 commits after the restart"
    last.update(more)

    b.kill9()
    b.start()
    got = committed_offsets(b.bootstrap, group, topic, partitions)
    assert got == last, f"committed offsets after kill -9: {got}, expected {last}"
    wait_for(lambda: log_bytes(offsets_dir) < bound, 20, f"__consumer_offsets-0 to stay below {bound} bytes "
                                                        "after the restarts")


# --- e. broker-side compression -------------------------------------------


def test_topic_compression_lz4_recompresses_uncompressed_batches(brook):
    """compression.type=lz4: records produced uncompressed by confluent-kafka
    and by kcat are stored in lz4 batches (codec 3, valid CRC, smaller than
    the values), holding exactly the produced records at offsets 0..999; both
    clients read them back identically."""
    topic = "cp-lz4"
    create_topic(brook.bootstrap, topic, config={"compression.type": "lz4"})
    first = [(f"k{i}", f"confluent-{i}-" + "abcdefgh" * 8) for i in range(600)]
    errors = []
    p = Producer({"bootstrap.servers": brook.bootstrap, "compression.type": "none", "linger.ms": 20})
    for k, v in first:
        p.produce(topic, key=k.encode(), value=v.encode(), partition=0,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
    assert p.flush(30) == 0 and not errors, errors[:3]
    second = [(f"kc{i}", f"kcat-{i}-" + "ijklmnop" * 8) for i in range(400)]
    kcat("-b", brook.bootstrap, "-P", "-t", topic, "-p", "0", "-K", ":", "-z", "none", "-X", "linger.ms=20",
         input="".join(f"{k}:{v}\n" for k, v in second).encode())
    expected = first + second

    batches = segment_batches(brook.data_dir / f"{topic}-0")
    assert batches, "no batch on disk"
    assert Counter(bt["codec"] for bt in batches) == {3: len(batches)}, \
        f"codecs on disk (3 = lz4): {Counter(bt['codec'] for bt in batches)}"
    assert all(bt["magic"] == 2 and bt["crc_ok"] for bt in batches), "a batch has a bad magic or CRC"
    assert sum(bt["count"] for bt in batches) == len(expected)
    on_disk = [r for bt in batches for r in bt["records"]]
    assert [(o, k.decode(), v.decode()) for o, k, v in on_disk] == \
           [(i, k, v) for i, (k, v) in enumerate(expected)], "records on disk differ from those produced"
    stored = log_bytes(brook.data_dir / f"{topic}-0")
    values = sum(len(v) for _, v in expected)
    assert stored < values, f"{stored} bytes on disk for {values} bytes of compressible values: not compressed"

    msgs = consume_all(brook.bootstrap, topic, [0], len(expected), timeout=30, extra={"check.crcs": True})
    assert [(m.offset(), m.key().decode(), m.value().decode()) for m in msgs] == \
           [(i, k, v) for i, (k, v) in enumerate(expected)]
    out = kcat("-b", brook.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-J").stdout.decode()
    kc = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [(m["offset"], m["key"], m["payload"]) for m in kc] == [(i, k, v) for i, (k, v) in enumerate(expected)]


# --- f. three nodes ----------------------------------------------------------


def create_replicated(bootstrap, topic, config):
    """Creates a one-partition RF 3 topic, retried while the cluster settles."""
    def create():
        admin = AdminClient({"bootstrap.servers": bootstrap})
        f = admin.create_topics([NewTopic(topic, 1, 3, config=config)], request_timeout=15)[topic]
        try:
            f.result(timeout=20)
        except KafkaException as e:
            if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        return True

    wait_for(create, 30, f"{topic} to be created")


def test_cluster_replicas_compact_and_new_leader_serves_latest(cluster_factory):
    """RF 3, compacted: updates over 200 keys; the leader's log compacts and
    every replica's shrinks; after kill -9 of the leader the new leader serves
    every key's latest write at its offset, then exactly one record per key."""
    c = cluster_factory(settings={**CLEANER, "replica.lag.time.max.ms": "4000"}).start()
    b1 = c.node(1).bootstrap
    topic = "cp-cluster"

    create_replicated(b1, topic, compact_config(64 * 1024))

    def in_sync():
        pm = c.metadata(b1).topics[topic].partitions[0]
        return pm.leader if pm.leader > 0 and len(pm.isrs) == 3 else None

    leader = wait_for(in_sync, 30, f"{topic}-0 to have a leader and 3 in-sync replicas")
    rng = random.Random(7)
    records = []
    for seq in range(20_000):
        k = seq if seq < 200 else rng.randrange(200)
        records.append((f"key-{k}", f"{k}:{seq}:" + "x" * 100))
    acked = Acked()
    produce_keyed(b1, topic, records, acked)
    raw = raw_bytes(records)
    time.sleep(1.7)  # past segment.ms
    roll(b1, topic, acked)
    wait_compacted(b1, topic, acked, timeout=50)
    dirs = {i: c.node(i).data_dir / f"{topic}-0" for i in (1, 2, 3)}
    sizes = {}

    def shrunk():
        sizes.update({i: log_bytes(d) for i, d in dirs.items()})
        return all(s < raw * 0.3 for s in sizes.values())

    try:
        wait_for(shrunk, 30, f"every replica of {topic}-0 to shrink below 30% of {raw} bytes")
    finally:
        print(f"replica sizes (node: bytes) {sizes}, {raw} bytes produced")

    leader = c.leader_of(topic, 0, b1)  # the one that served the compacted log
    assert leader > 0
    c.node(leader).kill9()
    survivor = next(i for i in (1, 2, 3) if i != leader)
    sb = c.node(survivor).bootstrap

    def new_leader():
        now = c.leader_of(topic, 0, sb)
        return now if now > 0 and now != leader else None

    moved_to = wait_for(new_leader, 30, f"a new leader of {topic}-0 after kill -9 of node {leader}")

    def served():
        problem = log_problem(read_partition(sb, topic, timeout=20), acked, exact=False)
        if problem:
            raise AssertionError(problem)
        return True

    wait_for(served, 30, f"the new leader (node {moved_to}) to serve every key's latest write")
    got = wait_compacted(sb, topic, acked, timeout=30)
    assert {k: v for _, k, v in got} == acked.live()
    assert len(got) == 200 + acked.rolls


def test_clients_cannot_produce_to_consumer_offsets(brook):
    """__consumer_offsets is internal, as in Kafka: a client's produce gets
    INVALID_TOPIC_EXCEPTION and the coordinator's state is untouched."""
    group = "internal-guard"
    c = Consumer({"bootstrap.servers": brook.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        create_topic(brook.bootstrap, "guarded", 1)
        c.commit(offsets=[TopicPartition("guarded", 0, 7)], asynchronous=False)
    finally:
        c.close()
    errors = []
    p = Producer({"bootstrap.servers": brook.bootstrap, "message.timeout.ms": 10000})
    p.produce("__consumer_offsets", key=b"k", value=b"v", partition=0, on_delivery=lambda e, m: errors.append(e))
    assert p.flush(20) == 0
    assert len(errors) == 1 and errors[0] is not None, errors
    assert errors[0].code() == KafkaError.TOPIC_EXCEPTION, errors
    assert committed_offsets(brook.bootstrap, group, "guarded", [0]) == {0: 7}


def test_cluster_recompresses_on_the_leader_and_replicates_lz4(cluster_factory):
    """RF 3, compression.type=lz4: records produced uncompressed are stored as
    lz4 batches on every replica (checked in the segment files, records equal
    to what was produced); after kill -9 of the leader, the new leader serves
    them unchanged."""
    c = cluster_factory(settings={"replica.lag.time.max.ms": "4000"}).start()
    b1 = c.node(1).bootstrap
    topic = "lz4-cluster"

    create_replicated(b1, topic, {"compression.type": "lz4"})
    wait_for(lambda: len(c.metadata(b1).topics[topic].partitions[0].isrs) == 3, 30, f"{topic}-0 in sync on 3 nodes")
    records = [(f"k{i}", f"value-{i}-" + "abc" * 30) for i in range(2000)]
    acked = Acked()
    p = Producer({"bootstrap.servers": b1, "compression.type": "none", "acks": "all", "linger.ms": 5})
    for k, v in records:
        p.produce(topic, key=k.encode(), value=v.encode(), partition=0, on_delivery=acked.on_delivery)
    assert p.flush(30) == 0 and not acked.errors, acked.errors[:3]
    expected = [(i, k.encode(), v.encode()) for i, (k, v) in enumerate(records)]

    def replicated():
        for i in (1, 2, 3):
            batches = segment_batches(c.node(i).data_dir / f"{topic}-0")
            got = [r for b in batches for r in b["records"]]
            if got != expected:
                return None
            assert all(b["codec"] == 3 and b["crc_ok"] for b in batches), f"node {i}: {batches[:2]}"
        return True

    wait_for(replicated, 30, "every replica to hold the records as lz4 batches")
    leader = c.leader_of(topic, 0, b1)
    c.node(leader).kill9()
    survivor = next(i for i in (1, 2, 3) if i != leader)
    sb = c.node(survivor).bootstrap
    wait_for(lambda: c.leader_of(topic, 0, sb) not in (-1, leader), 30, "a new leader")
    got = wait_for(lambda: read_partition(sb, topic, timeout=20), 30, "the new leader to serve the records")
    assert got == [(i, k, v) for i, (k, v) in enumerate(records)]
