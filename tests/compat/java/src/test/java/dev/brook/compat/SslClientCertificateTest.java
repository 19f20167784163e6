package dev.brook.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Kafka's Java client over SSL with a client certificate (PEM keystore and
 *  truststore, ssl.client.auth=required): produce and consume; a client
 *  without a certificate is refused. Certificates come from tests/compat/certs.py. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SslClientCertificateTest {
    /** A test CA, server and client (alice) certificates from tests/compat/certs.py. */
    static Path makeCerts() throws Exception {
        Path dir = Files.createTempDirectory("brook-java-certs-");
        Path script = Paths.get(System.getProperty("user.dir")).resolve("../certs.py").normalize();
        Process p = new ProcessBuilder("python3", script.toString(), dir.toString()).inheritIO().start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "certs.py failed");
        return dir;
    }

    private static Properties ssl(String bootstrap, Path certs, boolean withCertificate) throws Exception {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SSL");
        p.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PEM");
        p.put(SslConfigs.SSL_TRUSTSTORE_CERTIFICATES_CONFIG, Files.readString(certs.resolve("ca/ca.pem")));
        if (withCertificate) {
            p.put(SslConfigs.SSL_KEYSTORE_TYPE_CONFIG, "PEM");
            p.put(SslConfigs.SSL_KEYSTORE_CERTIFICATE_CHAIN_CONFIG, Files.readString(certs.resolve("alice/cert.pem")));
            p.put(SslConfigs.SSL_KEYSTORE_KEY_CONFIG, Files.readString(certs.resolve("alice/key.pem")));
        }
        p.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        return p;
    }

    @Test
    void produceAndConsumeOverSslWithClientCertificate() throws Exception {
        Path certs = makeCerts();
        try (Cluster cluster = Cluster.start(1, Map.of(
                "ssl.keystore.location", certs.resolve("server/keystore.pem").toString(),
                "ssl.truststore.location", certs.resolve("ca/ca.pem").toString(),
                "ssl.client.auth", "required"))) {
            String bootstrap = cluster.sslBootstrap();
            try (Admin admin = Admin.create(ssl(bootstrap, certs, true))) {
                admin.createTopics(List.of(new NewTopic("java-ssl", 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
                // Metadata on the SSL listener names the SSL endpoint.
                String host = admin.describeCluster().nodes().get(30, TimeUnit.SECONDS).iterator().next().host();
                int port = admin.describeCluster().nodes().get(30, TimeUnit.SECONDS).iterator().next().port();
                assertEquals(bootstrap, host + ":" + port);
            }
            Properties pp = ssl(bootstrap, certs, true);
            pp.put(ProducerConfig.ACKS_CONFIG, "all");
            try (KafkaProducer<String, String> producer =
                     new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
                for (int i = 0; i < 100; i++) {
                    producer.send(new ProducerRecord<>("java-ssl", "k" + i, "v" + i)).get(30, TimeUnit.SECONDS);
                }
            }
            Properties cp = ssl(bootstrap, certs, true);
            cp.put(ConsumerConfig.GROUP_ID_CONFIG, "java-ssl-group");
            cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            List<String> values = new ArrayList<>();
            try (KafkaConsumer<String, String> consumer =
                     new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
                consumer.subscribe(List.of("java-ssl"));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (values.size() < 100 && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                        values.add(r.value());
                    }
                }
            }
            assertEquals(100, values.size());
            for (int i = 0; i < 100; i++) {
                assertEquals("v" + i, values.get(i));
            }
            // Without a client certificate the handshake fails.
            Properties noCert = ssl(bootstrap, certs, false);
            noCert.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, "5000");
            noCert.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, "8000");
            try (Admin admin = Admin.create(noCert)) {
                assertThrows(ExecutionException.class,
                    () -> admin.listTopics().names().get(15, TimeUnit.SECONDS));
            }
        }
    }
}
