//! `KafkaStreams`: runs a topology on Kafka with N stream threads.
//!
//! Each stream thread has its own consumer (in the group `application.id`) and producer, and
//! loops: poll -> route records to the tasks of its partitions -> process (per task, the
//! buffered record with the lowest timestamp first) -> punctuate -> commit every
//! `commit.interval.ms`. Partitions are assigned with Kafka's range strategy, which puts the
//! same partition number of co-partitioned topics on the same thread; [`KafkaStreams::start`]
//! refuses topics whose partition counts differ within a sub-topology.
//!
//! At-least-once: a commit flushes the stores and the producer, checks that every output was
//! delivered, then commits the offsets of the records fully processed. On revocation the
//! thread commits what it processed before giving the partitions up; on a lost assignment it
//! commits nothing. A partition whose task buffer is full is paused until it drains.
//!
//! Stores whose builder asks for a changelog get the topic `<application.id>-<store>-changelog`,
//! created at start with one partition per task and the builder's configuration (compacted for
//! key-value stores), replication factor `replication.factor` (-1: the broker's default).

mod changelog_reader;
mod client_supplier;
mod control;
mod deferred;
mod deliveries;
mod fetch;
mod global;
mod input_flow;
mod kafka_errors;
mod producer;
mod rebalance;
mod record_collector;
mod repartition_purger;
mod shared;
mod task_manager;
mod thread;
mod thread_metrics;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

pub use control::{State, StateListener};

use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::topology::Topology;
use control::ClientControl;
use thread::{StreamThread, ThreadParams};

/// A running (or runnable) streams application: threads, tasks, commits and restoration.
pub struct KafkaStreams {
    topology: Arc<Topology>,
    config: StreamsConfig,
    control: Arc<ClientControl>,
    threads: Vec<JoinHandle<()>>,
    /// The thread keeping the global stores up to date, if there are any.
    global: Option<JoinHandle<()>>,
    client_id: String,
    restore_listener: Option<Arc<dyn crate::store::RestoreListener>>,
    /// Held while running under exactly-once: the lock on the process id file.
    process_lock: Option<std::fs::File>,
    /// Held from `new` to `close`: this instance's claim on `<state.dir>/<application.id>`
    /// (the file `<state.dir>/<application.id>.lock`).
    state_lock: Option<std::fs::File>,
    /// The Prometheus endpoint, when `metrics.prometheus.address` is set.
    metrics_server: Option<crate::metrics::MetricsServer>,
}

impl std::fmt::Debug for KafkaStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStreams")
            .field("client_id", &self.client_id)
            .field("state", &self.state())
            .finish()
    }
}

impl KafkaStreams {
    /// Checks the configuration and the client settings (by creating the clients once), so
    /// that mistakes surface here, before anything runs.
    pub fn new(topology: Topology, config: StreamsConfig) -> Result<Self> {
        config.validate()?;
        if topology.source_topics().is_empty() {
            return Err(StreamsError::Topology(
                "the topology has no source; add at least one".into(),
            ));
        }
        let client_id = format!(
            "{}-{:08x}",
            config.application_id(),
            std::process::id() ^ (crate::timestamp::now_ms() as u32)
        );
        // Creating the clients validates every pass-through setting.
        drop(producer::StreamsProducer::new(&producer::ProducerSpec {
            config: config.clone(),
            client_id: client_id.clone(),
            changelogs: Default::default(),
            transactional_id: None,
            metrics: None,
        })?);
        drop(client_supplier::create_consumer(
            &config,
            &client_id,
            rdkafka::consumer::DefaultConsumerContext,
        )?);
        // One instance per state directory, as Kafka Streams: a second one on the same
        // directory would share (and contend for) the same tasks' stores.
        let state_lock = if topology.has_persistent_stores() {
            Some(lock_state_dir(&config)?)
        } else {
            None
        };
        let mut topology = topology;
        topology.bind_application(config.application_id());
        Ok(KafkaStreams {
            topology: Arc::new(topology),
            config,
            control: Arc::new(ClientControl::new()),
            threads: Vec::new(),
            global: None,
            client_id,
            restore_listener: None,
            process_lock: None,
            state_lock,
            metrics_server: None,
        })
    }

    /// Pauses processing (Kafka Streams' `pause()`): the threads stay in the group, keep
    /// polling until their buffers are full, and commit, but process no record and fire no
    /// punctuation until [`Self::resume`]. Input lag grows meanwhile.
    pub fn pause(&self) {
        self.control
            .paused
            .store(true, std::sync::atomic::Ordering::Release);
        tracing::info!(client = %self.client_id, "processing paused");
    }

    /// Resumes processing after [`Self::pause`].
    pub fn resume(&self) {
        self.control
            .paused
            .store(false, std::sync::atomic::Ordering::Release);
        tracing::info!(client = %self.client_id, "processing resumed");
    }

    /// Whether processing is paused.
    pub fn is_paused(&self) -> bool {
        self.control
            .paused
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The client's metrics now: per stream thread, task and input partition (see
    /// [`crate::metrics`] for the names). The Prometheus endpoint serves the same numbers.
    pub fn metrics(&self) -> crate::metrics::MetricsSnapshot {
        self.control.metrics_snapshot()
    }

    /// Where the Prometheus endpoint listens (with the port chosen when the configured one
    /// was 0), once started; `None` when `metrics.prometheus.address` is not set.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        self.metrics_server
            .as_ref()
            .map(crate::metrics::MetricsServer::address)
    }

    /// Registers a listener called with `(new, old)` on every state change.
    pub fn set_state_listener(&self, listener: impl Fn(State, State) + Send + Sync + 'static) {
        self.control.set_listener(Arc::new(listener));
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.control.state()
    }

    /// The error that stopped the client, if it is in (or entering) `Error`.
    pub fn error(&self) -> Option<String> {
        self.control.error_message()
    }

    /// Changelog offsets still to restore across all restoring tasks (Kafka Streams'
    /// `restore-remaining-records-total`; offsets, so compacted gaps count until passed).
    pub fn restore_remaining_records(&self) -> i64 {
        self.control.remaining()
    }

    /// Calls `listener` as stores restore from their changelogs. Set it before `start`.
    pub fn set_restore_listener(&mut self, listener: impl crate::store::RestoreListener) {
        self.restore_listener = Some(Arc::new(listener));
    }

    /// Changelog records restored into stores since the client started, across its threads
    /// (counted when a task finishes restoring).
    pub fn restored_records(&self) -> u64 {
        self.control.restored()
    }

    /// Waits until the client reaches `state`; false if `timeout` passed first.
    pub fn wait_for_state(&self, state: State, timeout: Duration) -> bool {
        self.control.wait_for(state, timeout)
    }

    /// Deletes this application's local state (`<state.dir>/<application.id>`: every task's
    /// stores), as Kafka Streams' `cleanUp()`: the next start restores everything from the
    /// changelogs. Allowed before [`Self::start`] or after [`Self::close`] only.
    ///
    /// ```no_run
    /// # use streams_core::{KafkaStreams, StreamsConfig, Topology};
    /// # fn topology() -> Topology { Topology::new() }
    /// let mut streams = KafkaStreams::new(topology(), StreamsConfig::new("app", "localhost:9092"))?;
    /// streams.clean_up()?; // a reset: start from the changelogs
    /// streams.start()?;
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn clean_up(&self) -> Result<()> {
        let state = self.control.state();
        if !matches!(state, State::Created | State::NotRunning) {
            return Err(StreamsError::IllegalState(format!(
                "clean_up() is allowed before start() or after close(), not while {state:?}"
            )));
        }
        let dir = self.config.state_dir().join(self.config.application_id());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            // The process id that fences this instance's zombies.
            if name == PROCESS_ID_FILE {
                continue;
            }
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| StreamsError::io(format!("deleting {}", path.display()), e))?;
        }
        tracing::info!(dir = %dir.display(), "local state deleted");
        Ok(())
    }

    /// Checks the source topics (they must exist, and co-partitioned ones must have equal
    /// partition counts), creates missing changelog topics (refusing existing ones with the
    /// wrong partition count), then starts the stream threads.
    pub fn start(&mut self) -> Result<()> {
        if self.control.state() != State::Created {
            return Err(StreamsError::IllegalState(format!(
                "start() needs state Created, the client is {:?}",
                self.state()
            )));
        }
        if let Some(address) = self.config.metrics_address() {
            let control = self.control.clone();
            self.metrics_server = Some(crate::metrics::MetricsServer::start(address, move || {
                control.metrics_snapshot()
            })?);
        }
        let subtopologies = Arc::new(self.topology.subtopologies());
        self.prepare_topics(&subtopologies)?;
        let globals = self.topology.global_stores().to_vec();
        if !globals.is_empty() {
            // Global tables are complete before any record is processed.
            let consumer = global::bootstrap(&self.config, &self.client_id, &globals)?;
            let control = self.control.clone();
            self.global = Some(
                std::thread::Builder::new()
                    .name(format!("{}-GlobalStreamThread", self.client_id))
                    .spawn(move || global::run(consumer, globals, control))
                    .map_err(|e| StreamsError::io("spawning the global thread", e))?,
            );
        }
        let process_id: Arc<str> = if self.config.exactly_once() {
            let (id, lock) = process_id(&self.config)?;
            self.process_lock = lock;
            id.into()
        } else {
            Arc::from("")
        };
        let n = self.config.num_stream_threads();
        self.control.start_threads(n);
        for index in 0..n {
            let params = ThreadParams {
                index,
                client_id: self.client_id.clone(),
                topology: self.topology.clone(),
                subtopologies: subtopologies.clone(),
                config: self.config.clone(),
                control: self.control.clone(),
                restore_listener: self.restore_listener.clone(),
                process_id: process_id.clone(),
            };
            let control = self.control.clone();
            let handle = std::thread::Builder::new()
                .name(format!("{}-StreamThread-{}", self.client_id, index + 1))
                .spawn(move || {
                    // A panic (in user code, say) must still end the thread's life in the
                    // client's state, or close() would wait for it forever.
                    // Every event of the thread (tasks, restoration, commits, errors)
                    // carries its span.
                    let _span = tracing::info_span!("stream_thread", index = index + 1).entered();
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        StreamThread::new(params).and_then(StreamThread::run)
                    }))
                    .unwrap_or_else(|panic| {
                        let message = crate::error::panic_message(&*panic);
                        Err(StreamsError::IllegalState(format!(
                            "stream thread panicked: {message}"
                        )))
                    });
                    control.thread_exited(index, result);
                })
                .map_err(|e| StreamsError::io("spawning a stream thread", e))?;
            self.threads.push(handle);
        }
        Ok(())
    }

    /// Checks the source topics and creates the missing changelog topics (or refuses existing
    /// ones with the wrong partition count).
    fn prepare_topics(&self, subtopologies: &[crate::topology::Subtopology]) -> Result<()> {
        check_resolvable(self.config.bootstrap_servers())?;
        let client: BaseProducer = client_supplier::admin_config(&self.config)
            .create()
            .map_err(|e| {
                StreamsError::config("admin", format!("the admin settings were refused: {e}"))
            })?;
        let md = client
            .client()
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(|e| {
                StreamsError::kafka(
                    format!(
                        "fetching topic metadata at start-up from bootstrap.servers {:?} \
                         (no broker answered within 30 s)",
                        self.config.bootstrap_servers()
                    ),
                    e,
                )
            })?;
        let mut counts: std::collections::HashMap<String, usize> = md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_owned(), t.partitions().len()))
            .collect();
        self.create_repartition_topics(subtopologies, &mut counts)?;
        let mut missing: Vec<&str> = subtopologies
            .iter()
            .flat_map(|s| s.source_topics.iter())
            .map(String::as_str)
            .filter(|t| !counts.contains_key(*t))
            .collect();
        if !missing.is_empty() {
            missing.sort_unstable();
            return Err(StreamsError::Topology(format!(
                "source topics {missing:?} do not exist; create them before starting"
            )));
        }
        for sub in subtopologies {
            let sizes: Vec<(&str, usize)> = sub
                .source_topics
                .iter()
                .map(|t| (t.as_str(), counts[t.as_str()]))
                .collect();
            if sizes.windows(2).any(|w| w[0].1 != w[1].1) {
                let listed: Vec<String> = sizes
                    .iter()
                    .map(|(t, n)| format!("{t} ({n} partitions)"))
                    .collect();
                return Err(StreamsError::Topology(format!(
                    "topics {} of sub-topology {} must be co-partitioned (the same number of partitions) but are not",
                    listed.join(", "),
                    sub.id
                )));
            }
        }
        self.create_changelogs(subtopologies, &counts)
    }

    /// Creates the missing repartition topics and adds them to `counts`. A topic read next to
    /// user topics gets their partition count (co-partitioning); otherwise as many partitions
    /// as the largest source topic of the sub-topologies writing to it (found in dependency
    /// order, since a writer may read another repartition topic). An existing one with
    /// another partition count is refused.
    fn create_repartition_topics(
        &self,
        subtopologies: &[crate::topology::Subtopology],
        counts: &mut std::collections::HashMap<String, usize>,
    ) -> Result<()> {
        let writers = self.topology.repartition_writers();
        let mut sizes: std::collections::HashMap<String, usize> = Default::default();
        // A repartition topic read in a sub-topology together with user topics must be
        // co-partitioned with them: it takes their partition count.
        for (topic, _) in &writers {
            let reader = subtopologies
                .iter()
                .find(|s| s.source_topics.iter().any(|t| t == topic));
            if let Some(reader) = reader
                && let Some(n) = reader
                    .source_topics
                    .iter()
                    .filter(|t| !writers.iter().any(|(w, _)| w == *t))
                    .find_map(|t| counts.get(t).copied())
            {
                sizes.insert(topic.clone(), n);
            }
        }
        for _ in 0..=writers.len() {
            for (topic, subs) in &writers {
                if sizes.contains_key(topic) {
                    continue;
                }
                let mut n = Some(0usize);
                for sub in subtopologies.iter().filter(|s| subs.contains(&s.id)) {
                    for t in &sub.source_topics {
                        let known = if writers.iter().any(|(w, _)| w == t) {
                            sizes.get(t).copied()
                        } else {
                            counts.get(t).copied()
                        };
                        n = match (n, known) {
                            (Some(a), Some(b)) => Some(a.max(b)),
                            _ => None,
                        };
                    }
                }
                if let Some(n) = n.filter(|n| *n > 0) {
                    sizes.insert(topic.clone(), n);
                }
            }
        }
        // Repartition topics read by one sub-topology must be co-partitioned with each other
        // too: all take the largest count among them.
        for sub in subtopologies {
            let read: Vec<&String> = sub
                .source_topics
                .iter()
                .filter(|t| sizes.contains_key(*t))
                .collect();
            if let Some(max) = read.iter().filter_map(|t| sizes.get(*t).copied()).max() {
                for t in read {
                    sizes.insert(t.clone(), max);
                }
            }
        }
        let mut wanted = Vec::new();
        for (topic, _) in &writers {
            let Some(&n) = sizes.get(topic) else {
                // Its writers read topics that do not exist: the missing-topic check says so.
                continue;
            };
            match counts.get(topic) {
                Some(&existing) if existing == n => {}
                Some(&existing) => {
                    return Err(StreamsError::Topology(format!(
                        "repartition topic {topic} has {existing} partitions but its writers'                          source topics have {n}; delete it or reset the application"
                    )));
                }
                None => wanted.push((topic.clone(), n, repartition_topic_configs())),
            }
            counts.insert(topic.clone(), n);
        }
        self.create_topics(wanted, "repartition")
    }

    fn create_changelogs(
        &self,
        subtopologies: &[crate::topology::Subtopology],
        counts: &std::collections::HashMap<String, usize>,
    ) -> Result<()> {
        let mut wanted = Vec::new();
        for (topic, sub_id, spec) in self.topology.changelog_topics(self.config.application_id()) {
            let sub = subtopologies.iter().find(|s| s.id == sub_id);
            let tasks = sub
                .and_then(|s| s.source_topics.first())
                .map_or(0, |t| counts[t.as_str()]);
            match counts.get(topic.as_str()) {
                Some(&n) if n == tasks => {}
                Some(&n) => {
                    return Err(StreamsError::Topology(format!(
                        "changelog topic {topic} has {n} partitions but its sub-topology has {tasks} tasks; \
                         delete it or reset the application"
                    )));
                }
                None => {
                    self.refuse_lost_changelog(&topic)?;
                    wanted.push((topic, tasks, spec.configs))
                }
            }
        }
        self.create_topics(wanted, "changelog")
    }

    /// A changelog topic is missing while this instance holds local state of a store logged
    /// to it: the topic was deleted while the application was stopped. Recreating it empty
    /// would leave the state without its source of truth (and the next owner of the task
    /// without the state), so the start is refused, naming the topic, until the user resets
    /// the local state with [`Self::clean_up`] (or brings the topic back).
    fn refuse_lost_changelog(&self, topic: &str) -> Result<()> {
        let app_dir = self.config.state_dir().join(self.config.application_id());
        for (changelog, sub_id, store) in self
            .topology
            .persistent_logged_stores(self.config.application_id())
        {
            if changelog != topic {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&app_dir) else {
                return Ok(());
            };
            let task_prefix = format!("{sub_id}_");
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_task = name
                    .strip_prefix(&task_prefix)
                    .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
                let store_dir = entry.path().join("rocksdb").join(&store);
                if is_task && store_dir.exists() {
                    return Err(StreamsError::Topology(format!(
                        "changelog topic {topic} does not exist, but local state of store \
                         `{store}` does ({}): the topic was deleted while the application was \
                         stopped, and recreating it empty would lose that state. Bring the \
                         topic back, or reset the application's local state: call \
                         KafkaStreams::clean_up() before start() (it deletes {})",
                        store_dir.display(),
                        app_dir.display()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Creates `(topic, partitions, configs)`; one created concurrently by another instance
    /// is fine.
    fn create_topics(&self, wanted: Vec<WantedTopic>, what: &str) -> Result<()> {
        if wanted.is_empty() {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = client_supplier::admin_config(&self.config)
            .create()
            .map_err(|e| {
                StreamsError::config("admin", format!("the admin settings were refused: {e}"))
            })?;
        let new_topics: Vec<NewTopic<'_>> = wanted
            .iter()
            .map(|(topic, partitions, configs)| {
                let mut t = NewTopic::new(
                    topic,
                    *partitions as i32,
                    TopicReplication::Fixed(self.config.replication_factor()),
                );
                for (k, v) in configs {
                    t = t.set(k, v);
                }
                t
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = futures::executor::block_on(admin.create_topics(&new_topics, &opts))
            .map_err(|e| StreamsError::kafka(format!("creating {what} topics"), e))?;
        for result in results {
            match result {
                Ok(topic) => tracing::info!(%topic, kind = what, "created internal topic"),
                Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    tracing::info!(%topic, kind = what, "internal topic created concurrently by another instance");
                }
                Err((topic, code)) => {
                    return Err(StreamsError::Topology(format!(
                        "creating {what} topic {topic} failed: {code}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Stops the threads (each commits what it processed and closes its tasks) and waits up to
    /// `timeout`. Returns the error that stopped the client if it failed, and an error if the
    /// threads did not finish in time.
    pub fn close(&mut self, timeout: Duration) -> Result<()> {
        if self.control.state() == State::Created {
            self.control.transition(State::PendingShutdown);
            self.control.transition(State::NotRunning);
            self.state_lock = None;
            return Ok(());
        }
        self.control.request_stop();
        self.control.transition(State::PendingShutdown);
        if !self.control.wait_threads(timeout) {
            let unfinished = self.control.unfinished_threads();
            tracing::warn!(?timeout, %unfinished, "close timed out");
            return Err(StreamsError::IllegalState(format!(
                "the stream threads did not stop within {timeout:?}: {unfinished}"
            )));
        }
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
        if let Some(global) = self.global.take() {
            let _ = global.join();
        }
        // Every task is closed: another instance may use the state directory now.
        self.state_lock = None;
        self.process_lock = None;
        match self.control.take_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        if !self.threads.is_empty() || self.global.is_some() {
            self.control.request_stop();
            self.control.wait_threads(Duration::from_secs(30));
        }
        if let Some(global) = self.global.take() {
            let _ = global.join();
        }
    }
}

/// A topic to create: name, partitions, configuration.
type WantedTopic = (String, usize, Vec<(String, String)>);

/// The configuration of repartition topics, as Kafka Streams sets it: deleted, never by age
/// (the stream threads purge what was committed), with 50 MiB segments so purged records go.
fn repartition_topic_configs() -> Vec<(String, String)> {
    [
        ("cleanup.policy", "delete"),
        ("retention.ms", "-1"),
        ("segment.bytes", "52428800"),
        ("message.timestamp.type", "CreateTime"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The name of the file, in `<state.dir>/<application.id>/`, keeping the process id.
const PROCESS_ID_FILE: &str = "kstreams-process-id";

/// The process id of this application instance, part of its transactional ids. Kept in the
/// state directory, so that an instance restarted after a crash uses the same transactional
/// ids: initialising them aborts the transactions the crashed instance left open at once,
/// instead of after `transaction.timeout.ms`. The file stays locked while the instance
/// runs; a second instance on the same directory gets a fresh random id (and no lock).
/// Fails at once, naming each address, when no address of `bootstrap.servers` resolves
/// (librdkafka would retry for the whole metadata timeout and then report a transport
/// error naming none). One that resolves is enough: librdkafka finds the others.
fn check_resolvable(bootstrap: &str) -> Result<()> {
    use std::net::ToSocketAddrs;
    let mut failures = Vec::new();
    for entry in bootstrap.split([',', ' ']).filter(|s| !s.is_empty()) {
        let address = entry.split_once("://").map_or(entry, |(_, rest)| rest);
        match address.to_socket_addrs().map(|mut addrs| addrs.next()) {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => failures.push(format!("{address}: no address")),
            Err(e) => failures.push(format!("{address}: {e}")),
        }
    }
    Err(StreamsError::config(
        "bootstrap.servers",
        format!("no bootstrap server resolves: {}", failures.join("; ")),
    ))
}

/// Locks `<state.dir>/<application.id>.lock` for this instance, or refuses: another
/// instance (in this process or another) runs the same application on the same directory.
/// The file sits beside the application's directory, as each task's lock sits beside the
/// task's, so the directory holds only task state.
fn lock_state_dir(config: &StreamsConfig) -> Result<std::fs::File> {
    let dir = config.state_dir().join(config.application_id());
    let path = dir.with_file_name(format!("{}.lock", config.application_id()));
    std::fs::create_dir_all(config.state_dir())
        .map_err(|e| StreamsError::io(format!("creating {}", config.state_dir().display()), e))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StreamsError::io(format!("opening {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StreamsError::config(
            "state.dir",
            format!(
                "{} is in use by another instance of application `{}` (it holds {}); give \
                 each instance its own state.dir",
                dir.display(),
                config.application_id(),
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(StreamsError::io(format!("locking {}", path.display()), e))
        }
    }
}

fn process_id(config: &StreamsConfig) -> Result<(String, Option<std::fs::File>)> {
    let dir = config.state_dir().join(config.application_id());
    std::fs::create_dir_all(&dir)
        .map_err(|e| StreamsError::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join(PROCESS_ID_FILE);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| StreamsError::io(format!("opening {}", path.display()), e))?;
    if file.try_lock().is_err() {
        let id = random_id();
        tracing::warn!(path = %path.display(), %id, "the process id file is locked by another instance; using a fresh process id");
        return Ok((id, None));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text)
        .map_err(|e| StreamsError::io(format!("reading {}", path.display()), e))?;
    let text = text.trim();
    if text.len() == 32 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok((text.to_owned(), Some(file)));
    }
    let id = random_id();
    let io = |e| StreamsError::io(format!("writing {}", path.display()), e);
    file.set_len(0).map_err(io)?;
    std::io::Seek::rewind(&mut file).map_err(io)?;
    std::io::Write::write_all(&mut file, id.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok((id, Some(file)))
}

/// 128 random bits as 32 hex digits (from the standard library's randomly keyed hasher).
fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}
