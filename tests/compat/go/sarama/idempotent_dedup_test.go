package sarama_test

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestIdempotentRetryIsDeduplicated replays what Sarama's idempotent
// producer does after a lost response: the same batch (producer id, epoch,
// sequence) sent again. Kafka acknowledges the retry with the original
// offset and stores nothing; a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER.
func TestIdempotentRetryIsDeduplicated(t *testing.T) {
	topic := uniqueName("sarama-dedup")
	createTopic(t, topic, 1)
	client, err := sarama.NewClient(cluster.Bootstrap(), newConfig(sarama.V4_0_0_0))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	leader, err := client.Leader(topic, 0)
	if err != nil {
		t.Fatalf("leader: %v", err)
	}
	init, err := leader.InitProducerID(&sarama.InitProducerIDRequest{Version: 4, ProducerID: -1, ProducerEpoch: -1, TransactionTimeout: time.Minute})
	if err != nil || init.Err != sarama.ErrNoError || init.ProducerID < 0 {
		t.Fatalf("InitProducerId: %+v, %v", init, err)
	}

	produce := func(sequence int32, values ...string) *sarama.ProduceResponseBlock {
		t.Helper()
		batch := &sarama.RecordBatch{Version: 2, ProducerID: init.ProducerID, ProducerEpoch: init.ProducerEpoch,
			FirstSequence: sequence, LastOffsetDelta: int32(len(values) - 1),
			FirstTimestamp: time.Now(), MaxTimestamp: time.Now()}
		for i, v := range values {
			batch.Records = append(batch.Records, &sarama.Record{OffsetDelta: int64(i), Value: []byte(v)})
		}
		req := &sarama.ProduceRequest{Version: 9, RequiredAcks: sarama.WaitForAll, Timeout: 10_000}
		req.AddBatch(topic, 0, batch)
		resp, err := leader.Produce(req)
		if err != nil {
			t.Fatalf("produce sequence %d: %v", sequence, err)
		}
		block := resp.GetBlock(topic, 0)
		if block == nil {
			t.Fatalf("produce sequence %d: no response for the partition", sequence)
		}
		return block
	}

	first := produce(0, "a", "b", "c")
	if first.Err != sarama.ErrNoError || first.Offset != 0 {
		t.Fatalf("first batch: %v at %d, want no error at 0", first.Err, first.Offset)
	}
	retry := produce(0, "a", "b", "c")
	if retry.Err != sarama.ErrNoError || retry.Offset != first.Offset {
		t.Errorf("retried batch: %v at %d, want no error at the original offset %d", retry.Err, retry.Offset, first.Offset)
	}
	next := produce(3, "d")
	if next.Err != sarama.ErrNoError || next.Offset != 3 {
		t.Errorf("next batch: %v at %d, want no error at 3", next.Err, next.Offset)
	}
	gap := produce(10, "z")
	if gap.Err != sarama.ErrOutOfOrderSequenceNumber {
		t.Errorf("batch after a sequence gap: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", gap.Err)
	}
	end, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil || end != 4 {
		t.Errorf("log end offset %d (%v), want 4: the retry and the gap stored nothing", end, err)
	}
}
