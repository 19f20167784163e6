//! Broker configuration with Kafka's property names. Sources, later ones
//! winning: built-in defaults, a properties file, `BROOK_*` environment
//! variables, then `--set NAME=VALUE` flags. Unknown names and invalid values
//! are errors at startup, never silently ignored.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use brook_metadata::topic_config::{self, Kind};
use brook_security::SecurityProtocol;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("unknown property '{0}'")]
    Unknown(String),
    #[error("invalid value for '{name}': {reason}")]
    Invalid { name: String, reason: String },
    #[error("{0}")]
    Syntax(String),
}

struct PropertyDef {
    name: &'static str,
    default: &'static str,
    kind: Kind,
    doc: &'static str,
}

const fn long(min: i64, max: i64) -> Kind {
    Kind::Long { min, max }
}
const BOOL: Kind = Kind::Bool;
/// Free text (listeners, paths); checked by the typed accessors.
const TEXT: Kind = Kind::Text;
const I32: i64 = i32::MAX as i64;
const I64: i64 = i64::MAX;

/// Every broker property Brook knows. Topic-level defaults (`log.*`,
/// `message.max.bytes`, ...) come from `topic_config::TOPIC_CONFIGS`.
const BROKER_PROPERTIES: &[PropertyDef] = &[
    PropertyDef {
        name: "fetch.max.bytes",
        default: "57671680",
        kind: long(1024, I32),
        doc: "Most bytes one Fetch response carries (beyond one batch for progress).",
    },
    PropertyDef {
        name: "group.min.session.timeout.ms",
        default: "6000",
        kind: long(1, I32),
        doc: "Smallest session timeout a group member may ask for.",
    },
    PropertyDef {
        name: "group.max.session.timeout.ms",
        default: "1800000",
        kind: long(1, I32),
        doc: "Largest session timeout a group member may ask for.",
    },
    PropertyDef {
        name: "group.initial.rebalance.delay.ms",
        default: "3000",
        kind: long(0, I32),
        doc: "Wait this long for more members before the first rebalance of an empty group.",
    },
    PropertyDef {
        name: "group.max.size",
        default: "2147483647",
        kind: long(1, I32),
        doc: "Most members a group may have.",
    },
    PropertyDef {
        name: "offsets.topic.num.partitions",
        default: "50",
        kind: long(1, 1000),
        doc: "Partitions of __consumer_offsets (fixed once created).",
    },
    PropertyDef {
        name: "offsets.topic.segment.bytes",
        default: "104857600",
        kind: long(14, I32),
        doc: "Segment size of __consumer_offsets.",
    },
    PropertyDef {
        name: "offsets.retention.minutes",
        default: "10080",
        kind: long(1, I32),
        doc: "Committed offsets of a group empty for this long are deleted.",
    },
    PropertyDef {
        name: "offsets.retention.check.interval.ms",
        default: "600000",
        kind: long(1, I64),
        doc: "How often offset expiry runs.",
    },
    PropertyDef {
        name: "offset.metadata.max.bytes",
        default: "4096",
        kind: long(0, I32),
        doc: "Largest metadata string of a committed offset.",
    },
    PropertyDef { name: "node.id", default: "1", kind: long(0, I32), doc: "This node's id, unique in the cluster." },
    PropertyDef {
        name: "process.roles",
        default: "broker,controller",
        kind: Kind::Choice(&["broker", "controller", "broker,controller", "controller,broker"]),
        doc: "broker (serves clients), controller (votes in the metadata quorum), or both.",
    },
    PropertyDef {
        name: "controller.quorum.voters",
        default: "",
        kind: TEXT,
        doc: "The metadata quorum: id@host:port of each controller listener. Empty: this node alone.",
    },
    PropertyDef {
        name: "controller.listener.names",
        default: "CONTROLLER",
        kind: TEXT,
        doc: "Name of the listener in `listeners` that controllers use.",
    },
    PropertyDef {
        name: "broker.session.timeout.ms",
        default: "9000",
        kind: long(1, I32),
        doc: "A broker without a heartbeat for this long is fenced and loses its leaderships (one whose process died loses them at once).",
    },
    PropertyDef {
        name: "broker.heartbeat.interval.ms",
        default: "2000",
        kind: long(1, I32),
        doc: "How often a broker heartbeats to the active controller.",
    },
    PropertyDef {
        name: "offsets.commit.timeout.ms",
        default: "5000",
        kind: long(1, I32),
        doc: "An offset commit waits this long for its replication before failing.",
    },
    PropertyDef {
        name: "auto.leader.rebalance.enable",
        default: "true",
        kind: BOOL,
        doc: "The active controller moves leadership back to preferred replicas (the first of each replica list).",
    },
    PropertyDef {
        name: "leader.imbalance.check.interval.seconds",
        default: "300",
        kind: long(1, I32),
        doc: "How often the controller checks leader balance.",
    },
    PropertyDef {
        name: "leader.imbalance.per.broker.percentage",
        default: "10",
        kind: long(0, 100),
        doc: "Rebalance a broker's leadership once this share of its preferred partitions is led elsewhere.",
    },
    PropertyDef {
        name: "replica.lag.time.max.ms",
        default: "30000",
        kind: long(1, I64),
        doc: "A follower not caught up for this long leaves the ISR.",
    },
    PropertyDef {
        name: "replica.fetch.wait.max.ms",
        default: "500",
        kind: long(0, I32),
        doc: "Longest a leader parks a follower's fetch when it has nothing new.",
    },
    PropertyDef {
        name: "replica.fetch.min.bytes",
        default: "1",
        kind: long(1, I32),
        doc: "Bytes a follower's fetch waits for before the leader answers.",
    },
    PropertyDef {
        name: "replica.fetch.max.bytes",
        default: "1048576",
        kind: long(0, I32),
        doc: "Bytes a follower fetches per partition (at least one batch).",
    },
    PropertyDef {
        name: "replica.fetch.response.max.bytes",
        default: "10485760",
        kind: long(0, I32),
        doc: "Bytes a follower fetches per request, over all partitions.",
    },
    PropertyDef {
        name: "offsets.topic.replication.factor",
        default: "1",
        kind: long(1, 32767),
        doc: "Replication factor of __consumer_offsets; FindCoordinator fails until this many brokers are live (Kafka's default is 3).",
    },
    PropertyDef {
        name: "transaction.state.log.num.partitions",
        default: "50",
        kind: long(1, 1000),
        doc: "Partitions of __transaction_state (fixed once created).",
    },
    PropertyDef {
        name: "transaction.state.log.replication.factor",
        default: "3",
        kind: long(1, 32767),
        doc: "Replication factor of __transaction_state; fewer live brokers at its creation lower it to their count.",
    },
    PropertyDef {
        name: "transaction.state.log.min.isr",
        default: "2",
        kind: long(1, I32),
        doc: "min.insync.replicas of __transaction_state (at most its replication factor).",
    },
    PropertyDef {
        name: "transaction.state.log.segment.bytes",
        default: "104857600",
        kind: long(14, I32),
        doc: "Segment size of __transaction_state.",
    },
    PropertyDef {
        name: "transaction.max.timeout.ms",
        default: "900000",
        kind: long(1, I32),
        doc: "Largest transaction timeout a producer may ask for (INVALID_TRANSACTION_TIMEOUT beyond).",
    },
    PropertyDef {
        name: "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        default: "10000",
        kind: long(1, I32),
        doc: "How often transactions open longer than their timeout are aborted.",
    },
    PropertyDef {
        name: "transactional.id.expiration.ms",
        default: "604800000",
        kind: long(1, I32),
        doc: "A transactional id idle (no transaction) for this long is forgotten.",
    },
    PropertyDef { name: "broker.id", default: "", kind: long(0, I32), doc: "Alias of node.id." },
    PropertyDef {
        name: "listeners",
        default: "PLAINTEXT://127.0.0.1:9092",
        kind: TEXT,
        doc: "Where the node listens: NAME://host:port,... (client listeners, plus the controller listener); each NAME's protocol comes from listener.security.protocol.map.",
    },
    PropertyDef {
        name: "advertised.listeners",
        default: "",
        kind: TEXT,
        doc: "NAME://host:port given to clients of listener NAME in Metadata; a listener not named here advertises its listeners address.",
    },
    PropertyDef {
        name: "listener.security.protocol.map",
        default: "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        kind: TEXT,
        doc: "NAME:PROTOCOL,... the security protocol of each listener name (the controller listener is PLAINTEXT unless mapped).",
    },
    PropertyDef {
        name: "inter.broker.listener.name",
        default: "",
        kind: TEXT,
        doc: "Listener brokers reach each other on (replication, transaction markers); defaults to the listener named by security.inter.broker.protocol.",
    },
    PropertyDef {
        name: "security.inter.broker.protocol",
        default: "PLAINTEXT",
        kind: Kind::Choice(&["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
        doc: "Used when inter.broker.listener.name is not set: the listener of that name is the inter-broker one.",
    },
    PropertyDef { name: "log.dirs", default: "./brook-data", kind: TEXT, doc: "Comma-separated data directories." },
    PropertyDef { name: "log.dir", default: "", kind: TEXT, doc: "Alias of log.dirs (used when log.dirs is not set)." },
    PropertyDef {
        name: "metadata.log.dir",
        default: "",
        kind: TEXT,
        doc: "Where the metadata log lives; defaults to the first log dir.",
    },
    PropertyDef {
        name: "num.partitions",
        default: "1",
        kind: long(1, 100_000),
        doc: "Partitions of auto-created topics and of CreateTopics with -1.",
    },
    PropertyDef {
        name: "default.replication.factor",
        default: "1",
        kind: long(1, 32767),
        doc: "Replication factor of auto-created topics.",
    },
    PropertyDef {
        name: "auto.create.topics.enable",
        default: "true",
        kind: BOOL,
        doc: "Create unknown topics on Metadata requests that allow it.",
    },
    PropertyDef {
        name: "log.retention.hours",
        default: "",
        kind: long(-1, I32),
        doc: "retention.ms default in hours (lowest precedence).",
    },
    PropertyDef {
        name: "log.retention.minutes",
        default: "",
        kind: long(-1, I32),
        doc: "retention.ms default in minutes.",
    },
    PropertyDef { name: "log.roll.hours", default: "", kind: long(1, I32), doc: "segment.ms default in hours." },
    PropertyDef {
        name: "log.retention.check.interval.ms",
        default: "300000",
        kind: long(1, I64),
        doc: "How often retention runs.",
    },
    PropertyDef {
        name: "log.flush.scheduler.interval.ms",
        default: "1000",
        kind: long(1, I64),
        doc: "How often flush.ms is checked.",
    },
    PropertyDef {
        name: "replica.high.watermark.checkpoint.interval.ms",
        default: "5000",
        kind: long(1, I64),
        doc: "How often high watermarks are checkpointed (a restarted leader serves what it checkpointed).",
    },
    PropertyDef {
        name: "log.flush.offset.checkpoint.interval.ms",
        default: "60000",
        kind: long(1, I32),
        doc: "How often recovery points and log start offsets are checkpointed.",
    },
    PropertyDef {
        name: "socket.request.max.bytes",
        default: "104857600",
        kind: long(1, I32),
        doc: "Largest request frame accepted.",
    },
    PropertyDef {
        name: "connections.max.idle.ms",
        default: "600000",
        kind: long(1, I64),
        doc: "Idle connections are closed after this.",
    },
    PropertyDef {
        name: "log.cleaner.enable",
        default: "true",
        kind: BOOL,
        doc: "Run the log cleaner (compaction of cleanup.policy=compact topics, __consumer_offsets among them).",
    },
    PropertyDef {
        name: "log.cleaner.threads",
        default: "1",
        kind: long(1, 64),
        doc: "Logs cleaned at the same time.",
    },
    PropertyDef {
        name: "log.cleaner.backoff.ms",
        default: "15000",
        kind: long(0, I64),
        doc: "How often the cleaner looks for logs to clean.",
    },
    PropertyDef {
        name: "log.cleaner.dedupe.buffer.size",
        default: "134217728",
        kind: long(1 << 20, I64),
        doc: "Memory for the key map of one cleaning pass, over all cleaner threads; a larger dirty section is cleaned over several passes.",
    },
    PropertyDef {
        name: "log.cleaner.io.max.bytes.per.second",
        default: "1.7976931348623157E308",
        kind: Kind::Double { min: 1.0, max: f64::MAX },
        doc: "Bytes per second the cleaner reads and writes, over all cleaner threads.",
    },
    PropertyDef {
        name: "ssl.keystore.type",
        default: "PEM",
        kind: Kind::Choice(&["PEM"]),
        doc: "Format of the keystore; only PEM.",
    },
    PropertyDef {
        name: "ssl.keystore.location",
        default: "",
        kind: TEXT,
        doc: "PEM file with the private key and certificate chain of SSL/SASL_SSL listeners (reloaded when it changes); also the client certificate of TLS inter-broker and controller connections.",
    },
    PropertyDef {
        name: "ssl.keystore.certificate.chain",
        default: "",
        kind: TEXT,
        doc: "The certificate chain as inline PEM (instead of ssl.keystore.location).",
    },
    PropertyDef {
        name: "ssl.keystore.key",
        default: "",
        kind: TEXT,
        doc: "The private key as inline PEM (instead of ssl.keystore.location).",
    },
    PropertyDef {
        name: "ssl.key.password",
        default: "",
        kind: TEXT,
        doc: "Password of an encrypted key: not supported (give an unencrypted PEM key); setting it is an error.",
    },
    PropertyDef {
        name: "ssl.truststore.type",
        default: "PEM",
        kind: Kind::Choice(&["PEM"]),
        doc: "Format of the truststore; only PEM.",
    },
    PropertyDef {
        name: "ssl.truststore.location",
        default: "",
        kind: TEXT,
        doc: "PEM file of trusted CA certificates: checks client certificates and, on TLS inter-broker and controller connections, the server's.",
    },
    PropertyDef {
        name: "ssl.truststore.certificates",
        default: "",
        kind: TEXT,
        doc: "Trusted CA certificates as inline PEM (instead of ssl.truststore.location).",
    },
    PropertyDef {
        name: "ssl.client.auth",
        default: "none",
        kind: Kind::Choice(&["required", "requested", "none"]),
        doc: "Whether SSL/SASL_SSL listeners require, request or skip client certificates.",
    },
    PropertyDef {
        name: "ssl.principal.mapping.rules",
        default: "DEFAULT",
        kind: TEXT,
        doc: "RULE:pattern/replacement/[LU],...,DEFAULT: the principal of an SSL client from its certificate's RFC 2253 subject DN (DEFAULT: the DN itself).",
    },
    PropertyDef {
        name: "ssl.endpoint.identification.algorithm",
        default: "https",
        kind: Kind::Choice(&["https", ""]),
        doc: "Outgoing TLS connections (inter-broker, controller) check the server certificate names the host (https) or not (empty).",
    },
    PropertyDef {
        name: "producer.id.expiration.ms",
        default: "86400000",
        kind: long(1, I32),
        doc: "Forget an idempotent producer's state after this long without writes.",
    },
    PropertyDef {
        name: "quota.window.num",
        default: "11",
        kind: long(1, I32),
        doc: "Samples kept to measure a client's rate against its quota.",
    },
    PropertyDef {
        name: "admin.http.listener",
        default: "http://127.0.0.1:9644",
        kind: TEXT,
        doc: "The admin HTTP listener (/metrics, /health/live, /health/ready, the web console) as http://host:port, or none. When left at its default and the port is taken, the broker runs without it (with a warning).",
    },
    PropertyDef {
        name: "metrics.per.partition",
        default: "true",
        kind: BOOL,
        doc: "Export per-partition series (log size, offsets, group lag by partition); false keeps only per-topic and broker-wide series, for clusters with many partitions.",
    },
    PropertyDef {
        name: "quota.window.size.seconds",
        default: "1",
        kind: long(1, I32),
        doc: "Time span of each quota sample; also the cap of a request-time throttle.",
    },
    PropertyDef {
        name: "authorizer.class.name",
        default: "",
        kind: TEXT,
        doc: "org.apache.kafka.metadata.authorizer.StandardAuthorizer turns on ACL authorization (ACLs live in the metadata log); empty: every request is allowed.",
    },
    PropertyDef {
        name: "super.users",
        default: "",
        kind: TEXT,
        doc: "Semicolon-separated principals (User:admin;User:ANONYMOUS) allowed everything. Brokers call each other as the principal of their connection: it must be a super user.",
    },
    PropertyDef {
        name: "allow.everyone.if.no.acl.found",
        default: "false",
        kind: BOOL,
        doc: "With the authorizer on: allow a request on a resource that has no ACL at all.",
    },
    PropertyDef {
        name: "sasl.enabled.mechanisms",
        default: "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        kind: TEXT,
        doc: "SASL mechanisms SASL_* listeners accept (per listener: listener.name.<l>.sasl.enabled.mechanisms). Kafka's default is GSSAPI, which Brook does not implement.",
    },
    PropertyDef {
        name: "connections.max.reauth.ms",
        default: "0",
        kind: long(0, I64),
        doc: "KIP-368: a SASL session lasts at most this long; clients re-authenticate on the same connection, others are closed. 0: sessions do not expire.",
    },
    PropertyDef {
        name: "sasl.mechanism.inter.broker.protocol",
        default: "PLAIN",
        kind: TEXT,
        doc: "SASL mechanism brokers use towards each other on a SASL inter-broker listener.",
    },
];

/// Names of broker properties that may be changed at runtime with
/// AlterConfigs / IncrementalAlterConfigs on the broker resource.
pub fn is_dynamic_broker_property(name: &str) -> bool {
    topic_config::for_broker_property(name).is_some()
}

/// Validates a broker property name and value.
pub fn validate_property(name: &str, value: &str) -> Result<(), ConfigError> {
    // Kafka's per-listener overrides: listener.name.<listener>.<property>.
    if let Some((_, property)) = listener_override(name) {
        if property.starts_with("ssl.") {
            return validate_property(property, value);
        }
    }
    let kind = if let Some(def) = BROKER_PROPERTIES.iter().find(|d| d.name == name) {
        def.kind
    } else if let Some(def) = topic_config::for_broker_property(name) {
        def.kind
    } else if name == "log.retention.ms" || name == "log.roll.ms" {
        long(-1, I64)
    } else if crate::sasl_config::is_sasl_property(name) {
        TEXT
    } else {
        return Err(ConfigError::Unknown(name.to_string()));
    };
    if kind == TEXT {
        return Ok(());
    }
    topic_config::check_value(kind, name, value)
        .map_err(|reason| ConfigError::Invalid { name: name.to_string(), reason })
}

/// Splits `listener.name.<listener>.<property>` into (listener, property).
fn listener_override(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("listener.name.")?;
    let (listener, property) = rest.split_once('.')?;
    (!listener.is_empty() && !property.is_empty()).then_some((listener, property))
}

/// All properties with docs and defaults, for `brook server --help-config` and the README.
pub fn property_table() -> Vec<(&'static str, String, &'static str)> {
    let mut rows: Vec<(&'static str, String, &'static str)> =
        BROKER_PROPERTIES.iter().map(|d| (d.name, d.default.to_string(), d.doc)).collect();
    for def in topic_config::TOPIC_CONFIGS.iter().filter(|d| !d.broker_property.is_empty()) {
        rows.push((def.broker_property, def.default.to_string(), def.doc));
    }
    rows.sort_by_key(|r| r.0);
    rows.dedup_by_key(|r| r.0);
    rows
}

/// Parsed `key=value` lines of a Java properties file (comments with # or !).
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (k, v) = line
            .split_once(['=', ':'])
            .ok_or_else(|| ConfigError::Syntax(format!("line {}: expected NAME=VALUE, got '{line}'", n + 1)))?;
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

/// Environment variable name for a property: `BROOK_` + upper case, dots → underscores.
pub fn env_name(property: &str) -> String {
    format!("BROOK_{}", property.to_uppercase().replace(['.', '-'], "_"))
}

/// Known property names reachable from environment variables.
fn all_property_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = BROKER_PROPERTIES.iter().map(|d| d.name).collect();
    names.extend(topic_config::TOPIC_CONFIGS.iter().map(|d| d.broker_property));
    names.extend(["log.retention.ms", "log.roll.ms"]);
    names.sort_unstable();
    names.dedup();
    names
}

/// Collects `BROOK_*` variables; an unrecognised `BROOK_*` name is an error.
pub fn from_env(vars: impl Iterator<Item = (String, String)>) -> Result<Vec<(String, String)>, ConfigError> {
    let names = all_property_names();
    let mut out = Vec::new();
    for (key, value) in vars {
        if !key.starts_with("BROOK_") || key == "BROOK_LOG" {
            continue; // BROOK_LOG is the log-filter variable, not a property.
        }
        let property = names
            .iter()
            .find(|n| env_name(n) == key)
            .ok_or_else(|| ConfigError::Unknown(format!("{key} (environment)")))?;
        out.push((property.to_string(), value));
    }
    Ok(out)
}

/// A listener address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub host: String,
    pub port: u16,
}

impl Listener {
    /// The socket address to bind (an empty host is every interface).
    pub fn socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        let host = if self.host.is_empty() { "0.0.0.0" } else { &self.host };
        let text = if host.contains(':') { format!("[{host}]:{}", self.port) } else { format!("{host}:{}", self.port) };
        text.parse().map_err(|_| ConfigError::Invalid {
            name: "listeners".into(),
            reason: format!("'{host}' is not an IP address"),
        })
    }
}

/// A client listener: its name, the security protocol it speaks, where it
/// binds and the address clients connected to it are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedListener {
    pub name: String,
    pub security_protocol: SecurityProtocol,
    pub bind: Listener,
    pub advertised: Listener,
}

/// Parses `NAME://host:port,...` (names upper-cased, as Kafka normalises them).
fn parse_listeners(name: &str, value: &str) -> Result<BTreeMap<String, Listener>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: name.to_string(), reason };
    let mut out = BTreeMap::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (scheme, rest) =
            item.split_once("://").ok_or_else(|| invalid(format!("'{item}' is not NAME://host:port")))?;
        let scheme = scheme.to_ascii_uppercase();
        if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(invalid(format!("'{item}': '{scheme}' is not a listener name")));
        }
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| invalid(format!("'{item}' has no port")))?;
        let port = port.parse().map_err(|_| invalid(format!("'{port}' is not a port")))?;
        if out.insert(scheme.clone(), Listener { host: host.trim_matches(['[', ']']).to_string(), port }).is_some() {
            return Err(invalid(format!("listener {scheme} is given twice")));
        }
    }
    Ok(out)
}

/// Parses `listener.security.protocol.map` (`NAME:PROTOCOL,...`).
fn parse_protocol_map(value: &str) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: "listener.security.protocol.map".into(), reason };
    let mut out = BTreeMap::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, protocol) = item.split_once(':').ok_or_else(|| invalid(format!("'{item}' is not NAME:PROTOCOL")))?;
        let protocol: SecurityProtocol = protocol.trim().parse().map_err(|e: String| invalid(e))?;
        if out.insert(name.trim().to_ascii_uppercase(), protocol).is_some() {
            return Err(invalid(format!("listener {name} is mapped twice")));
        }
    }
    Ok(out)
}

/// A property as listener `listener` sees it (see [`BrokerConfig::listener_property`]).
fn listener_value(props: &BTreeMap<String, String>, listener: &str, name: &str) -> Option<String> {
    props
        .iter()
        .find(|(k, _)| listener_override(k).is_some_and(|(l, p)| p == name && l.eq_ignore_ascii_case(listener)))
        .map(|(_, v)| v.clone())
        .or_else(|| props.get(name).cloned())
}

fn tls_error(listener: &str, e: brook_security::tls::TlsError) -> ConfigError {
    ConfigError::Invalid { name: e.property.clone(), reason: format!("listener {listener}: {}", e.reason) }
}

/// The client side of TLS towards `listener` (inter-broker connections),
/// from that listener's `ssl.*`; `None` unless it speaks TLS.
fn client_tls(
    props: &BTreeMap<String, String>,
    listener: &str,
    protocol: SecurityProtocol,
    needed: bool,
) -> Result<crate::broker_link::LinkTls, ConfigError> {
    if !needed || !protocol.uses_tls() {
        return Ok(Default::default());
    }
    let settings = brook_security::tls::TlsSettings::from_properties(&|n| listener_value(props, listener, n))
        .map_err(|e| tls_error(listener, e))?;
    Ok(crate::broker_link::LinkTls(Some(settings.client_config().map_err(|e| tls_error(listener, e))?), None))
}

/// TLS of the controller listener, both sides, when it is SSL.
fn quorum_tls(
    props: &BTreeMap<String, String>,
    listener: &str,
    protocol: SecurityProtocol,
    is_controller: bool,
) -> Result<Option<brook_metadata::quorum::QuorumTls>, ConfigError> {
    if !protocol.uses_tls() {
        return Ok(None);
    }
    if protocol.uses_sasl() {
        return Err(ConfigError::Invalid {
            name: "listener.security.protocol.map".into(),
            reason: format!("the controller listener {listener} may be PLAINTEXT or SSL"),
        });
    }
    let get = |n: &str| listener_value(props, listener, n);
    let settings = brook_security::tls::TlsSettings::from_properties(&get).map_err(|e| tls_error(listener, e))?;
    let client = settings.client_config().map_err(|e| tls_error(listener, e))?;
    let server = if is_controller {
        let server = brook_security::listener_tls::ListenerTls::new(SecurityProtocol::Ssl, &get)
            .map_err(|e| tls_error(listener, e))?;
        Some(std::sync::Arc::new(server))
    } else {
        None
    };
    Ok(Some(brook_metadata::quorum::QuorumTls { client, server }))
}

/// The client listeners with protocols and advertised addresses, the
/// inter-broker one, and the controller listener's protocol.
struct ResolvedListeners {
    client: Vec<NamedListener>,
    inter_broker: NamedListener,
    controller_protocol: SecurityProtocol,
}

fn resolve_listeners(
    listeners: &BTreeMap<String, Listener>,
    get: &dyn Fn(&str) -> String,
    controller_name: &str,
    is_broker: bool,
) -> Result<ResolvedListeners, ConfigError> {
    let map = parse_protocol_map(&get("listener.security.protocol.map"))?;
    // Kafka maps a controller listener absent from the map to PLAINTEXT.
    let protocol_of = |name: &str| -> Result<SecurityProtocol, ConfigError> {
        match map.get(name) {
            Some(p) => Ok(*p),
            None if name == controller_name => Ok(SecurityProtocol::Plaintext),
            None => Err(ConfigError::Invalid {
                name: "listener.security.protocol.map".into(),
                reason: format!("listener {name} has no security protocol; add {name}:PROTOCOL"),
            }),
        }
    };
    let advertised_text = get("advertised.listeners");
    let advertised = parse_listeners("advertised.listeners", &advertised_text)?;
    if let Some(name) = advertised.keys().find(|n| !listeners.contains_key(*n) || *n == controller_name) {
        return Err(ConfigError::Invalid {
            name: "advertised.listeners".into(),
            reason: format!("{name} is not a client listener in listeners"),
        });
    }
    let mut client = Vec::new();
    for (name, bind) in listeners.iter().filter(|(n, _)| *n != controller_name) {
        client.push(NamedListener {
            name: name.clone(),
            security_protocol: protocol_of(name)?,
            bind: bind.clone(),
            advertised: advertised.get(name).cloned().unwrap_or_else(|| bind.clone()),
        });
    }
    let controller_protocol = protocol_of(controller_name)?;
    let inter_name = match get("inter.broker.listener.name") {
        n if !n.is_empty() => n.to_ascii_uppercase(),
        _ => get("security.inter.broker.protocol").to_ascii_uppercase(),
    };
    let inter_broker = match client.iter().find(|l| l.name == inter_name) {
        Some(l) => l.clone(),
        None if is_broker => {
            return Err(ConfigError::Invalid {
                name: "inter.broker.listener.name".into(),
                reason: format!(
                    "a broker needs the inter-broker listener {inter_name} in listeners (set inter.broker.listener.name to one of them)"
                ),
            })
        }
        None => NamedListener {
            name: inter_name,
            security_protocol: SecurityProtocol::Plaintext,
            bind: Listener { host: "127.0.0.1".into(), port: 0 },
            advertised: Listener { host: "127.0.0.1".into(), port: 0 },
        },
    };
    Ok(ResolvedListeners { client, inter_broker, controller_protocol })
}

/// Parses `controller.quorum.voters`: `id@host:port,...`.
pub fn parse_voters(value: &str) -> Result<BTreeMap<i32, String>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: "controller.quorum.voters".into(), reason };
    let mut voters = BTreeMap::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, addr) = item.split_once('@').ok_or_else(|| invalid(format!("'{item}' is not id@host:port")))?;
        let id: i32 = id
            .parse()
            .ok()
            .filter(|i| *i >= 0)
            .ok_or_else(|| invalid(format!("'{id}' in '{item}' is not a node id")))?;
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| invalid(format!("'{item}' has no port")))?;
        if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(invalid(format!("'{item}' is not id@host:port")));
        }
        if voters.insert(id, addr.to_string()).is_some() {
            return Err(invalid(format!("voter {id} is listed twice")));
        }
    }
    Ok(voters)
}

/// The broker's resolved configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Every explicitly set property (after validation), by Kafka name.
    pub properties: BTreeMap<String, String>,
    pub node_id: i32,
    pub is_broker: bool,
    pub is_controller: bool,
    /// Voter id -> host:port. With no voters configured, this node alone
    /// (in process, no controller listener).
    pub voters: BTreeMap<i32, String>,
    /// The controller listener, on controller nodes of a multi-voter quorum.
    pub controller_listener: Option<Listener>,
    pub broker_session_timeout_ms: i64,
    pub broker_heartbeat_interval_ms: u64,
    pub offsets_replication_factor: i16,
    pub replica_lag_time_max_ms: i64,
    pub replica_fetch: crate::replication::fetcher::FetcherSettings,
    pub leader_rebalance: brook_metadata::requests::LeaderRebalance,
    pub offsets_commit_timeout_ms: u64,
    /// The client listener (PLAINTEXT); unused on controller-only nodes.
    pub listener: Listener,
    pub advertised: Listener,
    pub log_dirs: Vec<PathBuf>,
    pub metadata_dir: PathBuf,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics: bool,
    pub retention_check_interval_ms: u64,
    pub flush_scheduler_interval_ms: u64,
    pub checkpoint_interval_ms: u64,
    pub high_watermark_checkpoint_interval_ms: u64,
    pub socket_request_max_bytes: usize,
    pub fetch_max_bytes: usize,
    pub connections_max_idle_ms: u64,
    pub producer_id_expiration_ms: i64,
    pub group: crate::coordinator::group::state::GroupConfig,
    pub offsets: crate::coordinator::group::OffsetsConfig,
    pub offsets_retention_check_interval_ms: u64,
    pub transactions: crate::coordinator::txn::TransactionConfig,
    pub cleaner_enable: bool,
    pub cleaner_threads: usize,
    pub cleaner_backoff_ms: u64,
    pub cleaner: brook_storage::cleaner::CleanerSettings,
    /// `quota.window.num`
    pub quota_window_num: usize,
    /// `quota.window.size.seconds`, in ms
    pub quota_window_ms: i64,
    /// `admin.http.listener`: where /metrics, /health and the console are served.
    pub admin_http: crate::admin_http::AdminAddress,
    /// `metrics.per.partition`
    pub metrics_per_partition: bool,
    /// The ACL authorizer; None: everything is allowed.
    pub authorizer: Option<brook_security::acl::Authorizer>,
    pub sasl: crate::sasl_config::SaslConfig,
    /// Every client listener (not the controller's), in `listeners` order of name.
    pub client_listeners: Vec<NamedListener>,
    /// The listener brokers connect to each other on; `listener` and
    /// `advertised` are its addresses.
    pub inter_broker_listener: String,
    /// The controller listener's name and protocol.
    pub controller_listener_name: String,
    pub controller_security_protocol: SecurityProtocol,
    /// Client-side TLS of inter-broker connections, when the inter-broker
    /// listener is SSL/SASL_SSL (its `ssl.*`, as Kafka reuses them).
    pub inter_broker_tls: crate::broker_link::LinkTls,
    /// TLS of the controller listener (server side) and of connections to
    /// controllers (client side), when it is SSL.
    pub controller_tls: Option<brook_metadata::quorum::QuorumTls>,
}

impl BrokerConfig {
    /// Builds the config from (name, value) settings in increasing precedence.
    pub fn from_settings(settings: &[(String, String)]) -> Result<BrokerConfig, ConfigError> {
        let mut props = BTreeMap::new();
        for (name, value) in settings {
            validate_property(name, value)?;
            props.insert(name.clone(), value.clone());
        }
        // Kafka's retention/roll unit aliases collapse into the ms properties.
        for (alias, target, factor) in [
            // Kafka's precedence: ms, then minutes, then hours.
            ("log.retention.minutes", "log.retention.ms", 60_000i64),
            ("log.retention.hours", "log.retention.ms", 3_600_000),
            ("log.roll.hours", "log.roll.ms", 3_600_000),
        ] {
            if let Some(v) = props.get(alias).cloned() {
                let n: i64 = v.parse().unwrap_or(0);
                props.entry(target.to_string()).or_insert_with(|| {
                    if n < 0 {
                        "-1".into()
                    } else {
                        (n * factor).to_string()
                    }
                });
            }
        }
        let get = |name: &str| -> String {
            props.get(name).cloned().unwrap_or_else(|| {
                BROKER_PROPERTIES.iter().find(|d| d.name == name).map(|d| d.default.to_string()).unwrap_or_default()
            })
        };
        let num = |name: &str| -> i64 { get(name).parse().unwrap_or(0) };
        let node_id = if props.contains_key("node.id") || !props.contains_key("broker.id") {
            num("node.id")
        } else {
            num("broker.id")
        } as i32;
        let roles = get("process.roles");
        let is_broker = roles.contains("broker");
        let is_controller = roles.contains("controller");
        let controller_name = get("controller.listener.names");
        if controller_name.is_empty() || controller_name.contains(',') || controller_name == "PLAINTEXT" {
            return Err(ConfigError::Invalid {
                name: "controller.listener.names".into(),
                reason: "exactly one listener name, other than PLAINTEXT".into(),
            });
        }
        let controller_name = controller_name.to_ascii_uppercase();
        let listeners = parse_listeners("listeners", &get("listeners"))?;
        let voters = parse_voters(&get("controller.quorum.voters"))?;
        let controller_listener = listeners.get(&controller_name).cloned();
        let voters_error = |reason: String| ConfigError::Invalid { name: "controller.quorum.voters".into(), reason };
        if voters.is_empty() {
            if !(is_broker && is_controller) {
                return Err(voters_error(format!(
                    "required when process.roles={roles} (only a broker,controller node may run alone)"
                )));
            }
        } else if is_controller {
            let Some(mine) = voters.get(&node_id) else {
                return Err(voters_error(format!(
                    "node.id {node_id} has the controller role but is not among the voters"
                )));
            };
            let Some(cl) = &controller_listener else {
                return Err(ConfigError::Invalid {
                    name: "listeners".into(),
                    reason: format!("a controller needs a {controller_name}://host:port listener"),
                });
            };
            if !mine.ends_with(&format!(":{}", cl.port)) {
                return Err(voters_error(format!(
                    "voter {node_id} is {mine}, but this node's {controller_name} listener is port {}",
                    cl.port
                )));
            }
        } else if voters.contains_key(&node_id) {
            return Err(voters_error(format!(
                "node.id {node_id} is a voter but process.roles={roles} has no controller"
            )));
        }
        let resolved = resolve_listeners(&listeners, &get, &controller_name, is_broker)?;
        let mut inter_broker_tls =
            client_tls(&props, &resolved.inter_broker.name, resolved.inter_broker.security_protocol, is_broker)?;
        let sasl = crate::sasl_config::SaslConfig::from_properties(&props, &get("sasl.enabled.mechanisms"))?;
        if is_broker && resolved.inter_broker.security_protocol.uses_sasl() {
            inter_broker_tls.1 = Some(sasl.inter_broker_login(&resolved.inter_broker.name)?);
        }
        let controller_tls = quorum_tls(&props, &controller_name, resolved.controller_protocol, is_controller)?;
        let listener = resolved.inter_broker.bind.clone();
        let advertised = resolved.inter_broker.advertised.clone();
        let dirs_text = if props.contains_key("log.dirs") || !props.contains_key("log.dir") {
            get("log.dirs")
        } else {
            get("log.dir")
        };
        let log_dirs: Vec<PathBuf> =
            dirs_text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from).collect();
        if log_dirs.is_empty() {
            return Err(ConfigError::Invalid { name: "log.dirs".into(), reason: "no directory given".into() });
        }
        let metadata_dir = props
            .get("metadata.log.dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| log_dirs[0].join("__cluster_metadata-0"));
        for l in &resolved.client {
            if l.advertised.host == "0.0.0.0" || l.advertised.host == "::" {
                return Err(ConfigError::Invalid {
                    name: "advertised.listeners".into(),
                    reason: format!("a wildcard address cannot be advertised ({}); set advertised.listeners", l.name),
                });
            }
        }
        Ok(BrokerConfig {
            node_id,
            is_broker,
            is_controller,
            voters,
            controller_listener,
            broker_session_timeout_ms: num("broker.session.timeout.ms"),
            broker_heartbeat_interval_ms: num("broker.heartbeat.interval.ms") as u64,
            offsets_replication_factor: num("offsets.topic.replication.factor") as i16,
            replica_lag_time_max_ms: num("replica.lag.time.max.ms"),
            replica_fetch: crate::replication::fetcher::FetcherSettings {
                max_wait_ms: num("replica.fetch.wait.max.ms") as i32,
                min_bytes: num("replica.fetch.min.bytes") as i32,
                partition_max_bytes: num("replica.fetch.max.bytes") as i32,
                response_max_bytes: num("replica.fetch.response.max.bytes") as i32,
            },
            leader_rebalance: brook_metadata::requests::LeaderRebalance {
                enabled: get("auto.leader.rebalance.enable").eq_ignore_ascii_case("true"),
                interval_ms: num("leader.imbalance.check.interval.seconds") * 1000,
                imbalance_percent: num("leader.imbalance.per.broker.percentage"),
            },
            offsets_commit_timeout_ms: num("offsets.commit.timeout.ms") as u64,
            listener,
            advertised,
            log_dirs,
            metadata_dir,
            num_partitions: num("num.partitions") as i32,
            default_replication_factor: num("default.replication.factor") as i16,
            auto_create_topics: get("auto.create.topics.enable").eq_ignore_ascii_case("true"),
            retention_check_interval_ms: num("log.retention.check.interval.ms") as u64,
            flush_scheduler_interval_ms: num("log.flush.scheduler.interval.ms") as u64,
            checkpoint_interval_ms: num("log.flush.offset.checkpoint.interval.ms") as u64,
            high_watermark_checkpoint_interval_ms: num("replica.high.watermark.checkpoint.interval.ms") as u64,
            socket_request_max_bytes: num("socket.request.max.bytes") as usize,
            fetch_max_bytes: num("fetch.max.bytes") as usize,
            connections_max_idle_ms: num("connections.max.idle.ms") as u64,
            producer_id_expiration_ms: num("producer.id.expiration.ms"),
            group: crate::coordinator::group::state::GroupConfig {
                min_session_timeout_ms: num("group.min.session.timeout.ms") as i32,
                max_session_timeout_ms: num("group.max.session.timeout.ms") as i32,
                initial_rebalance_delay_ms: num("group.initial.rebalance.delay.ms"),
                max_size: num("group.max.size") as usize,
            },
            offsets: crate::coordinator::group::OffsetsConfig {
                num_partitions: num("offsets.topic.num.partitions") as i32,
                retention_ms: num("offsets.retention.minutes") * 60_000,
                metadata_max_bytes: num("offset.metadata.max.bytes") as usize,
                segment_bytes: num("offsets.topic.segment.bytes"),
            },
            offsets_retention_check_interval_ms: num("offsets.retention.check.interval.ms") as u64,
            transactions: crate::coordinator::txn::TransactionConfig {
                num_partitions: num("transaction.state.log.num.partitions") as i32,
                replication_factor: num("transaction.state.log.replication.factor") as i16,
                min_isr: num("transaction.state.log.min.isr") as i32,
                segment_bytes: num("transaction.state.log.segment.bytes"),
                max_timeout_ms: num("transaction.max.timeout.ms") as i32,
                abort_timed_out_interval_ms: num("transaction.abort.timed.out.transaction.cleanup.interval.ms") as u64,
                id_expiration_ms: num("transactional.id.expiration.ms"),
                link_tls: inter_broker_tls.clone(),
            },
            cleaner_enable: get("log.cleaner.enable").eq_ignore_ascii_case("true"),
            cleaner_threads: num("log.cleaner.threads").max(1) as usize,
            cleaner_backoff_ms: num("log.cleaner.backoff.ms") as u64,
            cleaner: brook_storage::cleaner::CleanerSettings {
                dedupe_buffer_bytes: (num("log.cleaner.dedupe.buffer.size") / num("log.cleaner.threads").max(1))
                    as usize,
                io_max_bytes_per_second: get("log.cleaner.io.max.bytes.per.second").parse::<f64>().unwrap_or(f64::MAX)
                    / num("log.cleaner.threads").max(1) as f64,
            },
            quota_window_num: num("quota.window.num") as usize,
            quota_window_ms: num("quota.window.size.seconds") * 1000,
            admin_http: crate::admin_http::AdminAddress::parse(
                &get("admin.http.listener"),
                props.contains_key("admin.http.listener"),
            )
            .map_err(|reason| ConfigError::Invalid { name: "admin.http.listener".into(), reason })?,
            metrics_per_partition: get("metrics.per.partition").eq_ignore_ascii_case("true"),
            authorizer: crate::authorization::from_config(
                &get("authorizer.class.name"),
                &get("super.users"),
                get("allow.everyone.if.no.acl.found").eq_ignore_ascii_case("true"),
            )?,
            sasl,
            properties: props,
            client_listeners: resolved.client,
            inter_broker_listener: resolved.inter_broker.name,
            controller_listener_name: controller_name,
            controller_security_protocol: resolved.controller_protocol,
            inter_broker_tls,
            controller_tls,
        })
    }

    /// Static broker settings that supply topic-config defaults.
    pub fn static_log_defaults(&self) -> BTreeMap<String, String> {
        self.properties
            .iter()
            .filter(|(k, _)| is_dynamic_broker_property(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Effective value of every broker property (for DescribeConfigs).
    pub fn effective(&self) -> Vec<(String, String, bool)> {
        property_table()
            .into_iter()
            .map(|(name, default, _)| match self.properties.get(name) {
                Some(v) => (name.to_string(), v.clone(), true),
                None => (name.to_string(), default, false),
            })
            .collect()
    }

    /// The inter-broker listener's bind address.
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listener.socket_addr()
    }

    /// A property as listener `listener` sees it: Kafka's
    /// `listener.name.<listener>.<property>` override (listener name in lower
    /// case, or as written), else the broker-wide value, else `None` when unset.
    pub fn listener_property(&self, listener: &str, name: &str) -> Option<String> {
        self.properties
            .iter()
            .find(|(k, _)| listener_override(k).is_some_and(|(l, p)| p == name && l.eq_ignore_ascii_case(listener)))
            .map(|(_, v)| v.clone())
            .or_else(|| self.properties.get(name).cloned())
    }

    /// The client listener named `name`.
    pub fn client_listener(&self, name: &str) -> Option<&NamedListener> {
        self.client_listeners.iter().find(|l| l.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn defaults_are_the_embedded_single_node() {
        let c = BrokerConfig::from_settings(&[]).unwrap();
        assert_eq!(c.node_id, 1);
        assert_eq!(c.listener, Listener { host: "127.0.0.1".into(), port: 9092 });
        assert_eq!(c.log_dirs, vec![PathBuf::from("./brook-data")]);
        assert_eq!(c.num_partitions, 1);
    }

    #[test]
    fn errors_and_aliases() {
        assert_eq!(
            BrokerConfig::from_settings(&s(&[("no.such", "1")])).unwrap_err(),
            ConfigError::Unknown("no.such".into())
        );
        assert!(matches!(
            BrokerConfig::from_settings(&s(&[("num.partitions", "zero")])),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(matches!(
            BrokerConfig::from_settings(&s(&[("listeners", "SSL://x:1")])),
            Err(ConfigError::Invalid { .. })
        ));
        let c = BrokerConfig::from_settings(&s(&[
            ("log.retention.hours", "2"),
            ("listeners", "PLAINTEXT://127.0.0.1:19092"),
        ]))
        .unwrap();
        assert_eq!(c.properties["log.retention.ms"], "7200000");
        assert_eq!(c.listener.port, 19092);
    }

    #[test]
    fn env_and_properties_file() {
        let env = from_env(
            vec![("BROOK_LOG_DIRS".to_string(), "/tmp/d".to_string()), ("PATH".into(), "x".into())].into_iter(),
        )
        .unwrap();
        assert_eq!(env, s(&[("log.dirs", "/tmp/d")]));
        assert!(from_env(vec![("BROOK_BOGUS".to_string(), "1".to_string())].into_iter()).is_err());
        let props = parse_properties("# c\nnode.id=3\n\nlisteners = PLAINTEXT://127.0.0.1:1\n").unwrap();
        assert_eq!(props, s(&[("node.id", "3"), ("listeners", "PLAINTEXT://127.0.0.1:1")]));
        assert!(parse_properties("garbage").is_err());
    }

    #[test]
    fn named_listeners_protocols_and_advertised_addresses() {
        let c = BrokerConfig::from_settings(&s(&[
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093,external://0.0.0.0:9094,CONTROLLER://127.0.0.1:9095",
            ),
            ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SSL:SSL,EXTERNAL:SASL_SSL"),
            ("advertised.listeners", "EXTERNAL://broker1.example:19094"),
        ]))
        .unwrap();
        let names: Vec<_> = c.client_listeners.iter().map(|l| (l.name.as_str(), l.security_protocol)).collect();
        assert_eq!(
            names,
            vec![
                ("EXTERNAL", SecurityProtocol::SaslSsl),
                ("PLAINTEXT", SecurityProtocol::Plaintext),
                ("SSL", SecurityProtocol::Ssl)
            ]
        );
        let ext = c.client_listener("EXTERNAL").unwrap();
        assert_eq!(ext.bind, Listener { host: "0.0.0.0".into(), port: 9094 });
        assert_eq!(ext.advertised, Listener { host: "broker1.example".into(), port: 19094 });
        assert_eq!(c.client_listener("SSL").unwrap().advertised.port, 9093);
        // The controller listener is not a client one and defaults to PLAINTEXT.
        assert!(c.client_listener("CONTROLLER").is_none());
        assert_eq!(c.controller_security_protocol, SecurityProtocol::Plaintext);
        // security.inter.broker.protocol=PLAINTEXT picks the PLAINTEXT listener.
        assert_eq!(c.inter_broker_listener, "PLAINTEXT");
        assert_eq!(c.listener.port, 9092);
    }

    #[test]
    fn inter_broker_listener_choice_and_errors() {
        let c = BrokerConfig::from_settings(&s(&[
            ("listeners", "SSL://127.0.0.1:9093,INTERNAL://127.0.0.1:9094"),
            ("listener.security.protocol.map", "SSL:SSL,INTERNAL:SSL"),
            ("inter.broker.listener.name", "INTERNAL"),
        ]))
        .unwrap();
        assert_eq!(c.inter_broker_listener, "INTERNAL");
        assert_eq!(c.advertised.port, 9094);
        let c = BrokerConfig::from_settings(&s(&[
            ("listeners", "SSL://127.0.0.1:9093"),
            ("security.inter.broker.protocol", "SSL"),
        ]))
        .unwrap();
        assert_eq!(c.inter_broker_listener, "SSL");
        let invalid =
            |pairs: &[(&str, &str)]| matches!(BrokerConfig::from_settings(&s(pairs)), Err(ConfigError::Invalid { .. }));
        // No PLAINTEXT listener for the default inter-broker protocol.
        assert!(invalid(&[("listeners", "SSL://127.0.0.1:9093")]));
        // A name without a protocol.
        assert!(invalid(&[("listeners", "PLAINTEXT://127.0.0.1:1,FOO://127.0.0.1:2")]));
        // Advertising a listener that does not exist.
        assert!(invalid(&[("advertised.listeners", "SSL://h:1")]));
        assert!(invalid(&[("listener.security.protocol.map", "PLAINTEXT:TLS")]));
        assert!(invalid(&[("listeners", "PLAINTEXT://127.0.0.1:1,PLAINTEXT://127.0.0.1:2")]));
        assert!(invalid(&[("listeners", "PLAINTEXT://0.0.0.0:1")]));
    }

    #[test]
    fn ssl_properties_and_per_listener_overrides() {
        let c = BrokerConfig::from_settings(&s(&[
            ("listeners", "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093,INTERNAL://127.0.0.1:9094"),
            ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SSL:SSL,INTERNAL:SSL"),
            ("ssl.keystore.location", "/etc/brook/broker.pem"),
            ("ssl.client.auth", "required"),
            ("listener.name.internal.ssl.keystore.location", "/etc/brook/internal.pem"),
            ("listener.name.internal.ssl.client.auth", "none"),
        ]))
        .unwrap();
        assert_eq!(c.listener_property("SSL", "ssl.keystore.location").as_deref(), Some("/etc/brook/broker.pem"));
        assert_eq!(
            c.listener_property("INTERNAL", "ssl.keystore.location").as_deref(),
            Some("/etc/brook/internal.pem")
        );
        assert_eq!(c.listener_property("INTERNAL", "ssl.client.auth").as_deref(), Some("none"));
        assert_eq!(c.listener_property("SSL", "ssl.truststore.location"), None);
        let invalid =
            |pairs: &[(&str, &str)]| matches!(BrokerConfig::from_settings(&s(pairs)), Err(ConfigError::Invalid { .. }));
        assert!(invalid(&[("ssl.client.auth", "sometimes")]));
        assert!(invalid(&[("listener.name.ssl.ssl.keystore.type", "JKS")]));
        assert!(matches!(
            BrokerConfig::from_settings(&s(&[("listener.name.ssl.ssl.no.such", "1")])),
            Err(ConfigError::Unknown(_))
        ));
        // A TLS inter-broker listener builds its client side at startup: a
        // missing truststore file is a configuration error, not a runtime one.
        assert!(invalid(&[
            ("listeners", "SSL://127.0.0.1:9093"),
            ("security.inter.broker.protocol", "SSL"),
            ("ssl.truststore.location", "/no/such/ca.pem"),
        ]));
    }
}
