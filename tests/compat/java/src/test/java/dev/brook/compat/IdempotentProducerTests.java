package dev.brook.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** The idempotent producer, on by default in 4.x (enable.idempotence=true,
 *  acks=all): a producer id, sequence numbers the broker checks, and
 *  exactly-once, in-order appends per partition. */
abstract class IdempotentProducerTests extends ClusterTestBase {
    static final int MAX_IN_FLIGHT = 5;

    KafkaProducer<String, String> idempotentProducer() {
        // Only what 4.x defaults to anyway, stated so that the test says what it runs.
        return producer(Map.of(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true, ProducerConfig.ACKS_CONFIG, "all",
            ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, MAX_IN_FLIGHT,
            ProducerConfig.BATCH_SIZE_CONFIG, 1024));
    }

    /** Sends values prefix0..prefix(n-1) to partition 0 and returns their futures. */
    static List<Future<RecordMetadata>> send(KafkaProducer<String, String> producer, String topic, String prefix,
                                             int n) {
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            futures.add(producer.send(new ProducerRecord<>(topic, 0, null, prefix + i)));
        }
        return futures;
    }

    static List<String> values(String prefix, int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(prefix + i);
        }
        return out;
    }

    /** The partition holds exactly `expected`, in order, at offsets 0, 1, ... */
    void assertLogIs(String topic, List<String> expected) throws Exception {
        List<ConsumerRecord<String, String>> got = readAll(List.of(new TopicPartition(topic, 0)));
        assertEquals(expected, got.stream().map(ConsumerRecord::value).toList());
        for (int i = 0; i < got.size(); i++) {
            assertEquals(i, got.get(i).offset());
        }
    }

    ProducerState onlyProducer(String topic) throws Exception {
        TopicPartition tp = new TopicPartition(topic, 0);
        Collection<ProducerState> producers = admin.describeProducers(List.of(tp)).partitionResult(tp)
            .get(REQUEST_TIMEOUT.toSeconds(), TimeUnit.SECONDS).activeProducers();
        assertEquals(1, producers.size(), producers.toString());
        return producers.iterator().next();
    }

    @Test
    void appendsExactlyOnceInOrderWithSequencesTheBrokerTracks() throws Exception {
        String topic = createTopic("idempotent", 1);
        List<Future<RecordMetadata>> futures;
        try (KafkaProducer<String, String> producer = idempotentProducer()) {
            futures = send(producer, topic, "v", 1000);
            producer.flush();
        }
        for (int i = 0; i < futures.size(); i++) {
            assertEquals(i, futures.get(i).get().offset(), "offset of record " + i);
        }
        assertLogIs(topic, values("v", 1000));
        ProducerState state = onlyProducer(topic);
        assertEquals(999, state.lastSequence());
        assertEquals(0, state.producerEpoch());
    }
}
