//! A data directory written by single-node Brook (metadata in the JSON-lines
//! `__cluster_metadata.log`, no quorum) starts under the quorum with its
//! cluster id, topics, records and committed offsets intact.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use brook_broker::coordinator::group::state::CommittedOffset;
use brook_broker::coordinator::group::store;
use brook_client::admin::Admin;
use brook_client::consumer::{Consumer, ConsumerConfig, OffsetReset};
use brook_metadata::{MetadataLog, MetadataRecord};
use brook_protocol::batch::build_batch;
use brook_storage::{LogConfig, LogManager, TopicPartition};
use support::Server;

fn partition(topic_id: &uuid::Uuid, index: i32) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id: topic_id.to_string(),
        partition: index,
        replicas: vec![1],
        isr: vec![1],
        leader: 1,
        leader_epoch: 0,
        partition_epoch: 0,
        adding_replicas: vec![],
        removing_replicas: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_data_dir_upgrades_into_the_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (topic_id, offsets_id) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());

    // What single-node Brook left behind: its metadata log ...
    let legacy = MetadataLog::open(&data.join("__cluster_metadata-0")).unwrap();
    let records = vec![
        MetadataRecord::Cluster { cluster_id: "legacyclusterid0000000".into() },
        MetadataRecord::Topic { name: "old".into(), topic_id: topic_id.to_string() },
        partition(&topic_id, 0),
        partition(&topic_id, 1),
        MetadataRecord::TopicConfig { topic: "old".into(), name: "retention.ms".into(), value: Some("-1".into()) },
        MetadataRecord::Topic { name: "__consumer_offsets".into(), topic_id: offsets_id.to_string() },
        partition(&offsets_id, 0),
        MetadataRecord::ProducerIds { next_producer_id: 7 },
    ];
    legacy.commit_with(|_| Ok::<_, ()>((records, ()))).unwrap().unwrap();
    drop(legacy);
    // ... its partition logs, and a committed offset of group "g".
    let (logs, _) = LogManager::open(vec![data.clone()], &|_| LogConfig::default()).unwrap();
    for p in 0..2 {
        let log =
            logs.get_or_create(&TopicPartition::new("old", p), *topic_id.as_bytes(), LogConfig::default()).unwrap();
        for i in 0..5 {
            let value = format!("p{p}-{i}");
            let batch = build_batch(&[(None, Some(value.as_bytes()))], 1_000);
            log.lock().append_as_leader(&batch, 0, 1_000).unwrap();
        }
    }
    let offsets = logs
        .get_or_create(&TopicPartition::new("__consumer_offsets", 0), *offsets_id.as_bytes(), LogConfig::default())
        .unwrap();
    let committed =
        CommittedOffset { offset: 3, leader_epoch: -1, metadata: String::new(), commit_timestamp_ms: 1_000 };
    let key = store::offset_key("g", "old", 1);
    let value = store::offset_value(&committed);
    offsets.lock().append_as_leader(&build_batch(&[(Some(&key), Some(&value))], 1_000), 0, 1_000).unwrap();
    logs.shutdown().unwrap();
    drop(logs);

    // The new version starts on it (twice: the import must survive a restart).
    for round in 0..2 {
        let mut server = Server::start(&data, &["offsets.topic.num.partitions=1"]);
        let bootstrap = format!("127.0.0.1:{}", server.port);
        let admin = Admin::new(&bootstrap).await.unwrap();
        let cluster = admin.describe_cluster().await.unwrap();
        assert_eq!(cluster.cluster_id, "legacyclusterid0000000", "round {round}");
        let topic = admin.describe_topic("old").await.unwrap();
        assert_eq!(topic.partitions.len(), 2);
        assert_eq!(topic.id, *topic_id.as_bytes(), "the topic keeps its id");
        let configs = admin.describe_configs(2, "old").await.unwrap();
        assert!(configs.iter().any(|c| c.name == "retention.ms" && c.value.as_deref() == Some("-1")));

        let mut config = ConsumerConfig::new(&bootstrap);
        config.auto_offset_reset = OffsetReset::Earliest;
        let mut consumer = Consumer::new(config).await.unwrap();
        consumer.assign(vec![("old".to_string(), 0), ("old".to_string(), 1)]).await.unwrap();
        let mut values: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for _ in 0..100 {
            for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
                values.entry(r.partition).or_default().push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
            }
            if values.values().map(Vec::len).sum::<usize>() == 10 {
                break;
            }
        }
        for p in 0..2 {
            assert_eq!(values[&p], (0..5).map(|i| format!("p{p}-{i}")).collect::<Vec<_>>(), "round {round}");
        }
        let group = admin.group_offsets("g").await.unwrap();
        assert_eq!(group.get(&("old".to_string(), 1)), Some(&3), "round {round}: committed offsets survive");
        server.stop();
    }
    assert!(data.join("__cluster_metadata-0").join("raft.log").exists(), "the quorum's log is in the metadata dir");
}
