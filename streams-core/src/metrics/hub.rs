//! The metrics of one client: it gathers its threads' publications and the client-wide
//! numbers into one [`MetricsSnapshot`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::sample::{MetricKind, MetricsSnapshot, NodeLatency};
use super::source::{MetricsSource, sources};
use super::thread::{PartitionLag, StoreSample, TaskSample, ThreadMetrics};
use crate::ids::TaskId;

/// The metrics of one client: its threads' publications plus client-wide numbers.
#[derive(Debug, Default)]
pub(crate) struct MetricsHub {
    threads: Mutex<Vec<Arc<ThreadMetrics>>>,
}

/// Client-wide numbers the hub does not own.
pub(crate) struct ClientNumbers {
    pub alive_threads: u64,
    pub failed_threads: u64,
    pub replaced_threads: u64,
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
            "kstreams_replaced_stream_threads",
            "Failed stream threads replaced by new ones (the uncaught-exception handler's \
             ReplaceThread).",
            Counter,
            Vec::new(),
            client.replaced_threads as f64,
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
        let thread_counters: [(&'static str, &'static str, ThreadField); 14] = [
            (
                "kstreams_thread_task_created",
                "Active tasks the thread created (Kafka Streams task-created-total); a task \
                 kept through a rebalance is not created again.",
                |t| t.tasks_created.load(Ordering::Relaxed) as f64,
            ),
            (
                "kstreams_thread_task_closed",
                "Active tasks the thread closed (Kafka Streams task-closed-total).",
                |t| t.tasks_closed.load(Ordering::Relaxed) as f64,
            ),
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
        let thread_gauges: [(&'static str, &'static str, ThreadField); 2] = [
            (
                "kstreams_standby_tasks",
                "Standby tasks the thread keeps (num.standby.replicas).",
                |t| t.standby_tasks.load(Ordering::Relaxed) as f64,
            ),
            (
                "kstreams_standby_lag_records",
                "Changelog records the thread's standby tasks have not applied yet, against \
                 the high watermarks last fetched.",
                |t| t.standby_lag.load(Ordering::Relaxed) as f64,
            ),
        ];
        let kinds = [(Counter, &thread_counters[..]), (Gauge, &thread_gauges[..])];
        for (kind, metrics) in kinds {
            for (name, help, field) in metrics {
                for t in &threads {
                    s.push(name, help, kind, vec![("thread", t.name.clone())], field(t));
                }
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
                let tasks = t
                    .tasks
                    .lock()
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
        type NodeField = fn(&NodeLatency) -> f64;
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
        for t in threads.iter() {
            for ((topic, partition), replica) in t.read_replicas.lock().iter() {
                s.push(
                    "kstreams_consumer_preferred_read_replica",
                    "The broker the input partition is fetched from when it is not the leader \
                     (the closest replica, KIP-392, with client.rack), else -1 \
                     (preferred-read-replica).",
                    Gauge,
                    vec![
                        ("thread", t.name.clone()),
                        ("topic", topic.clone()),
                        ("partition", partition.to_string()),
                    ],
                    *replica as f64,
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
        let live: Vec<Arc<dyn MetricsSource>> = sources()
            .lock()
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
