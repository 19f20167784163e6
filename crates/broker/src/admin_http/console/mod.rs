//! The web console on the admin listener: a static page (`/`, `/console/…`,
//! built into the binary) and the JSON API it calls (`/api/…`).
//!
//! The API is a Kafka client of the cluster, as Redpanda Console is: it
//! speaks the Kafka protocol (brook-client) to this broker's own
//! inter-broker listener, with the TLS and SASL login the broker uses for
//! its own inter-broker connections. Only the cluster overview reads the
//! local metadata image and quorum directly, and the throughput summary
//! reads this broker's own metrics.
//!
//! Like the rest of the admin listener it has no authentication: anyone who
//! reaches the port can create and delete topics and produce (see
//! docs/console.md).

mod cluster;
mod groups;
mod messages;
mod throughput;
mod topics;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use brook_client::admin::Admin;
use brook_client::producer::{Producer, ProducerConfig};
use brook_client::{ClientConfig, ClientError};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::{respond, AdminState, HttpResponse};
use crate::Node;

/// Largest request body the API reads (a produced test message, a topic).
pub const MAX_BODY_BYTES: usize = 1 << 20;

const INDEX_HTML: &str = include_str!("../../../console/index.html");
const APP_JS: &str = include_str!("../../../console/app.js");
const STYLE_CSS: &str = include_str!("../../../console/style.css");

/// An API failure: an HTTP status and a Kafka-style error name and message,
/// sent as `{"error": NAME, "message": TEXT}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, error: error.to_string(), message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message)
    }
}

/// Kafka's error names are SCREAMING_SNAKE (UNKNOWN_TOPIC_OR_PARTITION);
/// kafka-protocol's enum prints CamelCase.
pub fn kafka_error_name(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> ApiError {
        let message = e.to_string();
        match &e {
            ClientError::Kafka { code, name, .. } => {
                let status = match *code {
                    3 | 69 => StatusCode::NOT_FOUND,      // unknown topic, group not found
                    36 | 68 | 25 => StatusCode::CONFLICT, // topic exists, non-empty group, member
                    29..=31 => StatusCode::FORBIDDEN,     // topic, group, cluster authorization
                    _ if e.is_retriable() => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError::new(status, &kafka_error_name(name), message)
            }
            ClientError::InvalidArgument(_) => ApiError::bad_request(message),
            _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "BROKER_UNREACHABLE", message),
        }
    }
}

pub type ApiResult = Result<Value, ApiError>;

fn json_response(status: StatusCode, value: &Value) -> HttpResponse {
    respond(status, "application/json; charset=utf-8", serde_json::to_vec(value).unwrap_or_default())
}

fn error_response(e: &ApiError) -> HttpResponse {
    json_response(e.status, &json!({ "error": e.error, "message": e.message }))
}

/// Serves `/`, `/console/…` and `/api/…`.
pub async fn handle(state: &AdminState, request: Request<Incoming>) -> HttpResponse {
    let path = request.uri().path().to_string();
    if !path.starts_with("/api/") {
        return static_asset(request.method(), &path);
    }
    let Some(node) = state.node() else {
        return error_response(&ApiError::unavailable("the node is starting"));
    };
    let header = |name: hyper::header::HeaderName| request.headers().get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = check_request_origin(
        request.method(),
        header(hyper::header::ORIGIN),
        header(hyper::header::HOST),
        header(hyper::header::CONTENT_TYPE),
    ) {
        return error_response(&e);
    }
    let query = parse_query(request.uri().query().unwrap_or(""));
    let method = request.method().clone();
    let body = if method == Method::POST {
        match read_body(request.into_body()).await {
            Ok(b) => b,
            Err(e) => return error_response(&e),
        }
    } else {
        Value::Null
    };
    let segments: Vec<String> =
        path["/api/".len()..].split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match api(node, &method, &segments, &query, body).await {
        Ok(Value::Null) => json_response(StatusCode::OK, &json!({ "ok": true })),
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(e) => {
            if e.status.is_server_error() {
                tracing::warn!(path, error = %e.message, "console API failed");
            }
            error_response(&e)
        }
    }
}

async fn api(node: &Arc<Node>, method: &Method, path: &[&str], query: &Query, body: Value) -> ApiResult {
    match (method, path) {
        (&Method::GET, ["cluster"]) => return cluster::overview(node).await,
        (&Method::GET, ["metrics", "summary"]) => return Ok(throughput::summary(node)),
        _ => {}
    }
    let known = matches!(
        (method, path),
        (&Method::GET | &Method::POST, ["topics"])
            | (&Method::GET | &Method::DELETE, ["topics", _])
            | (&Method::GET | &Method::POST, ["topics", _, "messages"])
            | (&Method::GET, ["groups"] | ["groups", _])
            | (&Method::POST, ["groups", _, "reset"])
    );
    if !known {
        return Err(ApiError::not_found(format!("no API endpoint {method} /api/{}", path.join("/"))));
    }
    let clients: Arc<Clients> = clients(node).await?;
    let c = clients.as_ref();
    match (method, path) {
        (&Method::GET, ["topics"]) => topics::list(c).await,
        (&Method::POST, ["topics"]) => topics::create(c, &body).await,
        (&Method::GET, ["topics", name]) => topics::describe(node, c, name).await,
        (&Method::DELETE, ["topics", name]) => topics::delete(c, name).await,
        (&Method::GET, ["topics", name, "messages"]) => messages::browse(c, name, query).await,
        (&Method::POST, ["topics", name, "messages"]) => messages::produce(c, name, &body).await,
        (&Method::GET, ["groups"]) => groups::list(c).await,
        (&Method::GET, ["groups", id]) => groups::describe(c, id).await,
        (&Method::POST, ["groups", id, "reset"]) => groups::reset(c, id, &body).await,
        _ => Err(ApiError::not_found(format!("no API endpoint {method} /api/{}", path.join("/")))),
    }
}

/// Refuses changes a page of another site could make through the
/// operator's browser (CSRF): a changing request must come from the
/// console's own origin when the browser names one, and a POST must carry
/// JSON, which a cross-site form cannot send without a CORS preflight
/// (never granted here).
pub fn check_request_origin(
    method: &Method,
    origin: Option<&str>,
    host: Option<&str>,
    content_type: Option<&str>,
) -> Result<(), ApiError> {
    if method == Method::GET || method == Method::HEAD {
        return Ok(());
    }
    if let Some(origin) = origin {
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest).trim_end_matches('/');
        if Some(origin_host) != host {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "CROSS_ORIGIN_REFUSED",
                format!("{method} from origin '{origin}' refused: only the console's own page may change the cluster"),
            ));
        }
    }
    if method == Method::POST {
        let json = content_type.is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "POST bodies must be JSON (Content-Type: application/json)",
            ));
        }
    }
    Ok(())
}

fn static_asset(method: &Method, path: &str) -> HttpResponse {
    if method != Method::GET && method != Method::HEAD {
        return error_response(&ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "GET only"));
    }
    match path {
        "/" | "/console" | "/console/" | "/console/index.html" => {
            respond(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML)
        }
        "/console/app.js" => respond(StatusCode::OK, "text/javascript; charset=utf-8", APP_JS),
        "/console/style.css" => respond(StatusCode::OK, "text/css; charset=utf-8", STYLE_CSS),
        _ => super::text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`]; an empty body is `null`.
async fn read_body(body: Incoming) -> Result<Value, ApiError> {
    let bytes: Bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("request body over {MAX_BODY_BYTES} bytes"),
            ))
        }
        Err(e) => return Err(ApiError::bad_request(format!("reading the body: {e}"))),
    };
    parse_json_body(&bytes)
}

pub fn parse_json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

pub type Query = HashMap<String, String>;

pub fn parse_query(query: &str) -> Query {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

/// Decodes %XX escapes (a group id may hold any character); invalid
/// escapes stay as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A numeric query parameter, if present.
pub fn query_i64(query: &Query, name: &str) -> Result<Option<i64>, ApiError> {
    match query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ApiError::bad_request(format!("{name}: not an integer: '{v}'"))),
    }
}

/// The Kafka clients the API uses, one set per bootstrap address, kept for
/// the life of the process (a client per request would open a connection
/// per poll of the page).
pub struct Clients {
    pub admin: Admin,
    config: ClientConfig,
    producer: tokio::sync::OnceCell<Producer>,
}

impl Clients {
    /// A producer for test messages, made on first use.
    pub async fn producer(&self) -> Result<&Producer, ApiError> {
        self.producer
            .get_or_try_init(|| async {
                let mut config = ProducerConfig::new("");
                config.client = self.config.clone();
                config.linger = Duration::from_millis(0);
                config.delivery_timeout = Duration::from_secs(30);
                Producer::new(config).await
            })
            .await
            .map_err(ApiError::from)
    }
}

static CLIENTS: LazyLock<Mutex<HashMap<String, Arc<Clients>>>> = LazyLock::new(Default::default);

/// How the console reaches the cluster: this broker's inter-broker listener
/// (advertised address), with the inter-broker TLS and SASL login.
pub fn client_config(node: &Node) -> Result<ClientConfig, ApiError> {
    if !node.config.is_broker {
        return Err(ApiError::unavailable(
            "this node is a controller only (no Kafka listener); open the console of a broker",
        ));
    }
    let advertised = &node.config.advertised;
    let mut config = ClientConfig::new(&format!("{}:{}", advertised.host, advertised.port));
    config.client_id = "brook-console".to_string();
    config.request_timeout = Duration::from_secs(15);
    config.tls = node.config.inter_broker_tls.0.clone();
    config.sasl = node.config.inter_broker_tls.1.clone();
    Ok(config)
}

async fn clients(node: &Node) -> Result<Arc<Clients>, ApiError> {
    let config = client_config(node)?;
    let key = format!("{}/{}", node.config.node_id, config.bootstrap_servers.join(","));
    if let Some(c) = CLIENTS.lock().get(&key) {
        return Ok(c.clone());
    }
    let admin = Admin::with_config(config.clone()).await?;
    let made = Arc::new(Clients { admin, config, producer: tokio::sync::OnceCell::new() });
    // Two first requests may race: keep whichever was stored first.
    Ok(CLIENTS.lock().entry(key).or_insert(made).clone())
}

/// Runs a client call again after a retriable error (a coordinator or a
/// leader that just moved), up to 10 times 200 ms apart, as Kafka's admin
/// client retries within its timeout.
pub async fn retry<T, F, Fut>(mut call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            // UNKNOWN_TOPIC_OR_PARTITION is retriable in Kafka, but here it is
            // mostly a mistyped name: answer 404 at once.
            Err(e) if e.is_retriable() && e.code() != Some(3) && attempt < 10 => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "console: retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            result => return result,
        }
    }
}

/// A required string field of a JSON body.
pub fn str_field<'a>(body: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request(format!("'{name}' is required (a string)")))
}

/// An optional integer field of a JSON body.
pub fn int_field(body: &Value, name: &str) -> Result<Option<i64>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("'{name}' must be an integer"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_in_kafka_style() {
        assert_eq!(kafka_error_name("UnknownTopicOrPartition"), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(kafka_error_name("TopicAlreadyExists"), "TOPIC_ALREADY_EXISTS");
        let e: ApiError = ClientError::from_code(36, "create topic 'a'").into();
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(e.error, "TOPIC_ALREADY_EXISTS");
        let e: ApiError = ClientError::from_code(3, "topic 'x'").into();
        assert_eq!((e.status, e.error.as_str()), (StatusCode::NOT_FOUND, "UNKNOWN_TOPIC_OR_PARTITION"));
        let e: ApiError = ClientError::from_code(7, "slow").into();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn cross_site_changes_are_refused() {
        let json = Some("application/json");
        let host = Some("127.0.0.1:9644");
        assert!(check_request_origin(&Method::GET, Some("http://evil.example"), host, None).is_ok());
        assert!(check_request_origin(&Method::POST, None, host, json).is_ok());
        assert!(check_request_origin(&Method::POST, Some("http://127.0.0.1:9644"), host, json).is_ok());
        let e = check_request_origin(&Method::POST, Some("http://evil.example"), host, json).unwrap_err();
        assert_eq!((e.status, e.error.as_str()), (StatusCode::FORBIDDEN, "CROSS_ORIGIN_REFUSED"));
        assert!(check_request_origin(&Method::DELETE, Some("null"), host, None).is_err());
        assert!(check_request_origin(&Method::DELETE, None, host, None).is_ok());
        let e = check_request_origin(&Method::POST, None, host, Some("text/plain")).unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(check_request_origin(&Method::POST, None, host, None).is_err());
        assert!(check_request_origin(&Method::POST, None, host, Some("Application/JSON; charset=utf-8")).is_ok());
    }

    #[test]
    fn query_and_path_decoding() {
        let q = parse_query("partition=2&offset=10&name=a%20b+c&flag");
        assert_eq!(q["partition"], "2");
        assert_eq!(q["name"], "a b c");
        assert_eq!(q["flag"], "");
        assert_eq!(query_i64(&q, "offset").unwrap(), Some(10));
        assert_eq!(query_i64(&q, "missing").unwrap(), None);
        assert!(query_i64(&q, "name").is_err());
        assert_eq!(percent_decode("my%2Fgroup"), "my/group");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn json_bodies() {
        assert_eq!(parse_json_body(b"").unwrap(), Value::Null);
        assert_eq!(parse_json_body(b" {\"a\": 1} ").unwrap()["a"], 1);
        let e = parse_json_body(b"{not json").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let body = json!({"name": "t", "n": "3", "bad": "x"});
        assert_eq!(str_field(&body, "name").unwrap(), "t");
        assert!(str_field(&body, "n2").is_err());
        assert_eq!(int_field(&body, "n").unwrap(), Some(3));
        assert_eq!(int_field(&body, "none").unwrap(), None);
        assert!(int_field(&body, "bad").is_err());
    }
}
