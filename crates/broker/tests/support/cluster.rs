//! An in-process Brook cluster for replication tests: one controller-only
//! node (the single voter of the metadata quorum) and `n` broker-only nodes,
//! all in this test process on 127.0.0.1, each on its OWN tokio runtime.
//!
//! - `kill(id)` is a crash (kill -9): the node's runtime is shut down, so
//!   every task stops where it is and its sockets close; its files stay as
//!   they are (no clean-shutdown marker, no controlled shutdown).
//! - `restart(id)` starts a new runtime with the same config and data dir.
//! - `freeze(id)` / `thaw(id)` is SIGSTOP / SIGCONT: every worker thread of
//!   the node is blocked, so it neither heartbeats nor fetches nor answers,
//!   but stays registered (until its session expires) and keeps its state.
//! - `node(id)` is the live `Arc<Node>`, to look inside (partitions, offsets,
//!   ISR, epochs); `metadata()` is the controller's image.
//!
//! Tests using a `Cluster` run one at a time (a process-wide lock), so their
//! timing does not depend on how many other clusters share the CPU.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use brook_broker::replication::Partition;
use brook_broker::{server, BrokerConfig, Node};
use brook_metadata::MetadataImage;
use brook_storage::TopicPartition;
use tempfile::TempDir;
use tokio::runtime::Runtime;

/// Worker threads per node runtime (freezing blocks all of them).
const WORKERS: usize = 2;
/// The controller's node id (brokers are 1..=n).
pub const CONTROLLER_ID: i32 = 1000;

/// Fast failure detection; a test's own settings override these.
pub const FAST_SETTINGS: &[(&str, &str)] = &[
    ("broker.session.timeout.ms", "2000"),
    ("broker.heartbeat.interval.ms", "200"),
    ("replica.lag.time.max.ms", "4000"),
    ("replica.fetch.wait.max.ms", "100"),
    ("group.initial.rebalance.delay.ms", "0"),
    ("log.flush.offset.checkpoint.interval.ms", "200"),
];

static SERIAL: Mutex<()> = Mutex::new(());

/// Polls `predicate` every 20 ms until it returns `Some`, or panics naming
/// `what` once `timeout` has passed.
pub async fn wait_for<T>(timeout: Duration, what: &str, mut predicate: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = predicate() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`wait_for`] with a yes/no predicate.
pub async fn wait_until(timeout: Duration, what: &str, mut predicate: impl FnMut() -> bool) {
    wait_for(timeout, what, || predicate().then_some(())).await
}

/// A free port below the kernel's ephemeral range, so no outgoing
/// connection of this process can hold it while its node is down.
fn free_port() -> u16 {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64
        ^ (std::process::id() as u64) << 20;
    let mut x = seed | 1;
    for _ in 0..1000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let port = 20_000 + (x % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Running {
    runtime: Runtime,
    node: Arc<Node>,
    served: bool,
    /// Set while frozen: the hog tasks spin until it is cleared.
    frozen: Option<Arc<AtomicBool>>,
}

struct Slot {
    settings: Vec<(String, String)>,
    port: u16,
    running: Option<Running>,
}

pub struct Cluster {
    slots: BTreeMap<i32, Slot>,
    brokers: Vec<i32>,
    // Dropped after every runtime is shut down (see Drop).
    dir: TempDir,
    _serial: MutexGuard<'static, ()>,
}

impl Cluster {
    /// Starts the controller and `n` brokers with [`FAST_SETTINGS`]
    /// overridden by `settings`, and waits until every broker is unfenced.
    pub async fn start(n: i32, settings: &[(&str, &str)]) -> Cluster {
        let serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = tempfile::tempdir().expect("temp dir");
        let controller_port = free_port();
        let voters = format!("{CONTROLLER_ID}@127.0.0.1:{controller_port}");
        let mut common: BTreeMap<String, String> =
            FAST_SETTINGS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        common.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        common.insert("controller.quorum.voters".into(), voters);
        let node_settings = |id: i32, roles: &str, listener: String, data: PathBuf| -> Vec<(String, String)> {
            let mut s = common.clone();
            s.insert("node.id".into(), id.to_string());
            s.insert("process.roles".into(), roles.into());
            s.insert("listeners".into(), listener);
            s.insert("log.dirs".into(), data.display().to_string());
            s.into_iter().collect()
        };
        let mut slots = BTreeMap::new();
        slots.insert(
            CONTROLLER_ID,
            Slot {
                settings: node_settings(
                    CONTROLLER_ID,
                    "controller",
                    format!("CONTROLLER://127.0.0.1:{controller_port}"),
                    dir.path().join("controller"),
                ),
                port: controller_port,
                running: None,
            },
        );
        let brokers: Vec<i32> = (1..=n).collect();
        for id in &brokers {
            let port = free_port();
            slots.insert(
                *id,
                Slot {
                    settings: node_settings(
                        *id,
                        "broker",
                        format!("PLAINTEXT://127.0.0.1:{port}"),
                        dir.path().join(format!("broker-{id}")),
                    ),
                    port,
                    running: None,
                },
            );
        }
        let mut cluster = Cluster { slots, brokers, dir, _serial: serial };
        cluster.launch(CONTROLLER_ID, true).await;
        // Brokers start (register, catch up on metadata) concurrently.
        let launches: Vec<_> = cluster.brokers.iter().map(|id| cluster.spawn_start(*id)).collect();
        for (id, launch) in cluster.brokers.clone().into_iter().zip(launches) {
            let (runtime, node) = launch;
            let node = join(node.await, id);
            cluster.slots.get_mut(&id).unwrap().running = Some(Running { runtime, node, served: false, frozen: None });
            cluster.serve(id).await;
        }
        let all = cluster.brokers.clone();
        cluster.wait_live(&all).await;
        cluster
    }

    /// Builds a node's runtime and starts `Node::start` on it.
    fn spawn_start(&self, id: i32) -> (Runtime, tokio::task::JoinHandle<Arc<Node>>) {
        let slot = &self.slots[&id];
        assert!(slot.running.is_none(), "node {id} is already running");
        let config = BrokerConfig::from_settings(&slot.settings).unwrap_or_else(|e| panic!("node {id} config: {e}"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .thread_name(format!("node-{id}"))
            .build()
            .expect("node runtime");
        let start = runtime.spawn(async move {
            Node::start(config).await.unwrap_or_else(|e| panic!("node {id} failed to start: {e}"))
        });
        (runtime, start)
    }

    /// Starts node `id`; with `serve`, also its listener and background work.
    async fn launch(&mut self, id: i32, serve: bool) {
        let (runtime, start) = self.spawn_start(id);
        let node = join(start.await, id);
        self.slots.get_mut(&id).unwrap().running = Some(Running { runtime, node, served: false, frozen: None });
        if serve {
            self.serve(id).await;
        }
    }

    /// Binds the node's client listener and runs its server loop (with the
    /// heartbeats, fetchers and periodic jobs).
    pub async fn serve(&mut self, id: i32) {
        let running = self.running_mut(id);
        assert!(!running.served, "node {id} already serves");
        running.served = true;
        let node = running.node.clone();
        let bound = running.runtime.spawn(async move {
            let listener = if node.config.is_broker {
                // The previous incarnation's socket may linger for a moment.
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    match server::bind(&node).await {
                        Ok(l) => break Some(l),
                        Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                        Err(e) => panic!("node {id} cannot bind its listener: {e}"),
                    }
                }
            } else {
                None
            };
            tokio::spawn(async move {
                if let Err(message) = server::run(node, listener, std::future::pending::<()>()).await {
                    panic!("node {id} stopped: {message}");
                }
            });
        });
        join(bound.await, id);
    }

    /// Crash: the node's runtime stops with every task where it is.
    pub fn kill(&mut self, id: i32) {
        let running =
            self.slots.get_mut(&id).unwrap().running.take().unwrap_or_else(|| panic!("node {id} is not running"));
        shutdown(vec![running]);
    }

    /// A new incarnation of a killed node: same config, same data dir.
    /// Returns once it serves (it may still be fenced).
    pub async fn restart(&mut self, id: i32) {
        self.launch(id, true).await;
    }

    /// Restarts node `id` up to `Node::start` (registered with the
    /// controller, metadata caught up, logs opened) but not serving: no
    /// listener, no heartbeats (it stays fenced), no fetchers. [`serve`]
    /// continues.
    pub async fn restart_unserved(&mut self, id: i32) {
        self.launch(id, false).await;
    }

    /// SIGSTOP: blocks every worker thread of the node's runtime.
    pub async fn freeze(&mut self, id: i32) {
        let running = self.running_mut(id);
        assert!(running.frozen.is_none(), "node {id} is already frozen");
        let frozen = Arc::new(AtomicBool::new(true));
        let entered = Arc::new(AtomicUsize::new(0));
        for _ in 0..WORKERS {
            let (frozen, entered) = (frozen.clone(), entered.clone());
            running.runtime.spawn(async move {
                entered.fetch_add(1, Ordering::SeqCst);
                while frozen.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        }
        running.frozen = Some(frozen);
        wait_until(Duration::from_secs(10), &format!("every worker of node {id} to freeze"), || {
            entered.load(Ordering::SeqCst) == WORKERS
        })
        .await;
    }

    /// SIGCONT.
    pub fn thaw(&mut self, id: i32) {
        let frozen = self.running_mut(id).frozen.take().unwrap_or_else(|| panic!("node {id} is not frozen"));
        frozen.store(false, Ordering::SeqCst);
    }

    fn running_mut(&mut self, id: i32) -> &mut Running {
        self.slots.get_mut(&id).and_then(|s| s.running.as_mut()).unwrap_or_else(|| panic!("node {id} is not running"))
    }

    /// The live node `id`.
    pub fn node(&self, id: i32) -> Arc<Node> {
        self.slots[&id].running.as_ref().unwrap_or_else(|| panic!("node {id} is not running")).node.clone()
    }

    pub fn brokers(&self) -> &[i32] {
        &self.brokers
    }

    pub fn data_dir(&self, id: i32) -> PathBuf {
        self.dir.path().join(format!("broker-{id}"))
    }

    /// Every broker's address: clients skip the ones that are down.
    pub fn bootstrap(&self) -> String {
        // A frozen node accepts connections but answers nothing: a client
        // bootstrapping through it would wait out its request timeout.
        let frozen = |id: &i32| self.slots[id].running.as_ref().is_some_and(|r| r.frozen.is_some());
        let live = self.brokers.iter().filter(|id| !frozen(id));
        live.map(|id| format!("127.0.0.1:{}", self.slots[id].port)).collect::<Vec<_>>().join(",")
    }

    /// The committed metadata, as the controller has it.
    pub fn metadata(&self) -> Arc<MetadataImage> {
        self.node(CONTROLLER_ID).image()
    }

    /// The partition's leader in metadata, if it has one.
    pub fn leader_of(&self, tp: &TopicPartition) -> Option<i32> {
        let image = self.metadata();
        let leader = image.topic(&tp.topic)?.partitions.get(&tp.partition)?.leader;
        (leader >= 0).then_some(leader)
    }

    /// The partition's ISR in metadata.
    pub fn isr_of(&self, tp: &TopicPartition) -> Vec<i32> {
        let image = self.metadata();
        image.topic(&tp.topic).and_then(|t| t.partitions.get(&tp.partition)).map(|p| p.isr.clone()).unwrap_or_default()
    }

    /// Node `id`'s replica of `tp`.
    pub fn partition(&self, id: i32, tp: &TopicPartition) -> Arc<Partition> {
        self.node(id).replicas.partition(tp).unwrap_or_else(|| panic!("node {id} hosts no replica of {tp}"))
    }

    /// Waits until the partition has a leader in metadata that leads it,
    /// with `isr_size` members in its ISR; returns the leader.
    pub async fn wait_leader(&self, tp: &TopicPartition, isr_size: usize, timeout: Duration) -> i32 {
        wait_for(timeout, &format!("a leader of {tp} with {isr_size} in-sync replicas"), || {
            let leader = self.leader_of(tp)?;
            let running = self.slots[&leader].running.as_ref()?;
            let p = running.node.replicas.partition(tp)?;
            (p.is_leader() && p.isr().len() == isr_size && self.isr_of(tp).len() == isr_size).then_some(leader)
        })
        .await
    }

    /// Waits until the controller counts each of `ids` as live (unfenced).
    pub async fn wait_live(&self, ids: &[i32]) {
        wait_until(Duration::from_secs(20), &format!("brokers {ids:?} to be unfenced"), || {
            let live = self.metadata().live_brokers();
            ids.iter().all(|id| live.contains(id))
        })
        .await
    }
}

/// Unwraps a node task's result, re-raising its panic here.
fn join<T>(result: Result<T, tokio::task::JoinError>, id: i32) -> T {
    match result {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("node {id}: {e}"),
    }
}

/// Shuts runtimes down on a plain thread (a runtime may not be dropped
/// from async code), waiting until every task of theirs is gone.
fn shutdown(nodes: Vec<Running>) {
    let runtimes: Vec<Runtime> = nodes
        .into_iter()
        .map(|r| {
            if let Some(frozen) = &r.frozen {
                frozen.store(false, Ordering::SeqCst);
            }
            r.runtime
        })
        .collect();
    let _ = std::thread::spawn(move || {
        for runtime in runtimes {
            runtime.shutdown_timeout(Duration::from_secs(10));
        }
    })
    .join();
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Brokers first, the controller last; then the data dirs go.
        let mut all: Vec<Running> = Vec::new();
        for id in self.brokers.iter().chain([&CONTROLLER_ID]) {
            if let Some(running) = self.slots.get_mut(id).and_then(|s| s.running.take()) {
                all.push(running);
            }
        }
        shutdown(all);
    }
}
