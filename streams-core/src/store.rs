//! The state-store seam between the runtime and store implementations.
//!
//! The runtime manages stores without knowing their types: it builds them from a
//! [`StoreBuilder`] when a task is created, commits them after each successful commit of the
//! task's output and offsets (each store applies its staged writes with the changelog offset
//! they reached) and closes them with the task. Processors reach a store by name through
//! [`ProcessorContext::state_store`](crate::processor::ProcessorContext::state_store), which
//! hands out a typed [`StoreHandle`]. The implementations (key-value, window, session;
//! in-memory and RocksDB) live in the `state-stores` crate.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use crate::collector::{OutRecord, RecordCollector};
use crate::error::Result;
use crate::ids::TaskId;
pub use crate::metrics::StoreMetric;
use crate::record::Headers;

/// What the runtime needs of every store.
pub trait StateStore: 'static {
    /// The store's name, unique within a topology.
    fn name(&self) -> &str;
    /// Makes the writes since the last commit durable locally, in one atomic step together
    /// with `changelog_offset`: the offset of the store's changelog partition before which the
    /// store now holds every change (`None`: no changelog, or nothing known). The runtime
    /// calls it after the task's output and input offsets were committed to Kafka (under
    /// exactly-once: after the transaction committed), so the local state never runs ahead
    /// of what Kafka holds.
    fn commit(&mut self, changelog_offset: Option<i64>) -> Result<()>;
    /// The changelog offset saved by the last [`Self::commit`], read back after a restart:
    /// the store holds exactly the changes before it, and restoring resumes there. `None`
    /// for stores that keep nothing across restarts, and for a store never committed.
    fn committed_offset(&self) -> Result<Option<i64>> {
        Ok(None)
    }
    /// Memory held by writes not yet committed; the runtime commits early when the writes
    /// of a thread's tasks exceed `statestore.uncommitted.max.bytes`.
    fn uncommitted_bytes(&self) -> usize {
        0
    }
    /// The store's own metrics (RocksDB block-cache hits, write stalls, ...); the runtime
    /// labels them with thread, task and store and publishes them about once a second.
    fn metrics(&self) -> Vec<StoreMetric> {
        Vec::new()
    }
    /// A read-only view of what the store last committed, for interactive queries from any
    /// thread (see [`crate::query`]); `None` for a store that cannot be queried. The view
    /// must keep answering, or fail with [`StreamsError::StoreUnavailable`], after the
    /// store closes.
    ///
    /// [`StreamsError::StoreUnavailable`]: crate::StreamsError::StoreUnavailable
    fn queryable(&self) -> Option<crate::query::QueryableStore> {
        None
    }
    /// Releases the store's resources; called once when its task closes. Writes not
    /// committed are dropped: a task closed after a failure leaves its stores at their last
    /// committed state.
    fn close(&mut self) -> Result<()>;
    /// Applies records read back from the store's changelog (key, value; `None` deletes),
    /// without logging them again. The runtime follows each batch with a [`Self::commit`]
    /// naming the offset restoring reached. Stores without a changelog need not implement it.
    fn restore_batch(&mut self, batch: &[Change]) -> Result<()> {
        let _ = batch;
        Err(crate::error::StreamsError::Store {
            store: self.name().to_owned(),
            message: "this store type cannot be restored from a changelog".into(),
        })
    }
}

/// A change to a key-value store as a changelog carries it: key, and value (`None`: deleted).
pub type Change = (Vec<u8>, Option<Vec<u8>>);

/// A shared handle on a store of concrete type `S`, as processors hold it.
pub type StoreHandle<S> = Rc<RefCell<S>>;

/// A store built for one task: its lifecycle view for the runtime and its typed view for
/// processors, both on the same object.
pub struct StoreInstance {
    pub(crate) lifecycle: Rc<RefCell<dyn StateStore>>,
    pub(crate) typed: Rc<dyn Any>,
}

impl StoreInstance {
    /// Wraps a freshly built store.
    pub fn new<S: StateStore>(store: S) -> Self {
        let rc = Rc::new(RefCell::new(store));
        StoreInstance {
            lifecycle: rc.clone(),
            typed: rc,
        }
    }

    pub(crate) fn handle<S: 'static>(&self) -> Option<StoreHandle<S>> {
        self.typed.clone().downcast::<RefCell<S>>().ok()
    }
}

/// Where and for whom a store is being built.
#[derive(Clone)]
pub struct StoreContext {
    /// The owning task.
    pub task_id: TaskId,
    /// The `application.id`.
    pub application_id: String,
    /// The task's directory, `<state.dir>/<application.id>/<task id>/`.
    pub task_dir: PathBuf,
    /// Where to log changes, when the builder asked for a changelog.
    pub changelog: Option<ChangelogWriter>,
}

impl std::fmt::Debug for StoreContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreContext")
            .field("task_id", &self.task_id)
            .field("task_dir", &self.task_dir)
            .field(
                "changelog",
                &self.changelog.as_ref().map(ChangelogWriter::topic),
            )
            .finish()
    }
}

/// The changelog topic a store wants, as [`StoreBuilder::changelog`] describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogSpec {
    /// Topic configuration, e.g. `cleanup.policy=compact`.
    pub configs: Vec<(String, String)>,
}

impl ChangelogSpec {
    /// A compacted changelog, for key-value stores.
    pub fn compacted() -> Self {
        ChangelogSpec {
            configs: vec![("cleanup.policy".into(), "compact".into())],
        }
    }

    /// A compacted changelog that also deletes records older than `retention_ms`, for window
    /// and session stores (Kafka Streams uses the store's retention plus one day).
    pub fn compacted_with_retention(retention_ms: i64) -> Self {
        ChangelogSpec {
            configs: vec![
                ("cleanup.policy".into(), "compact,delete".into()),
                ("retention.ms".into(), retention_ms.to_string()),
            ],
        }
    }
}

/// The name of a store's changelog topic: `<application.id>-<store>-changelog`.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}

/// Writes a store's changes to its changelog partition (the task's partition) through the
/// task's producer, so they commit with the task's output. Each change carries the timestamp
/// of the record (or punctuation) being processed.
#[derive(Clone)]
pub struct ChangelogWriter {
    topic: Arc<str>,
    partition: i32,
    collector: Rc<RefCell<dyn RecordCollector>>,
    timestamp: Rc<Cell<i64>>,
}

impl ChangelogWriter {
    pub(crate) fn new(
        topic: Arc<str>,
        partition: i32,
        collector: Rc<RefCell<dyn RecordCollector>>,
        timestamp: Rc<Cell<i64>>,
    ) -> Self {
        ChangelogWriter {
            topic,
            partition,
            collector,
            timestamp,
        }
    }

    /// A writer that records changes in memory instead of producing them, for testing stores:
    /// returns the writer and the list of `(key, value, timestamp)` it logged.
    #[cfg(feature = "test-util")]
    pub fn in_memory(topic: &str, partition: i32) -> (Self, Rc<RefCell<Vec<LoggedChange>>>) {
        struct Memory(Rc<RefCell<Vec<LoggedChange>>>);
        impl RecordCollector for Memory {
            fn send(&mut self, r: OutRecord<'_>) -> Result<()> {
                self.0.borrow_mut().push((
                    r.key.map(<[u8]>::to_vec).unwrap_or_default(),
                    r.value.map(<[u8]>::to_vec),
                    r.timestamp,
                ));
                Ok(())
            }
            fn partition_count(&mut self, _: &str) -> Result<i32> {
                Ok(1)
            }
        }
        let log = Rc::new(RefCell::new(Vec::new()));
        let writer = ChangelogWriter::new(
            topic.into(),
            partition,
            Rc::new(RefCell::new(Memory(log.clone()))),
            Rc::new(Cell::new(0)),
        );
        (writer, log)
    }

    /// The changelog topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The changelog partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Logs that `key` now has `value` (`None`: deleted, sent as a tombstone).
    pub fn log(&self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let headers = Headers::new();
        self.collector.borrow_mut().send(OutRecord {
            topic: &self.topic,
            partition: Some(self.partition),
            key: Some(key),
            value,
            timestamp: self.timestamp.get().max(0),
            headers: &headers,
        })
    }
}

/// A change as [`ChangelogWriter::in_memory`] records it: key, value (`None`: tombstone),
/// timestamp.
#[cfg(feature = "test-util")]
pub type LoggedChange = (Vec<u8>, Option<Vec<u8>>, i64);

/// Builds one instance of a store per task.
pub trait StoreBuilder: Send + Sync + 'static {
    /// The store's name.
    fn name(&self) -> &str;
    /// The changelog this store wants (`None`: logging off). The runtime creates the topic
    /// `<application.id>-<store>-changelog` and hands a [`ChangelogWriter`] to [`Self::build`].
    fn changelog(&self) -> Option<ChangelogSpec> {
        None
    }
    /// True when the store keeps its content on local disk across task closes (RocksDB), so
    /// that a checkpoint can vouch for it. In-memory stores are never checkpointed: they
    /// restore their whole changelog each time their task is created.
    fn persistent(&self) -> bool {
        false
    }
    /// Builds the store for a task.
    fn build(&self, ctx: &StoreContext) -> Result<StoreInstance>;
}

/// Told about the restoration of stores from their changelogs, per changelog partition. Set
/// with [`KafkaStreams::set_restore_listener`](crate::KafkaStreams::set_restore_listener); the
/// calls come from the stream threads.
pub trait RestoreListener: Send + Sync + 'static {
    /// Restoration of `store` from `topic`-`partition` starts at `start_offset` and runs up to
    /// `end_offset` (exclusive).
    fn on_restore_start(
        &self,
        store: &str,
        topic: &str,
        partition: i32,
        start_offset: i64,
        end_offset: i64,
    ) {
        let _ = (store, topic, partition, start_offset, end_offset);
    }
    /// A batch of `records` was applied; the next offset to read is `next_offset`.
    fn on_batch_restored(
        &self,
        store: &str,
        topic: &str,
        partition: i32,
        next_offset: i64,
        records: u64,
    ) {
        let _ = (store, topic, partition, next_offset, records);
    }
    /// Restoration of `store` from `topic`-`partition` finished after `total` records.
    fn on_restore_end(&self, store: &str, topic: &str, partition: i32, total: u64) {
        let _ = (store, topic, partition, total);
    }
}
