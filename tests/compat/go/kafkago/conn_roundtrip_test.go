package kafkago_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// TestConnRoundTrip uses kafka-go's low-level path from its README: a Conn
// on the partition leader writes a zstd-compressed batch and reads it back
// with ReadBatch, then seeks into the middle of it.
func TestConnRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := uniqueName("kafkago-conn-roundtrip")
	createTopic(ctx, t, topic, 1)
	conn, err := kafka.DialLeader(ctx, "tcp", cluster.Nodes[0].Addr(), topic, 0)
	if err != nil {
		t.Fatalf("DialLeader: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))

	const n = 30
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("conn-%d", i)),
			Headers: []kafka.Header{{Key: "i", Value: []byte(fmt.Sprint(i))}}}
	}
	if _, err := conn.WriteCompressedMessages(compress.Zstd.Codec(), msgs...); err != nil {
		t.Fatalf("WriteCompressedMessages: %v", err)
	}

	read := func(from int64) {
		t.Helper()
		if _, err := conn.Seek(from, kafka.SeekAbsolute); err != nil {
			t.Fatalf("Seek %d: %v", from, err)
		}
		batch := conn.ReadBatch(1, 1<<20)
		defer batch.Close()
		for i := from; i < n; i++ {
			msg, err := batch.ReadMessage()
			if err != nil {
				t.Fatalf("from %d: reading offset %d: %v", from, i, err)
			}
			if msg.Offset != i || string(msg.Value) != fmt.Sprintf("conn-%d", i) || fmt.Sprint(msg.Headers) != fmt.Sprint(msgs[i].Headers) {
				t.Errorf("from %d: got %d %q %v, want %d %q %v", from, msg.Offset, msg.Value, msg.Headers, i, msgs[i].Value, msgs[i].Headers)
			}
		}
	}
	read(0)
	read(17) // inside the compressed batch: kafka-go skips the records before 17
	first, last, err := conn.ReadOffsets()
	if err != nil || first != 0 || last != n {
		t.Errorf("ReadOffsets: %d..%d (%v), want 0..%d", first, last, err, n)
	}
}
