package dev.brook.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.junit.jupiter.api.Test;

/** KIP-848's consumer protocol (`group.protocol=consumer`). Brook runs the
 *  classic group protocol only: it does not advertise ConsumerGroupHeartbeat
 *  in ApiVersions, so the 4.x client must stop at once with an
 *  UnsupportedVersionException, never wait for an assignment that never comes. */
abstract class NewConsumerProtocolTests extends ClusterTestBase {
    private static final Duration FAIL_FAST = Duration.ofSeconds(15);

    @Test
    void theConsumerProtocolFailsFastAsUnsupportedAndClassicWorks() throws Exception {
        String topic = createTopic("kip848", 1);
        try (KafkaProducer<String, String> producer = producer(Map.of())) {
            producer.send(new ProducerRecord<>(topic, 0, null, "v")).get();
        }
        String group = uniqueName("kip848-group");
        try (KafkaConsumer<String, String> c = consumer(group,
                Map.of(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer"))) {
            c.subscribe(List.of(topic));
            long started = System.nanoTime();
            UnsupportedVersionException e = assertThrows(UnsupportedVersionException.class, () -> {
                // A poll returns early with the fatal error; loop only to bound a client that would not.
                long deadline = System.nanoTime() + FAIL_FAST.toNanos();
                while (System.nanoTime() < deadline) {
                    c.poll(Duration.ofMillis(500));
                }
            });
            Duration took = Duration.ofNanos(System.nanoTime() - started);
            assertTrue(took.compareTo(FAIL_FAST) < 0, "failed after " + took);
            assertTrue(e.getMessage().contains("does not support the new CONSUMER group protocol"), e.getMessage());
        }
        // The same group id then works with the classic protocol, as the error tells the user to do.
        try (KafkaConsumer<String, String> c = consumer(group,
                Map.of(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic"))) {
            c.subscribe(List.of(topic));
            List<String> got = new ArrayList<>();
            awaitCondition(Duration.ofSeconds(30), "a record", () -> {
                c.poll(Duration.ofMillis(100)).forEach(r -> got.add(r.value()));
                return !got.isEmpty();
            });
            assertEquals(List.of("v"), got);
        }
    }
}
