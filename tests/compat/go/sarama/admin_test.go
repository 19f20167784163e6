package sarama_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func newAdmin(t *testing.T) sarama.ClusterAdmin {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(cluster.Bootstrap(), newConfig(sarama.V4_0_0_0))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	return admin
}

// TestAdminTopics: ClusterAdmin creates a topic with a config override,
// describes it (partitions, three replicas, full ISR, the override) and
// the cluster, and deletes the topic.
func TestAdminTopics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := newAdmin(t)
	topic := uniqueName("sarama-admin")
	retention := "3600000"
	err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: replicationFactor,
		ConfigEntries: map[string]*string{"retention.ms": &retention}}, false)
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: replicationFactor}, false); !isKError(err, sarama.ErrTopicAlreadyExists) {
		t.Errorf("creating it again: %v, want TOPIC_ALREADY_EXISTS", err)
	}

	waitFor(ctx, t, "DescribeTopics to show 2 partitions with 3 in-sync replicas", func() error {
		metadata, err := admin.DescribeTopics([]string{topic})
		if err != nil {
			return err
		}
		if len(metadata) != 1 || metadata[0].Err != sarama.ErrNoError || len(metadata[0].Partitions) != 2 {
			return fmt.Errorf("metadata %+v", metadata)
		}
		for _, p := range metadata[0].Partitions {
			if p.Err != sarama.ErrNoError || len(p.Replicas) != 3 || len(p.Isr) != 3 || !contains(p.Replicas, p.Leader) {
				return fmt.Errorf("partition %d: leader %d replicas %v isr %v (%v)", p.ID, p.Leader, p.Replicas, p.Isr, p.Err)
			}
		}
		return nil
	})

	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	if detail, ok := topics[topic]; !ok || detail.NumPartitions != 2 || detail.ReplicationFactor != replicationFactor {
		t.Errorf("ListTopics: %s is %+v (listed: %v)", topic, detail, ok)
	} else if v := detail.ConfigEntries["retention.ms"]; v == nil || *v != retention {
		t.Errorf("ListTopics: retention.ms of %s is %v, want %s", topic, v, retention)
	}

	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms"}})
	if err != nil {
		t.Fatalf("DescribeConfig: %v", err)
	}
	if len(entries) != 1 || entries[0].Value != retention || entries[0].Source != sarama.SourceTopic {
		t.Errorf("DescribeConfig retention.ms: %+v, want %s set on the topic", entries, retention)
	}

	brokers, controller, err := admin.DescribeCluster()
	if err != nil {
		t.Fatalf("DescribeCluster: %v", err)
	}
	if len(brokers) != 3 || controller < 1 || controller > 3 {
		t.Errorf("DescribeCluster: %d brokers, controller %d", len(brokers), controller)
	}

	if err := admin.DeleteTopic(topic); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	waitFor(ctx, t, "the deleted topic to disappear from ListTopics", func() error {
		topics, err := admin.ListTopics()
		if err != nil {
			return err
		}
		if _, ok := topics[topic]; ok {
			return fmt.Errorf("%s still listed", topic)
		}
		return nil
	})
	if err := admin.DeleteTopic(topic); !isKError(err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("deleting it again: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}

// TestAdminGroups: a live consumer group is listed with protocol type
// "consumer" and described as Stable with its one member; once empty it
// can be deleted.
func TestAdminGroups(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := newAdmin(t)
	topic, groupID := uniqueName("sarama-admin-group"), uniqueName("sarama-admin-group")
	createTopic(t, topic, 2)
	member := startMember(t, "solo", groupID, topic)
	defer member.close(t)
	waitFor(ctx, t, "the member to own both partitions", func() error {
		claims, _, _ := member.snapshot()
		return equalPartitions(claims, []int32{0, 1})
	})

	groups, err := admin.ListConsumerGroups()
	if err != nil {
		t.Fatalf("ListConsumerGroups: %v", err)
	}
	if groups[groupID] != "consumer" {
		t.Errorf("ListConsumerGroups: %s has protocol type %q (groups: %v)", groupID, groups[groupID], groups)
	}
	described, err := admin.DescribeConsumerGroups([]string{groupID})
	if err != nil {
		t.Fatalf("DescribeConsumerGroups: %v", err)
	}
	if len(described) != 1 || described[0].State != "Stable" || len(described[0].Members) != 1 || described[0].Protocol != "range" {
		t.Errorf("DescribeConsumerGroups: %+v", described)
	}

	if err := admin.DeleteConsumerGroup(groupID); !isKError(err, sarama.ErrNonEmptyGroup) {
		t.Errorf("deleting a group with a member: %v, want NON_EMPTY_GROUP", err)
	}
	member.close(t)
	waitFor(ctx, t, "the empty group to be deleted", func() error { return admin.DeleteConsumerGroup(groupID) })
	groups, err = admin.ListConsumerGroups()
	if err != nil {
		t.Fatalf("ListConsumerGroups: %v", err)
	}
	if _, ok := groups[groupID]; ok {
		t.Errorf("deleted group %s is still listed", groupID)
	}
}

func isKError(err error, want sarama.KError) bool {
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		return kerr == want
	}
	var topicErr *sarama.TopicError
	return errors.As(err, &topicErr) && topicErr.Err == want
}
