package dev.brook.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.Test;

/** AdminClient: topics and their configs, partitions, consumer groups and
 *  their offsets, the cluster. Leader election and reassignment, which need
 *  several brokers, are in {@link AdminOnThreeNodesTest}. */
abstract class AdminTests extends ClusterTestBase {
    private static final long SECONDS = REQUEST_TIMEOUT.toSeconds();

    @Test
    void createDescribeAndDeleteATopic() throws Exception {
        String topic = createTopic("admin-topic", 3, Map.of("retention.ms", "3600000"));
        TopicDescription d = describe(topic);
        assertEquals(topic, d.name());
        assertFalse(d.isInternal());
        assertNotNull(d.topicId());
        assertEquals(3, d.partitions().size());
        for (int p = 0; p < 3; p++) {
            assertEquals(p, d.partitions().get(p).partition());
            assertEquals(nodes(), d.partitions().get(p).replicas().size());
            assertEquals(cluster.nodeIds(), ids(d.partitions().get(p).replicas()));
        }
        assertTrue(admin.listTopics().names().get(SECONDS, TimeUnit.SECONDS).contains(topic));

        ExecutionException again = assertThrows(ExecutionException.class, () -> admin.createTopics(
            List.of(new NewTopic(topic, 1, (short) nodes()))).all().get(SECONDS, TimeUnit.SECONDS));
        assertInstanceOf(TopicExistsException.class, again.getCause());

        admin.deleteTopics(List.of(topic)).all().get(SECONDS, TimeUnit.SECONDS);
        awaitCondition(Duration.ofSeconds(30), topic + " gone from listTopics", () -> {
            try {
                return !admin.listTopics().names().get(SECONDS, TimeUnit.SECONDS).contains(topic);
            } catch (Exception e) {
                return false;
            }
        });
        ExecutionException gone = assertThrows(ExecutionException.class,
            () -> admin.describeTopics(List.of(topic)).allTopicNames().get(SECONDS, TimeUnit.SECONDS));
        assertInstanceOf(UnknownTopicOrPartitionException.class, gone.getCause());
    }

    @Test
    void topicConfigsAreDescribedAlteredAndDeleted() throws Exception {
        String topic = createTopic("admin-configs", 1, Map.of("retention.ms", "3600000"));
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);

        ConfigEntry retention = topicConfig(resource).get("retention.ms");
        assertEquals("3600000", retention.value());
        assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, retention.source());
        ConfigEntry cleanup = topicConfig(resource).get("cleanup.policy");
        assertEquals("delete", cleanup.value());
        assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, cleanup.source());

        alter(resource, new AlterConfigOp(new ConfigEntry("retention.ms", null), AlterConfigOp.OpType.DELETE),
            new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.SET),
            new AlterConfigOp(new ConfigEntry("max.message.bytes", "200000"), AlterConfigOp.OpType.SET));
        // Every broker applies the change from the metadata log, a moment after
        // the controller committed it (in Kafka too): describe until it shows.
        Config after = awaitTopicConfig(resource, "max.message.bytes", "200000");
        assertEquals("604800000", after.get("retention.ms").value(), "back to the broker default");
        assertFalse(after.get("retention.ms").source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
        assertEquals("compact", after.get("cleanup.policy").value());
        assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, after.get("cleanup.policy").source());

        // APPEND adds to a list config; SUBTRACT removes from it.
        alter(resource, new AlterConfigOp(new ConfigEntry("cleanup.policy", "delete"), AlterConfigOp.OpType.APPEND));
        awaitTopicConfig(resource, "cleanup.policy", "compact,delete");
        alter(resource, new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.SUBTRACT));
        awaitTopicConfig(resource, "cleanup.policy", "delete");
    }

    private void alter(ConfigResource resource, AlterConfigOp... ops) throws Exception {
        admin.incrementalAlterConfigs(Map.of(resource, List.of(ops))).all().get(SECONDS, TimeUnit.SECONDS);
    }

    private Config awaitTopicConfig(ConfigResource resource, String name, String value) throws Exception {
        Config[] last = new Config[1];
        awaitCondition(Duration.ofSeconds(10), name + "=" + value + " on " + resource, () -> {
            try {
                last[0] = topicConfig(resource);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            return value.equals(last[0].get(name).value());
        });
        return last[0];
    }

    @Test
    void brokerConfigsAreDescribed() throws Exception {
        for (int id : cluster.nodeIds()) {
            ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(id));
            Config config = admin.describeConfigs(List.of(broker)).all().get(SECONDS, TimeUnit.SECONDS).get(broker);
            assertEquals("false", config.get("auto.leader.rebalance.enable").value());
            assertEquals(Integer.toString(nodes()), config.get("offsets.topic.replication.factor").value());
        }
    }

    @Test
    void createPartitionsGrowsATopicAndNeverShrinksIt() throws Exception {
        String topic = createTopic("admin-partitions", 2);
        admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get(SECONDS, TimeUnit.SECONDS);
        awaitFullIsr(topic, 5);
        TopicDescription d = describe(topic);
        assertEquals(5, d.partitions().size());
        for (int p = 0; p < 5; p++) {
            assertEquals(nodes(), d.partitions().get(p).replicas().size());
        }
        // A record in a new partition is readable there.
        try (KafkaProducer<String, String> producer = producer(Map.of())) {
            producer.send(new ProducerRecord<>(topic, 4, null, "in-new-partition")).get(SECONDS, TimeUnit.SECONDS);
        }
        assertEquals("in-new-partition", readAll(List.of(new TopicPartition(topic, 4))).get(0).value());

        ExecutionException shrink = assertThrows(ExecutionException.class, () -> admin.createPartitions(
            Map.of(topic, NewPartitions.increaseTo(3))).all().get(SECONDS, TimeUnit.SECONDS));
        assertInstanceOf(InvalidPartitionsException.class, shrink.getCause());
    }

    /** Listing and describing a group, then resetting its offsets with the
     *  admin client, as `kafka-consumer-groups --reset-offsets` does. */
    @Test
    void consumerGroupsAreListedDescribedAndTheirOffsetsReset() throws Exception {
        String topic = createTopic("admin-group", 2);
        String group = uniqueName("admin-group");
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        try (KafkaProducer<String, String> producer = producer(Map.of())) {
            for (int i = 0; i < 10; i++) {
                producer.send(new ProducerRecord<>(topic, i % 2, null, "v" + i));
            }
            producer.flush();
        }
        try (KafkaConsumer<String, String> c = consumer(group, Map.of())) {
            c.subscribe(List.of(topic));
            awaitCondition(Duration.ofSeconds(60), "the member reads both partitions", () -> {
                c.poll(Duration.ofMillis(100));
                return c.assignment().size() == 2 && c.position(p0) == 5 && c.position(p1) == 5;
            });
            c.commitSync(REQUEST_TIMEOUT);

            ConsumerGroupListing listed = listedGroup(group);
            assertEquals(GroupState.STABLE, listed.groupState().orElseThrow());
            ConsumerGroupDescription live = describeGroup(group);
            assertEquals(GroupState.STABLE, live.groupState());
            assertEquals(1, live.members().size());
            assertEquals(Set.of(p0, p1), live.members().iterator().next().assignment().topicPartitions());
            assertTrue(cluster.nodeIds().contains(live.coordinator().id()));
            assertEquals("range", live.partitionAssignor());
        }
        awaitCondition(Duration.ofSeconds(30), "the group empty after its member left",
            () -> describeGroupQuietly(group) == GroupState.EMPTY);
        assertEquals(Map.of(p0, 5L, p1, 5L), committedOffsets(group));

        // Reset: p0 back to 2, p1's offset deleted (so it starts from auto.offset.reset).
        admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(2)))
            .all().get(SECONDS, TimeUnit.SECONDS);
        admin.deleteConsumerGroupOffsets(group, Set.of(p1)).all().get(SECONDS, TimeUnit.SECONDS);
        assertEquals(Map.of(p0, 2L), committedOffsets(group));

        try (KafkaConsumer<String, String> c = consumer(group, Map.of())) {
            c.subscribe(List.of(topic));
            Map<Integer, List<String>> read = new java.util.TreeMap<>();
            awaitCondition(Duration.ofSeconds(60), "reading from the reset offsets", () -> {
                c.poll(Duration.ofMillis(100)).forEach(r ->
                    read.computeIfAbsent(r.partition(), k -> new java.util.ArrayList<>()).add(r.value()));
                return read.getOrDefault(0, List.of()).size() >= 3 && read.getOrDefault(1, List.of()).size() >= 5;
            });
            assertEquals(List.of("v4", "v6", "v8"), read.get(0));
            assertEquals(List.of("v1", "v3", "v5", "v7", "v9"), read.get(1));
        }

        admin.deleteConsumerGroups(List.of(group)).all().get(SECONDS, TimeUnit.SECONDS);
        assertTrue(listedGroups().stream().noneMatch(g -> g.groupId().equals(group)), "deleted group still listed");
    }

    /** Kafka answers ELECTION_NOT_NEEDED for a partition its preferred replica already leads. */
    @Test
    void preferredElectionIsNotNeededWhereThePreferredReplicaLeads() throws Exception {
        String topic = createTopic("admin-elect-noop", 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        Map<TopicPartition, java.util.Optional<Throwable>> result = admin.electLeaders(ElectionType.PREFERRED,
            Set.of(tp)).partitions().get(SECONDS, TimeUnit.SECONDS);
        assertEquals(Set.of(tp), result.keySet());
        assertInstanceOf(ElectionNotNeededException.class, result.get(tp).orElseThrow());
        assertEquals(partitionInfo(topic, 0).replicas().get(0), partitionInfo(topic, 0).leader());
    }

    @Test
    void describeClusterListsEveryBrokerAndTheController() throws Exception {
        DescribeClusterResult result = admin.describeCluster();
        Collection<Node> brokers = result.nodes().get(SECONDS, TimeUnit.SECONDS);
        assertEquals(cluster.nodeIds(), ids(brokers));
        for (Node n : brokers) {
            assertEquals("127.0.0.1", n.host());
        }
        assertTrue(cluster.nodeIds().contains(result.controller().get(SECONDS, TimeUnit.SECONDS).id()));
        String clusterId = result.clusterId().get(SECONDS, TimeUnit.SECONDS);
        assertNotNull(clusterId);
        assertFalse(clusterId.isEmpty());
    }

    private Config topicConfig(ConfigResource resource) throws Exception {
        return admin.describeConfigs(List.of(resource)).all().get(SECONDS, TimeUnit.SECONDS).get(resource);
    }

    @SuppressWarnings("deprecation") // listConsumerGroups is the API the issue names; listGroups is its successor
    private Collection<ConsumerGroupListing> listedGroups() throws Exception {
        return admin.listConsumerGroups().all().get(SECONDS, TimeUnit.SECONDS);
    }

    private ConsumerGroupListing listedGroup(String group) throws Exception {
        return listedGroups().stream()
            .filter(g -> g.groupId().equals(group)).findFirst()
            .orElseThrow(() -> new AssertionError(group + " not listed"));
    }

    private ConsumerGroupDescription describeGroup(String group) throws Exception {
        return admin.describeConsumerGroups(List.of(group)).all().get(SECONDS, TimeUnit.SECONDS).get(group);
    }

    private GroupState describeGroupQuietly(String group) {
        try {
            return describeGroup(group).groupState();
        } catch (Exception e) {
            return null;
        }
    }

    private Map<TopicPartition, Long> committedOffsets(String group) throws Exception {
        return admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
            .get(SECONDS, TimeUnit.SECONDS).entrySet().stream()
            .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().offset()));
    }

    static Set<Integer> ids(Collection<Node> nodes) {
        return nodes.stream().map(Node::id).collect(Collectors.toCollection(java.util.TreeSet::new));
    }
}
