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
//! | `preferred-read-replica` (consumer, KIP-392) | `kstreams_consumer_preferred_read_replica` |
//!
//! Counters live in atomics the threads update once per loop turn (latencies) or publish at
//! most every 100 ms (task counters, lag), so nothing is added per record. The Prometheus text
//! is encoded by the `prometheus-client` crate from the same snapshot the in-process API
//! returns.

mod hub;
mod sample;
mod server;
mod source;
mod thread;

pub(crate) use hub::{ClientNumbers, MetricsHub};
pub(crate) use sample::NodeLatency;
pub use sample::{Metric, MetricKind, MetricsSnapshot, StoreMetric};
pub(crate) use server::MetricsServer;
pub use server::encode_text;
pub use source::{MetricsSource, register_source};
pub(crate) use thread::{TaskSample, ThreadMetrics, WindowedMax};
