package dev.brook.apps;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/** Three combined broker+controller `brook server` processes on loopback
 *  ports (as tests/compat/cluster.py), each with its own data directory.
 *  close() stops every process it started and deletes the directory. */
final class BrookCluster implements AutoCloseable {
    /** Fast failure detection and group joins (cluster.py's FAST_SETTINGS), and
     *  internal topics at RF=3 so that any one broker may die. */
    static final Map<String, String> SETTINGS = Map.of(
        "broker.session.timeout.ms", "4000",
        "broker.heartbeat.interval.ms", "500",
        "group.initial.rebalance.delay.ms", "0",
        "group.min.session.timeout.ms", "1000",
        "offsets.topic.replication.factor", "3",
        "transaction.state.log.replication.factor", "3",
        "transaction.state.log.min.isr", "2",
        "min.insync.replicas", "2");

    private final Path dir;
    private final List<BrookNode> nodes = new ArrayList<>();
    private final String voters;

    private BrookCluster(Path dir) throws IOException {
        this.dir = dir;
        List<Integer> ports = BrookNode.freePorts(6);
        for (int id = 1; id <= 3; id++) {
            nodes.add(new BrookNode(id, dir, ports.get(2 * id - 2), ports.get(2 * id - 1)));
        }
        this.voters = nodes.stream().map(BrookNode::voter).collect(Collectors.joining(","));
    }

    /** Starts a fresh cluster; once more on new ports if another process
     *  took a chosen port between choosing and binding (other test suites
     *  share this machine). */
    static BrookCluster start() throws Exception {
        for (int attempt = 1; ; attempt++) {
            BrookCluster cluster = new BrookCluster(Files.createTempDirectory("brook-apps-"));
            try {
                cluster.startNodes();
                return cluster;
            } catch (Exception | AssertionError e) {
                boolean portTaken = cluster.nodes.stream().anyMatch(BrookNode::lostItsPort);
                cluster.close();
                if (!portTaken || attempt == 3) {
                    throw e;
                }
            }
        }
    }

    private void startNodes() throws Exception {
        for (BrookNode node : nodes) {
            node.spawn(voters, SETTINGS);
        }
        for (BrookNode node : nodes) {
            node.awaitListening(60_000);
        }
        awaitAllBrokersRegistered();
    }

    String bootstrap() {
        return nodes.stream().map(BrookNode::bootstrap).collect(Collectors.joining(","));
    }

    BrookNode node(int id) {
        return nodes.get(id - 1);
    }

    Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
        return Admin.create(p);
    }

    /** Restarts a node (after kill9 or stop) with its old ports and data. */
    void restart(BrookNode node) throws Exception {
        node.spawn(voters, SETTINGS);
        node.awaitListening(60_000);
    }

    /** Topics at RF=3 need three live brokers: wait until the cluster lists them all. */
    void awaitAllBrokersRegistered() throws Exception {
        try (Admin admin = admin()) {
            Wait.until(java.time.Duration.ofSeconds(60), "3 registered brokers",
                () -> admin.describeCluster().nodes().get().size() == 3);
        }
    }

    String logs() {
        return nodes.stream().map(n -> "--- node " + n.id + " ---\n" + n.logTail()).collect(Collectors.joining("\n"));
    }

    @Override
    public void close() throws Exception {
        for (BrookNode node : nodes) {
            node.stop();
        }
        if (!Boolean.getBoolean("brook.keepData")) {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
