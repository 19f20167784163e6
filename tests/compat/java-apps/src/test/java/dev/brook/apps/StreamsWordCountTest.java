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
    void exactlyOnceCountsAreExactThroughKill9OfBrokers(@TempDir Path tmp) throws Exception {
        String app = "wordcount-eos";
        int total = 9000;
        createTopics("eos-lines", "eos-counts");
        try (CountUpdates out = new CountUpdates(cluster.bootstrap(), "eos-counts", PARTITIONS);
             LineProducer lines = new LineProducer(cluster.bootstrap(), "eos-lines")) {
            try (RunningApp running = RunningApp.start(app, "eos-lines", "eos-counts", StreamsConfig.EXACTLY_ONCE_V2, tmp.resolve("state-1"))) {
                // Input keeps arriving for ~12 s, so both kills land mid-processing.
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

                // First the transaction coordinator of a stream thread's producer
                // (its open transaction must be completed by the new coordinator),
                // then the leader of an output partition.
                int coordinator = transactionCoordinatorOf(app);
                killAndRestart(coordinator, input);
                int leader = admin.describeTopics(List.of("eos-counts")).allTopicNames().get()
                    .get("eos-counts").partitions().get(0).leader().id();
                killAndRestart(leader, input);

                input.get(120, TimeUnit.SECONDS);
                out.awaitLatest(WordCount.expectedCounts(total), Duration.ofSeconds(120));
                assertEveryUpdateCountsOnce(out.all(), WordCount.expectedCounts(total));
                assertEquals(List.of(), running.fatalErrors, "no stream thread died");
            }

            // A new instance with an empty state directory restores the counts
            // from the changelog, where the kills may have left aborted
            // transactions: under EOS the restore reads committed records only.
            lines.send(total, total + 1500);
            try (RunningApp restored = RunningApp.start(app, "eos-lines", "eos-counts", StreamsConfig.EXACTLY_ONCE_V2, tmp.resolve("state-2"))) {
                out.awaitLatest(WordCount.expectedCounts(total + 1500), Duration.ofSeconds(90));
                assertTrue(restored.restoredRecords.get() > 0, "the count store was restored from the changelog");
            }
            assertEveryUpdateCountsOnce(out.all(), WordCount.expectedCounts(total + 1500));
        }
    }

    /** kill -9 of node `id` while input still flows, 3 s of processing on two
     *  brokers, restart, and wait until it is back in every ISR (so the next
     *  kill leaves two in-sync replicas, min.insync.replicas). */
    private static void killAndRestart(int id, CompletableFuture<Void> input) throws Exception {
        cluster.node(id).kill9();
        assertFalse(input.isDone(), "node " + id + " died while input was still being processed");
        Thread.sleep(3000);
        cluster.restart(cluster.node(id));
        Wait.until(Duration.ofSeconds(60), "node " + id + " back in every ISR", () -> {
            Set<String> topics = admin.listTopics().names().get(10, TimeUnit.SECONDS);
            return admin.describeTopics(topics).allTopicNames().get(10, TimeUnit.SECONDS).values().stream()
                .flatMap(d -> d.partitions().stream())
                .allMatch(p -> p.isr().size() == p.replicas().size());
        });
    }

    /** The coordinator of one of the application's transactional producers
     *  (EOS v2: one per stream thread, ids start with the application id). */
    private static int transactionCoordinatorOf(String app) throws Exception {
        List<String> ids = new ArrayList<>();
        Wait.until(Duration.ofSeconds(30), "a transactional id of " + app, () -> {
            admin.listTransactions().all().get(10, TimeUnit.SECONDS).stream()
                .map(t -> t.transactionalId()).filter(id -> id.startsWith(app + "-")).sorted().forEach(ids::add);
            return !ids.isEmpty();
        });
        return admin.describeTransactions(List.of(ids.get(0))).all().get(10, TimeUnit.SECONDS)
            .get(ids.get(0)).coordinatorId();
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
