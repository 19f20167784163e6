//! Brook's own client in consumer groups against the real broker: the
//! cooperative-sticky assignor hands partitions over incrementally, and the
//! range assignor splits a topic between two members.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use brook_client::admin::Admin;
use brook_client::consumer::{Assignor, Consumer, ConsumerConfig, OffsetReset};
use support::Server;
use tokio::sync::watch;

type Owned = BTreeSet<i32>;

/// Runs a group member that polls until told to stop, publishing its assignment.
fn member(
    bootstrap: String,
    assignor: Assignor,
    stop: watch::Receiver<bool>,
) -> (watch::Receiver<Owned>, tokio::task::JoinHandle<Vec<Owned>>) {
    let (tx, rx) = watch::channel(Owned::new());
    let handle = tokio::spawn(async move {
        let mut config = ConsumerConfig::new(&bootstrap);
        config.group_id = Some("coop".into());
        config.assignors = vec![assignor];
        config.auto_offset_reset = OffsetReset::Earliest;
        config.session_timeout = Duration::from_secs(10);
        config.heartbeat_interval = Duration::from_millis(200);
        config.fetch_max_wait = Duration::from_millis(100);
        let mut consumer = Consumer::new(config).await.unwrap();
        consumer.subscribe(&["coop-topic"]).await.unwrap();
        let mut history = Vec::new();
        while !*stop.borrow() {
            consumer.poll(Duration::from_millis(100)).await.unwrap();
            let owned: Owned = consumer.assignment().iter().map(|(_, p)| *p).collect();
            if history.last() != Some(&owned) {
                history.push(owned.clone());
            }
            let _ = tx.send(owned);
        }
        consumer.close().await.unwrap();
        history
    });
    (rx, handle)
}

/// A broker with a 6-partition topic; keep the TempDir and Server alive.
async fn setup() -> (tempfile::TempDir, Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000"],
    );
    let bootstrap = format!("127.0.0.1:{}", server.port);
    Admin::new(&bootstrap).await.unwrap().create_topic("coop-topic", 6, 1, &[]).await.unwrap();
    (dir, server, bootstrap)
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_hands_over_incrementally() {
    let (_dir, _server, bootstrap) = setup().await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (a, a_handle) = member(bootstrap.clone(), Assignor::CooperativeSticky, stop_rx.clone());
    wait_for("a to own all 6", || a.borrow().len() == 6).await;
    let (b, b_handle) = member(bootstrap.clone(), Assignor::CooperativeSticky, stop_rx.clone());
    wait_for("a 3/3 split", || a.borrow().len() == 3 && b.borrow().len() == 3).await;
    let (owned_a, owned_b) = (a.borrow().clone(), b.borrow().clone());
    assert!(owned_a.is_disjoint(&owned_b));
    assert_eq!(owned_a.union(&owned_b).count(), 6);
    stop_tx.send(true).unwrap();
    let history_a = a_handle.await.unwrap();
    b_handle.await.unwrap();
    // Incremental: a went from 6 straight to its 3, never through an empty assignment.
    assert!(history_a.iter().all(|h| !h.is_empty()), "a never gave up everything: {history_a:?}");
    assert!(history_a.windows(2).all(|w| w[1].is_subset(&w[0])), "a only shrank: {history_a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_assignor_splits_between_members() {
    let (_dir, _server, bootstrap) = setup().await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (a, a_handle) = member(bootstrap.clone(), Assignor::Range, stop_rx.clone());
    wait_for("a to own all 6", || a.borrow().len() == 6).await;
    let (b, b_handle) = member(bootstrap.clone(), Assignor::Range, stop_rx.clone());
    wait_for("a 3/3 split", || a.borrow().len() == 3 && b.borrow().len() == 3).await;
    assert!(a.borrow().is_disjoint(&b.borrow()));
    stop_tx.send(true).unwrap();
    a_handle.await.unwrap();
    b_handle.await.unwrap();
}
