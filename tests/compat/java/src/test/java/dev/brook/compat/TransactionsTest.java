package dev.brook.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Transactions with Kafka's Java client 4.x, which sees Brook finalize
 *  `transaction.version` 2 and so runs KIP-890 part 2: a new producer
 *  epoch per transaction (EndTxn v5), partitions and the offsets partition
 *  added by the brokers (Produce v12, TxnOffsetCommit v5), not by
 *  AddPartitionsToTxn from the client. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TransactionsTest {
    private static Cluster broker;
    private static Admin admin;

    @BeforeAll
    static void start() throws Exception {
        broker = Cluster.start(1, Map.of(
            "transaction.state.log.replication.factor", "1",
            "transaction.state.log.min.isr", "1",
            "transaction.state.log.num.partitions", "4",
            "offsets.topic.replication.factor", "1",
            "group.initial.rebalance.delay.ms", "0"));
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        admin = Admin.create(p);
    }

    @AfterAll
    static void stop() throws Exception {
        admin.close();
        broker.close();
    }

    private static void createTopic(String name, int partitions) throws Exception {
        admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
    }

    private static KafkaProducer<String, String> producer(String transactionalId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        KafkaProducer<String, String> producer = new KafkaProducer<>(p);
        producer.initTransactions();
        return producer;
    }

    private static KafkaConsumer<String, String> consumer(String group, String isolation) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        return new KafkaConsumer<>(p);
    }

    /** Every value readable at `isolation`, from the beginning to the end offsets. */
    private static List<String> readAll(String topic, int partitions, String isolation) {
        List<String> out = new ArrayList<>();
        try (KafkaConsumer<String, String> c = consumer("reader-" + System.nanoTime(), isolation)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < partitions; i++) {
                tps.add(new TopicPartition(topic, i));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp)) && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    out.add(r.value());
                }
            }
        }
        out.sort(null);
        return out;
    }

    private static List<String> values(String prefix, int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(prefix + i);
        }
        return out;
    }

    @Test
    void commitAbortAndAnEpochPerTransaction() throws Exception {
        createTopic("java-tx", 2);
        try (KafkaProducer<String, String> p = producer("java-tx-id")) {
            p.beginTransaction();
            for (int i = 0; i < 10; i++) {
                p.send(new ProducerRecord<>("java-tx", i % 2, null, "c" + i));
            }
            p.commitTransaction();
            p.beginTransaction();
            for (int i = 0; i < 5; i++) {
                p.send(new ProducerRecord<>("java-tx", i % 2, null, "a" + i));
            }
            p.flush();
            p.abortTransaction();
            p.beginTransaction();
            for (int i = 0; i < 3; i++) {
                p.send(new ProducerRecord<>("java-tx", i % 2, null, "d" + i));
            }
            p.commitTransaction();
        }
        List<String> committed = new ArrayList<>(values("c", 10));
        committed.addAll(values("d", 3));
        committed.sort(null);
        assertEquals(committed, readAll("java-tx", 2, "read_committed"));
        List<String> everything = new ArrayList<>(committed);
        everything.addAll(values("a", 5));
        everything.sort(null);
        assertEquals(everything, readAll("java-tx", 2, "read_uncommitted"));

        // Transaction version 2: every transaction ended with a new epoch, so
        // the partitions saw the producer's epoch move past 0 (version 1 keeps it).
        Collection<ProducerState> producers = admin.describeProducers(List.of(new TopicPartition("java-tx", 0)))
            .partitionResult(new TopicPartition("java-tx", 0)).get(30, TimeUnit.SECONDS).activeProducers();
        assertEquals(1, producers.size());
        ProducerState state = producers.iterator().next();
        assertTrue(state.producerEpoch() >= 3, "epoch bumped per transaction: " + state);
        assertTrue(state.currentTransactionStartOffset().isEmpty(), "no open transaction: " + state);
    }

    @Test
    void offsetsCommittedInsideTheTransaction() throws Exception {
        createTopic("java-in", 1);
        createTopic("java-out", 1);
        try (KafkaProducer<String, String> seed = producer("java-seed")) {
            seed.beginTransaction();
            for (int i = 0; i < 100; i++) {
                seed.send(new ProducerRecord<>("java-in", 0, null, "r" + i));
            }
            seed.commitTransaction();
        }
        String group = "java-copier";
        try (KafkaConsumer<String, String> in = consumer(group, "read_committed");
             KafkaProducer<String, String> out = producer("java-copier-id")) {
            in.subscribe(List.of("java-in"));
            int copied = 0;
            boolean abortedOnce = false;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (copied < 100 && System.nanoTime() < deadline) {
                var records = in.poll(Duration.ofMillis(500));
                if (records.isEmpty()) {
                    continue;
                }
                out.beginTransaction();
                long next = -1;
                for (ConsumerRecord<String, String> r : records) {
                    out.send(new ProducerRecord<>("java-out", 0, null, r.value()));
                    next = r.offset() + 1;
                }
                out.sendOffsetsToTransaction(Map.of(new TopicPartition("java-in", 0), new OffsetAndMetadata(next)),
                    in.groupMetadata());
                if (!abortedOnce) {
                    out.abortTransaction();
                    abortedOnce = true;
                    in.seek(new TopicPartition("java-in", 0), 0);
                    continue;
                }
                out.commitTransaction();
                copied += records.count();
            }
            assertEquals(100, copied);
        }
        assertEquals(values("r", 100).stream().sorted().toList(), readAll("java-out", 1, "read_committed"));
        Map<TopicPartition, OffsetAndMetadata> offsets =
            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
        assertEquals(100, offsets.get(new TopicPartition("java-in", 0)).offset());
    }

    @Test
    void aSecondInstanceFencesTheFirst() throws Exception {
        createTopic("java-fence", 1);
        KafkaProducer<String, String> zombie = producer("java-fence-id");
        try {
            zombie.beginTransaction();
            zombie.send(new ProducerRecord<>("java-fence", 0, null, "zombie-before")).get();
            try (KafkaProducer<String, String> fresh = producer("java-fence-id")) {
                fresh.beginTransaction();
                fresh.send(new ProducerRecord<>("java-fence", 0, null, "fresh"));
                fresh.commitTransaction();
            }
            // The zombie's next write or commit fails as fenced: its epoch is old.
            Exception failure = assertThrows(Exception.class, () -> {
                zombie.send(new ProducerRecord<>("java-fence", 0, null, "zombie-after")).get();
                zombie.commitTransaction();
            });
            Throwable cause = failure;
            while (cause instanceof java.util.concurrent.ExecutionException || cause instanceof KafkaException
                       && cause.getCause() != null && !(cause instanceof ProducerFencedException)) {
                cause = cause.getCause();
            }
            assertTrue(cause instanceof ProducerFencedException
                    || cause instanceof org.apache.kafka.common.errors.InvalidProducerEpochException,
                "fenced: " + failure);
        } finally {
            zombie.close(Duration.ofSeconds(5));
        }
        assertEquals(List.of("fresh"), readAll("java-fence", 1, "read_committed"));
        assertTrue(!readAll("java-fence", 1, "read_uncommitted").contains("zombie-after"));
    }
}
