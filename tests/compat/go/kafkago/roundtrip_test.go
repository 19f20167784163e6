package kafkago_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// TestRoundTrip writes keyed records with headers through a Writer, one
// partition per codec, and reads every one back with a partition Reader:
// same key, value, headers, and the offset the Writer reported.
func TestRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	codecs := []compress.Compression{compress.None, compress.Gzip, compress.Snappy, compress.Lz4, compress.Zstd}
	topic := uniqueName("kafkago-roundtrip")
	createTopic(ctx, t, topic, len(codecs))
	const perCodec = 50

	for p, codec := range codecs {
		var mu sync.Mutex
		var written []kafka.Message // as completed, with partition and offset
		w := &kafka.Writer{
			Addr: kafka.TCP(cluster.Bootstrap()...), Topic: topic, Balancer: toPartition(p),
			Compression: codec, RequiredAcks: kafka.RequireAll, BatchSize: perCodec, BatchTimeout: 10 * time.Millisecond,
			Completion: func(msgs []kafka.Message, err error) {
				if err == nil {
					mu.Lock()
					written = append(written, msgs...)
					mu.Unlock()
				}
			},
		}
		msgs := make([]kafka.Message, perCodec)
		for i := range msgs {
			msgs[i] = kafka.Message{
				Key:   []byte(fmt.Sprintf("key-%s-%d", codec, i)),
				Value: []byte(fmt.Sprintf("value-%s-%d-%s", codec, i, make([]byte, i%7))),
				Headers: []kafka.Header{
					{Key: "codec", Value: []byte(codec.String())},
					{Key: "index", Value: []byte(fmt.Sprint(i))},
				},
			}
		}
		err := w.WriteMessages(ctx, msgs...)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("writing with %s: %v", codec, err)
		}
		if len(written) != perCodec {
			t.Fatalf("%s: %d completions, want %d", codec, len(written), perCodec)
		}

		r := kafka.NewReader(kafka.ReaderConfig{Brokers: cluster.Bootstrap(), Topic: topic, Partition: p,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond})
		for i, want := range written {
			got, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("%s: reading record %d: %v", codec, i, err)
			}
			if want.Partition != p || want.Offset != int64(i) || got.Partition != p || got.Offset != int64(i) {
				t.Errorf("%s record %d: written at %d/%d, read at %d/%d", codec, i, want.Partition, want.Offset, got.Partition, got.Offset)
			}
			if string(got.Key) != string(msgs[i].Key) || string(got.Value) != string(msgs[i].Value) {
				t.Errorf("%s record %d: %q=%q, want %q=%q", codec, i, got.Key, got.Value, msgs[i].Key, msgs[i].Value)
			}
			if fmt.Sprint(got.Headers) != fmt.Sprint(msgs[i].Headers) {
				t.Errorf("%s record %d: headers %v, want %v", codec, i, got.Headers, msgs[i].Headers)
			}
			if got.Time.IsZero() || time.Since(got.Time) > time.Hour {
				t.Errorf("%s record %d: timestamp %v", codec, i, got.Time)
			}
		}
		if err := r.Close(); err != nil {
			t.Errorf("closing reader: %v", err)
		}
	}
}
