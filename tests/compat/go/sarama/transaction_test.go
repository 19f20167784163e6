package sarama_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestTransactions: Sarama's transactional SyncProducer commits one
// transaction and aborts another; a read_committed consumer sees exactly
// the committed records, a read_uncommitted one sees both. Offsets added to
// a transaction (AddMessageToTxn) are the group's once it commits.
func TestTransactions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	topic := uniqueName("sarama-txn")
	createTopic(t, topic, 1)

	cfg := newConfig(sarama.V4_0_0_0)
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Transaction.ID = uniqueName("sarama-txn-id")
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	producer, err := sarama.NewSyncProducer(cluster.Bootstrap(), cfg)
	if err != nil {
		t.Fatalf("transactional producer: %v", err)
	}
	defer producer.Close()
	send := func(tag string, n int) {
		t.Helper()
		if err := producer.BeginTxn(); err != nil {
			t.Fatalf("BeginTxn (%s): %v", tag, err)
		}
		for i := 0; i < n; i++ {
			if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0,
				Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", tag, i))}); err != nil {
				t.Fatalf("sending in %s: %v", tag, err)
			}
		}
	}
	send("committed", 5)
	if err := producer.CommitTxn(); err != nil {
		t.Fatalf("CommitTxn: %v", err)
	}
	send("aborted", 3)
	if err := producer.AbortTxn(); err != nil {
		t.Fatalf("AbortTxn: %v", err)
	}
	send("last", 2)
	// Offsets committed inside the transaction (consume-transform-produce):
	// a group's position that becomes visible only with the commit.
	groupID := uniqueName("sarama-txn-group")
	consumed := &sarama.ConsumerMessage{Topic: topic, Partition: 0, Offset: 41}
	if err := producer.AddMessageToTxn(consumed, groupID, nil); err != nil {
		t.Fatalf("AddMessageToTxn: %v", err)
	}
	if err := producer.CommitTxn(); err != nil {
		t.Fatalf("CommitTxn: %v", err)
	}

	committed := newConfig(sarama.V4_0_0_0)
	committed.Consumer.IsolationLevel = sarama.ReadCommitted
	var values []string
	for _, msg := range consumePartition(ctx, t, committed, topic, 0, sarama.OffsetOldest, 7) {
		values = append(values, string(msg.Value))
	}
	want := "[committed-0 committed-1 committed-2 committed-3 committed-4 last-0 last-1]"
	if fmt.Sprint(values) != want {
		t.Errorf("read_committed: %v, want %s", values, want)
	}
	// read_uncommitted also returns the aborted records (control batches are never records).
	values = nil
	for _, msg := range consumePartition(ctx, t, newConfig(sarama.V4_0_0_0), topic, 0, sarama.OffsetOldest, 10) {
		values = append(values, string(msg.Value))
	}
	if fmt.Sprint(values[5:8]) != "[aborted-0 aborted-1 aborted-2]" {
		t.Errorf("read_uncommitted: %v, want the aborted records in the middle", values)
	}
	checkCommittedOffset(ctx, t, groupID, topic, 0, 42)
}

// checkCommittedOffset waits until the group's committed offset of one
// partition is want.
func checkCommittedOffset(ctx context.Context, t *testing.T, groupID, topic string, partition int32, want int64) {
	t.Helper()
	admin := newAdmin(t)
	waitFor(ctx, t, fmt.Sprintf("%s to have committed %d", groupID, want), func() error {
		offsets, err := admin.ListConsumerGroupOffsets(groupID, map[string][]int32{topic: {partition}})
		if err != nil {
			return err
		}
		block := offsets.GetBlock(topic, partition)
		if block == nil || block.Err != sarama.ErrNoError || block.Offset != want {
			return fmt.Errorf("committed %+v", block)
		}
		return nil
	})
}
