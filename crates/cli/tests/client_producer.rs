//! Brook's producer against the real broker: a permanently failed batch
//! does not wedge an idempotent partition, and failed sends return their
//! buffer memory.

mod support;

use std::time::Duration;

use brook_client::admin::Admin;
use brook_client::consumer::{Consumer, ConsumerConfig, OffsetReset};
use brook_client::producer::{Producer, ProducerConfig, ProducerRecord};
use support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_partition_survives_a_rejected_batch_and_memory_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let bootstrap = format!("127.0.0.1:{}", server.port);
    Admin::new(&bootstrap).await.unwrap().create_topic("small", 1, 1, &[("max.message.bytes", "2000")]).await.unwrap();
    let mut config = ProducerConfig::new(&bootstrap);
    config.buffer_memory = 64 * 1024;
    config.linger = Duration::ZERO;
    let producer = Producer::new(config).await.unwrap();

    let ok = producer.send(ProducerRecord::new("small").value("first")).await.unwrap();
    assert_eq!(ok.wait().await.unwrap().offset, 0);
    // Rejected by the broker (MESSAGE_TOO_LARGE): its sequence range is given back.
    let big = producer.send(ProducerRecord::new("small").value(vec![7u8; 5000])).await.unwrap();
    let err = big.wait().await.unwrap_err();
    assert_eq!(err.code(), Some(10), "{err}");
    let after = producer.send(ProducerRecord::new("small").value("after")).await.unwrap();
    assert_eq!(after.wait().await.unwrap().offset, 1, "the partition keeps accepting records");

    // Sends to a missing topic fail; each returns its memory (64 KiB would run out otherwise).
    for _ in 0..100 {
        assert!(producer.send(ProducerRecord::new("missing-topic").value(vec![0u8; 4000])).await.is_err());
    }
    let last = producer.send(ProducerRecord::new("small").value("last")).await.unwrap();
    assert_eq!(last.wait().await.unwrap().offset, 2);
    producer.close().await.unwrap();

    let mut config = ConsumerConfig::new(&bootstrap);
    config.auto_offset_reset = OffsetReset::Earliest;
    let mut consumer = Consumer::new(config).await.unwrap();
    consumer.assign(vec![("small".to_string(), 0)]).await.unwrap();
    let mut values = Vec::new();
    for _ in 0..50 {
        for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
        if values.len() == 3 {
            break;
        }
    }
    assert_eq!(values, vec!["first", "after", "last"]);
}
