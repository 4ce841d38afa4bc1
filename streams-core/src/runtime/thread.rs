//! A stream thread: one consumer, one producer, the tasks of its assigned partitions, and the
//! loop poll -> route -> process -> punctuate -> commit.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use rdkafka::consumer::Consumer;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::clients::{
    self, COMMIT_RETRY_TIME, CommitOutcome, ConsumerCallbacks, KafkaCollector, RebalanceEvent,
    StreamsConsumer, ThreadShared, abort_transaction, commit_pending, commit_transaction,
    create_consumer, create_producer, create_restore_consumer, serve_deliveries,
};
use super::control::{ClientControl, ThreadState};
use super::fetch::{FetchQueue, MessageRef};
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::handlers::{ErrorAction, ErrorContext, ErrorStage};
use crate::ids::TaskId;
use crate::record::RawRecord;
use crate::task::StreamTask;
use crate::timestamp::now_ms;
use crate::topology::{Subtopology, TaskEnv, Topology};

/// Most records taken from the consumer in one round before processing them. Small enough
/// that the records copied out of librdkafka are still in the CPU's cache when processed
/// (500 x 100-byte records: a few hundred KB, against 10,000 before): interleaved runs of
/// `bench --cases passthrough,filter-map --partitions 4` gave 0.81-0.93x the raw rdkafka
/// program's throughput with 10,000 and 0.86-0.98x with 500, the same at 1 partition.
const MAX_POLL_RECORDS: usize = 500;

/// Under exactly-once, transactions aborted in a row (each followed by a rewind) before the
/// thread gives up: the same failure again and again will not mend by retrying.
const MAX_CONSECUTIVE_ABORTS: u32 = 5;

/// Everything a stream thread is started with.
/// How often a thread publishes its tasks' counters and lag for the metrics.
const METRICS_PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// How often a thread publishes its stores' own metrics (RocksDB statistics).
const STORE_METRICS_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct ThreadParams {
    pub index: usize,
    pub client_id: String,
    pub topology: Arc<Topology>,
    pub subtopologies: Arc<Vec<Subtopology>>,
    pub config: StreamsConfig,
    pub control: Arc<ClientControl>,
    pub restore_listener: Option<Arc<dyn crate::store::RestoreListener>>,
    /// The process id in transactional ids (exactly-once).
    pub process_id: Arc<str>,
}

pub(crate) struct StreamThread {
    index: usize,
    name: String,
    topology: Arc<Topology>,
    subtopologies: Arc<Vec<Subtopology>>,
    /// Source topic -> (interned name, sub-topology).
    topics: TopicIndex,
    config: StreamsConfig,
    /// Where the assigned partitions' records are read from. Declared before `consumer` so
    /// that it drops first, as librdkafka needs.
    fetch: FetchQueue,
    consumer: StreamsConsumer,
    collector: Rc<RefCell<KafkaCollector>>,
    shared: Arc<ThreadShared>,
    tasks: BTreeMap<TaskId, StreamTask>,
    paused: HashSet<(String, i32)>,
    control: Arc<ClientControl>,
    last_commit: Instant,
    restore_consumer: Option<BaseConsumer>,
    /// Under exactly-once: reads high watermarks, to see open transactions on changelogs.
    watermarks: Option<BaseConsumer>,
    /// Tasks waiting for an open transaction on one of their changelogs to end, with when to
    /// look again.
    waiting_for_transactions: BTreeMap<TaskId, Instant>,
    /// Changelog partitions being restored: the task, the next offset, the end offset.
    restoring: BTreeMap<(String, i32), (TaskId, i64, i64)>,
    /// Tasks assigned that could not start yet (another thread or process still holds their
    /// state lock, or a changelog has an open transaction): retried with a backoff.
    deferred: BTreeMap<TaskId, Deferred>,
    /// First offset dropped per input partition of a deferred task, to rewind to.
    rewind: HashMap<(String, i32), i64>,
    restore_listener: Option<Arc<dyn crate::store::RestoreListener>>,
    /// Assigned, but not yet running: some task still restores or waits for its lock. The
    /// thread reports `Running` once none does, as Kafka Streams' threads do.
    awaiting_ready: bool,
    /// The repartition topics (full names) this application reads.
    repartition_topics: HashSet<String>,
    /// Committed offsets of repartition partitions not yet purged below.
    purgeable: HashMap<(String, i32), i64>,
    last_purge: Instant,
    /// Deletes committed records of repartition topics; created when first needed.
    admin: Option<Arc<rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext>>>,
    /// True while a purge request is under way.
    purging: Arc<std::sync::atomic::AtomicBool>,
    /// The changelog topics, whose acknowledged offsets the producer tracks.
    changelogs: HashSet<String>,
    /// Under exactly-once: `<application.id>-<process id>-<thread index>`.
    transactional_id: Option<String>,
    /// Transactions aborted since the last successful commit.
    consecutive_aborts: u32,
    /// What this thread publishes for the metrics.
    metrics: Arc<crate::metrics::ThreadMetrics>,
    last_publish: Instant,
    /// Per task: the windowed maxima of record lateness and end-to-end latency.
    maxima: BTreeMap<TaskId, (crate::metrics::WindowedMax, crate::metrics::WindowedMax)>,
    last_store_publish: Instant,
    /// Per task and sink node: the windowed maximum of end-to-end latency.
    sink_maxima: BTreeMap<(TaskId, Arc<str>), crate::metrics::WindowedMax>,
    last_end_offsets_query: Instant,
    /// Under at-least-once: since when commits have been deferred by errors that pass.
    commit_failing_since: Option<Instant>,
    /// Tasks whose store reported corruption while running: rewound, their state moved
    /// aside and restored from the changelogs.
    corrupted: BTreeSet<TaskId>,
    /// Tasks whose state directory is to be moved aside before they start again.
    move_aside: BTreeSet<TaskId>,
}

impl StreamThread {
    pub(crate) fn new(p: ThreadParams) -> Result<Self> {
        let repartition_topics = p
            .topology
            .repartition_writers()
            .into_iter()
            .map(|(topic, _)| topic)
            .collect();
        let name = format!("{}-StreamThread-{}", p.client_id, p.index + 1);
        let metrics = Arc::new(crate::metrics::ThreadMetrics::new(&name));
        p.control.metrics.register(metrics.clone());
        let shared = Arc::new(ThreadShared {
            flush_timeout: Duration::from_secs(60),
            exactly_once: p.config.exactly_once(),
            ..ThreadShared::default()
        });
        let changelogs: HashSet<String> = p
            .topology
            .changelog_topics(p.config.application_id())
            .into_iter()
            .map(|(topic, _, _)| topic)
            .collect();
        let transactional_id = p.config.exactly_once().then(|| {
            format!(
                "{}-{}-{}",
                p.config.application_id(),
                p.process_id,
                p.index + 1
            )
        });
        let producer = Arc::new(create_producer(
            &p.config,
            &format!("{name}-producer"),
            changelogs.clone(),
            transactional_id.as_deref(),
            Some(metrics.clone()),
        )?);
        *shared.producer.lock() = Some(producer.clone());
        let consumer = create_consumer(
            &p.config,
            &format!("{name}-consumer"),
            ConsumerCallbacks {
                shared: shared.clone(),
                thread: name.clone(),
                resets: p
                    .subtopologies
                    .iter()
                    .flat_map(|s| s.source_topics.iter())
                    .filter_map(|t| Some((t.clone(), p.topology.offset_reset(t)?)))
                    .collect(),
            },
        )?;
        let fetch = FetchQueue::new(&consumer)?;
        let mut topics = TopicIndex::default();
        for (i, sub) in p.subtopologies.iter().enumerate() {
            for t in &sub.source_topics {
                topics.insert(t.clone(), (Arc::from(t.as_str()), i));
            }
        }
        Ok(StreamThread {
            index: p.index,
            name,
            topology: p.topology,
            subtopologies: p.subtopologies,
            topics,
            config: p.config,
            fetch,
            consumer,
            collector: Rc::new(RefCell::new(KafkaCollector {
                producer,
                partition_counts: HashMap::new(),
                shared: shared.clone(),
            })),
            shared,
            tasks: BTreeMap::new(),
            paused: HashSet::new(),
            control: p.control,
            last_commit: Instant::now(),
            restore_consumer: None,
            watermarks: None,
            waiting_for_transactions: BTreeMap::new(),
            restoring: BTreeMap::new(),
            deferred: BTreeMap::new(),
            rewind: HashMap::new(),
            restore_listener: p.restore_listener,
            awaiting_ready: false,
            repartition_topics,
            purgeable: HashMap::new(),
            last_purge: Instant::now(),
            admin: None,
            purging: Arc::default(),
            changelogs,
            transactional_id,
            consecutive_aborts: 0,
            metrics,
            last_publish: Instant::now(),
            maxima: BTreeMap::new(),
            last_store_publish: Instant::now(),
            sink_maxima: BTreeMap::new(),
            last_end_offsets_query: Instant::now(),
            commit_failing_since: None,
            corrupted: BTreeSet::new(),
            move_aside: BTreeSet::new(),
        })
    }

    /// Runs until asked to stop or until a fatal error.
    pub(crate) fn run(mut self) -> Result<()> {
        let mut result = self.run_loop();
        if result.is_ok() {
            // Clean shutdown: commit what was processed, then close.
            self.control
                .set_shutdown_step(self.index, "committing what was processed");
            result = self.commit();
            let clean = result.is_ok() && self.commit_failing_since.is_none();
            if result.is_ok() && !clean {
                tracing::warn!(thread = %self.name, "offsets could not be committed at shutdown; closing the tasks without committing their stores");
                // Nor may the revocation callback commit offsets the stores did not reach.
                self.shared.pending_offsets.lock().clear();
            }
            self.control
                .set_shutdown_step(self.index, "closing its tasks");
            self.close_all_tasks(clean);
        }
        if let Err(e) = &result {
            self.control
                .set_shutdown_step(self.index, "closing its tasks after a failure");
            tracing::error!(thread = %self.name, error = %e, "stream thread failed; closing its tasks without committing");
            // Nothing may be committed from here on: not by us, and not by the revocation
            // callback that runs when the consumer leaves the group. Dropping the producer
            // handle also keeps that callback from waiting on a flush.
            if self.shared.exactly_once {
                abort_transaction(&self.shared, &self.name);
            }
            self.shared.pending_offsets.lock().clear();
            *self.shared.producer.lock() = None;
            self.close_all_tasks(false);
        }
        self.control
            .set_shutdown_step(self.index, "leaving the consumer group");
        self.consumer.unsubscribe();
        // Its tasks are gone: so are their metrics.
        self.tasks.clear();
        self.publish_metrics();
        // The clients close when `self` drops, on return.
        self.control
            .set_shutdown_step(self.index, "closing its Kafka clients");
        result
    }

    fn run_loop(&mut self) -> Result<()> {
        let topics: Vec<&str> = self.topics.names().collect();
        self.consumer
            .subscribe(&topics)
            .map_err(|e| StreamsError::kafka("subscribing to the source topics", e))?;
        self.control
            .set_thread_state(self.index, ThreadState::Rebalancing);
        while !self.control.stop_requested() {
            match self.round() {
                Ok(()) => {}
                Err(
                    e @ (StreamsError::TaskMigrated { .. }
                    | StreamsError::TransactionAborted { .. }),
                ) if self.shared.exactly_once => self.recover(e)?,
                Err(e @ StreamsError::StoreCorrupted { .. }) if !self.corrupted.is_empty() => {
                    self.repair_corrupted(e)?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One turn of the loop: poll, restore, process, punctuate, and commit when due.
    fn round(&mut self) -> Result<()> {
        use crate::metrics::ThreadMetrics;
        let started = Instant::now();
        self.poll()?;
        let m = self.metrics.clone();
        ThreadMetrics::add(&m.polls, &m.poll_nanos, 1, started.elapsed());
        if self
            .shared
            .producer_broken
            .load(std::sync::atomic::Ordering::Acquire)
        {
            // The revocation callback could not abort: the tasks it concerned are closed.
            self.replace_producer()?;
        }
        self.retry_deferred()?;
        self.restore()?;
        if self.awaiting_ready && self.restoring.is_empty() && self.deferred.is_empty() {
            self.awaiting_ready = false;
            self.control
                .set_thread_state(self.index, ThreadState::Running);
        }
        if self
            .control
            .paused
            .load(std::sync::atomic::Ordering::Acquire)
        {
            // Paused: keep the group membership and the commits, process nothing. Full
            // buffers pause their partitions as usual, so memory stays bounded.
            if self.last_commit.elapsed() >= self.config.commit_interval() {
                self.commit()?;
            }
            if self.last_publish.elapsed() >= METRICS_PUBLISH_INTERVAL {
                self.publish_metrics();
            }
            return Ok(());
        }
        let started = Instant::now();
        let processed = self.process()?;
        if processed > 0 {
            ThreadMetrics::add(
                &m.process_records,
                &m.process_nanos,
                processed,
                started.elapsed(),
            );
        }
        serve_deliveries(&self.collector.borrow().producer);
        let started = Instant::now();
        let fired = self.punctuate()?;
        if fired > 0 {
            ThreadMetrics::add(
                &m.punctuate_calls,
                &m.punctuate_nanos,
                fired,
                started.elapsed(),
            );
        }
        // While commits fail in a way that passes, only the interval tries again (each try
        // may block for a while).
        let failing = self.commit_failing_since.is_some();
        if self.last_commit.elapsed() >= self.config.commit_interval()
            || (!failing
                && (self.tasks.values().any(StreamTask::commit_requested)
                    || self.uncommitted_bytes() > self.config.uncommitted_max_bytes()))
        {
            self.commit()?;
        }
        if self.last_publish.elapsed() >= METRICS_PUBLISH_INTERVAL {
            self.publish_metrics();
        }
        Ok(())
    }

    /// Asks the broker for the end offsets of the partitions paused because their buffers are
    /// full: the consumer's statistics stop following a partition it does not fetch, so the
    /// lag of exactly the partitions that fall behind would freeze. At most once a second, in
    /// one round trip per paused partition.
    fn refresh_paused_end_offsets(&mut self) {
        if self.paused.is_empty() || self.last_end_offsets_query.elapsed() < Duration::from_secs(1)
        {
            return;
        }
        self.last_end_offsets_query = Instant::now();
        let paused: Vec<(String, i32)> = self.paused.iter().cloned().collect();
        for (topic, partition) in paused {
            match self
                .consumer
                .fetch_watermarks(&topic, partition, Duration::from_millis(500))
            {
                Ok((_, high)) if high >= 0 => {
                    let mut ends = self.shared.end_offsets.lock();
                    clients::raise_end_offset(&mut ends, &topic, partition, high);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(thread = %self.name, error = %e, %topic, partition, "end offset of a paused partition");
                }
            }
        }
    }

    /// Publishes the tasks' counters and the input lag for the metrics.
    fn publish_metrics(&mut self) {
        self.last_publish = Instant::now();
        self.refresh_paused_end_offsets();
        let ends = self.shared.end_offsets.lock().clone();
        let mut tasks = BTreeMap::new();
        let mut lag = BTreeMap::new();
        self.maxima.retain(|id, _| self.tasks.contains_key(id));
        self.sink_maxima
            .retain(|(id, _), _| self.tasks.contains_key(id));
        let mut consumer_positions: Option<HashMap<(String, i32), i64>> = None;
        let mut remaining: BTreeMap<TaskId, i64> = BTreeMap::new();
        for (task, next, end) in self.restoring.values() {
            *remaining.entry(*task).or_default() += (*end - *next).max(0);
        }
        for (id, task) in &mut self.tasks {
            let (lateness, e2e) = task.take_maxima();
            let sinks = task
                .take_sink_latencies()
                .into_iter()
                .map(|(node, mut l)| {
                    l.e2e_max_ms = self
                        .sink_maxima
                        .entry((*id, node.clone()))
                        .or_insert_with(crate::metrics::WindowedMax::new)
                        .observe(l.e2e_max_ms);
                    (node.to_string(), l)
                })
                .collect();
            let (lateness_max, e2e_max) = self.maxima.entry(*id).or_insert_with(|| {
                (
                    crate::metrics::WindowedMax::new(),
                    crate::metrics::WindowedMax::new(),
                )
            });
            let c = task.counters();
            tasks.insert(
                *id,
                crate::metrics::TaskSample {
                    processed: c.processed,
                    dropped: c.dropped,
                    late_dropped: c.late_dropped,
                    dead_lettered: c.dead_lettered,
                    punctuations: c.punctuations,
                    buffered: task.buffered() as u64,
                    lateness_ms_total: c.lateness_ms_total,
                    lateness_max_ms: lateness_max.observe(lateness),
                    e2e_latency_ms_total: c.e2e_latency_ms_total,
                    e2e_latency_max_ms: e2e_max.observe(e2e),
                    sinks,
                    restore_remaining: remaining.get(id).copied().unwrap_or(0).max(0) as u64,
                },
            );
            for (topic, partition, next, drained) in task.next_offsets() {
                let key = (topic.to_owned(), partition);
                let (Some(mut next), Some(end)) = (next, ends.get(&key)) else {
                    continue;
                };
                // Transaction markers (input written in transactions, as repartition topics
                // are under exactly-once) take offsets but never reach the task: once its
                // buffer is drained, the consumer's position, which steps over them, says
                // how far the partition is read.
                if drained && *end > next {
                    let positions =
                        consumer_positions.get_or_insert_with(|| positions_of(&self.consumer));
                    if let Some(position) = positions.get(&key) {
                        next = next.max(*position);
                    }
                }
                // The end offset may be older than the position: never below zero.
                lag.insert(key, (end - next).max(0));
            }
        }
        *self.metrics.tasks.lock() = tasks;
        *self.metrics.lag.lock() = lag;
        if self.last_store_publish.elapsed() >= STORE_METRICS_INTERVAL || self.tasks.is_empty() {
            self.last_store_publish = Instant::now();
            let stores = self
                .tasks
                .iter()
                .flat_map(|(id, task)| {
                    task.store_metrics()
                        .into_iter()
                        .map(move |(store, m)| (*id, store, m))
                })
                .collect();
            *self.metrics.stores.lock() = stores;
        }
    }

    fn uncommitted_bytes(&self) -> usize {
        self.tasks.values().map(StreamTask::uncommitted_bytes).sum()
    }

    /// Recovers from a failed transaction (exactly-once). An abortable failure aborts the
    /// transaction and rewinds every task, input and state, to the last commit. A migration
    /// (fenced producer, stale group membership) closes every task without committing,
    /// replaces the producer and rejoins the group, whose next assignment starts the tasks
    /// again from the committed offsets. Either way nothing of the aborted transaction
    /// remains, in Kafka or in the stores.
    fn recover(&mut self, error: StreamsError) -> Result<()> {
        self.consecutive_aborts += 1;
        if self.consecutive_aborts > MAX_CONSECUTIVE_ABORTS {
            return Err(StreamsError::IllegalState(format!(
                "{MAX_CONSECUTIVE_ABORTS} transactions in a row failed to commit; the last: {error}"
            )));
        }
        abort_transaction(&self.shared, &self.name);
        match error {
            StreamsError::TaskMigrated { message, .. } => {
                tracing::warn!(thread = %self.name, %message, "tasks migrated: closing them without committing and rejoining the group");
                let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
                self.close_tasks(&ids, false)?;
                self.replace_producer()?;
                self.deferred.clear();
                self.waiting_for_transactions.clear();
                self.rewind.clear();
                self.consumer.unsubscribe();
                let topics: Vec<&str> = self.topics.names().collect();
                self.consumer.subscribe(&topics).map_err(|e| {
                    StreamsError::kafka("subscribing to the source topics again", e)
                })?;
                self.control
                    .set_thread_state(self.index, ThreadState::Rebalancing);
            }
            other => {
                tracing::warn!(thread = %self.name, error = %other, "transaction aborted: rewinding the tasks to the last commit");
                if self
                    .shared
                    .producer_broken
                    .load(std::sync::atomic::Ordering::Acquire)
                {
                    self.replace_producer()?;
                }
                self.rewind_tasks()?;
            }
        }
        self.last_commit = Instant::now();
        Ok(())
    }

    /// A store of the tasks in `self.corrupted` reported corruption while running (a
    /// damaged block read, a commit refused by a database that found damage): those tasks
    /// are closed without committing, their state is moved aside, and they start again from
    /// the committed offsets, restoring their stores from the changelogs. Under exactly-once
    /// the open transaction is aborted and every task rewinds, as after any abort.
    fn repair_corrupted(&mut self, error: StreamsError) -> Result<()> {
        let ids: Vec<TaskId> = std::mem::take(&mut self.corrupted).into_iter().collect();
        tracing::error!(thread = %self.name, tasks = ?ids, %error, "state store corrupt while running; moving the tasks' state aside and restoring it from the changelogs");
        self.move_aside.extend(ids.iter().copied());
        if self.shared.exactly_once {
            abort_transaction(&self.shared, &self.name);
            if self
                .shared
                .producer_broken
                .load(std::sync::atomic::Ordering::Acquire)
            {
                self.replace_producer()?;
            }
            self.rewind_tasks()
        } else {
            self.rewind(ids)
        }
    }

    /// Replaces the thread's producer (same transactional id: initialising it fences the
    /// old one and aborts its transaction).
    fn replace_producer(&mut self) -> Result<()> {
        let producer = Arc::new(create_producer(
            &self.config,
            &format!("{}-producer", self.name),
            self.changelogs.clone(),
            self.transactional_id.as_deref(),
            Some(self.metrics.clone()),
        )?);
        *self.shared.producer.lock() = Some(producer.clone());
        self.collector.borrow_mut().producer = producer;
        self.shared
            .in_transaction
            .store(false, std::sync::atomic::Ordering::Release);
        self.shared
            .producer_broken
            .store(false, std::sync::atomic::Ordering::Release);
        tracing::info!(thread = %self.name, "replaced the producer");
        Ok(())
    }

    /// Closes every task without committing, moves its input back to the committed offsets
    /// and starts it again: its stores reopen at their last commit and restore what the
    /// changelogs committed after it.
    fn rewind_tasks(&mut self) -> Result<()> {
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        self.rewind(ids)
    }

    /// Closes the tasks `ids` without committing, seeks their inputs back to the committed
    /// offsets and starts them again (restoring what their stores lack).
    fn rewind(&mut self, ids: Vec<TaskId>) -> Result<()> {
        let mut inputs = TopicPartitionList::new();
        // Inputs paused in librdkafka (full, or restoring): closing the tasks forgets them
        // here, so they are resumed after the seek; starting the tasks pauses what must be.
        let mut paused = TopicPartitionList::new();
        for task in ids.iter().filter_map(|id| self.tasks.get(id)) {
            for (topic, partition) in task.input_partitions() {
                inputs.add_partition(topic, partition);
                if task.is_restoring() || self.paused.contains(&(topic.to_owned(), partition)) {
                    paused.add_partition(topic, partition);
                }
            }
        }
        self.close_tasks(&ids, false)?;
        // What these tasks processed since the last commit is processed again: its offsets
        // must not commit.
        {
            let rewound: HashSet<(String, i32)> = inputs
                .elements()
                .iter()
                .map(|e| (e.topic().to_owned(), e.partition()))
                .collect();
            self.shared
                .pending_offsets
                .lock()
                .retain(|key, _| !rewound.contains(key));
        }
        if inputs.count() > 0 {
            let committed = clients::with_retries(Duration::from_secs(30), || {
                self.consumer
                    .committed_offsets(inputs.clone(), Duration::from_secs(10))
            })
            .map_err(|e| StreamsError::kafka("reading committed offsets to rewind to", e))?;
            for e in committed.elements() {
                let offset = match e.offset() {
                    Offset::Offset(o) => Offset::Offset(o),
                    _ => match self.topology.offset_reset(e.topic()) {
                        Some(crate::topology::OffsetReset::Latest) => Offset::End,
                        _ => Offset::Beginning,
                    },
                };
                self.consumer
                    .seek(e.topic(), e.partition(), offset, Duration::from_secs(10))
                    .map_err(|err| StreamsError::kafka("rewinding a task's input", err))?;
            }
        }
        if paused.count() > 0 {
            self.consumer
                .resume(&paused)
                .map_err(|e| StreamsError::kafka("resuming a rewound task's input", e))?;
        }
        for id in ids {
            if let Some(sub) = self
                .subtopologies
                .iter()
                .position(|s| s.id == id.subtopology)
            {
                self.start_or_defer(id, sub)?;
            }
        }
        self.awaiting_ready = true;
        Ok(())
    }

    /// Closes the tasks `ids` (committing their stores when `clean`) and forgets their
    /// restoration and paused partitions.
    fn close_tasks(&mut self, ids: &[TaskId], clean: bool) -> Result<()> {
        let mut inputs: HashSet<(String, i32)> = HashSet::new();
        for id in ids {
            if let Some(task) = self.tasks.remove(id) {
                inputs.extend(task.input_partitions().map(|(t, p)| (t.to_owned(), p)));
                tracing::info!(thread = %self.name, task = %id, clean, "closing task");
                self.close_task(*id, task, clean);
            }
        }
        self.paused.retain(|tp| !inputs.contains(tp));
        let before = self.restoring.len();
        let tasks = &self.tasks;
        let control = &self.control;
        self.restoring.retain(|_, (task, next, end)| {
            let keep = tasks.contains_key(task);
            if !keep {
                control.add_remaining(-(*end - *next).max(0));
            }
            keep
        });
        if self.restoring.len() != before {
            self.assign_restore_consumer()?;
        }
        Ok(())
    }

    fn poll(&mut self) -> Result<()> {
        self.pause_full()?;
        let (taken, more) = self.poll_queues()?;
        // Waits only when there is nothing to do: no records came, none wait, and no task has
        // buffered records or restores (judged after the poll, which may have started tasks).
        // Restoring tasks wait in the restore consumer's poll instead; while the client is
        // paused, buffered records wait, and so does the poll.
        let paused = self
            .control
            .paused
            .load(std::sync::atomic::Ordering::Acquire);
        let busy = !self.restoring.is_empty()
            || (!paused && self.tasks.values().any(|t| t.buffered() > 0));
        if taken == 0 && !more && !busy {
            self.fetch.wait(self.config.poll_interval());
            self.poll_queues()?;
        }
        Ok(())
    }

    /// Takes what waits in the consumer's queue, then (when that is empty) up to a round's
    /// worth of records from the fetch queue, without waiting (see `fetch.rs`). Returns the
    /// records taken and whether more may be waiting.
    fn poll_queues(&mut self) -> Result<(usize, bool)> {
        let mut taken = 0;
        let mut polls = 0;
        // Events, and records fetched before their partition was forwarded: these come before
        // anything of the same partition in the fetch queue.
        while self.fetch.consumer_queue_len() > 0 {
            if polls == MAX_POLL_RECORDS {
                return Ok((taken, true));
            }
            polls += 1;
            let polled = self.consumer.poll(Duration::ZERO);
            let raw = match &polled {
                None => None,
                Some(Ok(m)) => self.raw_record(MessageRef::of(m)),
                Some(Err(e)) => {
                    self.consumer_error(e.clone(), None)?;
                    None
                }
            };
            drop(polled);
            self.apply_rebalance_events()?;
            if let Some((raw, sub)) = raw {
                taken += 1;
                if self.route(raw, sub)? {
                    return Ok((taken, true));
                }
            }
        }
        // A batch may hold records of any assigned partition: it takes no more than the
        // fullest queue has room for, so that no queue grows past its limit.
        let max = (MAX_POLL_RECORDS - taken).min(self.room());
        let fetched = self.fetch.take(max);
        let more = fetched.len() == max;
        let mut full = false;
        for m in fetched.iter() {
            if let Some(code) = m.error() {
                self.consumer_error(
                    rdkafka::error::KafkaError::MessageConsumption(code),
                    Some(m),
                )?;
                continue;
            }
            if let Some((raw, sub)) = self.raw_record(m) {
                taken += 1;
                full |= self.route(raw, sub)?;
            }
        }
        Ok((taken, more || full))
    }

    /// A consumer error from either queue: fatal ones stop the thread, the others are
    /// logged (librdkafka retries them itself), with the partition when one is named.
    fn consumer_error(
        &self,
        e: rdkafka::error::KafkaError,
        at: Option<MessageRef<'_>>,
    ) -> Result<()> {
        if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::Fatal) {
            return Err(StreamsError::kafka("polling", e));
        }
        match at {
            Some(m) => {
                tracing::warn!(thread = %self.name, topic = %String::from_utf8_lossy(m.topic()), partition = m.partition(), error = %e, "consumer error")
            }
            None => tracing::warn!(thread = %self.name, error = %e, "consumer error"),
        }
        Ok(())
    }

    /// The fewest records any input partition's queue still has room for, among those not
    /// full (the full ones are paused by [`Self::pause_full`] before polling, so nothing of
    /// theirs is fetched).
    fn room(&self) -> usize {
        let mut room = usize::MAX;
        for task in self.tasks.values() {
            let max = task.max_buffered_per_partition();
            for (topic, partition) in task.input_partitions() {
                let buffered = task.buffered_in(topic, partition);
                if buffered < max {
                    room = room.min(max - buffered);
                }
            }
        }
        room
    }

    /// Copies a consumed record out of librdkafka, with the index of its sub-topology; `None`
    /// for a topic the thread does not read.
    fn raw_record(&self, m: MessageRef<'_>) -> Option<(RawRecord, usize)> {
        let (topic, sub) = self.topics.get_bytes(m.topic())?;
        Some((
            RawRecord {
                topic: topic.clone(),
                partition: m.partition(),
                offset: m.offset(),
                timestamp: m.timestamp(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers: m.headers(),
            },
            *sub,
        ))
    }

    /// Queues a record of sub-topology `sub` in its task; returns true when its partition's
    /// queue is now full.
    fn route(&mut self, raw: RawRecord, sub: usize) -> Result<bool> {
        let id = TaskId {
            subtopology: self.subtopologies[sub].id,
            partition: raw.partition,
        };
        let Some(task) = self.tasks.get_mut(&id) else {
            if self.deferred.contains_key(&id) {
                let first = self
                    .rewind
                    .entry((raw.topic.to_string(), raw.partition))
                    .or_insert(raw.offset);
                *first = (*first).min(raw.offset);
            }
            tracing::debug!(thread = %self.name, task = %id, "dropping a record for a task this thread does not own");
            return Ok(false);
        };
        let queued = task.push_record(raw)?;
        Ok(queued >= task.max_buffered_per_partition())
    }

    /// Pauses partitions whose queue is still full after processing (their task could not
    /// take records), so that librdkafka stops fetching them; [`Self::resume_drained`] resumes
    /// them once they are half empty. Polling itself stops at a full queue, so a task that
    /// keeps up never causes a pause (pausing drops librdkafka's prefetched records).
    fn pause_full(&mut self) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for task in self.tasks.values() {
            for (topic, partition) in task.input_partitions() {
                if task.buffered_in(topic, partition) >= task.max_buffered_per_partition()
                    && self.paused.insert((topic.to_owned(), partition))
                {
                    tpl.add_partition(topic, partition);
                }
            }
        }
        if tpl.count() > 0 {
            self.consumer
                .pause(&tpl)
                .map_err(|e| StreamsError::kafka("pausing full partitions", e))?;
        }
        Ok(())
    }

    fn apply_rebalance_events(&mut self) -> Result<()> {
        for event in self.shared.take_events() {
            match event {
                RebalanceEvent::Revoked {
                    partitions,
                    lost,
                    committed,
                } => {
                    self.awaiting_ready = false;
                    self.control
                        .set_thread_state(self.index, ThreadState::Rebalancing);
                    // A partition the application paused stays paused in librdkafka through
                    // revocation and a later assignment; this thread forgets its pauses with
                    // the tasks, so it lifts them now (the partitions no longer fetch: that
                    // is all a resume does to them).
                    if let Err(e) = self.consumer.resume(&partition_list(
                        partitions.iter().map(|(t, p)| (t.as_str(), *p)),
                    )) {
                        tracing::warn!(thread = %self.name, error = %e, "resuming revoked partitions failed");
                    }
                    let revoked: HashSet<(String, i32)> = partitions.into_iter().collect();
                    let ids: Vec<TaskId> = self
                        .tasks
                        .iter()
                        .filter(|(_, t)| {
                            t.input_partitions()
                                .any(|(tp, p)| revoked.contains(&(tp.to_owned(), p)))
                        })
                        .map(|(id, _)| *id)
                        .collect();
                    if lost {
                        tracing::info!(thread = %self.name, "partitions lost: closing their tasks without committing");
                    }
                    self.close_tasks(&ids, committed)?;
                    self.paused.retain(|tp| !revoked.contains(tp));
                    self.deferred
                        .retain(|id, _| !revoked.iter().any(|(_, p)| *p == id.partition));
                    let deferred = &self.deferred;
                    self.waiting_for_transactions
                        .retain(|id, _| deferred.contains_key(id));
                    self.rewind.retain(|tp, _| !revoked.contains(tp));
                }
                RebalanceEvent::Assigned(partitions) => {
                    self.fetch.forward(&self.consumer, &partitions);
                    let mut wanted: BTreeMap<TaskId, usize> = BTreeMap::new();
                    for (topic, partition) in &partitions {
                        if let Some(&(_, sub)) = self.topics.get(topic) {
                            wanted.insert(
                                TaskId {
                                    subtopology: self.subtopologies[sub].id,
                                    partition: *partition,
                                },
                                sub,
                            );
                        }
                    }
                    for (id, sub) in wanted {
                        if self.tasks.contains_key(&id) {
                            continue;
                        }
                        self.start_or_defer(id, sub)?;
                    }
                    // Running once every new task has restored (checked each round).
                    self.awaiting_ready = true;
                }
            }
        }
        Ok(())
    }

    /// Starts a task, or defers it while another thread or process holds its state lock (or
    /// one of its changelogs has an open transaction). While a task is deferred its input
    /// partitions are paused; records fetched for it before the pause are dropped by `route`,
    /// which remembers the first such offset, and the partition is rewound there and resumed
    /// when the task starts, so nothing is skipped.
    fn start_or_defer(&mut self, id: TaskId, sub: usize) -> Result<()> {
        self.try_start(id, sub, None)
    }

    /// One attempt to start task `id`; `deferred` is its entry when an earlier attempt
    /// deferred it (taken out of the map by the caller).
    fn try_start(&mut self, id: TaskId, sub: usize, deferred: Option<Deferred>) -> Result<()> {
        let inputs: Vec<(String, i32)> = self.subtopologies[sub]
            .source_topics
            .iter()
            .map(|t| (t.clone(), id.partition))
            .collect();
        let attempt = match self.waiting_for_transactions.get(&id) {
            Some(at) if Instant::now() < *at => Ok(Started::Waiting),
            _ => self.start_task(id, sub),
        };
        match attempt {
            Ok(Started::Waiting) | Err(StreamsError::TaskLocked { .. }) => {
                let locked = match &attempt {
                    Err(StreamsError::TaskLocked { path, .. }) => Some(path.as_str()),
                    _ => None,
                };
                let entry = match deferred {
                    Some(mut d) => {
                        d.backoff(locked, &self.name, id);
                        d
                    }
                    None => {
                        if let Some(path) = locked {
                            tracing::warn!(thread = %self.name, task = %id, %path, "task state locked elsewhere; retrying until it is released");
                        }
                        self.consumer
                            .pause(&partition_list(
                                inputs.iter().map(|(t, p)| (t.as_str(), *p)),
                            ))
                            .map_err(|e| {
                                StreamsError::kafka("pausing a deferred task's input", e)
                            })?;
                        Deferred::new(sub)
                    }
                };
                self.deferred.insert(id, entry);
                Ok(())
            }
            Err(e) => Err(e),
            Ok(Started::Yes) => {
                let Some(d) = deferred else { return Ok(()) };
                tracing::info!(thread = %self.name, task = %id, waited_ms = d.since.elapsed().as_millis() as u64, "deferred task started");
                for (topic, partition) in &inputs {
                    if let Some(offset) = self.rewind.remove(&(topic.clone(), *partition)) {
                        self.consumer
                            .seek(
                                topic,
                                *partition,
                                Offset::Offset(offset),
                                Duration::from_secs(10),
                            )
                            .map_err(|e| {
                                StreamsError::kafka("rewinding a deferred task's input", e)
                            })?;
                    }
                }
                // A restoring task's input stays paused until its restoration ends.
                let restoring = self.tasks.get(&id).is_some_and(StreamTask::is_restoring);
                if !restoring {
                    self.consumer
                        .resume(&partition_list(
                            inputs.iter().map(|(t, p)| (t.as_str(), *p)),
                        ))
                        .map_err(|e| StreamsError::kafka("resuming a deferred task's input", e))?;
                }
                Ok(())
            }
        }
    }

    /// Retries the deferred tasks whose backoff has passed.
    fn retry_deferred(&mut self) -> Result<()> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let due: Vec<TaskId> = self
            .deferred
            .iter()
            .filter(|(_, d)| d.next_try <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(d) = self.deferred.remove(&id) {
                self.try_start(id, d.sub, Some(d))?;
            }
        }
        Ok(())
    }

    fn build_task(&self, id: TaskId, sub: usize) -> Result<StreamTask> {
        let env = TaskEnv {
            application_id: self.config.application_id().into(),
            state_dir: self.config.state_dir().to_path_buf(),
            collector: self.collector.clone(),
            settings: self.config.task_settings(),
            wall_clock: now_ms(),
        };
        self.topology
            .build_task(&self.subtopologies[sub], id.partition, env)
    }

    fn start_task(&mut self, id: TaskId, sub: usize) -> Result<Started> {
        if let Some(open) = self.open_changelog_transaction(id, sub)? {
            if self
                .waiting_for_transactions
                .insert(id, Instant::now() + Duration::from_millis(200))
                .is_none()
            {
                tracing::info!(thread = %self.name, task = %id, changelog = %open, "a changelog partition has an open transaction (a previous owner's); waiting for it to end before restoring");
            }
            return Ok(Started::Waiting);
        }
        self.waiting_for_transactions.remove(&id);
        if self.move_aside.remove(&id) {
            let dir = self
                .config
                .state_dir()
                .join(self.config.application_id())
                .join(id.to_string());
            if dir.exists() {
                let _lock = crate::state_manager::lock_task_dir(&dir, id)?;
                let moved = crate::state_manager::move_state_aside(&dir)?;
                tracing::error!(thread = %self.name, task = %id, dir = %dir.display(), moved_to = %moved.display(), "moved the task's corrupt state aside");
                self.metrics
                    .state_corruptions
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let mut task = self.build_task(id, sub)?;
        if task.state.state_moved_aside.is_some() {
            self.metrics
                .state_corruptions
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        // Watermarks of each changelog partition; a checkpoint outside them is not this
        // changelog's (deleted and recreated topic, foreign state): wipe and start over.
        let mut ranges = Vec::new();
        for c in task.changelogs() {
            let consumer = self.restore_consumer()?;
            let (low, high) = clients::watermarks(consumer, &c.topic, c.partition)?;
            ranges.push((c.clone(), low, high));
        }
        if ranges
            .iter()
            .any(|(c, low, high)| c.checkpoint.is_some_and(|o| o < *low || o > *high))
        {
            tracing::warn!(thread = %self.name, task = %id, "checkpoint outside the changelog's offsets; wiping the task's state");
            task.close()?;
            let dir = task.task_dir().to_path_buf();
            // Release the task's lock before wiping and rebuilding it.
            drop(task);
            std::fs::remove_dir_all(&dir)
                .map_err(|e| StreamsError::io(format!("wiping {}", dir.display()), e))?;
            task = self.build_task(id, sub)?;
            for (c, _, _) in &mut ranges {
                c.checkpoint = None;
            }
        }
        let mut restoring = false;
        for (c, low, high) in ranges {
            let start = c.checkpoint.unwrap_or(low);
            if high <= start {
                // Nothing to restore: the store holds every change before the end.
                task.state
                    .set_checkpoint(&c.topic, c.partition, start.max(high));
            } else {
                task.state.start_restoring(&c.topic, c.partition, high);
                self.control.add_remaining(high - start);
                if let Some(l) = &self.restore_listener {
                    l.on_restore_start(&c.store, &c.topic, c.partition, start, high);
                }
                self.restoring
                    .insert((c.topic.clone(), c.partition), (id, start, high));
                restoring = true;
            }
        }
        if restoring {
            self.consumer
                .pause(&partition_list(task.input_partitions()))
                .map_err(|e| StreamsError::kafka("pausing a restoring task's input", e))?;
            tracing::info!(thread = %self.name, task = %id, "created task; restoring its stores");
            self.tasks.insert(id, task);
            self.assign_restore_consumer()?;
        } else {
            task.initialize()?;
            tracing::info!(thread = %self.name, task = %id, "created task");
            self.tasks.insert(id, task);
        }
        Ok(Started::Yes)
    }

    /// The thread's restore consumer, created on first use.
    fn restore_consumer(&mut self) -> Result<&BaseConsumer> {
        if self.restore_consumer.is_none() {
            self.restore_consumer = Some(create_restore_consumer(
                &self.config,
                &format!("{}-restore-consumer", self.name),
            )?);
        }
        self.restore_consumer
            .as_ref()
            .ok_or_else(|| StreamsError::IllegalState("no restore consumer".into()))
    }

    /// Under exactly-once, the first changelog partition of the task whose last stable offset
    /// is below its high watermark: a transaction a previous owner left open. Restoring up to
    /// the last stable offset would miss records other owners committed after that
    /// transaction began, so the task waits until it ends (committed or aborted, at the
    /// latest when the transaction times out).
    fn open_changelog_transaction(&mut self, id: TaskId, sub: usize) -> Result<Option<String>> {
        if !self.shared.exactly_once {
            return Ok(None);
        }
        let sub_id = self.subtopologies[sub].id;
        let changelogs: Vec<String> = self
            .topology
            .changelog_topics(self.config.application_id())
            .into_iter()
            .filter(|(_, s, _)| *s == sub_id)
            .map(|(topic, _, _)| topic)
            .collect();
        if changelogs.is_empty() {
            return Ok(None);
        }
        self.restore_consumer()?;
        if self.watermarks.is_none() {
            self.watermarks = Some(clients::create_watermark_client(
                &self.config,
                &format!("{}-watermarks", self.name),
            )?);
        }
        let (Some(committed), Some(all)) = (&self.restore_consumer, &self.watermarks) else {
            return Ok(None);
        };
        for topic in changelogs {
            let (_, stable) = clients::watermarks(committed, &topic, id.partition)?;
            let (_, high) = clients::watermarks(all, &topic, id.partition)?;
            if stable < high {
                return Ok(Some(format!("{topic}-{}", id.partition)));
            }
        }
        Ok(None)
    }

    /// Points the restore consumer at every changelog partition still restoring, each at its
    /// next offset.
    fn assign_restore_consumer(&mut self) -> Result<()> {
        let Some(consumer) = self.restore_consumer.as_ref() else {
            return Ok(());
        };
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), (_, next, _)) in &self.restoring {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))
                .map_err(|e| StreamsError::kafka("assigning the restore consumer", e))?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| StreamsError::kafka("assigning the restore consumer", e))
    }

    /// One step of restoration: applies up to [`RESTORE_STEP_RECORDS`] changelog records or
    /// [`RESTORE_STEP_BYTES`] of them (or what arrives within [`RESTORE_STEP_TIME`]), then
    /// finishes the partitions that reached their end. Bounded, so processing of other tasks
    /// and polling of the main consumer go on between steps.
    fn restore(&mut self) -> Result<()> {
        if self.restoring.is_empty() {
            return Ok(());
        }
        let Some(consumer) = self.restore_consumer.as_ref() else {
            return Ok(());
        };
        let idle = !self
            .tasks
            .values()
            .any(|t| !t.is_restoring() && t.buffered() > 0);
        let mut timeout = if idle {
            Duration::from_millis(10)
        } else {
            Duration::ZERO
        };
        let mut batches: BTreeMap<(String, i32), Vec<crate::store::Change>> = BTreeMap::new();
        let started: BTreeMap<(String, i32), i64> = self
            .restoring
            .iter()
            .map(|(key, (_, next, _))| (key.clone(), *next))
            .collect();
        // The partition of the previous record and its batch: consecutive records mostly come
        // from one partition, so the map is touched only when the partition changes.
        let mut current: Option<((String, i32), Vec<crate::store::Change>, i64)> = None;
        let step_started = Instant::now();
        let mut step_bytes = 0;
        for polled_count in 0..RESTORE_STEP_RECORDS {
            if step_bytes >= RESTORE_STEP_BYTES
                || (polled_count % 1024 == 1023 && step_started.elapsed() >= RESTORE_STEP_TIME)
            {
                break;
            }
            let polled = consumer.poll(timeout);
            timeout = Duration::ZERO;
            let m = match polled {
                None => break,
                Some(Err(e)) => {
                    tracing::warn!(thread = %self.name, error = %e, "restore consumer error");
                    break;
                }
                Some(Ok(m)) => m,
            };
            let same =
                matches!(&current, Some(((t, p), _, _)) if *p == m.partition() && t == m.topic());
            if !same {
                if let Some((key, batch, next)) = current.take() {
                    finish_batch(&mut self.restoring, &mut batches, key, batch, next);
                }
                let key = (m.topic().to_owned(), m.partition());
                if !self.restoring.contains_key(&key) {
                    continue;
                }
                let batch = batches.remove(&key).unwrap_or_default();
                current = Some((key, batch, 0));
            }
            if let Some((_, batch, next)) = current.as_mut() {
                *next = m.offset() + 1;
                if let Some(k) = m.key() {
                    step_bytes += k.len() + m.payload().map_or(0, <[u8]>::len);
                    batch.push((k.to_vec(), m.payload().map(<[u8]>::to_vec)));
                }
            }
        }
        if let Some((key, batch, next)) = current.take() {
            finish_batch(&mut self.restoring, &mut batches, key, batch, next);
        }
        for ((topic, partition), batch) in &batches {
            if let Some((id, next, _)) = self.restoring.get(&(topic.clone(), *partition))
                && let Some(task) = self.tasks.get_mut(id)
            {
                task.restore(topic, *partition, batch, *next)?;
                if let Some(l) = &self.restore_listener {
                    let store = task
                        .changelogs()
                        .iter()
                        .find(|c| &c.topic == topic)
                        .map_or("", |c| c.store.as_str());
                    l.on_batch_restored(store, topic, *partition, *next, batch.len() as u64);
                }
            }
        }
        let progressed: i64 = self
            .restoring
            .iter()
            .map(|(key, (_, next, _))| next - started.get(key).copied().unwrap_or(*next))
            .sum();
        self.control.add_remaining(-progressed);
        // Done when the consumer's position reaches the end offset (compaction and control
        // records leave gaps, so the last offset received may never be end - 1).
        let positions = consumer
            .position()
            .map_err(|e| StreamsError::kafka("reading restore positions", e))?;
        let mut finished = Vec::new();
        for ((topic, partition), (_, next, end)) in &self.restoring {
            let position = positions
                .find_partition(topic, *partition)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .unwrap_or(-1);
            if (*next).max(position) >= *end {
                finished.push((topic.clone(), *partition));
            }
        }
        if finished.is_empty() {
            return Ok(());
        }
        for key in finished {
            let Some((id, next, end)) = self.restoring.remove(&key) else {
                continue;
            };
            // Offsets skipped at the end (compaction, control records) are not remaining either.
            self.control.add_remaining(-(end - next).max(0));
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            task.state.finish_restoring(&key.0, key.1);
            if let Some(l) = &self.restore_listener
                && let Some(c) = task
                    .changelogs()
                    .iter()
                    .find(|c| c.topic == key.0 && c.partition == key.1)
            {
                l.on_restore_end(&c.store, &c.topic, c.partition, c.restored);
            }
            if !task.is_restoring() {
                let restored: u64 = task.changelogs().iter().map(|c| c.restored).sum();
                self.control.add_restored(restored);
                task.initialize()?;
                self.consumer
                    .resume(&partition_list(task.input_partitions()))
                    .map_err(|e| StreamsError::kafka("resuming a restored task's input", e))?;
                tracing::info!(thread = %self.name, task = %id, restored, "restored task");
            }
        }
        self.assign_restore_consumer()
    }

    /// Processes what the tasks have buffered; returns how many records that was.
    fn process(&mut self) -> Result<u64> {
        let mut processed = 0;
        loop {
            let mut progressed = false;
            for (id, task) in self.tasks.iter_mut().filter(|(_, t)| !t.is_restoring()) {
                for _ in 0..1000 {
                    match task.process_one() {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            if matches!(e, StreamsError::StoreCorrupted { .. }) {
                                self.corrupted.insert(*id);
                            }
                            return Err(e);
                        }
                    }
                    processed += 1;
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        self.publish_offsets();
        self.resume_drained()?;
        Ok(processed)
    }

    /// Makes the offsets of processed records visible to the rebalance callback.
    fn publish_offsets(&mut self) {
        let mut pending = self.shared.pending_offsets.lock();
        for task in self.tasks.values_mut() {
            for (topic, partition, offset) in task.take_committable() {
                pending.insert((topic.to_string(), partition), offset);
            }
        }
    }

    fn resume_drained(&mut self) -> Result<()> {
        if self.paused.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        let tasks = &self.tasks;
        let subs = &self.subtopologies;
        let topics = &self.topics;
        self.paused.retain(|(topic, partition)| {
            let drained = topics.get(topic).is_none_or(|&(_, sub)| {
                let id = TaskId {
                    subtopology: subs[sub].id,
                    partition: *partition,
                };
                tasks.get(&id).is_none_or(|t| {
                    t.buffered_in(topic, *partition) < t.max_buffered_per_partition() / 2
                })
            });
            if drained {
                tpl.add_partition(topic, *partition);
            }
            !drained
        });
        if tpl.count() > 0 {
            self.consumer
                .resume(&tpl)
                .map_err(|e| StreamsError::kafka("resuming a drained partition", e))?;
        }
        Ok(())
    }

    /// Fires due wall-clock punctuations; returns how many tasks fired any.
    fn punctuate(&mut self) -> Result<u64> {
        let now = now_ms();
        let mut fired = 0;
        for task in self.tasks.values_mut().filter(|t| !t.is_restoring()) {
            if task.punctuate_wall_clock(now)? {
                fired += 1;
            }
        }
        Ok(fired)
    }

    /// Commits what the tasks processed. At-least-once: flush the producer, check
    /// deliveries, commit exactly the offsets of records fully processed. Exactly-once:
    /// the same inside the thread's transaction, offsets sent with the consumer's group
    /// metadata, then the transaction commits. Either way the stores commit last, with the
    /// changelog offsets their changes reached.
    fn commit(&mut self) -> Result<()> {
        let started = Instant::now();
        let result = self.commit_now();
        let elapsed = started.elapsed();
        crate::metrics::ThreadMetrics::add(
            &self.metrics.commits,
            &self.metrics.commit_nanos,
            1,
            elapsed,
        );
        tracing::debug!(thread = %self.name, elapsed_ms = elapsed.as_millis() as u64, ok = result.is_ok(), "commit");
        result
    }

    fn commit_now(&mut self) -> Result<()> {
        {
            let mut pending = self.shared.pending_offsets.lock();
            for task in self.tasks.values_mut() {
                for (topic, partition, offset) in task.prepare_commit() {
                    pending.insert((topic.to_string(), partition), offset);
                }
            }
        }
        let committing: Vec<((String, i32), i64)> = if self.repartition_topics.is_empty() {
            Vec::new()
        } else {
            self.shared
                .pending_offsets
                .lock()
                .iter()
                .filter(|((topic, _), _)| self.repartition_topics.contains(topic))
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        };
        let collector = self.collector.clone();
        let check = || self.check_deliveries(&collector.borrow());
        let result = if self.shared.exactly_once {
            commit_transaction(&self.consumer, &self.shared, check)
                .map(|()| CommitOutcome::Committed)
        } else {
            commit_pending(&self.consumer, &self.shared, COMMIT_RETRY_TIME, check)
        };
        self.last_commit = Instant::now();
        match result {
            Ok(CommitOutcome::Committed) => {
                if let Some(since) = self.commit_failing_since.take() {
                    tracing::info!(thread = %self.name, failing_ms = since.elapsed().as_millis() as u64, "offsets committed again");
                }
                self.consecutive_aborts = 0;
                self.purgeable.extend(committing);
                let committed = self.commit_stores();
                self.purge_repartition_topics();
                committed
            }
            // At-least-once, nothing committed for a reason that passes: the offsets stay
            // pending (newer ones replace them per partition) and the stores keep their
            // staged writes, since they commit only after the offsets. The next commit
            // interval tries again, for up to `COMMIT_FAILURE_LIMIT`.
            Ok(CommitOutcome::Deferred(e)) => {
                let since = *self.commit_failing_since.get_or_insert_with(|| {
                    tracing::warn!(thread = %self.name, error = %e, "committing offsets failed in a way that passes (group coordinator moving, loading or unreachable); they stay pending and the next commit tries again");
                    Instant::now()
                });
                if since.elapsed() > COMMIT_FAILURE_LIMIT {
                    return Err(StreamsError::kafka(
                        format!("committing offsets (failing for {:?})", since.elapsed()),
                        e,
                    ));
                }
                tracing::debug!(thread = %self.name, error = %e, "offsets still not committed");
                Ok(())
            }
            // Under at-least-once the offsets commit again after the rebalance; under
            // exactly-once the open transaction must not commit later: recovery aborts it.
            Err(StreamsError::TaskMigrated { message, .. }) if !self.shared.exactly_once => {
                tracing::info!(thread = %self.name, %message, "commit skipped: the group is rebalancing");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Every `repartition.purge.interval.ms`, deletes the records of repartition topics below
    /// the offsets this thread committed: they were processed, nothing reads them again. The
    /// request runs on a helper thread, one at a time; every request carries all the offsets
    /// committed so far (deleting below an offset twice is harmless), so a failed one is made
    /// good by the next. Failures are logged, never fatal.
    fn purge_repartition_topics(&mut self) {
        if self.purgeable.is_empty()
            || self.last_purge.elapsed() < self.config.repartition_purge_interval()
            || self.purging.load(std::sync::atomic::Ordering::Acquire)
        {
            return;
        }
        self.last_purge = Instant::now();
        let admin = match &self.admin {
            Some(a) => a.clone(),
            None => match clients::admin_config(&self.config).create() {
                Ok(admin) => {
                    let admin: Arc<
                        rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext>,
                    > = Arc::new(admin);
                    self.admin = Some(admin.clone());
                    admin
                }
                Err(e) => {
                    tracing::warn!(thread = %self.name, error = %e, "cannot create the admin client that purges repartition topics");
                    return;
                }
            },
        };
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &self.purgeable {
            if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset)) {
                tracing::warn!(thread = %self.name, error = %e, "building a purge request failed");
                return;
            }
        }
        let thread = self.name.clone();
        let purging = self.purging.clone();
        purging.store(true, std::sync::atomic::Ordering::Release);
        let spawned = std::thread::Builder::new()
            .name(format!("{}-purge", self.name))
            .spawn(move || {
                let opts = rdkafka::admin::AdminOptions::new()
                    .operation_timeout(Some(Duration::from_secs(30)));
                match futures::executor::block_on(admin.delete_records(&tpl, &opts)) {
                    Ok(_) => tracing::debug!(%thread, "purged committed repartition records"),
                    Err(e) => tracing::warn!(%thread, error = %e, "purging repartition records failed; the next purge retries"),
                }
                purging.store(false, std::sync::atomic::Ordering::Release);
            });
        if let Err(e) = spawned {
            self.purging
                .store(false, std::sync::atomic::Ordering::Release);
            tracing::warn!(thread = %self.name, error = %e, "cannot start a purge thread");
        }
    }

    fn check_deliveries(&self, collector: &KafkaCollector) -> Result<()> {
        let mut failures = collector.take_failures();
        // Under exactly-once, purged records and failures that pass with time are consequences
        // (of an abort, a fenced producer, a broker moving): they are not the handler's
        // business, the transaction aborts and the records are processed again, as in Kafka
        // Streams. A record the broker refused for good is a cause: the handler hears of it
        // first, even when records purged after it arrive in the same check.
        let mut aftermath = Vec::new();
        if self.shared.exactly_once {
            if let Some(e) = clients::producer_fatal_error(&collector.producer) {
                return Err(e);
            }
            (aftermath, failures) = failures.into_iter().partition(|f| f.purged || f.retriable);
        }
        for failure in failures {
            let message = format!(
                "delivery to {}-{} failed: {}",
                failure.topic, failure.partition, failure.error
            );
            let action = self
                .config
                .task_settings()
                .production
                .handle(&ErrorContext {
                    stage: ErrorStage::Production,
                    node: "producer",
                    task_id: None,
                    source: None,
                    message: &message,
                });
            if action == ErrorAction::Fail {
                return Err(StreamsError::Production {
                    topic: failure.topic,
                    message,
                });
            }
            if self.shared.exactly_once {
                // The transaction cannot commit with a failed record in it: abort, and
                // process the record again.
                return Err(StreamsError::TransactionAborted { message });
            }
        }
        if let Some(failed) = aftermath.first() {
            return Err(StreamsError::TransactionAborted {
                message: format!(
                    "delivery to {}-{} failed ({}): {}",
                    failed.topic,
                    failed.partition,
                    if failed.purged {
                        "purged by an aborted transaction"
                    } else {
                        "retriable"
                    },
                    failed.error
                ),
            });
        }
        Ok(())
    }

    /// Commits the stores of every task that is not restoring, after a successful commit
    /// (deliveries confirmed, offsets or transaction committed).
    fn commit_stores(&mut self) -> Result<()> {
        let written = self.collector.borrow().changelog_offsets();
        for (id, task) in self.tasks.iter_mut().filter(|(_, t)| !t.is_restoring()) {
            if let Err(e) = task.commit_stores(&written) {
                if matches!(e, StreamsError::StoreCorrupted { .. }) {
                    self.corrupted.insert(*id);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Closes a task. After a clean close (its output and offsets committed) its stores
    /// commit first, so the next owner on this machine restores only the tail; otherwise
    /// they drop what was not committed.
    fn close_task(&self, id: TaskId, mut task: StreamTask, clean: bool) {
        if clean && !task.is_restoring() {
            let written = self.collector.borrow().changelog_offsets();
            if let Err(e) = task.commit_stores(&written) {
                tracing::warn!(thread = %self.name, task = %id, error = %e, "committing the stores of a closing task failed");
            }
        }
        if let Err(e) = task.close() {
            tracing::warn!(thread = %self.name, task = %id, error = %e, "closing a task failed");
        }
    }

    fn close_all_tasks(&mut self, clean: bool) {
        for (id, task) in std::mem::take(&mut self.tasks) {
            self.close_task(id, task, clean);
        }
    }
}

/// A task that could not start yet, and when to try again.
struct Deferred {
    sub: usize,
    /// When it was first deferred.
    since: Instant,
    next_try: Instant,
    delay: Duration,
    /// When the thread last logged that the task is still waiting.
    logged: Instant,
}

impl Deferred {
    /// First retry after this long; the delay doubles up to [`DEFERRED_MAX_DELAY`].
    const FIRST_DELAY: Duration = Duration::from_millis(50);

    fn new(sub: usize) -> Self {
        let now = Instant::now();
        Deferred {
            sub,
            since: now,
            next_try: now + Self::FIRST_DELAY,
            delay: Self::FIRST_DELAY,
            logged: now,
        }
    }

    /// Schedules the next try after a failed one; logs at most once per
    /// [`DEFERRED_LOG_INTERVAL`] that the task's lock is still held.
    fn backoff(&mut self, locked: Option<&str>, thread: &str, id: TaskId) {
        let now = Instant::now();
        self.delay = (self.delay * 2).min(DEFERRED_MAX_DELAY);
        self.next_try = now + self.delay;
        if let Some(path) = locked
            && now.duration_since(self.logged) >= DEFERRED_LOG_INTERVAL
        {
            self.logged = now;
            tracing::warn!(thread = %thread, task = %id, %path, waited_s = self.since.elapsed().as_secs(), "task state still locked elsewhere; retrying");
        }
    }
}

/// How long at-least-once commits may keep failing in a way that passes before the thread
/// gives up (Kafka Streams' default `task.timeout.ms`).
const COMMIT_FAILURE_LIMIT: Duration = Duration::from_secs(300);

/// Longest wait between two attempts to start a deferred task.
const DEFERRED_MAX_DELAY: Duration = Duration::from_millis(500);
/// How often a task still waiting for its lock is logged.
const DEFERRED_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What [`StreamThread::start_task`] did.
enum Started {
    /// The task exists (restoring or running).
    Yes,
    /// The task must wait (an open transaction on one of its changelogs); try again later.
    Waiting,
}

/// The consumer's position in each assigned partition (empty when librdkafka cannot say).
fn positions_of(consumer: &StreamsConsumer) -> HashMap<(String, i32), i64> {
    consumer
        .position()
        .map(|tpl| {
            tpl.elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some(((e.topic().to_owned(), e.partition()), o)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn partition_list<'a>(partitions: impl IntoIterator<Item = (&'a str, i32)>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in partitions {
        tpl.add_partition(topic, partition);
    }
    tpl
}

/// The most changelog records one restore step applies.
const RESTORE_STEP_RECORDS: usize = 50_000;

/// The most key and value bytes one restore step holds: with large values the step ends
/// before [`RESTORE_STEP_RECORDS`], so that its copy of the records (and the write batch made
/// of it) stays small.
const RESTORE_STEP_BYTES: usize = 16 << 20;

/// The longest one restore step reads before the thread goes back to its other tasks.
const RESTORE_STEP_TIME: Duration = Duration::from_millis(100);

/// Files the records read from one changelog partition in a row: the partition's next offset
/// moves on, and the records join what this step already read from it.
fn finish_batch(
    restoring: &mut BTreeMap<(String, i32), (TaskId, i64, i64)>,
    batches: &mut BTreeMap<(String, i32), Vec<crate::store::Change>>,
    key: (String, i32),
    batch: Vec<crate::store::Change>,
    next: i64,
) {
    if let Some(entry) = restoring.get_mut(&key)
        && next > 0
    {
        entry.1 = entry.1.max(next);
    }
    batches.insert(key, batch);
}

/// Source topic -> (interned name, sub-topology index). A list searched by comparing names:
/// an application reads a handful of topics, and this lookup runs once per polled record,
/// where hashing the name cost more than comparing it.
#[derive(Default)]
struct TopicIndex(Vec<(String, (Arc<str>, usize))>);

impl TopicIndex {
    fn insert(&mut self, topic: String, entry: (Arc<str>, usize)) {
        match self.0.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, e)) => *e = entry,
            None => self.0.push((topic, entry)),
        }
    }

    fn get(&self, topic: &str) -> Option<&(Arc<str>, usize)> {
        self.get_bytes(topic.as_bytes())
    }

    fn get_bytes(&self, topic: &[u8]) -> Option<&(Arc<str>, usize)> {
        self.0
            .iter()
            .find(|(t, _)| t.as_bytes() == topic)
            .map(|(_, e)| e)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(t, _)| t.as_str())
    }
}
