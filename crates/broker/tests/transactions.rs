//! The transaction coordinator on an in-process cluster (tests/support),
//! spoken to in raw protocol: finding it, InitProducerId fencing, error
//! codes for bad input, transactions without partitions (TV2 aborts, whose
//! markers are trivially complete), timeouts, and reloading the state after
//! the coordinator's broker dies. Markers to data partitions need the
//! partition side (WriteTxnMarkers), so transactions with partitions are
//! only checked up to their Prepare state here.

mod support;

use std::time::Duration;

use brook_broker::broker_link::BrokerLink;
use brook_client::admin::Admin;
use brook_protocol::error_code as ec;
use brook_protocol::kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use brook_protocol::kafka_protocol::messages::*;
use brook_protocol::kafka_protocol::protocol::StrBytes;
use brook_storage::TopicPartition;
use support::cluster::{wait_for, Cluster};

const WAIT: Duration = Duration::from_secs(30);
const SETTINGS: &[(&str, &str)] = &[
    ("transaction.state.log.num.partitions", "3"),
    ("transaction.abort.timed.out.transaction.cleanup.interval.ms", "200"),
];

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn txn_id(text: &str) -> TransactionalId {
    TransactionalId(s(text))
}

async fn link(cluster: &Cluster, id: i32) -> BrokerLink {
    let port = cluster.node(id).config.advertised.port;
    BrokerLink::connect(&format!("127.0.0.1:{port}"), "txn-test".into(), 1 << 20, &Default::default())
        .await
        .expect("connect")
}

/// The coordinator of `transactional_id`, once FindCoordinator names one
/// (not among `dead`) that has loaded the id's state partition.
async fn coordinator(cluster: &Cluster, transactional_id: &str, dead: &[i32]) -> i32 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let any = cluster.brokers().iter().copied().find(|id| !dead.contains(id)).expect("a live broker");
        let mut l = link(cluster, any).await;
        let request = FindCoordinatorRequest::default().with_key(s(transactional_id)).with_key_type(1);
        let response = l.send(3, &request).await.expect("FindCoordinator");
        if response.error_code == ec::NONE && !dead.contains(&response.node_id.0) {
            let id = response.node_id.0;
            let node = cluster.node(id);
            if node.transactions.coordinator_epoch(transactional_id).is_ok() {
                return id;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no transaction coordinator for {transactional_id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn init(
    l: &mut BrokerLink,
    version: i16,
    id: &str,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
) -> (i16, i64, i16) {
    let (pid, epoch) = expected.unwrap_or((-1, -1));
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id(id)))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch);
    let r = l.send(version, &request).await.expect("InitProducerId");
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// Runs the async block until it yields `Some` (every 50 ms, up to WAIT).
macro_rules! eventually {
    ($attempt:expr) => {{
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(v) = $attempt {
                break v;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out: {}", stringify!($attempt));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }};
}

/// InitProducerId, retried while the coordinator answers CONCURRENT_TRANSACTIONS.
async fn init_settled(l: &mut BrokerLink, id: &str, expected: Option<(i64, i16)>) -> (i64, i16) {
    eventually!({
        let (code, pid, epoch) = init(l, 4, id, 60_000, expected).await;
        match code {
            ec::NONE => Some((pid, epoch)),
            ec::CONCURRENT_TRANSACTIONS => None,
            other => panic!("InitProducerId failed with {other}"),
        }
    })
}

async fn end(l: &mut BrokerLink, version: i16, id: &str, pid: i64, epoch: i16, commit: bool) -> EndTxnResponse {
    let request = EndTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    l.send(version, &request).await.expect("EndTxn")
}

async fn add_partitions(
    l: &mut BrokerLink,
    id: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
    partitions: Vec<i32>,
) -> Vec<i16> {
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(id))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(partitions)]);
    let r = l.send(3, &request).await.expect("AddPartitionsToTxn");
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code))
        .collect()
}

async fn verify(l: &mut BrokerLink, id: &str, pid: i64, epoch: i16, topic: &str, partitions: Vec<i32>) -> Vec<i16> {
    let request =
        AddPartitionsToTxnRequest::default().with_transactions(vec![AddPartitionsToTxnTransaction::default()
            .with_transactional_id(txn_id(id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_verify_only(true)
            .with_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(partitions)])]);
    let r = l.send(4, &request).await.expect("AddPartitionsToTxn v4");
    r.results_by_transaction
        .iter()
        .flat_map(|t| &t.topic_results)
        .flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code))
        .collect()
}

/// AddPartitionsToTxn v5 as a partition leader sends it for a TV2
/// producer's first write to a partition: an implicit add.
async fn implicit_add(l: &mut BrokerLink, id: &str, pid: i64, epoch: i16, topic: &str, partition: i32) -> Vec<i16> {
    let request =
        AddPartitionsToTxnRequest::default().with_transactions(vec![AddPartitionsToTxnTransaction::default()
            .with_transactional_id(txn_id(id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_verify_only(false)
            .with_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![partition])])]);
    let r = l.send(5, &request).await.expect("AddPartitionsToTxn v5");
    r.results_by_transaction
        .iter()
        .flat_map(|t| &t.topic_results)
        .flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code))
        .collect()
}

async fn describe(l: &mut BrokerLink, id: &str) -> describe_transactions_response::TransactionState {
    let request = DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id(id)]);
    let mut r = l.send(0, &request).await.expect("DescribeTransactions");
    r.transaction_states.remove(0)
}

#[tokio::test]
async fn coordinator_requests_and_their_error_codes() {
    let cluster = Cluster::start(3, SETTINGS).await;
    let admin = Admin::new(&cluster.bootstrap()).await.expect("admin");
    admin.create_topic("data", 2, 3, &[]).await.expect("create topic");
    cluster.wait_leader(&TopicPartition::new("data", 0), 3, WAIT).await;

    let id = "tx-errors";
    let c = coordinator(&cluster, id, &[]).await;
    let image = cluster.metadata();
    let state = image.topic("__transaction_state").expect("created on first use");
    assert_eq!(state.partitions.len(), 3);
    assert_eq!(state.configs.get("cleanup.policy").map(String::as_str), Some("compact"));
    assert_eq!(state.configs.get("min.insync.replicas").map(String::as_str), Some("2"));
    let mut l = link(&cluster, c).await;

    // Bad input.
    assert_eq!(init(&mut l, 4, id, 900_001, None).await.0, ec::INVALID_TRANSACTION_TIMEOUT);
    assert_eq!(init(&mut l, 4, id, 0, None).await.0, ec::INVALID_TRANSACTION_TIMEOUT);
    assert_eq!(init(&mut l, 4, id, 60_000, Some((5, -1))).await.0, ec::INVALID_REQUEST);
    assert_eq!(end(&mut l, 3, "tx-unknown", 1, 0, true).await.error_code, ec::INVALID_PRODUCER_ID_MAPPING);
    let other = *cluster.brokers().iter().find(|b| **b != c).unwrap();
    let mut elsewhere = link(&cluster, other).await;
    assert_eq!(init(&mut elsewhere, 4, id, 60_000, None).await.0, ec::NOT_COORDINATOR);

    // A new id: epoch 0; a new producer of it: epoch 1, and the old one is fenced.
    let (pid, epoch) = init_settled(&mut l, id, None).await;
    assert_eq!(epoch, 0);
    assert_eq!(init_settled(&mut l, id, None).await, (pid, 1));
    assert_eq!(init(&mut l, 4, id, 60_000, Some((pid, 0))).await.0, ec::PRODUCER_FENCED);
    assert_eq!(
        init(&mut l, 3, id, 60_000, Some((pid, 0))).await.0,
        ec::INVALID_PRODUCER_EPOCH,
        "v3 knows no PRODUCER_FENCED"
    );
    assert_eq!(add_partitions(&mut l, id, pid, 0, "data", vec![0]).await, vec![ec::PRODUCER_FENCED]);
    assert_eq!(end(&mut l, 1, id, pid, 0, true).await.error_code, ec::INVALID_PRODUCER_EPOCH);
    assert_eq!(end(&mut l, 3, id, pid, 0, true).await.error_code, ec::PRODUCER_FENCED);
    assert_eq!(end(&mut l, 3, id, pid + 1, 1, true).await.error_code, ec::INVALID_PRODUCER_ID_MAPPING);
    // Nothing to commit.
    assert_eq!(end(&mut l, 3, id, pid, 1, true).await.error_code, ec::INVALID_TXN_STATE);
    // An unknown partition fails, and the others are not attempted.
    assert_eq!(
        add_partitions(&mut l, id, pid, 1, "data", vec![0, 7]).await,
        vec![ec::OPERATION_NOT_ATTEMPTED, ec::UNKNOWN_TOPIC_OR_PARTITION]
    );

    // TV2 (EndTxn v5): an abort with no transaction open bumps the epoch.
    let r = end(&mut l, 5, id, pid, 1, false).await;
    assert_eq!((r.error_code, r.producer_id.0, r.producer_epoch), (ec::NONE, pid, 2));
    let d = eventually!({
        let d = describe(&mut l, id).await;
        (d.transaction_state.as_str() == "CompleteAbort").then_some(d)
    });
    assert_eq!((d.error_code, d.producer_id.0, d.producer_epoch), (ec::NONE, pid, 2));
    // Its retry answers the same.
    let r = end(&mut l, 5, id, pid, 1, false).await;
    assert_eq!((r.error_code, r.producer_epoch), (ec::NONE, 2));

    // A transaction on a data partition, checked by a partition leader.
    assert_eq!(verify(&mut l, id, pid, 2, "data", vec![0]).await, vec![ec::TRANSACTION_ABORTABLE]);
    assert_eq!(add_partitions(&mut l, id, pid, 2, "data", vec![0]).await, vec![ec::NONE]);
    assert_eq!(verify(&mut l, id, pid, 2, "data", vec![0, 1]).await, vec![ec::NONE, ec::TRANSACTION_ABORTABLE]);
    assert_eq!(verify(&mut l, id, pid, 1, "data", vec![0]).await, vec![ec::PRODUCER_FENCED]);
    let d = describe(&mut l, id).await;
    assert_eq!(d.transaction_state.as_str(), "Ongoing");
    assert_eq!(d.topics.len(), 1);
    assert_eq!(d.topics[0].partitions, vec![0]);
    let listed = l
        .send(
            1,
            &ListTransactionsRequest::default()
                .with_state_filters(vec![s("Ongoing"), s("Bogus")])
                .with_duration_filter(-1),
        )
        .await
        .expect("ListTransactions");
    assert_eq!(listed.unknown_state_filters, vec![s("Bogus")]);
    assert!(listed.transaction_states.iter().any(|t| t.transactional_id.as_str() == id));
    // While its markers are written, the commit cannot be changed; once
    // complete, an abort is the wrong state (Kafka's answers).
    assert_eq!(end(&mut l, 3, id, pid, 2, true).await.error_code, ec::NONE);
    let code = end(&mut l, 3, id, pid, 2, false).await.error_code;
    assert!([ec::CONCURRENT_TRANSACTIONS, ec::INVALID_TXN_STATE].contains(&code), "{code}");
    let d = describe(&mut l, id).await;
    assert!(["PrepareCommit", "CompleteCommit"].contains(&d.transaction_state.as_str()), "{d:?}");
    // A TV2 producer's partition is added by its leader (v5, not verify-only).
    let tv2 = "tx-errors-tv2";
    let c2 = coordinator(&cluster, tv2, &[]).await;
    let mut l2 = link(&cluster, c2).await;
    let (pid2, epoch2) = init_settled(&mut l2, tv2, None).await;
    assert_eq!(implicit_add(&mut l2, tv2, pid2, epoch2, "data", 1).await, vec![ec::NONE]);
    assert_eq!(implicit_add(&mut l2, tv2, pid2, epoch2 + 1, "data", 1).await, vec![ec::PRODUCER_FENCED]);
    let d = describe(&mut l2, tv2).await;
    assert_eq!((d.transaction_state.as_str(), d.topics[0].partitions.clone()), ("Ongoing", vec![1]));
    let unknown = describe(&mut l, "tx-never-seen").await;
    assert_eq!(unknown.error_code, ec::TRANSACTIONAL_ID_NOT_FOUND);
}

#[tokio::test]
async fn a_timed_out_transaction_is_aborted_with_a_bumped_epoch() {
    let cluster = Cluster::start(3, SETTINGS).await;
    let admin = Admin::new(&cluster.bootstrap()).await.expect("admin");
    admin.create_topic("slow", 1, 3, &[]).await.expect("create topic");
    cluster.wait_leader(&TopicPartition::new("slow", 0), 3, WAIT).await;
    let id = "tx-slow";
    let c = coordinator(&cluster, id, &[]).await;
    let mut l = link(&cluster, c).await;
    let (code, pid, epoch) = init(&mut l, 4, id, 500, None).await;
    assert_eq!(code, ec::NONE);
    assert_eq!(add_partitions(&mut l, id, pid, epoch, "slow", vec![0]).await, vec![ec::NONE]);
    let d = eventually!({
        let d = describe(&mut l, id).await;
        (d.transaction_state.as_str() != "Ongoing").then_some(d)
    });
    assert!(["PrepareAbort", "CompleteAbort"].contains(&d.transaction_state.as_str()), "{d:?}");
    assert_eq!(d.producer_epoch, epoch + 1, "the producer is fenced");
    assert_eq!(end(&mut l, 3, id, pid, epoch, true).await.error_code, ec::PRODUCER_FENCED);
}

#[tokio::test]
async fn a_new_coordinator_reloads_the_state_after_a_crash() {
    let mut cluster = Cluster::start(3, SETTINGS).await;
    let id = "tx-failover";
    let c = coordinator(&cluster, id, &[]).await;
    let mut l = link(&cluster, c).await;
    let (pid, epoch) = init_settled(&mut l, id, None).await;
    // A TV2 abort: epoch + 1, written and complete before the crash.
    let r = end(&mut l, 5, id, pid, epoch, false).await;
    assert_eq!((r.error_code, r.producer_epoch), (ec::NONE, epoch + 1));
    eventually!((describe(&mut l, id).await.transaction_state.as_str() == "CompleteAbort").then_some(()));
    drop(l);
    cluster.kill(c);
    let tp = TopicPartition::new(
        "__transaction_state",
        cluster.node(*cluster.brokers().iter().find(|b| **b != c).unwrap()).transactions.partition_of(id),
    );
    wait_for(WAIT, "a new leader of the transaction state partition", || {
        cluster.leader_of(&tp).filter(|leader| *leader != c)
    })
    .await;
    let c2 = coordinator(&cluster, id, &[c]).await;
    assert_ne!(c2, c);
    let mut l = link(&cluster, c2).await;
    let d = describe(&mut l, id).await;
    assert_eq!((d.error_code, d.transaction_state.as_str(), d.producer_id.0), (ec::NONE, "CompleteAbort", pid));
    assert_eq!(d.producer_epoch, epoch + 1);
    // The same producer continues with its epoch: the id was not forgotten.
    assert_eq!(init_settled(&mut l, id, Some((pid, epoch + 1))).await, (pid, epoch + 2));
}

#[tokio::test]
async fn a_new_coordinator_finishes_a_prepared_commit_and_drops_deleted_partitions() {
    let mut cluster = Cluster::start(3, SETTINGS).await;
    let admin = Admin::new(&cluster.bootstrap()).await.expect("admin");
    admin.create_topic("doomed", 1, 3, &[]).await.expect("create topic");
    cluster.wait_leader(&TopicPartition::new("doomed", 0), 3, WAIT).await;
    let id = "tx-doomed";
    let c = coordinator(&cluster, id, &[]).await;
    let mut l = link(&cluster, c).await;
    let (pid, epoch) = init_settled(&mut l, id, None).await;
    assert_eq!(add_partitions(&mut l, id, pid, epoch, "doomed", vec![0]).await, vec![ec::NONE]);
    assert_eq!(end(&mut l, 3, id, pid, epoch, true).await.error_code, ec::NONE);
    let state = describe(&mut l, id).await.transaction_state;
    assert!(["PrepareCommit", "CompleteCommit"].contains(&state.as_str()), "{state}");
    drop(l);
    // The commit is durable: the next coordinator finishes it.
    cluster.kill(c);
    let c2 = coordinator(&cluster, id, &[c]).await;
    let mut l = link(&cluster, c2).await;
    // Markers for a partition whose topic is deleted are dropped.
    let admin = Admin::new(&cluster.bootstrap()).await.expect("admin");
    admin.delete_topic("doomed").await.expect("delete topic");
    let d = eventually!({
        let d = describe(&mut l, id).await;
        (d.transaction_state.as_str() == "CompleteCommit").then_some(d)
    });
    assert_eq!((d.producer_id.0, d.producer_epoch), (pid, epoch));
    assert!(d.topics.is_empty());
    // A retried EndTxn of the finished commit succeeds.
    assert_eq!(end(&mut l, 3, id, pid, epoch, true).await.error_code, ec::NONE);
}
