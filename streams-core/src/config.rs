//! `StreamsConfig`: the settings of an application, checked before anything runs.
//!
//! Settings use Kafka Streams' names and defaults. They can be given as typed builder calls or
//! as `key = value` strings ([`StreamsConfig::set`]), which is how files and command lines
//! arrive. Any other key is passed to the Kafka clients (librdkafka names): unprefixed to all
//! clients, or with `consumer.`, `producer.` or `admin.` to one. An invalid value is refused
//! at once, with the allowed values in the message; unknown client settings are refused when
//! [`KafkaStreams::new`](crate::KafkaStreams::new) creates the clients, before any record is
//! read.
//!
//! ```
//! use streams_core::StreamsConfig;
//!
//! let config = StreamsConfig::new("word-count", "localhost:9092")
//!     .set("num.stream.threads", "2")?
//!     .set("commit.interval.ms", "1000")?
//!     .set("consumer.fetch.wait.max.ms", "50")?;
//! assert_eq!(config.num_stream_threads(), 2);
//!
//! let err = StreamsConfig::new("app", "localhost:9092").set("num.stream.threads", "0").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid configuration `num.stream.threads`: must be a whole number from 1 to 64, got \"0\""
//! );
//! # Ok::<(), streams_core::StreamsError>(())
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Result, StreamsError};
use crate::handlers::{ErrorHandler, LogAndContinue, LogAndFail, SendToDeadLetterQueue};
use crate::timestamp::{
    FailOnInvalidTimestamp, LogAndSkipOnInvalidTimestamp, TimestampExtractor,
    UsePartitionTimeOnInvalidTimestamp, WallclockTimestampExtractor,
};

/// Delivery guarantee of the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessingGuarantee {
    /// Every record is processed at least once; after a crash, records processed since the
    /// last commit are processed again.
    AtLeastOnce,
    /// `exactly_once_v2`: each stream thread writes its output, its changelog records and
    /// its consumed offsets in one Kafka transaction per commit; consumers read committed
    /// data only. Stores apply a commit's writes only after its transaction committed.
    ExactlyOnceV2,
}

/// The default `commit.interval.ms` under at-least-once (Kafka Streams' value).
const ALOS_COMMIT_INTERVAL: Duration = Duration::from_millis(30_000);

/// The default `commit.interval.ms` under exactly-once (Kafka Streams' value).
const EOS_COMMIT_INTERVAL: Duration = Duration::from_millis(100);

/// The default producer `transaction.timeout.ms` under exactly-once (Kafka Streams' value).
pub(crate) const EOS_TRANSACTION_TIMEOUT_MS: u64 = 10_000;

/// Which Kafka client a pass-through setting is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Every client.
    All,
    /// The consumers.
    Consumer,
    /// The producers.
    Producer,
    /// The admin client.
    Admin,
}

impl ClientKind {
    /// The prefix that gives a setting to this kind of client alone (`consumer.`, ...).
    pub fn prefix(self) -> &'static str {
        match self {
            ClientKind::All => "",
            ClientKind::Consumer => "consumer.",
            ClientKind::Producer => "producer.",
            ClientKind::Admin => "admin.",
        }
    }
}

/// The configuration of a streams application.
#[derive(Clone)]
pub struct StreamsConfig {
    application_id: String,
    bootstrap_servers: String,
    num_stream_threads: usize,
    /// `None`: the default of the processing guarantee.
    commit_interval: Option<Duration>,
    repartition_purge_interval: Duration,
    uncommitted_max_bytes: usize,
    guarantee: ProcessingGuarantee,
    state_dir: PathBuf,
    poll: Duration,
    buffered_records_per_partition: usize,
    replication_factor: i32,
    extractor: Arc<dyn TimestampExtractor>,
    deserialization_handler: Arc<dyn ErrorHandler>,
    processing_handler: Arc<dyn ErrorHandler>,
    production_handler: Arc<dyn ErrorHandler>,
    handler_names: [&'static str; 3],
    dead_letter_topic: Option<String>,
    /// `errors.dead.letter.queue.oversized`: true for `truncate`, false for `fail`.
    dead_letter_truncate: bool,
    client: Vec<(ClientKind, String, String)>,
    metrics_address: Option<std::net::SocketAddr>,
}

impl fmt::Debug for StreamsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamsConfig")
            .field("application.id", &self.application_id)
            .field("bootstrap.servers", &self.bootstrap_servers)
            .field("num.stream.threads", &self.num_stream_threads)
            .field("commit.interval.ms", &self.commit_interval().as_millis())
            .field("processing.guarantee", &self.guarantee)
            .field("state.dir", &self.state_dir)
            .field("handlers", &self.handler_names)
            .field(
                "errors.dead.letter.queue.topic.name",
                &self.dead_letter_topic,
            )
            .field("client", &self.client)
            .finish()
    }
}

fn parse_ms(key: &str, value: &str, min: u64) -> Result<Duration> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|v| *v >= min)
        .map(Duration::from_millis)
        .ok_or_else(|| {
            StreamsError::config(
                key,
                format!("must be a whole number of milliseconds >= {min}, got {value:?}"),
            )
        })
}

fn handler_by_name(key: &str, value: &str) -> Result<(Arc<dyn ErrorHandler>, &'static str)> {
    match value.trim() {
        "log-and-fail"
        | "LogAndFailExceptionHandler"
        | "LogAndFailProcessingExceptionHandler"
        | "DefaultProductionExceptionHandler" => Ok((Arc::new(LogAndFail), "log-and-fail")),
        "log-and-continue"
        | "LogAndContinueExceptionHandler"
        | "LogAndContinueProcessingExceptionHandler" => {
            Ok((Arc::new(LogAndContinue), "log-and-continue"))
        }
        "dead-letter-queue" => Ok((Arc::new(SendToDeadLetterQueue), "dead-letter-queue")),
        other => Err(StreamsError::config(
            key,
            format!(
                "unknown handler {other:?}; allowed: log-and-fail, log-and-continue, dead-letter-queue"
            ),
        )),
    }
}

impl StreamsConfig {
    /// A configuration with Kafka Streams' defaults: 1 thread, commit every 30 s,
    /// at-least-once, state under `<temp dir>/kstreams`, fail on any bad record.
    pub fn new(application_id: impl Into<String>, bootstrap_servers: impl Into<String>) -> Self {
        StreamsConfig {
            application_id: application_id.into(),
            bootstrap_servers: bootstrap_servers.into(),
            num_stream_threads: 1,
            commit_interval: None,
            uncommitted_max_bytes: 64 << 20,
            repartition_purge_interval: Duration::from_millis(30_000),
            guarantee: ProcessingGuarantee::AtLeastOnce,
            state_dir: std::env::temp_dir().join("kstreams"),
            poll: Duration::from_millis(100),
            buffered_records_per_partition: 1000,
            replication_factor: -1,
            extractor: Arc::new(FailOnInvalidTimestamp),
            deserialization_handler: Arc::new(LogAndFail),
            processing_handler: Arc::new(LogAndFail),
            production_handler: Arc::new(LogAndFail),
            handler_names: ["log-and-fail"; 3],
            dead_letter_topic: None,
            dead_letter_truncate: false,
            client: Vec::new(),
            metrics_address: None,
        }
    }

    /// Sets one setting by its Kafka Streams name; anything unknown is passed to the clients.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        match key {
            "application.id" => {
                check_id(key, value)?;
                self.application_id = value.to_owned();
            }
            "bootstrap.servers" => {
                check_bootstrap(value)?;
                self.bootstrap_servers = value.to_owned();
            }
            "num.stream.threads" => {
                self.num_stream_threads = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or_else(|| {
                        StreamsError::config(
                            key,
                            format!("must be a whole number from 1 to 64, got {value:?}"),
                        )
                    })?;
            }
            "commit.interval.ms" => self.commit_interval = Some(parse_ms(key, value, 0)?),
            "statestore.uncommitted.max.bytes" => {
                self.uncommitted_max_bytes = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        StreamsError::config(
                            key,
                            format!("must be a whole number of bytes >= 1, got {value:?}"),
                        )
                    })?;
            }
            "repartition.purge.interval.ms" => {
                self.repartition_purge_interval = parse_ms(key, value, 0)?
            }
            "poll.ms" => self.poll = parse_ms(key, value, 0)?,
            "processing.guarantee" => {
                self.guarantee = match value.trim() {
                    "at_least_once" => ProcessingGuarantee::AtLeastOnce,
                    "exactly_once_v2" => ProcessingGuarantee::ExactlyOnceV2,
                    "exactly_once" | "exactly_once_beta" => {
                        return Err(StreamsError::config(
                            key,
                            format!(
                                "{value:?} was removed in Kafka Streams 4.0 and is not offered; \
                                 allowed: at_least_once, exactly_once_v2"
                            ),
                        ));
                    }
                    other => {
                        return Err(StreamsError::config(
                            key,
                            format!(
                                "unknown guarantee {other:?}; allowed: at_least_once, exactly_once_v2"
                            ),
                        ));
                    }
                }
            }
            "metrics.prometheus.address" => {
                self.metrics_address = if value.trim().is_empty() {
                    None
                } else {
                    Some(value.trim().parse().map_err(|_| {
                        StreamsError::config(
                            key,
                            format!(
                                "must be host-ip:port, such as 127.0.0.1:9464 or 0.0.0.0:9464 \
                                 (port 0 picks a free one), or empty to switch the endpoint \
                                 off; got {value:?}"
                            ),
                        )
                    })?)
                };
            }
            "state.dir" => {
                if value.trim().is_empty() {
                    return Err(StreamsError::config(key, "must be a directory path"));
                }
                self.state_dir = PathBuf::from(value);
            }
            "buffered.records.per.partition" => {
                self.buffered_records_per_partition = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        StreamsError::config(
                            key,
                            format!("must be a whole number >= 1, got {value:?}"),
                        )
                    })?;
            }
            "replication.factor" => {
                self.replication_factor = value
                    .trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|n| *n == -1 || *n >= 1)
                    .ok_or_else(|| {
                        StreamsError::config(
                            key,
                            format!("must be -1 (broker default) or >= 1, got {value:?}"),
                        )
                    })?;
            }
            "default.timestamp.extractor" => {
                self.extractor = match value.trim() {
                    "FailOnInvalidTimestamp" => Arc::new(FailOnInvalidTimestamp),
                    "LogAndSkipOnInvalidTimestamp" => Arc::new(LogAndSkipOnInvalidTimestamp),
                    "UsePartitionTimeOnInvalidTimestamp" => {
                        Arc::new(UsePartitionTimeOnInvalidTimestamp)
                    }
                    "WallclockTimestampExtractor" => Arc::new(WallclockTimestampExtractor),
                    other => {
                        return Err(StreamsError::config(
                            key,
                            format!(
                                "unknown extractor {other:?}; allowed: FailOnInvalidTimestamp, LogAndSkipOnInvalidTimestamp, \
                                 UsePartitionTimeOnInvalidTimestamp, WallclockTimestampExtractor"
                            ),
                        ));
                    }
                }
            }
            "default.deserialization.exception.handler" | "deserialization.exception.handler" => {
                let (h, name) = handler_by_name(key, value)?;
                self.deserialization_handler = h;
                self.handler_names[0] = name;
            }
            "processing.exception.handler" => {
                let (h, name) = handler_by_name(key, value)?;
                self.processing_handler = h;
                self.handler_names[1] = name;
            }
            "default.production.exception.handler" | "production.exception.handler" => {
                let (h, name) = handler_by_name(key, value)?;
                self.production_handler = h;
                self.handler_names[2] = name;
            }
            "errors.dead.letter.queue.topic.name" => {
                let v = value.trim();
                self.dead_letter_topic = (!v.is_empty()).then(|| v.to_owned());
            }
            "errors.dead.letter.queue.oversized" => {
                self.dead_letter_truncate = match value.trim() {
                    "fail" => false,
                    "truncate" => true,
                    other => {
                        return Err(StreamsError::config(
                            key,
                            format!("unknown value {other:?}; allowed: fail, truncate"),
                        ));
                    }
                };
            }
            "group.id"
            | "enable.auto.commit"
            | "consumer.group.id"
            | "consumer.enable.auto.commit" => {
                return Err(StreamsError::config(
                    key,
                    "is managed by the library (the group id is application.id, offsets are committed by the runtime)",
                ));
            }
            other => {
                let (kind, client_key) = if let Some(k) = other.strip_prefix("consumer.") {
                    (ClientKind::Consumer, k)
                } else if let Some(k) = other.strip_prefix("producer.") {
                    (ClientKind::Producer, k)
                } else if let Some(k) = other.strip_prefix("admin.") {
                    (ClientKind::Admin, k)
                } else {
                    (ClientKind::All, other)
                };
                if client_key.is_empty() {
                    return Err(StreamsError::config(
                        other,
                        "a client setting needs a name after the prefix",
                    ));
                }
                self.client
                    .push((kind, client_key.to_owned(), value.to_owned()));
            }
        }
        Ok(self)
    }

    /// Sets the number of stream threads (1 to 64).
    pub fn with_num_stream_threads(self, threads: usize) -> Result<Self> {
        self.set("num.stream.threads", &threads.to_string())
    }

    /// Sets how often offsets are committed.
    pub fn with_commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = Some(interval);
        self
    }

    /// Sets the processing guarantee.
    pub fn with_processing_guarantee(mut self, guarantee: ProcessingGuarantee) -> Self {
        self.guarantee = guarantee;
        self
    }

    /// Sets the state directory.
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = dir.into();
        self
    }

    /// Uses `extractor` for sources that have none of their own.
    pub fn with_timestamp_extractor(mut self, extractor: impl TimestampExtractor) -> Self {
        self.extractor = Arc::new(extractor);
        self
    }

    /// Uses a custom handler for records that fail to deserialize.
    pub fn with_deserialization_handler(mut self, handler: impl ErrorHandler) -> Self {
        self.deserialization_handler = Arc::new(handler);
        self.handler_names[0] = "custom";
        self
    }

    /// Uses a custom handler for processor errors.
    pub fn with_processing_handler(mut self, handler: impl ErrorHandler) -> Self {
        self.processing_handler = Arc::new(handler);
        self.handler_names[1] = "custom";
        self
    }

    /// Uses a custom handler for serialization and delivery failures.
    pub fn with_production_handler(mut self, handler: impl ErrorHandler) -> Self {
        self.production_handler = Arc::new(handler);
        self.handler_names[2] = "custom";
        self
    }

    /// Checks the combination of settings. Called by the runtime and the test driver.
    pub fn validate(&self) -> Result<()> {
        check_id("application.id", &self.application_id)?;
        check_bootstrap(&self.bootstrap_servers)?;
        self.check_security_settings()?;
        if let Some((_, key, value)) = self.client.iter().find(|(kind, key, value)| {
            matches!(kind, ClientKind::Consumer)
                && key == "partition.assignment.strategy"
                && value.contains("cooperative")
        }) {
            return Err(StreamsError::config(
                &format!("consumer.{key}"),
                format!(
                    "{value:?} asks for cooperative rebalancing, which the stream threads do not \
                     support yet; allowed: range, roundrobin (eager)"
                ),
            ));
        }
        if let Some((kind, _, _)) = self.client.iter().find(|(kind, key, _)| {
            matches!(kind, ClientKind::Producer | ClientKind::All) && key == "transactional.id"
        }) {
            return Err(StreamsError::config(
                if *kind == ClientKind::All {
                    "transactional.id"
                } else {
                    "producer.transactional.id"
                },
                "is managed by the library: processing.guarantee=exactly_once_v2 sets \
                 <application.id>-<process id>-<thread> on each stream thread's producer",
            ));
        }
        if self.guarantee == ProcessingGuarantee::ExactlyOnceV2 {
            self.check_exactly_once_overrides()?;
        }
        if self.handler_names.contains(&"dead-letter-queue") && self.dead_letter_topic.is_none() {
            return Err(StreamsError::config(
                "errors.dead.letter.queue.topic.name",
                "a dead-letter-queue handler is configured, so a dead-letter topic name is required",
            ));
        }
        Ok(())
    }

    /// Security settings (`security.protocol`, `sasl.*`, `ssl.*`) must be the same for the
    /// consumers, the producers and the admin client: they all connect to the same brokers,
    /// and one that cannot authenticate only logs warnings while it retries (a consumer
    /// would rebalance forever). Given under one client prefix only, they are refused here,
    /// naming the key but never its value.
    fn check_security_settings(&self) -> Result<()> {
        fn is_security(key: &str) -> bool {
            key == "security.protocol"
                || ["sasl.", "ssl.", "ssl_", "enable.ssl.", "enable.sasl."]
                    .iter()
                    .any(|p| key.starts_with(p))
        }
        let kinds = [
            (ClientKind::Consumer, "consumer"),
            (ClientKind::Producer, "producer"),
            (ClientKind::Admin, "admin"),
        ];
        for (_, key, _) in self.client.iter().filter(|(_, k, _)| is_security(k)) {
            let effective: Vec<Option<&str>> = kinds
                .iter()
                .map(|(kind, _)| {
                    self.client_settings(*kind)
                        .filter(|(k, _)| k == key)
                        .map(|(_, v)| v)
                        .last()
                })
                .collect();
            if effective.iter().all(|v| *v == effective[0]) {
                continue;
            }
            let set_for: Vec<&str> = kinds
                .iter()
                .zip(&effective)
                .filter(|(_, v)| v.is_some())
                .map(|((_, name), _)| *name)
                .collect();
            let prefixed = self
                .client
                .iter()
                .find(|(kind, k, _)| k == key && *kind != ClientKind::All)
                .map(|(kind, _, _)| kind.prefix())
                .unwrap_or("");
            return Err(StreamsError::config(
                &format!("{prefixed}{key}"),
                format!(
                    "security settings must be the same for every client (the consumers, \
                     producers and admin client connect to the same brokers), but `{key}` \
                     differs between them (set for: {}); set `{key}` without a client prefix",
                    set_for.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// `application.id`: the consumer group id and the prefix of internal topics.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }
    /// `metrics.prometheus.address`: where the Prometheus endpoint listens, if anywhere.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        self.metrics_address
    }
    /// `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }
    /// `num.stream.threads`.
    pub fn num_stream_threads(&self) -> usize {
        self.num_stream_threads
    }
    /// `commit.interval.ms`: 30 s under at-least-once, 100 ms under exactly-once unless set.
    pub fn commit_interval(&self) -> Duration {
        self.commit_interval.unwrap_or(match self.guarantee {
            ProcessingGuarantee::AtLeastOnce => ALOS_COMMIT_INTERVAL,
            ProcessingGuarantee::ExactlyOnceV2 => EOS_COMMIT_INTERVAL,
        })
    }
    /// `statestore.uncommitted.max.bytes`: when the writes a stream thread's stores hold for
    /// the next commit exceed this many bytes (estimated), the thread commits early
    /// (default 64 MiB).
    pub fn uncommitted_max_bytes(&self) -> usize {
        self.uncommitted_max_bytes
    }
    /// True under `exactly_once_v2`.
    pub fn exactly_once(&self) -> bool {
        self.guarantee == ProcessingGuarantee::ExactlyOnceV2
    }
    /// The producer's `transaction.timeout.ms` under exactly-once: the user's setting, else
    /// 10 s.
    pub(crate) fn transaction_timeout_ms(&self) -> u64 {
        self.client_settings(ClientKind::Producer)
            .filter(|(k, _)| *k == "transaction.timeout.ms")
            .filter_map(|(_, v)| v.trim().parse().ok())
            .last()
            .unwrap_or(EOS_TRANSACTION_TIMEOUT_MS)
    }

    /// Refuses client settings that would break exactly-once, naming the setting, the value
    /// exactly-once needs and why.
    fn check_exactly_once_overrides(&self) -> Result<()> {
        let refuse = |kind: ClientKind, key: &str, value: &str, allowed: &str| {
            let prefix = match kind {
                ClientKind::Consumer => "consumer.",
                ClientKind::Producer => "producer.",
                ClientKind::Admin => "admin.",
                ClientKind::All => "",
            };
            Err(StreamsError::config(
                &format!("{prefix}{key}"),
                format!(
                    "{value:?} would break processing.guarantee=exactly_once_v2; allowed: {allowed}"
                ),
            ))
        };
        for (kind, key, value) in &self.client {
            let v = value.trim();
            let producer = matches!(kind, ClientKind::Producer | ClientKind::All);
            let consumer = matches!(kind, ClientKind::Consumer | ClientKind::All);
            match key.as_str() {
                "enable.idempotence" if producer && v != "true" => {
                    return refuse(*kind, key, v, "true");
                }
                "acks" | "request.required.acks" if producer && !matches!(v, "all" | "-1") => {
                    return refuse(*kind, key, v, "all, -1");
                }
                "max.in.flight.requests.per.connection" | "max.in.flight"
                    if producer && !matches!(v.parse::<u32>(), Ok(1..=5)) =>
                {
                    return refuse(*kind, key, v, "1 to 5");
                }
                "isolation.level" if consumer && v != "read_committed" => {
                    return refuse(*kind, key, v, "read_committed");
                }
                "transaction.timeout.ms" if producer => {
                    let interval = self.commit_interval().as_millis();
                    if !v.parse::<u128>().is_ok_and(|t| t > interval) {
                        return refuse(
                            *kind,
                            key,
                            v,
                            &format!(
                                "a whole number of milliseconds above commit.interval.ms ({interval})"
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
    /// `repartition.purge.interval.ms`: how often a stream thread deletes the records of
    /// repartition topics below its committed offsets (default 30 s).
    pub fn repartition_purge_interval(&self) -> Duration {
        self.repartition_purge_interval
    }
    /// `processing.guarantee`.
    pub fn processing_guarantee(&self) -> ProcessingGuarantee {
        self.guarantee
    }
    /// `state.dir`.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.state_dir
    }
    /// `poll.ms`: the longest a stream thread blocks waiting for records.
    pub fn poll_interval(&self) -> Duration {
        self.poll
    }
    /// `buffered.records.per.partition`: a partition is paused when its queue holds more.
    pub fn buffered_records_per_partition(&self) -> usize {
        self.buffered_records_per_partition
    }
    /// `replication.factor` for internal topics (-1: the broker's default).
    pub fn replication_factor(&self) -> i32 {
        self.replication_factor
    }
    /// `errors.dead.letter.queue.topic.name`.
    pub fn dead_letter_topic(&self) -> Option<&str> {
        self.dead_letter_topic.as_deref()
    }
    /// The pass-through client settings for `kind` (including those for all clients), in the
    /// order they were set.
    pub fn client_settings(&self, kind: ClientKind) -> impl Iterator<Item = (&str, &str)> {
        self.client
            .iter()
            .filter(move |(k, _, _)| *k == ClientKind::All || *k == kind)
            .map(|(_, k, v)| (k.as_str(), v.as_str()))
    }

    pub(crate) fn task_settings(&self) -> crate::context::TaskSettings {
        crate::context::TaskSettings {
            deserialization: self.deserialization_handler.clone(),
            processing: self.processing_handler.clone(),
            production: self.production_handler.clone(),
            dead_letter_topic: self.dead_letter_topic.as_deref().map(Arc::from),
            dead_letter_max_bytes: self.dead_letter_truncate.then(|| {
                self.client_settings(ClientKind::Producer)
                    .filter(|(k, _)| *k == "message.max.bytes")
                    .filter_map(|(_, v)| v.trim().parse::<usize>().ok())
                    .last()
                    .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES)
            }),
            extractor: self.extractor.clone(),
            max_buffered_per_partition: self.buffered_records_per_partition,
        }
    }
}

/// librdkafka's default `message.max.bytes`: the largest record the producer sends.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// Checks `bootstrap.servers`: a list of `host:port` (separated by commas or spaces), each
/// optionally prefixed with its protocol as librdkafka allows (`SASL_SSL://host:port`), an
/// IPv6 host in brackets. librdkafka itself reads a port past 65535 modulo 65536 and a
/// missing one as 9092, so both are refused here, as Kafka's Java clients refuse them.
fn check_bootstrap(value: &str) -> Result<()> {
    let bad = |message: String| Err(StreamsError::config("bootstrap.servers", message));
    let entries: Vec<&str> = value.split([',', ' ']).filter(|s| !s.is_empty()).collect();
    if entries.is_empty() {
        return bad("must list at least one host:port".into());
    }
    for entry in entries {
        let address = match entry.split_once("://") {
            Some((protocol, rest))
                if ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]
                    .contains(&protocol.to_ascii_lowercase().as_str()) =>
            {
                rest
            }
            Some((protocol, _)) => {
                return bad(format!(
                    "{entry:?}: unknown protocol {protocol:?}; allowed: PLAINTEXT, SSL, \
                     SASL_PLAINTEXT, SASL_SSL"
                ));
            }
            None => entry,
        };
        let Some((host, port)) = address.rsplit_once(':') else {
            return bad(format!("{entry:?} is not host:port (the port is required)"));
        };
        let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
        let plain = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !(bracketed || plain) {
            return bad(format!(
                "{entry:?}: invalid host {host:?} (a name, an IPv4 address, or an IPv6 address \
                 in brackets)"
            ));
        }
        if !matches!(port.parse::<u32>(), Ok(1..=65535)) {
            return bad(format!(
                "{entry:?}: the port must be 1 to 65535, got {port:?}"
            ));
        }
    }
    Ok(())
}

fn check_id(key: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 200
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(StreamsError::config(
            key,
            format!(
                "{value:?} is not allowed; use 1 to 200 characters from [a-zA-Z0-9._-] (it prefixes topic names)"
            ),
        ))
    }
}
