//! The partition side of transactions on an in-process cluster, in raw
//! protocol: a transactional batch for a partition its transaction does not
//! contain is refused (KIP-890 part 1) and writes nothing; a fenced
//! producer's batch and a deposed coordinator's marker are refused; a
//! retried marker writes nothing; ListOffsets stops at the last stable
//! offset for read_committed, and the other open transaction on the
//! partition is untouched throughout.

mod support;

use std::time::Duration;

use brook_broker::broker_link::BrokerLink;
use brook_client::admin::Admin;
use brook_protocol::batch::build_transactional_batch;
use brook_protocol::error_code as ec;
use brook_protocol::kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use brook_protocol::kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use brook_protocol::kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use brook_protocol::kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use brook_protocol::kafka_protocol::messages::*;
use brook_protocol::kafka_protocol::protocol::StrBytes;
use brook_storage::TopicPartition;
use bytes::Bytes;
use support::cluster::Cluster;

const WAIT: Duration = Duration::from_secs(30);
const SETTINGS: &[(&str, &str)] = &[("transaction.state.log.num.partitions", "3")];

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

async fn link(cluster: &Cluster, id: i32) -> BrokerLink {
    let port = cluster.node(id).config.advertised.port;
    BrokerLink::connect(&format!("127.0.0.1:{port}"), "txn-partition-test".into(), 1 << 20, &Default::default())
        .await
        .expect("connect")
}

/// A link to the coordinator of `transactional_id` and a settled producer id and epoch.
async fn init(cluster: &Cluster, transactional_id: &str) -> (BrokerLink, i64, i16) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut any = link(cluster, cluster.brokers()[0]).await;
        let found = any
            .send(3, &FindCoordinatorRequest::default().with_key(s(transactional_id)).with_key_type(1))
            .await
            .expect("FindCoordinator");
        if found.error_code == ec::NONE {
            let mut l = link(cluster, found.node_id.0).await;
            let request = InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s(transactional_id))))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            let r = l.send(4, &request).await.expect("InitProducerId");
            if r.error_code == ec::NONE {
                return (l, r.producer_id.0, r.producer_epoch);
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no coordinator for {transactional_id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn add_partition(l: &mut BrokerLink, transactional_id: &str, pid: i64, epoch: i16, partition: i32) -> i16 {
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(transactional_id)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s("data")))
            .with_partitions(vec![partition])]);
    let r = l.send(3, &request).await.expect("AddPartitionsToTxn");
    r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

async fn produce(l: &mut BrokerLink, transactional_id: &str, pid: i64, epoch: i16, seq: i32, value: &str) -> i16 {
    let batch = build_transactional_batch(&[(None, Some(value.as_bytes()))], 1, pid, epoch, seq);
    let request = ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(s(transactional_id))))
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default().with_name(TopicName(s("data"))).with_partition_data(vec![
            PartitionProduceData::default().with_index(0).with_records(Some(Bytes::from(batch))),
        ])]);
    let r = l.send(9, &request).await.expect("Produce");
    r.responses[0].partition_responses[0].error_code
}

async fn end(l: &mut BrokerLink, transactional_id: &str, pid: i64, epoch: i16) -> i16 {
    let request = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(transactional_id)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(true);
    l.send(3, &request).await.expect("EndTxn").error_code
}

/// (high watermark, last stable offset) of data-0.
async fn offsets(l: &mut BrokerLink) -> (i64, i64) {
    (list_offset(l, -1, 0).await, list_offset(l, -1, 1).await)
}

/// ListOffsets of data-0 for `timestamp` (-1: latest) at `isolation`.
async fn list_offset(l: &mut BrokerLink, timestamp: i64, isolation: i8) -> i64 {
    let partition = ListOffsetsPartition::default().with_partition_index(0).with_timestamp(timestamp);
    let topic = ListOffsetsTopic::default().with_name(TopicName(s("data"))).with_partitions(vec![partition]);
    let request = ListOffsetsRequest::default().with_isolation_level(isolation).with_topics(vec![topic]);
    let r = l.send(5, &request).await.expect("ListOffsets");
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, ec::NONE);
    p.offset
}

#[tokio::test]
async fn partitions_refuse_what_no_transaction_contains() {
    let cluster = Cluster::start(3, SETTINGS).await;
    let admin = Admin::new(&cluster.bootstrap()).await.expect("admin");
    admin.create_topic("data", 1, 3, &[]).await.expect("create topic");
    let tp = TopicPartition::new("data", 0);
    let leader = cluster.wait_leader(&tp, 3, WAIT).await;
    let mut data = link(&cluster, leader).await;

    // Another producer's open transaction, which nothing below may disturb.
    let (mut other_c, other_pid, other_epoch) = init(&cluster, "bystander").await;
    assert_eq!(add_partition(&mut other_c, "bystander", other_pid, other_epoch, 0).await, ec::NONE);
    assert_eq!(produce(&mut data, "bystander", other_pid, other_epoch, 0, "bystander").await, ec::NONE);
    assert_eq!(offsets(&mut data).await, (1, 0));
    // A search by time stops where the isolation level does.
    assert_eq!(list_offset(&mut data, 0, 0).await, 0);
    assert_eq!(list_offset(&mut data, 0, 1).await, -1, "read_committed: nothing stable yet");

    // KIP-890 part 1: a batch for a partition not added to the transaction.
    let (mut c, pid, epoch) = init(&cluster, "writer").await;
    assert_eq!(produce(&mut data, "writer", pid, epoch, 0, "not-added").await, ec::INVALID_TXN_STATE);
    assert_eq!(offsets(&mut data).await, (1, 0), "nothing written");
    // An unknown transactional id, or a producer id the id does not map to.
    assert_eq!(produce(&mut data, "nobody", pid, epoch, 0, "unknown-id").await, ec::INVALID_PRODUCER_ID_MAPPING);
    assert_ne!(produce(&mut data, "writer", pid + 100, 0, 0, "wrong-pid").await, ec::NONE);
    assert_eq!(offsets(&mut data).await, (1, 0), "nothing written");

    // Added: accepted.
    assert_eq!(add_partition(&mut c, "writer", pid, epoch, 0).await, ec::NONE);
    assert_eq!(produce(&mut data, "writer", pid, epoch, 0, "in-txn").await, ec::NONE);
    assert_eq!(offsets(&mut data).await, (2, 0));

    // A deposed coordinator's marker (older coordinator epoch) is refused;
    // a marker from a newer epoch for a producer with nothing open writes nothing.
    let marker = |coordinator_epoch: i32, producer_id: i64, producer_epoch: i16| {
        WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(producer_epoch)
            .with_transaction_result(true)
            .with_coordinator_epoch(coordinator_epoch)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(TopicName(s("data")))
                .with_partition_indexes(vec![0])])])
    };
    let r = data.send(1, &marker(5, 424242, 0)).await.expect("WriteTxnMarkers");
    assert_eq!(r.markers[0].topics[0].partitions[0].error_code, ec::NONE);
    assert_eq!(offsets(&mut data).await, (2, 0), "a marker for nothing open writes nothing");

    // Commit; the markers land; a retried marker writes nothing.
    assert_eq!(end(&mut c, "writer", pid, epoch).await, ec::NONE);
    let deadline = tokio::time::Instant::now() + WAIT;
    while offsets(&mut data).await.0 < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no commit marker");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(offsets(&mut data).await, (3, 0), "the bystander still holds the stable offset");
    let coordinator_epoch = cluster
        .partition(leader, &tp)
        .producers()
        .expect("leader")
        .into_iter()
        .find(|(id, _)| *id == pid)
        .map(|(_, e)| e.coordinator_epoch)
        .expect("the writer's state");
    let r = data.send(1, &marker(coordinator_epoch, pid, epoch)).await.expect("WriteTxnMarkers");
    assert_eq!(r.markers[0].topics[0].partitions[0].error_code, ec::NONE);
    assert_eq!(offsets(&mut data).await.0, 3, "the retried marker wrote nothing");
    if coordinator_epoch > 0 {
        let r = data.send(1, &marker(coordinator_epoch - 1, pid, epoch)).await.expect("WriteTxnMarkers");
        assert_eq!(r.markers[0].topics[0].partitions[0].error_code, ec::TRANSACTION_COORDINATOR_FENCED);
    }

    // A new producer instance fences the writer: its old epoch is refused at the partition.
    let (_, pid2, epoch2) = init(&cluster, "writer").await;
    assert_eq!(pid2, pid);
    assert!(epoch2 > epoch);
    assert_eq!(add_partition(&mut c, "writer", pid, epoch, 0).await, ec::PRODUCER_FENCED);
    let refused = produce(&mut data, "writer", pid, epoch, 1, "zombie").await;
    assert!(refused == ec::INVALID_PRODUCER_EPOCH || refused == ec::INVALID_TXN_STATE, "a zombie's batch: {refused}");
    assert_eq!(offsets(&mut data).await, (3, 0), "nothing written; the bystander untouched");

    // The bystander commits: the stable offset moves to the end.
    assert_eq!(end(&mut other_c, "bystander", other_pid, other_epoch).await, ec::NONE);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (hw, lso) = offsets(&mut data).await;
        if hw == 4 && lso == 4 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "stable offset stuck at {lso} (hw {hw})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
