package dev.brook.apps;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ClassicGroupDescription;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.ClassicGroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A Kafka Connect distributed worker with the FileStream connectors moves
 *  a 100,000-line file into a Brook topic and back out into a file; a
 *  restarted worker resumes, and a second worker takes a share of the work. */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ConnectFileRoundTripTest {
    private static final ConnectWorker.Cluster WORKERS = new ConnectWorker.Cluster("brook-connect", false);
    private static final String TOPIC = "connect-lines";
    private static final int LINES = 100_000;
    private static final int LINES_AFTER_RESTART = 1_000;
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
    void fileGoesThroughBrookAndBackInOrderAndResumesAfterWorkerRestart(@TempDir Path tmp) throws Exception {
        // One partition: the sink sees the lines in the order the source read them.
        admin.createTopics(List.of(new NewTopic(TOPIC, 1, (short) 3))).all().get(30, TimeUnit.SECONDS);
        Path input = tmp.resolve("input.txt");
        Path output = tmp.resolve("output.txt");
        appendLines(input, 0, LINES);

        try (ConnectWorker worker = ConnectWorker.start(cluster.bootstrap(), WORKERS)) {
            worker.createConnector("file-source", Map.of(
                "connector.class", "org.apache.kafka.connect.file.FileStreamSourceConnector",
                "tasks.max", "1", "file", input.toString(), "topic", TOPIC));
            worker.createConnector("file-sink", Map.of(
                "connector.class", "org.apache.kafka.connect.file.FileStreamSinkConnector",
                "tasks.max", "1", "file", output.toString(), "topics", TOPIC));
            awaitLines(output, LINES, Duration.ofSeconds(120));
            assertTrue(worker.isRunning("file-source") && worker.isRunning("file-sink"));

            assertWorkerGroupUsesConnectProtocol();
            assertInternalTopicsCompacted();
        }
        assertNull(ConnectWorker.exitCalled());
        assertEquals(Files.readAllLines(input), Files.readAllLines(output), "the file came back, every line in order");

        // Lines written while no worker runs arrive after the restart, once:
        // the new worker reads the connectors from the config topic and
        // resumes from the source offsets and the sink group's commits.
        appendLines(input, LINES, LINES + LINES_AFTER_RESTART);
        try (ConnectWorker restarted = ConnectWorker.start(cluster.bootstrap(), WORKERS)) {
            awaitLines(output, LINES + LINES_AFTER_RESTART, Duration.ofSeconds(60));

            // A second worker joins the group: the connect protocol's
            // rebalance gives it a share of the connectors and tasks.
            try (ConnectWorker second = ConnectWorker.start(cluster.bootstrap(), WORKERS)) {
                Set<String> both = Set.of(restarted.workerId(), second.workerId());
                Wait.until(Duration.ofSeconds(60), () -> ": workers " + workersOf(restarted), () ->
                    restarted.isRunning("file-source") && restarted.isRunning("file-sink") && workersOf(restarted).equals(both));
                assertEquals(2, describeWorkerGroup().members().size());
                appendLines(input, LINES + LINES_AFTER_RESTART, LINES + 2 * LINES_AFTER_RESTART);
                awaitLines(output, LINES + 2 * LINES_AFTER_RESTART, Duration.ofSeconds(60));
                Thread.sleep(2000); // four offset flushes: a duplicate would show up by now
            }
        }
        assertNull(ConnectWorker.exitCalled());
        assertEquals(Files.readAllLines(input), Files.readAllLines(output), "nothing lost or duplicated across the restart");
    }

    /** KIP-618: the source task writes each poll's lines and their offsets
     *  in one transaction (transactional id `<group>-<connector>-<task>`),
     *  the worker's leader writes connector configs transactionally, and a
     *  restarted worker fences the old task producers before resuming. */
    @Test
    void exactlyOnceSourceMovesTheFileInCommittedTransactions(@TempDir Path tmp) throws Exception {
        ConnectWorker.Cluster workers = new ConnectWorker.Cluster("brook-connect-eos", true);
        String topic = "connect-eos-lines";
        int lines = 20_000;
        admin.createTopics(List.of(new NewTopic(topic, 1, (short) 3))).all().get(30, TimeUnit.SECONDS);
        Path input = tmp.resolve("input.txt");
        Path output = tmp.resolve("output.txt");
        appendLines(input, 0, lines);

        try (ConnectWorker worker = ConnectWorker.start(cluster.bootstrap(), workers)) {
            worker.createConnector("eos-source", Map.of(
                "connector.class", "org.apache.kafka.connect.file.FileStreamSourceConnector",
                "exactly.once.support", "required",
                "tasks.max", "1", "file", input.toString(), "topic", topic));
            worker.createConnector("eos-sink", Map.of(
                "connector.class", "org.apache.kafka.connect.file.FileStreamSinkConnector",
                "consumer.override.isolation.level", "read_committed",
                "tasks.max", "1", "file", output.toString(), "topics", topic));
            awaitLines(output, lines, Duration.ofSeconds(90));
            Set<String> transactionalIds = new java.util.TreeSet<>();
            admin.listTransactions().all().get(30, TimeUnit.SECONDS).forEach(t -> transactionalIds.add(t.transactionalId()));
            assertTrue(transactionalIds.contains(workers.group() + "-eos-source-0"), "source task producer in " + transactionalIds);
        }
        assertEquals(Files.readAllLines(input), Files.readAllLines(output), "the file came back, every line in order");

        appendLines(input, lines, lines + LINES_AFTER_RESTART);
        try (ConnectWorker restarted = ConnectWorker.start(cluster.bootstrap(), workers)) {
            awaitLines(output, lines + LINES_AFTER_RESTART, Duration.ofSeconds(60));
            Thread.sleep(2000); // four offset flushes: a duplicate would show up by now
            assertTrue(restarted.isRunning("eos-source") && restarted.isRunning("eos-sink"));
        }
        assertNull(ConnectWorker.exitCalled());
        assertEquals(Files.readAllLines(input), Files.readAllLines(output), "nothing lost or duplicated across the restart");
    }

    /** Every worker running a connector or task of the file round trip. */
    private static Set<String> workersOf(ConnectWorker worker) {
        Set<String> workers = new java.util.TreeSet<>(worker.workersOf("file-source"));
        workers.addAll(worker.workersOf("file-sink"));
        return workers;
    }

    private static ClassicGroupDescription describeWorkerGroup() throws Exception {
        return admin.describeClassicGroups(List.of(WORKERS.group())).all().get(30, TimeUnit.SECONDS).get(WORKERS.group());
    }

    /** The worker joined a classic group whose protocol type is "connect",
     *  and agreed on Connect's "sessioned" assignment protocol. */
    private static void assertWorkerGroupUsesConnectProtocol() throws Exception {
        Collection<GroupListing> groups = admin.listGroups().all().get(30, TimeUnit.SECONDS);
        GroupListing listing = groups.stream().filter(g -> g.groupId().equals(WORKERS.group())).findFirst()
            .orElseThrow(() -> new AssertionError("no group " + WORKERS.group() + " in " + groups));
        assertEquals("connect", listing.protocol());
        assertEquals(GroupType.CLASSIC, listing.type().orElseThrow());

        ClassicGroupDescription group = describeWorkerGroup();
        assertEquals("connect", group.protocol());
        assertEquals("sessioned", group.protocolData());
        assertEquals(ClassicGroupState.STABLE, group.state());
        assertEquals(1, group.members().size());
    }

    /** Connect's three internal topics, as it created them: compacted, RF=3. */
    private static void assertInternalTopicsCompacted() throws Exception {
        Map<String, Integer> partitions = Map.of(
            WORKERS.configTopic(), 1,
            WORKERS.offsetTopic(), ConnectWorker.OFFSET_PARTITIONS,
            WORKERS.statusTopic(), ConnectWorker.STATUS_PARTITIONS);
        List<ConfigResource> resources = new ArrayList<>();
        partitions.keySet().forEach(t -> resources.add(new ConfigResource(ConfigResource.Type.TOPIC, t)));
        Map<ConfigResource, Config> configs = admin.describeConfigs(resources).all().get(30, TimeUnit.SECONDS);
        Map<String, TopicDescription> topics = admin.describeTopics(partitions.keySet()).allTopicNames().get(30, TimeUnit.SECONDS);
        for (ConfigResource r : resources) {
            assertEquals("compact", configs.get(r).get("cleanup.policy").value(), r.name());
            TopicDescription d = topics.get(r.name());
            assertEquals(partitions.get(r.name()), d.partitions().size(), r.name());
            d.partitions().forEach(p -> assertEquals(3, p.replicas().size(), r.name() + " replicas"));
        }
    }

    private static void appendLines(Path file, int from, int to) throws IOException {
        StringBuilder text = new StringBuilder();
        for (int i = from; i < to; i++) {
            text.append("line ").append(i).append(" of the file that feeds Hadoop in miniature\n");
        }
        Files.writeString(file, text, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    private static void awaitLines(Path file, int count, Duration timeout) throws InterruptedException {
        long[] seen = {0};
        Wait.until(timeout, () -> ": " + seen[0] + " of " + count + " lines in " + file + "; exit: " + ConnectWorker.exitCalled(), () -> {
            if (!Files.exists(file)) {
                return false;
            }
            try (var lines = Files.lines(file)) {
                seen[0] = lines.count();
            }
            return seen[0] >= count;
        });
    }
}
