package kafkago_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// groupReader is a kafka-go Reader with a GroupID, fetching in the
// background and committing every record synchronously before the next.
type groupReader struct {
	name   string
	reader *kafka.Reader
	cancel context.CancelFunc
	done   chan struct{}
	closed bool

	mu       sync.Mutex
	received []kafka.Message
	errs     []error
}

func startGroupReader(t *testing.T, name, groupID, topic string) *groupReader {
	t.Helper()
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cluster.Bootstrap(), GroupID: groupID, Topic: topic,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    0, // CommitMessages is synchronous
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		MaxWait:           200 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    200 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	g := &groupReader{name: name, reader: reader, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		for {
			msg, err := reader.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, io.EOF) {
					return
				}
				g.addErr(err)
				continue
			}
			g.mu.Lock()
			g.received = append(g.received, msg)
			g.mu.Unlock()
			if err := reader.CommitMessages(ctx, msg); err != nil && ctx.Err() == nil {
				g.addErr(err)
			}
		}
	}()
	return g
}

func (g *groupReader) addErr(err error) {
	g.mu.Lock()
	g.errs = append(g.errs, err)
	g.mu.Unlock()
}

func (g *groupReader) snapshot() (received []kafka.Message, errs []error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]kafka.Message(nil), g.received...), append([]error(nil), g.errs...)
}

// close stops fetching and closes the Reader (which leaves the group),
// within a bounded time; a second call does nothing.
func (g *groupReader) close(t *testing.T) {
	t.Helper()
	if g.closed {
		return
	}
	g.closed = true
	g.cancel()
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		t.Errorf("reader %s: FetchMessage did not return within 10s of cancel", g.name)
	}
	closed := make(chan error, 1)
	go func() { closed <- g.reader.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("closing reader %s: %v", g.name, err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("reader %s did not close within 20s", g.name)
	}
}
