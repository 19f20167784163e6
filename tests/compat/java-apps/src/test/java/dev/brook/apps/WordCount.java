package dev.brook.apps;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/** The Kafka Streams word count: lines in, (word, count) updates out. The
 *  re-key by word needs a repartition topic, the count store a changelog. */
final class WordCount {
    static final String STORE = "counts";

    private WordCount() {}

    static Topology topology(String inputTopic, String outputTopic) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.<String, String>stream(inputTopic)
            .flatMapValues(line -> Arrays.asList(line.toLowerCase(Locale.ROOT).split("\\s+")))
            .groupBy((key, word) -> word, Grouped.as("by-word"))
            .count(Materialized.as(STORE))
            .toStream()
            .to(outputTopic, Produced.with(Serdes.String(), Serdes.Long()));
        return builder.build();
    }

    static Properties config(String bootstrap, String applicationId, String guarantee, Path stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 3);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        // No record cache: every input word yields one update, so a word's
        // updates must read exactly 1, 2, ..., n (a duplicate or gap shows).
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 2);
        p.put(StreamsConfig.consumerPrefix("session.timeout.ms"), 10_000);
        p.put(StreamsConfig.consumerPrefix("heartbeat.interval.ms"), 1_000);
        return p;
    }

    /** Line `index` of the input: five words from a vocabulary of 20, mixed case. */
    static String line(int index) {
        StringBuilder s = new StringBuilder();
        for (int j = 0; j < 5; j++) {
            int word = (index * 7 + j * j * 3 + j) % 20;
            s.append(j == 0 ? "" : " ").append(j % 2 == 0 ? "Word" : "word").append(word);
        }
        return s.toString();
    }

    /** The count of each word over lines [0, lineCount). */
    static Map<String, Long> expectedCounts(int lineCount) {
        Map<String, Long> counts = new TreeMap<>();
        for (int i = 0; i < lineCount; i++) {
            for (String word : line(i).toLowerCase(Locale.ROOT).split("\\s+")) {
                counts.merge(word, 1L, Long::sum);
            }
        }
        return counts;
    }
}
