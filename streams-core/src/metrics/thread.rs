//! What one stream thread publishes for the metrics: latency counters it adds to once per
//! loop turn, and the samples of its tasks, stores and input lag it replaces at most every
//! 100 ms (see the runtime's `ThreadMetricsPublisher`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::sample::{NodeLatency, StoreMetric};
use crate::ids::TaskId;

/// `(task, store, the store's metrics)`.
pub(super) type StoreSample = (TaskId, String, Vec<StoreMetric>);

/// `((topic, partition), records)`.
pub(super) type PartitionLag = ((String, i32), i64);

/// A task's numbers as its thread last published them.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskSample {
    /// Per sink node; its `e2e_max_ms` is the windowed maximum.
    pub sinks: Vec<(String, NodeLatency)>,
    pub processed: u64,
    pub dropped: u64,
    pub late_dropped: u64,
    pub dead_lettered: u64,
    pub punctuations: u64,
    pub buffered: u64,
    pub restore_remaining: u64,
    pub lateness_ms_total: u64,
    pub lateness_max_ms: u64,
    pub e2e_latency_ms_total: u64,
    pub e2e_latency_max_ms: u64,
}

/// The largest value seen over the last one to two windows: two buckets, the older dropped
/// when a window has passed (Kafka Streams keeps its maxima over sample windows too).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowedMax {
    current: u64,
    previous: u64,
    started: std::time::Instant,
}

/// The window of [`WindowedMax`].
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(30);

impl WindowedMax {
    pub(crate) fn new() -> Self {
        WindowedMax {
            current: 0,
            previous: 0,
            started: std::time::Instant::now(),
        }
    }

    /// Adds an observation and returns the maximum over the last one to two windows.
    pub(crate) fn observe(&mut self, value: u64) -> u64 {
        if self.started.elapsed() >= MAX_WINDOW {
            self.previous = self.current;
            self.current = 0;
            self.started = std::time::Instant::now();
        }
        self.current = self.current.max(value);
        self.current.max(self.previous)
    }
}

/// What one stream thread publishes.
#[derive(Debug, Default)]
pub(crate) struct ThreadMetrics {
    pub name: String,
    pub process_records: AtomicU64,
    pub process_nanos: AtomicU64,
    pub polls: AtomicU64,
    pub poll_nanos: AtomicU64,
    pub commits: AtomicU64,
    pub commit_nanos: AtomicU64,
    pub punctuate_calls: AtomicU64,
    pub punctuate_nanos: AtomicU64,
    pub producer_records_sent: AtomicU64,
    pub producer_record_errors: AtomicU64,
    pub producer_retries: AtomicU64,
    /// Task state directories found corrupt, moved aside and restored from the changelogs.
    pub state_corruptions: AtomicU64,
    /// Active tasks created and closed (Kafka Streams task-created-total, task-closed-total).
    pub tasks_created: AtomicU64,
    pub tasks_closed: AtomicU64,
    /// Standby tasks kept, and the changelog records they have not read yet, as of the last
    /// publication.
    pub standby_tasks: AtomicU64,
    pub standby_lag: AtomicU64,
    /// Per task, as of the last publication.
    pub tasks: Mutex<BTreeMap<TaskId, TaskSample>>,
    /// Per input partition: records not yet processed, as of the last publication.
    pub lag: Mutex<BTreeMap<(String, i32), i64>>,
    /// Per input partition: the broker it is fetched from when not the leader, else -1.
    pub read_replicas: Mutex<BTreeMap<(String, i32), i32>>,
    /// Per task and store: the store's own metrics, as of the last publication.
    pub stores: Mutex<Vec<StoreSample>>,
}

impl ThreadMetrics {
    pub(crate) fn new(name: &str) -> Self {
        ThreadMetrics {
            name: name.to_owned(),
            ..Default::default()
        }
    }

    /// Adds one loop phase: `count` things done in `elapsed`.
    pub(crate) fn add(counter: &AtomicU64, nanos: &AtomicU64, count: u64, elapsed: Duration) {
        counter.fetch_add(count, Ordering::Relaxed);
        nanos.fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }
}
