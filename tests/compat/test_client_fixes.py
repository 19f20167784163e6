"""Client-visible fixes, each driven by a real third-party client:

a. Metadata and DescribeCluster name a live broker as controller right after
   a kill -9 (admin clients send CreateTopics to it: kafka-python does).
b. message.format.version / log.message.format.version take every version
   string Kafka parses (`0.10.0.0`, `0.10.0-IV1`, `2.8`, `3.0-IV1`, ...) and
   refuse garbage with INVALID_CONFIG.
c. CreateTopics and CreatePartitions keep explicit replica assignments exactly
   (the first replica leads), and refuse bad ones with Kafka's error codes.
"""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from kafka import errors as kp_errors
from kafka.admin import KafkaAdminClient
from kafka.admin import NewTopic as KpNewTopic

from cluster import cluster, cluster_factory, wait_for  # noqa: F401  (fixtures)
from helpers import alter_topic_configs, describe_topic_configs


def error_code(future, timeout=30):
    """The KafkaError code a confluent-kafka admin future fails with."""
    with pytest.raises(KafkaException) as e:
        future.result(timeout=timeout)
    return e.value.args[0].code()


def kp_admin(bootstrap, **extra):
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000, **extra)


# --- a. controller id after kill -9 -------------------------------------------


def test_controller_id_is_a_live_broker_right_after_kill9(cluster):
    c = cluster
    b1 = c.node(1).bootstrap
    wait_for(lambda: len(c.metadata(b1).brokers) == 3, 30, "three live brokers")
    for i in (1, 2, 3):
        # The answering broker names itself (librdkafka may ask any broker it knows).
        md = c.metadata(c.node(i).bootstrap)
        assert md.controller_id in md.brokers, f"Metadata via node {i} names controller {md.controller_id}"

    # Kill the active controller: the node Metadata used to name, which stays
    # unfenced for broker.session.timeout.ms after its death.
    victim = c.cluster_info(b1)["controller"]
    survivors = [i for i in (1, 2, 3) if i != victim]
    # A kafka-python admin whose only connection is to a survivor (a request
    # to one broker), so it asks that survivor which node is the controller.
    kp = kp_admin(c.node(survivors[0]).bootstrap)
    kp.list_groups(broker_ids=[survivors[0]])
    c.node(victim).kill9()
    killed_at = time.time()

    for i in survivors:
        bootstrap = c.node(i).bootstrap
        md = c.metadata(bootstrap)
        assert md.controller_id in survivors, \
            f"Metadata via node {i} names controller {md.controller_id}, node {victim} was just killed"
        via = AdminClient({"bootstrap.servers": bootstrap})
        described = via.describe_cluster().result(timeout=10)
        assert described.controller is not None and described.controller.id in survivors, \
            f"DescribeCluster via node {i} names controller {described.controller}"

    # kafka-python's admin sends CreateTopics to the node Metadata names (it
    # failed with ECONNREFUSED when that was the dead node).
    try:
        kp.create_topics([KpNewTopic("cf-after-kill", num_partitions=2, replication_factor=1)], timeout_ms=20000)
    finally:
        kp.close()
    elapsed = time.time() - killed_at
    print(f"CreateTopics via kafka-python {elapsed:.2f}s after killing node {victim}")
    assert elapsed < 25, f"CreateTopics took {elapsed:.1f}s after the kill"
    wait_for(lambda: "cf-after-kill" in c.metadata(c.node(survivors[0]).bootstrap).topics, 30,
             "the new topic in Metadata")


# --- b. message.format.version ------------------------------------------------

# Forms Kafka 3.x parses (MetadataVersion.fromVersionString: the first three
# segments of a 0.x version, the first two of later ones).
KAFKA_VERSIONS = ["0.10.0.0", "0.10.0-IV1", "0.8.2", "0.11.0", "0.11.0.3", "2.8", "2.8.1", "3.0-IV1", "3.0"]
NOT_VERSIONS = ["banana", "0.10", "0.10.0-IV7", "3.0-IV9", "4.0", "3", ""]


def test_message_format_version_takes_kafka_version_strings(brook_factory):
    # The broker property takes them too (the server refused 0.10.0.0 at startup).
    b = brook_factory({"log.message.format.version": "0.10.0.0"}).start()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    for i, version in enumerate(KAFKA_VERSIONS):
        name = f"mfv-ok-{i}"
        admin.create_topics([NewTopic(name, 1, 1, config={"message.format.version": version})])[name] \
            .result(timeout=30)
        assert describe_topic_configs(b.bootstrap, name)["message.format.version"][0] == version
    for i, version in enumerate(NOT_VERSIONS):
        name = f"mfv-bad-{i}"
        fut = admin.create_topics([NewTopic(name, 1, 1, config={"message.format.version": version})])[name]
        assert error_code(fut) == KafkaError.INVALID_CONFIG, f"message.format.version={version!r}"
    assert not any(t.startswith("mfv-bad") for t in admin.list_topics(timeout=10).topics)

    # IncrementalAlterConfigs goes through the same check.
    alter_topic_configs(b.bootstrap, "mfv-ok-0", {"message.format.version": "0.9.0.1"})
    assert describe_topic_configs(b.bootstrap, "mfv-ok-0")["message.format.version"][0] == "0.9.0.1"
    with pytest.raises(KafkaException) as e:
        alter_topic_configs(b.bootstrap, "mfv-ok-0", {"message.format.version": "0.10.x"})
    assert e.value.args[0].code() == KafkaError.INVALID_CONFIG

    # kafka-python, a second client.
    kp = kp_admin(b.bootstrap)
    try:
        kp.create_topics({"mfv-kp": {"num_partitions": 1, "replication_factor": 1,
                                     "configs": {"message.format.version": "0.10.0.0"}}})
        with pytest.raises(kp_errors.InvalidConfigurationError):
            kp.create_topics({"mfv-kp-bad": {"num_partitions": 1, "replication_factor": 1,
                                             "configs": {"message.format.version": "0.10.banana"}}})
    finally:
        kp.close()


# --- c. explicit replica assignments ------------------------------------------


def described(admin, topic):
    """{partition: ([replica ids], leader id)} from DescribeTopics."""
    desc = admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=30)
    return {p.id: ([r.id for r in p.replicas], p.leader.id if p.leader is not None else -1)
            for p in desc.partitions}


def in_metadata(c, topic, bootstrap):
    """{partition: ([replica ids], leader id)} from Metadata via `bootstrap`."""
    t = c.metadata(bootstrap).topics.get(topic)
    if t is None or t.error is not None:
        return None
    return {p: (list(pm.replicas), pm.leader) for p, pm in t.partitions.items()}


def wait_assignment(c, admin, topic, expected):
    """Waits until every broker's Metadata and DescribeTopics show exactly
    `expected` ({partition: [replicas]}) with the first replica leading."""
    want = {p: (r, r[0]) for p, r in expected.items()}
    for n in c.brokers:
        wait_for(lambda: in_metadata(c, topic, n.bootstrap) == want, 30,
                 f"{topic} as {want} in Metadata via node {n.id} "
                 f"(last seen {in_metadata(c, topic, n.bootstrap)})")
    assert described(admin, topic) == want


def test_replica_assignments_are_kept_exactly(cluster):
    c = cluster
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    wait_for(lambda: len(c.metadata().brokers) == 3, 30, "three live brokers")

    # Neither list is in broker-id order nor in round-robin order.
    topic = "ra-kept"
    admin.create_topics([NewTopic(topic, num_partitions=2, replica_assignment=[[3, 2, 1], [1, 3, 2]])])[topic] \
        .result(timeout=30)
    wait_assignment(c, admin, topic, {0: [3, 2, 1], 1: [1, 3, 2]})

    admin.create_partitions([NewPartitions(topic, 4, replica_assignment=[[2, 1, 3], [3, 1, 2]])])[topic] \
        .result(timeout=30)
    wait_assignment(c, admin, topic, {0: [3, 2, 1], 1: [1, 3, 2], 2: [2, 1, 3], 3: [3, 1, 2]})

    # kafka-python sends partition indexes as given: lists go to their index,
    # not to their position in the request.
    kp = kp_admin(c.bootstrap)
    try:
        kp.create_topics({"ra-kp": {"assignments": {1: [1, 3], 0: [2, 1], 2: [3, 2]}}})
        wait_assignment(c, admin, "ra-kp", {0: [2, 1], 1: [1, 3], 2: [3, 2]})
        kp.create_partitions({"ra-kp": {"count": 4, "assignments": [[3, 1]]}})
        wait_assignment(c, admin, "ra-kp", {0: [2, 1], 1: [1, 3], 2: [3, 2], 3: [3, 1]})
    finally:
        kp.close()


def test_replica_assignment_refusals(cluster):
    c = cluster
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    wait_for(lambda: len(c.metadata().brokers) == 3, 30, "three live brokers")
    invalid = KafkaError.INVALID_REPLICA_ASSIGNMENT

    def create(name, assignment):
        return admin.create_topics([NewTopic(name, num_partitions=len(assignment),
                                             replica_assignment=assignment)])[name]

    assert error_code(create("ra-dup", [[1, 2, 1]])) == invalid, "a broker twice in a list"
    assert error_code(create("ra-unknown", [[1, 2, 9]])) == invalid, "an unknown broker"
    assert error_code(create("ra-ragged", [[1, 2, 3], [1, 2]])) == invalid, "lists of different lengths"

    kp = kp_admin(c.bootstrap)
    try:
        with pytest.raises(kp_errors.InvalidReplicationAssignmentError):
            kp.create_topics({"ra-gap": {"assignments": {0: [1, 2], 2: [2, 3]}}})
        with pytest.raises(kp_errors.InvalidReplicationAssignmentError):
            kp.create_topics({"ra-from-1": {"assignments": {1: [1, 2], 2: [2, 3]}}})
        # A manual assignment in place of counts only, as Kafka: INVALID_REQUEST.
        with pytest.raises(kp_errors.InvalidRequestError):
            kp.create_topics({"ra-counts": {"num_partitions": 1, "assignments": {0: [1, 2]}}})
        with pytest.raises(kp_errors.InvalidRequestError):
            kp.create_topics({"ra-rf": {"replication_factor": 2, "assignments": {0: [1, 2]}}})
    finally:
        kp.close()
    md = c.metadata()
    assert not any(t.startswith("ra-") for t in md.topics), f"refused topics were created: {sorted(md.topics)}"

    topic = "ra-grow"
    create(topic, [[1, 2], [2, 3]]).result(timeout=30)
    wait_assignment(c, admin, topic, {0: [1, 2], 1: [2, 3]})

    def grow(count, assignment):
        return admin.create_partitions([NewPartitions(topic, count, replica_assignment=assignment)])[topic]

    assert error_code(grow(4, [[3, 1]])) == invalid, "one list for two new partitions"
    assert error_code(grow(3, [[3, 1], [1, 2]])) == invalid, "two lists for one new partition"
    assert error_code(grow(3, [[3, 1, 2]])) == invalid, "another replication factor"
    assert error_code(grow(3, [[3, 3]])) == invalid, "a broker twice"
    assert error_code(grow(3, [[3, 9]])) == invalid, "an unknown broker"
    wait_assignment(c, admin, topic, {0: [1, 2], 1: [2, 3]})
