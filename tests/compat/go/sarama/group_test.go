package sarama_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestConsumerGroupCommitsAndResume: member A takes all four partitions;
// member B joins and the group rebalances to two each; together they read
// every record exactly once, committing each. After both leave, a new
// member of the group starts exactly at the committed offsets.
func TestConsumerGroupCommitsAndResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const partitions = 4
	topic, groupID := uniqueName("sarama-group"), uniqueName("sarama-group")
	createTopic(t, topic, partitions)
	all := []int32{0, 1, 2, 3}

	produceEach(t, newConfig(sarama.V4_0_0_0), topic, partitions, 10, "before-b")
	a := startMember(t, "A", groupID, topic)
	defer a.close(t)
	waitFor(ctx, t, "A to own every partition and read 40 records", func() error {
		claims, received, _ := a.snapshot()
		if err := equalPartitions(claims, all); err != nil {
			return err
		}
		if len(received) != 40 {
			return fmt.Errorf("A has %d records", len(received))
		}
		return nil
	})

	b := startMember(t, "B", groupID, topic)
	defer b.close(t)
	waitFor(ctx, t, "the rebalance to split the partitions between A and B", func() error {
		ca, _, _ := a.snapshot()
		cb, _, _ := b.snapshot()
		if len(ca) != 2 || len(cb) != 2 {
			return fmt.Errorf("A owns %v, B owns %v", ca, cb)
		}
		return equalPartitions(sortedUnion(ca, cb), all)
	})

	produceEach(t, newConfig(sarama.V4_0_0_0), topic, partitions, 10, "after-b")
	waitFor(ctx, t, "A and B to read the 80 records", func() error {
		_, ra, _ := a.snapshot()
		_, rb, _ := b.snapshot()
		if n := len(ra) + len(rb); n < 80 {
			return fmt.Errorf("%d records", n)
		}
		return nil
	})
	claimsA, readA, errsA := a.snapshot()
	claimsB, readB, errsB := b.snapshot()
	t.Logf("A owns %v and read %d; B owns %v and read %d; errors A %v, B %v", claimsA, len(readA), claimsB, len(readB), errsA, errsB)
	// Each record once, and B only from its own partitions (B joined after the first 40).
	checkExactlyOnce(t, append(readA, readB...), partitions, 0, 20)
	for _, msg := range readB {
		if !contains(claimsB, msg.Partition) {
			t.Errorf("B read %d/%d outside its partitions %v", msg.Partition, msg.Offset, claimsB)
		}
	}
	checkCommitted(ctx, t, groupID, topic, partitions, 20)

	a.close(t)
	b.close(t)
	produceEach(t, newConfig(sarama.V4_0_0_0), topic, partitions, 5, "after-close")
	c := startMember(t, "C", groupID, topic)
	defer c.close(t)
	waitFor(ctx, t, "C to read the 20 records produced after A and B left", func() error {
		_, received, _ := c.snapshot()
		if len(received) < 20 {
			return fmt.Errorf("C has %d records", len(received))
		}
		return nil
	})
	// Give a wrongly reset consumer the time to deliver extra records.
	time.Sleep(time.Second)
	_, readC, _ := c.snapshot()
	checkExactlyOnce(t, readC, partitions, 20, 25)
	checkCommitted(ctx, t, groupID, topic, partitions, 25)
}

// checkExactlyOnce asserts that msgs hold each offset in [from, to) of every
// partition once, in offset order per partition.
func checkExactlyOnce(t *testing.T, msgs []*sarama.ConsumerMessage, partitions int32, from, to int64) {
	t.Helper()
	next := map[int32]int64{}
	for p := int32(0); p < partitions; p++ {
		next[p] = from
	}
	for _, msg := range msgs {
		if msg.Offset != next[msg.Partition] {
			t.Errorf("partition %d: read offset %d, expected %d (re-read or skipped)", msg.Partition, msg.Offset, next[msg.Partition])
		}
		next[msg.Partition] = msg.Offset + 1
	}
	for p, n := range next {
		if n != to {
			t.Errorf("partition %d: read up to offset %d, want %d", p, n, to)
		}
	}
}

// checkCommitted reads the group's committed offsets with the admin client.
func checkCommitted(ctx context.Context, t *testing.T, groupID, topic string, partitions int32, want int64) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(cluster.Bootstrap(), newConfig(sarama.V4_0_0_0))
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer admin.Close()
	var ids []int32
	for p := int32(0); p < partitions; p++ {
		ids = append(ids, p)
	}
	waitFor(ctx, t, fmt.Sprintf("committed offsets of %s to be %d", groupID, want), func() error {
		offsets, err := admin.ListConsumerGroupOffsets(groupID, map[string][]int32{topic: ids})
		if err != nil {
			return err
		}
		for p := int32(0); p < partitions; p++ {
			block := offsets.GetBlock(topic, p)
			if block == nil {
				return fmt.Errorf("no offset for partition %d", p)
			}
			if block.Err != sarama.ErrNoError || block.Offset != want {
				return fmt.Errorf("partition %d: committed %d (%v)", p, block.Offset, block.Err)
			}
		}
		return nil
	})
}

func sortedUnion(a, b []int32) []int32 {
	seen := map[int32]bool{}
	for _, p := range append(append([]int32(nil), a...), b...) {
		seen[p] = true
	}
	var out []int32
	for p := int32(0); p < 64; p++ {
		if seen[p] {
			out = append(out, p)
		}
	}
	return out
}

func contains(ps []int32, p int32) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
