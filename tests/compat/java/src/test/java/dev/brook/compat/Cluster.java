package dev.brook.compat;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Node;

/** Real `brook server` processes on ephemeral loopback ports, each with its
 *  own data directory and log file; the Java twin of tests/compat/cluster.py.
 *
 *  <p>One node runs as a user starts Brook: `brook server` with a PLAINTEXT
 *  listener and nothing else. Three nodes are combined broker+controller
 *  nodes (ids 1..3, all voters). Every process is stopped by its handle in
 *  {@link #close()}, also when a test failed; every wait has a deadline. */
final class Cluster implements AutoCloseable {
    /** Fast failure detection and group joins, as FAST_SETTINGS in cluster.py. */
    static final Map<String, String> FAST_SETTINGS = Map.of(
        "broker.session.timeout.ms", "4000",
        "broker.heartbeat.interval.ms", "500",
        "group.initial.rebalance.delay.ms", "0",
        "group.min.session.timeout.ms", "1000");

    private static final long READY_SECONDS = 60;
    private static final long STOP_SECONDS = 30;

    final Path dir;
    private final Map<Integer, NodeProcess> nodes = new TreeMap<>();
    private final Map<String, String> settings;

    private Cluster(Path dir, int size, Map<String, String> settings) {
        this.dir = dir;
        this.settings = settings;
        for (int id = 1; id <= size; id++) {
            nodes.put(id, new NodeProcess(id, freePort(), size == 1 ? 0 : freePort(), dir.resolve("node" + id)));
        }
    }

    /** Starts `size` nodes (1, or 3 voters) and waits until every broker is
     *  registered: DescribeCluster through any node lists them all. */
    static Cluster start(int size, Map<String, String> extra) throws Exception {
        Map<String, String> settings = new LinkedHashMap<>(FAST_SETTINGS);
        settings.putAll(extra);
        Cluster cluster = new Cluster(Files.createTempDirectory("brook-java-cluster-"), size, settings);
        try {
            for (NodeProcess node : cluster.nodes.values()) {
                node.spawn();
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(READY_SECONDS);
            for (NodeProcess node : cluster.nodes.values()) {
                node.awaitListening(deadline);
            }
            cluster.awaitBrokers(cluster.nodes.keySet(), deadline);
            return cluster;
        } catch (Exception | Error e) {
            cluster.close();
            throw e;
        }
    }

    int size() {
        return nodes.size();
    }

    Set<Integer> nodeIds() {
        return new TreeSet<>(nodes.keySet());
    }

    /** Every running node's PLAINTEXT address. */
    String bootstrap() {
        return nodes.values().stream().filter(NodeProcess::running)
            .map(n -> "127.0.0.1:" + n.port).collect(Collectors.joining(","));
    }

    /** Every running node's SASL_PLAINTEXT address (settings with sasl.enabled.mechanisms). */
    String saslBootstrap() {
        return nodes.values().stream().filter(NodeProcess::running)
            .map(n -> "127.0.0.1:" + n.saslPort).collect(Collectors.joining(","));
    }

    /** Every running node's SASL_SSL address (settings with both a keystore and SASL mechanisms). */
    String saslSslBootstrap() {
        return nodes.values().stream().filter(NodeProcess::running)
            .map(n -> "127.0.0.1:" + n.saslSslPort).collect(Collectors.joining(","));
    }

    /** Every running node's SSL address (settings with ssl.keystore.location). */
    String sslBootstrap() {
        return nodes.values().stream().filter(NodeProcess::running)
            .map(n -> "127.0.0.1:" + n.sslPort).collect(Collectors.joining(","));
    }

        /** SIGTERM, then SIGKILL after a bounded wait; the node's data stays. */
    void stop(int id) throws Exception {
        nodes.get(id).stop();
    }

    /** Starts a stopped node again on its ports and data, and waits until it
     *  listens and the cluster lists it as a broker again. */
    void start(int id) throws Exception {
        NodeProcess node = nodes.get(id);
        node.spawn();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(READY_SECONDS);
        node.awaitListening(deadline);
        awaitBrokers(nodeIds(), deadline);
    }

    private void awaitBrokers(Set<Integer> ids, long deadlineNanos) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
        try (Admin admin = Admin.create(p)) {
            Set<Integer> seen = Set.of();
            while (System.nanoTime() < deadlineNanos) {
                try {
                    seen = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).stream()
                        .map(Node::id).collect(Collectors.toCollection(TreeSet::new));
                    if (seen.equals(ids)) {
                        return;
                    }
                } catch (Exception notYet) {
                    // the quorum may still be electing its first leader
                }
                Thread.sleep(100);
            }
            throw new IllegalStateException("brokers " + ids + " not all registered in time (saw " + seen + ")\n"
                + logs());
        }
    }

    /** The tail of every node's log, for failure messages. */
    String logs() {
        StringBuilder out = new StringBuilder();
        for (NodeProcess node : nodes.values()) {
            out.append("--- node ").append(node.id).append(" ---\n").append(node.logTail());
        }
        return out.toString();
    }

    @Override
    public void close() throws Exception {
        for (NodeProcess node : nodes.values()) {
            try {
                node.stop();
            } catch (Exception ignored) {
                // stop the others regardless
            }
        }
        if (Boolean.getBoolean("brook.keep")) {
            System.err.println("brook.keep: cluster files stay in " + dir);
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String binary() {
        String configured = System.getenv("BROOK_TEST_BINARY");
        if (configured != null && !configured.isEmpty()) {
            return configured;
        }
        // tests/compat/java -> repository root
        Path root = Paths.get("").toAbsolutePath().getParent().getParent().getParent();
        return root.resolve("target/debug/brook").toString();
    }

    /** One `brook server` process; controllerPort 0 means a lone node. */
    private final class NodeProcess {
        final int id;
        final int port;
        final int controllerPort;
        /** An SSL listener's port, used when the settings carry a keystore. */
        final int sslPort = freePort();
        /** A SASL_PLAINTEXT listener's port, used when the settings enable SASL mechanisms. */
        final int saslPort = freePort();
        /** A SASL_SSL listener's port, used when the settings carry a keystore and SASL mechanisms. */
        final int saslSslPort = freePort();
        final Path dataDir;
        final File log;
        private Process process;

        NodeProcess(int id, int port, int controllerPort, Path dataDir) {
            this.id = id;
            this.port = port;
            this.controllerPort = controllerPort;
            this.dataDir = dataDir;
            this.log = dataDir.resolveSibling("node" + id + ".log").toFile();
        }

        Map<String, String> properties() {
            Map<String, String> p = new LinkedHashMap<>();
            p.put("log.dirs", dataDir.toString());
            if (controllerPort == 0) {
                p.put("listeners", "PLAINTEXT://127.0.0.1:" + port);
            } else {
                p.put("node.id", Integer.toString(id));
                p.put("process.roles", "broker,controller");
                p.put("listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
                p.put("controller.listener.names", "CONTROLLER");
                p.put("controller.quorum.voters", nodes.values().stream()
                    .map(n -> n.id + "@127.0.0.1:" + n.controllerPort).collect(Collectors.joining(",")));
            }
            p.putAll(settings);
            if (settings.containsKey("ssl.keystore.location")) {
                p.put("listeners", p.get("listeners") + ",SSL://127.0.0.1:" + sslPort);
            }
            if (settings.containsKey("sasl.enabled.mechanisms")) {
                p.put("listeners", p.get("listeners") + ",SASL_PLAINTEXT://127.0.0.1:" + saslPort);
            }
            if (settings.containsKey("ssl.keystore.location") && settings.containsKey("sasl.enabled.mechanisms")) {
                p.put("listeners", p.get("listeners") + ",SASL_SSL://127.0.0.1:" + saslSslPort);
            }
            return p;
        }

        void spawn() throws IOException {
            if (running()) {
                throw new IllegalStateException("node " + id + " is already running");
            }
            List<String> args = new ArrayList<>(List.of(binary(), "server"));
            properties().forEach((k, v) -> args.addAll(List.of("--set", k + "=" + v)));
            ProcessBuilder pb = new ProcessBuilder(args);
            // The broker treats every BROOK_* variable as a property: pass none but the log filter.
            pb.environment().keySet().removeIf(k -> k.startsWith("BROOK_") && !k.equals("BROOK_LOG"));
            pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log));
            process = pb.start();
        }

        void awaitListening(long deadlineNanos) throws Exception {
            while (System.nanoTime() < deadlineNanos) {
                if (!process.isAlive()) {
                    throw new IllegalStateException("node " + id + " exited with " + process.exitValue() + ":\n"
                        + logTail());
                }
                try (Socket socket = new Socket()) {
                    socket.connect(new InetSocketAddress("127.0.0.1", port), 500);
                    return;
                } catch (IOException notYet) {
                    Thread.sleep(50);
                }
            }
            throw new IllegalStateException("node " + id + " did not listen in time:\n" + logTail());
        }

        boolean running() {
            return process != null && process.isAlive();
        }

        void stop() throws InterruptedException {
            if (process == null) {
                return;
            }
            process.destroy();
            if (!process.waitFor(STOP_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(STOP_SECONDS, TimeUnit.SECONDS);
            }
        }

        String logTail() {
            try {
                String text = Files.readString(log.toPath());
                return text.substring(Math.max(0, text.length() - 4000));
            } catch (IOException e) {
                return "(no log: " + e + ")\n";
            }
        }
    }
}
