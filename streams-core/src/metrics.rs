//! Metrics: what a running application does, per stream thread, task and input partition,
//! readable in-process ([`KafkaStreams::metrics`](crate::KafkaStreams::metrics)) and, when
//! `metrics.prometheus.address` is set, served as Prometheus / OpenMetrics text at
//! `http://<address>/metrics`.
//!
//! The names follow Kafka Streams' metrics, in Prometheus form (`kstreams_` prefix, snake
//! case, counters ending in `_total`). Kafka Streams' rates and averages are PromQL over the
//! counters:
//!
//! | Kafka Streams | here |
//! |---|---|
//! | `process-rate` | `rate(kstreams_thread_process_records_total[1m])` |
//! | `process-latency-avg` | `rate(kstreams_thread_process_time_seconds_total[1m]) / rate(kstreams_thread_process_records_total[1m])` |
//! | `poll-rate`, `commit-rate`, `punctuate-rate` | `rate(kstreams_thread_{poll,commit,punctuate}_total[1m])` |
//! | `commit-latency-avg` | `rate(kstreams_thread_commit_time_seconds_total[1m]) / rate(kstreams_thread_commit_total[1m])` |
//! | `dropped-records-total` (task) | `kstreams_task_dropped_records_total` |
//! | `restore-remaining-records-total` | `kstreams_restore_remaining_records` |
//! | `records-lag-max` (consumer) | `kstreams_consumer_records_lag_max` |
//!
//! Counters live in atomics the threads update once per loop turn (latencies) or publish at
//! most every 100 ms (task counters, lag), so nothing is added per record. The Prometheus text
//! is encoded by the `prometheus-client` crate from the same snapshot the in-process API
//! returns.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::error::{Result, StreamsError};
use crate::store::StoreMetric;
use crate::task::TaskId;

/// Whether a metric only grows (until its owner restarts) or goes up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A monotonic count; its Prometheus name ends in `_total`.
    Counter,
    /// A current value.
    Gauge,
}

/// One metric sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The name, without the `_total` Prometheus adds to counters.
    pub name: &'static str,
    /// What it measures.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// Labels, such as `thread`, `task`, `topic`, `partition`.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

/// All metrics of a client at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// The samples, grouped by name.
    pub metrics: Vec<Metric>,
}

impl MetricsSnapshot {
    /// The samples named `name` whose labels include all of `labels`.
    pub fn find<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Metric> + 'a {
        self.metrics.iter().filter(move |m| {
            m.name == name
                && labels
                    .iter()
                    .all(|(k, v)| m.labels.iter().any(|(mk, mv)| mk == k && mv == v))
        })
    }

    /// The sum of the samples named `name` with all of `labels` (0 when there are none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).map(|m| m.value).sum()
    }

    /// The largest sample named `name` with all of `labels`, if any.
    pub fn max(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.find(name, labels).map(|m| m.value).reduce(f64::max)
    }

    /// Adds one sample.
    pub fn push(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: MetricKind,
        labels: Vec<(&'static str, String)>,
        value: f64,
    ) {
        self.metrics.push(Metric {
            name,
            help,
            kind,
            labels,
            value,
        });
    }
}

/// `(task, store, the store's metrics)`.
type StoreSample = (TaskId, String, Vec<StoreMetric>);

/// `((topic, partition), records)`.
type PartitionLag = ((String, i32), i64);

/// A task's numbers as its thread last published them.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskSample {
    /// Per sink node; its `e2e_max_ms` is the windowed maximum.
    pub sinks: Vec<(String, crate::task::NodeLatency)>,
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
    /// Per task, as of the last publication.
    pub tasks: Mutex<BTreeMap<TaskId, TaskSample>>,
    /// Per input partition: records not yet processed, as of the last publication.
    pub lag: Mutex<BTreeMap<(String, i32), i64>>,
    /// Per task and store: the store's own metrics, as of the last publication.
    pub stores: Mutex<Vec<StoreSample>>,
}

/// Metrics that belong to the process rather than to one client, such as a RocksDB memory
/// budget shared by stores: every client's snapshot includes them.
pub trait MetricsSource: Send + Sync {
    /// Adds the source's samples.
    fn collect(&self, out: &mut MetricsSnapshot);
}

fn sources() -> &'static Mutex<Vec<std::sync::Weak<dyn MetricsSource>>> {
    static SOURCES: std::sync::OnceLock<Mutex<Vec<std::sync::Weak<dyn MetricsSource>>>> =
        std::sync::OnceLock::new();
    SOURCES.get_or_init(Mutex::default)
}

/// Adds a process-wide source; it is dropped from the metrics when its last `Arc` is.
pub fn register_source(source: std::sync::Weak<dyn MetricsSource>) {
    let mut all = sources().lock();
    all.retain(|s| s.strong_count() > 0);
    all.push(source);
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

/// The metrics of one client: its threads' publications plus client-wide numbers.
#[derive(Debug, Default)]
pub(crate) struct MetricsHub {
    threads: Mutex<Vec<Arc<ThreadMetrics>>>,
}

/// Client-wide numbers the hub does not own.
pub(crate) struct ClientNumbers {
    pub alive_threads: u64,
    pub failed_threads: u64,
    pub restore_remaining: i64,
    pub restored: u64,
}

impl MetricsHub {
    /// Registers a thread's metrics (replacing an earlier thread of the same name).
    pub(crate) fn register(&self, thread: Arc<ThreadMetrics>) {
        let mut threads = self.threads.lock();
        threads.retain(|t| t.name != thread.name);
        threads.push(thread);
    }

    /// A snapshot of everything.
    pub(crate) fn snapshot(&self, client: &ClientNumbers) -> MetricsSnapshot {
        use MetricKind::{Counter, Gauge};
        let mut s = MetricsSnapshot::default();
        s.push(
            "kstreams_alive_stream_threads",
            "Stream threads running (Kafka Streams alive-stream-threads).",
            Gauge,
            Vec::new(),
            client.alive_threads as f64,
        );
        s.push(
            "kstreams_failed_stream_threads",
            "Stream threads that stopped on an error (Kafka Streams failed-stream-threads).",
            Gauge,
            Vec::new(),
            client.failed_threads as f64,
        );
        s.push(
            "kstreams_restore_remaining_records",
            "Changelog offsets still to restore across restoring tasks \
             (Kafka Streams restore-remaining-records-total).",
            Gauge,
            Vec::new(),
            client.restore_remaining as f64,
        );
        s.push(
            "kstreams_restored_records",
            "Changelog records restored into stores since the client started.",
            Counter,
            Vec::new(),
            client.restored as f64,
        );
        let threads = self.threads.lock().clone();
        type ThreadField = fn(&ThreadMetrics) -> f64;
        let thread_counters: [(&'static str, &'static str, ThreadField); 12] = [
            (
                "kstreams_producer_records_sent",
                "Records the thread's producer delivered (output, changelogs, repartition and \
                 dead-letter topics).",
                |t| t.producer_records_sent.load(Ordering::Relaxed) as f64,
            ),
            (
                "kstreams_producer_record_errors",
                "Records the producer failed to deliver (record-error-rate is its rate).",
                |t| t.producer_record_errors.load(Ordering::Relaxed) as f64,
            ),
            (
                "kstreams_producer_request_retries",
                "Produce requests the producer retried, from librdkafka's statistics \
                 (record-retry-rate counts records; this counts requests).",
                |t| t.producer_retries.load(Ordering::Relaxed) as f64,
            ),
            (
                "kstreams_thread_process_records",
                "Records processed (Kafka Streams process-rate is its rate).",
                |t| t.process_records.load(Ordering::Relaxed) as f64,
            ),
            (
                "kstreams_thread_process_time_seconds",
                "Time spent processing records; divided by the records, process-latency-avg.",
                |t| t.process_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            ),
            (
                "kstreams_thread_poll",
                "Consumer polls (poll-rate is its rate).",
                |t| t.polls.load(Ordering::Relaxed) as f64,
            ),
            (
                "kstreams_thread_poll_time_seconds",
                "Time spent in polls (poll-latency-avg = time / polls).",
                |t| t.poll_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            ),
            (
                "kstreams_thread_commit",
                "Commits (commit-rate is its rate).",
                |t| t.commits.load(Ordering::Relaxed) as f64,
            ),
            (
                "kstreams_thread_commit_time_seconds",
                "Time spent committing (commit-latency-avg = time / commits).",
                |t| t.commit_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            ),
            (
                "kstreams_thread_punctuate",
                "Punctuations fired (punctuate-rate is its rate).",
                |t| t.punctuate_calls.load(Ordering::Relaxed) as f64,
            ),
            (
                "kstreams_thread_punctuate_time_seconds",
                "Time spent in punctuators (punctuate-latency-avg = time / punctuations).",
                |t| t.punctuate_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            ),
            (
                "kstreams_state_corruptions",
                "Task state directories whose stores could not be opened (corrupt or missing \
                 files), moved aside and restored from the changelogs.",
                |t| t.state_corruptions.load(Ordering::Relaxed) as f64,
            ),
        ];
        for (name, help, field) in thread_counters {
            for t in &threads {
                s.push(
                    name,
                    help,
                    Counter,
                    vec![("thread", t.name.clone())],
                    field(t),
                );
            }
        }
        type TaskField = fn(&TaskSample) -> f64;
        let task_metrics: [(&'static str, &'static str, MetricKind, TaskField); 11] = [
            (
                "kstreams_task_restore_remaining_records",
                "Changelog offsets the task still has to restore (restore-remaining-records-total).",
                Gauge,
                |t| t.restore_remaining as f64,
            ),
            (
                "kstreams_task_record_lateness_seconds",
                "Sum of how far processed records were behind stream time; divided by the \
                 processed records, Kafka Streams' record-lateness-avg.",
                Counter,
                |t| t.lateness_ms_total as f64 / 1000.0,
            ),
            (
                "kstreams_task_record_lateness_max_seconds",
                "The largest record lateness over the last 30 to 60 s (record-lateness-max).",
                Gauge,
                |t| t.lateness_max_ms as f64 / 1000.0,
            ),
            (
                "kstreams_task_record_e2e_latency_seconds",
                "Sum of wall-clock time minus record timestamp when records were processed; \
                 divided by the processed records, record-e2e-latency-avg at the source.",
                Counter,
                |t| t.e2e_latency_ms_total as f64 / 1000.0,
            ),
            (
                "kstreams_task_record_e2e_latency_max_seconds",
                "The largest end-to-end latency over the last 30 to 60 s (record-e2e-latency-max).",
                Gauge,
                |t| t.e2e_latency_max_ms as f64 / 1000.0,
            ),
            (
                "kstreams_task_processed_records",
                "Records the task processed (or a handler skipped).",
                Counter,
                |t| t.processed as f64,
            ),
            (
                "kstreams_task_dropped_records",
                "Records dropped: invalid timestamps, records a handler continued past, and late \
                 records of closed windows (Kafka Streams dropped-records-total).",
                Counter,
                |t| (t.dropped + t.late_dropped) as f64,
            ),
            (
                "kstreams_task_late_records_dropped",
                "Records dropped because their window had closed (part of dropped records).",
                Counter,
                |t| t.late_dropped as f64,
            ),
            (
                "kstreams_task_dead_letter_records",
                "Records sent to the dead-letter topic.",
                Counter,
                |t| t.dead_lettered as f64,
            ),
            (
                "kstreams_task_punctuations",
                "Punctuations the task fired, by stream time and wall-clock time.",
                Counter,
                |t| t.punctuations as f64,
            ),
            (
                "kstreams_task_buffered_records",
                "Records fetched and waiting in the task's queues.",
                Gauge,
                |t| t.buffered as f64,
            ),
        ];
        let samples: Vec<(String, Vec<(TaskId, TaskSample)>)> = threads
            .iter()
            .map(|t| {
                let tasks = t.tasks.lock()
                    .iter()
                    .map(|(k, v)| (*k, v.clone()))
                    .collect();
                (t.name.clone(), tasks)
            })
            .collect();
        for (name, help, kind, field) in task_metrics {
            for (thread, tasks) in &samples {
                for (id, sample) in tasks {
                    let labels = vec![("thread", thread.clone()), ("task", id.to_string())];
                    s.push(name, help, kind, labels, field(sample));
                }
            }
        }
        type NodeField = fn(&crate::task::NodeLatency) -> f64;
        let node_metrics: [(&'static str, &'static str, MetricKind, NodeField); 3] = [
            (
                "kstreams_node_records",
                "Records that reached the sink node.",
                Counter,
                |n| n.records as f64,
            ),
            (
                "kstreams_node_record_e2e_latency_seconds",
                "Sum of wall-clock time minus record timestamp when records reached the sink \
                 node; divided by its records, record-e2e-latency-avg of the node.",
                Counter,
                |n| n.e2e_ms_total as f64 / 1000.0,
            ),
            (
                "kstreams_node_record_e2e_latency_max_seconds",
                "The largest end-to-end latency at the sink node over the last 30 to 60 s \
                 (record-e2e-latency-max).",
                Gauge,
                |n| n.e2e_max_ms as f64 / 1000.0,
            ),
        ];
        for (name, help, kind, field) in node_metrics {
            for (thread, tasks) in &samples {
                for (id, sample) in tasks {
                    for (node, latency) in &sample.sinks {
                        let labels = vec![
                            ("thread", thread.clone()),
                            ("task", id.to_string()),
                            ("node", node.clone()),
                        ];
                        s.push(name, help, kind, labels, field(latency));
                    }
                }
            }
        }
        let lags: Vec<(String, Vec<PartitionLag>)> = threads
            .iter()
            .map(|t| {
                let lag = t.lag.lock().iter().map(|(k, v)| (k.clone(), *v)).collect();
                (t.name.clone(), lag)
            })
            .collect();
        for (thread, lag) in &lags {
            for ((topic, partition), records) in lag {
                s.push(
                    "kstreams_consumer_records_lag",
                    "Records in the input partition not yet processed: its end offset (as the \
                     consumer last saw it) minus the next offset to process.",
                    Gauge,
                    vec![
                        ("thread", thread.clone()),
                        ("topic", topic.clone()),
                        ("partition", partition.to_string()),
                    ],
                    *records as f64,
                );
            }
        }
        let stores: Vec<(String, Vec<StoreSample>)> = threads
            .iter()
            .map(|t| (t.name.clone(), t.stores.lock().clone()))
            .collect();
        for (thread, list) in &stores {
            for (task, store, metrics) in list {
                for m in metrics {
                    let labels = vec![
                        ("thread", thread.clone()),
                        ("task", task.to_string()),
                        ("store", store.clone()),
                    ];
                    s.push(m.name, m.help, m.kind, labels, m.value);
                }
            }
        }
        let live: Vec<Arc<dyn MetricsSource>> = sources().lock()
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        for source in live {
            source.collect(&mut s);
        }
        for (thread, lag) in &lags {
            let max = lag.iter().map(|(_, v)| *v).max().unwrap_or(0);
            s.push(
                "kstreams_consumer_records_lag_max",
                "The largest lag over the thread's input partitions (records-lag-max).",
                Gauge,
                vec![("thread", thread.clone())],
                max as f64,
            );
        }
        s
    }
}

/// Encodes a snapshot with `prometheus-client`.
#[derive(Debug)]
struct SnapshotCollector(MetricsSnapshot);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::result::Result<(), std::fmt::Error> {
        // Samples of one name must be encoded together, under one descriptor.
        let mut metrics: Vec<&Metric> = self.0.metrics.iter().collect();
        let order: std::collections::HashMap<&str, usize> = self
            .0
            .metrics
            .iter()
            .enumerate()
            .rev()
            .map(|(i, m)| (m.name, i))
            .collect();
        metrics.sort_by_key(|m| order[m.name]);
        let mut i = 0;
        while i < metrics.len() {
            let first = metrics[i];
            let kind = match first.kind {
                MetricKind::Counter => MetricType::Counter,
                MetricKind::Gauge => MetricType::Gauge,
            };
            let mut family = encoder.encode_descriptor(first.name, first.help, None, kind)?;
            if first.labels.is_empty() {
                // An unlabelled metric has one sample, written without braces.
                match first.kind {
                    MetricKind::Counter => ConstCounter::new(first.value).encode(family)?,
                    MetricKind::Gauge => ConstGauge::new(first.value).encode(family)?,
                }
                i += 1;
                continue;
            }
            while i < metrics.len() && metrics[i].name == first.name {
                let m = metrics[i];
                let labels: Vec<(&str, &str)> =
                    m.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let sample = family.encode_family(&labels)?;
                match m.kind {
                    MetricKind::Counter => ConstCounter::new(m.value).encode(sample)?,
                    MetricKind::Gauge => ConstGauge::new(m.value).encode(sample)?,
                }
                i += 1;
            }
        }
        Ok(())
    }
}

/// The OpenMetrics text of a snapshot.
pub fn encode_text(snapshot: &MetricsSnapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot.clone())));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// The Prometheus endpoint: a thread answering `GET /metrics` on one address.
pub(crate) struct MetricsServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `address` and serves what `snapshot` returns at each scrape.
    pub(crate) fn start(
        address: SocketAddr,
        snapshot: impl Fn() -> MetricsSnapshot + Send + 'static,
    ) -> Result<Self> {
        let listener = TcpListener::bind(address).map_err(|e| {
            StreamsError::config(
                "metrics.prometheus.address",
                format!("cannot listen on {address}: {e}"),
            )
        })?;
        let address = listener.local_addr().map_err(|e| StreamsError::Io {
            context: "reading the metrics endpoint's address".into(),
            source: e,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| StreamsError::Io {
                context: "setting up the metrics endpoint".into(),
                source: e,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kstreams-metrics".into())
            .spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            if let Err(e) = answer(conn, &snapshot) {
                                tracing::debug!(error = %e, "metrics request failed");
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "metrics endpoint: accept failed");
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    }
                }
            })
            .map_err(|e| StreamsError::Io {
                context: "starting the metrics endpoint thread".into(),
                source: e,
            })?;
        tracing::info!(%address, "serving Prometheus metrics at /metrics");
        Ok(MetricsServer {
            address,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the port chosen when 0 was asked for).
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one HTTP/1.x request: `GET /metrics` gets the text, anything else 404.
fn answer(mut conn: TcpStream, snapshot: &impl Fn() -> MetricsSnapshot) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let request = String::from_utf8_lossy(&head);
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) =
        if method == "GET" && (path == "/metrics" || path.starts_with("/metrics?")) {
            (
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                encode_text(&snapshot()),
            )
        } else {
            (
                "404 Not Found",
                "text/plain; charset=utf-8",
                "only GET /metrics is served here\n".to_owned(),
            )
        };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_encode_as_openmetrics_text() {
        let mut s = MetricsSnapshot::default();
        s.push(
            "kstreams_task_processed_records",
            "Records.",
            MetricKind::Counter,
            vec![("thread", "t1".into()), ("task", "0_1".into())],
            42.0,
        );
        s.push(
            "kstreams_consumer_records_lag_max",
            "Lag.",
            MetricKind::Gauge,
            vec![("thread", "t1".into())],
            7.0,
        );
        assert_eq!(
            encode_text(&s),
            "# HELP kstreams_task_processed_records Records.\n\
             # TYPE kstreams_task_processed_records counter\n\
             kstreams_task_processed_records_total{thread=\"t1\",task=\"0_1\"} 42.0\n\
             # HELP kstreams_consumer_records_lag_max Lag.\n\
             # TYPE kstreams_consumer_records_lag_max gauge\n\
             kstreams_consumer_records_lag_max{thread=\"t1\"} 7.0\n\
             # EOF\n"
        );
        assert_eq!(
            s.sum("kstreams_task_processed_records", &[("task", "0_1")]),
            42.0
        );
        assert_eq!(s.max("kstreams_consumer_records_lag_max", &[]), Some(7.0));
    }
}
