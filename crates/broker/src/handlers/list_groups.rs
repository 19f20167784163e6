//! ListGroups, versions 0..=5 (state filter from v4; type filter and each
//! group's type from v5, KIP-848). Every Brook group is a classic group
//! (JoinGroup/SyncGroup): the new consumer protocol is not served, so a
//! v5 answer names each group "classic", as Kafka does for such groups,
//! and a type filter without "classic" lists none.

use brook_protocol::kafka_protocol::messages::list_groups_response::ListedGroup;
use brook_protocol::kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;
use crate::coordinator::group::coordinator::GroupDescription;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 5);

/// Kafka's name for a JoinGroup/SyncGroup group (`Group.GroupType.CLASSIC`).
const CLASSIC: &str = "classic";

pub async fn handle(ctx: &RequestContext<'_>, request: ListGroupsRequest) -> ListGroupsResponse {
    let states: Vec<String> = request.states_filter.iter().map(|s| s.as_str().to_string()).collect();
    let types: Vec<String> = request.types_filter.iter().map(|s| s.as_str().to_string()).collect();
    let mut groups = listed(ctx.node.groups.list(), ctx.version(), &states, &types);
    // Kafka: DESCRIBE on the cluster lists every group, else those with DESCRIBE on the group.
    let authz = ctx.authz();
    if !authz.cluster(Op::Describe) {
        groups.retain(|g| authz.group(Op::Describe, g.group_id.as_str()));
    }
    ListGroupsResponse::default().with_groups(groups)
}

/// The groups that pass both filters (case-insensitive, as Kafka's
/// GroupMetadataManager.listGroups; an empty filter passes everything),
/// with the fields `version` carries.
fn listed(groups: Vec<GroupDescription>, version: i16, states: &[String], types: &[String]) -> Vec<ListedGroup> {
    let states: Vec<String> = states.iter().map(|s| s.trim().to_lowercase()).collect();
    let classic_listed = types.is_empty() || types.iter().any(|t| t.trim().eq_ignore_ascii_case(CLASSIC));
    if !classic_listed {
        return Vec::new();
    }
    groups
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.name().to_lowercase()))
        .map(|g| {
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&g.group_id)))
                .with_protocol_type(str_bytes(&g.protocol_type));
            if version >= 4 {
                listed.group_state = str_bytes(g.state.name());
            }
            if version >= 5 {
                listed.group_type = str_bytes(CLASSIC);
            }
            listed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::group::state::GroupState;

    fn group(id: &str, protocol_type: &str, state: GroupState) -> GroupDescription {
        GroupDescription {
            group_id: id.to_string(),
            state,
            protocol_type: protocol_type.to_string(),
            protocol: String::new(),
            members: Vec::new(),
        }
    }

    fn groups() -> Vec<GroupDescription> {
        vec![group("app", "consumer", GroupState::Stable), group("workers", "connect", GroupState::Empty)]
    }

    fn names(listed: &[ListedGroup]) -> Vec<&str> {
        listed.iter().map(|g| g.group_id.as_str()).collect()
    }

    #[test]
    fn v5_names_every_group_classic_with_its_protocol_type() {
        let listed = listed(groups(), 5, &[], &[]);
        assert_eq!(names(&listed), ["app", "workers"]);
        assert!(listed.iter().all(|g| g.group_type.as_str() == "classic"));
        assert_eq!(listed[1].protocol_type.as_str(), "connect");
        assert_eq!(listed[1].group_state.as_str(), "Empty");
    }

    #[test]
    fn type_filter_is_case_insensitive_and_lists_only_classic_groups() {
        assert_eq!(names(&listed(groups(), 5, &[], &[" Classic".to_string()])), ["app", "workers"]);
        assert!(listed(groups(), 5, &[], &["consumer".to_string()]).is_empty());
        assert!(listed(groups(), 5, &[], &["share".to_string(), "streams".to_string()]).is_empty());
    }

    #[test]
    fn state_and_type_filters_combine() {
        let stable = ["stable".to_string()];
        assert_eq!(names(&listed(groups(), 5, &stable, &["classic".to_string()])), ["app"]);
    }

    #[test]
    fn versions_before_5_carry_no_type() {
        let listed = listed(groups(), 4, &[], &[]);
        assert!(listed.iter().all(|g| g.group_type.is_empty()));
        assert_eq!(listed[0].group_state.as_str(), "Stable");
    }
}
