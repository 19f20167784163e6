//! DescribeGroups, versions 0..=5: state, protocol, members with their
//! metadata and assignments. An unknown group is described as Dead, as Kafka does.

use brook_protocol::kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use brook_protocol::kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use brook_security::acl::ResourceType;

use super::{str_bytes, RequestContext, Versions};
use crate::authorization::Op;

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 5);

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
    // Kafka: DESCRIBE on each group.
    let authz = ctx.authz();
    let groups: Vec<DescribedGroup> = request
        .groups
        .iter()
        .map(|id| match ctx.node.groups.check(id.as_str()).map(|_| ctx.node.groups.describe(id.as_str())) {
            _ if !authz.group(Op::Describe, id.as_str()) => DescribedGroup::default()
                .with_group_id(id.clone())
                .with_error_code(brook_protocol::error_code::GROUP_AUTHORIZATION_FAILED),
            Err(code) => DescribedGroup::default().with_group_id(id.clone()).with_error_code(code.code()),
            Ok(None) => DescribedGroup::default().with_group_id(id.clone()).with_group_state(str_bytes("Dead")),
            Ok(Some(g)) => DescribedGroup::default()
                .with_group_id(id.clone())
                .with_group_state(str_bytes(g.state.name()))
                .with_protocol_type(str_bytes(&g.protocol_type))
                .with_protocol_data(str_bytes(&g.protocol))
                .with_members(
                    g.members
                        .into_iter()
                        .map(|(member_id, instance, client_id, host, metadata, assignment)| {
                            let mut m = DescribedGroupMember::default()
                                .with_member_id(str_bytes(&member_id))
                                .with_client_id(str_bytes(&client_id))
                                .with_client_host(str_bytes(&host))
                                .with_member_metadata(metadata)
                                .with_member_assignment(assignment);
                            if ctx.version() >= 4 {
                                m.group_instance_id = instance.as_deref().map(str_bytes);
                            }
                            m
                        })
                        .collect(),
                ),
        })
        .map(|mut g| {
            if request.include_authorized_operations && g.error_code == 0 {
                g.authorized_operations = authz.operations_bits(ResourceType::Group, g.group_id.as_str());
            }
            g
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
