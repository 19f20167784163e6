package kafkago_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestConnMetadata: a kafka.Conn on one node sees the three brokers at
// their listener addresses and the active controller; on the controller it
// creates and deletes a topic; ReadPartitions shows three replicas and a
// full ISR per partition.
func TestConnMetadata(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", cluster.Nodes[0].Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))

	brokers, err := conn.Brokers()
	if err != nil {
		t.Fatalf("Brokers: %v", err)
	}
	wantAddrs := map[int]string{}
	for _, node := range cluster.Nodes {
		wantAddrs[node.ID] = node.Addr()
	}
	gotAddrs := map[int]string{}
	for _, b := range brokers {
		gotAddrs[b.ID] = net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
	}
	if fmt.Sprint(gotAddrs) != fmt.Sprint(wantAddrs) {
		t.Errorf("Brokers: %v, want %v", gotAddrs, wantAddrs)
	}

	controller, err := conn.Controller()
	if err != nil {
		t.Fatalf("Controller: %v", err)
	}
	if wantAddrs[controller.ID] == "" {
		t.Fatalf("Controller: %+v is not one of the nodes", controller)
	}
	versions, err := conn.ApiVersions()
	if err != nil || len(versions) == 0 {
		t.Errorf("ApiVersions: %d APIs, %v", len(versions), err)
	}

	controllerConn, err := kafka.DialContext(ctx, "tcp", net.JoinHostPort(controller.Host, strconv.Itoa(controller.Port)))
	if err != nil {
		t.Fatalf("dial controller: %v", err)
	}
	defer controllerConn.Close()
	_ = controllerConn.SetDeadline(time.Now().Add(30 * time.Second))
	topic := uniqueName("kafkago-conn")
	if err := controllerConn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: replicationFactor}); err != nil {
		t.Fatalf("Conn.CreateTopics: %v", err)
	}
	waitFor(ctx, t, "ReadPartitions to show 3 replicas in sync for each partition", func() error {
		partitions, err := conn.ReadPartitions(topic)
		if err != nil {
			return err
		}
		if len(partitions) != 3 {
			return fmt.Errorf("%d partitions", len(partitions))
		}
		for _, p := range partitions {
			if p.Error != nil || len(p.Replicas) != 3 || len(p.Isr) != 3 || wantAddrs[p.Leader.ID] == "" {
				return fmt.Errorf("partition %d: leader %d replicas %v isr %v (%v)", p.ID, p.Leader.ID, ids(p.Replicas), ids(p.Isr), p.Error)
			}
		}
		return nil
	})
	if err := controllerConn.DeleteTopics(topic); err != nil {
		t.Fatalf("Conn.DeleteTopics: %v", err)
	}
	waitFor(ctx, t, "the deleted topic to disappear", func() error {
		meta, err := newClient().Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil {
			return err
		}
		if len(meta.Topics) == 1 && meta.Topics[0].Error == nil {
			return fmt.Errorf("%s still has metadata", topic)
		}
		return nil
	})
}

// TestClientMetadata: kafka.Client's Metadata and ListOffsets for a topic
// with records in it.
func TestClientMetadata(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := uniqueName("kafkago-client")
	createTopic(ctx, t, topic, 2)
	writeEach(ctx, t, topic, 2, 7, "metadata")

	client := newClient()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if len(meta.Brokers) != 3 || meta.ClusterID == "" || meta.Controller.ID < 1 {
		t.Errorf("Metadata: %d brokers, cluster id %q, controller %d", len(meta.Brokers), meta.ClusterID, meta.Controller.ID)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Name != topic || len(meta.Topics[0].Partitions) != 2 {
		t.Fatalf("Metadata topics: %+v", meta.Topics)
	}

	offsets, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0), kafka.FirstOffsetOf(1), kafka.LastOffsetOf(1)},
	}})
	if err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}
	for _, p := range offsets.Topics[topic] {
		if p.Error != nil || p.FirstOffset != 0 || p.LastOffset != 7 {
			t.Errorf("ListOffsets partition %d: first %d last %d (%v), want 0 and 7", p.Partition, p.FirstOffset, p.LastOffset, p.Error)
		}
	}
	if len(offsets.Topics[topic]) != 2 {
		t.Errorf("ListOffsets: %d partitions, want 2", len(offsets.Topics[topic]))
	}
}

func ids(brokers []kafka.Broker) []int {
	out := make([]int, 0, len(brokers))
	for _, b := range brokers {
		out = append(out, b.ID)
	}
	sort.Ints(out)
	return out
}
