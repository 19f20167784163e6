//! ListGroups, versions 0..=4 (state filter from v4).

use brook_protocol::kafka_protocol::messages::list_groups_response::ListedGroup;
use brook_protocol::kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{str_bytes, RequestContext, Versions};

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: ListGroupsRequest) -> ListGroupsResponse {
    let states: Vec<String> = request.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let groups = ctx
        .node
        .groups
        .list()
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.name().to_lowercase()))
        .map(|g| {
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&g.group_id)))
                .with_protocol_type(str_bytes(&g.protocol_type));
            if ctx.version() >= 4 {
                listed.group_state = str_bytes(g.state.name());
            }
            listed
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
