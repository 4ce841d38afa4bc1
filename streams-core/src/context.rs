//! The task context: the per-task state every processor node of a task reaches while it
//! runs (its stores, stream time, schedules, the record being processed, the error handlers
//! and the collector its output goes to), and the interfaces a task drives its nodes through.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::collector::{OutRecord, RecordCollector};
use crate::error::{Result, StreamsError};
use crate::handlers::{ErrorAction, ErrorContext, ErrorHandler, ErrorStage};
use crate::ids::{PunctuationType, PunctuatorId, TaskId};
use crate::metrics::NodeLatency;
use crate::record::{RawRecord, RecordMetadata};
use crate::store::{StoreHandle, StoreInstance};
use crate::timestamp::TimestampExtractor;

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
    /// The largest lateness since the runtime last published the metrics.
    pub lateness_max_ms: u64,
    /// Sum over processed records of wall-clock time minus record timestamp when the record
    /// was processed (ms; Kafka Streams' record end-to-end latency at the source).
    pub e2e_latency_ms_total: u64,
    /// The largest end-to-end latency since the runtime last published the metrics.
    pub e2e_latency_max_ms: u64,
}

/// A scheduled punctuation: whose, how often, on which clock, and when it fires next.
pub(crate) struct Schedule {
    pub(crate) id: PunctuatorId,
    pub(crate) node: usize,
    pub(crate) interval: i64,
    pub(crate) kind: PunctuationType,
    pub(crate) next: i64,
}

/// The per-task state every node of the task can reach while it runs.
pub(crate) struct TaskContext {
    pub(crate) task_id: TaskId,
    pub(crate) application_id: Arc<str>,
    pub(crate) node_names: Arc<[Arc<str>]>,
    pub(crate) node_stores: Arc<[Vec<String>]>,
    pub(crate) stores: HashMap<String, StoreInstance>,
    pub(crate) current: Option<RawRecord>,
    pub(crate) metadata: Option<RecordMetadata>,
    pub(crate) stream_time: i64,
    pub(crate) wall_clock: i64,
    pub(crate) schedules: Vec<Schedule>,
    pub(crate) next_punctuator: u64,
    pub(crate) commit_requested: bool,
    pub(crate) collector: Rc<RefCell<dyn RecordCollector>>,
    /// Timestamp of the record or punctuation being processed, shared with changelog writers.
    pub(crate) record_timestamp: Rc<Cell<i64>>,
    pub(crate) settings: TaskSettings,
    pub(crate) counters: TaskCounters,
    /// End-to-end latency of records reaching each sink node.
    pub(crate) sinks: Vec<(Arc<str>, NodeLatency)>,
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
    pub(crate) fn escaped_panic(&mut self, payload: Box<dyn std::any::Any + Send>) -> Result<()> {
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
                let (key, value, headers) = crate::dead_letter::record(
                    &raw,
                    stage,
                    node,
                    error_type,
                    message,
                    self.settings.dead_letter_max_bytes,
                );
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
