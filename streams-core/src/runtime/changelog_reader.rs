//! Restoration (Kafka Streams' `StoreChangelogReader`): the restore consumer, the changelog
//! partitions being restored with how far each has come, the check for transactions a
//! previous owner left open on a changelog, and bounded restore steps between the thread's
//! other work. Standby tasks will read their changelogs here too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::client_failure::{ClientFailure, WatchedContext};
use super::client_supplier::{
    create_restore_consumer, create_watermark_client, serve_initial_events,
};
use super::control::ClientControl;
use super::kafka_errors::watermarks;
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::ids::TaskId;
use crate::state_manager::ChangelogPartition;
use crate::store::{Change, RestoreListener};
use crate::task::StreamTask;

/// The most changelog records one restore step applies.
const RESTORE_STEP_RECORDS: usize = 50_000;

/// The most key and value bytes one restore step holds: with large values the step ends
/// before [`RESTORE_STEP_RECORDS`], so that its copy of the records (and the write batch made
/// of it) stays small.
const RESTORE_STEP_BYTES: usize = 16 << 20;

/// The longest one restore step reads before the thread goes back to its other tasks.
const RESTORE_STEP_TIME: Duration = Duration::from_millis(100);

/// A changelog partition being restored: its task, the next offset and the end offset.
type Restoring = BTreeMap<(String, i32), (TaskId, i64, i64)>;

/// A changelog partition of a task with its low and high watermarks.
pub(crate) type ChangelogRange = (ChangelogPartition, i64, i64);

/// Restores the stores of a stream thread's tasks from their changelogs.
pub(crate) struct ChangelogReader {
    thread: String,
    config: StreamsConfig,
    control: Arc<ClientControl>,
    restore_listener: Option<Arc<dyn RestoreListener>>,
    /// Created on first use.
    restore_consumer: Option<BaseConsumer<WatchedContext>>,
    /// Under exactly-once: reads high watermarks, to see open transactions on changelogs.
    watermarks: Option<BaseConsumer<WatchedContext>>,
    restoring: Restoring,
    /// The thread's latch for security failures (see [`ClientFailure`]).
    failure: ClientFailure,
}

impl ChangelogReader {
    pub(crate) fn new(
        thread: String,
        config: StreamsConfig,
        control: Arc<ClientControl>,
        restore_listener: Option<Arc<dyn RestoreListener>>,
        failure: ClientFailure,
    ) -> Self {
        ChangelogReader {
            failure,
            thread,
            config,
            control,
            restore_listener,
            restore_consumer: None,
            watermarks: None,
            restoring: BTreeMap::new(),
        }
    }

    /// True when no changelog partition is being restored.
    pub(crate) fn is_empty(&self) -> bool {
        self.restoring.is_empty()
    }

    /// Records left to restore per task.
    pub(crate) fn remaining(&self) -> BTreeMap<TaskId, i64> {
        let mut remaining: BTreeMap<TaskId, i64> = BTreeMap::new();
        for (task, next, end) in self.restoring.values() {
            *remaining.entry(*task).or_default() += (*end - *next).max(0);
        }
        remaining
    }

    /// The thread's restore consumer, created on first use.
    fn restore_consumer(&mut self) -> Result<&BaseConsumer<WatchedContext>> {
        if self.restore_consumer.is_none() {
            self.restore_consumer = Some(create_restore_consumer(
                &self.config,
                &format!("{}-restore-consumer", self.thread),
                &self.failure,
            )?);
        }
        self.restore_consumer
            .as_ref()
            .ok_or_else(|| StreamsError::IllegalState("no restore consumer".into()))
    }

    /// The watermarks of each changelog partition of `task`.
    pub(crate) fn ranges(&mut self, task: &StreamTask) -> Result<Vec<ChangelogRange>> {
        let mut ranges = Vec::new();
        for c in task.changelogs() {
            let consumer = self.restore_consumer()?;
            let (low, high) = watermarks(consumer, &c.topic, c.partition)?;
            ranges.push((c.clone(), low, high));
        }
        Ok(ranges)
    }

    /// Under exactly-once, the first of `changelogs` whose partition `partition` has a last
    /// stable offset below its high watermark: a transaction a previous owner left open.
    /// Restoring up to the last stable offset would miss records other owners committed after
    /// that transaction began, so the task waits until it ends (committed or aborted, at the
    /// latest when the transaction times out).
    pub(crate) fn open_transaction(
        &mut self,
        changelogs: &[String],
        partition: i32,
    ) -> Result<Option<String>> {
        if !self.config.exactly_once() || changelogs.is_empty() {
            return Ok(None);
        }
        self.restore_consumer()?;
        if self.watermarks.is_none() {
            self.watermarks = Some(create_watermark_client(
                &self.config,
                &format!("{}-watermarks", self.thread),
                &self.failure,
            )?);
        }
        let (Some(committed), Some(all)) = (&self.restore_consumer, &self.watermarks) else {
            return Ok(None);
        };
        // Nothing else polls the watermark client: serve its token refreshes here.
        serve_initial_events(all);
        for topic in changelogs {
            let (_, stable) = watermarks(committed, topic, partition)?;
            let (_, high) = watermarks(all, topic, partition)?;
            if stable < high {
                return Ok(Some(format!("{topic}-{partition}")));
            }
        }
        Ok(None)
    }

    /// Registers the changelog partitions of a new task `id` at their watermarks `ranges`:
    /// those the store holds up to the end are done; the others restore from the store's
    /// checkpoint (or the beginning). Returns whether the task restores.
    pub(crate) fn register(
        &mut self,
        id: TaskId,
        task: &mut StreamTask,
        ranges: Vec<ChangelogRange>,
    ) -> Result<bool> {
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
            self.assign()?;
        }
        Ok(restoring)
    }

    /// Forgets the changelog partitions of tasks `alive` says no to (closed tasks).
    pub(crate) fn unregister(&mut self, alive: impl Fn(&TaskId) -> bool) -> Result<()> {
        let before = self.restoring.len();
        let control = &self.control;
        self.restoring.retain(|_, (task, next, end)| {
            let keep = alive(task);
            if !keep {
                control.add_remaining(-(*end - *next).max(0));
            }
            keep
        });
        if self.restoring.len() != before {
            self.assign()?;
        }
        Ok(())
    }

    /// Points the restore consumer at every changelog partition still restoring, each at its
    /// next offset.
    fn assign(&mut self) -> Result<()> {
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
    /// and polling of the main consumer go on between steps. Waits up to 10 ms for records
    /// when `idle`. Returns the tasks whose stores all finished restoring (not yet
    /// initialised).
    pub(crate) fn restore(
        &mut self,
        tasks: &mut BTreeMap<TaskId, StreamTask>,
        idle: bool,
    ) -> Result<Vec<TaskId>> {
        if self.restoring.is_empty() {
            return Ok(Vec::new());
        }
        let Some(consumer) = self.restore_consumer.as_ref() else {
            return Ok(Vec::new());
        };
        let started: BTreeMap<(String, i32), i64> = self
            .restoring
            .iter()
            .map(|(key, (_, next, _))| (key.clone(), *next))
            .collect();
        let batches = read_step(&self.thread, consumer, &mut self.restoring, idle);
        for ((topic, partition), batch) in &batches {
            if let Some((id, next, _)) = self.restoring.get(&(topic.clone(), *partition))
                && let Some(task) = tasks.get_mut(id)
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
            return Ok(Vec::new());
        }
        let mut restored_tasks = Vec::new();
        for key in finished {
            let Some((id, next, end)) = self.restoring.remove(&key) else {
                continue;
            };
            // Offsets skipped at the end (compaction, control records) are not remaining either.
            self.control.add_remaining(-(end - next).max(0));
            let Some(task) = tasks.get_mut(&id) else {
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
                restored_tasks.push(id);
            }
        }
        self.assign()?;
        Ok(restored_tasks)
    }
}

/// Reads one step's records from the restore consumer, grouped per changelog partition,
/// moving each partition's next offset on.
fn read_step(
    thread: &str,
    consumer: &BaseConsumer<WatchedContext>,
    restoring: &mut Restoring,
    idle: bool,
) -> BTreeMap<(String, i32), Vec<Change>> {
    let mut timeout = if idle {
        Duration::from_millis(10)
    } else {
        Duration::ZERO
    };
    let mut batches: BTreeMap<(String, i32), Vec<Change>> = BTreeMap::new();
    // The partition of the previous record and its batch: consecutive records mostly come
    // from one partition, so the map is touched only when the partition changes.
    let mut current: Option<((String, i32), Vec<Change>, i64)> = None;
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
                // A changelog the principal may not read: the thread fails on its next round.
                consumer.context().failure.record_error(&e, &e);
                tracing::warn!(%thread, error = %e, "restore consumer error");
                break;
            }
            Some(Ok(m)) => m,
        };
        let same =
            matches!(&current, Some(((t, p), _, _)) if *p == m.partition() && t == m.topic());
        if !same {
            if let Some((key, batch, next)) = current.take() {
                finish_batch(restoring, &mut batches, key, batch, next);
            }
            let key = (m.topic().to_owned(), m.partition());
            if !restoring.contains_key(&key) {
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
        finish_batch(restoring, &mut batches, key, batch, next);
    }
    batches
}

/// Files the records read from one changelog partition in a row: the partition's next offset
/// moves on, and the records join what this step already read from it.
fn finish_batch(
    restoring: &mut Restoring,
    batches: &mut BTreeMap<(String, i32), Vec<Change>>,
    key: (String, i32),
    batch: Vec<Change>,
    next: i64,
) {
    if let Some(entry) = restoring.get_mut(&key)
        && next > 0
    {
        entry.1 = entry.1.max(next);
    }
    batches.insert(key, batch);
}
