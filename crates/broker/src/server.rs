//! The accept loop and shutdown. Shutdown stops accepting,
//! stops every connection at an await point (never inside an append), then
//! shuts storage down cleanly.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use brook_security::listener_tls::ListenerTls;

use crate::config::NamedListener;
use crate::connection;
use crate::Node;

/// A client listener as the accept loop needs it: its config and, on
/// SSL/SASL_SSL, its TLS acceptor.
pub struct ListenerRuntime {
    pub config: NamedListener,
    pub tls: Option<ListenerTls>,
}

/// The bound client listeners, one socket per listener name.
pub struct Bound {
    listeners: Vec<(Arc<ListenerRuntime>, TcpListener)>,
}

impl Bound {
    /// The bound address of each listener, by name.
    pub fn local_addrs(&self) -> Vec<(String, std::io::Result<SocketAddr>)> {
        self.listeners.iter().map(|(l, s)| (l.config.name.clone(), s.local_addr())).collect()
    }
}

/// Binds every client listener (loading the TLS ones' certificates). Split
/// from [`run`] so callers learn the bound ports (port 0 in tests) before serving.
pub async fn bind(node: &Node) -> std::io::Result<Bound> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let mut listeners = Vec::new();
    for l in &node.config.client_listeners {
        let addr = l.bind.socket_addr().map_err(|e| invalid(e.to_string()))?;
        let tls = if l.security_protocol.uses_tls() {
            let get = |name: &str| node.config.listener_property(&l.name, name);
            Some(
                ListenerTls::new(l.security_protocol, &get)
                    .map_err(|e| invalid(format!("listener {}: {e}", l.name)))?,
            )
        } else {
            None
        };
        let socket = TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("listener {} on {addr}: {e}", l.name)))?;
        listeners.push((Arc::new(ListenerRuntime { config: l.clone(), tls }), socket));
    }
    Ok(Bound { listeners })
}

/// Accepts on every listener; each accepted socket comes with its listener.
async fn accept_any(bound: &Bound) -> (Arc<ListenerRuntime>, std::io::Result<TcpStream>) {
    let accepts = bound
        .listeners
        .iter()
        .map(|(l, s)| Box::pin(async move { (l.clone(), s.accept().await.map(|(stream, _)| stream)) }));
    futures::future::select_all(accepts).await.0
}

/// Serves until `shutdown` resolves, then shuts down cleanly: controlled
/// shutdown (the controller fences this broker at once), connections
/// closed, storage flushed. Returns an error if the node must stop because
/// it does not belong to the quorum's cluster.
pub async fn run(broker: Arc<Node>, listener: Option<Bound>, shutdown: impl Future<Output = ()>) -> Result<(), String> {
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
        Some(bound) => {
            for (l, socket) in &bound.listeners {
                let addr = socket.local_addr().map_err(|e| e.to_string())?;
                info!(listener = %l.config.name, protocol = %l.config.security_protocol, %addr, node_id = broker.config.node_id, "brook broker listening");
            }
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
            (on, accepted) = async { accept_any(listener.as_ref().unwrap()).await }, if listener.as_ref().is_some_and(|b| !b.listeners.is_empty()) => match accepted {
                Ok(stream) => {
                    connections.spawn(connection::serve(stream, broker.clone(), on));
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
