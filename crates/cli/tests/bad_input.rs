//! Hostile and malformed input against the real binary: every case gets a
//! Kafka error code or a closed connection plus a log line, the broker keeps
//! serving other connections, and data already written stays intact.

mod support;

use brook_protocol::batch::{build_batch, build_batch_with_producer, validate};
use brook_protocol::error_code as ec;
use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{Server, Wire};

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn create(wire: &mut Wire, topic: &str, configs: &[(&str, &str)]) -> (i16, Option<String>) {
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let req = CreateTopicsRequest::default().with_timeout_ms(10_000).with_topics(vec![CreatableTopic::default()
        .with_name(name(topic))
        .with_num_partitions(1)
        .with_replication_factor(1)
        .with_configs(configs)]);
    let resp = wire.call(7, &req);
    let t = &resp.topics[0];
    (t.error_code, t.error_message.as_ref().map(|m| m.to_string()))
}

fn produce_with_acks(wire: &mut Wire, topic: &str, records: Vec<u8>, acks: i16) -> (i16, i64) {
    let req = ProduceRequest::default().with_acks(acks).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default().with_name(name(topic)).with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(Bytes::from(records)))]),
    ]);
    let resp = wire.call(9, &req);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn produce(wire: &mut Wire, topic: &str, records: Vec<u8>) -> (i16, i64) {
    produce_with_acks(wire, topic, records, -1)
}

fn fetch(wire: &mut Wire, topic: &str, offset: i64) -> (i16, Bytes) {
    let req = FetchRequest::default().with_max_wait_ms(0).with_min_bytes(1).with_max_bytes(10 << 20).with_topics(vec![
        FetchTopic::default().with_topic(name(topic)).with_partitions(vec![FetchPartition::default()
            .with_partition(0)
            .with_fetch_offset(offset)
            .with_partition_max_bytes(10 << 20)]),
    ]);
    let resp = wire.call(11, &req);
    let p = &resp.responses[0].partitions[0];
    (p.error_code, p.records.clone().unwrap_or_default())
}

fn assert_closed_and_logged(server: &Server, wire: &mut Wire, what: &str) {
    assert!(wire.is_closed(), "{what}: connection should be closed");
    // The broker logs why; give the log a moment to be written.
    for _ in 0..50 {
        if server.log_text().contains(what) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("no log line containing '{what}':\n{}", server.log_text());
}

#[test]
fn malformed_frames_and_bad_batches_never_hurt_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["socket.request.max.bytes=1048576"]);
    let mut good = server.connect();
    assert_eq!(create(&mut good, "safe", &[]).0, ec::NONE);
    let original: Vec<Vec<u8>> =
        (0..20).map(|i| build_batch(&[(Some(b"k"), Some(format!("v{i}").as_bytes()))], 1000 + i)).collect();
    for (i, batch) in original.iter().enumerate() {
        assert_eq!(produce(&mut good, "safe", batch.clone()), (ec::NONE, i as i64));
    }

    // ApiVersions with a version the broker does not know: a v0 answer with UNSUPPORTED_VERSION.
    let mut wire = server.connect();
    let mut frame = wire.frame(3, &ApiVersionsRequest::default());
    frame[6..8].copy_from_slice(&99i16.to_be_bytes());
    wire.send_raw(&frame);
    let mut body = wire.read_frame().expect("v0 error response");
    let _correlation = i32::from_be_bytes(body[..4].try_into().unwrap());
    body = body.slice(4..);
    let resp = <ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut body, 0).unwrap();
    assert_eq!(resp.error_code, ec::UNSUPPORTED_VERSION);
    assert!(resp.api_keys.iter().any(|k| k.api_key == ApiKey::Produce as i16));

    // Unknown API key.
    let mut wire = server.connect();
    let mut frame = wire.frame(0, &ApiVersionsRequest::default());
    frame[4..6].copy_from_slice(&999i16.to_be_bytes());
    wire.send_raw(&frame);
    assert_closed_and_logged(&server, &mut wire, "unknown api key 999");

    // A version below the supported range of Produce.
    let mut wire = server.connect();
    let mut frame = wire.frame(3, &ProduceRequest::default());
    frame[6..8].copy_from_slice(&1i16.to_be_bytes());
    wire.send_raw(&frame);
    assert_closed_and_logged(&server, &mut wire, "unsupported version 1 of api 0");

    // Oversized and negative frame sizes.
    let mut wire = server.connect();
    wire.send_raw(&(2_000_000i32).to_be_bytes());
    assert_closed_and_logged(&server, &mut wire, "exceeds socket.request.max.bytes");
    let mut wire = server.connect();
    wire.send_raw(&(-5i32).to_be_bytes());
    assert_closed_and_logged(&server, &mut wire, "is negative");

    // A truncated body behind a valid header.
    let mut wire = server.connect();
    let frame = wire
        .frame(7, &CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default().with_name(name("x"))]));
    let cut = frame.len() - 6;
    let mut truncated = ((cut - 4) as i32).to_be_bytes().to_vec();
    truncated.extend_from_slice(&frame[4..cut]);
    wire.send_raw(&truncated);
    assert_closed_and_logged(&server, &mut wire, "malformed request");

    // Random garbage.
    let mut wire = server.connect();
    let mut garbage = 64i32.to_be_bytes().to_vec();
    garbage.extend((0..64u8).map(|i| i.wrapping_mul(37)));
    wire.send_raw(&garbage);
    assert!(wire.is_closed());

    // Bad batches: each refused with Kafka's code, nothing appended.
    let mut crc = build_batch(&[(None, Some(b"payload"))], 1);
    let last = crc.len() - 1;
    crc[last] ^= 0x01;
    assert_eq!(produce(&mut good, "safe", crc).0, ec::CORRUPT_MESSAGE);
    let mut magic = build_batch(&[(None, Some(b"payload"))], 1);
    magic[16] = 1;
    assert_eq!(produce(&mut good, "safe", magic).0, ec::UNSUPPORTED_FOR_MESSAGE_FORMAT);
    let torn = build_batch(&[(None, Some(b"payload"))], 1);
    assert_eq!(produce(&mut good, "safe", torn[..torn.len() - 3].to_vec()).0, ec::CORRUPT_MESSAGE);
    let mut two = build_batch(&[(None, Some(b"a"))], 1);
    two.extend(build_batch(&[(None, Some(b"b"))], 1));
    assert_eq!(produce(&mut good, "safe", two).0, ec::INVALID_RECORD);
    assert_eq!(produce(&mut good, "safe", Vec::new()).0, ec::INVALID_RECORD);
    let big = build_batch(&[(None, Some(&vec![7u8; 1_100_000]))], 1);
    // A request above socket.request.max.bytes (1 MiB here) closes the connection.
    let mut w = server.connect();
    let req =
        ProduceRequest::default().with_acks(1).with_timeout_ms(1000).with_topic_data(vec![TopicProduceData::default()
            .with_name(name("safe"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(big)))])]);
    let frame = w.frame(9, &req);
    w.send_raw(&frame[..64]);
    assert_closed_and_logged(&server, &mut w, "exceeds socket.request.max.bytes 1048576");
    let too_large = build_batch(&[(None, Some(&vec![7u8; 2000]))], 1);
    assert_eq!(create(&mut good, "small-max", &[("max.message.bytes", "1000")]).0, ec::NONE);
    assert_eq!(produce(&mut good, "small-max", too_large).0, ec::MESSAGE_TOO_LARGE);
    assert_eq!(
        produce_with_acks(&mut good, "safe", build_batch(&[(None, Some(b"x"))], 1), 5).0,
        ec::INVALID_REQUIRED_ACKS
    );
    assert_eq!(
        produce(&mut good, "no-such-topic", build_batch(&[(None, Some(b"x"))], 1)).0,
        ec::UNKNOWN_TOPIC_OR_PARTITION
    );

    // acks=0 has no response to carry an error: the connection closes instead, as in Kafka.
    let mut w = server.connect();
    let req =
        ProduceRequest::default().with_acks(0).with_timeout_ms(1000).with_topic_data(vec![TopicProduceData::default()
            .with_name(name("no-such-topic"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(build_batch(&[(None, Some(b"x"))], 1))))])]);
    let frame = w.frame(9, &req);
    w.send_raw(&frame);
    assert_closed_and_logged(&server, &mut w, "acks=0 produce failed with error 3");

    // Idempotent producer rules.
    let b0 = build_batch_with_producer(&[(None, Some(b"i0"))], 1, 77, 0, 0);
    let (code, first) = produce(&mut good, "safe", b0.clone());
    assert_eq!(code, ec::NONE);
    assert_eq!(produce(&mut good, "safe", b0), (ec::NONE, first), "duplicate acknowledged with its original offset");
    let gap = build_batch_with_producer(&[(None, Some(b"i5"))], 1, 77, 0, 5);
    assert_eq!(produce(&mut good, "safe", gap).0, ec::OUT_OF_ORDER_SEQUENCE_NUMBER);
    let bumped = build_batch_with_producer(&[(None, Some(b"e1"))], 1, 77, 1, 0);
    assert_eq!(produce(&mut good, "safe", bumped).0, ec::NONE);
    let stale = build_batch_with_producer(&[(None, Some(b"e0"))], 1, 77, 0, 1);
    assert_eq!(produce(&mut good, "safe", stale).0, ec::INVALID_PRODUCER_EPOCH);

    // Invalid topic names and configs.
    for bad in ["", ".", "..", "has space", "slash/name", &"x".repeat(250), "__cluster_metadata"] {
        assert_eq!(create(&mut good, bad, &[]).0, ec::INVALID_TOPIC_EXCEPTION, "{bad:?}");
    }
    for (k, v) in [("retention.ms", "abc"), ("segment.bytes", "1"), ("cleanup.policy", "shred"), ("bogus.config", "1")]
    {
        let (code, message) = create(&mut good, "cfg-test", &[(k, v)]);
        assert_eq!(code, ec::INVALID_CONFIG, "{k}={v}");
        assert!(message.unwrap().contains(k));
    }

    // Out of range fetch.
    assert_eq!(fetch(&mut good, "safe", 10_000).0, ec::OFFSET_OUT_OF_RANGE);

    // The broker still serves, and the original data is intact.
    let (code, records) = fetch(&mut good, "safe", 0);
    assert_eq!(code, ec::NONE);
    let mut at = 0;
    let mut offset = 0;
    while at < records.len() && offset < 20 {
        let size = brook_protocol::batch::batch_size(&records[at..]).unwrap();
        let header = validate(&records[at..at + size], usize::MAX).unwrap();
        assert_eq!(header.base_offset, offset);
        assert_eq!(&records[at + 61..at + size], &original[offset as usize][61..], "payload unchanged");
        at += size;
        offset += 1;
    }
    assert_eq!(offset, 20);
    assert!(server.log_text().contains("brook broker listening"));
}

#[test]
fn unknown_properties_fail_startup_with_a_clear_message() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(["server", "--set", "no.such.property=1"])
        .env_remove("BROOK_TEST_BINARY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown property 'no.such.property'"), "{stderr}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(["server", "--set", "num.partitions=0"])
        .env_remove("BROOK_TEST_BINARY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("num.partitions"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(["server"])
        .env("BROOK_NUM_PARTITIONZ", "3")
        .env_remove("BROOK_TEST_BINARY")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("BROOK_NUM_PARTITIONZ"));
}
