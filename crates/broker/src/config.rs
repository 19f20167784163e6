//! Broker configuration with Kafka's property names. Sources, later ones
//! winning: built-in defaults, a properties file, `BROOK_*` environment
//! variables, then `--set NAME=VALUE` flags. Unknown names and invalid values
//! are errors at startup, never silently ignored.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use brook_metadata::topic_config::{self, Kind};

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
        doc: "Where the node listens: PLAINTEXT://host:port for clients, plus the controller listener.",
    },
    PropertyDef {
        name: "advertised.listeners",
        default: "",
        kind: TEXT,
        doc: "Address given to clients in Metadata; defaults to listeners.",
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
        name: "producer.id.expiration.ms",
        default: "86400000",
        kind: long(1, I32),
        doc: "Forget an idempotent producer's state after this long without writes.",
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
];

/// Names of broker properties that may be changed at runtime with
/// AlterConfigs / IncrementalAlterConfigs on the broker resource.
pub fn is_dynamic_broker_property(name: &str) -> bool {
    topic_config::for_broker_property(name).is_some()
}

/// Validates a broker property name and value.
pub fn validate_property(name: &str, value: &str) -> Result<(), ConfigError> {
    let kind = if let Some(def) = BROKER_PROPERTIES.iter().find(|d| d.name == name) {
        def.kind
    } else if let Some(def) = topic_config::for_broker_property(name) {
        def.kind
    } else if name == "log.retention.ms" || name == "log.roll.ms" {
        long(-1, I64)
    } else {
        return Err(ConfigError::Unknown(name.to_string()));
    };
    if kind == TEXT {
        return Ok(());
    }
    topic_config::check_value(kind, name, value)
        .map_err(|reason| ConfigError::Invalid { name: name.to_string(), reason })
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

/// A listener address; only PLAINTEXT is implemented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub host: String,
    pub port: u16,
}

/// Parses `NAME://host:port,...`; names other than PLAINTEXT and the
/// controller listener's are refused (no TLS or SASL yet).
fn parse_listeners(name: &str, value: &str, controller_name: &str) -> Result<BTreeMap<String, Listener>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: name.to_string(), reason };
    let mut out = BTreeMap::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (scheme, rest) =
            item.split_once("://").ok_or_else(|| invalid(format!("'{item}' is not NAME://host:port")))?;
        if scheme != "PLAINTEXT" && scheme != controller_name {
            return Err(invalid(format!(
                "'{item}': only PLAINTEXT:// and {controller_name}:// (controller.listener.names) listeners are supported"
            )));
        }
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| invalid(format!("'{item}' has no port")))?;
        let port = port.parse().map_err(|_| invalid(format!("'{port}' is not a port")))?;
        if out.insert(scheme.to_string(), Listener { host: host.trim_matches(['[', ']']).to_string(), port }).is_some()
        {
            return Err(invalid(format!("listener {scheme} is given twice")));
        }
    }
    Ok(out)
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
    /// The ACL authorizer; None: everything is allowed.
    pub authorizer: Option<brook_security::acl::Authorizer>,
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
        let listeners = parse_listeners("listeners", &get("listeners"), &controller_name)?;
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
        let plaintext = listeners.get("PLAINTEXT").cloned();
        if is_broker && plaintext.is_none() {
            return Err(ConfigError::Invalid {
                name: "listeners".into(),
                reason: "a broker needs a PLAINTEXT://host:port listener".into(),
            });
        }
        let listener = plaintext.unwrap_or(Listener { host: "127.0.0.1".into(), port: 0 });
        let advertised =
            match props.get("advertised.listeners") {
                Some(v) => parse_listeners("advertised.listeners", v, &controller_name)?
                    .remove("PLAINTEXT")
                    .ok_or_else(|| ConfigError::Invalid {
                        name: "advertised.listeners".into(),
                        reason: "needs a PLAINTEXT://host:port entry".into(),
                    })?,
                None => listener.clone(),
            };
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
        if advertised.host == "0.0.0.0" || advertised.host == "::" {
            return Err(ConfigError::Invalid {
                name: "advertised.listeners".into(),
                reason: "a wildcard address cannot be advertised; set advertised.listeners".into(),
            });
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
            authorizer: crate::authorization::from_config(
                &get("authorizer.class.name"),
                &get("super.users"),
                get("allow.everyone.if.no.acl.found").eq_ignore_ascii_case("true"),
            )?,
            properties: props,
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

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        let host = if self.listener.host.is_empty() { "0.0.0.0" } else { &self.listener.host };
        let text = if host.contains(':') {
            format!("[{host}]:{}", self.listener.port)
        } else {
            format!("{host}:{}", self.listener.port)
        };
        text.parse().map_err(|_| ConfigError::Invalid {
            name: "listeners".into(),
            reason: format!("'{host}' is not an IP address"),
        })
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
}
