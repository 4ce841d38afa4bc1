//! Errors, grouped by what the caller has to do about them.

use std::fmt;

/// A failure to turn a value into bytes or bytes into a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SerdeError {
    message: String,
}

impl SerdeError {
    /// A serde error with the given explanation of what was wrong with the data.
    pub fn new(message: impl Into<String>) -> Self {
        SerdeError {
            message: message.into(),
        }
    }

    /// The explanation.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Where a record came from: the coordinates printed in error messages and DLQ headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePosition {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

impl fmt::Display for SourcePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}@{}", self.topic, self.partition, self.offset)
    }
}

/// Every error the library returns.
///
/// The variants say what the caller must do: fix the configuration or the topology (nothing
/// was processed), stop (fatal), or look at the record that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamsError {
    /// A configuration value is missing or not allowed. Raised before any record is processed.
    #[error("invalid configuration `{key}`: {message}")]
    Config {
        /// The configuration key.
        key: String,
        /// What was wrong and what is allowed.
        message: String,
    },
    /// The topology is malformed. Raised when it is built or when the application starts.
    #[error("invalid topology: {0}")]
    Topology(String),
    /// A record could not be deserialized and the handler chose to fail.
    #[error("deserialization failed for the record at {position}: {source}")]
    Deserialization {
        /// The record's source coordinates.
        position: SourcePosition,
        /// The serde's explanation.
        #[source]
        source: SerdeError,
    },
    /// A record's timestamp is not valid (negative) and the handler chose to fail.
    #[error("invalid timestamp {timestamp} on the record at {position}: timestamps must be >= 0")]
    InvalidTimestamp {
        /// The record's source coordinates.
        position: SourcePosition,
        /// The timestamp the extractor returned.
        timestamp: i64,
    },
    /// A processor failed on a record and the handler chose to fail.
    #[error("processing failed in node `{node}` for the record at {position}: {message}")]
    Processing {
        /// The node that failed.
        node: String,
        /// The record's source coordinates (empty topic for punctuations).
        position: SourcePosition,
        /// What the processor reported.
        message: String,
    },
    /// A record could not be serialized or delivered to its output topic and the handler
    /// chose to fail.
    #[error("production to topic `{topic}` failed: {message}")]
    Production {
        /// The destination topic.
        topic: String,
        /// What went wrong.
        message: String,
    },
    /// A state store failed.
    #[error("state store `{store}`: {message}")]
    Store {
        /// The store's name.
        store: String,
        /// What went wrong.
        message: String,
    },
    /// A record's dead-letter record could not be written (too large for the producer, say);
    /// the application stops rather than lose the record.
    #[error(
        "writing the dead-letter record of the record at {position} to topic `{topic}` failed: {message}"
    )]
    DeadLetter {
        /// Where the failed record came from.
        position: SourcePosition,
        /// The dead-letter topic.
        topic: String,
        /// Why the write failed.
        message: String,
    },
    /// A state store's files are corrupt or incomplete (a truncated or damaged SST file, a
    /// garbage `CURRENT`, a missing `MANIFEST`). The changelog is the source of truth: the
    /// runtime moves the task's state aside and restores it.
    #[error("state store `{store}` is corrupt: {message}")]
    StoreCorrupted {
        /// The store's name.
        store: String,
        /// What RocksDB reported.
        message: String,
    },
    /// The Kafka client reported an error that the runtime could not recover from.
    #[error("kafka: {context}: {source}")]
    Kafka {
        /// What the runtime was doing.
        context: String,
        /// The client error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The cluster refused the client's credentials or its TLS handshake (a wrong password or
    /// mechanism, an untrusted or missing certificate). Fatal: the security settings must be
    /// fixed. The message never contains a secret.
    #[error("authentication failed: {message}")]
    Authentication {
        /// What the client reported, and what to check.
        message: String,
    },
    /// The principal lacks an ACL the application needs. Fatal: grant it and restart.
    #[error("not authorized to {operation} {resource}: {message}")]
    Authorization {
        /// The operation refused, in Kafka's terms (`describe`, `read`, `write`, ...).
        operation: String,
        /// The resource: `topic <name>`, `group <id>`, `transactional id <id>`, `the cluster`.
        resource: String,
        /// What the broker said, and what to grant.
        message: String,
    },
    /// A task lost ownership of its partitions (rebalance or fencing): rejoin, do not commit.
    #[error("task {task} migrated: {message}")]
    TaskMigrated {
        /// The task id.
        task: String,
        /// Why.
        message: String,
    },
    /// Under exactly-once, the open transaction could not commit (an abortable error or a
    /// commit timeout): the thread aborts it and rewinds its tasks to the last commit.
    #[error("transaction aborted: {message}")]
    TransactionAborted {
        /// Why.
        message: String,
    },
    /// Another thread or process on this machine has the task's state open; the runtime
    /// retries creating the task until it is released.
    #[error("the state of task {task} is locked by another thread or process ({path})")]
    TaskLocked {
        /// The task id.
        task: String,
        /// The lock file.
        path: String,
    },
    /// A local I/O failure (state directory, store files, lock).
    #[error("i/o: {context}: {source}")]
    Io {
        /// What the runtime was doing.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The application is not in a state that allows the call.
    #[error("illegal state: {0}")]
    IllegalState(String),
    /// Another client of the application (or this one) asked every instance to shut down:
    /// its uncaught-exception handler answered
    /// [`StreamThreadExceptionResponse::ShutdownApplication`](crate::StreamThreadExceptionResponse::ShutdownApplication).
    #[error("the application was shut down at the request of client `{requested_by}`: {reason}")]
    ApplicationShutdown {
        /// The client id of the instance that asked.
        requested_by: String,
        /// The error that made it ask.
        reason: String,
    },
    /// An interactive query cannot be answered now (see [`Unavailable`] for the reasons);
    /// retriable unless the client is shutting down or failed: [`StreamsError::is_retriable`].
    ///
    #[error("state store `{store}` cannot be queried now: {reason}")]
    StoreUnavailable {
        /// The store's name.
        store: String,
        /// Why, and what to do.
        reason: Unavailable,
    },
    /// An interactive query asks for something that does not exist: a store name the
    /// topology lacks, a view of the wrong kind or types, a store kind that cannot be
    /// queried. Not retriable.
    #[error("state store `{store}` cannot be queried: {message}")]
    InvalidStoreQuery {
        /// The store's name.
        store: String,
        /// What was wrong and what is allowed.
        message: String,
    },
}

impl StreamsError {
    /// Whether the same call may succeed later without any change: an interactive query
    /// during a rebalance or a restoration ([`StreamsError::StoreUnavailable`], unless the
    /// client is shutting down or failed).
    pub fn is_retriable(&self) -> bool {
        match self {
            StreamsError::StoreUnavailable { reason, .. } => reason.is_retriable(),
            _ => false,
        }
    }

    pub(crate) fn config(key: &str, message: impl Into<String>) -> Self {
        StreamsError::Config {
            key: key.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn kafka(context: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        StreamsError::Kafka {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StreamsError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result type of the library.
pub type Result<T, E = StreamsError> = std::result::Result<T, E>;

/// The message of a caught panic (`panic!` with a literal or a formatted message).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Why a store cannot answer now. Every reason but a client that is shutting down or has
/// failed ([`Unavailable::NotRunning`] in a state after `Running`) passes: retry after a
/// short wait (or, for [`Unavailable::NotHosted`] and [`Unavailable::Migrated`], ask the
/// instance that hosts the key now).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// The client is not running (created, shutting down, stopped or failed).
    NotRunning(crate::client_state::State),
    /// The client is rebalancing and has no partition of the store yet.
    Rebalancing,
    /// The partitions hosted here are still restoring from their changelogs.
    Restoring {
        /// The partitions restoring.
        partitions: Vec<i32>,
    },
    /// This instance hosts no partition of the store (or not the one asked for).
    NotHosted {
        /// The partition asked for, if one.
        partition: Option<i32>,
    },
    /// Where the partitions are could not be read from the broker (the group's member
    /// descriptions, or a topic's metadata).
    NoMetadata {
        /// What failed.
        message: String,
    },
    /// The partition was closed or moved to another instance while it was being read.
    Migrated {
        /// The partition.
        partition: i32,
    },
}

impl Unavailable {
    /// Whether the same query may succeed later: false only for a client that is shutting
    /// down, stopped or failed.
    pub fn is_retriable(&self) -> bool {
        !matches!(
            self,
            Unavailable::NotRunning(
                crate::client_state::State::PendingShutdown
                    | crate::client_state::State::NotRunning
                    | crate::client_state::State::PendingError
                    | crate::client_state::State::Error
            )
        )
    }
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::NotRunning(state) => write!(
                f,
                "the client is {state:?}, not running; queries are answered while it is Running or Rebalancing"
            ),
            Unavailable::Rebalancing => write!(
                f,
                "the client is rebalancing and hosts no partition of the store yet; retry shortly"
            ),
            Unavailable::Restoring { partitions } => write!(
                f,
                "partitions {partitions:?} are restoring from the changelog; retry once restored, or allow stale stores"
            ),
            Unavailable::NotHosted { partition: Some(p) } => write!(
                f,
                "partition {p} is not hosted by this instance (it may have moved); ask the instance that hosts it"
            ),
            Unavailable::NotHosted { partition: None } => write!(
                f,
                "this instance hosts no partition of the store (they may have moved); ask the instance that hosts them"
            ),
            Unavailable::NoMetadata { message } => write!(
                f,
                "where the partitions are could not be read from the broker ({message}); retry shortly"
            ),
            Unavailable::Migrated { partition } => write!(
                f,
                "partition {partition} was closed or moved to another instance while being read; query again"
            ),
        }
    }
}
