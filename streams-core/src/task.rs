//! Tasks: one sub-topology instantiated for one partition number.
//!
//! A [`StreamTask`] owns fresh processor instances, its state stores, one input queue per
//! source partition and its stream time. The runtime and the test driver both drive tasks
//! through the same methods: [`StreamTask::push_record`], [`StreamTask::process_one`],
//! [`StreamTask::punctuate_wall_clock`], [`StreamTask::prepare_commit`].

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use crate::context::{NodeOps, RawSource, TaskContext, TaskCounters};
use crate::error::{Result, StreamsError};
use crate::ids::{PunctuationType, PunctuatorId};
use crate::metrics::NodeLatency;
use crate::record::{RawRecord, RecordMetadata};
use crate::state_manager::{ChangelogPartition, StateManager};
use crate::store::StoreMetric;
use crate::timestamp::TimestampExtractor;

struct PartitionQueue {
    topic: Arc<str>,
    partition: i32,
    source: Rc<RefCell<dyn RawSource>>,
    extractor: Option<Arc<dyn TimestampExtractor>>,
    records: VecDeque<RawRecord>,
    /// Extracted timestamp of the head record, when known.
    head_timestamp: Option<i64>,
    /// The largest timestamp seen on this partition.
    partition_time: i64,
    /// The offset to commit: one past the last record fully processed.
    committable: Option<i64>,
    /// One past the last record processed, kept across commits (for the lag metric).
    position: Option<i64>,
}

/// One sub-topology instantiated for one partition number.
pub(crate) struct StreamTask {
    ctx: TaskContext,
    queues: Vec<PartitionQueue>,
    nodes: Vec<(usize, Rc<RefCell<dyn NodeOps>>)>,
    initialized: bool,
    /// The task's directory, lock and changelog partitions.
    pub(crate) state: StateManager,
}

impl fmt::Debug for StreamTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamTask")
            .field("id", &self.ctx.task_id)
            .field("buffered", &self.buffered())
            .finish()
    }
}

/// A source partition of a task: the topic, partition and the source node that reads it.
pub(crate) struct TaskInput {
    pub topic: Arc<str>,
    pub partition: i32,
    pub source: Rc<RefCell<dyn RawSource>>,
    pub extractor: Option<Arc<dyn TimestampExtractor>>,
}

impl StreamTask {
    pub(crate) fn new(
        ctx: TaskContext,
        inputs: Vec<TaskInput>,
        nodes: Vec<(usize, Rc<RefCell<dyn NodeOps>>)>,
        changelogs: Vec<ChangelogPartition>,
        task_dir: std::path::PathBuf,
        lock: Option<std::fs::File>,
    ) -> Self {
        let queues = inputs
            .into_iter()
            .map(|i| PartitionQueue {
                topic: i.topic,
                partition: i.partition,
                source: i.source,
                extractor: i.extractor,
                records: VecDeque::new(),
                head_timestamp: None,
                partition_time: -1,
                committable: None,
                position: None,
            })
            .collect();
        StreamTask {
            ctx,
            queues,
            nodes,
            initialized: false,
            state: StateManager::new(changelogs, task_dir, lock),
        }
    }

    /// The task's directory, `<state.dir>/<application.id>/<task id>/`.
    pub(crate) fn task_dir(&self) -> &std::path::Path {
        self.state.task_dir()
    }

    /// Commits the task's stores after its output and offsets were committed to Kafka (see
    /// [`StateManager::commit`]).
    pub(crate) fn commit_stores(&mut self, written: &HashMap<(String, i32), i64>) -> Result<()> {
        self.state.commit(&self.ctx.stores, written)
    }

    /// Bytes the task's stores hold for the next commit.
    pub(crate) fn uncommitted_bytes(&self) -> usize {
        StateManager::uncommitted_bytes(&self.ctx.stores)
    }

    /// The changelog partitions of the task's logged stores.
    pub(crate) fn changelogs(&self) -> &[ChangelogPartition] {
        self.state.changelogs()
    }

    /// True while some store of the task is being restored; the task processes nothing then.
    pub(crate) fn is_restoring(&self) -> bool {
        self.state.is_restoring()
    }

    /// Applies changelog records to the store that logs to `topic` (see
    /// [`StateManager::restore`]).
    pub(crate) fn restore(
        &mut self,
        topic: &str,
        partition: i32,
        batch: &[crate::store::Change],
        next: i64,
    ) -> Result<()> {
        let task = self.ctx.task_id;
        self.state
            .restore(&self.ctx.stores, task, topic, partition, batch, next)
    }

    /// Initialises every processor (in topology order). Idempotent.
    pub(crate) fn initialize(&mut self) -> Result<()> {
        if self.initialized {
            return Ok(());
        }
        for (_, node) in &self.nodes {
            node.borrow_mut().init(&mut self.ctx)?;
        }
        self.initialized = true;
        Ok(())
    }

    /// The topic-partitions this task reads.
    pub(crate) fn input_partitions(&self) -> impl Iterator<Item = (&str, i32)> {
        self.queues.iter().map(|q| (&*q.topic, q.partition))
    }

    /// Queues one record of the partition it came from; returns that queue's length.
    pub(crate) fn push_record(&mut self, record: RawRecord) -> Result<usize> {
        let queue = self
            .queues
            .iter_mut()
            .find(|q| q.partition == record.partition && q.topic == record.topic)
            .ok_or_else(|| {
                StreamsError::IllegalState(format!(
                    "task {} does not read {}-{}",
                    self.ctx.task_id, record.topic, record.partition
                ))
            })?;
        queue.records.push_back(record);
        Ok(queue.records.len())
    }

    /// Records buffered in `topic`-`partition`'s queue.
    pub(crate) fn buffered_in(&self, topic: &str, partition: i32) -> usize {
        self.queues
            .iter()
            .find(|q| &*q.topic == topic && q.partition == partition)
            .map_or(0, |q| q.records.len())
    }

    /// Per input partition, the next offset to process: one past the last processed record,
    /// or the first buffered record's offset before any was processed (`None` when neither is
    /// known); and whether nothing of the partition is buffered.
    pub(crate) fn next_offsets(&self) -> impl Iterator<Item = (&str, i32, Option<i64>, bool)> {
        self.queues.iter().map(|q| {
            let next = q.position.or_else(|| q.records.front().map(|r| r.offset));
            (&*q.topic, q.partition, next, q.records.is_empty())
        })
    }

    /// Records buffered across all queues.
    pub(crate) fn buffered(&self) -> usize {
        self.queues.iter().map(|q| q.records.len()).sum()
    }

    /// The configured per-partition buffer bound.
    pub(crate) fn max_buffered_per_partition(&self) -> usize {
        self.ctx.settings.max_buffered_per_partition
    }

    /// The task's counters.
    pub(crate) fn counters(&self) -> TaskCounters {
        self.ctx.counters
    }

    /// Each store's own metrics, by store name.
    pub(crate) fn store_metrics(&self) -> Vec<(String, Vec<StoreMetric>)> {
        StateManager::metrics(&self.ctx.stores)
    }

    /// Each sink node's end-to-end latency; the maxima start over.
    pub(crate) fn take_sink_latencies(&mut self) -> Vec<(Arc<str>, NodeLatency)> {
        let out = self.ctx.sinks.clone();
        for (_, l) in &mut self.ctx.sinks {
            l.e2e_max_ms = 0;
        }
        out
    }

    /// Returns the largest lateness and end-to-end latency (ms) seen since the last call, and
    /// starts over: the metrics keep their own windowed maxima.
    pub(crate) fn take_maxima(&mut self) -> (u64, u64) {
        let c = &mut self.ctx.counters;
        let maxima = (c.lateness_max_ms, c.e2e_latency_max_ms);
        c.lateness_max_ms = 0;
        c.e2e_latency_max_ms = 0;
        maxima
    }

    /// True when a processor asked for a commit since the last [`Self::prepare_commit`].
    pub(crate) fn commit_requested(&self) -> bool {
        self.ctx.commit_requested
    }

    /// Sets the wall-clock time seen by processors (the test driver's clock).
    #[cfg(feature = "test-util")]
    pub(crate) fn set_wall_clock(&mut self, now: i64) {
        self.ctx.wall_clock = now;
    }

    /// Ensures the head of `queue` has a valid extracted timestamp, dropping records whose
    /// timestamp is invalid. Returns the head timestamp, if the queue has records.
    fn update_head(ctx: &mut TaskContext, queue: &mut PartitionQueue) -> Result<Option<i64>> {
        loop {
            if let Some(ts) = queue.head_timestamp {
                return Ok(Some(ts));
            }
            let Some(head) = queue.records.front() else {
                return Ok(None);
            };
            let extractor = queue.extractor.as_ref().unwrap_or(&ctx.settings.extractor);
            let ts = extractor.extract(head, queue.partition_time)?;
            if ts < 0 {
                tracing::warn!(
                    task = %ctx.task_id, topic = %head.topic, partition = head.partition, offset = head.offset,
                    timestamp = ts, "skipping a record with an invalid (negative) timestamp"
                );
                ctx.counters.dropped += 1;
                queue.committable = Some(head.offset + 1);
                queue.position = queue.committable;
                queue.records.pop_front();
                continue;
            }
            queue.head_timestamp = Some(ts);
        }
    }

    /// Processes the buffered record with the lowest timestamp across the task's partitions,
    /// then fires stream-time punctuations that became due. Returns false when nothing was
    /// buffered.
    pub(crate) fn process_one(&mut self) -> Result<bool> {
        let mut best: Option<(usize, i64)> = None;
        for i in 0..self.queues.len() {
            if let Some(ts) = Self::update_head(&mut self.ctx, &mut self.queues[i])?
                && best.is_none_or(|(_, b)| ts < b)
            {
                best = Some((i, ts));
            }
        }
        let Some((index, timestamp)) = best else {
            return Ok(false);
        };
        let queue = &mut self.queues[index];
        let Some(raw) = queue.records.pop_front() else {
            return Ok(false);
        };
        queue.head_timestamp = None;
        queue.partition_time = queue.partition_time.max(timestamp);
        let offset = raw.offset;
        let source = queue.source.clone();
        let c = &mut self.ctx.counters;
        let lateness = self.ctx.stream_time.saturating_sub(timestamp).max(0) as u64;
        c.lateness_ms_total += lateness;
        c.lateness_max_ms = c.lateness_max_ms.max(lateness);
        if self.ctx.wall_clock > 0 {
            let e2e = self.ctx.wall_clock.saturating_sub(timestamp).max(0) as u64;
            c.e2e_latency_ms_total += e2e;
            c.e2e_latency_max_ms = c.e2e_latency_max_ms.max(e2e);
        }
        self.ctx.stream_time = self.ctx.stream_time.max(timestamp);
        self.ctx.record_timestamp.set(timestamp);
        self.ctx.metadata = Some(RecordMetadata {
            topic: raw.topic.clone(),
            partition: raw.partition,
            offset,
        });
        let ctx = &mut self.ctx;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            source.borrow_mut().process_raw(raw, timestamp, ctx)
        }))
        .unwrap_or_else(|payload| self.ctx.escaped_panic(payload));
        self.ctx.current = None;
        self.ctx.metadata = None;
        result?;
        self.queues[index].committable = Some(offset + 1);
        self.queues[index].position = Some(offset + 1);
        self.ctx.counters.processed += 1;
        self.punctuate_due(PunctuationType::StreamTime, self.ctx.stream_time)?;
        Ok(true)
    }

    /// Fires wall-clock punctuations due at `now`. Returns true if any fired.
    pub(crate) fn punctuate_wall_clock(&mut self, now: i64) -> Result<bool> {
        self.ctx.wall_clock = now;
        self.punctuate_due(PunctuationType::WallClockTime, now)
    }

    fn punctuate_due(&mut self, kind: PunctuationType, now: i64) -> Result<bool> {
        if now < 0 || self.schedules_due(kind, now).next().is_none() {
            return Ok(false);
        }
        let due: Vec<PunctuatorId> = self.schedules_due(kind, now).collect();
        let mut fired = false;
        for id in due {
            // A punctuation may have cancelled another one.
            let Some(s) = self.ctx.schedules.iter_mut().find(|s| s.id == id) else {
                continue;
            };
            // Next firing: one interval on, skipping intervals missed entirely.
            let missed = now.saturating_sub(s.next) / s.interval;
            s.next = s
                .next
                .saturating_add(missed.saturating_add(1).saturating_mul(s.interval));
            let node = s.node;
            let ops = self
                .nodes
                .iter()
                .find(|(i, _)| *i == node)
                .map(|(_, n)| n.clone());
            if let Some(ops) = ops {
                self.ctx.record_timestamp.set(now);
                ops.borrow_mut().punctuate(id, now, &mut self.ctx)?;
                self.ctx.counters.punctuations += 1;
                fired = true;
            }
        }
        Ok(fired)
    }

    fn schedules_due(
        &self,
        kind: PunctuationType,
        now: i64,
    ) -> impl Iterator<Item = PunctuatorId> + '_ {
        self.ctx
            .schedules
            .iter()
            .filter(move |s| s.kind == kind && s.next <= now)
            .map(|s| s.id)
    }

    /// Returns the offsets to commit (one past the last fully processed record of each
    /// partition that made progress since the last call). The stores commit separately,
    /// once Kafka has the task's output and offsets.
    pub(crate) fn prepare_commit(&mut self) -> Vec<(Arc<str>, i32, i64)> {
        self.ctx.commit_requested = false;
        self.take_committable()
    }

    /// The offsets of records processed since the last call, without flushing anything.
    pub(crate) fn take_committable(&mut self) -> Vec<(Arc<str>, i32, i64)> {
        self.queues
            .iter_mut()
            .filter_map(|q| {
                q.committable
                    .take()
                    .map(|o| (q.topic.clone(), q.partition, o))
            })
            .collect()
    }

    /// The task's stores as interactive queries read them: name and view (`None` for a
    /// store that cannot be queried).
    pub(crate) fn queryable_stores(&self) -> Vec<(String, Option<crate::query::QueryableStore>)> {
        self.ctx
            .stores
            .iter()
            .map(|(name, s)| (name.clone(), s.lifecycle.borrow().queryable()))
            .collect()
    }

    /// A typed handle on a store of this task (for the test driver).
    #[cfg(feature = "test-util")]
    pub(crate) fn store_handle<S: 'static>(
        &self,
        name: &str,
    ) -> Option<crate::store::StoreHandle<S>> {
        self.ctx.stores.get(name).and_then(|s| s.handle::<S>())
    }

    /// Suspends the task after its partitions were revoked and its work committed: the
    /// records buffered and not processed go (the next owner, perhaps this task again, reads
    /// them from the committed offsets); processors, stores and stream time stay.
    pub(crate) fn suspend(&mut self) {
        for q in &mut self.queues {
            q.records.clear();
            q.head_timestamp = None;
            q.committable = None;
        }
    }

    /// Closes processors and stores. Store writes not committed are dropped.
    pub(crate) fn close(&mut self) -> Result<()> {
        if self.initialized {
            for (_, node) in &self.nodes {
                node.borrow_mut().close();
            }
            self.initialized = false;
        }
        StateManager::close(&self.ctx.stores)
    }
}
