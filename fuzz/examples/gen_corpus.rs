//! Writes the checked-in seed corpus (fuzz/corpus/<target>/): valid
//! frames, batches and records, so fuzzing starts deep in each decoder.
//! Run from the repository root:
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus`.

use std::path::Path;

use brook_broker::handlers::SERVED;
use brook_broker::request::default_request;
use brook_metadata::quorum::rpc::{write_frame, Envelope, RpcRequest, RpcResponse};
use brook_metadata::MetadataRecord;
use brook_protocol::batch::{self, Compression, ControlType};
use brook_protocol::kafka_protocol::messages::{
    fetch_request, metadata_request, produce_request, ApiKey, FetchRequest, MetadataRequest, ProduceRequest,
    RequestHeader, TopicName,
};
use brook_protocol::kafka_protocol::protocol::{Encodable, StrBytes};
use brook_protocol::records::{self, CodecLevels};
use bytes::{Bytes, BytesMut};
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Vote};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// A size-prefixed request frame of `body` at `version`.
fn frame(key: ApiKey, version: i16, body: &dyn Fn(&mut BytesMut)) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("seed")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, key.request_header_version(version)).unwrap();
    body(&mut buf);
    let mut out = (buf.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&buf);
    out
}

fn sample_batch() -> Vec<u8> {
    batch::build_batch(&[(Some(b"key"), Some(b"value")), (None, Some(b"v2"))], 1_700_000_000_000)
}

fn request_frames(dir: &Path) {
    for (key, versions) in SERVED {
        for version in versions.min..=versions.max {
            let bytes = frame(*key, version, &|buf| default_request(*key).encode(buf, version).unwrap());
            write(dir, &format!("{key:?}-v{version}"), &bytes);
        }
    }
    let topic = TopicName(StrBytes::from_static_str("t"));
    for version in [3, 9, 12] {
        let produce = ProduceRequest::default().with_acks(-1).with_timeout_ms(1000).with_topic_data(vec![
            produce_request::TopicProduceData::default().with_name(topic.clone()).with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(sample_batch()))),
            ]),
        ]);
        write(
            dir,
            &format!("Produce-batch-v{version}"),
            &frame(ApiKey::Produce, version, &|b| produce.encode(b, version).unwrap()),
        );
    }
    for version in [4, 12] {
        let metadata = MetadataRequest::default()
            .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default().with_name(Some(topic.clone()))]));
        write(
            dir,
            &format!("Metadata-topic-v{version}"),
            &frame(ApiKey::Metadata, version, &|b| metadata.encode(b, version).unwrap()),
        );
    }
    for version in [4, 12] {
        let fetch =
            FetchRequest::default().with_max_wait_ms(100).with_topics(vec![fetch_request::FetchTopic::default()
                .with_topic(topic.clone())
                .with_partitions(vec![fetch_request::FetchPartition::default()
                    .with_partition(0)
                    .with_partition_max_bytes(1 << 20)])]);
        write(
            dir,
            &format!("Fetch-topic-v{version}"),
            &frame(ApiKey::Fetch, version, &|b| fetch.encode(b, version).unwrap()),
        );
    }
}

fn record_batches(dir: &Path) {
    let plain = sample_batch();
    write(dir, "none", &plain);
    let fast = CodecLevels { gzip: 1, lz4: 1, zstd: 1 };
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        write(dir, &format!("{codec:?}").to_lowercase(), &records::recompress(&plain, codec, fast).unwrap());
    }
    write(dir, "control-commit", &batch::build_control_batch(ControlType::Commit, 7, 1, 3, 1_000));
    write(dir, "transactional", &batch::build_transactional_batch(&[(Some(b"k"), Some(b"v"))], 1_000, 7, 1, 0));
    let mut two = plain.clone();
    two.extend_from_slice(&batch::build_batch_with_producer(&[(None, Some(b"x"))], 1, 9, 0, 5));
    write(dir, "two-batches", &two);
}

fn producer_state(dir: &Path) {
    let chunk = |op: u8, b: Vec<u8>| [&[op][..], &b[..batch::BATCH_HEADER_BYTES]].concat();
    let idempotent = [
        chunk(0, batch::build_batch_with_producer(&[(None, Some(b"a")), (None, Some(b"b"))], 1, 5, 0, 0)),
        chunk(0, batch::build_batch_with_producer(&[(None, Some(b"c"))], 2, 5, 0, 2)),
        chunk(0, batch::build_batch_with_producer(&[(None, Some(b"c"))], 2, 5, 0, 2)),
        chunk(0, batch::build_batch_with_producer(&[(None, Some(b"d"))], 3, 5, 1, 0)),
    ]
    .concat();
    write(dir, "idempotent", &idempotent);
    let txn = [
        chunk(0, batch::build_transactional_batch(&[(None, Some(b"a"))], 1, 6, 0, 0)),
        chunk(0x82, batch::build_control_batch(ControlType::Commit, 6, 0, 1, 2)),
        chunk(3, batch::build_batch(&[(None, None)], 3)),
        chunk(0, batch::build_transactional_batch(&[(None, Some(b"b"))], 4, 6, 0, 1)),
        chunk(2, batch::build_control_batch(ControlType::Abort, 6, 0, 1, 5)),
    ]
    .concat();
    write(dir, "transaction", &txn);
}

fn metadata_records() -> Vec<MetadataRecord> {
    let topic_id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301".to_string();
    vec![
        MetadataRecord::Cluster { cluster_id: "c1".into() },
        MetadataRecord::RegisterBroker {
            broker_id: 1,
            incarnation: "i".into(),
            host: "h".into(),
            port: 9092,
            fenced: true,
            endpoints: vec![brook_metadata::records::BrokerEndpoint {
                listener: "PLAINTEXT".into(),
                security_protocol: "PLAINTEXT".into(),
                host: "h".into(),
                port: 9092,
            }],
        },
        MetadataRecord::UnfenceBroker { broker_id: 1 },
        MetadataRecord::Topic { name: "t".into(), topic_id: topic_id.clone() },
        MetadataRecord::Partition {
            topic_id: topic_id.clone(),
            partition: 0,
            replicas: vec![1, 2],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![2],
            removing_replicas: vec![],
        },
        MetadataRecord::TopicConfig { topic: "t".into(), name: "cleanup.policy".into(), value: Some("compact".into()) },
        MetadataRecord::BrokerConfig { name: "log.retention.ms".into(), value: None },
        MetadataRecord::ProducerIds { next_producer_id: 1000 },
        MetadataRecord::FenceBroker { broker_id: 1 },
        MetadataRecord::RemoveTopic { topic_id },
    ]
}

fn metadata(dir: &Path) {
    let mut lines = Vec::new();
    for r in metadata_records() {
        lines.extend_from_slice(&serde_json::to_vec(&r).unwrap());
        lines.push(b'\n');
    }
    write(dir, "all-records", &lines);
}

fn controller_rpc(dir: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let frames = |envelopes: Vec<Envelope>| -> Vec<u8> {
        rt.block_on(async {
            let mut out = Vec::new();
            for e in &envelopes {
                write_frame(&mut out, e).await.unwrap();
            }
            out
        })
    };
    let log_id = |term, index| LogId::new(CommittedLeaderId::new(term, 1), index);
    let cluster = Some("c1".to_string());
    let vote = Envelope {
        cluster_id: cluster.clone(),
        request: RpcRequest::Vote(VoteRequest::new(Vote::new(2, 1), Some(log_id(1, 4)))),
    };
    let append = Envelope {
        cluster_id: cluster.clone(),
        request: RpcRequest::AppendEntries(AppendEntriesRequest {
            vote: Vote::new_committed(2, 1),
            prev_log_id: Some(log_id(1, 4)),
            entries: vec![
                Entry { log_id: log_id(2, 5), payload: EntryPayload::Normal(metadata_records()) },
                Entry { log_id: log_id(2, 6), payload: EntryPayload::Blank },
            ],
            leader_commit: Some(log_id(1, 4)),
        }),
    };
    write(dir, "vote", &frames(vec![vote]));
    write(dir, "append-entries", &frames(vec![append]));
    let session =
        Envelope { cluster_id: cluster.clone(), request: RpcRequest::Session { node_id: 1, incarnation: "i".into() } };
    let ping = Envelope { cluster_id: cluster.clone(), request: RpcRequest::Ping };
    write(dir, "session-pings", &frames(vec![session, ping]));
    let fetch = Envelope { cluster_id: None, request: RpcRequest::FetchMetadata { after: -1, max_wait_ms: 10 } };
    let describe = Envelope { cluster_id: cluster, request: RpcRequest::DescribeQuorum };
    write(dir, "fetch-describe", &frames(vec![fetch, describe]));
    let responses = rt.block_on(async {
        let mut out = Vec::new();
        write_frame(&mut out, &RpcResponse::SessionOpened).await.unwrap();
        write_frame(&mut out, &RpcResponse::InconsistentClusterId { ours: "c2".into() }).await.unwrap();
        out
    });
    write(dir, "responses", &responses);
}

fn sasl(plain_dir: &Path, scram_dir: &Path) {
    use brook_security::sasl::plain;
    use brook_security::sasl::scram::{ScramClient, ScramCredential, ScramMechanism, ScramServer};
    use brook_security::sasl::{SaslServer, Step};
    write(plain_dir, "alice", &plain::client_message("alice", "alice-secret"));
    write(plain_dir, "authzid", b"alice\0alice\0wrong");
    // Whole exchanges the sasl_scram target completes (its server nonce,
    // salt and password).
    for (selector, mechanism) in [(0u8, ScramMechanism::Sha256), (1, ScramMechanism::Sha512)] {
        let credential =
            ScramCredential::from_password(mechanism, "alice-secret", b"fuzz-salt", ScramMechanism::MIN_ITERATIONS);
        let mut server =
            ScramServer::with_nonce(mechanism, |_: &str| Some(credential.clone()), "fuzzservernonce".to_string());
        let mut client = ScramClient::with_nonce(mechanism, "alice", "alice-secret", "clientnonce".to_string());
        let first = client.first();
        let Ok(Step::Challenge(server_first)) = server.step(&first) else { panic!("scram seed: first step") };
        let last = client.respond(&server_first).unwrap();
        assert!(matches!(server.step(&last), Ok(Step::Done { .. })), "scram seed: final step");
        let input = [&[selector][..], &first, &[0], &last].concat();
        write(scram_dir, &format!("{mechanism:?}").to_lowercase(), &input);
    }
}

fn group_subscription(dir: &Path) {
    use brook_protocol::kafka_protocol::messages::consumer_protocol_subscription::TopicPartition;
    use brook_protocol::kafka_protocol::messages::ConsumerProtocolSubscription;
    for version in 0..=3i16 {
        let mut subscription = ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("t1"), StrBytes::from_static_str("t2")])
            .with_user_data(Some(Bytes::from_static(b"ud")));
        if version >= 1 {
            subscription = subscription.with_owned_partitions(vec![TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("t1")))
                .with_partitions(vec![0, 1])]);
        }
        if version >= 2 {
            subscription = subscription.with_generation_id(3);
        }
        if version >= 3 {
            subscription = subscription.with_rack_id(Some(StrBytes::from_static_str("r1")));
        }
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&version.to_be_bytes());
        subscription.encode(&mut buf, version).unwrap();
        write(dir, &format!("v{version}"), &buf);
    }
}

fn main() {
    let root = Path::new("fuzz/corpus");
    request_frames(&root.join("request_frame"));
    record_batches(&root.join("record_batch"));
    producer_state(&root.join("producer_state"));
    controller_rpc(&root.join("controller_rpc"));
    metadata(&root.join("metadata_records"));
    sasl(&root.join("sasl_plain"), &root.join("sasl_scram"));
    group_subscription(&root.join("group_subscription"));
}
