"""The transactional copier under faults, after Kafka's TransactionsTest
(issue 15): three brokers, replication factor 3, min.insync.replicas=2.

Seed records into `input`; one copier per input partition reads them with
read_committed and writes them to the same partition of `output` in
transactions of about 750 records, committing its input offsets inside each
transaction (send_offsets_to_transaction). Meanwhile brokers are killed
with kill -9 (the transaction coordinators' brokers included: with three
brokers every one leads some `__transaction_state` partitions) or restarted
cleanly, one at a time. Afterwards a read_committed consumer of `output`
must see every input record exactly once, in input order per partition, and
nothing from an aborted transaction (every aborted write carries a value
that also appears committed, so a leak shows up as a duplicate).

The same run is made with KafkaJS's transactions (a consumer group and
`producer.transaction()` with `sendOffsets`, tests/compat/node/txn_copier.js),
smaller and with fewer faults.

Scale and seed: BROOK_TXN_RECORDS (default 60000), BROOK_TXN_SEED,
BROOK_TXN_FAULT_INTERVAL (seconds between faults, default 2.5; the first
comes one second after the copiers start), BROOK_TXN_FAULTS (at most, default
12).
"""

import os
import random
import subprocess
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import cluster_factory, wait_for  # noqa: F401  (fixture)
from conftest import ROOT
from helpers import read_values

RECORDS = int(os.environ.get("BROOK_TXN_RECORDS", "60000"))
SEED = int(os.environ.get("BROOK_TXN_SEED", str(random.randrange(1 << 30))))
FAULT_INTERVAL = float(os.environ.get("BROOK_TXN_FAULT_INTERVAL", "2.5"))
MAX_FAULTS = int(os.environ.get("BROOK_TXN_FAULTS", "12"))
PARTITIONS = 3
TXN_SIZE = 750
GROUP = "txn-copier"
JS_GROUP = "js-copier"
NODE_DIR = ROOT / "tests" / "compat" / "node"

SETTINGS = {
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "transaction.state.log.num.partitions": "6",
    "offsets.topic.replication.factor": "3",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
    "broker.session.timeout.ms": "6000",
}


class Copier(threading.Thread):
    """Copies one input partition to the same output partition, one
    transaction per batch of up to TXN_SIZE records."""

    def __init__(self, bootstrap, partition, stop):
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.partition = partition
        self.stop_event = stop
        self.commits = 0
        self.aborts = 0
        self.restarts = 0
        self.error = None

    def new_producer(self):
        while not self.stop_event.is_set():
            p = Producer({"bootstrap.servers": self.bootstrap, "transactional.id": f"copier-{self.partition}",
                          "linger.ms": 5, "transaction.timeout.ms": 30000, "message.timeout.ms": 30000})
            try:
                p.init_transactions(30)
                return p
            except KafkaException:
                self.restarts += 1
                time.sleep(0.5)
        return None

    def rewind(self, consumer):
        tp = TopicPartition("input", self.partition)
        deadline = time.time() + 90
        last = None
        while time.time() < deadline:
            try:
                committed = consumer.committed([tp], timeout=10)[0]
                # (Re)assigning at the committed offset drops what was fetched past it.
                consumer.assign([TopicPartition("input", self.partition, max(committed.offset, 0))])
                return
            except KafkaException as e:
                last = e
                time.sleep(0.5)
        raise RuntimeError(f"cannot read committed offsets: {last!r}")

    def run(self):
        try:
            self.copy()
        except Exception as e:  # reported by the test
            self.error = e

    def copy(self):
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": GROUP, "enable.auto.commit": False,
                             "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
        self.rewind(consumer)
        producer = self.new_producer()
        try:
            while not self.stop_event.is_set():
                msgs = [m for m in consumer.consume(TXN_SIZE, 1.0) if not m.error()]
                if not msgs:
                    continue
                try:
                    producer.begin_transaction()
                    for m in msgs:
                        producer.produce("output", key=m.key(), value=m.value(), partition=self.partition)
                    next_offset = msgs[-1].offset() + 1
                    producer.send_offsets_to_transaction([TopicPartition("input", self.partition, next_offset)],
                                                         consumer.consumer_group_metadata(), 30)
                    producer.commit_transaction(30)
                    self.commits += 1
                except KafkaException as e:
                    err = e.args[0]
                    if err.txn_requires_abort():
                        try:
                            producer.abort_transaction(30)
                            self.aborts += 1
                        except KafkaException:
                            producer = self.new_producer()
                            self.restarts += 1
                    elif not err.retriable() or err.fatal():
                        producer = self.new_producer()
                        self.restarts += 1
                    else:
                        # A retriable commit failure: the outcome is unknown until
                        # init_transactions on a new instance settles it.
                        producer = self.new_producer()
                        self.restarts += 1
                    if producer is None:
                        return
                    self.rewind(consumer)
        finally:
            consumer.close()


def committed_offsets(bootstrap, group):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        got = c.committed([TopicPartition("input", p) for p in range(PARTITIONS)], timeout=10)
        return [max(tp.offset, 0) for tp in got]
    finally:
        c.close()


def seeded_cluster(cluster_factory, records):
    c = cluster_factory(settings=SETTINGS).start()
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    topics = [NewTopic(t, PARTITIONS, 3, config={"min.insync.replicas": "2"}) for t in ("input", "output")]
    for f in admin.create_topics(topics, request_timeout=30).values():
        f.result(30)
    seed = Producer({"bootstrap.servers": c.bootstrap, "enable.idempotence": True, "linger.ms": 20})
    for i in range(records):
        while True:
            try:
                seed.produce("input", value=f"{i:08d}".encode(), partition=i % PARTITIONS)
                break
            except BufferError:
                seed.poll(0.05)
        if i % 10000 == 0:
            seed.poll(0)
    assert seed.flush(60) == 0
    return c


def run_with_faults(c, rng, group, records, max_faults, healthy, timeout=600):
    """Injects faults, one broker at a time, until the copiers' committed
    offsets reach the end of `input` (True) or `timeout` passes (False)."""
    per_partition = [len(range(p, records, PARTITIONS)) for p in range(PARTITIONS)]
    faults = []
    deadline = time.time() + timeout
    next_fault = time.time() + 1
    while time.time() < deadline:
        try:
            if committed_offsets(c.bootstrap, group) == per_partition:
                return True, faults
        except KafkaException:
            pass
        healthy()
        if time.time() >= next_fault and len(faults) < max_faults:
            victim = c.node(rng.choice(c.broker_ids))
            kind = rng.choice(["kill9", "kill9", "restart"])
            faults.append((kind, victim.id))
            if kind == "kill9":
                victim.kill9()
                time.sleep(rng.uniform(0.5, 3))
                victim.start()
            else:
                victim.restart()
            next_fault = time.time() + FAULT_INTERVAL
        time.sleep(0.5)
    return False, faults


def verify_output(c, records):
    """Every input record exactly once, in input order per partition, and
    nothing else (aborted writes repeat committed values: a leak is a duplicate)."""
    for p in range(PARTITIONS):
        expected = [f"{i:08d}".encode() for i in range(p, records, PARTITIONS)]
        got = read_values(c.bootstrap, "output", p)
        seen = set(got)
        duplicates = len(got) - len(seen)
        losses = len(set(expected) - seen)
        assert got == expected, (f"output[{p}]: {len(got)} records for {len(expected)} "
                                 f"(duplicates {duplicates}, losses {losses})")


def test_transactional_copier_survives_broker_kills(cluster_factory):
    rng = random.Random(SEED)
    print(f"BROOK_TXN_SEED={SEED} records={RECORDS}")
    c = seeded_cluster(cluster_factory, RECORDS)
    stop = threading.Event()
    copiers = [Copier(c.bootstrap, p, stop) for p in range(PARTITIONS)]
    for cp in copiers:
        cp.start()

    def healthy():
        for cp in copiers:
            assert cp.error is None, f"copier {cp.partition} failed: {cp.error!r}"

    try:
        done, faults = run_with_faults(c, rng, GROUP, RECORDS, MAX_FAULTS, healthy, timeout=max(600, MAX_FAULTS * 30))
    finally:
        stop.set()
        for cp in copiers:
            cp.join(60)
    print(f"faults: {faults}")
    print("copiers: " + ", ".join(f"p{cp.partition}: {cp.commits} commits, {cp.aborts} aborts, "
                                  f"{cp.restarts} restarts" for cp in copiers))
    assert done, f"copiers did not finish: {committed_offsets(c.bootstrap, GROUP)}\n{c.logs()}"
    verify_output(c, RECORDS)
    print(f"copied {RECORDS} records exactly once under {len(faults)} faults")


def test_kafkajs_transactional_copier_survives_broker_kills(cluster_factory, tmp_path):
    records = max(RECORDS // 4, 3000)
    rng = random.Random(SEED + 1)
    c = seeded_cluster(cluster_factory, records)
    stop = threading.Event()
    runs = []
    log_path = tmp_path / "js-copier.log"

    def drive():
        # A copier that exits (it does on any failure) is replaced by a new one.
        with open(log_path, "ab") as log:
            while not stop.is_set():
                proc = subprocess.Popen(["node", str(NODE_DIR / "txn_copier.js"), c.bootstrap, "600"],
                                        cwd=NODE_DIR, stdout=log, stderr=log)
                runs.append(proc)
                while proc.poll() is None and not stop.is_set():
                    time.sleep(0.2)
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
                time.sleep(0.5)

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    try:
        done, faults = run_with_faults(c, rng, JS_GROUP, records, 4, lambda: None)
    finally:
        stop.set()
        driver.join(30)
        for proc in runs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    print(f"KafkaJS copier: {len(runs)} instances, faults: {faults}")
    assert done, (f"KafkaJS copiers did not finish: {committed_offsets(c.bootstrap, JS_GROUP)}\n"
                  f"{log_path.read_text(errors='replace')[-3000:]}\n{c.logs()}")
    verify_output(c, records)
