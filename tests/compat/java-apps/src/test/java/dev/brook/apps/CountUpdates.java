package dev.brook.apps;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/** Reads the word-count output topic with read_committed, from the start,
 *  keeping every update per word in order (one word lives in one partition). */
final class CountUpdates implements AutoCloseable {
    private final KafkaConsumer<String, Long> consumer;
    private final Map<String, List<Long>> updates = new TreeMap<>();

    CountUpdates(String bootstrap, String topic, int partitions) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        consumer = new KafkaConsumer<>(p, new StringDeserializer(), new LongDeserializer());
        List<TopicPartition> all = new ArrayList<>();
        for (int i = 0; i < partitions; i++) {
            all.add(new TopicPartition(topic, i));
        }
        consumer.assign(all);
        consumer.seekToBeginning(all);
    }

    /** Takes what one poll returns. */
    void poll() {
        for (ConsumerRecord<String, Long> r : consumer.poll(Duration.ofMillis(200))) {
            updates.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value());
        }
    }

    /** The last count seen per word. */
    Map<String, Long> latest() {
        return updates.entrySet().stream().collect(Collectors.toMap(
            Map.Entry::getKey, e -> e.getValue().get(e.getValue().size() - 1), (a, b) -> b, TreeMap::new));
    }

    /** Every update per word, in output order. */
    Map<String, List<Long>> all() {
        return updates;
    }

    /** Polls (bounded) until the latest counts equal `expected`. */
    void awaitLatest(Map<String, Long> expected, Duration timeout) throws InterruptedException {
        Wait.until(timeout, () -> ": counts " + latest() + " expected " + expected, () -> {
            poll();
            return latest().equals(expected);
        });
    }

    @Override
    public void close() {
        consumer.close(Duration.ofSeconds(5));
    }
}
