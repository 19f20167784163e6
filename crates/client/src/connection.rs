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

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::error::{ClientError, Result};

type Pending = Arc<Mutex<Option<HashMap<i32, oneshot::Sender<Bytes>>>>>;

pub struct BrokerConnection {
    addr: String,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
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
        let stream = tokio::time::timeout(request_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout(format!("connecting to {addr}")))?
            .map_err(|e| ClientError::Connect(addr.to_string(), e))?;
        stream.set_nodelay(true).ok();
        let (mut reader, writer) = stream.into_split();
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            let mut size = [0u8; 4];
            loop {
                if reader.read_exact(&mut size).await.is_err() {
                    break;
                }
                let len = i32::from_be_bytes(size).max(0) as usize;
                if len < 4 {
                    break;
                }
                // Filled without zeroing first: large fetch responses would pay for it twice.
                let mut buf = BytesMut::with_capacity(len);
                let mut failed = false;
                while buf.len() < len {
                    let want = len - buf.len();
                    match (&mut reader).take(want as u64).read_buf(&mut buf).await {
                        Ok(0) | Err(_) => {
                            failed = true;
                            break;
                        }
                        Ok(_) => {}
                    }
                }
                if failed {
                    break;
                }
                let mut frame = buf.freeze();
                let correlation_id = (&frame[..4]).get_i32();
                let sender = reader_pending.lock().as_mut().and_then(|p| p.remove(&correlation_id));
                if let Some(tx) = sender {
                    frame.advance(0);
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
        self.writer.lock().await.write_all(&frame).await.map_err(|e| ClientError::Io(self.addr.clone(), e))
    }

    fn frame<R: Request>(&self, version: i16, request: &R) -> Result<(Bytes, i32)> {
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let header_version = R::header_version(version);
        let encode_err = |e: anyhow_like::Error| ClientError::Protocol(format!("encoding request: {e}"));
        let size = header.compute_size(header_version).map_err(encode_err)?
            + request.compute_size(version).map_err(encode_err)?;
        let mut buf = BytesMut::with_capacity(4 + size);
        buf.put_i32(size as i32);
        header.encode(&mut buf, header_version).map_err(encode_err)?;
        request.encode(&mut buf, version).map_err(encode_err)?;
        Ok((buf.freeze(), correlation_id))
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
        }
        let mut body = match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => return Err(ClientError::Disconnected(self.addr.clone())),
            Err(_) => {
                if let Some(p) = self.pending.lock().as_mut() {
                    p.remove(&correlation_id);
                }
                return Err(ClientError::Timeout(format!("{:?} to {}", ApiKey::try_from(R::KEY), self.addr)));
            }
        };
        let decode_err = |e: anyhow_like::Error| ClientError::Protocol(format!("decoding response: {e}"));
        ResponseHeader::decode(&mut body, R::Response::header_version(version)).map_err(decode_err)?;
        R::Response::decode(&mut body, version).map_err(decode_err)
    }
}

/// The error type the protocol crate's encode/decode return.
mod anyhow_like {
    pub type Error = anyhow::Error;
}
