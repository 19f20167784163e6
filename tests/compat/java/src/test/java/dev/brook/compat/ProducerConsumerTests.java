package dev.brook.compat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** KafkaProducer and KafkaConsumer round trips: keys, headers, codecs, seek,
 *  offsetsForTimes, a group of two members that rebalances and resumes from
 *  its committed offsets. */
abstract class ProducerConsumerTests extends ClusterTestBase {

    @ParameterizedTest
    @ValueSource(strings = {"none", "gzip", "snappy", "lz4", "zstd"})
    void keysHeadersAndValuesRoundTripUnderEachCodec(String codec) throws Exception {
        String topic = createTopic("codec-" + codec, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        List<ProducerRecord<String, String>> sent = new ArrayList<>();
        try (KafkaProducer<String, String> producer = producer(Map.of(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec,
                ProducerConfig.LINGER_MS_CONFIG, 50))) {
            for (int i = 0; i < 200; i++) {
                // Repetitive values so that every codec really compresses.
                List<Header> headers = List.of(new RecordHeader("index", Integer.toString(i).getBytes()),
                    new RecordHeader("empty", new byte[0]));
                String key = i % 10 == 0 ? null : "key-" + (i % 7);
                sent.add(new ProducerRecord<>(topic, 0, null, key, "value-" + i + "-" + "x".repeat(i % 50), headers));
            }
            for (ProducerRecord<String, String> r : sent) {
                producer.send(r);
            }
            producer.flush();
        }
        List<ConsumerRecord<String, String>> got = readAll(List.of(tp));
        assertEquals(sent.size(), got.size());
        for (int i = 0; i < sent.size(); i++) {
            ConsumerRecord<String, String> r = got.get(i);
            assertEquals(i, r.offset());
            assertEquals(sent.get(i).key(), r.key());
            assertEquals(sent.get(i).value(), r.value());
            Header[] headers = r.headers().toArray();
            assertEquals(2, headers.length);
            assertEquals("index", headers[0].key());
            assertEquals(Integer.toString(i), new String(headers[0].value(), StandardCharsets.UTF_8));
            assertEquals("empty", headers[1].key());
            assertArrayEquals(new byte[0], headers[1].value());
        }
    }

    @Test
    void keyedRecordsLandOnTheirMurmur2Partition() throws Exception {
        String topic = createTopic("keyed", 3);
        Map<String, Integer> partitionOfKey = new HashMap<>();
        try (KafkaProducer<String, String> producer = producer(Map.of())) {
            for (int i = 0; i < 30; i++) {
                String key = "k" + (i % 6);
                RecordMetadata m = producer.send(new ProducerRecord<>(topic, key, "v" + i)).get(30, TimeUnit.SECONDS);
                Integer before = partitionOfKey.putIfAbsent(key, m.partition());
                assertEquals(before == null ? m.partition() : before, m.partition(), "one partition per key");
            }
        }
        List<TopicPartition> tps = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1),
            new TopicPartition(topic, 2));
        List<ConsumerRecord<String, String>> got = readAll(tps);
        assertEquals(30, got.size());
        for (ConsumerRecord<String, String> r : got) {
            assertEquals(partitionOfKey.get(r.key()), r.partition(), r.toString());
        }
    }

    @Test
    void seekPositionsTheNextFetch() throws Exception {
        String topic = createTopic("seek", 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> producer = producer(Map.of())) {
            for (int i = 0; i < 20; i++) {
                producer.send(new ProducerRecord<>(topic, 0, null, "v" + i));
            }
            producer.flush();
        }
        try (KafkaConsumer<String, String> c = consumer(null, Map.of())) {
            c.assign(List.of(tp));
            c.seek(tp, 13);
            ConsumerRecord<String, String> first = firstRecord(c);
            assertEquals(13, first.offset());
            assertEquals("v13", first.value());

            c.seekToBeginning(List.of(tp));
            assertEquals(0, c.position(tp, REQUEST_TIMEOUT));
            assertEquals("v0", firstRecord(c).value());

            c.seekToEnd(List.of(tp));
            assertEquals(20, c.position(tp, REQUEST_TIMEOUT));
            assertEquals(0, c.poll(Duration.ofMillis(300)).count());

            c.seek(tp, 5);
            assertEquals("v5", firstRecord(c).value());
        }
    }

    @Test
    void offsetsForTimesFindsTheFirstRecordAtOrAfterATimestamp() throws Exception {
        String topic = createTopic("times", 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        long base = System.currentTimeMillis() - 60_000;
        try (KafkaProducer<String, String> producer = producer(Map.of())) {
            for (int i = 0; i < 10; i++) {
                // CreateTime at one-second steps: record i has base + 1000 * i.
                producer.send(new ProducerRecord<>(topic, 0, base + 1000L * i, null, "v" + i))
                    .get(30, TimeUnit.SECONDS);
            }
        }
        try (KafkaConsumer<String, String> c = consumer(null, Map.of())) {
            assertOffsetForTime(c, tp, base - 5000, 0, base);
            assertOffsetForTime(c, tp, base, 0, base);
            assertOffsetForTime(c, tp, base + 3500, 4, base + 4000);
            assertOffsetForTime(c, tp, base + 9000, 9, base + 9000);
            Map<TopicPartition, OffsetAndTimestamp> past =
                c.offsetsForTimes(Map.of(tp, base + 9001), REQUEST_TIMEOUT);
            assertNull(past.get(tp), "no record at or after the last timestamp");

            c.assign(List.of(tp));
            c.seek(tp, c.offsetsForTimes(Map.of(tp, base + 6000), REQUEST_TIMEOUT).get(tp).offset());
            ConsumerRecord<String, String> r = firstRecord(c);
            assertEquals("v6", r.value());
            assertEquals(base + 6000, r.timestamp());
            assertEquals(TimestampType.CREATE_TIME, r.timestampType());
        }
    }

    private static void assertOffsetForTime(KafkaConsumer<String, String> c, TopicPartition tp, long timestamp,
                                            long offset, long foundTimestamp) {
        OffsetAndTimestamp found = c.offsetsForTimes(Map.of(tp, timestamp), REQUEST_TIMEOUT).get(tp);
        assertEquals(offset, found.offset(), "offset for " + timestamp);
        assertEquals(foundTimestamp, found.timestamp(), "timestamp for " + timestamp);
    }

    /** Two members share four partitions; when one leaves, the other takes
     *  its partitions over from the offsets it committed, not from the start. */
    @Test
    void groupOfTwoRebalancesAndResumesFromCommittedOffsets() throws Exception {
        String topic = createTopic("group", 4);
        String group = uniqueName("group");
        Set<TopicPartition> all = Set.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1),
            new TopicPartition(topic, 2), new TopicPartition(topic, 3));
        produceToEachPartition(topic, 4, "first", 10);

        try (KafkaConsumer<String, String> a = consumer(group, Map.of());
             KafkaConsumer<String, String> b = consumer(group, Map.of())) {
            a.subscribe(List.of(topic));
            Map<TopicPartition, List<String>> readByA = new HashMap<>();
            awaitCondition(Duration.ofSeconds(60), "member a owns all four partitions", () -> {
                pollInto(a, readByA);
                return a.assignment().equals(all);
            });

            b.subscribe(List.of(topic));
            Map<TopicPartition, List<String>> readByB = new HashMap<>();
            awaitCondition(Duration.ofSeconds(60), "two partitions each", () -> {
                pollInto(a, readByA);
                pollInto(b, readByB);
                return a.assignment().size() == 2 && b.assignment().size() == 2;
            });
            assertEquals(all, union(a.assignment(), b.assignment()));

            // b reads its two partitions to the end and commits there.
            Set<TopicPartition> ofB = Set.copyOf(b.assignment());
            awaitCondition(Duration.ofSeconds(30), "b reads its partitions", () -> {
                pollInto(b, readByB);
                return ofB.stream().allMatch(tp -> b.position(tp, REQUEST_TIMEOUT) == 10);
            });
            b.commitSync(REQUEST_TIMEOUT);
            Map<TopicPartition, OffsetAndMetadata> committed = b.committed(ofB, REQUEST_TIMEOUT);
            for (TopicPartition tp : ofB) {
                assertEquals(10, committed.get(tp).offset(), tp.toString());
            }
            b.close(Duration.ofSeconds(10));

            produceToEachPartition(topic, 4, "second", 3);
            readByA.clear();
            awaitCondition(Duration.ofSeconds(60), "a owns all four again and reads b's new records", () -> {
                pollInto(a, readByA);
                return a.assignment().equals(all)
                    && ofB.stream().allMatch(tp -> readByA.getOrDefault(tp, List.of()).size() >= 3);
            });
            for (TopicPartition tp : ofB) {
                assertEquals(List.of("second-0", "second-1", "second-2"), readByA.get(tp),
                    "resumed from b's committed offset on " + tp);
            }
        }
    }

    private void produceToEachPartition(String topic, int partitions, String prefix, int perPartition)
            throws Exception {
        try (KafkaProducer<String, String> producer = producer(Map.of())) {
            for (int p = 0; p < partitions; p++) {
                for (int i = 0; i < perPartition; i++) {
                    producer.send(new ProducerRecord<>(topic, p, null, prefix + "-" + i));
                }
            }
            producer.flush();
        }
    }

    private static void pollInto(KafkaConsumer<String, String> c, Map<TopicPartition, List<String>> read) {
        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
            read.computeIfAbsent(new TopicPartition(r.topic(), r.partition()), k -> new ArrayList<>()).add(r.value());
        }
    }

    private static Set<TopicPartition> union(Set<TopicPartition> x, Set<TopicPartition> y) {
        return java.util.stream.Stream.concat(x.stream(), y.stream()).collect(Collectors.toSet());
    }

    private static ConsumerRecord<String, String> firstRecord(KafkaConsumer<String, String> c) throws Exception {
        List<ConsumerRecord<String, String>> got = new ArrayList<>();
        awaitCondition(Duration.ofSeconds(30), "a record", () -> {
            c.poll(Duration.ofMillis(100)).forEach(got::add);
            return !got.isEmpty();
        });
        return got.get(0);
    }
}
