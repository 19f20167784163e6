//! Replication under failures, on an in-process cluster (tests/support):
//! leader change, truncation of divergent history, the high watermark, and
//! the high-watermark checkpoint. Clients are brook-client; the replicas'
//! state is read from inside each node.

mod support;

use std::time::{Duration, Instant};

use brook_broker::replication::{Isolation, LogOffsets, OffsetQuery};
use brook_client::admin::{Admin, RESOURCE_TOPIC};
use brook_client::consumer::{Consumer, ConsumerConfig};
use brook_client::producer::{Producer, ProducerConfig, ProducerRecord};
use brook_protocol::error_code::ErrorCode;
use brook_storage::TopicPartition;
use support::cluster::{wait_for, wait_until, Cluster};

const NOT_ENOUGH_REPLICAS: i16 = 19;
const WAIT: Duration = Duration::from_secs(30);

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn offsets(log_end: i64, high_watermark: i64) -> LogOffsets {
    LogOffsets { log_start: 0, high_watermark, log_end }
}

/// A one-partition topic on all three brokers, with its leader once every
/// replica is in sync.
async fn create_topic(cluster: &Cluster, name: &str, configs: &[(&str, &str)]) -> (TopicPartition, i32) {
    let admin = Admin::new(&cluster.bootstrap()).await.expect("admin client");
    admin.create_topic(name, 1, 3, configs).await.expect("create topic");
    let tp = TopicPartition::new(name.to_string(), 0);
    let leader = cluster.wait_leader(&tp, 3, WAIT).await;
    (tp, leader)
}

async fn producer(cluster: &Cluster, acks: i16) -> Producer {
    let mut config = ProducerConfig::new(&cluster.bootstrap());
    config.acks = acks;
    config.enable_idempotence = acks == -1;
    config.delivery_timeout = WAIT;
    config.client.request_timeout = Duration::from_secs(10);
    Producer::new(config).await.expect("producer")
}

/// Sends `values` to partition 0 and returns their offsets (the producer
/// retries retriable errors, a leader change among them, up to its
/// delivery timeout).
async fn send_all(producer: &Producer, topic: &str, values: &[String]) -> Vec<i64> {
    let mut deliveries = Vec::new();
    for v in values {
        let record = ProducerRecord::new(topic).partition(0).value(v.clone());
        deliveries.push(producer.send(record).await.expect("send"));
    }
    let mut offsets = Vec::new();
    for d in deliveries {
        offsets.push(d.wait().await.expect("delivery").offset);
    }
    offsets
}

fn range(from: i64, count: usize) -> Vec<i64> {
    (from..from + count as i64).collect()
}

/// Reads partition 0 from `from` until `expected` records came and a poll
/// after them brought nothing more (or 20 s passed): (offset, value).
async fn consume(cluster: &Cluster, topic: &str, from: i64, expected: usize) -> Vec<(i64, String)> {
    let mut config = ConsumerConfig::new(&cluster.bootstrap());
    config.fetch_max_wait = Duration::from_millis(100);
    config.client.request_timeout = Duration::from_secs(10);
    let mut consumer = Consumer::new(config).await.expect("consumer");
    let tp = (topic.to_string(), 0);
    consumer.assign(vec![tp.clone()]).await.expect("assign");
    consumer.seek(tp, from);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while Instant::now() < deadline {
        let records = consumer.poll(Duration::from_millis(400)).await.expect("poll");
        if records.is_empty() && out.len() >= expected {
            break;
        }
        for r in records {
            let value = String::from_utf8(r.value.expect("a value").to_vec()).expect("utf-8");
            out.push((r.offset, value));
        }
    }
    out
}

/// (offset, value) of `values` written one after another from `from`.
fn log_of(from: i64, values: &[String]) -> Vec<(i64, String)> {
    values.iter().enumerate().map(|(i, v)| (from + i as i64, v.clone())).collect()
}

#[tokio::test]
async fn leader_change_loses_no_acknowledged_record() {
    let mut cluster = Cluster::start(3, &[]).await;
    let (tp, old) = create_topic(&cluster, "failover", &[("min.insync.replicas", "2")]).await;
    let producer = producer(&cluster, -1).await;
    let first = values("a", 100);
    assert_eq!(send_all(&producer, &tp.topic, &first).await, range(0, 100));

    cluster.kill(old);
    let new = wait_for(WAIT, "a new leader", || cluster.leader_of(&tp).filter(|l| *l != old)).await;
    assert_ne!(new, old);
    let second = values("b", 50);
    assert_eq!(send_all(&producer, &tp.topic, &second).await, range(100, 50));

    cluster.restart(old).await;
    wait_until(WAIT, "every replica at log end 150 and high watermark 150", || {
        cluster.brokers().iter().all(|id| cluster.partition(*id, &tp).offsets() == offsets(150, 150))
    })
    .await;
    let mut expected = log_of(0, &first);
    expected.extend(log_of(100, &second));
    assert_eq!(consume(&cluster, &tp.topic, 0, 150).await, expected);
}

/// The controller elects leaders only from the ISR, and a broker that
/// stops (crash or restart: a new incarnation fences the old one) leaves
/// every ISR. So a leader can hold records its in-sync followers lack only
/// while they are alive but not fetching: here they are frozen (SIGSTOP)
/// while the leader takes acks=1 records, then the leader crashes and the
/// followers resume before their sessions expire; the controller fences the
/// leader and elects one of them.
#[tokio::test]
async fn a_returning_leader_truncates_its_uncommitted_records() {
    let mut cluster = Cluster::start(
        3,
        &[
            ("broker.session.timeout.ms", "3000"),
            ("replica.lag.time.max.ms", "10000"),
            ("replica.fetch.wait.max.ms", "100"),
            // Once the old leader is back in the ISR, the controller makes it
            // leader again (it is the preferred replica): the log is then
            // read from it too.
            ("leader.imbalance.check.interval.seconds", "1"),
        ],
    )
    .await;
    let (tp, old) = create_topic(&cluster, "diverge", &[("min.insync.replicas", "2")]).await;
    let preferred = cluster.metadata().topic("diverge").unwrap().partitions[&0].replicas[0];
    assert_eq!(preferred, old, "a new partition is led by its first replica");
    let followers: Vec<i32> = cluster.brokers().iter().copied().filter(|b| *b != old).collect();

    let committed = values("a", 20);
    assert_eq!(send_all(&producer(&cluster, -1).await, &tp.topic, &committed).await, range(0, 20));
    wait_until(WAIT, "the followers at log end and high watermark 20", || {
        followers.iter().all(|f| cluster.partition(*f, &tp).offsets() == offsets(20, 20))
    })
    .await;
    let old_epoch = cluster.partition(old, &tp).leader_epoch();

    // The followers stop; the leader takes 5 records no follower has.
    let acks_one = producer(&cluster, 1).await;
    acks_one.cluster().refresh(&[tp.topic.clone()]).await.expect("metadata");
    for f in &followers {
        cluster.freeze(*f).await;
    }
    // A fetch a follower sent before it froze may still be parked at the
    // leader, which would answer it with the new records (into the frozen
    // follower's socket): let it expire first (replica.fetch.wait.max.ms).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let uncommitted = values("b", 5);
    assert_eq!(send_all(&acks_one, &tp.topic, &uncommitted).await, range(20, 5));
    let leader = cluster.partition(old, &tp);
    assert_eq!(leader.offsets(), offsets(25, 20), "acks=1 records above the high watermark");
    assert_eq!(leader.isr().len(), 3, "the frozen followers are still in the ISR");
    drop(leader);
    cluster.kill(old);
    for f in &followers {
        cluster.thaw(*f);
    }

    // The controller fences the dead leader and elects a follower.
    let new = wait_for(WAIT, "a new leader", || cluster.leader_of(&tp).filter(|l| *l != old)).await;
    assert!(followers.contains(&new));
    assert_eq!(cluster.partition(new, &tp).offsets().log_end, 20);
    let later = values("c", 8);
    assert_eq!(send_all(&producer(&cluster, -1).await, &tp.topic, &later).await, range(20, 8));
    let mut expected = log_of(0, &committed);
    expected.extend(log_of(20, &later));
    let from_new = consume(&cluster, &tp.topic, 0, 28).await;
    assert_eq!(from_new, expected);

    // The old leader returns: it cuts its log back to offset 20 (where its
    // epoch ends on the new leader) and takes the new leader's records.
    cluster.restart(old).await;
    wait_until(WAIT, "every replica at log end 28 and high watermark 28", || {
        cluster.brokers().iter().all(|id| cluster.partition(*id, &tp).offsets() == offsets(28, 28))
    })
    .await;
    for id in cluster.brokers() {
        let p = cluster.partition(*id, &tp);
        assert_eq!(p.end_offset_for_epoch(old_epoch), (old_epoch, 20), "epoch {old_epoch} on broker {id}");
        assert_eq!(
            p.end_offset_for_epoch(old_epoch + 1),
            (old_epoch + 1, 28),
            "epoch {} on broker {id}",
            old_epoch + 1
        );
    }

    // Read from the old leader itself: the same records at every offset.
    wait_until(WAIT, "the old leader to lead again", || {
        cluster.leader_of(&tp) == Some(old) && cluster.partition(old, &tp).is_leader()
    })
    .await;
    let from_old = consume(&cluster, &tp.topic, 0, 28).await;
    assert_eq!(from_old, from_new);
    assert!(from_old.iter().all(|(_, v)| !v.starts_with("b-")), "an uncommitted record survived");
}

#[tokio::test]
async fn consumers_see_only_records_below_the_high_watermark() {
    // A long session: the paused follower stays in the ISR (holding the
    // high watermark) while acks=1 records are produced and read. (A killed
    // one would leave at once: the controller sees its process go.)
    let mut cluster =
        Cluster::start(3, &[("broker.session.timeout.ms", "60000"), ("replica.lag.time.max.ms", "60000")]).await;
    let (tp, leader) = create_topic(&cluster, "watermark", &[("min.insync.replicas", "2")]).await;
    let followers: Vec<i32> = cluster.brokers().iter().copied().filter(|b| *b != leader).collect();
    let acks_all = producer(&cluster, -1).await;
    let first = values("a", 30);
    assert_eq!(send_all(&acks_all, &tp.topic, &first).await, range(0, 30));
    assert_eq!(cluster.partition(leader, &tp).offsets(), offsets(30, 30), "acks=all returns at the high watermark");
    wait_until(WAIT, "the followers' high watermark to reach 30", || {
        followers.iter().all(|f| cluster.partition(*f, &tp).offsets() == offsets(30, 30))
    })
    .await;

    // A follower stops (SIGSTOP): still in the ISR until its session
    // expires, it holds the high watermark where it was.
    cluster.freeze(followers[0]).await;
    let unreplicated = values("b", 10);
    assert_eq!(send_all(&producer(&cluster, 1).await, &tp.topic, &unreplicated).await, range(30, 10));
    assert_eq!(cluster.partition(leader, &tp).offsets(), offsets(40, 30));
    let admin = Admin::new(&cluster.bootstrap()).await.expect("admin client");
    let latest = admin.list_offsets(&[(tp.topic.clone(), 0)], -1).await.expect("list offsets");
    assert_eq!(latest[&(tp.topic.clone(), 0)], 30, "the latest offset is the high watermark");
    let seen = consume(&cluster, &tp.topic, 0, 30).await;
    assert_eq!(cluster.isr_of(&tp).len(), 3, "the paused follower left the ISR too early for this check");
    assert_eq!(seen, log_of(0, &first), "a consumer read at or above the high watermark");

    // It dies (its process goes): the controller moves it out of the ISR
    // at once, long before its session would expire, and the watermark
    // moves on.
    cluster.thaw(followers[0]);
    cluster.kill(followers[0]);
    wait_until(WAIT, "the ISR to shrink to two and the high watermark to reach 40", || {
        let p = cluster.partition(leader, &tp);
        cluster.isr_of(&tp).len() == 2 && p.isr().len() == 2 && p.offsets() == offsets(40, 40)
    })
    .await;
    let more = values("c", 10);
    assert_eq!(send_all(&acks_all, &tp.topic, &more).await, range(40, 10), "acks=all with min.insync.replicas=2");
    assert_eq!(cluster.partition(leader, &tp).offsets(), offsets(50, 50));

    // min.insync.replicas=3 with two in sync: acks=all is refused.
    let set = [("min.insync.replicas".to_string(), "3".to_string())];
    admin.alter_configs(RESOURCE_TOPIC, &tp.topic, &set, &[]).await.expect("alter configs");
    let mut config = ProducerConfig::new(&cluster.bootstrap());
    config.enable_idempotence = false;
    config.delivery_timeout = Duration::ZERO; // the first error is final
    let strict = Producer::new(config).await.expect("producer");
    let deadline = Instant::now() + WAIT;
    let mut accepted = 0;
    loop {
        let record = ProducerRecord::new(&tp.topic).partition(0).value("d");
        match strict.send(record).await.expect("send").wait().await {
            // The leader may not have the new setting yet.
            Ok(_) => accepted += 1,
            Err(e) if e.code() == Some(NOT_ENOUGH_REPLICAS) => break,
            Err(e) => panic!("expected NOT_ENOUGH_REPLICAS, got {e}"),
        }
        assert!(Instant::now() < deadline, "acks=all still accepted with min.insync.replicas=3");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let end = 50 + accepted;
    assert_eq!(cluster.partition(leader, &tp).offsets(), offsets(end, end), "a refused record was appended");
    let seen = consume(&cluster, &tp.topic, 0, end as usize).await;
    assert_eq!(seen.len() as i64, end);
    assert!(seen.iter().enumerate().all(|(i, (o, _))| *o == i as i64));
}

/// Kafka's replication-offset-checkpoint: a leader that restarts knows what
/// was committed before any follower fetches from it.
#[tokio::test]
async fn a_restarted_leader_knows_its_high_watermark_from_the_checkpoint() {
    let mut cluster = Cluster::start(3, &[("log.flush.offset.checkpoint.interval.ms", "200")]).await;
    let (tp, leader) = create_topic(&cluster, "checkpointed", &[("min.insync.replicas", "2")]).await;
    let records = values("a", 40);
    assert_eq!(send_all(&producer(&cluster, -1).await, &tp.topic, &records).await, range(0, 40));
    let checkpoint = cluster.data_dir(leader).join("replication-offset-checkpoint");
    wait_until(WAIT, "the high watermark 40 in the leader's checkpoint", || {
        std::fs::read_to_string(&checkpoint).is_ok_and(|text| text.lines().any(|l| l == "checkpointed 0 40"))
    })
    .await;

    // Every broker crashes, the followers first: fencing takes each out of
    // the ISR except its last member, so the leader ends as the only broker
    // the controller may elect.
    let followers: Vec<i32> = cluster.brokers().iter().copied().filter(|b| *b != leader).collect();
    for f in &followers {
        cluster.kill(*f);
    }
    wait_until(WAIT, "the ISR to shrink to the leader", || cluster.isr_of(&tp) == vec![leader]).await;
    cluster.kill(leader);
    wait_until(WAIT, "the partition to go offline", || cluster.leader_of(&tp).is_none()).await;

    // Back with its logs open but not yet serving (fenced): the high
    // watermark comes from the checkpoint alone (without it, the log start).
    cluster.restart_unserved(leader).await;
    let p = cluster.partition(leader, &tp);
    assert!(!p.is_leader());
    assert_eq!(p.offsets(), offsets(40, 40));
    drop(p);

    // Serving, it leads alone, and a consumer reads every committed record.
    cluster.serve(leader).await;
    assert_eq!(cluster.wait_leader(&tp, 1, WAIT).await, leader);
    assert_eq!(consume(&cluster, &tp.topic, 0, 40).await, log_of(0, &records));
}

#[tokio::test]
async fn a_new_leader_withholds_the_latest_offset_until_its_watermark_reaches_its_epoch() {
    // Kafka's rule (Partition.fetchOffsetForTimestamp): a follower learns
    // the watermark one fetch late, so a new leader may start below what
    // its predecessor committed; until the watermark reaches the start of
    // its epoch, a consumer's ListOffsets gets OFFSET_NOT_AVAILABLE
    // (retriable), never a latest offset older than one already given.
    let mut cluster =
        Cluster::start(3, &[("broker.session.timeout.ms", "60000"), ("replica.lag.time.max.ms", "60000")]).await;
    let (tp, old_leader) = create_topic(&cluster, "lagging-watermark", &[]).await;
    let replicas = cluster.metadata().topic(&tp.topic).expect("topic").partitions[&0].replicas.clone();
    let others: Vec<i32> = replicas.iter().copied().filter(|b| *b != old_leader).collect();
    let (next, frozen) = (others[0], others[1]);
    assert_eq!(send_all(&producer(&cluster, -1).await, &tp.topic, &values("a", 30)).await, range(0, 30));
    wait_until(WAIT, "every replica's watermark at 30", || {
        replicas.iter().all(|r| cluster.partition(*r, &tp).offsets() == offsets(30, 30))
    })
    .await;

    // One follower stops, still in the ISR: ten acks=1 records reach the
    // other follower, but the watermark stays at 30.
    cluster.freeze(frozen).await;
    assert_eq!(send_all(&producer(&cluster, 1).await, &tp.topic, &values("b", 10)).await, range(30, 10));
    wait_until(WAIT, "the next leader to have all 40", || cluster.partition(next, &tp).offsets() == offsets(40, 30))
        .await;

    // Moving the partition off the old leader makes `next` (first in the
    // target, in the ISR) the leader, its epoch starting at 40.
    let admin = Admin::new(&cluster.bootstrap()).await.expect("admin client");
    let target = vec![next, frozen];
    let result = admin.reassign(&[(tp.topic.clone(), 0, Some(target))]).await.expect("reassign");
    assert_eq!(result[0].1, 0, "reassignment refused: {result:?}");
    wait_until(WAIT, "the next leader to lead", || cluster.partition(next, &tp).is_leader()).await;
    let leader = cluster.partition(next, &tp);
    assert_eq!(leader.offsets(), offsets(40, 30));
    assert_eq!(
        leader.list_offset(OffsetQuery::Latest, Isolation::ReadUncommitted, true),
        Err(ErrorCode::OFFSET_NOT_AVAILABLE)
    );
    assert_eq!(
        leader.list_offset(OffsetQuery::Latest, Isolation::ReadCommitted, true),
        Err(ErrorCode::OFFSET_NOT_AVAILABLE)
    );
    assert_eq!(
        leader.list_offset(OffsetQuery::Timestamp(i64::MAX - 1), Isolation::ReadUncommitted, true),
        Err(ErrorCode::OFFSET_NOT_AVAILABLE)
    );
    assert_eq!(leader.list_offset(OffsetQuery::Earliest, Isolation::ReadUncommitted, true), Ok(Some((0, -1))));
    assert_eq!(
        leader.list_offset(OffsetQuery::Latest, Isolation::ReadUncommitted, false),
        Ok(Some((30, -1))),
        "a debugging tool sees it"
    );

    // The follower fetches again: the watermark reaches 40 and the latest offset is there.
    cluster.thaw(frozen);
    wait_until(WAIT, "the watermark at 40", || cluster.partition(next, &tp).offsets() == offsets(40, 40)).await;
    assert_eq!(leader.list_offset(OffsetQuery::Latest, Isolation::ReadUncommitted, true), Ok(Some((40, -1))));
    assert_eq!(leader.list_offset(OffsetQuery::Timestamp(i64::MAX - 1), Isolation::ReadUncommitted, true), Ok(None));
}
