"""Hot-path metrics on /metrics, scraped with Prometheus' own text parser
(prometheus_client): request counts, errors and time histograms per API,
bytes and messages in and out per topic, replication bytes, log flush time
and the tokio idle ratios, checked against traffic the test makes with
librdkafka (confluent-kafka).

Every wait is bounded; brokers are stopped by PID by the fixtures."""

import socket
import struct
import time
import urllib.request

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from cluster import Cluster
from helpers import consume_all, crc32c, create_topic

RECORDS = 200
VALUE = b"v" * 100
# A v2 record adds at most: its length (a 2-byte varint here), attributes
# (1), timestamp delta (a varint, at most 5 bytes), offset delta (at most 2
# for 200 records), key length (1, null key), value length (2) and header
# count (1): 14 bytes. A batch header is 61 bytes.
RECORD_OVERHEAD = 14
BATCH_OVERHEAD = 61


def scrape(admin_url, timeout=10):
    """{(sample name, frozenset of labels): value} of every sample."""
    with urllib.request.urlopen(f"{admin_url}/metrics", timeout=timeout) as r:
        text = r.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def produce(bootstrap, topic, records=RECORDS, acks="all"):
    # One flush after a long linger: the records travel in a few batches.
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 200, "acks": acks, "compression.type": "none"})
    delivered = []
    for i in range(records):
        p.produce(topic, VALUE, partition=0, on_delivery=lambda err, msg: delivered.append(err))
    assert p.flush(30) == 0, "produce did not finish in 30 s"
    assert len(delivered) == records and all(e is None for e in delivered), delivered[:3]


NOT_LEADER_OR_FOLLOWER = 6


def _varint(n):
    """Zigzag varint, as in a v2 record."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _one_record_batch(value_bytes):
    record = b"\x00" + _varint(0) + _varint(0) + _varint(-1) + _varint(len(value_bytes)) + value_bytes + _varint(0)
    record = _varint(len(record)) + record
    now = int(time.time() * 1000)
    # attributes .. records: what the CRC covers.
    tail = struct.pack(">hiqqqhii", 0, 0, now, now, -1, -1, -1, 1) + record
    after_length = struct.pack(">ibI", -1, 2, crc32c(tail)) + tail
    return struct.pack(">qi", 0, len(after_length)) + after_length


def _produce_to(host, port, topic, timeout=10):
    """A Produce v3 (acks=1) of one record to partition 0, sent to one
    broker whatever it leads; returns the partition's error code."""
    name = topic.encode()
    batch = _one_record_batch(b"to-a-follower")
    body = struct.pack(">hhi", -1, 1, 5000)  # null transactional id, acks, timeout
    body += struct.pack(">ih", 1, len(name)) + name + struct.pack(">iii", 1, 0, len(batch)) + batch
    client = b"metrics-test"
    header = struct.pack(">hhih", 0, 3, 7, len(client)) + client
    frame = header + body
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = s.recv(65536)
            assert chunk, "connection closed before the produce response"
            data += chunk
    pos = 4
    correlation_id, topics = struct.unpack_from(">ii", data, pos)
    assert correlation_id == 7 and topics == 1
    pos += 8
    (name_len,) = struct.unpack_from(">h", data, pos)
    pos += 2 + name_len
    partitions, index, error_code = struct.unpack_from(">iih", data, pos)
    assert partitions == 1 and index == 0
    return error_code


def test_traffic_and_request_metrics_single_node(brook_factory):
    brook = brook_factory({"auto.create.topics.enable": "false", "log.flush.interval.messages": "50"}).start()
    topic = "metrics-traffic"
    create_topic(brook.bootstrap, topic)
    before = scrape(brook.admin_url)

    produce(brook.bootstrap, topic)
    after_produce = scrape(brook.admin_url)
    payload = RECORDS * len(VALUE)
    bytes_in = value(after_produce, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic) - value(
        before, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic)
    messages_in = value(after_produce, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) - value(
        before, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic)
    produces = value(after_produce, "kafka_network_requestmetrics_requests_total", request="Produce") - value(
        before, "kafka_network_requestmetrics_requests_total", request="Produce")
    assert produces >= 1
    # Each produce request carries at most one batch for the one partition.
    bound = payload + RECORDS * RECORD_OVERHEAD + produces * BATCH_OVERHEAD
    assert payload < bytes_in <= bound, (bytes_in, payload, bound)
    assert messages_in == RECORDS
    # The all-topics series move at least as much (the topic is one of them).
    assert value(after_produce, "kafka_server_brokertopicmetrics_bytesin_alltopics_total") - value(
        before, "kafka_server_brokertopicmetrics_bytesin_alltopics_total") >= bytes_in
    assert value(after_produce, "kafka_server_brokertopicmetrics_messagesin_alltopics_total") - value(
        before, "kafka_server_brokertopicmetrics_messagesin_alltopics_total") >= RECORDS
    # Produce latency histogram: one observation per request.
    assert value(after_produce, "kafka_network_requestmetrics_totaltimems_count", request="Produce") - value(
        before, "kafka_network_requestmetrics_totaltimems_count", request="Produce") == produces
    assert value(after_produce, "kafka_network_requestmetrics_requestqueuetimems_count", request="Produce") >= produces
    assert value(after_produce, "kafka_network_requestmetrics_totaltimems_bucket", request="Produce",
                 le="+Inf") == value(after_produce, "kafka_network_requestmetrics_totaltimems_count",
                                     request="Produce")
    # log.flush.interval.messages=50: 200 records flush at least once.
    assert value(after_produce, "kafka_log_logflushstats_logflushrateandtimems_count") >= 1

    got = consume_all(brook.bootstrap, topic, [0], RECORDS, timeout=60)
    assert len(got) == RECORDS
    after_consume = scrape(brook.admin_url)
    bytes_out = value(after_consume, "kafka_server_brokertopicmetrics_bytesout_total", topic=topic) - value(
        after_produce, "kafka_server_brokertopicmetrics_bytesout_total", topic=topic)
    # The consumer read every batch at least once (fetches may overlap).
    assert bytes_out >= bytes_in, (bytes_out, bytes_in)
    assert value(after_consume, "kafka_server_brokertopicmetrics_bytesout_alltopics_total") >= bytes_out
    for api in ("Fetch", "Metadata", "ListOffsets"):
        assert value(after_consume, "kafka_network_requestmetrics_requests_total", request=api) > value(
            after_produce, "kafka_network_requestmetrics_requests_total", request=api), api
    assert value(after_consume, "kafka_network_requestmetrics_totaltimems_count", request="Fetch") > 0
    # As Kafka, a consumer's fetches are also FetchConsumer (no follower here).
    assert value(after_consume, "kafka_network_requestmetrics_requests_total", request="FetchConsumer") == value(
        after_consume, "kafka_network_requestmetrics_requests_total", request="Fetch")
    assert value(after_consume, "kafka_network_requestmetrics_requests_total", request="FetchFollower") == 0

    # An error: Metadata for a topic that does not exist (auto-creation off).
    errors = ("kafka_network_requestmetrics_errors_total", "Metadata", "UNKNOWN_TOPIC_OR_PARTITION")
    admin = AdminClient({"bootstrap.servers": brook.bootstrap})
    md = admin.list_topics(topic="no-such-topic", timeout=10)
    assert md.topics["no-such-topic"].error is not None
    wait_for(lambda: value(scrape(brook.admin_url), errors[0], request=errors[1], error=errors[2]) >= 1, 10,
             "the Metadata error to be counted")

    # A request the broker cannot serve closes the connection and counts
    # too: Metadata v99 is UNSUPPORTED_VERSION.
    with socket.create_connection(("127.0.0.1", brook.port), timeout=10) as s:
        frame = struct.pack(">hhih", 3, 99, 1, 0)
        s.sendall(struct.pack(">i", len(frame)) + frame)
        assert s.recv(100) == b"", "the broker should close the connection"
    wait_for(lambda: value(scrape(brook.admin_url), errors[0], request="Metadata", error="UNSUPPORTED_VERSION") >= 1,
             10, "the unsupported version to be counted")

    # The tokio equivalents of Kafka's idle ratios: 0..1 once a window passed.
    time.sleep(1.1)
    scrape(brook.admin_url)
    samples = scrape(brook.admin_url)
    for name in ("kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent",
                 "kafka_network_socketserver_networkprocessoravgidlepercent"):
        assert 0.0 <= value(samples, name) <= 1.0 and (name, frozenset()) in samples, name
    assert value(samples, "brook_tokio_workers") >= 1
    assert value(samples, "brook_tokio_alive_tasks") >= 1
    assert value(samples, "brook_tokio_worker_busy_seconds_total") > 0
    assert any(k[0] == "brook_build_info" and v == 1 for k, v in samples.items())


def test_replication_bytes_and_not_leader_errors_three_nodes(tmp_path):
    cluster = Cluster(tmp_path, n=3)
    cluster.start()
    try:
        bootstrap = cluster.bootstrap
        topic = "metrics-replicated"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])[topic].result(timeout=30)
        cluster.wait_for(lambda: cluster.leader_of(topic, 0) >= 0, timeout=30, what="a leader")
        leader_id = cluster.leader_of(topic, 0)
        leader = cluster.node(leader_id)
        followers = [n for n in cluster.brokers if n.id != leader_id]
        produce(bootstrap, topic)
        on_leader = scrape(leader.admin_url)
        bytes_in = value(on_leader, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic)
        assert value(on_leader, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == RECORDS
        assert bytes_in > RECORDS * len(VALUE)
        # Followers fetch everything (acks=all waited for them): the leader
        # sent at least bytes_in to each, and each appended exactly bytes_in.
        wait_for(lambda: value(scrape(leader.admin_url), "kafka_server_brokertopicmetrics_replicationbytesout_total")
                 >= 2 * bytes_in, 30, "the leader to send the records to both followers")
        assert value(scrape(leader.admin_url), "kafka_network_requestmetrics_requests_total",
                     request="FetchFollower") > 0
        for f in followers:
            wait_for(lambda: value(scrape(f.admin_url), "kafka_server_brokertopicmetrics_replicationbytesin_total")
                     >= bytes_in, 30, f"node {f.id} to replicate")
            on_follower = scrape(f.admin_url)
            # Followers' appends are replication, not bytes in (as in Kafka).
            assert value(on_follower, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic) == 0
            assert value(on_follower, "kafka_server_brokertopicmetrics_replicationbytesin_total") == bytes_in

        # A produce sent straight to a follower: NOT_LEADER_OR_FOLLOWER, counted there.
        follower = followers[0]
        assert _produce_to(follower.host, follower.port, topic) == NOT_LEADER_OR_FOLLOWER
        wait_for(lambda: value(scrape(follower.admin_url), "kafka_network_requestmetrics_errors_total",
                               request="Produce", error="NOT_LEADER_OR_FOLLOWER") >= 1, 10,
                 "NOT_LEADER_OR_FOLLOWER to be counted on the follower")
    finally:
        cluster.stop()
