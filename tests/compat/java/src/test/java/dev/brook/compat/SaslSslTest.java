package dev.brook.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
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
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Kafka's Java client over SASL_SSL on a three-node cluster at RF=3: a
 *  SCRAM-SHA-512 user (created once with Admin.alterUserScramCredentials, so
 *  it comes from the metadata log on every broker) and a PLAIN user produce
 *  with acks=all and consume; the client trusts the cluster's CA through a PEM
 *  truststore; a wrong password is refused. */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class SaslSslTest {
    private static final String PLAIN_JAAS = "org.apache.kafka.common.security.plain.PlainLoginModule required "
        + "username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" user_alice=\"alice-secret\";";

    private static Properties saslSsl(String bootstrap, Path certs, String mechanism, String user, String password)
            throws Exception {
        String module = mechanism.equals("PLAIN") ? "org.apache.kafka.common.security.plain.PlainLoginModule"
            : "org.apache.kafka.common.security.scram.ScramLoginModule";
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_SSL");
        p.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PEM");
        p.put(SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, certs.resolve("ca/ca.pem").toString());
        p.put(SaslConfigs.SASL_MECHANISM, mechanism);
        p.put(SaslConfigs.SASL_JAAS_CONFIG, module + " required username=\"" + user + "\" password=\"" + password + "\";");
        p.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return p;
    }

    @Test
    void scramSha512AndPlainOverSaslSslOnThreeNodes() throws Exception {
        Path certs = SslClientCertificateTest.makeCerts();
        try (Cluster cluster = Cluster.start(3, Map.of(
                "ssl.keystore.location", certs.resolve("server/keystore.pem").toString(),
                "ssl.truststore.location", certs.resolve("ca/ca.pem").toString(),
                "sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512",
                "listener.name.sasl_ssl.plain.sasl.jaas.config", PLAIN_JAAS))) {
            Properties plaintext = new Properties();
            plaintext.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrap());
            plaintext.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
            try (Admin admin = Admin.create(plaintext)) {
                admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion("jane",
                    new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), "jane-secret")))
                    .all().get(30, TimeUnit.SECONDS);
                admin.createTopics(List.of(new NewTopic("java-sasl-ssl-scram", 1, (short) 3),
                    new NewTopic("java-sasl-ssl-plain", 1, (short) 3))).all().get(30, TimeUnit.SECONDS);
            }
            String bootstrap = cluster.saslSslBootstrap();
            for (String[] login : new String[][] {{"SCRAM-SHA-512", "jane", "jane-secret", "java-sasl-ssl-scram"},
                                                  {"PLAIN", "alice", "alice-secret", "java-sasl-ssl-plain"}}) {
                Properties pp = saslSsl(bootstrap, certs, login[0], login[1], login[2]);
                pp.put(ProducerConfig.ACKS_CONFIG, "all");
                try (KafkaProducer<String, String> producer =
                         new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
                    for (int i = 0; i < 50; i++) {
                        producer.send(new ProducerRecord<>(login[3], "k" + i, login[1] + "-" + i));
                    }
                    producer.flush();
                }
                Properties cp = saslSsl(bootstrap, certs, login[0], login[1], login[2]);
                cp.put(ConsumerConfig.GROUP_ID_CONFIG, "java-sasl-ssl-" + login[1]);
                cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
                List<String> got = SaslTest.readBack(cp, login[3], 50);
                assertEquals(50, got.size(), "records read back over SASL_SSL as " + login[1]);
                assertEquals(login[1] + "-0", got.get(0));
                assertEquals(login[1] + "-49", got.get(49));
            }
            String logs = cluster.logs();
            assertTrue(logs.contains("principal=User:jane") && logs.contains("principal=User:alice"), logs);

            try (Admin admin = Admin.create(saslSsl(bootstrap, certs, "SCRAM-SHA-512", "jane", "not-jane"))) {
                ExecutionException e = assertThrows(ExecutionException.class,
                    () -> admin.listTopics().names().get(30, TimeUnit.SECONDS));
                assertInstanceOf(SaslAuthenticationException.class, e.getCause());
            }
        }
    }
}
