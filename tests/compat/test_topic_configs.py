"""Kafka's topic configs through real admin clients (confluent-kafka's
AdminClient, and kafka-python's KafkaAdminClient for creation errors, legacy
AlterConfigs and DescribeConfigs): every Kafka 4 topic config name and the
Kafka-3.x-only ones are accepted at creation and by IncrementalAlterConfigs;
unknown names and bad values are refused with INVALID_CONFIG and a message
naming the config, changing nothing; DescribeConfigs lists every topic config
with Kafka's defaults and sources (DEFAULT_CONFIG, STATIC_BROKER_CONFIG from
the broker's properties, DYNAMIC_TOPIC_CONFIG for overrides); APPEND and
SUBTRACT work on the list config cleanup.policy only."""

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigSource, NewTopic
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import ConfigResourceType, KafkaAdminClient

from helpers import alter_topic_configs, create_topic, describe_topic_configs

# Kafka's defaults of topic configs, as DescribeConfigs reports them for a
# topic without overrides on a broker without the matching properties.
KAFKA_DEFAULTS = {
    "cleanup.policy": "delete",
    "compression.type": "producer",
    "delete.retention.ms": "86400000",
    "file.delete.delay.ms": "60000",
    "flush.messages": "9223372036854775807",
    "flush.ms": "9223372036854775807",
    "index.interval.bytes": "4096",
    "local.retention.bytes": "-2",
    "local.retention.ms": "-2",
    "max.compaction.lag.ms": "9223372036854775807",
    "max.message.bytes": "1048588",
    "message.timestamp.type": "CreateTime",
    "min.cleanable.dirty.ratio": "0.5",
    "min.compaction.lag.ms": "0",
    "min.insync.replicas": "1",
    "preallocate": "false",
    "remote.storage.enable": "false",
    "retention.bytes": "-1",
    "retention.ms": "604800000",
    "segment.bytes": "1073741824",
    "segment.index.bytes": "10485760",
    "segment.jitter.ms": "0",
    "segment.ms": "604800000",
    "unclean.leader.election.enable": "false",
}

# A valid, mostly non-default value for every Kafka 4 topic config, and for
# the ones Kafka 3.x still had (message.format.version & co).
EVERY_CONFIG = {
    "cleanup.policy": "compact,delete",
    "compression.type": "zstd",
    "compression.gzip.level": "5",
    "compression.lz4.level": "10",
    "compression.zstd.level": "7",
    "delete.retention.ms": "3600000",
    "file.delete.delay.ms": "30000",
    "flush.messages": "100000",
    "flush.ms": "60000",
    "follower.replication.throttled.replicas": "*",
    "index.interval.bytes": "8192",
    "leader.replication.throttled.replicas": "*",
    "local.retention.bytes": "-2",
    "local.retention.ms": "-2",
    "max.compaction.lag.ms": "86400000",
    "max.message.bytes": "2000000",
    "message.timestamp.after.max.ms": "3600000",
    "message.timestamp.before.max.ms": "86400000",
    "message.timestamp.type": "LogAppendTime",
    "min.cleanable.dirty.ratio": "0.25",
    "min.compaction.lag.ms": "1000",
    "min.insync.replicas": "1",
    "preallocate": "true",
    "remote.log.copy.disable": "false",
    "remote.log.delete.on.disable": "false",
    "remote.storage.enable": "false",
    "retention.bytes": "10000000",
    "retention.ms": "3600000",
    "segment.bytes": "1048576",
    "segment.index.bytes": "1048576",
    "segment.jitter.ms": "1000",
    "segment.ms": "3600000",
    "unclean.leader.election.enable": "false",
    # Kafka 3.x only
    "message.format.version": "3.0-IV1",
    "message.downconversion.enable": "false",
    "message.timestamp.difference.max.ms": "3600000",
}

# Names DescribeConfigs must list for any topic.
REQUIRED_NAMES = set(KAFKA_DEFAULTS) | {
    "compression.gzip.level", "compression.lz4.level", "compression.zstd.level",
    "follower.replication.throttled.replicas", "leader.replication.throttled.replicas",
    "message.timestamp.after.max.ms", "message.timestamp.before.max.ms",
}


def same_value(name, got, want):
    """Config values compare as Kafka means them: lists as sets, doubles as numbers."""
    if got is None or want is None:
        return got == want
    if name == "cleanup.policy":
        return sorted(v.strip() for v in got.split(",")) == sorted(v.strip() for v in want.split(","))
    if name == "min.cleanable.dirty.ratio":
        return float(got) == float(want)
    return got == want


def kafka_error(fn):
    """Runs an admin call; returns its KafkaError, or None if it succeeded."""
    try:
        fn()
    except KafkaException as e:
        return e.args[0]
    return None


def create_error(bootstrap, name, config):
    def create():
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(name, 1, 1, config=config)], request_timeout=30)[name].result(timeout=30)
    return kafka_error(create)


def alter_error(bootstrap, name, config, op=None):
    return kafka_error(lambda: alter_topic_configs(bootstrap, name, config, op))


def topic_exists(bootstrap, name):
    return name in AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics


def assert_shows(bootstrap, topic, expected, source=ConfigSource.DYNAMIC_TOPIC_CONFIG):
    described = describe_topic_configs(bootstrap, topic)
    wrong = {k: described.get(k) for k, v in expected.items()
             if k not in described or not same_value(k, described[k][0], v) or described[k][1] != source}
    assert not wrong, f"{topic}: expected {source.name} values {expected}; DescribeConfigs shows {wrong}"


def assert_refused(err, config, what):
    assert err is not None, f"{what}: accepted"
    assert err.code() == KafkaError.INVALID_CONFIG, f"{what}: {err.name()} ({err.str()}), expected INVALID_CONFIG"
    assert config in err.str(), f"{what}: the message does not name {config}: {err.str()!r}"


# --- accepted ------------------------------------------------------------


def test_kafka3_configs_accepted_on_create_and_alter(brook):
    """message.format.version=3.0-IV1, preallocate=true and
    unclean.leader.election.enable=false are accepted by CreateTopics and by
    IncrementalAlterConfigs, and DescribeConfigs shows them as topic overrides."""
    configs = {"message.format.version": "3.0-IV1", "preallocate": "true", "unclean.leader.election.enable": "false"}
    create_topic(brook.bootstrap, "tc-legacy-created", config=configs)
    assert_shows(brook.bootstrap, "tc-legacy-created", configs)

    create_topic(brook.bootstrap, "tc-legacy-altered")
    alter_topic_configs(brook.bootstrap, "tc-legacy-altered", configs)
    assert_shows(brook.bootstrap, "tc-legacy-altered", configs)
    # The same again on the topic created with them: still accepted.
    alter_topic_configs(brook.bootstrap, "tc-legacy-created", configs)
    assert_shows(brook.bootstrap, "tc-legacy-created", configs)


def test_every_topic_config_name_accepted(brook):
    """A topic created with a valid value for every Kafka 4 topic config
    (and the Kafka-3.x-only ones) shows each as DYNAMIC_TOPIC_CONFIG; the
    same set through IncrementalAlterConfigs on a plain topic too; valid
    values of the typed compaction/compression configs are each accepted."""
    create_topic(brook.bootstrap, "tc-every-created", config=EVERY_CONFIG)
    assert_shows(brook.bootstrap, "tc-every-created", EVERY_CONFIG)
    create_topic(brook.bootstrap, "tc-every-altered")
    alter_topic_configs(brook.bootstrap, "tc-every-altered", EVERY_CONFIG)
    assert_shows(brook.bootstrap, "tc-every-altered", EVERY_CONFIG)

    create_topic(brook.bootstrap, "tc-valid")
    valid = [("cleanup.policy", v) for v in ("compact", "delete", "compact,delete", "delete,compact")]
    valid += [("compression.type", v) for v in ("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd")]
    valid += [("min.cleanable.dirty.ratio", v) for v in ("0", "0.01", "1")]
    valid += [("min.compaction.lag.ms", "0"), ("max.compaction.lag.ms", "1"), ("delete.retention.ms", "0")]
    refused = []
    for name, value in valid:
        err = alter_error(brook.bootstrap, "tc-valid", {name: value})
        if err is not None:
            refused.append((name, value, err.str()))
        else:
            assert_shows(brook.bootstrap, "tc-valid", {name: value})
    assert not refused, f"valid values refused: {refused}"


# --- refused -------------------------------------------------------------


def test_unknown_name_and_unparsable_value_refused(brook):
    """retention.ms=abc and no.such.config=1 are refused with INVALID_CONFIG
    naming the config: by CreateTopics (confluent-kafka and kafka-python; no
    topic created) and by IncrementalAlterConfigs (confluent-kafka) and
    legacy AlterConfigs (kafka-python), leaving the topic's configs as they were."""
    b = brook.bootstrap
    create_topic(b, "tc-target", config={"retention.ms": "123456"})
    kp = KafkaAdminClient(bootstrap_servers=b, request_timeout_ms=30000)
    try:
        for i, (name, value) in enumerate([("retention.ms", "abc"), ("no.such.config", "1")]):
            what = f"{name}={value}"
            topic = f"tc-bad-{i}"
            assert_refused(create_error(b, topic, {name: value}), name, f"confluent CreateTopics {what}")
            assert not topic_exists(b, topic), f"{topic} was created despite {what}"

            res = kp.create_topics({topic: {"num_partitions": 1, "replication_factor": 1, "configs": {name: value}}},
                                   raise_errors=False)
            [t] = res["topics"]
            assert t["error_code"] == 40, f"kafka-python CreateTopics {what}: {t}"  # INVALID_CONFIG
            assert name in (t.get("error_message") or ""), f"kafka-python CreateTopics {what}: {t}"
            assert not topic_exists(b, topic), f"{topic} was created despite {what} (kafka-python)"

            assert_refused(alter_error(b, "tc-target", {name: value}), name, f"IncrementalAlterConfigs {what}")
            result = kp.alter_configs([KpConfigResource(ConfigResourceType.TOPIC, "tc-target", {name: value})],
                                      raise_on_unknown=False, incremental=False)
            outcome = result["topic"]["tc-target"]
            assert outcome != "OK" and "InvalidConfiguration" in outcome and name in outcome, \
                f"kafka-python AlterConfigs {what}: {outcome}"
            assert_shows(b, "tc-target", {"retention.ms": "123456"})
    finally:
        kp.close()


def test_bad_values_of_typed_configs_refused(brook):
    """Out-of-range or unknown values of typed configs are refused with
    INVALID_CONFIG naming the config, at creation and by
    IncrementalAlterConfigs, and change nothing."""
    b = brook.bootstrap
    create_topic(b, "tc-typed")
    bad = [
        ("min.cleanable.dirty.ratio", "1.5"),
        ("min.cleanable.dirty.ratio", "-0.1"),
        ("min.cleanable.dirty.ratio", "half"),
        ("compression.type", "brotli"),
        ("cleanup.policy", "shred"),
        ("cleanup.policy", "compact,shred"),
        ("preallocate", "maybe"),
        ("unclean.leader.election.enable", "yes please"),
        ("delete.retention.ms", "-5"),
        ("min.compaction.lag.ms", "-1"),
        ("max.compaction.lag.ms", "0"),
        ("segment.index.bytes", "many"),
    ]
    failures = []
    for i, (name, value) in enumerate(bad):
        what = f"{name}={value}"
        for how, err in (("CreateTopics", create_error(b, f"tc-typed-{i}", {name: value})),
                         ("IncrementalAlterConfigs", alter_error(b, "tc-typed", {name: value}))):
            try:
                assert_refused(err, name, f"{how} {what}")
            except AssertionError as e:
                failures.append(str(e))
        if topic_exists(b, f"tc-typed-{i}"):
            failures.append(f"tc-typed-{i} was created despite {what}")
    assert not failures, "\n".join(failures)
    described = describe_topic_configs(b, "tc-typed")
    changed = {n: described[n] for n, _ in bad if described[n][1] != ConfigSource.DEFAULT_CONFIG}
    assert not changed, f"refused alterations changed configs: {changed}"


# --- described -------------------------------------------------------------


def test_describe_lists_every_topic_config_with_defaults(brook):
    """DescribeConfigs of a topic lists every topic config (35 or more),
    those not overridden as DEFAULT_CONFIG with Kafka's default values, the
    override as DYNAMIC_TOPIC_CONFIG; kafka-python's DescribeConfigs sees the
    same names, values and sources."""
    b = brook.bootstrap
    create_topic(b, "tc-describe", config={"delete.retention.ms": "1234"})
    described = describe_topic_configs(b, "tc-describe")
    assert len(described) >= 35, f"only {len(described)} configs described: {sorted(described)}"
    missing = REQUIRED_NAMES - set(described)
    assert not missing, f"DescribeConfigs lacks {sorted(missing)}"
    assert described["delete.retention.ms"] == ("1234", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    wrong = {n: described[n] for n, v in KAFKA_DEFAULTS.items()
             if n != "delete.retention.ms"
             and (described[n][1] != ConfigSource.DEFAULT_CONFIG or not same_value(n, described[n][0], v))}
    assert not wrong, f"not Kafka's defaults (expected DEFAULT_CONFIG): {wrong}"
    others = {n: s for n, (_, s) in described.items() if n != "delete.retention.ms" and s != ConfigSource.DEFAULT_CONFIG}
    assert not others, f"configs not overridden should be DEFAULT_CONFIG: {others}"

    # A fresh topic: delete.retention.ms is Kafka's default again.
    create_topic(b, "tc-describe-plain")
    assert describe_topic_configs(b, "tc-describe-plain")["delete.retention.ms"] == \
        ("86400000", ConfigSource.DEFAULT_CONFIG)

    kp = KafkaAdminClient(bootstrap_servers=b, request_timeout_ms=30000)
    try:
        res = kp.describe_configs([KpConfigResource(ConfigResourceType.TOPIC, "tc-describe")], config_filter="all")
    finally:
        kp.close()
    kp_configs = res["topic"]["tc-describe"]
    assert set(kp_configs) == set(described), \
        f"kafka-python and confluent-kafka see different names: {set(kp_configs) ^ set(described)}"
    differ = {n: (kp_configs[n].get("value"), kp_configs[n].get("config_source"), described[n])
              for n in described
              if kp_configs[n].get("value") != described[n][0] or kp_configs[n].get("config_source") != described[n][1].name}
    assert not differ, f"kafka-python vs confluent-kafka: {differ}"


def test_broker_properties_are_topic_defaults(brook_factory):
    """Broker properties paired with topic configs (log.cleaner.delete.retention.ms,
    log.cleaner.min.cleanable.ratio, compression.type,
    log.cleaner.min.compaction.lag.ms) become the topics' values with source
    STATIC_BROKER_CONFIG; a topic override still wins."""
    b = brook_factory({"log.cleaner.delete.retention.ms": "4321", "log.cleaner.min.cleanable.ratio": "0.3",
                       "compression.type": "gzip", "log.cleaner.min.compaction.lag.ms": "2000"}).start()
    create_topic(b.bootstrap, "tc-broker-defaults")
    assert_shows(b.bootstrap, "tc-broker-defaults",
                 {"delete.retention.ms": "4321", "min.cleanable.dirty.ratio": "0.3", "compression.type": "gzip",
                  "min.compaction.lag.ms": "2000"}, source=ConfigSource.STATIC_BROKER_CONFIG)
    alter_topic_configs(b.bootstrap, "tc-broker-defaults", {"compression.type": "lz4"})
    assert_shows(b.bootstrap, "tc-broker-defaults", {"compression.type": "lz4"})
    assert_shows(b.bootstrap, "tc-broker-defaults", {"delete.retention.ms": "4321"},
                 source=ConfigSource.STATIC_BROKER_CONFIG)


# --- list operations -----------------------------------------------------


def test_cleanup_policy_append_and_subtract(brook):
    """IncrementalAlterConfigs APPEND compact to the default delete gives
    delete,compact (appending it again changes nothing), SUBTRACT delete
    leaves compact; APPEND or SUBTRACT on retention.ms (not a list) is
    INVALID_CONFIG naming it and changes nothing."""
    b = brook.bootstrap
    topic = "tc-policy"
    create_topic(b, topic)
    assert describe_topic_configs(b, topic)["cleanup.policy"] == ("delete", ConfigSource.DEFAULT_CONFIG)

    alter_topic_configs(b, topic, {"cleanup.policy": "compact"}, op=AlterConfigOpType.APPEND)
    value, source = describe_topic_configs(b, topic)["cleanup.policy"]
    assert sorted(value.split(",")) == ["compact", "delete"] and source == ConfigSource.DYNAMIC_TOPIC_CONFIG, \
        (value, source)

    alter_topic_configs(b, topic, {"cleanup.policy": "compact"}, op=AlterConfigOpType.APPEND)
    value, _ = describe_topic_configs(b, topic)["cleanup.policy"]
    assert sorted(value.split(",")) == ["compact", "delete"], f"appending a present value: {value!r}"

    alter_topic_configs(b, topic, {"cleanup.policy": "delete"}, op=AlterConfigOpType.SUBTRACT)
    assert describe_topic_configs(b, topic)["cleanup.policy"] == ("compact", ConfigSource.DYNAMIC_TOPIC_CONFIG)

    for op in (AlterConfigOpType.APPEND, AlterConfigOpType.SUBTRACT):
        err = alter_error(b, topic, {"retention.ms": "1000"}, op=op)
        assert_refused(err, "retention.ms", f"{op.name} on retention.ms")
    assert describe_topic_configs(b, topic)["retention.ms"] == ("604800000", ConfigSource.DEFAULT_CONFIG)
    assert describe_topic_configs(b, topic)["cleanup.policy"] == ("compact", ConfigSource.DYNAMIC_TOPIC_CONFIG)
