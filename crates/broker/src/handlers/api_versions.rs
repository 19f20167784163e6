//! ApiVersions, versions 0..=3. Lists `brook_protocol::api_versions`. For a
//! version the broker does not know, the connection layer answers with
//! [`unsupported_version_response`] (v0 body, UNSUPPORTED_VERSION), as Kafka does.

use brook_protocol::api_versions::SUPPORTED_APIS;
use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::api_versions_response::ApiVersion;
use brook_protocol::kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::{encode, RequestContext, Response};

fn api_list() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default().with_api_key(*key as i16).with_min_version(*min).with_max_version(*max)
        })
        .collect()
}

pub async fn handle(_ctx: &RequestContext<'_>, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_error_code(error_code::NONE).with_api_keys(api_list())
}

pub fn unsupported_version_response(correlation_id: i32) -> Response {
    let response =
        ApiVersionsResponse::default().with_error_code(error_code::UNSUPPORTED_VERSION).with_api_keys(api_list());
    encode(correlation_id, 0, &response).expect("v0 ApiVersions always encodes")
}
