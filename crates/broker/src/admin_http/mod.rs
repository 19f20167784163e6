//! The admin HTTP listener (`admin.http.listener`, Redpanda's port 9644 by
//! default): `/metrics` in Prometheus text format, `/health/live` and
//! `/health/ready`. It starts before the node registers, so an orchestrator
//! sees a live but not ready broker while it starts.
//!
//! It is plain HTTP with no authentication, like Redpanda's admin API and a
//! JMX exporter: it listens on loopback unless told otherwise.

pub mod console;
pub mod health;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::Node;

/// `admin.http.listener`: an address, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAddress {
    pub addr: Option<SocketAddr>,
    /// Set by the operator (a bind failure stops the node), or the default
    /// (a bind failure is a warning: several brokers on one host share it).
    pub explicit: bool,
}

impl AdminAddress {
    pub fn parse(value: &str, explicit: bool) -> Result<AdminAddress, String> {
        let value = value.trim();
        if value.is_empty() || value.eq_ignore_ascii_case("none") {
            return Ok(AdminAddress { addr: None, explicit });
        }
        let Some(rest) = value.strip_prefix("http://") else {
            return Err(format!("expected http://host:port or none, got '{value}' (https is not served)"));
        };
        let rest = rest.trim_end_matches('/');
        let addr = std::net::ToSocketAddrs::to_socket_addrs(rest)
            .map_err(|e| format!("'{value}': {e}"))?
            .next()
            .ok_or_else(|| format!("'{value}' resolves to no address"))?;
        Ok(AdminAddress { addr: Some(addr), explicit })
    }
}

/// What the admin endpoints read: the node, once it has started.
#[derive(Default)]
pub struct AdminState {
    node: OnceLock<Arc<Node>>,
}

impl AdminState {
    pub fn new() -> Arc<AdminState> {
        Arc::new(AdminState::default())
    }

    /// Called once the node has started (registered, logs open).
    pub fn set_node(&self, node: Arc<Node>) {
        let _ = self.node.set(node);
    }

    pub fn node(&self) -> Option<&Arc<Node>> {
        self.node.get()
    }
}

/// Binds the admin listener. `Ok(None)`: it is off, or its default port is
/// taken (logged).
pub async fn bind(address: &AdminAddress) -> std::io::Result<Option<TcpListener>> {
    let Some(addr) = address.addr else { return Ok(None) };
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(Some(listener)),
        Err(e) if !address.explicit => {
            warn!(%addr, error = %e, "admin HTTP listener not started (its default port is taken); set admin.http.listener");
            Ok(None)
        }
        Err(e) => Err(std::io::Error::new(e.kind(), format!("admin.http.listener {addr}: {e}"))),
    }
}

/// Serves HTTP/1.1 on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "admin HTTP listening (/metrics, /health/live, /health/ready)");
    }
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                warn!(error = %e, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&state, request).await) }
            });
            if let Err(e) =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
            {
                debug!(error = %e, "admin connection ended");
            }
        });
    }
}

pub type HttpResponse = Response<Full<Bytes>>;

/// A response with a body and content type.
pub fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub fn text(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    respond(status, "text/plain; charset=utf-8", body)
}

async fn route(state: &AdminState, request: Request<Incoming>) -> HttpResponse {
    let path = request.uri().path().to_string();
    match (request.method(), path.as_str()) {
        (&Method::GET, "/health/live") => text(StatusCode::OK, "live\n"),
        (&Method::GET, "/health/ready") => health::ready_response(state.node()),
        (&Method::GET, "/metrics") => match state.node() {
            Some(node) => respond(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                crate::metrics::scrape(node).await,
            ),
            None => text(StatusCode::SERVICE_UNAVAILABLE, "the node is starting\n"),
        },
        // The web console: its page and its JSON API.
        (_, p) if p == "/" || p.starts_with("/console") || p.starts_with("/api/") => {
            console::handle(state, request).await
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listener_property() {
        let a = AdminAddress::parse("http://127.0.0.1:9644", false).unwrap();
        assert_eq!(a.addr, Some("127.0.0.1:9644".parse().unwrap()));
        assert!(!a.explicit);
        assert_eq!(AdminAddress::parse("none", true).unwrap().addr, None);
        assert_eq!(AdminAddress::parse("NONE", true).unwrap().addr, None);
        assert!(AdminAddress::parse("https://127.0.0.1:9644", true).is_err());
        assert!(AdminAddress::parse("127.0.0.1:9644", true).is_err());
        assert!(AdminAddress::parse("http://127.0.0.1:notaport", true).is_err());
    }
}
