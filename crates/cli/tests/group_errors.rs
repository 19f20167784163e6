//! Group protocol error codes on the wire: empty protocol lists, unknown
//! members, stale generations, fenced static members, oversized offset
//! metadata, and deleting a live group.

mod support;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{Server, Wire};

const NONE: i16 = 0;
const ILLEGAL_GENERATION: i16 = 22;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const INVALID_GROUP_ID: i16 = 24;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
const FENCED_INSTANCE_ID: i16 = 82;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn join(wire: &mut Wire, group: &str, member: &str, instance: Option<&str>, protocols: &[&str]) -> JoinGroupResponse {
    let req = JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(
            protocols
                .iter()
                .map(|p| {
                    JoinGroupRequestProtocol::default().with_name(s(p)).with_metadata(Bytes::from_static(b"\x00\x00"))
                })
                .collect(),
        );
    wire.call(7, &req)
}

fn sync(wire: &mut Wire, group: &str, member: &str, generation: i32) -> i16 {
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_generation_id(generation);
    wire.call(5, &req).error_code
}

fn heartbeat(wire: &mut Wire, group: &str, member: &str, instance: Option<&str>, generation: i32) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_generation_id(generation);
    wire.call(4, &req).error_code
}

fn commit(wire: &mut Wire, group: &str, member: &str, generation: i32, metadata: &str) -> i16 {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_generation_id_or_member_epoch(generation)
        .with_topics(vec![OffsetCommitRequestTopic::default().with_name(TopicName(s("gt"))).with_partitions(vec![
            OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(5)
                .with_committed_metadata(Some(s(metadata))),
        ])]);
    wire.call(8, &req).topics[0].partitions[0].error_code
}

#[test]
fn group_protocol_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["group.initial.rebalance.delay.ms=0"]);
    let mut w = server.connect();
    let find = w.call(3, &FindCoordinatorRequest::default().with_key(s("g")));
    assert_eq!(find.error_code, NONE);
    let create = CreateTopicsRequest::default().with_topics(vec![create_topics_request::CreatableTopic::default()
        .with_name(TopicName(s("gt")))
        .with_num_partitions(1)
        .with_replication_factor(1)]);
    assert_eq!(w.call(7, &create).topics[0].error_code, NONE);

    assert_eq!(join(&mut w, "g", "", None, &[]).error_code, INCONSISTENT_GROUP_PROTOCOL, "empty protocol list");
    assert_eq!(join(&mut w, "", "", None, &["range"]).error_code, INVALID_GROUP_ID);
    assert_eq!(join(&mut w, "g", "who-is-this", None, &["range"]).error_code, UNKNOWN_MEMBER_ID);
    let mut bad_timeout = JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_session_timeout_ms(1)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(s("range"))]);
    bad_timeout.rebalance_timeout_ms = 1000;
    assert_eq!(w.call(7, &bad_timeout).error_code, INVALID_SESSION_TIMEOUT);

    // KIP-394: first join gets an id, the second join with it completes.
    let first = join(&mut w, "g", "", None, &["range"]);
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    let joined = join(&mut w, "g", first.member_id.as_str(), None, &["range"]);
    assert_eq!(joined.error_code, NONE);
    let member = joined.member_id.to_string();
    let generation = joined.generation_id;
    assert_eq!(joined.leader.as_str(), member);
    assert_eq!(join(&mut w, "g", "", None, &["roundrobin"]).error_code, INCONSISTENT_GROUP_PROTOCOL);
    assert_eq!(sync(&mut w, "g", &member, generation + 1), ILLEGAL_GENERATION);
    assert_eq!(sync(&mut w, "g", "stranger", generation), UNKNOWN_MEMBER_ID);
    assert_eq!(sync(&mut w, "g", &member, generation), NONE);
    assert_eq!(heartbeat(&mut w, "g", &member, None, generation), NONE);
    assert_eq!(heartbeat(&mut w, "g", &member, None, generation - 1), ILLEGAL_GENERATION);
    assert_eq!(heartbeat(&mut w, "g", "stranger", None, generation), UNKNOWN_MEMBER_ID);

    // Commits: stale generation, unknown member, simple commit into a live group, oversized metadata.
    assert_eq!(commit(&mut w, "g", &member, generation, "ok"), NONE);
    assert_eq!(commit(&mut w, "g", &member, generation - 1, "ok"), ILLEGAL_GENERATION);
    assert_eq!(commit(&mut w, "g", "stranger", generation, "ok"), UNKNOWN_MEMBER_ID);
    assert_eq!(commit(&mut w, "g", "", -1, "ok"), UNKNOWN_MEMBER_ID);
    assert_eq!(commit(&mut w, "g", &member, generation, &"m".repeat(5000)), OFFSET_METADATA_TOO_LARGE);
    assert_eq!(commit(&mut w, "simple", "", -1, "ok"), NONE, "simple commit outside any group");
    assert_eq!(commit(&mut w, "never-seen", "m", 3, "ok"), ILLEGAL_GENERATION);

    // Static membership fencing.
    let a = join(&mut w, "s", "", Some("inst"), &["range"]);
    assert_eq!(a.error_code, NONE);
    assert_eq!(join(&mut w, "s", "forged-id", Some("inst"), &["range"]).error_code, FENCED_INSTANCE_ID);
    assert_eq!(heartbeat(&mut w, "s", "forged-id", Some("inst"), a.generation_id), FENCED_INSTANCE_ID);

    // Deleting a group with members, and one that does not exist.
    let del = w.call(2, &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g")), GroupId(s("nope"))]));
    assert_eq!(del.results[0].error_code, NON_EMPTY_GROUP);
    assert_eq!(del.results[1].error_code, GROUP_ID_NOT_FOUND);
    // Still serving.
    assert_eq!(heartbeat(&mut w, "g", &member, None, generation), NONE);
}
