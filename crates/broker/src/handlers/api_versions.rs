//! ApiVersions, versions 0..=3. Lists every handler's declared versions
//! ([`super::SERVED`]) and, when switched on, the finalized
//! `transaction.version` feature. For a
//! version the broker does not know, the connection layer answers with
//! [`unsupported_version_response`] (v0 body, UNSUPPORTED_VERSION), as Kafka does.

use brook_protocol::error_code;
use brook_protocol::kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use brook_protocol::kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::{encode, str_bytes, RequestContext, Response, Versions, SERVED};

/// Whether Brook finalizes the `transaction.version` feature at level 2
/// (KIP-890 part 2). Clients that see it (Kafka's Java client 4.x) use
/// EndTxn v5 (a new epoch per transaction, markers written with it) and
/// leave adding partitions to the partition leaders (Produce v12,
/// TxnOffsetCommit v5 add them through AddPartitionsToTxn v5). Clients that
/// do not look (librdkafka, KafkaJS) keep transaction version 1.
pub const ADVERTISE_TRANSACTION_VERSION_2: bool = true;
const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";
const TRANSACTION_VERSION_LEVEL: i16 = 2;

/// Adds the finalized `transaction.version` feature when advertised.
fn with_features(response: ApiVersionsResponse, advertise_tv2: bool, features_epoch: i64) -> ApiVersionsResponse {
    if !advertise_tv2 {
        return response;
    }
    response
        .with_supported_features(vec![SupportedFeatureKey::default()
            .with_name(str_bytes(TRANSACTION_VERSION_FEATURE))
            .with_min_version(0)
            .with_max_version(TRANSACTION_VERSION_LEVEL)])
        .with_finalized_features_epoch(features_epoch.max(0))
        .with_finalized_features(vec![FinalizedFeatureKey::default()
            .with_name(str_bytes(TRANSACTION_VERSION_FEATURE))
            .with_min_version_level(TRANSACTION_VERSION_LEVEL)
            .with_max_version_level(TRANSACTION_VERSION_LEVEL)])
}

fn api_list() -> Vec<ApiVersion> {
    SERVED
        .iter()
        .map(|(key, v)| ApiVersion::default().with_api_key(*key as i16).with_min_version(v.min).with_max_version(v.max))
        .collect()
}

/// The versions this handler serves (ApiVersions lists them).
pub const VERSIONS: Versions = Versions::new(0, 3);

pub async fn handle(ctx: &RequestContext<'_>, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    let response = ApiVersionsResponse::default().with_error_code(error_code::NONE).with_api_keys(api_list());
    with_features(response, ADVERTISE_TRANSACTION_VERSION_2, ctx.node.image().last_offset)
}

pub fn unsupported_version_response(correlation_id: i32) -> Response {
    let response =
        ApiVersionsResponse::default().with_error_code(error_code::UNSUPPORTED_VERSION).with_api_keys(api_list());
    encode(correlation_id, 0, &response).expect("v0 ApiVersions always encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_version_2_is_finalized_only_when_switched_on() {
        let off = with_features(ApiVersionsResponse::default(), false, 7);
        assert!(off.finalized_features.is_empty() && off.supported_features.is_empty());
        let on = with_features(ApiVersionsResponse::default(), true, 7);
        assert_eq!(on.finalized_features_epoch, 7);
        assert_eq!(on.finalized_features[0].name.as_str(), "transaction.version");
        assert_eq!(on.finalized_features[0].max_version_level, 2);
        assert_eq!(on.supported_features[0].max_version, 2);
    }
}
