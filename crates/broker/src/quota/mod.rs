//! Client quotas (KIP-13 byte rates, KIP-124 request time): the quota
//! manager measures each quota entity's rate and says how long an
//! over-quota client must wait. Thread-safe; shared by all connections.
//!
//! - Produce records its request's bytes after the append, Fetch its
//!   response's bytes (a throttled consumer fetch gets an empty response and
//!   its bytes are unrecorded, as in Kafka), every other API the time its
//!   handler spent being polled (`request_percentage`).
//! - `request_percentage` unit: percent of one thread's time per second,
//!   as Kafka's (nanoseconds of handler time × 100 / 10⁹). Brook's handlers
//!   are tokio tasks, so what is counted is the time the request's future
//!   spends inside `poll` on a worker thread: its own CPU work, not the time
//!   it waits for replication, the controller or the disk. 100 is one
//!   worker thread fully busy.
//! - Throttle time: (observed − quota) / quota × measured span (Kafka's
//!   `QuotaUtils.throttleTime`); byte-rate throttles are not capped, as in
//!   Kafka; request-time throttles are capped at one window
//!   (`quota.window.size.seconds`), as Kafka's `ClientRequestQuotaManager`.
//! - How a client is slowed: see [`throttled`] and connection.rs.
//!
//! Cost: with no quota of a type configured, recording is one relaxed
//! atomic load. Otherwise a lookup without allocation in the resolved
//! table (read lock, replaced only on metadata changes) and in the sensor
//! map (read lock; written only for a new entity), then the entity's own
//! mutex: clients of different entities never wait on each other.

pub mod rate;
pub mod resolver;

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_metadata::client_quotas::{
    ClientQuotas, CONNECTION_CREATION_RATE, CONSUMER_BYTE_RATE, IP, PRODUCER_BYTE_RATE, REQUEST_PERCENTAGE,
};
use parking_lot::{Mutex, RwLock};
use tracing::{debug, info};

use self::rate::{throttle_time_ms, RateConfig, SampledRate};
use self::resolver::KeyQuotas;
use crate::session::Session;

/// The three enforced quota types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaType {
    Produce = 0,
    Fetch = 1,
    Request = 2,
}

const KEYS: [&str; 3] = [PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE];

/// Entities whose rate is tracked, per quota type, before inactive ones are
/// dropped (an inactive entity's rate is zero, so nothing is lost).
const SENSORS_PRUNE_AT: usize = 10_000;

/// user tag → client id tag → rate.
type Sensors = HashMap<String, HashMap<String, Arc<Mutex<SampledRate>>>>;

/// `connection_creation_rate` of ip entities: per address, and the ip default.
#[derive(Debug, Clone, Default, PartialEq)]
struct IpQuotas {
    by_ip: HashMap<IpAddr, f64>,
    default: Option<f64>,
}

impl IpQuotas {
    fn build(quotas: &ClientQuotas) -> IpQuotas {
        let mut out = IpQuotas::default();
        for (entity, values) in quotas {
            let (Some(value), [part]) = (values.get(CONNECTION_CREATION_RATE), entity.as_slice()) else { continue };
            if part.entity_type != IP {
                continue;
            }
            match part.name.as_deref().map(str::parse::<IpAddr>) {
                None => out.default = Some(value.0),
                Some(Ok(ip)) => {
                    out.by_ip.insert(ip, value.0);
                }
                Some(Err(_)) => {} // the controller accepts addresses only
            }
        }
        out
    }
}

pub struct QuotaManager {
    config: RateConfig,
    enabled: [AtomicBool; 3],
    /// The image's quotas the tables were built from (by pointer) and the tables.
    tables: RwLock<(Arc<ClientQuotas>, [KeyQuotas; 3])>,
    sensors: [RwLock<Sensors>; 3],
    ip_enabled: AtomicBool,
    ip_quotas: RwLock<IpQuotas>,
    /// Connections accepted per address (KIP-612).
    ip_sensors: Mutex<HashMap<IpAddr, SampledRate>>,
}

impl QuotaManager {
    /// `samples`: `quota.window.num`; `window_ms`: `quota.window.size.seconds` in ms.
    pub fn new(samples: usize, window_ms: i64) -> QuotaManager {
        QuotaManager {
            config: RateConfig { samples: samples.max(1), window_ms: window_ms.max(1) },
            enabled: Default::default(),
            tables: RwLock::new((Arc::default(), Default::default())),
            sensors: Default::default(),
            ip_enabled: AtomicBool::new(false),
            ip_quotas: RwLock::new(IpQuotas::default()),
            ip_sensors: Mutex::new(HashMap::new()),
        }
    }

    /// Takes the quotas of a new metadata image; cheap when they did not change.
    pub fn update(&self, quotas: &Arc<ClientQuotas>) {
        if Arc::ptr_eq(&self.tables.read().0, quotas) {
            return;
        }
        let tables = KEYS.map(|key| KeyQuotas::build(quotas, key));
        for (i, t) in tables.iter().enumerate() {
            self.enabled[i].store(!t.is_empty(), Ordering::Relaxed);
        }
        let ip = IpQuotas::build(quotas);
        self.ip_enabled.store(ip != IpQuotas::default(), Ordering::Relaxed);
        *self.ip_quotas.write() = ip;
        *self.tables.write() = (quotas.clone(), tables);
        info!(entities = quotas.len(), "client quotas updated");
    }

    pub fn enabled(&self, t: QuotaType) -> bool {
        self.enabled[t as usize].load(Ordering::Relaxed)
    }

    /// The rate that measures `session`'s principal with `client_id`, and
    /// its quota, if a quota of type `t` applies.
    fn sensor(&self, t: QuotaType, session: &Session, client_id: &str) -> Option<(f64, Arc<Mutex<SampledRate>>)> {
        let tables = self.tables.read();
        let resolved = tables.1[t as usize].resolve(&session.principal.name, client_id)?;
        let sensors = &self.sensors[t as usize];
        if let Some(s) = sensors.read().get(resolved.user).and_then(|m| m.get(resolved.client_id)) {
            return Some((resolved.bound, s.clone()));
        }
        let mut all = sensors.write();
        if all.values().map(HashMap::len).sum::<usize>() >= SENSORS_PRUNE_AT {
            self.prune(&mut all);
        }
        let rate = all
            .entry(resolved.user.to_string())
            .or_default()
            .entry(resolved.client_id.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(SampledRate::new())))
            .clone();
        Some((resolved.bound, rate))
    }

    /// Drops rates nobody else holds and that measure zero now.
    fn prune(&self, all: &mut Sensors) {
        let now = crate::clock::now_ms();
        for clients in all.values_mut() {
            clients.retain(|_, r| Arc::strong_count(r) > 1 || r.lock().measure(self.config, now) != 0.0);
        }
        all.retain(|_, clients| !clients.is_empty());
    }

    /// Records `value` for the client and returns how long it must be
    /// throttled, in ms (0 within quota or without a quota).
    pub fn record(&self, t: QuotaType, session: &Session, client_id: &str, value: f64, now_ms: i64) -> i32 {
        if !self.enabled(t) {
            return 0;
        }
        let Some((bound, rate)) = self.sensor(t, session, client_id) else { return 0 };
        let mut rate = rate.lock();
        rate.record(self.config, value, now_ms);
        let observed = rate.measure(self.config, now_ms);
        if observed <= bound {
            return 0;
        }
        let span_ms = rate.window_size_ms(self.config, now_ms);
        let mut throttle = throttle_time_ms(observed, bound, span_ms);
        if t == QuotaType::Request {
            throttle = throttle.min(self.config.window_ms);
        }
        debug!(quota = KEYS[t as usize], principal = %session.principal, client_id, observed, bound, throttle, "quota violated");
        throttle.clamp(0, i32::MAX as i64) as i32
    }

    /// Takes back a recorded value (a throttled fetch answers empty).
    pub fn unrecord(&self, t: QuotaType, session: &Session, client_id: &str, value: f64, now_ms: i64) {
        if let Some((_, rate)) = self.enabled(t).then(|| self.sensor(t, session, client_id)).flatten() {
            rate.lock().record(self.config, -value, now_ms);
        }
    }

    /// KIP-612: records a new connection from `ip` and returns how long to
    /// hold it before closing it, when it exceeds the address's
    /// `connection_creation_rate` (then it is not counted, as in Kafka); 0
    /// to serve it. Capped at one window, as Kafka's.
    pub fn connection_throttle_ms(&self, ip: IpAddr, now_ms: i64) -> i64 {
        if !self.ip_enabled.load(Ordering::Relaxed) {
            return 0;
        }
        let Some(bound) = ({
            let q = self.ip_quotas.read();
            q.by_ip.get(&ip).copied().or(q.default)
        }) else {
            return 0;
        };
        let mut sensors = self.ip_sensors.lock();
        if sensors.len() >= SENSORS_PRUNE_AT {
            let config = self.config;
            sensors.retain(|_, r| r.measure(config, now_ms) != 0.0);
        }
        let rate = sensors.entry(ip).or_default();
        rate.record(self.config, 1.0, now_ms);
        let observed = rate.measure(self.config, now_ms);
        if observed <= bound {
            return 0;
        }
        let throttle = throttle_time_ms(observed, bound, rate.window_size_ms(self.config, now_ms));
        rate.record(self.config, -1.0, now_ms);
        throttle.min(self.config.window_ms)
    }

    /// The most that can be recorded at once without a throttle for sure
    /// (Kafka's `getMaxValueInQuotaWindow`): bounds a consumer's fetch size.
    pub fn max_value_in_window(&self, t: QuotaType, session: &Session, client_id: &str) -> Option<f64> {
        if !self.enabled(t) {
            return None;
        }
        let tables = self.tables.read();
        let resolved = tables.1[t as usize].resolve(&session.principal.name, client_id)?;
        let span_s = (self.config.samples as f64 - 1.0) * self.config.window_ms as f64 / 1000.0;
        Some(resolved.bound * span_s.max(self.config.window_ms as f64 / 1000.0))
    }
}

tokio::task_local! {
    /// The throttle time the request being handled earned, in ms.
    static THROTTLE_MS: Cell<i32>;
}

/// Notes that the current request must be throttled for `ms` (the largest
/// throttle of a request wins). Outside [`throttled`] it does nothing.
pub fn note_throttle(ms: i32) {
    let _ = THROTTLE_MS.try_with(|t| t.set(t.get().max(ms)));
}

/// Runs the handling of one request and returns its throttle time too.
/// A task-local carries the time from the handler to the connection, so no
/// signature between them changes.
pub async fn throttled<F: Future>(handling: F) -> (F::Output, i32) {
    THROTTLE_MS
        .scope(Cell::new(0), async {
            let out = handling.await;
            (out, THROTTLE_MS.with(Cell::get))
        })
        .await
}

/// Requests brokers send each other, which Kafka exempts from request
/// quotas (they need ClusterAction): transaction markers, and the KIP-890
/// partition verification of AddPartitionsToTxn (v4+, broker-only). A
/// follower's Fetch is exempted in the Fetch handler.
pub fn exempt(api_key: i16, version: i16) -> bool {
    api_key == ApiKey::WriteTxnMarkers as i16 || (api_key == ApiKey::AddPartitionsToTxn as i16 && version >= 4)
}

/// Runs a handler, and if request-time quotas are configured, measures the
/// time it spends being polled and records it as `request_percentage`;
/// returns the throttle time (0 when none).
pub async fn request_time<F: Future>(
    quotas: &QuotaManager,
    session: &Session,
    header: &RequestHeader,
    handler: F,
) -> (F::Output, i32) {
    if !quotas.enabled(QuotaType::Request) || exempt(header.request_api_key, header.request_api_version) {
        return (handler.await, 0);
    }
    let mut handler = std::pin::pin!(handler);
    let mut busy = Duration::ZERO;
    let out = std::future::poll_fn(|cx| {
        let started = Instant::now();
        let polled = handler.as_mut().poll(cx);
        busy += started.elapsed();
        polled
    })
    .await;
    // Percent of one thread per second: nanoseconds × 100 / 10⁹.
    let percent_seconds = busy.as_nanos() as f64 * 100.0 / 1e9;
    let client_id = header.client_id.as_ref().map_or("", |c| c.as_str());
    let throttle = quotas.record(QuotaType::Request, session, client_id, percent_seconds, crate::clock::now_ms());
    note_throttle(throttle);
    (out, throttle)
}

/// Response types that carry `throttle_time_ms`, for the dispatcher to set
/// it generically (autoref specialization: types without the field get a
/// no-op through [`NoThrottleField`]).
pub trait HasThrottleField {
    fn set_throttle_time_ms(&mut self, ms: i32);
}

pub struct ThrottleSlot<'a, T>(pub &'a mut T);

pub trait SetThrottleField {
    fn set(self, ms: i32);
}
impl<T: HasThrottleField> SetThrottleField for &mut ThrottleSlot<'_, T> {
    fn set(self, ms: i32) {
        self.0.set_throttle_time_ms(ms)
    }
}
pub trait NoThrottleField {
    fn set(self, ms: i32);
}
impl<T> NoThrottleField for &ThrottleSlot<'_, T> {
    fn set(self, _ms: i32) {}
}

macro_rules! throttle_field {
    ($($t:ty),* $(,)?) => {
        $(impl HasThrottleField for $t {
            fn set_throttle_time_ms(&mut self, ms: i32) {
                self.throttle_time_ms = ms;
            }
        })*
    };
}

use brook_protocol::kafka_protocol::messages::*;
throttle_field!(
    ApiVersionsResponse,
    MetadataResponse,
    ListOffsetsResponse,
    OffsetForLeaderEpochResponse,
    CreateTopicsResponse,
    DeleteTopicsResponse,
    CreatePartitionsResponse,
    DeleteRecordsResponse,
    DescribeConfigsResponse,
    AlterConfigsResponse,
    IncrementalAlterConfigsResponse,
    DescribeClusterResponse,
    ElectLeadersResponse,
    AlterPartitionReassignmentsResponse,
    ListPartitionReassignmentsResponse,
    InitProducerIdResponse,
    FindCoordinatorResponse,
    JoinGroupResponse,
    SyncGroupResponse,
    HeartbeatResponse,
    LeaveGroupResponse,
    OffsetCommitResponse,
    OffsetFetchResponse,
    ListGroupsResponse,
    DescribeGroupsResponse,
    DeleteGroupsResponse,
    OffsetDeleteResponse,
    DescribeProducersResponse,
    TxnOffsetCommitResponse,
    AddPartitionsToTxnResponse,
    AddOffsetsToTxnResponse,
    EndTxnResponse,
    DescribeTransactionsResponse,
    ListTransactionsResponse,
    AlterClientQuotasResponse,
    DescribeClientQuotasResponse,
    ProduceResponse,
    CreateAclsResponse,
    DescribeAclsResponse,
    DeleteAclsResponse,
);

#[cfg(test)]
mod tests {
    use brook_metadata::client_quotas::{apply, EntityPart, QuotaValue, CLIENT_ID, IP, USER};
    use brook_security::KafkaPrincipal;

    use super::*;

    /// (user part, client-id part, key, value); `Some(None)` is a default entity.
    type Entry<'a> = (Option<Option<&'a str>>, Option<Option<&'a str>>, &'a str, f64);

    fn quotas(entries: &[Entry<'_>]) -> Arc<ClientQuotas> {
        let mut q = ClientQuotas::new();
        for (user, client, key, v) in entries {
            let mut e = Vec::new();
            if let Some(c) = client {
                e.push(EntityPart { entity_type: CLIENT_ID.into(), name: c.map(str::to_string) });
            }
            if let Some(u) = user {
                e.push(EntityPart { entity_type: USER.into(), name: u.map(str::to_string) });
            }
            apply(&mut q, &e, key, Some(QuotaValue(*v)));
        }
        Arc::new(q)
    }

    fn session(user: &str) -> Session {
        let mut s = Session::plaintext("PLAINTEXT", None);
        s.principal = KafkaPrincipal::user(user);
        s
    }

    #[test]
    fn over_quota_clients_are_throttled_per_entity() {
        let m = QuotaManager::new(11, 1000);
        let anon = session("ANONYMOUS");
        assert_eq!(m.record(QuotaType::Produce, &anon, "a", 1e9, 0), 0, "no quotas: nothing recorded");
        m.update(&quotas(&[(None, Some(Some("a")), PRODUCER_BYTE_RATE, 1000.0)]));
        assert!(m.enabled(QuotaType::Produce) && !m.enabled(QuotaType::Fetch));
        // 10 000 bytes in a 10 s span is exactly the quota: no throttle.
        assert_eq!(m.record(QuotaType::Produce, &anon, "a", 10_000.0, 0), 0);
        // 10 000 more: 2 000 B/s over 10 s → wait 10 s.
        assert_eq!(m.record(QuotaType::Produce, &anon, "a", 10_000.0, 0), 10_000);
        // Client b has no quota; client a of another user shares a's rate.
        assert_eq!(m.record(QuotaType::Produce, &anon, "b", 1e9, 0), 0);
        assert!(m.record(QuotaType::Produce, &session("alice"), "a", 1.0, 0) > 0);
        // A removed quota stops throttling at once.
        m.update(&quotas(&[]));
        assert_eq!(m.record(QuotaType::Produce, &anon, "a", 1e9, 1), 0);
    }

    #[test]
    fn default_client_quota_gives_each_client_its_own_rate() {
        let m = QuotaManager::new(11, 1000);
        m.update(&quotas(&[(None, Some(None), CONSUMER_BYTE_RATE, 1000.0)]));
        let anon = session("ANONYMOUS");
        assert_eq!(m.record(QuotaType::Fetch, &anon, "x", 10_000.0, 0), 0);
        assert_eq!(m.record(QuotaType::Fetch, &anon, "y", 10_000.0, 0), 0);
        assert!(m.record(QuotaType::Fetch, &anon, "x", 1_000.0, 0) > 0);
        m.unrecord(QuotaType::Fetch, &anon, "x", 1_000.0, 0);
        assert_eq!(m.record(QuotaType::Fetch, &anon, "x", 0.0, 0), 0);
        assert_eq!(m.max_value_in_window(QuotaType::Fetch, &anon, "z"), Some(10_000.0));
    }

    #[test]
    fn request_time_throttle_is_capped_at_one_window() {
        let m = QuotaManager::new(11, 1000);
        m.update(&quotas(&[(Some(Some("alice")), None, REQUEST_PERCENTAGE, 10.0)]));
        let alice = session("alice");
        // 10 % over a 10 s span is 100 percent-seconds; 200 would wait 10 s, capped at 1 s.
        assert_eq!(m.record(QuotaType::Request, &alice, "any", 200.0, 0), 1000);
        assert_eq!(m.record(QuotaType::Request, &session("bob"), "any", 100.0, 0), 0);
    }

    #[test]
    fn inter_broker_requests_are_exempt() {
        assert!(exempt(ApiKey::WriteTxnMarkers as i16, 1));
        assert!(exempt(ApiKey::AddPartitionsToTxn as i16, 4));
        assert!(!exempt(ApiKey::AddPartitionsToTxn as i16, 3));
        assert!(!exempt(ApiKey::Metadata as i16, 12));
    }

    #[test]
    fn connection_creation_rate_per_ip() {
        let m = QuotaManager::new(11, 1000);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert_eq!(m.connection_throttle_ms(a, 0), 0, "no quotas");
        let mut q = ClientQuotas::new();
        let ip = |name: Option<&str>| vec![EntityPart { entity_type: IP.into(), name: name.map(str::to_string) }];
        apply(&mut q, &ip(Some("10.0.0.1")), CONNECTION_CREATION_RATE, Some(QuotaValue(1.0)));
        apply(&mut q, &ip(None), CONNECTION_CREATION_RATE, Some(QuotaValue(100.0)));
        m.update(&Arc::new(q));
        // 1/s over a 10 s span: 10 connections pass, the 11th waits (capped at one window) and is not counted.
        for _ in 0..10 {
            assert_eq!(m.connection_throttle_ms(a, 0), 0);
        }
        assert_eq!(m.connection_throttle_ms(a, 0), 1000);
        assert_eq!(m.connection_throttle_ms(a, 0), 1000);
        // Another address falls to the ip default.
        for _ in 0..100 {
            assert_eq!(m.connection_throttle_ms(b, 0), 0);
        }
        m.update(&Arc::new(ClientQuotas::new()));
        assert_eq!(m.connection_throttle_ms(a, 0), 0);
    }

    #[tokio::test]
    async fn throttle_travels_from_handler_to_connection() {
        let ((), ms) = throttled(async {
            note_throttle(5);
            note_throttle(3);
        })
        .await;
        assert_eq!(ms, 5);
        note_throttle(7); // outside a request: ignored, no panic
    }

    #[test]
    #[allow(clippy::unnecessary_mut_passed)] // the dispatcher's form, for any response type
    fn throttle_field_is_set_where_the_response_has_one() {
        let mut r = MetadataResponse::default();
        (&mut ThrottleSlot(&mut r)).set(42);
        assert_eq!(r.throttle_time_ms, 42);
        let mut w = WriteTxnMarkersResponse::default();
        (&mut ThrottleSlot(&mut w)).set(42);
    }
}
