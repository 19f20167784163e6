//! Client errors. Broker-side failures keep their Kafka error code and name.

use kafka_protocol::error::ParseResponseErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("connection to {0} failed: {1}")]
    Io(String, std::io::Error),
    #[error("connection to {0} closed")]
    Disconnected(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("{context}: {name} (Kafka error {code})")]
    Kafka { code: i16, name: String, context: String },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("the client is closed")]
    Closed,
}

impl ClientError {
    pub fn from_code(code: i16, context: impl Into<String>) -> ClientError {
        let name = match code.err() {
            Some(e) => format!("{e:?}"),
            None => "NONE".to_string(),
        };
        ClientError::Kafka { code, name, context: context.into() }
    }

    /// The Kafka error code, if the broker returned one.
    pub fn code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether a retry (after refreshing metadata) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => code.err().is_some_and(|e| e.is_retriable()),
            ClientError::Io(..) | ClientError::Disconnected(_) | ClientError::Timeout(_) | ClientError::Connect(..) => {
                true
            }
            _ => false,
        }
    }
}

/// Turns a response error code into a result.
pub fn check(code: i16, context: impl FnOnce() -> String) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(ClientError::from_code(code, context()))
    }
}

/// As [`check`], preferring the broker's error message when it sent one.
pub fn check_message(
    code: i16,
    message: Option<&kafka_protocol::protocol::StrBytes>,
    context: impl FnOnce() -> String,
) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    Err(ClientError::from_code(code, message.map(|m| m.to_string()).unwrap_or_else(context)))
}

pub type Result<T> = std::result::Result<T, ClientError>;
