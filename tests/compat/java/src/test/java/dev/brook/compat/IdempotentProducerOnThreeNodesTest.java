package dev.brook.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.Test;

/** The idempotent producer against three nodes at replication factor 3,
 *  also while the partition's leader restarts. */
class IdempotentProducerOnThreeNodesTest extends IdempotentProducerTests {
    @Override
    int nodes() {
        return 3;
    }

    /** The new leader knows the producer's sequences (they travel with the
     *  replicated batches), so the producer's retries after the failover
     *  neither duplicate nor reorder records. */
    @Test
    void survivesARestartOfThePartitionLeader() throws Exception {
        String topic = createTopic("idempotent-failover", 1);
        int leader = partitionInfo(topic, 0).leader().id();
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        try (KafkaProducer<String, String> producer = idempotentProducer()) {
            futures.addAll(send(producer, topic, "before", 300));
            cluster.stop(leader);
            futures.addAll(send(producer, topic, "during", 300));
            producer.flush();
            cluster.start(leader);
            awaitFullIsr(topic, 1);
            futures.addAll(send(producer, topic, "after", 300));
            producer.flush();
        }
        for (int i = 0; i < futures.size(); i++) {
            assertEquals(i, futures.get(i).get().offset(), "offset of record " + i);
        }
        List<String> expected = new ArrayList<>(values("before", 300));
        expected.addAll(values("during", 300));
        expected.addAll(values("after", 300));
        assertLogIs(topic, expected);
        assertNotEquals(leader, partitionInfo(topic, 0).leader().id(), "leadership moved with the restart");
        ProducerState state = onlyProducer(topic);
        assertEquals(899, state.lastSequence());
    }
}
