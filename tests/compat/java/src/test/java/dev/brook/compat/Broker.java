package dev.brook.compat;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/** The real `brook` binary on an ephemeral loopback port with a temporary
 *  data directory, stopped by PID (its process handle) and deleted on close. */
final class Broker implements AutoCloseable {
    final int port;
    final Path dir;
    private final Process process;

    private Broker(int port, Path dir, Process process) {
        this.port = port;
        this.dir = dir;
        this.process = process;
    }

    static Broker start(Map<String, String> settings) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Path dir = Files.createTempDirectory("brook-java-");
        List<String> args = new ArrayList<>(List.of(binary(), "server",
            "--set", "log.dirs=" + dir.resolve("data"),
            "--set", "listeners=PLAINTEXT://127.0.0.1:" + port));
        settings.forEach((k, v) -> {
            args.add("--set");
            args.add(k + "=" + v);
        });
        ProcessBuilder pb = new ProcessBuilder(args);
        // The broker treats every BROOK_* variable as a property: pass none but the log filter.
        pb.environment().keySet().removeIf(k -> k.startsWith("BROOK_") && !k.equals("BROOK_LOG"));
        File log = dir.resolve("broker.log").toFile();
        pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log));
        Process process = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("broker exited: " + Files.readString(log.toPath()));
            }
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return new Broker(port, dir, process);
            } catch (IOException notYet) {
                Thread.sleep(50);
            }
        }
        process.destroyForcibly();
        throw new IllegalStateException("broker did not listen in time");
    }

    String bootstrap() {
        return "127.0.0.1:" + port;
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

    @Override
    public void close() throws Exception {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
