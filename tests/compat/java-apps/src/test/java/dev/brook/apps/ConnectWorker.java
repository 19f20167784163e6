package dev.brook.apps;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.common.utils.Exit;
import org.apache.kafka.connect.cli.ConnectDistributed;
import org.apache.kafka.connect.runtime.Connect;
import org.apache.kafka.connect.runtime.distributed.DistributedHerder;
import org.apache.kafka.connect.runtime.rest.entities.ConnectorStateInfo;
import org.apache.kafka.connect.util.FutureCallback;

/** A Kafka Connect distributed worker running in this JVM, started as
 *  `connect-distributed.sh` would start it (ConnectDistributed). */
final class ConnectWorker implements AutoCloseable {
    static final int OFFSET_PARTITIONS = 5;
    static final int STATUS_PARTITIONS = 3;

    /** A Connect cluster: its group and internal topics, and whether source
     *  tasks write in transactions (KIP-618 exactly-once source support). */
    record Cluster(String group, boolean exactlyOnceSource) {
        String configTopic() {
            return group + "-configs";
        }

        String offsetTopic() {
            return group + "-offsets";
        }

        String statusTopic() {
            return group + "-status";
        }
    }

    /** Connect exits the JVM when its herder dies: record it and fail the test instead. */
    private static final AtomicReference<String> EXIT = new AtomicReference<>();

    static {
        Exit.setExitProcedure((code, message) -> {
            EXIT.set("Connect called exit(" + code + "): " + message);
            throw new IllegalStateException(EXIT.get());
        });
    }

    private final Connect<DistributedHerder> connect;

    private ConnectWorker(Connect<DistributedHerder> connect) {
        this.connect = connect;
    }

    static ConnectWorker start(String bootstrap, Cluster cluster) throws IOException {
        Map<String, String> props = Map.ofEntries(
            Map.entry("bootstrap.servers", bootstrap),
            Map.entry("group.id", cluster.group()),
            Map.entry("exactly.once.source.support", cluster.exactlyOnceSource() ? "enabled" : "disabled"),
            Map.entry("key.converter", "org.apache.kafka.connect.storage.StringConverter"),
            Map.entry("value.converter", "org.apache.kafka.connect.storage.StringConverter"),
            Map.entry("config.storage.topic", cluster.configTopic()),
            Map.entry("config.storage.replication.factor", "3"),
            Map.entry("offset.storage.topic", cluster.offsetTopic()),
            Map.entry("offset.storage.replication.factor", "3"),
            Map.entry("offset.storage.partitions", Integer.toString(OFFSET_PARTITIONS)),
            Map.entry("status.storage.topic", cluster.statusTopic()),
            Map.entry("status.storage.replication.factor", "3"),
            Map.entry("status.storage.partitions", Integer.toString(STATUS_PARTITIONS)),
            Map.entry("offset.flush.interval.ms", "500"),
            // A departed worker's connectors and tasks move after 1 s, not 5 min.
            Map.entry("scheduled.rebalance.max.delay.ms", "1000"),
            Map.entry("listeners", "http://127.0.0.1:" + freePort()),
            // Connectors come from the class path (connect-file), not a plugin directory.
            Map.entry("plugin.discovery", "service_load"));
        return new ConnectWorker(new ConnectDistributed().startConnect(props));
    }

    DistributedHerder herder() {
        return connect.herder();
    }

    void createConnector(String name, Map<String, String> config) throws Exception {
        // The REST layer adds "name" from the URL; the herder wants it in the config.
        Map<String, String> named = new java.util.HashMap<>(config);
        named.put("name", name);
        FutureCallback<Object> created = new FutureCallback<>();
        herder().putConnectorConfig(name, named, false, (error, result) -> created.onCompletion(error, result));
        created.get(60, TimeUnit.SECONDS);
    }

    /** True when the connector and each of its tasks run (and it has tasks). */
    boolean isRunning(String connector) {
        ConnectorStateInfo status = herder().connectorStatus(connector);
        List<ConnectorStateInfo.TaskState> tasks = status.tasks();
        return "RUNNING".equals(status.connector().state()) && !tasks.isEmpty()
            && tasks.stream().allMatch(t -> "RUNNING".equals(t.state()));
    }

    /** Connect's name for this worker in statuses: the REST server's host:port. */
    String workerId() {
        return connect.rest().advertisedUrl().getHost() + ":" + connect.rest().advertisedUrl().getPort();
    }

    /** The workers running the connector and each of its tasks. */
    java.util.Set<String> workersOf(String connector) {
        ConnectorStateInfo status = herder().connectorStatus(connector);
        java.util.Set<String> workers = new java.util.TreeSet<>();
        workers.add(status.connector().workerId());
        status.tasks().forEach(t -> workers.add(t.workerId()));
        return workers;
    }

    /** The reason Connect tried to exit the JVM, if it did. */
    static String exitCalled() {
        return EXIT.get();
    }

    @Override
    public void close() {
        // Stops the connectors and tasks, committing their offsets, then leaves the group.
        connect.stop();
        connect.awaitStop();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
