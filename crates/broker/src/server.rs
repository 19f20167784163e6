//! The accept loop and shutdown. Shutdown stops accepting,
//! stops every connection at an await point (never inside an append), then
//! shuts storage down cleanly.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::connection;
use crate::Node;

/// Binds the configured listener. Split from [`run`] so callers learn the
/// bound port (port 0 in tests) before serving.
pub async fn bind(node: &Node) -> std::io::Result<TcpListener> {
    let addr =
        node.config.bind_addr().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    TcpListener::bind(addr).await
}

/// Serves until `shutdown` resolves, then shuts down cleanly: controlled
/// shutdown (the controller fences this broker at once), connections
/// closed, storage flushed. Returns an error if the node must stop because
/// it does not belong to the quorum's cluster.
pub async fn run(
    broker: Arc<Node>,
    listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let mut background = JoinSet::new();
    if broker.config.is_broker {
        crate::jobs::spawn_all(&broker, &mut background);
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
