package sarama_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// replicationFactor is the cluster size: every replica on every node.
const replicationFactor = 3

var topicSeq atomic.Int64

// uniqueName keeps topics and groups of reruns and subtests apart.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1_000_000, topicSeq.Add(1))
}

// newConfig is Sarama's config for Brook at the given protocol version
// (Brook serves Kafka 4's API versions), with short timeouts so a hang
// becomes a failure.
func newConfig(version sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ClientID = "brook-go-compat"
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 15 * time.Second
	cfg.Net.WriteTimeout = 5 * time.Second
	cfg.Metadata.Retry.Max = 10
	cfg.Metadata.Retry.Backoff = 200 * time.Millisecond
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Retry.Backoff = 200 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	return cfg
}

// createTopic creates a topic at replication factor 3 and waits until
// Sarama's metadata shows a leader and a full ISR for every partition, and
// every leader serves its partition.
func createTopic(t *testing.T, name string, partitions int32) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(cluster.Bootstrap(), newConfig(sarama.V4_0_0_0))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	defer admin.Close()
	detail := &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: replicationFactor}
	if err := admin.CreateTopic(name, detail, false); err != nil {
		t.Fatalf("creating topic %s: %v", name, err)
	}
	waitTopicReady(t, name, partitions)
}

func waitTopicReady(t *testing.T, name string, partitions int32) {
	t.Helper()
	client, err := sarama.NewClient(cluster.Bootstrap(), newConfig(sarama.V4_0_0_0))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if last = client.RefreshMetadata(name); last != nil {
			continue
		}
		last = topicReady(client, name, partitions)
		if last == nil {
			return
		}
	}
	t.Fatalf("topic %s not ready in 30s: %v", name, last)
}

func topicReady(client sarama.Client, name string, partitions int32) error {
	ids, err := client.Partitions(name)
	if err != nil {
		return err
	}
	if len(ids) != int(partitions) {
		return fmt.Errorf("%d partitions, want %d", len(ids), partitions)
	}
	for _, p := range ids {
		if _, err := client.Leader(name, p); err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		isr, err := client.InSyncReplicas(name, p)
		if err != nil {
			return err
		}
		if len(isr) != replicationFactor {
			return fmt.Errorf("partition %d: ISR %v", p, isr)
		}
		// Metadata names a leader as soon as its node has the new image; the
		// leader serves the partition a moment later (as in Kafka, whose
		// brokers update the metadata cache before the replica manager).
		// ListOffsets goes to the leader: ready when it answers.
		if _, err := client.GetOffset(name, p, sarama.OffsetNewest); err != nil {
			return fmt.Errorf("partition %d: ListOffsets: %w", p, err)
		}
	}
	return nil
}

// consumePartition reads n messages of one partition from `from` with
// Sarama's partition consumer, failing if they do not arrive before ctx ends.
func consumePartition(ctx context.Context, t *testing.T, cfg *sarama.Config, topic string, partition int32, from int64, n int) []*sarama.ConsumerMessage {
	t.Helper()
	consumer, err := sarama.NewConsumer(cluster.Bootstrap(), cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, partition, from)
	if err != nil {
		t.Fatalf("consuming %s/%d: %v", topic, partition, err)
	}
	defer pc.Close()
	var got []*sarama.ConsumerMessage
	for len(got) < n {
		select {
		case msg := <-pc.Messages():
			got = append(got, msg)
		case err := <-pc.Errors():
			t.Fatalf("consuming %s/%d: %v", topic, partition, err)
		case <-ctx.Done():
			t.Fatalf("consuming %s/%d: %d of %d messages before %v", topic, partition, len(got), n, ctx.Err())
		}
	}
	return got
}

// headersEqual compares record headers in order (Kafka keeps their order).
func headersEqual(got []*sarama.RecordHeader, want []sarama.RecordHeader) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d headers, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i].Key) != string(want[i].Key) || string(got[i].Value) != string(want[i].Value) {
			return fmt.Errorf("header %d is %q=%q, want %q=%q", i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
		}
	}
	return nil
}

// produceEach sends n records to each of partitions 0..partitions-1 with a
// SyncProducer, values "<tag>-<partition>-<i>", and returns them.
func produceEach(t *testing.T, cfg *sarama.Config, topic string, partitions int32, n int, tag string) []*sarama.ProducerMessage {
	t.Helper()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	producer, err := sarama.NewSyncProducer(cluster.Bootstrap(), cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer producer.Close()
	var msgs []*sarama.ProducerMessage
	for p := int32(0); p < partitions; p++ {
		for i := 0; i < n; i++ {
			msgs = append(msgs, &sarama.ProducerMessage{
				Topic: topic, Partition: p,
				Key:   sarama.StringEncoder(fmt.Sprintf("key-%d-%d", p, i)),
				Value: sarama.StringEncoder(fmt.Sprintf("%s-%d-%d", tag, p, i)),
			})
		}
	}
	if err := producer.SendMessages(msgs); err != nil {
		t.Fatalf("producing %s: %v", tag, err)
	}
	return msgs
}
