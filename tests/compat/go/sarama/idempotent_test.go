package sarama_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestIdempotentProducer sends through Sarama's idempotent AsyncProducer
// and checks that every record landed once at a dense offset, in send order
// per partition, in batches that carry the producer id Brook assigned.
func TestIdempotentProducer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const partitions, perPartition = 3, 100
	topic := uniqueName("sarama-idempotent")
	createTopic(t, topic, partitions)

	cfg := newConfig(sarama.V4_0_0_0)
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // Sarama's requirement for idempotence
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = sarama.CompressionLZ4
	cfg.Producer.Flush.Messages = 10 // several batches, so sequences advance
	producer, err := sarama.NewAsyncProducer(cluster.Bootstrap(), cfg)
	if err != nil {
		t.Fatalf("idempotent producer: %v", err)
	}
	for i := 0; i < perPartition; i++ {
		for p := int32(0); p < partitions; p++ {
			producer.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: p,
				Key: sarama.StringEncoder(fmt.Sprint(i)), Value: sarama.StringEncoder(fmt.Sprintf("%d-%d", p, i))}
		}
	}
	offsets := map[int32]map[int64]string{}
	for n := 0; n < partitions*perPartition; n++ {
		select {
		case msg := <-producer.Successes():
			value, _ := msg.Value.Encode()
			if offsets[msg.Partition] == nil {
				offsets[msg.Partition] = map[int64]string{}
			}
			if prev, dup := offsets[msg.Partition][msg.Offset]; dup {
				t.Errorf("partition %d offset %d acknowledged twice: %s and %s", msg.Partition, msg.Offset, prev, value)
			}
			offsets[msg.Partition][msg.Offset] = string(value)
		case err := <-producer.Errors():
			t.Fatalf("idempotent produce failed: %v", err)
		case <-ctx.Done():
			t.Fatalf("%d of %d acknowledgements before the deadline", n, partitions*perPartition)
		}
	}
	if err := producer.Close(); err != nil {
		t.Fatalf("closing producer: %v", err)
	}
	for p := int32(0); p < partitions; p++ {
		for i := 0; i < perPartition; i++ {
			if got, want := offsets[p][int64(i)], fmt.Sprintf("%d-%d", p, i); got != want {
				t.Errorf("partition %d offset %d holds %q, want %q", p, i, got, want)
			}
		}
	}

	// Every stored batch carries a producer id and consecutive sequences.
	client, err := sarama.NewClient(cluster.Bootstrap(), newConfig(sarama.V4_0_0_0))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	for p := int32(0); p < partitions; p++ {
		batches := fetchBatches(t, client, topic, p)
		producerID, nextSequence, records := batches[0].ProducerID, int32(0), 0
		for _, batch := range batches {
			if batch.ProducerID < 0 || batch.ProducerID != producerID {
				t.Errorf("partition %d batch at %d: producer id %d (first batch %d)", p, batch.FirstOffset, batch.ProducerID, producerID)
			}
			if batch.FirstSequence != nextSequence {
				t.Errorf("partition %d batch at %d: sequence %d, want %d", p, batch.FirstOffset, batch.FirstSequence, nextSequence)
			}
			nextSequence = batch.FirstSequence + batch.LastOffsetDelta + 1
			records += len(batch.Records)
		}
		if records != perPartition {
			t.Errorf("partition %d: %d records in %d batches, want %d", p, records, len(batches), perPartition)
		}
	}
}

// fetchBatches reads a partition's record batches raw from its leader, with
// the producer fields Sarama's consumer does not expose.
func fetchBatches(t *testing.T, client sarama.Client, topic string, partition int32) []*sarama.RecordBatch {
	t.Helper()
	leader, err := client.Leader(topic, partition)
	if err != nil {
		t.Fatalf("leader of %s/%d: %v", topic, partition, err)
	}
	req := &sarama.FetchRequest{Version: 11, MaxWaitTime: 100, MinBytes: 1, MaxBytes: 1 << 20}
	req.AddBlock(topic, partition, 0, 1<<20, -1)
	resp, err := leader.Fetch(req)
	if err != nil {
		t.Fatalf("fetch %s/%d: %v", topic, partition, err)
	}
	block := resp.GetBlock(topic, partition)
	if block == nil || block.Err != sarama.ErrNoError {
		t.Fatalf("fetch %s/%d: %+v", topic, partition, block)
	}
	var batches []*sarama.RecordBatch
	for _, records := range block.RecordsSet {
		if records.RecordBatch != nil {
			batches = append(batches, records.RecordBatch)
		}
	}
	if len(batches) == 0 {
		t.Fatalf("fetch %s/%d: no record batches", topic, partition)
	}
	return batches
}
