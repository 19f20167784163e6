package dev.brook.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.junit.jupiter.api.Test;

/** AdminClient against three nodes at replication factor 3, with what needs
 *  several brokers: preferred leader election and partition reassignment. */
class AdminOnThreeNodesTest extends AdminTests {
    private static final long SECONDS = REQUEST_TIMEOUT.toSeconds();

    @Override
    int nodes() {
        return 3;
    }

    /** The preferred replica restarts, so another leads; ElectLeaders
     *  (PREFERRED) gives it the leadership back. */
    @Test
    void electLeadersMovesLeadershipBackToThePreferredReplica() throws Exception {
        String topic = createTopic("elect", 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        int preferred = partitionInfo(topic, 0).replicas().get(0).id();
        assertEquals(preferred, partitionInfo(topic, 0).leader().id());

        cluster.stop(preferred);
        awaitCondition(Duration.ofSeconds(30), "another leader", () -> leaderOf(topic) != preferred
            && leaderOf(topic) != -1);
        cluster.start(preferred);
        awaitFullIsr(topic, 1);
        assertNotEquals(preferred, leaderOf(topic), "no automatic rebalance in these tests");

        Map<TopicPartition, Optional<Throwable>> result = admin.electLeaders(ElectionType.PREFERRED, Set.of(tp))
            .partitions().get(SECONDS, TimeUnit.SECONDS);
        assertEquals(Map.of(tp, Optional.empty()), result);
        awaitCondition(Duration.ofSeconds(30), "the preferred replica leads", () -> leaderOf(topic) == preferred);
    }

    /** Drops a replica and adds it back at the head of the list; the
     *  returning replica copies the log, which then reads the same from it. */
    @Test
    void reassignmentMovesReplicasAndIsListedUntilDone() throws Exception {
        String topic = createTopic("reassign", 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> producer = producer(Map.of())) {
            for (int i = 0; i < 50; i++) {
                producer.send(new ProducerRecord<>(topic, 0, null, "v" + i));
            }
            producer.flush();
        }
        List<Integer> replicas = partitionInfo(topic, 0).replicas().stream().map(Node::id).toList();
        int dropped = replicas.get(0);
        List<Integer> two = List.of(replicas.get(2), replicas.get(1));
        reassign(tp, two);
        assertEquals(two, partitionInfo(topic, 0).replicas().stream().map(Node::id).toList());
        assertTrue(two.contains(leaderOf(topic)));

        List<Integer> three = List.of(dropped, replicas.get(2), replicas.get(1));
        reassign(tp, three);
        awaitFullIsr(topic, 1);
        assertEquals(three, partitionInfo(topic, 0).replicas().stream().map(Node::id).toList());

        admin.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions().get(SECONDS, TimeUnit.SECONDS);
        awaitCondition(Duration.ofSeconds(30), "the re-added replica leads", () -> leaderOf(topic) == dropped);
        List<ConsumerRecord<String, String>> got = readAll(List.of(tp));
        assertEquals(IdempotentProducerTests.values("v", 50), got.stream().map(ConsumerRecord::value).toList());
    }

    /** Starts a reassignment and waits until it is no longer listed and the
     *  partition's replicas are the target. */
    private void reassign(TopicPartition tp, List<Integer> target) throws Exception {
        admin.alterPartitionReassignments(Map.of(tp, Optional.of(new NewPartitionReassignment(target))))
            .all().get(SECONDS, TimeUnit.SECONDS);
        awaitCondition(Duration.ofSeconds(60), "reassignment of " + tp + " to " + target, () -> {
            try {
                Map<TopicPartition, PartitionReassignment> ongoing = admin.listPartitionReassignments(Set.of(tp))
                    .reassignments().get(SECONDS, TimeUnit.SECONDS);
                TopicPartitionInfo info = partitionInfo(tp.topic(), tp.partition());
                return ongoing.isEmpty() && info != null
                    && info.replicas().stream().map(Node::id).toList().equals(target);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
    }

    private int leaderOf(String topic) {
        TopicPartitionInfo info = partitionInfo(topic, 0);
        return info == null || info.leader() == null ? -1 : info.leader().id();
    }
}
