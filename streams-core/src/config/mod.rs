//! `StreamsConfig`: the settings of an application, checked before anything runs.
//!
//! Settings use Kafka Streams' names and defaults. They can be given as typed builder calls or
//! as `key = value` strings ([`StreamsConfig::set`]), which is how files and command lines
//! arrive. Any other key is passed to the Kafka clients (librdkafka names): unprefixed to all
//! clients, or with `consumer.`, `producer.` or `admin.` to one. An invalid value is refused
//! at once, with the allowed values in the message; so is a Kafka Streams setting this
//! library does not offer (with the reason) and a key that is neither one it takes nor a
//! librdkafka setting (named without its value, with the settings it takes:
//! [`STREAMS_SETTINGS`]). The values of secret settings ([`is_secret_setting`]) print as
//! `[redacted]` in `Debug` and appear in no error.
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
//!
//! The module is split by job: this file holds [`StreamsConfig`] with its builder calls and
//! getters, `set` reads `key = value` settings, `validate` checks them and their combination,
//! `client` holds the settings passed through to the Kafka clients, and `secrets` the list of
//! secret settings whose values never appear in `Debug` output, errors or logs.

mod client;
mod keys;
mod oauth;
mod secrets;
mod set;
mod validate;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use self::client::ClientKind;
pub use self::keys::STREAMS_SETTINGS;
pub(crate) use self::keys::unknown_setting;
pub use self::oauth::{OAuthToken, OAuthTokenProvider};
pub(crate) use self::oauth::{SharedTokenProvider, refresh_token};
pub(crate) use self::secrets::{Redacted, scrub};
pub use self::secrets::{SECRET_SETTINGS, is_secret_setting};
use crate::error::Result;
use crate::handlers::{ErrorHandler, LogAndFail};
use crate::timestamp::{FailOnInvalidTimestamp, TimestampExtractor};

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

/// The configuration of a streams application.
#[derive(Clone)]
pub struct StreamsConfig {
    application_id: String,
    bootstrap_servers: String,
    num_stream_threads: usize,
    num_standby_replicas: usize,
    /// `None`: the default of the processing guarantee.
    commit_interval: Option<Duration>,
    repartition_purge_interval: Duration,
    uncommitted_max_bytes: usize,
    guarantee: ProcessingGuarantee,
    state_dir: PathBuf,
    poll: Duration,
    buffered_records_per_partition: usize,
    replication_factor: i32,
    /// `topic.*`: configs of the internal topics the library creates.
    topic_configs: Vec<(String, String)>,
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
    /// `application.server`: where this instance answers queries.
    application_server: Option<crate::query::HostInfo>,
    /// `group.instance.id`: static membership; thread `n` (from 1) uses `<id>-<n>`.
    group_instance_id: Option<String>,
    /// `group.protocol=consumer`: the consumer rebalance protocol (KIP-848).
    consumer_protocol: bool,
    oauth_token_provider: oauth::SharedTokenProvider,
}

impl fmt::Debug for StreamsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamsConfig")
            .field("application.id", &self.application_id)
            .field("bootstrap.servers", &self.bootstrap_servers)
            .field("num.stream.threads", &self.num_stream_threads)
            .field("num.standby.replicas", &self.num_standby_replicas)
            .field("commit.interval.ms", &self.commit_interval().as_millis())
            .field("processing.guarantee", &self.guarantee)
            .field("state.dir", &self.state_dir)
            .field("group.instance.id", &self.group_instance_id)
            .field("consumer_protocol", &self.consumer_protocol)
            .field("handlers", &self.handler_names)
            .field(
                "errors.dead.letter.queue.topic.name",
                &self.dead_letter_topic,
            )
            .field("client", &ClientSettings(&self.client))
            .field(
                "oauth.token.provider",
                &self.oauth_token_provider.as_ref().map(|_| "set"),
            )
            .finish()
    }
}

/// The pass-through client settings in `Debug`: `{"consumer.fetch.wait.max.ms": "50",
/// "sasl.password": [redacted]}`, secret values redacted.
struct ClientSettings<'a>(&'a [(ClientKind, String, String)]);

impl fmt::Debug for ClientSettings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (kind, key, value) in self.0 {
            let key = format!("{}{key}", kind.prefix());
            map.entry(&key, &Redacted { key: &key, value });
        }
        map.finish()
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
            num_standby_replicas: 0,
            commit_interval: None,
            uncommitted_max_bytes: 64 << 20,
            repartition_purge_interval: Duration::from_millis(30_000),
            guarantee: ProcessingGuarantee::AtLeastOnce,
            state_dir: std::env::temp_dir().join("kstreams"),
            poll: Duration::from_millis(100),
            buffered_records_per_partition: 1000,
            replication_factor: -1,
            topic_configs: Vec::new(),
            extractor: Arc::new(FailOnInvalidTimestamp),
            deserialization_handler: Arc::new(LogAndFail),
            processing_handler: Arc::new(LogAndFail),
            production_handler: Arc::new(LogAndFail),
            handler_names: ["log-and-fail"; 3],
            dead_letter_topic: None,
            dead_letter_truncate: false,
            client: Vec::new(),
            metrics_address: None,
            application_server: None,
            group_instance_id: None,
            consumer_protocol: false,
            oauth_token_provider: None,
        }
    }

    /// Makes every Kafka client of the application take its SASL/OAUTHBEARER tokens from
    /// `provider` (with `sasl.mechanism=OAUTHBEARER` and `sasl.oauthbearer.method` left at
    /// `default`): how to reach identity systems librdkafka cannot ask itself, such as Amazon
    /// MSK's IAM authentication. See [`OAuthTokenProvider`].
    pub fn with_oauth_token_provider(mut self, provider: impl OAuthTokenProvider) -> Self {
        self.oauth_token_provider = Some(Arc::new(provider));
        self
    }

    /// The provider of [`Self::with_oauth_token_provider`], for the client contexts.
    pub(crate) fn oauth_token_provider(&self) -> oauth::SharedTokenProvider {
        self.oauth_token_provider.clone()
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
    ///
    /// Unlike Kafka Streams', whose extractor is handed the deserialized record, ours sees
    /// the record's bytes ([`RawRecord`](crate::record::RawRecord)) before the source's
    /// serde runs: an event time inside a JSON or Avro value is parsed there and again by the
    /// serde. Keep the extractor's parse narrow (read the one field, not the whole value), or
    /// have the producers set the record timestamp to the event time, which the default
    /// extractor reads for free.
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
    /// `application.id`: the consumer group id and the prefix of internal topics.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }
    /// `metrics.prometheus.address`: where the Prometheus endpoint listens, if anywhere.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        self.metrics_address
    }
    /// `application.server`: the `host:port` where this instance answers interactive queries,
    /// published to the other instances of the application (see
    /// [`KafkaStreams::query_metadata_for_key`](crate::KafkaStreams::query_metadata_for_key)).
    ///
    /// ```
    /// use streams_core::StreamsConfig;
    ///
    /// let config = StreamsConfig::new("fraud", "localhost:9092").set("application.server", "fraud-0.fraud:8080")?;
    /// assert_eq!(config.application_server().map(|h| h.port), Some(8080));
    /// let err = StreamsConfig::new("fraud", "localhost:9092").set("application.server", "fraud-0");
    /// assert!(err.unwrap_err().to_string().contains("must be host:port, where other instances reach this one's queries (such as"));
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn application_server(&self) -> Option<&crate::query::HostInfo> {
        self.application_server.as_ref()
    }
    /// `group.protocol`: `classic` (the default: eager rebalances with the range assignment)
    /// or `consumer` (KIP-848: the broker assigns with its range assignor and only the
    /// partitions that move are revoked). True for `consumer`.
    ///
    /// ```
    /// use streams_core::StreamsConfig;
    /// let config = StreamsConfig::new("app", "localhost:9092").set("group.protocol", "consumer")?;
    /// assert!(config.uses_consumer_protocol());
    /// let err = StreamsConfig::new("app", "localhost:9092").set("group.protocol", "streams").unwrap_err();
    /// assert!(err.to_string().contains("allowed: classic, consumer"));
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn uses_consumer_protocol(&self) -> bool {
        self.consumer_protocol
    }
    /// `group.instance.id`: makes every stream thread's consumer a static member of the
    /// group (KIP-345), as in Kafka Streams: thread `n` (counted from 1) joins as
    /// `<group.instance.id>-<n>`. An instance that restarts with the same id (and the same
    /// number of threads) within the consumer's `session.timeout.ms` (45 s by default) gets
    /// its partitions back without a rebalance, and [`KafkaStreams::close`] does not leave
    /// the group ([`CloseOptions::leave_group`] does). Each instance needs its own id, stable
    /// across restarts: a pod name of a StatefulSet, a host name. `None` (the default):
    /// dynamic membership, where every start and stop rebalances the group.
    ///
    /// ```
    /// use streams_core::StreamsConfig;
    ///
    /// let config = StreamsConfig::new("fraud", "localhost:9092").set("group.instance.id", "fraud-0")?;
    /// assert_eq!(config.group_instance_id(), Some("fraud-0"));
    /// let err = StreamsConfig::new("fraud", "localhost:9092").set("group.instance.id", "fraud 0");
    /// assert!(err.unwrap_err().to_string().contains("[a-zA-Z0-9._-]"));
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    ///
    /// [`KafkaStreams::close`]: crate::KafkaStreams::close
    /// [`CloseOptions::leave_group`]: crate::CloseOptions::leave_group
    pub fn group_instance_id(&self) -> Option<&str> {
        self.group_instance_id.as_deref()
    }
    /// The `group.instance.id` of stream thread `index` (from 0): `<id>-<index + 1>`.
    pub(crate) fn thread_instance_id(&self, index: usize) -> Option<String> {
        self.group_instance_id
            .as_ref()
            .map(|id| format!("{id}-{}", index + 1))
    }
    /// `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }
    /// `num.stream.threads`.
    pub fn num_stream_threads(&self) -> usize {
        self.num_stream_threads
    }
    /// `num.standby.replicas`: warm copies kept of each task on other instances (default 0;
    /// `docs/architecture.md`, "Standby replicas").
    ///
    /// ```
    /// use streams_core::StreamsConfig;
    /// let config = StreamsConfig::new("app", "localhost:9092").set("num.standby.replicas", "1")?;
    /// assert_eq!(config.num_standby_replicas(), 1);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn num_standby_replicas(&self) -> usize {
        self.num_standby_replicas
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
    /// The `topic.*` settings, without the prefix: topic configs (`min.insync.replicas`,
    /// `segment.bytes`, ...) for every changelog and repartition topic the library creates,
    /// over the library's own defaults, as in Kafka Streams.
    pub fn internal_topic_configs(&self) -> &[(String, String)] {
        &self.topic_configs
    }
    /// `errors.dead.letter.queue.topic.name`.
    pub fn dead_letter_topic(&self) -> Option<&str> {
        self.dead_letter_topic.as_deref()
    }

    pub(crate) fn task_settings(&self) -> crate::context::TaskSettings {
        crate::context::TaskSettings {
            deserialization: self.deserialization_handler.clone(),
            processing: self.processing_handler.clone(),
            production: self.production_handler.clone(),
            dead_letter_topic: self.dead_letter_topic.as_deref().map(Arc::from),
            dead_letter_max_bytes: self.dead_letter_truncate.then(|| self.message_max_bytes()),
            extractor: self.extractor.clone(),
            max_buffered_per_partition: self.buffered_records_per_partition,
        }
    }
}
