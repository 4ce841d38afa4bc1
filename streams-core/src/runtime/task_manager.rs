//! The task manager (Kafka Streams' `TaskManager`): a stream thread's tasks, created and
//! closed as the group assigns and revokes partitions (suspended on revocation and resumed
//! when the next assignment gives them back), deferred while their state is locked elsewhere
//! or a changelog has an open transaction, restored through the [`ChangelogReader`], rewound
//! to the last commit after an abort or a corrupt store (`recovery`), and driven (process,
//! punctuate, commit their stores) by the stream thread; and its standby tasks.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::Offset;

use super::changelog_reader::ChangelogReader;
use super::control::{ClientControl, ThreadState};
use super::deferred::Deferred;
use super::input_flow::{InputFlow, Router};
use super::record_collector::KafkaRecordCollector;
use super::shared::{RebalanceEvent, ThreadShared};
use super::standby::StandbyTasks;
use super::task_creator::TaskCreator;
use super::thread_metrics::Restoration;
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::ids::TaskId;
use crate::metrics::ThreadMetrics;
use crate::record::RawRecord;
use crate::task::StreamTask;
use crate::timestamp::now_ms;
use crate::topology::{Subtopology, Topology};

mod recovery;

/// Everything a task manager is made with.
pub(crate) struct TaskManagerParams {
    pub index: usize,
    pub thread: String,
    pub config: StreamsConfig,
    pub topology: Arc<Topology>,
    pub subtopologies: Arc<Vec<Subtopology>>,
    pub control: Arc<ClientControl>,
    pub shared: Arc<ThreadShared>,
    pub collector: Rc<RefCell<KafkaRecordCollector>>,
    pub metrics: Arc<ThreadMetrics>,
    pub reader: ChangelogReader,
}

/// A stream thread's tasks and their lifecycle.
pub(crate) struct TaskManager {
    p: TaskManagerParams,
    tasks: BTreeMap<TaskId, StreamTask>,
    /// Tasks assigned that could not start yet, retried with a backoff.
    deferred: BTreeMap<TaskId, Deferred>,
    /// Tasks waiting for an open transaction on one of their changelogs to end, with when to
    /// look again.
    waiting_for_transactions: BTreeMap<TaskId, Instant>,
    /// First offset dropped per input partition of a deferred task, to rewind to.
    rewind: HashMap<(String, i32), i64>,
    /// Tasks whose store reported corruption while running: rewound, their state moved
    /// aside and restored from the changelogs.
    corrupted: BTreeSet<TaskId>,
    /// Tasks whose state directory is to be moved aside before they start again.
    move_aside: BTreeSet<TaskId>,
    /// Assigned, but not yet running: some task still restores or waits for its lock. The
    /// thread reports `Running` once none does, as Kafka Streams' threads do.
    awaiting_ready: bool,
    /// The changelog topics of each sub-topology (by index), found once.
    changelogs: Vec<Vec<String>>,
    creator: TaskCreator,
    standbys: StandbyTasks,
    /// Tasks whose partitions were revoked after their work committed, kept open until the
    /// next assignment: those it gives back resume without closing, reopening or restoring.
    suspended: BTreeMap<TaskId, StreamTask>,
}

/// What [`TaskManager::start_task`] did.
enum Started {
    /// The task exists (restoring or running).
    Yes,
    /// The task must wait (an open transaction on one of its changelogs); try again later.
    Waiting,
}

impl TaskManager {
    pub(crate) fn new(p: TaskManagerParams) -> Self {
        let all = p.topology.changelog_topics(p.config.application_id());
        let changelogs = p
            .subtopologies
            .iter()
            .map(|sub| {
                all.iter()
                    .filter(|(_, s, _)| *s == sub.id)
                    .map(|(topic, _, _)| topic.clone())
                    .collect()
            })
            .collect();
        let creator = TaskCreator {
            thread: p.thread.clone(),
            config: p.config.clone(),
            topology: p.topology.clone(),
            subtopologies: p.subtopologies.clone(),
            collector: p.collector.clone(),
            metrics: p.metrics.clone(),
        };
        TaskManager {
            changelogs,
            creator,
            standbys: StandbyTasks::new(p.index, p.control.clone()),
            suspended: BTreeMap::new(),
            p,
            tasks: BTreeMap::new(),
            deferred: BTreeMap::new(),
            waiting_for_transactions: BTreeMap::new(),
            rewind: HashMap::new(),
            corrupted: BTreeSet::new(),
            move_aside: BTreeSet::new(),
            awaiting_ready: false,
        }
    }

    /// The tasks, to publish their metrics.
    pub(crate) fn tasks_mut(&mut self) -> &mut BTreeMap<TaskId, StreamTask> {
        &mut self.tasks
    }

    /// Records left to restore per task, and the standby tasks with their lag.
    pub(crate) fn restoration(&self) -> Restoration {
        Restoration {
            remaining: self.p.reader.remaining(),
            standby_tasks: self.standbys.len(),
            standby_lag: self.p.reader.standby_lag().values().sum(),
        }
    }

    /// Whether a store of some task reported corruption while running.
    pub(crate) fn has_corrupted(&self) -> bool {
        !self.corrupted.is_empty()
    }

    fn set_thread_state(&self, state: ThreadState) {
        self.p.control.set_thread_state(self.p.index, state);
    }

    /// Reports the thread `Running` once every assigned task has started and restored.
    pub(crate) fn check_ready(&mut self) {
        if self.awaiting_ready && self.p.reader.is_empty() && self.deferred.is_empty() {
            self.awaiting_ready = false;
            self.set_thread_state(ThreadState::Running);
        }
    }

    fn apply_rebalance_events(&mut self, input: &mut InputFlow) -> Result<()> {
        for event in self.p.shared.take_events() {
            match event {
                RebalanceEvent::Revoked {
                    partitions,
                    lost,
                    committed,
                    incremental,
                } => self.revoked(input, partitions, lost, committed, incremental)?,
                RebalanceEvent::Assigned(partitions) => self.assigned(input, partitions)?,
            }
        }
        self.claim_active();
        Ok(())
    }

    /// Tells the client's standby plan which tasks this thread runs or waits to start, so
    /// that no thread of this client keeps a standby copy of them.
    fn claim_active(&self) {
        let claimed = self.tasks.keys().chain(self.deferred.keys()).copied();
        self.p
            .control
            .standbys
            .claim(self.p.index, claimed.collect());
    }

    /// Handles revoked partitions. Under the eager protocol, their tasks whose work committed
    /// are suspended until the assignment that follows; otherwise (an incremental revocation
    /// is final, a failed commit, a lost assignment) they close: clean (stores committed)
    /// when what they processed was committed, dirty otherwise.
    fn revoked(
        &mut self,
        input: &mut InputFlow,
        partitions: Vec<(String, i32)>,
        lost: bool,
        committed: bool,
        incremental: bool,
    ) -> Result<()> {
        self.set_thread_state(ThreadState::Rebalancing);
        // An incremental revocation may come without an assignment after it: the thread is
        // running again once its remaining tasks are.
        self.awaiting_ready = incremental;
        // A partition the application paused stays paused in librdkafka through revocation
        // and a later assignment; this thread forgets its pauses with the tasks, so it lifts
        // them now (the partitions no longer fetch: that is all a resume does to them).
        if let Err(e) = input.resume(
            partitions.iter().map(|(t, p)| (t.as_str(), *p)),
            "revoked partitions",
        ) {
            tracing::warn!(thread = %self.p.thread, error = %e, "resuming revoked partitions failed");
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
            tracing::info!(thread = %self.p.thread, "partitions lost: closing their tasks without committing");
        }
        // Tasks whose work committed are kept until the assignment arrives: one that comes
        // back resumes as it was (the eager protocol revokes every partition each time).
        let (keep, close): (Vec<TaskId>, Vec<TaskId>) = ids.into_iter().partition(|id| {
            !incremental
                && !lost
                && committed
                && self.tasks.get(id).is_some_and(|t| !t.is_restoring())
        });
        for id in keep {
            self.suspend(id);
        }
        self.close_tasks(&close, committed, input)?;
        input.forget_paused(&revoked);
        self.deferred
            .retain(|id, _| !revoked.iter().any(|(_, p)| *p == id.partition));
        let deferred = &self.deferred;
        self.waiting_for_transactions
            .retain(|id, _| deferred.contains_key(id));
        self.rewind.retain(|tp, _| !revoked.contains(tp));
        Ok(())
    }

    /// Starts (or defers) the tasks of newly assigned partitions.
    fn assigned(&mut self, input: &mut InputFlow, partitions: Vec<(String, i32)>) -> Result<()> {
        input.forward(&partitions);
        let mut wanted: BTreeMap<TaskId, usize> = BTreeMap::new();
        for (topic, partition) in &partitions {
            if let Some(sub) = input.subtopology_of(topic) {
                wanted.insert(
                    TaskId {
                        subtopology: self.p.subtopologies[sub].id,
                        partition: *partition,
                    },
                    sub,
                );
            }
        }
        for (id, sub) in &wanted {
            if self.tasks.contains_key(id) {
                continue;
            }
            self.try_start(*id, *sub, None, input)?;
        }
        // Suspended tasks the group gave to others (or not yet back) close now.
        let gone: Vec<TaskId> = self
            .suspended
            .keys()
            .filter(|id| !wanted.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(task) = self.suspended.remove(&id) {
                tracing::info!(thread = %self.p.thread, task = %id, "closing suspended task");
                self.close_task(id, task, false);
            }
        }
        // Running once every new task has restored (checked each round).
        self.awaiting_ready = true;
        Ok(())
    }

    /// One attempt to start task `id`, or defer it while another thread or process holds its
    /// state lock (or one of its changelogs has an open transaction); `deferred` is its entry
    /// when an earlier attempt deferred it. While a task is deferred its input partitions are
    /// paused; records fetched for it before the pause are dropped by `route`, which
    /// remembers the first such offset, and the partition is rewound there and resumed when
    /// the task starts, so nothing is skipped.
    fn try_start(
        &mut self,
        id: TaskId,
        sub: usize,
        deferred: Option<Deferred>,
        input: &InputFlow,
    ) -> Result<()> {
        let inputs: Vec<(String, i32)> = self.p.subtopologies[sub]
            .source_topics
            .iter()
            .map(|t| (t.clone(), id.partition))
            .collect();
        let inputs_iter = || inputs.iter().map(|(t, p)| (t.as_str(), *p));
        let attempt = match self.waiting_for_transactions.get(&id) {
            Some(at) if Instant::now() < *at => Ok(Started::Waiting),
            _ => self.start_task(id, sub, input),
        };
        match attempt {
            Ok(Started::Waiting) | Err(StreamsError::TaskLocked { .. }) => {
                let locked = match &attempt {
                    Err(StreamsError::TaskLocked { path, .. }) => Some(path.as_str()),
                    _ => None,
                };
                let entry = match deferred {
                    Some(mut d) => {
                        d.backoff(locked, &self.p.thread, id);
                        d
                    }
                    None => {
                        if let Some(path) = locked {
                            tracing::warn!(thread = %self.p.thread, task = %id, %path, "task state locked elsewhere; retrying until it is released");
                        }
                        input.pause(inputs_iter(), "a deferred task's input")?;
                        Deferred::new(sub)
                    }
                };
                self.deferred.insert(id, entry);
                Ok(())
            }
            Err(e) => Err(e),
            Ok(Started::Yes) => {
                let Some(d) = deferred else { return Ok(()) };
                tracing::info!(thread = %self.p.thread, task = %id, waited_ms = d.since.elapsed().as_millis() as u64, "deferred task started");
                for (topic, partition) in &inputs {
                    if let Some(offset) = self.rewind.remove(&(topic.clone(), *partition)) {
                        input.seek(
                            topic,
                            *partition,
                            Offset::Offset(offset),
                            "a deferred task's input",
                        )?;
                    }
                }
                // A restoring task's input stays paused until its restoration ends.
                let restoring = self.tasks.get(&id).is_some_and(StreamTask::is_restoring);
                if !restoring {
                    input.resume(inputs_iter(), "a deferred task's input")?;
                }
                Ok(())
            }
        }
    }

    /// Retries the deferred tasks whose backoff has passed.
    pub(crate) fn retry_deferred(&mut self, input: &InputFlow) -> Result<()> {
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
                self.try_start(id, d.sub, Some(d), input)?;
            }
        }
        Ok(())
    }

    fn start_task(&mut self, id: TaskId, sub: usize, input: &InputFlow) -> Result<Started> {
        let changelogs = &self.changelogs[sub];
        if let Some(open) = self.p.reader.open_transaction(changelogs, id.partition)? {
            if self
                .waiting_for_transactions
                .insert(id, Instant::now() + Duration::from_millis(200))
                .is_none()
            {
                tracing::info!(thread = %self.p.thread, task = %id, changelog = %open, "a changelog partition has an open transaction (a previous owner's); waiting for it to end before restoring");
            }
            return Ok(Started::Waiting);
        }
        self.waiting_for_transactions.remove(&id);
        // The task suspended at the last revocation resumes; a standby copy of it on this
        // thread becomes it. Either restores only what the changelogs have beyond its stores.
        let (mut existing, is_resumed) = match self.suspended.remove(&id) {
            Some(task) => (Some(task), true),
            None => (self.standbys.take(id, &mut self.p.reader)?, false),
        };
        if self.move_aside.remove(&id) {
            if let Some(mut corrupt) = existing.take() {
                let _ = corrupt.close();
            }
            self.creator.move_state_aside(id)?;
        } else if existing.is_some() && !is_resumed {
            tracing::info!(thread = %self.p.thread, task = %id, "standby task becomes active");
        }
        let (mut task, ranges) = self.creator.open(id, sub, existing, &mut self.p.reader)?;
        if !is_resumed {
            self.p.metrics.tasks_created.fetch_add(1, Ordering::Relaxed);
        }
        let restoring = self.p.reader.register(id, &mut task, ranges)?;
        if restoring {
            input.pause(task.input_partitions(), "a restoring task's input")?;
            tracing::info!(thread = %self.p.thread, task = %id, "created task; restoring its stores");
        } else {
            task.initialize()?;
            let what = if is_resumed {
                "resumed task"
            } else {
                "created task"
            };
            tracing::info!(thread = %self.p.thread, task = %id, "{what}");
        }
        let stores = task.queryable_stores();
        self.p.control.stores.register(id, stores, restoring);
        self.tasks.insert(id, task);
        Ok(Started::Yes)
    }

    /// One bounded step of restoration; tasks whose stores all restored are initialised and
    /// their input resumed.
    pub(crate) fn restore(&mut self, input: &InputFlow) -> Result<()> {
        self.standbys.update(&self.creator, &mut self.p.reader)?;
        let idle = !self
            .tasks
            .values()
            .any(|t| !t.is_restoring() && t.buffered() > 0);
        let standbys = self.standbys.tasks_mut();
        for id in self.p.reader.restore(&mut self.tasks, standbys, idle)? {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            task.initialize()?;
            self.p.control.stores.restored(id);
            input.resume(task.input_partitions(), "a restored task's input")?;
            let restored: u64 = task.changelogs().iter().map(|c| c.restored).sum();
            tracing::info!(thread = %self.p.thread, task = %id, restored, "restored task");
        }
        Ok(())
    }

    /// Processes what the running tasks have buffered, round-robin in slices of 1,000
    /// records; returns how many records that was. Then makes the offsets of processed
    /// records visible to the rebalance callback and resumes drained partitions.
    pub(crate) fn process(&mut self, input: &mut InputFlow) -> Result<u64> {
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
        for task in self.tasks.values_mut() {
            self.p
                .shared
                .pending_offsets
                .extend(task.take_committable());
        }
        input.resume_drained(&self.tasks)?;
        Ok(processed)
    }

    /// Fires due wall-clock punctuations; returns how many tasks fired any.
    pub(crate) fn punctuate(&mut self) -> Result<u64> {
        let now = now_ms();
        let mut fired = 0;
        for task in self.tasks.values_mut().filter(|t| !t.is_restoring()) {
            if task.punctuate_wall_clock(now)? {
                fired += 1;
            }
        }
        Ok(fired)
    }

    /// Whether a processor asked for a commit.
    pub(crate) fn commit_requested(&self) -> bool {
        self.tasks.values().any(StreamTask::commit_requested)
    }

    /// Bytes the tasks' stores hold for the next commit.
    pub(crate) fn uncommitted_bytes(&self) -> usize {
        self.tasks.values().map(StreamTask::uncommitted_bytes).sum()
    }

    /// Adds every task's offsets to commit to the pending offsets.
    pub(crate) fn prepare_commit(&mut self) {
        for task in self.tasks.values_mut() {
            self.p.shared.pending_offsets.extend(task.prepare_commit());
        }
    }

    /// Commits the stores of every task that is not restoring, after a successful commit
    /// (deliveries confirmed, offsets or transaction committed).
    pub(crate) fn commit_stores(&mut self) -> Result<()> {
        let written = self.p.collector.borrow().changelog_offsets();
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

    /// Suspends running task `id` after its partitions were revoked and its work committed:
    /// its stores commit, its buffered records go, it stops answering queries.
    fn suspend(&mut self, id: TaskId) {
        let Some(mut task) = self.tasks.remove(&id) else {
            return;
        };
        self.p.control.stores.remove(id);
        let written = self.p.collector.borrow().changelog_offsets();
        match task.commit_stores(&written) {
            Ok(()) => {
                task.suspend();
                tracing::info!(thread = %self.p.thread, task = %id, "suspended task");
                self.suspended.insert(id, task);
            }
            Err(e) => {
                tracing::warn!(thread = %self.p.thread, task = %id, error = %e, "committing the stores of a revoked task failed; closing it");
                self.close_task(id, task, false);
            }
        }
    }

    /// Closes the suspended tasks (their stores committed when they were suspended).
    fn close_suspended(&mut self) {
        for (id, task) in std::mem::take(&mut self.suspended) {
            self.close_task(id, task, false);
        }
    }

    /// Closes the tasks `ids` (committing their stores when `clean`) and forgets their
    /// restoration and paused partitions.
    fn close_tasks(&mut self, ids: &[TaskId], clean: bool, input: &mut InputFlow) -> Result<()> {
        let mut inputs: HashSet<(String, i32)> = HashSet::new();
        for id in ids {
            if let Some(task) = self.tasks.remove(id) {
                inputs.extend(task.input_partitions().map(|(t, p)| (t.to_owned(), p)));
                tracing::info!(thread = %self.p.thread, task = %id, clean, "closing task");
                self.close_task(*id, task, clean);
            }
        }
        input.forget_paused(&inputs);
        let tasks = &self.tasks;
        self.p.reader.unregister(|id| tasks.contains_key(id))
    }

    /// Closes a task. After a clean close (its output and offsets committed) its stores
    /// commit first, so the next owner on this machine restores only the tail; otherwise
    /// they drop what was not committed.
    fn close_task(&self, id: TaskId, mut task: StreamTask, clean: bool) {
        self.p.control.stores.remove(id);
        self.p.metrics.tasks_closed.fetch_add(1, Ordering::Relaxed);
        if clean && !task.is_restoring() {
            let written = self.p.collector.borrow().changelog_offsets();
            if let Err(e) = task.commit_stores(&written) {
                tracing::warn!(thread = %self.p.thread, task = %id, error = %e, "committing the stores of a closing task failed");
            }
        }
        if let Err(e) = task.close() {
            tracing::warn!(thread = %self.p.thread, task = %id, error = %e, "closing a task failed");
        }
    }

    /// Closes every task, committing their stores when `clean`.
    pub(crate) fn close_all(&mut self, clean: bool) {
        for (id, task) in std::mem::take(&mut self.tasks) {
            self.close_task(id, task, clean);
        }
        self.close_suspended();
        self.standbys.close_all(&mut self.p.reader, &self.p.thread);
    }
}

impl Router for TaskManager {
    fn tasks(&self) -> &BTreeMap<TaskId, StreamTask> {
        &self.tasks
    }

    fn rebalanced(&mut self, input: &mut InputFlow) -> Result<()> {
        self.apply_rebalance_events(input)
    }

    fn route(&mut self, raw: RawRecord, sub: usize) -> Result<bool> {
        let id = TaskId {
            subtopology: self.p.subtopologies[sub].id,
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
            tracing::debug!(thread = %self.p.thread, task = %id, "dropping a record for a task this thread does not own");
            return Ok(false);
        };
        let queued = task.push_record(raw)?;
        Ok(queued >= task.max_buffered_per_partition())
    }

    fn restoring(&self) -> bool {
        self.p.reader.busy()
    }
}
