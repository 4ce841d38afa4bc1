//! Tasks: one sub-topology instantiated for one partition number.
//!
//! A [`StreamTask`] owns fresh processor instances, its state stores, one input queue per
//! source partition and its stream time. The runtime and the test driver both drive tasks
//! through the same methods: [`StreamTask::push_record`], [`StreamTask::process_one`],
//! [`StreamTask::punctuate_wall_clock`], [`StreamTask::prepare_commit`].

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use crate::error::{Result, StreamsError};
use crate::handlers::{ErrorAction, ErrorContext, ErrorHandler, ErrorStage, dlq_headers};
use crate::processor::{PunctuationType, PunctuatorId};
use crate::record::{Headers, RawRecord, RecordMetadata};
use crate::store::{StoreHandle, StoreInstance};
use crate::timestamp::TimestampExtractor;

/// A task's id: sub-topology number and partition number, printed `<sub-topology>_<partition>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The sub-topology.
    pub subtopology: u32,
    /// The partition number shared by the task's source partitions.
    pub partition: i32,
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

/// An output record on its way to the producer.
#[derive(Debug)]
pub(crate) struct OutRecord<'a> {
    pub topic: &'a str,
    pub partition: Option<i32>,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub timestamp: i64,
    pub headers: &'a Headers,
}

/// Where tasks send output: the thread's Kafka producer, or the test driver's capture.
pub(crate) trait RecordCollector {
    /// Hands a record to the producer. An `Err` is a failure that must stop the task.
    fn send(&mut self, record: OutRecord<'_>) -> Result<()>;
    /// The partition count of `topic`, for custom partitioners.
    fn partition_count(&mut self, topic: &str) -> Result<i32>;
}

/// The error handlers and settings a task applies.
#[derive(Clone)]
pub(crate) struct TaskSettings {
    pub deserialization: Arc<dyn ErrorHandler>,
    pub processing: Arc<dyn ErrorHandler>,
    pub production: Arc<dyn ErrorHandler>,
    pub dead_letter_topic: Option<Arc<str>>,
    /// With `errors.dead.letter.queue.oversized=truncate`: the producer's
    /// `message.max.bytes`, above which a dead-letter record loses its value (and key).
    pub dead_letter_max_bytes: Option<usize>,
    pub extractor: Arc<dyn TimestampExtractor>,
    /// Records buffered per partition before the runtime pauses it.
    pub max_buffered_per_partition: usize,
}

/// Counters a task keeps; the runtime turns them into metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TaskCounters {
    /// Records taken from the input queues and processed (or skipped by a handler).
    pub processed: u64,
    /// Records skipped: invalid timestamps and records a handler chose to continue past.
    pub dropped: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Punctuations fired.
    pub punctuations: u64,
    /// Records a windowed operation dropped because their window had closed (stream time
    /// past window end + grace).
    pub late_dropped: u64,
    /// Sum over processed records of how far each was behind stream time (ms; 0 for records
    /// at or ahead of it): Kafka Streams' record lateness.
    pub lateness_ms_total: u64,
    /// The largest lateness since [`StreamTask::take_maxima`] was last called.
    pub lateness_max_ms: u64,
    /// Sum over processed records of wall-clock time minus record timestamp when the record
    /// was processed (ms; Kafka Streams' record end-to-end latency at the source).
    pub e2e_latency_ms_total: u64,
    /// The largest end-to-end latency since [`StreamTask::take_maxima`] was last called.
    pub e2e_latency_max_ms: u64,
}

struct Schedule {
    id: PunctuatorId,
    node: usize,
    interval: i64,
    kind: PunctuationType,
    next: i64,
}

/// The per-task state every node of the task can reach while it runs.
pub(crate) struct TaskContext {
    task_id: TaskId,
    application_id: Arc<str>,
    node_names: Arc<[Arc<str>]>,
    node_stores: Arc<[Vec<String>]>,
    stores: HashMap<String, StoreInstance>,
    current: Option<RawRecord>,
    metadata: Option<RecordMetadata>,
    stream_time: i64,
    wall_clock: i64,
    schedules: Vec<Schedule>,
    next_punctuator: u64,
    commit_requested: bool,
    collector: Rc<RefCell<dyn RecordCollector>>,
    /// Timestamp of the record or punctuation being processed, shared with changelog writers.
    record_timestamp: Rc<Cell<i64>>,
    pub(crate) settings: TaskSettings,
    pub(crate) counters: TaskCounters,
    /// End-to-end latency of records reaching each sink node.
    sinks: Vec<(Arc<str>, NodeLatency)>,
}

/// End-to-end latency of the records that reached one (sink) node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeLatency {
    /// Records that reached the node.
    pub records: u64,
    /// Sum of wall-clock time minus record timestamp (ms).
    pub e2e_ms_total: u64,
    /// The largest since [`StreamTask::take_sink_latencies`] was last called (ms).
    pub e2e_max_ms: u64,
}

impl TaskContext {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        task_id: TaskId,
        application_id: Arc<str>,
        node_names: Arc<[Arc<str>]>,
        node_stores: Arc<[Vec<String>]>,
        stores: HashMap<String, StoreInstance>,
        collector: Rc<RefCell<dyn RecordCollector>>,
        record_timestamp: Rc<Cell<i64>>,
        settings: TaskSettings,
        wall_clock: i64,
    ) -> Self {
        TaskContext {
            task_id,
            application_id,
            node_names,
            node_stores,
            stores,
            current: None,
            metadata: None,
            stream_time: -1,
            wall_clock,
            schedules: Vec::new(),
            next_punctuator: 0,
            commit_requested: false,
            collector,
            record_timestamp,
            settings,
            counters: TaskCounters::default(),
            sinks: Vec::new(),
        }
    }

    /// Counts a record reaching sink `node`, with its end-to-end latency.
    pub(crate) fn record_sink_latency(&mut self, node: &Arc<str>, timestamp: i64) {
        if self.wall_clock <= 0 {
            return;
        }
        let e2e = self.wall_clock.saturating_sub(timestamp).max(0) as u64;
        let index = match self.sinks.iter().position(|(n, _)| Arc::ptr_eq(n, node)) {
            Some(i) => i,
            None => {
                self.sinks.push((node.clone(), NodeLatency::default()));
                self.sinks.len() - 1
            }
        };
        let l = &mut self.sinks[index].1;
        l.records += 1;
        l.e2e_ms_total += e2e;
        l.e2e_max_ms = l.e2e_max_ms.max(e2e);
    }

    pub(crate) fn task_id(&self) -> TaskId {
        self.task_id
    }

    pub(crate) fn application_id(&self) -> &str {
        &self.application_id
    }

    pub(crate) fn node_name(&self, node: usize) -> &str {
        self.node_names.get(node).map(|n| &**n).unwrap_or("?")
    }

    pub(crate) fn record_metadata(&self) -> Option<&RecordMetadata> {
        self.metadata.as_ref()
    }

    /// Makes `raw` the source record of what is processed next (for error handlers).
    pub(crate) fn set_current(&mut self, raw: RawRecord) {
        self.current = Some(raw);
    }

    pub(crate) fn stream_time(&self) -> i64 {
        self.stream_time
    }

    pub(crate) fn wall_clock_time(&self) -> i64 {
        self.wall_clock
    }

    pub(crate) fn request_commit(&mut self) {
        self.commit_requested = true;
    }

    pub(crate) fn schedule(
        &mut self,
        node: usize,
        interval: i64,
        kind: PunctuationType,
    ) -> PunctuatorId {
        let id = PunctuatorId(self.next_punctuator);
        self.next_punctuator += 1;
        // Stream time: aligned to the epoch, so it fires as soon as there is data.
        // Wall clock: one interval from now.
        let next = match kind {
            PunctuationType::StreamTime => 0,
            PunctuationType::WallClockTime => self.wall_clock.saturating_add(interval),
        };
        self.schedules.push(Schedule {
            id,
            node,
            interval,
            kind,
            next,
        });
        id
    }

    pub(crate) fn cancel(&mut self, id: PunctuatorId) {
        self.schedules.retain(|s| s.id != id);
    }

    pub(crate) fn state_store<S: 'static>(
        &self,
        node: usize,
        name: &str,
    ) -> Result<StoreHandle<S>> {
        let connected = self
            .node_stores
            .get(node)
            .is_some_and(|s| s.iter().any(|s| s == name));
        if !connected {
            return Err(StreamsError::Topology(format!(
                "processor `{}` asked for state store `{name}`, which is not connected to it; connect it with \
                 Topology::add_state_store or Topology::connect_processor_and_state_stores",
                self.node_name(node)
            )));
        }
        let instance = self.stores.get(name).ok_or_else(|| {
            StreamsError::Topology(format!(
                "state store `{name}` was not built for task {}",
                self.task_id
            ))
        })?;
        instance.handle::<S>().ok_or_else(|| {
            StreamsError::Topology(format!(
                "state store `{name}` is not of the requested type {}",
                std::any::type_name::<S>()
            ))
        })
    }

    pub(crate) fn send(&mut self, record: OutRecord<'_>) -> Result<()> {
        self.collector.borrow_mut().send(record)
    }

    pub(crate) fn partition_count(&mut self, topic: &str) -> Result<i32> {
        self.collector.borrow_mut().partition_count(topic)
    }

    /// A panic that no processor node caught (a user serde, a topic chooser, a partitioner)
    /// while the current record was processed: the processing handler decides when the
    /// record's source bytes are known (a dead-letter record can be written), otherwise the
    /// error names the record.
    fn escaped_panic(&mut self, payload: Box<dyn std::any::Any + Send>) -> Result<()> {
        let message = format!("panicked: {}", crate::error::panic_message(&*payload));
        let position = self
            .metadata
            .as_ref()
            .map(|m| crate::error::SourcePosition {
                topic: m.topic.to_string(),
                partition: m.partition,
                offset: m.offset,
            })
            .unwrap_or(crate::error::SourcePosition {
                topic: String::new(),
                partition: -1,
                offset: -1,
            });
        let node = format!("task {}", self.task_id);
        let fail = || StreamsError::Processing {
            node: node.clone(),
            position: position.clone(),
            message: message.clone(),
        };
        if self.current.is_none() {
            return Err(fail());
        }
        self.handle_failure(ErrorStage::Processing, &node, None, "panic", &message, fail)
    }

    /// Applies `handler` to a failure and carries out its decision. Returns `Ok(())` when the
    /// record is to be skipped, the error to propagate when the application must fail.
    pub(crate) fn handle_failure(
        &mut self,
        stage: ErrorStage,
        node: &str,
        source: Option<&RawRecord>,
        error_type: &str,
        message: &str,
        fail: impl FnOnce() -> StreamsError,
    ) -> Result<()> {
        let handler = match stage {
            ErrorStage::Deserialization => self.settings.deserialization.clone(),
            ErrorStage::Processing => self.settings.processing.clone(),
            ErrorStage::Production => self.settings.production.clone(),
        };
        let source = source.or(self.current.as_ref()).cloned();
        let action = handler.handle(&ErrorContext {
            stage,
            node,
            task_id: Some(self.task_id),
            source: source.as_ref(),
            message,
        });
        match action {
            ErrorAction::Fail => Err(fail()),
            ErrorAction::Continue => {
                self.counters.dropped += 1;
                Ok(())
            }
            ErrorAction::DeadLetter => {
                let Some(topic) = self.settings.dead_letter_topic.clone() else {
                    return Err(StreamsError::config(
                        "errors.dead.letter.queue.topic.name",
                        format!(
                            "a {stage} error handler chose the dead-letter queue, but no dead-letter topic is configured"
                        ),
                    ));
                };
                let Some(raw) = source else {
                    // A punctuation has no source record to send; count it as skipped.
                    self.counters.dropped += 1;
                    return Ok(());
                };
                let mut headers = raw.headers.clone();
                // Truncating: an error message can quote the whole record (a panic's text).
                let message = match self.settings.dead_letter_max_bytes {
                    Some(_) => cut_message(message),
                    None => std::borrow::Cow::Borrowed(message),
                };
                headers.add(dlq_headers::EXCEPTION, Some(error_type.as_bytes().to_vec()));
                headers.add(dlq_headers::MESSAGE, Some(message.as_bytes().to_vec()));
                headers.add(
                    dlq_headers::STACKTRACE,
                    Some(format!("{stage} error in node {node}: {message}").into_bytes()),
                );
                headers.add(dlq_headers::TOPIC, Some(raw.topic.as_bytes().to_vec()));
                headers.add(
                    dlq_headers::PARTITION,
                    Some(raw.partition.to_string().into_bytes()),
                );
                headers.add(
                    dlq_headers::OFFSET,
                    Some(raw.offset.to_string().into_bytes()),
                );
                let (mut key, mut value) = (raw.key.as_deref(), raw.value.as_deref());
                if let Some(max) = self.settings.dead_letter_max_bytes {
                    truncate_dead_letter(max, &mut key, &mut value, &mut headers);
                }
                let sent = self.send(OutRecord {
                    topic: &topic,
                    partition: None,
                    key,
                    value,
                    timestamp: raw.timestamp.max(0),
                    headers: &headers,
                });
                if let Err(StreamsError::Production { message, .. }) = sent {
                    return Err(StreamsError::DeadLetter {
                        position: crate::error::SourcePosition {
                            topic: raw.topic.to_string(),
                            partition: raw.partition,
                            offset: raw.offset,
                        },
                        topic: topic.to_string(),
                        message,
                    });
                }
                sent?;
                self.counters.dead_lettered += 1;
                Ok(())
            }
        }
    }
}

/// The longest error message a truncated dead-letter record carries in its headers.
const MAX_DEAD_LETTER_MESSAGE: usize = 4096;

/// `message` cut to [`MAX_DEAD_LETTER_MESSAGE`] bytes (at a character boundary), saying so.
fn cut_message(message: &str) -> std::borrow::Cow<'_, str> {
    if message.len() <= MAX_DEAD_LETTER_MESSAGE {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut end = MAX_DEAD_LETTER_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{}... (cut from {} bytes)",
        &message[..end],
        message.len()
    ))
}

/// Room kept for a record's framing and the headers' own overhead under `message.max.bytes`.
const RECORD_OVERHEAD: usize = 1024;

/// Drops the value (and, if still too large, the key) of a dead-letter record that would not
/// fit in `max` bytes, saying so in the `__streams.errors.truncated` header.
fn truncate_dead_letter(
    max: usize,
    key: &mut Option<&[u8]>,
    value: &mut Option<&[u8]>,
    headers: &mut Headers,
) {
    let header_bytes: usize = headers
        .iter()
        .map(|h| h.key.len() + h.value.as_ref().map_or(0, Vec::len))
        .sum();
    let size = |k: &Option<&[u8]>, v: &Option<&[u8]>| {
        k.map_or(0, <[u8]>::len) + v.map_or(0, <[u8]>::len) + header_bytes + RECORD_OVERHEAD
    };
    if size(key, value) <= max {
        return;
    }
    let mut dropped = Vec::new();
    if let Some(v) = value.take() {
        dropped.push(format!("value of {} bytes", v.len()));
    }
    if size(key, value) > max
        && let Some(k) = key.take()
    {
        dropped.push(format!("key of {} bytes", k.len()));
    }
    headers.add(
        dlq_headers::TRUNCATED,
        Some(
            format!(
                "{} dropped: the record would exceed message.max.bytes ({max})",
                dropped.join(" and ")
            )
            .into_bytes(),
        ),
    );
}

/// A source node as the task sees it: takes a raw record, deserializes and forwards it.
pub(crate) trait RawSource {
    fn process_raw(&mut self, raw: RawRecord, timestamp: i64, task: &mut TaskContext)
    -> Result<()>;
}

/// The lifecycle of a processor node, without its types.
pub(crate) trait NodeOps {
    fn init(&mut self, task: &mut TaskContext) -> Result<()>;
    fn punctuate(&mut self, id: PunctuatorId, timestamp: i64, task: &mut TaskContext)
    -> Result<()>;
    fn close(&mut self);
}

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
pub struct StreamTask {
    ctx: TaskContext,
    queues: Vec<PartitionQueue>,
    nodes: Vec<(usize, Rc<RefCell<dyn NodeOps>>)>,
    initialized: bool,
    changelogs: Vec<ChangelogPartition>,
    task_dir: std::path::PathBuf,
    /// Held while the task is open: no other thread or process on this machine opens the same
    /// task's stores meanwhile.
    _lock: Option<std::fs::File>,
    /// Where the task's state went when a store could not be opened (corrupt or missing
    /// files); the stores were then built anew, to be restored from the changelogs.
    pub(crate) state_moved_aside: Option<std::path::PathBuf>,
}

/// A changelog partition of one of the task's stores, and how far restoring it has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangelogPartition {
    pub store: String,
    pub topic: String,
    pub partition: i32,
    /// The end offset to restore up to (exclusive); `None` when not restoring.
    pub restore_end: Option<i64>,
    /// Records restored so far.
    pub restored: u64,
    /// The offset the local store is known to contain everything before, from the task's
    /// checkpoint file.
    pub checkpoint: Option<i64>,
    /// Whether the store outlives its task on disk; only such stores are checkpointed.
    pub persistent: bool,
}

/// Takes the exclusive lock of a task's state: the file `<task dir>.lock` beside the task
/// directory (beside it, so that wiping the directory keeps the lock). Fails at once, with an
/// error naming the task, if another thread or process holds it.
pub(crate) fn lock_task_dir(task_dir: &std::path::Path, task_id: TaskId) -> Result<std::fs::File> {
    let lock_path = task_dir.with_extension("lock");
    if let Some(parent) = lock_path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| StreamsError::io(format!("creating {}", parent.display()), e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StreamsError::io(format!("opening {}", lock_path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StreamsError::TaskLocked {
            task: task_id.to_string(),
            path: lock_path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(StreamsError::io(
            format!("locking {}", lock_path.display()),
            e,
        )),
    }
}

/// Moves a task's state directory aside as `<task dir>.corrupt-<unix ms>` (removing the
/// ones an earlier corruption left, so at most one is kept per task), for a person to
/// inspect; returns where it went. The caller holds the task's lock.
pub(crate) fn move_state_aside(task_dir: &std::path::Path) -> Result<std::path::PathBuf> {
    let name = task_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!("{name}.corrupt-");
    if let Some(parent) = task_dir.parent()
        && let Ok(entries) = std::fs::read_dir(parent)
    {
        for old in entries.flatten() {
            if old.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(old.path());
            }
        }
    }
    let moved = task_dir.with_file_name(format!("{prefix}{}", crate::timestamp::now_ms()));
    std::fs::rename(task_dir, &moved).map_err(|e| {
        StreamsError::io(
            format!("moving {} aside to {}", task_dir.display(), moved.display()),
            e,
        )
    })?;
    Ok(moved)
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
            changelogs,
            task_dir,
            _lock: lock,
            state_moved_aside: None,
        }
    }

    /// The task's directory, `<state.dir>/<application.id>/<task id>/`.
    pub(crate) fn task_dir(&self) -> &std::path::Path {
        &self.task_dir
    }

    /// Commits the task's stores after its output and offsets were committed to Kafka: each
    /// store applies its staged writes together with the offset of its changelog partition
    /// after the last change acknowledged (`written`), never moving backwards.
    pub(crate) fn commit_stores(&mut self, written: &HashMap<(String, i32), i64>) -> Result<()> {
        for (name, store) in &self.ctx.stores {
            let changelog = self.changelogs.iter_mut().find(|c| &c.store == name);
            let offset = match changelog {
                Some(c) if c.persistent && c.restore_end.is_none() => {
                    let offset = written
                        .get(&(c.topic.clone(), c.partition))
                        .map(|o| o + 1)
                        .max(c.checkpoint);
                    c.checkpoint = offset;
                    offset
                }
                _ => None,
            };
            store.lifecycle.borrow_mut().commit(offset)?;
        }
        Ok(())
    }

    /// Bytes the task's stores hold for the next commit.
    pub(crate) fn uncommitted_bytes(&self) -> usize {
        self.ctx
            .stores
            .values()
            .map(|s| s.lifecycle.borrow().uncommitted_bytes())
            .sum()
    }

    /// The changelog partitions of the task's logged stores.
    pub(crate) fn changelogs(&self) -> &[ChangelogPartition] {
        &self.changelogs
    }

    /// Marks `topic`-`partition` as to be restored up to `end` (exclusive).
    pub(crate) fn start_restoring(&mut self, topic: &str, partition: i32, end: i64) {
        if let Some(c) = self
            .changelogs
            .iter_mut()
            .find(|c| c.topic == topic && c.partition == partition)
        {
            c.restore_end = Some(end);
        }
    }

    /// Marks a changelog partition as restored: the store now holds everything before the
    /// end offset, which becomes its checkpoint.
    pub(crate) fn finish_restoring(&mut self, topic: &str, partition: i32) {
        if let Some(c) = self
            .changelogs
            .iter_mut()
            .find(|c| c.topic == topic && c.partition == partition)
        {
            c.checkpoint = c.restore_end.take().or(c.checkpoint);
        }
    }

    /// Records that the store logging to `topic`-`partition` holds every change before
    /// `offset` (nothing was left to restore).
    pub(crate) fn set_checkpoint(&mut self, topic: &str, partition: i32, offset: i64) {
        if let Some(c) = self
            .changelogs
            .iter_mut()
            .find(|c| c.topic == topic && c.partition == partition)
        {
            c.checkpoint = Some(offset);
        }
    }

    /// True while some store of the task is being restored; the task processes nothing then.
    pub fn is_restoring(&self) -> bool {
        self.changelogs.iter().any(|c| c.restore_end.is_some())
    }

    /// Applies changelog records to the store that logs to `topic`; the store then holds
    /// every change before `next` (the offset after the batch), which it saves with them.
    pub(crate) fn restore(
        &mut self,
        topic: &str,
        partition: i32,
        batch: &[(Vec<u8>, Option<Vec<u8>>)],
        next: i64,
    ) -> Result<()> {
        let Some(c) = self
            .changelogs
            .iter_mut()
            .find(|c| c.topic == topic && c.partition == partition)
        else {
            return Ok(());
        };
        c.restored += batch.len() as u64;
        let store = self.ctx.stores.get(&c.store).ok_or_else(|| {
            StreamsError::IllegalState(format!(
                "task {} has no store {}",
                self.ctx.task_id, c.store
            ))
        })?;
        let mut store = store.lifecycle.borrow_mut();
        store.restore_batch(batch)?;
        store.commit(c.persistent.then_some(next))
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.ctx.task_id
    }

    /// Initialises every processor (in topology order). Idempotent.
    pub fn initialize(&mut self) -> Result<()> {
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
    pub fn input_partitions(&self) -> impl Iterator<Item = (&str, i32)> {
        self.queues.iter().map(|q| (&*q.topic, q.partition))
    }

    /// Queues one record of the partition it came from; returns that queue's length.
    pub fn push_record(&mut self, record: RawRecord) -> Result<usize> {
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
    pub fn buffered_in(&self, topic: &str, partition: i32) -> usize {
        self.queues
            .iter()
            .find(|q| &*q.topic == topic && q.partition == partition)
            .map_or(0, |q| q.records.len())
    }

    /// Per input partition, the next offset to process: one past the last processed record,
    /// or the first buffered record's offset before any was processed (`None` when neither is
    /// known); and whether nothing of the partition is buffered.
    pub fn next_offsets(&self) -> impl Iterator<Item = (&str, i32, Option<i64>, bool)> {
        self.queues.iter().map(|q| {
            let next = q.position.or_else(|| q.records.front().map(|r| r.offset));
            (&*q.topic, q.partition, next, q.records.is_empty())
        })
    }

    /// Records buffered across all queues.
    pub fn buffered(&self) -> usize {
        self.queues.iter().map(|q| q.records.len()).sum()
    }

    /// The configured per-partition buffer bound.
    pub fn max_buffered_per_partition(&self) -> usize {
        self.ctx.settings.max_buffered_per_partition
    }

    /// Stream time: the largest record timestamp processed (`-1` before any).
    pub fn stream_time(&self) -> i64 {
        self.ctx.stream_time
    }

    /// The task's counters.
    pub fn counters(&self) -> TaskCounters {
        self.ctx.counters
    }

    /// Each store's own metrics, by store name.
    pub fn store_metrics(&self) -> Vec<(String, Vec<crate::store::StoreMetric>)> {
        let mut out: Vec<(String, Vec<crate::store::StoreMetric>)> = self
            .ctx
            .stores
            .iter()
            .map(|(name, s)| (name.clone(), s.lifecycle.borrow().metrics()))
            .filter(|(_, m)| !m.is_empty())
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Each sink node's end-to-end latency; the maxima start over.
    pub fn take_sink_latencies(&mut self) -> Vec<(Arc<str>, NodeLatency)> {
        let out = self.ctx.sinks.clone();
        for (_, l) in &mut self.ctx.sinks {
            l.e2e_max_ms = 0;
        }
        out
    }

    /// Returns the largest lateness and end-to-end latency (ms) seen since the last call, and
    /// starts over: the metrics keep their own windowed maxima.
    pub fn take_maxima(&mut self) -> (u64, u64) {
        let c = &mut self.ctx.counters;
        let maxima = (c.lateness_max_ms, c.e2e_latency_max_ms);
        c.lateness_max_ms = 0;
        c.e2e_latency_max_ms = 0;
        maxima
    }

    /// True when a processor asked for a commit since the last [`Self::prepare_commit`].
    pub fn commit_requested(&self) -> bool {
        self.ctx.commit_requested
    }

    /// Sets the wall-clock time seen by processors.
    pub fn set_wall_clock(&mut self, now: i64) {
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
    pub fn process_one(&mut self) -> Result<bool> {
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
    pub fn punctuate_wall_clock(&mut self, now: i64) -> Result<bool> {
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
    pub fn prepare_commit(&mut self) -> Vec<(Arc<str>, i32, i64)> {
        self.ctx.commit_requested = false;
        self.take_committable()
    }

    /// The offsets of records processed since the last call, without flushing anything.
    pub fn take_committable(&mut self) -> Vec<(Arc<str>, i32, i64)> {
        self.queues
            .iter_mut()
            .filter_map(|q| {
                q.committable
                    .take()
                    .map(|o| (q.topic.clone(), q.partition, o))
            })
            .collect()
    }

    /// A typed handle on a store of this task.
    pub fn store_handle<S: 'static>(&self, name: &str) -> Option<StoreHandle<S>> {
        self.ctx.stores.get(name).and_then(|s| s.handle::<S>())
    }

    /// Drops buffered records (after a rebalance or an aborted commit). Offsets not committed
    /// will be read again.
    pub fn clear_buffers(&mut self) {
        for q in &mut self.queues {
            q.records.clear();
            q.position = None;
            q.head_timestamp = None;
            q.committable = None;
        }
    }

    /// Closes processors and stores. Store writes not committed are dropped.
    pub fn close(&mut self) -> Result<()> {
        if self.initialized {
            for (_, node) in &self.nodes {
                node.borrow_mut().close();
            }
            self.initialized = false;
        }
        let mut first_error = None;
        for store in self.ctx.stores.values() {
            if let Err(e) = store.lifecycle.borrow_mut().close() {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_directory_is_locked_once_at_a_time() {
        let dir = std::env::temp_dir().join(format!("kstreams-lock-test-{}", std::process::id()));
        let task_dir = dir.join("app").join("0_1");
        let id = TaskId {
            subtopology: 0,
            partition: 1,
        };
        let first = lock_task_dir(&task_dir, id).expect("first lock");
        let err = lock_task_dir(&task_dir, id).expect_err("second lock refused");
        assert_eq!(
            err.to_string(),
            format!(
                "the state of task 0_1 is locked by another thread or process ({})",
                task_dir.with_extension("lock").display()
            )
        );
        drop(first);
        lock_task_dir(&task_dir, id).expect("free again after the holder closes");
        let _ = std::fs::remove_dir_all(dir);
    }
}
