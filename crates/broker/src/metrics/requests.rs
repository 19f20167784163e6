//! Per-API request metrics, Kafka's `kafka.network:type=RequestMetrics`
//! MBeans: requests, errors, total time and request queue time, labelled
//! `request="<ApiName>"`.
//!
//! The label set is bounded by the API keys: one handle set per key, in an
//! array indexed by the key and created on the API's first request, so the
//! hot path is an atomic load, an atomic add and two histogram observations
//! (no map lookup, no allocation). Error series are keyed by two
//! `&'static str`s (API and Kafka error name) and only touched when a
//! response carries an error.
//!
//! What the times mean in Brook, which has no request queue (a connection's
//! task reads, handles and answers its requests in order):
//! - queue time: from the frame being complete in the connection's buffer
//!   (the read that completed it) to its handler starting. It covers header
//!   and body decoding, the authentication gate and, for a frame that
//!   arrived while an earlier request on the connection was handled or the
//!   connection was muted by a quota (KIP-219), that wait too;
//! - total time: from the same point to the response written to the socket
//!   (or the handler's end for acks=0 produce, which has no response).

use std::sync::OnceLock;
use std::time::Duration;

use brook_protocol::error_code::ErrorCode;
use brook_protocol::kafka_protocol::messages::*;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::latency::TimeHistogram;

/// Slots for API keys 0..API_SLOTS-1; the last one stands for any key
/// outside the table (only reachable through malformed frames).
pub const API_SLOTS: usize = 128;
const UNKNOWN_SLOT: usize = API_SLOTS - 1;
/// Kafka also times Fetch as `FetchConsumer` or `FetchFollower`; they get
/// two slots past any real API key.
pub const FETCH_CONSUMER: i16 = 125;
pub const FETCH_FOLLOWER: i16 = 126;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    pub request: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub request: &'static str,
    pub error: &'static str,
}

type HistogramFamily = Family<RequestLabel, TimeHistogram>;

/// The handles of one API, cached for its requests.
pub struct ApiHandles {
    requests: Counter,
    total_time: TimeHistogram,
    queue_time: TimeHistogram,
}

pub struct RequestMetrics {
    requests: Family<RequestLabel, Counter>,
    errors: Family<ErrorLabels, Counter>,
    total_time: HistogramFamily,
    queue_time: HistogramFamily,
    per_api: Box<[OnceLock<ApiHandles>]>,
}

/// Kafka's name of an API ("Produce", "Metadata"), or "Unknown".
pub fn api_name(api_key: i16) -> &'static str {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        (0..API_SLOTS)
            .map(|k| match ApiKey::try_from(k as i16) {
                _ if k == FETCH_CONSUMER as usize => "FetchConsumer",
                _ if k == FETCH_FOLLOWER as usize => "FetchFollower",
                // Leaked once per process: at most API_SLOTS short strings.
                Ok(key) if k != UNKNOWN_SLOT => &*format!("{key:?}").leak(),
                _ => "Unknown",
            })
            .collect()
    });
    names[slot(api_key)]
}

fn slot(api_key: i16) -> usize {
    if api_key >= 0 && (api_key as usize) < UNKNOWN_SLOT {
        api_key as usize
    } else {
        UNKNOWN_SLOT
    }
}

impl RequestMetrics {
    pub fn new() -> RequestMetrics {
        RequestMetrics {
            requests: Family::default(),
            errors: Family::default(),
            total_time: Family::default(),
            queue_time: Family::default(),
            per_api: (0..API_SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kafka_network_requestmetrics_requests",
            "Requests handled, by API (kafka.network:type=RequestMetrics,name=RequestsPerSec)",
            self.requests.clone(),
        );
        registry.register(
            "kafka_network_requestmetrics_errors",
            "Error codes returned, by API and Kafka error name; NONE is not counted (kafka.network:type=RequestMetrics,name=ErrorsPerSec)",
            self.errors.clone(),
        );
        registry.register(
            "kafka_network_requestmetrics_totaltimems",
            "Milliseconds from a request frame being read to its response written (kafka.network:type=RequestMetrics,name=TotalTimeMs)",
            self.total_time.clone(),
        );
        registry.register(
            "kafka_network_requestmetrics_requestqueuetimems",
            "Milliseconds from a request frame being read to its handler starting, including decoding and any wait behind earlier requests or a quota mute on the connection (kafka.network:type=RequestMetrics,name=RequestQueueTimeMs)",
            self.queue_time.clone(),
        );
    }

    fn api(&self, api_key: i16) -> &ApiHandles {
        self.per_api[slot(api_key)].get_or_init(|| {
            let label = RequestLabel { request: api_name(api_key) };
            ApiHandles {
                requests: self.requests.get_or_create(&label).clone(),
                total_time: self.total_time.get_or_create(&label).clone(),
                queue_time: self.queue_time.get_or_create(&label).clone(),
            }
        })
    }

    /// One request handled: its queue and total times.
    pub fn record(&self, api_key: i16, queue: Duration, total: Duration) {
        let api = self.api(api_key);
        api.requests.inc();
        api.queue_time.observe(queue);
        api.total_time.observe(total);
    }

    /// A Fetch, recorded as `Fetch` and, as Kafka does, as `FetchFollower`
    /// (a replica's) or `FetchConsumer`.
    pub fn record_fetch(&self, from_follower: bool, queue: Duration, total: Duration) {
        self.record(ApiKey::Fetch as i16, queue, total);
        self.record(if from_follower { FETCH_FOLLOWER } else { FETCH_CONSUMER }, queue, total);
    }

    /// One error code in a response of `api_key` (or a connection closed
    /// for a bad request); `NONE` is ignored.
    pub fn error(&self, api_key: i16, code: i16) {
        if code == 0 {
            return;
        }
        let labels = ErrorLabels { request: api_name(api_key), error: ErrorCode::from_code(code).name() };
        self.errors.get_or_create(&labels).inc();
    }

    /// Counts every error code `response` carries.
    pub fn response_errors<R: ErrorCounts + ?Sized>(&self, api_key: i16, response: &R) {
        response.for_each_error(&mut |code| self.error(api_key, code));
    }
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The error codes a response carries, top level and per topic, partition,
/// group or member, as Kafka's `AbstractResponse.errorCounts` sees them.
pub trait ErrorCounts {
    fn for_each_error(&self, f: &mut dyn FnMut(i16));
}

/// Autoref dispatch for the `route!` macro: responses with an
/// [`ErrorCounts`] impl are counted, any other is skipped at compile time.
pub struct ErrorSlot<'a, T>(pub &'a T);

pub trait CountErrors {
    fn count(self, metrics: &RequestMetrics, api_key: i16);
}
impl<T: ErrorCounts> CountErrors for &ErrorSlot<'_, T> {
    fn count(self, metrics: &RequestMetrics, api_key: i16) {
        metrics.response_errors(api_key, self.0)
    }
}
pub trait NoErrorCounts {
    fn count(self, metrics: &RequestMetrics, api_key: i16);
}
impl<T> NoErrorCounts for &&ErrorSlot<'_, T> {
    fn count(self, _: &RequestMetrics, _: i16) {}
}

macro_rules! top_level_error {
    ($($t:ty),* $(,)?) => {
        $(impl ErrorCounts for $t {
            fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
                f(self.error_code);
            }
        })*
    };
}

top_level_error!(
    ApiVersionsResponse,
    SyncGroupResponse,
    HeartbeatResponse,
    InitProducerIdResponse,
    ListGroupsResponse,
    SaslHandshakeResponse,
    SaslAuthenticateResponse,
    EndTxnResponse,
    AddOffsetsToTxnResponse,
    DescribeClusterResponse,
);

impl ErrorCounts for ProduceResponse {
    fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
        self.responses.iter().flat_map(|t| &t.partition_responses).for_each(|p| f(p.error_code));
    }
}

impl ErrorCounts for MetadataResponse {
    fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
        for t in &self.topics {
            f(t.error_code);
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    }
}

impl ErrorCounts for ListOffsetsResponse {
    fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
        self.topics.iter().flat_map(|t| &t.partitions).for_each(|p| f(p.error_code));
    }
}

impl ErrorCounts for FindCoordinatorResponse {
    fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
        self.coordinators.iter().for_each(|c| f(c.error_code));
    }
}

impl ErrorCounts for JoinGroupResponse {
    fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
    }
}

impl ErrorCounts for LeaveGroupResponse {
    fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
        self.members.iter().for_each(|m| f(m.error_code));
    }
}

impl ErrorCounts for OffsetCommitResponse {
    fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
        self.topics.iter().flat_map(|t| &t.partitions).for_each(|p| f(p.error_code));
    }
}

impl ErrorCounts for OffsetFetchResponse {
    fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
        self.topics.iter().flat_map(|t| &t.partitions).for_each(|p| f(p.error_code));
        for g in &self.groups {
            f(g.error_code);
            g.topics.iter().flat_map(|t| &t.partitions).for_each(|p| f(p.error_code));
        }
    }
}

impl ErrorCounts for CreateTopicsResponse {
    fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
        self.topics.iter().for_each(|t| f(t.error_code));
    }
}

impl ErrorCounts for DeleteTopicsResponse {
    fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
        self.responses.iter().for_each(|t| f(t.error_code));
    }
}

impl ErrorCounts for DescribeGroupsResponse {
    fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
        self.groups.iter().for_each(|g| f(g.error_code));
    }
}

impl ErrorCounts for brook_protocol::fetch_response::FetchResponseData {
    fn for_each_error(&self, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
        self.topics.iter().flat_map(|t| &t.partitions).for_each(|p| f(p.error_code));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_protocol::kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};

    fn render(m: &RequestMetrics) -> String {
        crate::metrics::encode_registered(|registry| m.register(registry))
    }

    #[test]
    fn api_names_are_kafkas() {
        assert_eq!(api_name(0), "Produce");
        assert_eq!(api_name(1), "Fetch");
        assert_eq!(api_name(3), "Metadata");
        assert_eq!(api_name(18), "ApiVersions");
        assert_eq!(api_name(-1), "Unknown");
        assert_eq!(api_name(500), "Unknown");
        assert_eq!(api_name(API_SLOTS as i16 - 1), "Unknown");
        assert_eq!(api_name(FETCH_CONSUMER), "FetchConsumer");
        assert_eq!(api_name(FETCH_FOLLOWER), "FetchFollower");
        // The extra slots are no real API's.
        assert!(ApiKey::try_from(FETCH_CONSUMER).is_err() && ApiKey::try_from(FETCH_FOLLOWER).is_err());
    }

    #[test]
    fn records_counts_and_times_per_api() {
        let m = RequestMetrics::new();
        m.record(0, Duration::from_micros(50), Duration::from_millis(3));
        m.record(0, Duration::from_micros(50), Duration::from_millis(3));
        m.record(3, Duration::ZERO, Duration::from_millis(40));
        m.record_fetch(true, Duration::ZERO, Duration::from_millis(1));
        let out = render(&m);
        assert!(out.contains("kafka_network_requestmetrics_requests_total{request=\"Produce\"} 2"), "{out}");
        assert!(out.contains("kafka_network_requestmetrics_requests_total{request=\"Metadata\"} 1"), "{out}");
        assert!(out.contains("kafka_network_requestmetrics_totaltimems_count{request=\"Produce\"} 2"), "{out}");
        // 3 ms falls in the 5 ms bucket, not the 2.5 ms one.
        assert!(
            out.contains("kafka_network_requestmetrics_totaltimems_bucket{le=\"2.5\",request=\"Produce\"} 0"),
            "{out}"
        );
        assert!(
            out.contains("kafka_network_requestmetrics_totaltimems_bucket{le=\"5.0\",request=\"Produce\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("kafka_network_requestmetrics_requestqueuetimems_bucket{le=\"0.1\",request=\"Produce\"} 2"),
            "{out}"
        );
        assert!(out.contains("kafka_network_requestmetrics_requests_total{request=\"Fetch\"} 1"), "{out}");
        assert!(out.contains("kafka_network_requestmetrics_requests_total{request=\"FetchFollower\"} 1"), "{out}");
        // APIs never used have no series.
        assert!(!out.contains("request=\"FetchConsumer\""), "{out}");
        assert!(!out.contains("request=\"ListOffsets\""), "{out}");
    }

    #[test]
    fn counts_response_errors_by_name_but_not_none() {
        let m = RequestMetrics::new();
        let response = ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
            .with_partition_responses(vec![
                PartitionProduceResponse::default().with_error_code(6),
                PartitionProduceResponse::default().with_error_code(0),
                PartitionProduceResponse::default().with_error_code(6),
                PartitionProduceResponse::default().with_error_code(3),
            ])]);
        (&ErrorSlot(&response)).count(&m, 0);
        // A response type without an ErrorCounts impl compiles and counts nothing.
        (&ErrorSlot(&DescribeQuorumResponse::default())).count(&m, 55);
        let out = render(&m);
        assert!(
            out.contains(
                "kafka_network_requestmetrics_errors_total{request=\"Produce\",error=\"NOT_LEADER_OR_FOLLOWER\"} 2"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "kafka_network_requestmetrics_errors_total{request=\"Produce\",error=\"UNKNOWN_TOPIC_OR_PARTITION\"} 1"
            ),
            "{out}"
        );
        assert!(!out.contains("error=\"NONE\""), "{out}");
        assert!(!out.contains("DescribeQuorum"), "{out}");
    }
}
