//! Restoration (Kafka Streams' `StoreChangelogReader`): the restore consumer, the changelog
//! partitions being restored with how far each has come, the check for transactions a
//! previous owner left open on a changelog, and bounded restore steps between the thread's
//! other work. Standby tasks read their changelogs here too, on the same consumer, without
//! end: an active task's partition is done at its end offset, a standby's never is.

use std::collections::{BTreeMap, BTreeSet};
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

/// A changelog partition being read: its task, the next offset and, for an active task, the
/// end offset (a standby task's partition has none: it follows the changelog as it grows).
#[derive(Debug, Clone, Copy)]
struct Reading {
    task: TaskId,
    next: i64,
    end: Option<i64>,
}

/// The changelog partitions being read.
type Restoring = BTreeMap<(String, i32), Reading>;

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
    /// Reads the changelogs' watermarks as the restore consumer sees them (the last stable
    /// offset under exactly-once), but never fetches: a request on the restore consumer's
    /// connection waits behind its fetch, which the broker holds up to `fetch.wait.max.ms`
    /// (500 ms) when standby partitions have nothing new. Created on first use.
    end_offsets: Option<BaseConsumer<WatchedContext>>,
    /// Under exactly-once: reads high watermarks, to see open transactions on changelogs.
    watermarks: Option<BaseConsumer<WatchedContext>>,
    restoring: Restoring,
    /// The partitions the restore consumer was last assigned.
    assigned: BTreeSet<(String, i32)>,
    /// Partitions given a new reading since the last assignment: assigned again at its
    /// offset even if the consumer still has them (an unassign that failed, say).
    fresh: BTreeSet<(String, i32)>,
    /// Whether the last step applied records to a standby task: more are likely waiting, so
    /// the thread should not idle in its main poll.
    standby_busy: bool,
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
            end_offsets: None,
            watermarks: None,
            restoring: BTreeMap::new(),
            assigned: BTreeSet::new(),
            fresh: BTreeSet::new(),
            standby_busy: false,
        }
    }

    /// True when no changelog partition of an active task is being restored.
    pub(crate) fn is_empty(&self) -> bool {
        !self.restoring.values().any(|r| r.end.is_some())
    }

    /// True while an active task restores or a standby task's last step found records: the
    /// thread then keeps going instead of waiting for input.
    pub(crate) fn busy(&self) -> bool {
        self.standby_busy || !self.is_empty()
    }

    /// Records left to restore per (active) task.
    pub(crate) fn remaining(&self) -> BTreeMap<TaskId, i64> {
        let mut remaining: BTreeMap<TaskId, i64> = BTreeMap::new();
        for r in self.restoring.values() {
            if let Some(end) = r.end {
                *remaining.entry(r.task).or_default() += (end - r.next).max(0);
            }
        }
        remaining
    }

    /// Per standby task, the changelog records it has not read yet: the high watermarks the
    /// restore consumer last saw minus its positions (no request to the broker). Under
    /// exactly-once the watermark counts the records of open transactions too.
    pub(crate) fn standby_lag(&self) -> BTreeMap<TaskId, i64> {
        let mut lag: BTreeMap<TaskId, i64> = BTreeMap::new();
        let Some(consumer) = self.restore_consumer.as_ref() else {
            return lag;
        };
        // The consumer's position passes transaction markers, which no record shows.
        let positions = consumer.position().unwrap_or_default();
        for ((topic, partition), r) in &self.restoring {
            if r.end.is_none() {
                let position = match positions
                    .find_partition(topic, *partition)
                    .map(|e| e.offset())
                {
                    Some(Offset::Offset(o)) => o.max(r.next),
                    _ => r.next,
                };
                let high = cached_high_watermark(consumer, topic, *partition).unwrap_or(position);
                *lag.entry(r.task).or_default() += (high - position).max(0);
            }
        }
        lag
    }

    /// The thread's restore consumer, created on first use.
    fn restore_consumer(&mut self) -> Result<&BaseConsumer<WatchedContext>> {
        let name = format!("{}-restore-consumer", self.thread);
        lazily(&mut self.restore_consumer, || {
            create_restore_consumer(&self.config, &name, &self.failure)
        })
    }

    /// The client reading the changelogs' watermarks as the restore consumer would, created
    /// on first use.
    fn end_offsets(&mut self) -> Result<&BaseConsumer<WatchedContext>> {
        let name = format!("{}-end-offsets", self.thread);
        lazily(&mut self.end_offsets, || {
            create_restore_consumer(&self.config, &name, &self.failure)
        })
    }

    /// The watermarks of each changelog partition of `task`.
    pub(crate) fn ranges(&mut self, task: &StreamTask) -> Result<Vec<ChangelogRange>> {
        let mut ranges = Vec::new();
        if task.changelogs().is_empty() {
            return Ok(ranges);
        }
        // The restore consumer reads what is registered next.
        self.restore_consumer()?;
        let client = self.end_offsets()?;
        for c in task.changelogs() {
            let (low, high) = watermarks(client, &c.topic, c.partition)?;
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
        self.end_offsets()?;
        let name = format!("{}-watermarks", self.thread);
        lazily(&mut self.watermarks, || {
            create_watermark_client(&self.config, &name, &self.failure)
        })?;
        let (Some(committed), Some(all)) = (&self.end_offsets, &self.watermarks) else {
            return Ok(None);
        };
        // Nothing else polls these clients: serve their token refreshes here.
        serve_initial_events(committed);
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
                self.fresh.insert((c.topic.clone(), c.partition));
                self.restoring.insert(
                    (c.topic.clone(), c.partition),
                    Reading {
                        task: id,
                        next: start,
                        end: Some(high),
                    },
                );
                restoring = true;
            }
        }
        if restoring {
            self.assign()?;
        }
        Ok(restoring)
    }

    /// Registers the changelog partitions of standby task `id`, to be read from the store's
    /// checkpoint (or the beginning) for as long as the task stays.
    pub(crate) fn register_standby(
        &mut self,
        id: TaskId,
        ranges: Vec<ChangelogRange>,
    ) -> Result<()> {
        for (c, low, _) in ranges {
            let next = c.checkpoint.unwrap_or(low);
            self.fresh.insert((c.topic.clone(), c.partition));
            self.restoring.insert(
                (c.topic, c.partition),
                Reading {
                    task: id,
                    next,
                    end: None,
                },
            );
        }
        self.assign()
    }

    /// Forgets the changelog partitions of active tasks `alive` says no to (closed tasks).
    pub(crate) fn unregister(&mut self, alive: impl Fn(&TaskId) -> bool) -> Result<()> {
        let control = self.control.clone();
        self.forget(|r| {
            let Some(end) = r.end else { return true };
            let keep = alive(&r.task);
            if !keep {
                control.add_remaining(-(end - r.next).max(0));
            }
            keep
        })
    }

    /// Forgets the changelog partitions of standby task `id`.
    pub(crate) fn unregister_standby(&mut self, id: TaskId) -> Result<()> {
        self.forget(|r| r.end.is_some() || r.task != id)
    }

    /// Keeps the partitions `keep` says yes to; reassigns the consumer if any went.
    fn forget(&mut self, mut keep: impl FnMut(&Reading) -> bool) -> Result<()> {
        let before = self.restoring.len();
        self.restoring.retain(|_, r| keep(r));
        if self.restoring.len() != before {
            self.assign()?;
        }
        Ok(())
    }

    /// Points the restore consumer at every changelog partition being read: the ones that
    /// went are unassigned, the new ones (and those given a new reading) assigned at their
    /// next offset, and the ones that stay keep their fetch position, which is their next
    /// offset. `assigned` follows each call that succeeded, so a failure part-way leaves it
    /// true to the consumer. Incremental changes only: a full `assign` stops
    /// every partition and restarts it, and two within the time a fetcher takes to confirm a
    /// stop make librdkafka 2.12 abort the process (`rd_kafka_assignment_partition_stopped:
    /// Assertion rktp->rktp_started`, librdkafka issue 5573, fixed after 2.12), which the
    /// standby suite hit when several tasks registered in one rebalance.
    fn assign(&mut self) -> Result<()> {
        let Some(consumer) = self.restore_consumer.as_ref() else {
            return Ok(());
        };
        let failed = |e| StreamsError::kafka("assigning the restore consumer", e);
        let wanted: BTreeSet<(String, i32)> = self.restoring.keys().cloned().collect();
        // Gone, or assigned but given a new reading: unassigned (and the latter assigned again
        // below, at its new offset; librdkafka starts it once the stop is confirmed).
        let leaving: Vec<(String, i32)> = self
            .assigned
            .iter()
            .filter(|k| !wanted.contains(*k) || self.fresh.contains(*k))
            .cloned()
            .collect();
        if !leaving.is_empty() {
            let mut gone = TopicPartitionList::new();
            for (topic, partition) in &leaving {
                gone.add_partition(topic, *partition);
            }
            consumer.incremental_unassign(&gone).map_err(failed)?;
            for key in &leaving {
                self.assigned.remove(key);
            }
        }
        let coming: Vec<(String, i32)> = wanted.difference(&self.assigned).cloned().collect();
        if !coming.is_empty() {
            let mut new = TopicPartitionList::new();
            for key in &coming {
                let next = self.restoring.get(key).map_or(0, |r| r.next);
                new.add_partition_offset(&key.0, key.1, Offset::Offset(next))
                    .map_err(failed)?;
            }
            consumer.incremental_assign(&new).map_err(failed)?;
            self.assigned.extend(coming);
        }
        self.fresh.clear();
        Ok(())
    }

    /// One step of restoration: applies up to [`RESTORE_STEP_RECORDS`] changelog records or
    /// [`RESTORE_STEP_BYTES`] of them (or what arrives within [`RESTORE_STEP_TIME`]), to the
    /// active tasks restoring (`tasks`) and the standby tasks (`standbys`), then finishes the
    /// active tasks' partitions that reached their end. Bounded, so processing of other tasks
    /// and polling of the main consumer go on between steps. Waits up to 10 ms for records
    /// when `idle` and an active task restores. Returns the tasks whose stores all finished
    /// restoring (not yet initialised).
    pub(crate) fn restore(
        &mut self,
        tasks: &mut BTreeMap<TaskId, StreamTask>,
        standbys: &mut BTreeMap<TaskId, StreamTask>,
        idle: bool,
    ) -> Result<Vec<TaskId>> {
        if self.restoring.is_empty() {
            self.standby_busy = false;
            return Ok(Vec::new());
        }
        let Some(consumer) = self.restore_consumer.as_ref() else {
            return Ok(Vec::new());
        };
        let started: BTreeMap<(String, i32), i64> = self
            .restoring
            .iter()
            .filter(|(_, r)| r.end.is_some())
            .map(|(key, r)| (key.clone(), r.next))
            .collect();
        let idle = idle && !started.is_empty();
        let batches = read_step(&self.thread, consumer, &mut self.restoring, idle);
        self.standby_busy = batches.iter().any(|(key, batch)| {
            !batch.is_empty() && self.restoring.get(key).is_some_and(|r| r.end.is_none())
        });
        for ((topic, partition), batch) in &batches {
            let Some(r) = self.restoring.get(&(topic.clone(), *partition)) else {
                continue;
            };
            let owner = if r.end.is_some() {
                tasks.get_mut(&r.task)
            } else {
                standbys.get_mut(&r.task)
            };
            let Some(task) = owner else { continue };
            task.restore(topic, *partition, batch, r.next)?;
            if let Some(l) = &self.restore_listener
                && r.end.is_some()
            {
                let store = task
                    .changelogs()
                    .iter()
                    .find(|c| &c.topic == topic)
                    .map_or("", |c| c.store.as_str());
                l.on_batch_restored(store, topic, *partition, r.next, batch.len() as u64);
            }
        }
        if started.is_empty() {
            return Ok(Vec::new());
        }
        let progressed: i64 = started
            .iter()
            .filter_map(|(key, before)| Some(self.restoring.get(key)?.next - before))
            .sum();
        self.control.add_remaining(-progressed);
        // Done when the consumer's position reaches the end offset (compaction and control
        // records leave gaps, so the last offset received may never be end - 1).
        let positions = consumer
            .position()
            .map_err(|e| StreamsError::kafka("reading restore positions", e))?;
        let mut finished = Vec::new();
        for ((topic, partition), r) in &self.restoring {
            let Some(end) = r.end else { continue };
            let position = positions
                .find_partition(topic, *partition)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .unwrap_or(-1);
            if r.next.max(position) >= end {
                finished.push((topic.clone(), *partition));
            }
        }
        if finished.is_empty() {
            return Ok(Vec::new());
        }
        let mut restored_tasks = Vec::new();
        for key in finished {
            let Some(Reading {
                task: id,
                next,
                end: Some(end),
            }) = self.restoring.remove(&key)
            else {
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

/// The client in `slot`, made by `make` on first use.
fn lazily(
    slot: &mut Option<BaseConsumer<WatchedContext>>,
    make: impl FnOnce() -> Result<BaseConsumer<WatchedContext>>,
) -> Result<&BaseConsumer<WatchedContext>> {
    Ok(match slot {
        Some(client) => client,
        None => slot.insert(make()?),
    })
}

/// The high watermark librdkafka last saw for `topic`-`partition` (from fetch responses;
/// no request is made), if it saw one.
#[allow(unsafe_code)]
fn cached_high_watermark(
    consumer: &BaseConsumer<WatchedContext>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives; the topic is a valid C
    // string and the out pointers point at live locals.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
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
        entry.next = entry.next.max(next);
    }
    batches.insert(key, batch);
}
