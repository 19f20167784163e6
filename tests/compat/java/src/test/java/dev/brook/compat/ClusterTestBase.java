package dev.brook.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/** One Brook cluster per test class, of {@link #nodes()} nodes; every topic
 *  a test creates has replication factor {@code nodes()}. A suite is written
 *  once as an abstract subclass and run by two concrete ones, on one node and
 *  on three. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
abstract class ClusterTestBase {
    static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(30);

    protected Cluster cluster;
    protected Admin admin;
    private final AtomicInteger names = new AtomicInteger();

    /** 1 or 3. */
    abstract int nodes();

    @BeforeAll
    void startCluster() throws Exception {
        cluster = Cluster.start(nodes(), Map.of(
            "offsets.topic.replication.factor", Integer.toString(nodes()),
            "offsets.topic.num.partitions", "10",
            "transaction.state.log.replication.factor", Integer.toString(nodes()),
            "transaction.state.log.min.isr", "1",
            "transaction.state.log.num.partitions", "4",
            // Leadership moves only when a test asks for it (ElectLeaders).
            "auto.leader.rebalance.enable", "false"));
        admin = Admin.create(clientProperties());
    }

    @AfterAll
    void stopCluster() throws Exception {
        if (admin != null) {
            admin.close(Duration.ofSeconds(5));
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    Properties clientProperties() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrap());
        return p;
    }

    /** A topic name unique in this class's cluster. */
    String uniqueName(String what) {
        return what + "-" + names.incrementAndGet();
    }

    /** Creates a topic at replication factor {@code nodes()} and waits until
     *  every replica is in sync, so a leader change cannot lose the test's data. */
    String createTopic(String what, int partitions, Map<String, String> configs) throws Exception {
        String name = uniqueName(what);
        admin.createTopics(List.of(new NewTopic(name, partitions, (short) nodes()).configs(configs)))
            .all().get(REQUEST_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        awaitFullIsr(name, partitions);
        return name;
    }

    String createTopic(String what, int partitions) throws Exception {
        return createTopic(what, partitions, Map.of());
    }

    void awaitFullIsr(String topic, int partitions) throws Exception {
        awaitCondition(Duration.ofSeconds(30), "every replica of " + topic + " in sync", () -> {
            TopicDescription d = describe(topic);
            return d != null && d.partitions().size() == partitions
                && d.partitions().stream().allMatch(p -> p.leader() != null && p.isr().size() == nodes());
        });
    }

    /** The topic's description, or null while it is unknown. */
    TopicDescription describe(String topic) {
        try {
            return admin.describeTopics(List.of(topic)).allTopicNames()
                .get(REQUEST_TIMEOUT.toSeconds(), TimeUnit.SECONDS).get(topic);
        } catch (Exception notYet) {
            return null;
        }
    }

    TopicPartitionInfo partitionInfo(String topic, int partition) {
        TopicDescription d = describe(topic);
        return d == null ? null : d.partitions().get(partition);
    }

    KafkaProducer<String, String> producer(Map<String, Object> overrides) {
        Properties p = clientProperties();
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.putAll(overrides);
        return new KafkaProducer<>(p);
    }

    /** A consumer reading from the earliest offset, committing only when told. */
    KafkaConsumer<String, String> consumer(String group, Map<String, Object> overrides) {
        Properties p = clientProperties();
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        }
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        p.putAll(overrides);
        return new KafkaConsumer<>(p);
    }

    /** Every record of the partitions, from their beginning to their end
     *  offsets at the time of the call, in offset order per partition. */
    List<ConsumerRecord<String, String>> readAll(Collection<TopicPartition> partitions) throws Exception {
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        try (KafkaConsumer<String, String> c = consumer(null, Map.of())) {
            c.assign(partitions);
            c.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = c.endOffsets(partitions, REQUEST_TIMEOUT);
            awaitCondition(Duration.ofSeconds(30), "reading up to " + end, () -> {
                c.poll(Duration.ofMillis(100)).forEach(out::add);
                return partitions.stream().allMatch(tp -> c.position(tp, REQUEST_TIMEOUT) >= end.get(tp));
            });
        }
        return out;
    }

    /** Polls {@code condition} until it holds, failing after {@code timeout}. */
    static void awaitCondition(Duration timeout, String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what);
            }
            Thread.sleep(20);
        }
    }
}
