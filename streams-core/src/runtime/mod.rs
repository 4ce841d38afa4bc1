//! `KafkaStreams`: runs a topology on Kafka with N stream threads.
//!
//! Each stream thread has its own consumer (in the group `application.id`) and producer, and
//! loops: poll -> route records to the tasks of its partitions -> process (per task, the
//! buffered record with the lowest timestamp first) -> punctuate -> commit every
//! `commit.interval.ms`. Partitions are assigned with Kafka's range strategy, which puts the
//! same partition number of co-partitioned topics on the same thread; [`KafkaStreams::start`]
//! refuses topics whose partition counts differ within a sub-topology.
//!
//! At-least-once: a commit flushes the producer, checks that every output was delivered,
//! commits the offsets of the records fully processed, and then commits the stores. On revocation the
//! thread commits what it processed before giving the partitions up; on a lost assignment it
//! commits nothing. A partition whose task buffer is full is paused until it drains.
//!
//! Stores whose builder asks for a changelog get the topic `<application.id>-<store>-changelog`,
//! created at start with one partition per task and the builder's configuration (compacted for
//! key-value stores), replication factor `replication.factor` (-1: the broker's default).

mod admin_client;
mod changelog_reader;
mod client_failure;
mod client_supplier;
mod close_options;
mod control;
mod deferred;
mod deliveries;
mod fetch;
mod global;
mod group_description;
mod input_flow;
mod kafka_errors;
mod member_identity;
mod producer;
mod queries;
mod rebalance;
mod record_collector;
mod repartition_purger;
mod shared;
mod shutdown_requests;
mod standby;
mod standby_assignor;
mod standby_plan;
mod state_directory;
mod streams_metadata;
mod task_creator;
mod task_manager;
mod thread;
mod thread_metrics;
mod topic_admin;
mod topic_manager;
mod uncaught;
mod until_signal;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use close_options::CloseOptions;
pub use control::{State, StateChange, StateListener};
pub use queries::Queries;
pub use topic_admin::{TopicSpec, create_topics};
pub use uncaught::{StreamThreadExceptionResponse, UncaughtExceptionHandler};

use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::topology::Topology;
use control::ClientControl;
use thread::ThreadParams;
use topic_manager::InternalTopicManager;

/// A running (or runnable) streams application: threads, tasks, commits and restoration.
pub struct KafkaStreams {
    topology: Arc<Topology>,
    config: StreamsConfig,
    control: Arc<ClientControl>,
    /// The stream threads, by index.
    threads: std::collections::BTreeMap<usize, JoinHandle<()>>,
    /// What a stream thread is started with (its index aside), once the client started.
    thread_params: Option<ThreadParams>,
    /// The thread keeping the global stores up to date, if there are any.
    global: Option<JoinHandle<()>>,
    /// The thread placing standby replicas, with `num.standby.replicas` > 0.
    standby_assignor: Option<JoinHandle<()>>,
    /// The thread watching for requests to shut the application down.
    shutdown_watcher: Option<JoinHandle<()>>,
    client_id: String,
    restore_listener: Option<Arc<dyn crate::store::RestoreListener>>,
    /// What to do when a stream thread fails (none: stop the client).
    uncaught_handler: Option<UncaughtExceptionHandler>,
    /// Held while running under exactly-once: the lock on the process id file.
    process_lock: Option<std::fs::File>,
    /// Held from `new` to `close`: this instance's claim on `<state.dir>/<application.id>`
    /// (the file `<state.dir>/<application.id>.lock`).
    state_lock: Option<std::fs::File>,
    /// The Prometheus endpoint, when `metrics.prometheus.address` is set.
    metrics_server: Option<crate::metrics::MetricsServer>,
    /// Interactive queries: store views and where the group's partitions are.
    queries: Queries,
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
            failure: Default::default(),
        })?);
        drop(client_supplier::create_consumer(
            &config,
            &client_id,
            &member_identity::Member::of_thread(&config, 0, ""),
            rdkafka::consumer::DefaultConsumerContext,
        )?);
        // The admin client's settings too (`admin.`-prefixed ones are its alone).
        drop(client_supplier::create_admin::<
            rdkafka::producer::BaseProducer,
        >(&config)?);
        // One instance per state directory, as Kafka Streams: a second one on the same
        // directory would share (and contend for) the same tasks' stores.
        let state_lock = if topology.has_persistent_stores() {
            Some(state_directory::lock_state_dir(&config)?)
        } else {
            None
        };
        let mut topology = topology;
        topology.bind_application(config.application_id());
        let topology = Arc::new(topology);
        let control = Arc::new(ClientControl::new());
        Ok(KafkaStreams {
            queries: Queries::new(&config, &client_id, topology.clone(), control.clone()),
            topology,
            config,
            control,
            threads: Default::default(),
            thread_params: None,
            global: None,
            standby_assignor: None,
            shutdown_watcher: None,
            client_id,
            restore_listener: None,
            uncaught_handler: None,
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

    /// Registers a listener called with every state change (Kafka Streams' `StateListener`):
    /// `streams.set_state_listener(|c| tracing::info!(?c.old, ?c.new, "state"))`.
    pub fn set_state_listener(&self, listener: impl Fn(StateChange) + Send + Sync + 'static) {
        self.control.set_listener(Arc::new(listener));
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.control.state()
    }

    /// The error that stopped the client, if it is in (or entering) `Error`: the typed
    /// [`StreamsError`] of the first stream thread that failed, with its source. It stays
    /// readable after [`Self::close`], which does not fail because of it (as Kafka Streams'
    /// `close` reports only whether the threads stopped).
    pub fn error(&self) -> Option<Arc<StreamsError>> {
        self.control.error()
    }

    /// A handle answering interactive queries: the store views and the metadata of where
    /// each key lives (see [`Queries`]). Cheap to clone and `Send + Sync`, for the threads of
    /// a query server, while `KafkaStreams` itself stays with whoever closes it.
    pub fn queries(&self) -> Queries {
        self.queries.clone()
    }

    /// [`Queries::store`].
    pub fn store<Q: crate::query::QueryableStoreType>(
        &self,
        params: crate::query::StoreQueryParameters<Q>,
    ) -> Result<Q::View> {
        self.queries.store(params)
    }

    /// [`Queries::query_metadata_for_key`].
    pub fn query_metadata_for_key<K: 'static>(
        &self,
        store: &str,
        key: &K,
        serde: &dyn crate::serde::Serde<K>,
    ) -> Result<crate::query::KeyQueryMetadata> {
        self.queries.query_metadata_for_key(store, key, serde)
    }

    /// [`Queries::all_metadata`].
    pub fn all_metadata(&self) -> Result<Vec<crate::query::StreamsMetadata>> {
        self.queries.all_metadata()
    }

    /// [`Queries::metadata_for_store`].
    pub fn metadata_for_store(&self, store: &str) -> Result<Vec<crate::query::StreamsMetadata>> {
        self.queries.metadata_for_store(store)
    }

    /// Changelog offsets still to restore across all restoring tasks (Kafka Streams'
    /// `restore-remaining-records-total`; offsets, so compacted gaps count until passed).
    pub fn restore_remaining_records(&self) -> i64 {
        self.control.remaining()
    }

    /// Decides what happens when a stream thread fails (Kafka Streams'
    /// `setUncaughtExceptionHandler`): [`StreamThreadExceptionResponse::ReplaceThread`]
    /// starts a new thread in its place, which resumes from the last commit;
    /// [`StreamThreadExceptionResponse::ShutdownClient`] (also the behaviour without a
    /// handler) stops the client, which ends in `Error`;
    /// [`StreamThreadExceptionResponse::ShutdownApplication`] stops every client of the
    /// application (the others end in `Error` with [`StreamsError::ApplicationShutdown`]).
    /// Set it before `start`.
    ///
    /// ```no_run
    /// use streams_core::{KafkaStreams, StreamThreadExceptionResponse, StreamsConfig, StreamsError};
    /// # fn topology() -> streams_core::Topology { streams_core::Topology::new() }
    ///
    /// let mut streams = KafkaStreams::new(topology(), StreamsConfig::new("app", "localhost:9092"))?;
    /// streams.set_uncaught_exception_handler(|e| match e {
    ///     // A record a processor could not handle: try again with a new thread.
    ///     StreamsError::Processing { .. } => StreamThreadExceptionResponse::ReplaceThread,
    ///     _ => StreamThreadExceptionResponse::ShutdownClient,
    /// })?;
    /// streams.start()?;
    /// # Ok::<(), StreamsError>(())
    /// ```
    pub fn set_uncaught_exception_handler(
        &mut self,
        handler: impl Fn(&StreamsError) -> StreamThreadExceptionResponse + Send + Sync + 'static,
    ) -> Result<()> {
        if self.control.state() != State::Created {
            return Err(StreamsError::IllegalState(format!(
                "the uncaught-exception handler is set before start(); the client is {:?}",
                self.state()
            )));
        }
        self.uncaught_handler = Some(Arc::new(handler));
        Ok(())
    }

    /// What each stream thread runs now: its active tasks (running, restoring or waiting to
    /// start) and the standby tasks it keeps. Empty before `start`.
    pub fn metadata_for_local_threads(&self) -> Vec<crate::ThreadMetadata> {
        let threads = if self.threads.is_empty() {
            Vec::new()
        } else {
            self.control.live_threads()
        };
        threads
            .into_iter()
            .map(|index| {
                let (active_tasks, standby_tasks) = self.control.standbys.local(index);
                crate::ThreadMetadata {
                    thread_name: self.thread_name(index),
                    active_tasks,
                    standby_tasks,
                }
            })
            .collect()
    }

    /// Stream threads replaced after a failure since the client started (see
    /// [`Self::set_uncaught_exception_handler`]).
    pub fn replaced_threads(&self) -> u64 {
        self.control.replaced_threads()
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
        state_directory::clean_up(&self.config)
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
            let (control, probed) = (self.control.clone(), self.control.clone());
            self.metrics_server = Some(crate::metrics::MetricsServer::start(
                address,
                move || control.metrics_snapshot(),
                move || probed.state(),
            )?);
        }
        let subtopologies = Arc::new(self.topology.subtopologies());
        InternalTopicManager {
            config: &self.config,
            topology: &self.topology,
        }
        .prepare(&subtopologies)?;
        self.shutdown_watcher = Some(shutdown_requests::spawn_watcher(
            &self.config,
            &self.client_id,
            self.control.clone(),
        )?);
        let globals = self.topology.global_stores().to_vec();
        let views = globals.iter().map(|g| (g.name().to_owned(), g.queryable()));
        self.control.stores.register_globals(views.collect());
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
        // The process id names the transactional producers and, for the standby assignor, this
        // instance in the group.
        let standbys = self.config.num_standby_replicas() > 0;
        let process_id: Arc<str> = if self.config.exactly_once() || standbys {
            let (id, lock) = state_directory::process_id(&self.config)?;
            self.process_lock = lock;
            id.into()
        } else {
            Arc::from("")
        };
        if standbys {
            self.standby_assignor = Some(standby_assignor::spawn(
                self.config.clone(),
                &self.client_id,
                process_id.to_string(),
                subtopologies.clone(),
                self.control.clone(),
            )?);
        }
        let n = self.config.num_stream_threads();
        self.control.start_threads(n);
        self.thread_params = Some(ThreadParams {
            index: 0,
            client_id: self.client_id.clone(),
            topology: self.topology.clone(),
            subtopologies: subtopologies.clone(),
            config: self.config.clone(),
            control: self.control.clone(),
            restore_listener: self.restore_listener.clone(),
            process_id: process_id.clone(),
        });
        for index in 0..n {
            self.spawn_thread(index)?;
        }
        Ok(())
    }

    /// Starts stream thread `index` (its slot in the client's control already claimed).
    fn spawn_thread(&mut self, index: usize) -> Result<()> {
        let Some(template) = &self.thread_params else {
            return Err(StreamsError::IllegalState(
                "the client has not started".into(),
            ));
        };
        let params = ThreadParams {
            index,
            ..template.clone()
        };
        let control = self.control.clone();
        let handler = self.uncaught_handler.clone();
        let spawned = std::thread::Builder::new()
            .name(self.thread_name(index))
            .spawn(move || {
                // Every event of the thread (tasks, restoration, commits, errors) carries its
                // span.
                let _span = tracing::info_span!("stream_thread", index = index + 1).entered();
                uncaught::run_thread(params, control, handler);
            });
        match spawned {
            Ok(handle) => {
                // A slot reused after a removed thread: that thread has ended.
                if let Some(old) = self.threads.insert(index, handle) {
                    let _ = old.join();
                }
                Ok(())
            }
            Err(e) => {
                self.control.thread_exited(index, Ok(()));
                Err(StreamsError::io("spawning a stream thread", e))
            }
        }
    }

    fn thread_name(&self, index: usize) -> String {
        format!("{}-StreamThread-{}", self.client_id, index + 1)
    }

    /// Adds a stream thread (Kafka Streams' `addStreamThread`), numbered with the lowest
    /// free index, and returns its name; `None` unless the client is running or
    /// rebalancing. The new thread joins the group and the group rebalances to give it
    /// tasks; the client is `Rebalancing` until it runs. Under exactly-once the thread's
    /// transactional id follows its index, as every thread's does.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use streams_core::{KafkaStreams, StreamsConfig, StreamsError};
    /// # fn topology() -> streams_core::Topology { streams_core::Topology::new() }
    ///
    /// let mut streams = KafkaStreams::new(topology(), StreamsConfig::new("app", "localhost:9092"))?;
    /// streams.start()?;
    /// // More input than one thread keeps up with: a second one takes half the tasks.
    /// let added = streams.add_stream_thread()?;
    /// assert_eq!(added.as_deref().map(|n| n.ends_with("-StreamThread-2")), Some(true));
    /// // And back to one.
    /// let removed = streams.remove_stream_thread(Duration::from_secs(30))?;
    /// assert!(removed.is_some());
    /// # Ok::<(), StreamsError>(())
    /// ```
    pub fn add_stream_thread(&mut self) -> Result<Option<String>> {
        let Some(index) = self.control.add_thread() else {
            return Ok(None);
        };
        self.spawn_thread(index)?;
        Ok(Some(self.thread_name(index)))
    }

    /// Removes a stream thread (Kafka Streams' `removeStreamThread`): the first live one
    /// stops (it commits what it processed and closes its tasks), leaves the consumer group
    /// (a static member too, so its partitions move at once), and the others take its tasks
    /// over in the rebalance that follows. Returns its name once it has stopped; `None`
    /// when there is no thread to remove or the client is not running or rebalancing; an
    /// error when it did not stop within `timeout` (it still stops later). The last thread
    /// may be removed: the client then stays up with none, and a thread can be added again.
    pub fn remove_stream_thread(&mut self, timeout: Duration) -> Result<Option<String>> {
        let Some(index) = self.control.remove_thread() else {
            return Ok(None);
        };
        let name = self.thread_name(index);
        if !self.control.wait_thread(index, timeout) {
            return Err(StreamsError::IllegalState(format!(
                "stream thread `{name}` did not stop within {timeout:?}"
            )));
        }
        if let Some(handle) = self.threads.remove(&index) {
            let _ = handle.join();
        }
        Ok(Some(name))
    }

    /// Stops the threads (each commits what it processed and closes its tasks) and waits up to
    /// `timeout`. Fails only if the threads did not finish in time; a client that had failed
    /// closes as well (its error stays in [`Self::error`]). A static member
    /// (`group.instance.id`) stays in the group; see [`Self::close_with`] to leave it.
    pub fn close(&mut self, timeout: Duration) -> Result<()> {
        self.close_with(CloseOptions::default().timeout(timeout))
    }

    /// [`Self::close`] with [`CloseOptions`]: the wait, and whether a static member leaves
    /// the group (so that its partitions move at once, not after `session.timeout.ms`).
    pub fn close_with(&mut self, options: CloseOptions) -> Result<()> {
        let timeout = options.get_timeout();
        if options.leaves_group() {
            self.control.request_leave_group();
        }
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
        for (_, handle) in std::mem::take(&mut self.threads) {
            let _ = handle.join();
        }
        self.join_helpers();
        // Every task is closed: another instance may use the state directory now.
        self.state_lock = None;
        self.process_lock = None;
        Ok(())
    }

    /// Waits for the global thread and the standby assignor (they stop with the client).
    fn join_helpers(&mut self) {
        for handle in [
            self.global.take(),
            self.standby_assignor.take(),
            self.shutdown_watcher.take(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = handle.join();
        }
    }
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        if !self.threads.is_empty()
            || self.global.is_some()
            || self.standby_assignor.is_some()
            || self.shutdown_watcher.is_some()
        {
            self.control.request_stop();
            self.control.wait_threads(Duration::from_secs(30));
        }
        self.join_helpers();
    }
}
