package sarama_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestRoundTrip produces keyed records with headers through a SyncProducer,
// one partition per codec, and reads every one back with the partition
// consumer: same key, value, headers, and the offset the producer was given.
// It runs at Sarama's default protocol version (what most users leave set)
// and at Kafka 4's.
func TestRoundTrip(t *testing.T) {
	for _, version := range []sarama.KafkaVersion{sarama.DefaultVersion, sarama.V4_0_0_0} {
		t.Run(version.String(), func(t *testing.T) { roundTrip(t, version) })
	}
}

func roundTrip(t *testing.T, version sarama.KafkaVersion) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	codecs := []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP,
		sarama.CompressionSnappy, sarama.CompressionLZ4, sarama.CompressionZSTD}
	topic := uniqueName("sarama-roundtrip")
	createTopic(t, topic, int32(len(codecs)))
	const perCodec = 50

	for i, codec := range codecs {
		partition := int32(i)
		cfg := newConfig(version)
		cfg.Producer.Compression = codec
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		producer, err := sarama.NewSyncProducer(cluster.Bootstrap(), cfg)
		if err != nil {
			t.Fatalf("producer (%s): %v", codec, err)
		}
		// One SendMessages call: the records travel as compressed batches.
		sent := make([]*sarama.ProducerMessage, perCodec)
		for j := range sent {
			sent[j] = &sarama.ProducerMessage{
				Topic:     topic,
				Partition: partition,
				Key:       sarama.StringEncoder(fmt.Sprintf("key-%s-%d", codec, j)),
				Value:     sarama.StringEncoder(fmt.Sprintf("value-%s-%d-%s", codec, j, make([]byte, j%7))),
				Headers: []sarama.RecordHeader{
					{Key: []byte("codec"), Value: []byte(codec.String())},
					{Key: []byte("index"), Value: []byte(fmt.Sprint(j))},
				},
			}
		}
		if err := producer.SendMessages(sent); err != nil {
			producer.Close()
			t.Fatalf("producing with %s: %v", codec, err)
		}
		if err := producer.Close(); err != nil {
			t.Fatalf("closing producer: %v", err)
		}

		got := consumePartition(ctx, t, newConfig(version), topic, partition, sarama.OffsetOldest, perCodec)
		for j, msg := range got {
			want := sent[j]
			wantKey, _ := want.Key.Encode()
			wantValue, _ := want.Value.Encode()
			if want.Offset != int64(j) || msg.Offset != int64(j) {
				t.Errorf("%s record %d: producer offset %d, consumer offset %d, want %d", codec, j, want.Offset, msg.Offset, j)
			}
			if want.Partition != partition || msg.Partition != partition {
				t.Errorf("%s record %d: partition %d/%d, want %d", codec, j, want.Partition, msg.Partition, partition)
			}
			if string(msg.Key) != string(wantKey) || string(msg.Value) != string(wantValue) {
				t.Errorf("%s record %d: %q=%q, want %q=%q", codec, j, msg.Key, msg.Value, wantKey, wantValue)
			}
			if err := headersEqual(msg.Headers, want.Headers); err != nil {
				t.Errorf("%s record %d: %v", codec, j, err)
			}
			if msg.Timestamp.IsZero() || time.Since(msg.Timestamp) > time.Hour {
				t.Errorf("%s record %d: timestamp %v", codec, j, msg.Timestamp)
			}
		}
	}
}
