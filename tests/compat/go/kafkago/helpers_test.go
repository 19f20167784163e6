package kafkago_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// replicationFactor is the cluster size: every replica on every node.
const replicationFactor = 3

var nameSeq atomic.Int64

// uniqueName keeps topics and groups of reruns apart.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1_000_000, nameSeq.Add(1))
}

// newClient is kafka-go's high-level Client on the whole cluster.
func newClient() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(cluster.Bootstrap()...), Timeout: 15 * time.Second}
}

// createTopic creates a topic at replication factor 3 through kafka.Client
// (which routes CreateTopics to the controller) and waits until its
// metadata shows a leader and a full ISR for every partition, and every
// leader serves its partition.
func createTopic(ctx context.Context, t *testing.T, name string, partitions int) {
	t.Helper()
	resp, err := newClient().CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: name, NumPartitions: partitions, ReplicationFactor: replicationFactor}},
	})
	if err != nil {
		t.Fatalf("CreateTopics %s: %v", name, err)
	}
	if err := resp.Errors[name]; err != nil {
		t.Fatalf("CreateTopics %s: %v", name, err)
	}
	waitFor(ctx, t, "topic "+name+" to have leaders and full ISRs", func() error {
		meta, err := newClient().Metadata(ctx, &kafka.MetadataRequest{Topics: []string{name}})
		if err != nil {
			return err
		}
		if len(meta.Topics) != 1 || meta.Topics[0].Error != nil || len(meta.Topics[0].Partitions) != partitions {
			return fmt.Errorf("metadata %+v", meta.Topics)
		}
		var requests []kafka.OffsetRequest
		for _, p := range meta.Topics[0].Partitions {
			if p.Error != nil || p.Leader.ID < 1 || len(p.Isr) != replicationFactor {
				return fmt.Errorf("partition %d: leader %d isr %d (%v)", p.ID, p.Leader.ID, len(p.Isr), p.Error)
			}
			requests = append(requests, kafka.LastOffsetOf(p.ID))
		}
		// Metadata names a leader as soon as its node has the new image; the
		// leader serves the partition a moment later (as in Kafka, whose
		// brokers update the metadata cache before the replica manager).
		// ListOffsets goes to each leader: ready when all of them answer.
		offsets, err := newClient().ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{name: requests}})
		if err != nil {
			return err
		}
		for _, p := range offsets.Topics[name] {
			if p.Error != nil {
				return fmt.Errorf("ListOffsets partition %d: %w", p.Partition, p.Error)
			}
		}
		return nil
	})
}

// toPartition is a Balancer that sends every message to one partition.
func toPartition(p int) kafka.Balancer {
	return kafka.BalancerFunc(func(kafka.Message, ...int) int { return p })
}

// writeEach writes n records to each of partitions 0..partitions-1, values
// "<tag>-<partition>-<i>", synchronously with acks=all.
func writeEach(ctx context.Context, t *testing.T, topic string, partitions, n int, tag string) {
	t.Helper()
	for p := 0; p < partitions; p++ {
		w := &kafka.Writer{Addr: kafka.TCP(cluster.Bootstrap()...), Topic: topic, Balancer: toPartition(p),
			RequiredAcks: kafka.RequireAll, BatchSize: n, BatchTimeout: 10 * time.Millisecond}
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			msgs[i] = kafka.Message{Key: []byte(fmt.Sprintf("key-%d-%d", p, i)), Value: []byte(fmt.Sprintf("%s-%d-%d", tag, p, i))}
		}
		err := w.WriteMessages(ctx, msgs...)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("writing %s to partition %d: %v", tag, p, err)
		}
	}
}

// waitFor polls cond until it returns nil or ctx ends (then fails with the last error).
func waitFor(ctx context.Context, t *testing.T, what string, cond func() error) {
	t.Helper()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (%v)", what, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
