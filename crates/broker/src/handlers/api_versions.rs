//! ApiVersions, versions 0..=3. Lists every handler's declared versions
//! ([`super::SERVED`]). For a
//! version the broker does not know, the connection layer answers with
//! [`unsupported_version_response`] (v0 body, UNSUPPORTED_VERSION), as Kafka does.

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::api_versions_response::ApiVersion;
use brook_protocol::kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::{encode, RequestContext, Response, Versions, SERVED};

fn api_list() -> Vec<ApiVersion> {
    SERVED
        .iter()
        .map(|(key, v)| ApiVersion::default().with_api_key(*key as i16).with_min_version(v.min).with_max_version(v.max))
        .collect()
}

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 3);

pub async fn handle(_ctx: &RequestContext<'_>, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_error_code(error_code::NONE).with_api_keys(api_list())
}

pub fn unsupported_version_response(correlation_id: i32) -> Response {
    let response =
        ApiVersionsResponse::default().with_error_code(error_code::UNSUPPORTED_VERSION).with_api_keys(api_list());
    encode(correlation_id, 0, &response).expect("v0 ApiVersions always encodes")
}
