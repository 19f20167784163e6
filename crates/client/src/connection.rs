//! One TCP connection to one broker, with pipelining: many requests may be
//! in flight; a reader task matches responses to requests by correlation id.
//! API versions are negotiated once, at connect (ApiVersions).
//!
//! Thread-safe: share it in an `Arc`; writes are serialized by a mutex so
//! frames never interleave.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brook_protocol::frame;
use brook_security::stream::Stream;
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Request, StrBytes};
use parking_lot::Mutex;
use tokio::io::{AsyncWriteExt, WriteHalf};
use tokio::sync::oneshot;

use crate::error::{ClientError, Result};

/// Largest response frame accepted (a fetch of many partitions).
const MAX_RESPONSE_BYTES: usize = 1 << 30;

type Pending = Arc<Mutex<Option<HashMap<i32, oneshot::Sender<Bytes>>>>>;

pub struct BrokerConnection {
    addr: String,
    writer: tokio::sync::Mutex<WriteHalf<Stream>>,
    pending: Pending,
    next_correlation_id: AtomicI32,
    client_id: StrBytes,
    /// api key → (min, max) supported by the broker.
    versions: HashMap<i16, (i16, i16)>,
    request_timeout: Duration,
}

impl BrokerConnection {
    /// Connects and negotiates API versions.
    pub async fn connect(addr: &str, client_id: &str, request_timeout: Duration) -> Result<Arc<BrokerConnection>> {
        Self::connect_tls(addr, client_id, request_timeout, None).await
    }

    /// Connects (over TLS when `tls` is given) and negotiates API versions.
    pub async fn connect_tls(
        addr: &str,
        client_id: &str,
        request_timeout: Duration,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<Arc<BrokerConnection>> {
        let stream = Stream::connect(addr, tls, request_timeout).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                ClientError::Timeout(format!("connecting to {addr}"))
            } else {
                ClientError::Connect(addr.to_string(), e)
            }
        })?;
        let (mut reader, writer) = tokio::io::split(stream);
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            while let Ok(frame) = frame::read_response_frame(&mut reader, MAX_RESPONSE_BYTES).await {
                let Some(correlation_id) = frame::response_correlation_id(&frame) else { break };
                let sender = reader_pending.lock().as_mut().and_then(|p| p.remove(&correlation_id));
                if let Some(tx) = sender {
                    let _ = tx.send(frame);
                }
            }
            // Fail everything still waiting: dropping the senders wakes them.
            reader_pending.lock().take();
        });
        let mut conn = BrokerConnection {
            addr: addr.to_string(),
            writer: tokio::sync::Mutex::new(writer),
            pending,
            next_correlation_id: AtomicI32::new(1),
            client_id: StrBytes::from_string(client_id.to_string()),
            versions: HashMap::new(),
            request_timeout,
        };
        let response: ApiVersionsResponse = conn
            .send_version(
                3,
                &ApiVersionsRequest::default()
                    .with_client_software_name(StrBytes::from_static_str("brook-client"))
                    .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION"))),
            )
            .await?;
        if response.error_code != 0 {
            return Err(ClientError::from_code(response.error_code, "ApiVersions"));
        }
        conn.versions = response.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
        Ok(Arc::new(conn))
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn is_closed(&self) -> bool {
        self.pending.lock().is_none()
    }

    /// The highest version both sides support, up to `client_max`.
    pub fn version(&self, key: ApiKey, client_max: i16) -> Result<i16> {
        let (min, max) = self
            .versions
            .get(&(key as i16))
            .copied()
            .ok_or_else(|| ClientError::Unsupported(format!("broker {} does not support {key:?}", self.addr)))?;
        let v = client_max.min(max);
        if v < min {
            return Err(ClientError::Unsupported(format!(
                "{key:?}: broker needs ≥ v{min}, client speaks ≤ v{client_max}"
            )));
        }
        Ok(v)
    }

    /// Sends `request` at the best common version ≤ `client_max`.
    pub async fn send<R: Request>(&self, client_max: i16, request: &R) -> Result<R::Response> {
        let version =
            self.version(ApiKey::try_from(R::KEY).map_err(|_| ClientError::Protocol("bad key".into()))?, client_max)?;
        self.send_version(version, request).await
    }

    /// Sends a request that expects no response (acks=0 produce).
    pub async fn send_no_response<R: Request>(&self, client_max: i16, request: &R) -> Result<()> {
        let version =
            self.version(ApiKey::try_from(R::KEY).map_err(|_| ClientError::Protocol("bad key".into()))?, client_max)?;
        let (frame, _) = self.frame(version, request)?;
        let mut writer = self.writer.lock().await;
        writer.write_all(&frame).await.map_err(|e| ClientError::Io(self.addr.clone(), e))?;
        writer.flush().await.map_err(|e| ClientError::Io(self.addr.clone(), e))
    }

    fn frame<R: Request>(&self, version: i16, request: &R) -> Result<(Bytes, i32)> {
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let frame = frame::encode_request(version, correlation_id, &self.client_id, request)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((frame, correlation_id))
    }

    async fn send_version<R: Request>(&self, version: i16, request: &R) -> Result<R::Response> {
        let (frame, correlation_id) = self.frame(version, request)?;
        let (tx, rx) = oneshot::channel();
        match self.pending.lock().as_mut() {
            Some(p) => p.insert(correlation_id, tx),
            None => return Err(ClientError::Disconnected(self.addr.clone())),
        };
        {
            let mut writer = self.writer.lock().await;
            if let Err(e) = writer.write_all(&frame).await {
                return Err(ClientError::Io(self.addr.clone(), e));
            }
            if let Err(e) = writer.flush().await {
                return Err(ClientError::Io(self.addr.clone(), e));
            }
        }
        let body = match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => return Err(ClientError::Disconnected(self.addr.clone())),
            Err(_) => {
                if let Some(p) = self.pending.lock().as_mut() {
                    p.remove(&correlation_id);
                }
                return Err(ClientError::Timeout(format!("{:?} to {}", ApiKey::try_from(R::KEY), self.addr)));
            }
        };
        frame::decode_response::<R>(version, Some(correlation_id), body)
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }
}
