//! Thread metrics publication: every 100 ms a stream thread publishes its tasks' counters,
//! windowed maxima and input lag, and every second its stores' own metrics, into its
//! [`ThreadMetrics`], which the client's metrics hub reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::input_flow::InputFlow;
use super::shared::ThreadShared;
use crate::ids::TaskId;
use crate::metrics::{TaskSample, ThreadMetrics, WindowedMax};
use crate::task::StreamTask;

/// Where a thread's restoration stands: records left per restoring task, and its standby
/// tasks with the changelog records they have not applied.
pub(crate) struct Restoration {
    pub remaining: BTreeMap<TaskId, i64>,
    pub standby_tasks: usize,
    pub standby_lag: i64,
}

/// How often a thread publishes its tasks' counters and lag for the metrics.
const METRICS_PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// How often a thread publishes its stores' own metrics (RocksDB statistics).
const STORE_METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// Publishes one stream thread's metrics.
pub(crate) struct ThreadMetricsPublisher {
    metrics: Arc<ThreadMetrics>,
    last_publish: Instant,
    last_store_publish: Instant,
    /// Per task: the windowed maxima of record lateness and end-to-end latency.
    maxima: BTreeMap<TaskId, (WindowedMax, WindowedMax)>,
    /// Per task and sink node: the windowed maximum of end-to-end latency.
    sink_maxima: BTreeMap<(TaskId, Arc<str>), WindowedMax>,
}

impl ThreadMetricsPublisher {
    pub(crate) fn new(metrics: Arc<ThreadMetrics>) -> Self {
        ThreadMetricsPublisher {
            metrics,
            last_publish: Instant::now(),
            last_store_publish: Instant::now(),
            maxima: BTreeMap::new(),
            sink_maxima: BTreeMap::new(),
        }
    }

    /// The metrics the thread publishes into.
    pub(crate) fn metrics(&self) -> &Arc<ThreadMetrics> {
        &self.metrics
    }

    /// Whether it is time to publish again.
    pub(crate) fn due(&self) -> bool {
        self.last_publish.elapsed() >= METRICS_PUBLISH_INTERVAL
    }

    /// Publishes the tasks' counters, the input lag and where restoration and the standby
    /// tasks stand.
    pub(crate) fn publish(
        &mut self,
        tasks: &mut BTreeMap<TaskId, StreamTask>,
        restoration: &Restoration,
        input: &mut InputFlow,
        shared: &ThreadShared,
    ) {
        self.last_publish = Instant::now();
        input.refresh_paused_end_offsets();
        let end_offsets = shared.end_offsets.lock().clone();
        let mut samples = BTreeMap::new();
        let mut lag = BTreeMap::new();
        self.maxima.retain(|id, _| tasks.contains_key(id));
        self.sink_maxima.retain(|(id, _), _| tasks.contains_key(id));
        let mut consumer_positions: Option<HashMap<(String, i32), i64>> = None;
        for (id, task) in tasks.iter_mut() {
            let (lateness, e2e) = task.take_maxima();
            let sinks = task
                .take_sink_latencies()
                .into_iter()
                .map(|(node, mut l)| {
                    l.e2e_max_ms = self
                        .sink_maxima
                        .entry((*id, node.clone()))
                        .or_insert_with(WindowedMax::new)
                        .observe(l.e2e_max_ms);
                    (node.to_string(), l)
                })
                .collect();
            let (lateness_max, e2e_max) = self
                .maxima
                .entry(*id)
                .or_insert_with(|| (WindowedMax::new(), WindowedMax::new()));
            let c = task.counters();
            samples.insert(
                *id,
                TaskSample {
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
                    restore_remaining: restoration.remaining.get(id).copied().unwrap_or(0).max(0)
                        as u64,
                },
            );
            for (topic, partition, next, drained) in task.next_offsets() {
                let key = (topic.to_owned(), partition);
                let (Some(mut next), Some(end)) = (next, end_offsets.get(&key)) else {
                    continue;
                };
                // Transaction markers (input written in transactions, as repartition topics
                // are under exactly-once) take offsets but never reach the task: once its
                // buffer is drained, the consumer's position, which steps over them, says
                // how far the partition is read.
                if drained && *end > next {
                    let positions = consumer_positions.get_or_insert_with(|| input.positions());
                    if let Some(position) = positions.get(&key) {
                        next = next.max(*position);
                    }
                }
                // The end offset may be older than the position: never below zero.
                lag.insert(key, (end - next).max(0));
            }
        }
        let replicas = shared.read_replicas.lock();
        *self.metrics.read_replicas.lock() = lag
            .keys()
            .filter_map(|key| Some((key.clone(), *replicas.get(key)?)))
            .collect();
        drop(replicas);
        *self.metrics.tasks.lock() = samples;
        let m = &self.metrics;
        m.standby_tasks
            .store(restoration.standby_tasks as u64, Ordering::Relaxed);
        m.standby_lag
            .store(restoration.standby_lag.max(0) as u64, Ordering::Relaxed);
        *self.metrics.lag.lock() = lag;
        if self.last_store_publish.elapsed() >= STORE_METRICS_INTERVAL || tasks.is_empty() {
            self.last_store_publish = Instant::now();
            let stores = tasks
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
}
