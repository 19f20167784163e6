package kafkago_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestConsumerGroupCommitsAndResume: Reader A (GroupID) takes all four
// partitions; Reader B joins and the group rebalances to two each; together
// they read every record exactly once, committing each. After both leave, a
// new Reader of the group starts exactly at the committed offsets.
func TestConsumerGroupCommitsAndResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const partitions = 4
	topic, groupID := uniqueName("kafkago-group"), uniqueName("kafkago-group")
	createTopic(ctx, t, topic, partitions)

	writeEach(ctx, t, topic, partitions, 10, "before-b")
	a := startGroupReader(t, "A", groupID, topic)
	defer a.close(t)
	waitFor(ctx, t, "A to read the first 40 records", func() error {
		if received, _ := a.snapshot(); len(received) != 40 {
			return fmt.Errorf("A has %d records", len(received))
		}
		return nil
	})
	waitFor(ctx, t, "A to own every partition", func() error { return checkAssignment(ctx, groupID, topic, 4) })

	b := startGroupReader(t, "B", groupID, topic)
	defer b.close(t)
	waitFor(ctx, t, "the rebalance to split the partitions between A and B", func() error {
		return checkAssignment(ctx, groupID, topic, 2, 2)
	})

	writeEach(ctx, t, topic, partitions, 10, "after-b")
	waitFor(ctx, t, "A and B to read the 80 records", func() error {
		ra, _ := a.snapshot()
		rb, _ := b.snapshot()
		if n := len(ra) + len(rb); n < 80 {
			return fmt.Errorf("%d records", n)
		}
		return nil
	})
	readA, errsA := a.snapshot()
	readB, errsB := b.snapshot()
	t.Logf("A read %d, B read %d; errors A %v, B %v", len(readA), len(readB), errsA, errsB)
	if len(readB) == 0 {
		t.Errorf("B read nothing after the rebalance")
	}
	checkExactlyOnce(t, append(readA, readB...), partitions, 0, 20)
	checkCommitted(ctx, t, groupID, topic, partitions, 20)

	a.close(t)
	b.close(t)
	writeEach(ctx, t, topic, partitions, 5, "after-close")
	c := startGroupReader(t, "C", groupID, topic)
	defer c.close(t)
	waitFor(ctx, t, "C to read the 20 records written after A and B left", func() error {
		if received, _ := c.snapshot(); len(received) < 20 {
			return fmt.Errorf("C has %d records", len(received))
		}
		return nil
	})
	// Give a wrongly reset consumer the time to deliver extra records.
	time.Sleep(time.Second)
	readC, _ := c.snapshot()
	checkExactlyOnce(t, readC, partitions, 20, 25)
	checkCommitted(ctx, t, groupID, topic, partitions, 25)
}

// checkAssignment asks the coordinator (DescribeGroups) whether the group
// is Stable with members owning `counts` partitions each, all of topic's
// partitions between them.
func checkAssignment(ctx context.Context, groupID, topic string, counts ...int) error {
	resp, err := newClient().DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{groupID}})
	if err != nil {
		return err
	}
	if len(resp.Groups) != 1 || resp.Groups[0].Error != nil {
		return fmt.Errorf("DescribeGroups: %+v", resp.Groups)
	}
	group := resp.Groups[0]
	if group.GroupState != "Stable" || len(group.Members) != len(counts) {
		return fmt.Errorf("group %s with %d members", group.GroupState, len(group.Members))
	}
	var owned []int
	var sizes []int
	for _, m := range group.Members {
		n := 0
		for _, tp := range m.MemberAssignments.Topics {
			if tp.Topic == topic {
				owned = append(owned, tp.Partitions...)
				n += len(tp.Partitions)
			}
		}
		sizes = append(sizes, n)
	}
	sort.Ints(owned)
	sort.Ints(sizes)
	want := 0
	for _, n := range counts {
		want += n
	}
	if fmt.Sprint(sizes) != fmt.Sprint(counts) || fmt.Sprint(owned) != fmt.Sprint(seq(want)) {
		return fmt.Errorf("members own %v partitions, together %v", sizes, owned)
	}
	return nil
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// checkExactlyOnce asserts that msgs hold each offset in [from, to) of every
// partition once, in offset order per partition.
func checkExactlyOnce(t *testing.T, msgs []kafka.Message, partitions int, from, to int64) {
	t.Helper()
	next := map[int]int64{}
	for p := 0; p < partitions; p++ {
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

// checkCommitted reads the group's committed offsets with kafka.Client.OffsetFetch.
func checkCommitted(ctx context.Context, t *testing.T, groupID, topic string, partitions int, want int64) {
	t.Helper()
	waitFor(ctx, t, fmt.Sprintf("committed offsets of %s to be %d", groupID, want), func() error {
		resp, err := newClient().OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: groupID, Topics: map[string][]int{topic: seq(partitions)}})
		if err != nil {
			return err
		}
		if resp.Error != nil {
			return resp.Error
		}
		got := resp.Topics[topic]
		if len(got) != partitions {
			return fmt.Errorf("%d partitions in the answer", len(got))
		}
		for _, p := range got {
			if p.Error != nil || p.CommittedOffset != want {
				return fmt.Errorf("partition %d: committed %d (%v)", p.Partition, p.CommittedOffset, p.Error)
			}
		}
		return nil
	})
}
