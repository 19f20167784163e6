package sarama_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// groupMember is one Sarama ConsumerGroup member that consumes in the
// background, marks and synchronously commits every record it handles, and
// records its current assignment and everything it received.
type groupMember struct {
	name   string
	group  sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{}
	closed bool

	mu       sync.Mutex
	claims   []int32 // partitions of the current generation, sorted
	received []*sarama.ConsumerMessage
	errs     []error
}

func groupConfig() *sarama.Config {
	cfg := newConfig(sarama.V4_0_0_0)
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false // the handler commits each record itself
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 500 * time.Millisecond
	return cfg
}

func startMember(t *testing.T, name, groupID, topic string) *groupMember {
	t.Helper()
	group, err := sarama.NewConsumerGroup(cluster.Bootstrap(), groupID, groupConfig())
	if err != nil {
		t.Fatalf("member %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &groupMember{name: name, group: group, cancel: cancel, done: make(chan struct{})}
	go func() {
		for err := range group.Errors() {
			m.mu.Lock()
			m.errs = append(m.errs, err)
			m.mu.Unlock()
		}
	}()
	go func() {
		defer close(m.done)
		// Consume returns at every rebalance; calling it again rejoins.
		for ctx.Err() == nil {
			if err := group.Consume(ctx, []string{topic}, m); err != nil && ctx.Err() == nil {
				m.mu.Lock()
				m.errs = append(m.errs, err)
				m.mu.Unlock()
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
	return m
}

func (m *groupMember) Setup(session sarama.ConsumerGroupSession) error {
	var claims []int32
	for _, partitions := range session.Claims() {
		claims = append(claims, partitions...)
	}
	sort.Slice(claims, func(i, j int) bool { return claims[i] < claims[j] })
	m.mu.Lock()
	m.claims = claims
	m.mu.Unlock()
	return nil
}

func (m *groupMember) Cleanup(sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	m.claims = nil
	m.mu.Unlock()
	return nil
}

func (m *groupMember) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			m.mu.Lock()
			m.received = append(m.received, msg)
			m.mu.Unlock()
			session.MarkMessage(msg, "")
			session.Commit()
		case <-session.Context().Done():
			return nil
		}
	}
}

func (m *groupMember) snapshot() (claims []int32, received []*sarama.ConsumerMessage, errs []error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int32(nil), m.claims...), append([]*sarama.ConsumerMessage(nil), m.received...), append([]error(nil), m.errs...)
}

// close leaves the group (Sarama sends LeaveGroup) within a bounded time;
// a second call does nothing.
func (m *groupMember) close(t *testing.T) {
	t.Helper()
	if m.closed {
		return
	}
	m.closed = true
	m.cancel()
	closed := make(chan error, 1)
	go func() { closed <- m.group.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("closing member %s: %v", m.name, err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("member %s did not close within 20s", m.name)
	}
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		t.Errorf("member %s: Consume did not return within 10s of close", m.name)
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

func equalPartitions(got, want []int32) error {
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("partitions %v, want %v", got, want)
	}
	return nil
}
