//! The accept loop and the broker's periodic tasks. Shutdown stops accepting,
//! stops every connection at an await point (never inside an append), then
//! shuts storage down cleanly.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::connection;
use crate::Broker;

/// Resolution of group session timeouts and rebalance deadlines.
const GROUP_TICK_MS: u64 = 100;

/// Binds the configured listener. Split from [`run`] so callers learn the
/// bound port (port 0 in tests) before serving.
pub async fn bind(broker: &Broker) -> std::io::Result<TcpListener> {
    let addr =
        broker.config.bind_addr().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    TcpListener::bind(addr).await
}

fn every(period_ms: u64, broker: &Arc<Broker>, tasks: &mut JoinSet<()>, work: fn(&Broker)) {
    let broker = broker.clone();
    tasks.spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(period_ms.max(1)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            let b = broker.clone();
            // Storage work is blocking file IO: keep it off the async workers.
            if tokio::task::spawn_blocking(move || work(&b)).await.is_err() {
                error!("periodic task panicked");
            }
        }
    });
}

/// Serves until `shutdown` resolves, then shuts down cleanly: controlled
/// shutdown (the controller fences this broker at once), connections
/// closed, storage flushed. Returns an error if the node must stop because
/// it does not belong to the quorum's cluster.
pub async fn run(
    broker: Arc<Broker>,
    listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let mut background = JoinSet::new();
    if broker.config.is_broker {
        every(broker.config.retention_check_interval_ms, &broker, &mut background, Broker::run_retention);
        every(broker.config.flush_scheduler_interval_ms, &broker, &mut background, Broker::run_flush);
        every(broker.config.cleaner_backoff_ms, &broker, &mut background, Broker::run_cleaner);
        every(broker.config.checkpoint_interval_ms, &broker, &mut background, Broker::checkpoint);
        every(GROUP_TICK_MS, &broker, &mut background, Broker::tick_groups);
        every(broker.config.offsets_retention_check_interval_ms, &broker, &mut background, Broker::expire_offsets);
        every(broker.config.replica_lag_time_max_ms as u64 / 2, &broker, &mut background, Broker::shrink_isrs);
        background.spawn(broker.clone().run_heartbeats());
        background.spawn(broker.clone().run_isr_changes());
        background.spawn(crate::replica_fetcher::run(broker.clone()));
        background.spawn(broker.clone().follow_images());
    }
    let mut fatal = broker.controller.guard().fatal();
    if let Some(message) = fatal.borrow_and_update().clone() {
        return Err(message);
    }
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    match &listener {
        Some(l) => {
            info!(addr = %l.local_addr().map_err(|e| e.to_string())?, node_id = broker.config.node_id, "brook broker listening")
        }
        None => info!(node_id = broker.config.node_id, "controller running"),
    }
    let failure = loop {
        tokio::select! {
            _ = &mut shutdown => break None,
            changed = fatal.changed() => {
                if changed.is_err() { break None; }
                if let Some(message) = fatal.borrow().clone() { break Some(message); }
            }
            accepted = async { listener.as_ref().unwrap().accept().await }, if listener.is_some() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection::serve(stream, broker.clone()));
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    };
    info!("shutting down");
    if failure.is_none() {
        broker.controlled_shutdown().await;
    }
    drop(listener);
    connections.shutdown().await;
    background.shutdown().await;
    if broker.config.is_broker {
        let b = broker.clone();
        match tokio::task::spawn_blocking(move || b.shutdown()).await {
            Ok(Ok(())) => info!("clean shutdown complete"),
            Ok(Err(e)) => error!(error = %e, "shutdown failed; the next start will recover the logs"),
            Err(e) => error!(error = %e, "shutdown task failed"),
        }
    }
    if let Some(q) = &broker.quorum {
        q.shutdown().await;
    }
    match failure {
        Some(message) => Err(message),
        None => Ok(()),
    }
}
