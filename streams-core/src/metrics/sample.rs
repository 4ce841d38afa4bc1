//! The metric values themselves: one sample ([`Metric`]), a client's snapshot of all of
//! them ([`MetricsSnapshot`]), and the samples stores and sink nodes report.

/// Whether a metric only grows (until its owner restarts) or goes up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A monotonic count; its Prometheus name ends in `_total`.
    Counter,
    /// A current value.
    Gauge,
}

/// One metric sample of a store (see [`StateStore::metrics`](crate::store::StateStore::metrics)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoreMetric {
    /// The Prometheus name, without the `_total` counters get.
    pub name: &'static str,
    /// What it measures.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: MetricKind,
    /// The value.
    pub value: f64,
}

/// End-to-end latency of the records that reached one (sink) node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NodeLatency {
    /// Records that reached the node.
    pub records: u64,
    /// Sum of wall-clock time minus record timestamp (ms).
    pub e2e_ms_total: u64,
    /// The largest since the runtime last took the sink latencies (ms).
    pub e2e_max_ms: u64,
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
