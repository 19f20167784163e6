package dev.brook.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Kafka's Java client over SASL_PLAINTEXT with SCRAM-SHA-512 (a user created
 *  with Admin.alterUserScramCredentials over PLAINTEXT) and PLAIN (JAAS users on
 *  the listener): produce and consume while the broker's
 *  connections.max.reauth.ms makes the client re-authenticate (KIP-368); a
 *  wrong password is refused with SaslAuthenticationException. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SaslTest {
    private static final String PLAIN_JAAS = "org.apache.kafka.common.security.plain.PlainLoginModule required "
        + "username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" user_alice=\"alice-secret\";";

    private static Properties sasl(String bootstrap, String mechanism, String user, String password) {
        String module = mechanism.equals("PLAIN") ? "org.apache.kafka.common.security.plain.PlainLoginModule"
            : "org.apache.kafka.common.security.scram.ScramLoginModule";
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
        p.put(SaslConfigs.SASL_MECHANISM, mechanism);
        p.put(SaslConfigs.SASL_JAAS_CONFIG,
            module + " required username=\"" + user + "\" password=\"" + password + "\";");
        p.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        return p;
    }

    /** Subscribes with `cp` and reads until `count` values arrive (60 s at most). */
    static List<String> readBack(Properties cp, String topic, int count) {
        List<String> got = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer =
                 new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (got.size() < count && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    got.add(r.value());
                }
            }
        }
        return got;
    }

    @Test
    void scramAndPlainWithReauthentication() throws Exception {
        try (Cluster cluster = Cluster.start(1, Map.of(
                "sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config", PLAIN_JAAS,
                "connections.max.reauth.ms", "2000"))) {
            Properties plaintext = new Properties();
            plaintext.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrap());
            try (Admin admin = Admin.create(plaintext)) {
                admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion("jane",
                    new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), "jane-secret")))
                    .all().get(30, TimeUnit.SECONDS);
                UserScramCredentialsDescription jane =
                    admin.describeUserScramCredentials(List.of("jane")).description("jane").get(30, TimeUnit.SECONDS);
                assertEquals(List.of(new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)),
                    jane.credentialInfos());
                admin.createTopics(List.of(new NewTopic("java-sasl-scram", 1, (short) 1),
                    new NewTopic("java-sasl-plain", 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
            }
            String bootstrap = cluster.saslBootstrap();
            for (String[] login : new String[][] {{"SCRAM-SHA-512", "jane", "jane-secret", "java-sasl-scram"},
                                                  {"PLAIN", "alice", "alice-secret", "java-sasl-plain"}}) {
                Properties pp = sasl(bootstrap, login[0], login[1], login[2]);
                pp.put(ProducerConfig.ACKS_CONFIG, "all");
                try (KafkaProducer<String, String> producer =
                         new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
                    // 20 records over ~5 s: longer than two session lifetimes on one connection.
                    for (int i = 0; i < 20; i++) {
                        producer.send(new ProducerRecord<>(login[3], "k" + i, login[1] + "-" + i))
                            .get(30, TimeUnit.SECONDS);
                        Thread.sleep(250);
                    }
                }
                Properties cp = sasl(bootstrap, login[0], login[1], login[2]);
                cp.put(ConsumerConfig.GROUP_ID_CONFIG, "java-sasl-" + login[1]);
                cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
                List<String> got = readBack(cp, login[3], 20);
                assertEquals(20, got.size(), "records read back as " + login[1]);
                assertEquals(login[1] + "-0", got.get(0));
                assertEquals(login[1] + "-19", got.get(19));
            }
            String logs = cluster.logs();
            assertTrue(logs.contains("principal=User:jane") && logs.contains("principal=User:alice"), logs);
            assertTrue(logs.contains("SASL re-authentication succeeded"), logs);

            Properties wrong = sasl(bootstrap, "SCRAM-SHA-512", "jane", "not-jane");
            try (Admin admin = Admin.create(wrong)) {
                ExecutionException e = assertThrows(ExecutionException.class,
                    () -> admin.listTopics().names().get(30, TimeUnit.SECONDS));
                assertInstanceOf(SaslAuthenticationException.class, e.getCause());
            }
        }
    }
}
