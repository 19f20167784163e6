//! Kafka error codes used by Brook, by their Kafka names, with Kafka's
//! values (`org.apache.kafka.common.protocol.Errors`).
//!
//! One table, two views: [`ErrorCode`], the type of every result above
//! storage (`Result<T, ErrorCode>`, printed by name), and plain `i16`
//! constants of the same names for filling response structs, whose fields
//! are `i16` on the wire.

/// A Kafka error code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ErrorCode(i16);

impl ErrorCode {
    /// The code as it travels in a response.
    pub const fn code(self) -> i16 {
        self.0
    }

    pub const fn from_code(code: i16) -> ErrorCode {
        ErrorCode(code)
    }

    pub fn is_none(self) -> bool {
        self.0 == 0
    }
}

impl From<ErrorCode> for i16 {
    fn from(e: ErrorCode) -> i16 {
        e.0
    }
}

impl std::fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! error_codes {
    ($($name:ident = $code:expr,)*) => {
        $(pub const $name: i16 = $code;)*

        #[allow(non_upper_case_globals)]
        impl ErrorCode {
            $(pub const $name: ErrorCode = ErrorCode($code);)*

            /// Kafka's name for the code.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($code => stringify!($name),)*
                    _ => "UNKNOWN_ERROR_CODE",
                }
            }
        }
    };
}

error_codes! {
    NONE = 0,
    UNKNOWN_SERVER_ERROR = -1,
    OFFSET_OUT_OF_RANGE = 1,
    CORRUPT_MESSAGE = 2,
    UNKNOWN_TOPIC_OR_PARTITION = 3,
    INVALID_FETCH_SIZE = 4,
    LEADER_NOT_AVAILABLE = 5,
    NOT_LEADER_OR_FOLLOWER = 6,
    REQUEST_TIMED_OUT = 7,
    MESSAGE_TOO_LARGE = 10,
    INVALID_TOPIC_EXCEPTION = 17,
    RECORD_LIST_TOO_LARGE = 18,
    NOT_ENOUGH_REPLICAS = 19,
    INVALID_REQUIRED_ACKS = 21,
    INVALID_TIMESTAMP = 32,
    UNSUPPORTED_VERSION = 35,
    UNSUPPORTED_SASL_MECHANISM = 33,
    ILLEGAL_SASL_STATE = 34,
    SASL_AUTHENTICATION_FAILED = 58,
    RESOURCE_NOT_FOUND = 91,
    DUPLICATE_RESOURCE = 92,
    UNACCEPTABLE_CREDENTIAL = 93,
    TOPIC_ALREADY_EXISTS = 36,
    INVALID_PARTITIONS = 37,
    INVALID_REPLICATION_FACTOR = 38,
    INVALID_REPLICA_ASSIGNMENT = 39,
    INVALID_CONFIG = 40,
    INVALID_REQUEST = 42,
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    POLICY_VIOLATION = 44,
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    DUPLICATE_SEQUENCE_NUMBER = 46,
    INVALID_PRODUCER_EPOCH = 47,
    INVALID_TXN_STATE = 48,
    INVALID_PRODUCER_ID_MAPPING = 49,
    INVALID_TRANSACTION_TIMEOUT = 50,
    CONCURRENT_TRANSACTIONS = 51,
    TRANSACTION_COORDINATOR_FENCED = 52,
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
    PRODUCER_FENCED = 90,
    TRANSACTIONAL_ID_NOT_FOUND = 105,
    TRANSACTION_ABORTABLE = 120,
    OPERATION_NOT_ATTEMPTED = 55,
    UNSUPPORTED_COMPRESSION_TYPE = 76,
    FENCED_LEADER_EPOCH = 74,
    UNKNOWN_LEADER_EPOCH = 75,
    OFFSET_NOT_AVAILABLE = 78,
    UNKNOWN_PRODUCER_ID = 59,
    INVALID_RECORD = 87,
    KAFKA_STORAGE_ERROR = 56,
    UNKNOWN_TOPIC_ID = 100,
    INCONSISTENT_TOPIC_ID = 103,
    OFFSET_METADATA_TOO_LARGE = 12,
    COORDINATOR_LOAD_IN_PROGRESS = 14,
    COORDINATOR_NOT_AVAILABLE = 15,
    NOT_COORDINATOR = 16,
    ILLEGAL_GENERATION = 22,
    INCONSISTENT_GROUP_PROTOCOL = 23,
    INVALID_GROUP_ID = 24,
    UNKNOWN_MEMBER_ID = 25,
    INVALID_SESSION_TIMEOUT = 26,
    REBALANCE_IN_PROGRESS = 27,
    NON_EMPTY_GROUP = 68,
    GROUP_ID_NOT_FOUND = 69,
    MEMBER_ID_REQUIRED = 79,
    GROUP_MAX_SIZE_REACHED = 81,
    FENCED_INSTANCE_ID = 82,
    GROUP_SUBSCRIBED_TO_TOPIC = 86,
    UNSTABLE_OFFSET_COMMIT = 88,
    INVALID_COMMIT_OFFSET_SIZE = 28,
    NOT_CONTROLLER = 41,
    STALE_BROKER_EPOCH = 77,
    DUPLICATE_BROKER_REGISTRATION = 101,
    INCONSISTENT_CLUSTER_ID = 104,
    BROKER_ID_NOT_REGISTERED = 102,
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
    INVALID_UPDATE_VERSION = 108,
    INELIGIBLE_REPLICA = 107,
    PREFERRED_LEADER_NOT_AVAILABLE = 80,
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83,
    ELECTION_NOT_NEEDED = 84,
}
