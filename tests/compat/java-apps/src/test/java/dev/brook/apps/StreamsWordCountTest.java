package dev.brook.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.LongStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Kafka Streams word count on three Brook nodes at replication factor 3:
 *  internal repartition and (compacted) changelog topics, exact counts,
 *  restore after a restart, and exactly_once_v2 through a broker's kill -9. */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class StreamsWordCountTest {
    private static final int PARTITIONS = 3;
    private static BrookCluster cluster;
    private static Admin admin;

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = BrookCluster.start();
        admin = cluster.admin();
    }

    @AfterAll
    static void stopCluster() throws Exception {
        if (admin != null) {
            admin.close(Duration.ofSeconds(5));
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void atLeastOnceCountsAreExactAndContinueAfterRestoreFromChangelog(@TempDir Path tmp) throws Exception {
        String app = "wordcount-alos";
        createTopics("alos-lines", "alos-counts");
        try (LineProducer lines = new LineProducer(cluster.bootstrap(), "alos-lines");
             CountUpdates out = new CountUpdates(cluster.bootstrap(), "alos-counts", PARTITIONS)) {
            lines.send(0, 2000);
            try (RunningApp first = RunningApp.start(app, "alos-lines", "alos-counts", StreamsConfig.AT_LEAST_ONCE, tmp.resolve("state-1"))) {
                out.awaitLatest(WordCount.expectedCounts(2000), Duration.ofSeconds(90));
            }

            String changelog = app + "-" + WordCount.STORE + "-changelog";
            String repartition = app + "-by-word-repartition";
            assertEquals(Set.of(changelog, repartition), internalTopicsOf(app));
            assertEquals("compact", topicConfig(changelog, "cleanup.policy"));
            assertEquals("delete", topicConfig(repartition, "cleanup.policy"));
            for (String topic : List.of(changelog, repartition)) {
                TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                assertEquals(PARTITIONS, d.partitions().size(), topic);
                d.partitions().forEach(p -> assertEquals(3, p.replicas().size(), topic + " replicas"));
            }

            // A fresh state directory: the second instance can only know the
            // counts so far by restoring them from the changelog.
            lines.send(2000, 3000);
            try (RunningApp second = RunningApp.start(app, "alos-lines", "alos-counts", StreamsConfig.AT_LEAST_ONCE, tmp.resolve("state-2"))) {
                out.awaitLatest(WordCount.expectedCounts(3000), Duration.ofSeconds(90));
                assertTrue(second.restoredRecords.get() > 0, "the count store was restored from the changelog");
            }
            assertEveryUpdateCountsOnce(out.all(), WordCount.expectedCounts(3000));
        }
    }

    @Test
    void exactlyOnceCountsAreExactThroughKill9OfABroker(@TempDir Path tmp) throws Exception {
        String app = "wordcount-eos";
        int total = 6000;
        createTopics("eos-lines", "eos-counts");
        try (CountUpdates out = new CountUpdates(cluster.bootstrap(), "eos-counts", PARTITIONS);
             RunningApp running = RunningApp.start(app, "eos-lines", "eos-counts", StreamsConfig.EXACTLY_ONCE_V2, tmp.resolve("state"));
             LineProducer lines = new LineProducer(cluster.bootstrap(), "eos-lines")) {
            // Input keeps arriving for ~8 s, so the kill lands mid-processing.
            CompletableFuture<Void> input = CompletableFuture.runAsync(() -> {
                try {
                    for (int from = 0; from < total; from += 150) {
                        lines.send(from, from + 150);
                        Thread.sleep(200);
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            Wait.until(Duration.ofSeconds(60), "first committed count updates", () -> {
                out.poll();
                return !out.all().isEmpty();
            });

            TopicPartition victimOf = new TopicPartition("eos-counts", 0);
            int victim = admin.describeTopics(List.of(victimOf.topic())).allTopicNames().get()
                .get(victimOf.topic()).partitions().get(0).leader().id();
            cluster.node(victim).kill9();
            assertFalse(input.isDone(), "the broker died while input was still being processed");
            Thread.sleep(3000); // processing goes on with two brokers
            cluster.restart(cluster.node(victim));

            input.get(120, TimeUnit.SECONDS);
            out.awaitLatest(WordCount.expectedCounts(total), Duration.ofSeconds(120));
            assertEveryUpdateCountsOnce(out.all(), WordCount.expectedCounts(total));
            assertEquals(List.of(), running.fatalErrors, "no stream thread died");
        }
    }

    /** Without a record cache each word's committed updates are exactly 1..n:
     *  a record counted twice, or an aborted update leaking, breaks the sequence. */
    private static void assertEveryUpdateCountsOnce(Map<String, List<Long>> updates, Map<String, Long> expected) {
        Map<String, List<Long>> wanted = new TreeMap<>();
        expected.forEach((word, n) -> wanted.put(word, LongStream.rangeClosed(1, n).boxed().toList()));
        assertEquals(wanted.keySet(), updates.keySet());
        for (String word : wanted.keySet()) {
            assertEquals(wanted.get(word), updates.get(word), "updates of " + word);
        }
    }

    private static void createTopics(String input, String output) throws Exception {
        admin.createTopics(List.of(new NewTopic(input, PARTITIONS, (short) 3), new NewTopic(output, PARTITIONS, (short) 3)))
            .all().get(30, TimeUnit.SECONDS);
    }

    private static Set<String> internalTopicsOf(String app) throws Exception {
        Set<String> names = new java.util.TreeSet<>(admin.listTopics().names().get(30, TimeUnit.SECONDS));
        names.removeIf(n -> !n.startsWith(app + "-"));
        return names;
    }

    private static String topicConfig(String topic, String name) throws Exception {
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = admin.describeConfigs(List.of(r)).all().get(30, TimeUnit.SECONDS).get(r);
        return config.get(name).value();
    }

    /** A started KafkaStreams instance that records restores and stream-thread
     *  deaths (a dead thread is replaced, as an operator would configure). */
    private static final class RunningApp implements AutoCloseable {
        final KafkaStreams streams;
        final AtomicLong restoredRecords = new AtomicLong();
        final List<String> fatalErrors = Collections.synchronizedList(new ArrayList<>());

        private RunningApp(KafkaStreams streams) {
            this.streams = streams;
        }

        static RunningApp start(String app, String input, String output, String guarantee, Path stateDir) throws Exception {
            KafkaStreams streams = new KafkaStreams(WordCount.topology(input, output),
                WordCount.config(cluster.bootstrap(), app, guarantee, stateDir));
            RunningApp running = new RunningApp(streams);
            streams.setGlobalStateRestoreListener(new StateRestoreListener() {
                @Override
                public void onRestoreStart(TopicPartition tp, String store, long start, long end) {}

                @Override
                public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long restored) {
                    running.restoredRecords.addAndGet(restored);
                }

                @Override
                public void onRestoreEnd(TopicPartition tp, String store, long total) {}
            });
            streams.setUncaughtExceptionHandler(e -> {
                running.fatalErrors.add(String.valueOf(e));
                return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
            });
            streams.start();
            try {
                Wait.until(Duration.ofSeconds(60), () -> ": state " + streams.state(),
                    () -> streams.state() == KafkaStreams.State.RUNNING);
            } catch (AssertionError e) {
                running.close();
                throw e;
            }
            return running;
        }

        @Override
        public void close() {
            assertTrue(streams.close(Duration.ofSeconds(30)), "Kafka Streams closed within 30 s");
        }
    }
}
