package dev.brook.apps;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** One `brook server` process, broker and controller in one, of a {@link BrookCluster}:
 *  its ports and data directory survive restarts; only the process changes. */
final class BrookNode {
    final int id;
    final int port;
    final int controllerPort;
    private final Path dataDir;
    private final Path logFile;
    private Process process;

    BrookNode(int id, Path clusterDir, int port, int controllerPort) {
        this.id = id;
        this.port = port;
        this.controllerPort = controllerPort;
        this.dataDir = clusterDir.resolve("node" + id);
        this.logFile = clusterDir.resolve("node" + id + ".log");
    }

    String bootstrap() {
        return "127.0.0.1:" + port;
    }

    String voter() {
        return id + "@127.0.0.1:" + controllerPort;
    }

    /** Spawns the process without waiting for it to listen. */
    void spawn(String voters, Map<String, String> settings) throws IOException {
        if (isAlive()) {
            throw new IllegalStateException("node " + id + " is already running");
        }
        List<String> args = new ArrayList<>(List.of(binary(), "server"));
        Map<String, String> all = new java.util.LinkedHashMap<>(settings);
        all.put("node.id", Integer.toString(id));
        all.put("process.roles", "broker,controller");
        all.put("listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
        all.put("controller.listener.names", "CONTROLLER");
        all.put("controller.quorum.voters", voters);
        all.put("log.dirs", dataDir.toString());
        all.forEach((k, v) -> {
            args.add("--set");
            args.add(k + "=" + v);
        });
        ProcessBuilder pb = new ProcessBuilder(args);
        // The broker treats every BROOK_* variable as a property: pass none but the log filter.
        pb.environment().keySet().removeIf(k -> k.startsWith("BROOK_") && !k.equals("BROOK_LOG"));
        File log = logFile.toFile();
        pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log));
        process = pb.start();
    }

    /** Waits (bounded) until the client listener accepts connections. */
    void awaitListening(long timeoutMillis) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (System.currentTimeMillis() < deadline) {
            if (!isAlive()) {
                throw new IllegalStateException("node " + id + " exited: " + logTail());
            }
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return;
            } catch (IOException notYet) {
                Thread.sleep(50);
            }
        }
        throw new IllegalStateException("node " + id + " did not listen within " + timeoutMillis + " ms: " + logTail());
    }

    boolean isAlive() {
        return process != null && process.isAlive();
    }

    /** SIGKILL: no shutdown, no flush, as a crash. */
    void kill9() throws InterruptedException {
        if (process != null) {
            process.destroyForcibly();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("node " + id + " survived SIGKILL for 30 s");
            }
        }
    }

    /** SIGTERM, then SIGKILL if it has not exited within 20 s. */
    void stop() throws InterruptedException {
        if (process == null || !process.isAlive()) {
            return;
        }
        process.destroy();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            kill9();
        }
    }

    String logTail() {
        try {
            String text = Files.readString(logFile);
            return text.substring(Math.max(0, text.length() - 4000));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    /** `count` distinct free loopback ports: every socket stays open until all are chosen. */
    static List<Integer> freePorts(int count) throws IOException {
        List<ServerSocket> sockets = new ArrayList<>();
        try {
            List<Integer> ports = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                sockets.add(s);
                ports.add(s.getLocalPort());
            }
            return ports;
        } finally {
            for (ServerSocket s : sockets) {
                s.close();
            }
        }
    }

    /** True when the process exited because a port it was given was taken meanwhile. */
    boolean lostItsPort() {
        return !isAlive() && logTail().contains("Address already in use");
    }

    private static String binary() {
        String configured = System.getenv("BROOK_TEST_BINARY");
        if (configured != null && !configured.isEmpty()) {
            return configured;
        }
        // tests/compat/java-apps -> repository root
        Path root = Paths.get("").toAbsolutePath().getParent().getParent().getParent();
        return root.resolve("target/debug/brook").toString();
    }
}
