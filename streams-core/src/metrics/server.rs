//! The Prometheus endpoint: the OpenMetrics text of a snapshot (encoded by
//! `prometheus-client`) served at `http://<metrics.prometheus.address>/metrics`, with the
//! liveness and readiness probes `/health` and `/ready` beside it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::sample::{Metric, MetricKind, MetricsSnapshot};
use crate::error::{Result, StreamsError};
use crate::runtime::State;

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

/// The Prometheus endpoint: a thread answering `GET /metrics` on one address, and the
/// probes of an orchestrator such as Kubernetes: `GET /health` (liveness: 200 unless the
/// client failed or stopped) and `GET /ready` (readiness: 200 while the client is
/// `Running`, that is every thread has its partitions and every active task is restored).
pub(crate) struct MetricsServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `address` and serves what `snapshot` returns at each scrape, and the probes
    /// from what `state` says.
    pub(crate) fn start(
        address: SocketAddr,
        snapshot: impl Fn() -> MetricsSnapshot + Send + 'static,
        state: impl Fn() -> State + Send + 'static,
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
                            if let Err(e) = answer(conn, &snapshot, &state) {
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

/// Answers one HTTP/1.x request: `GET /metrics` gets the text, `GET /health` and
/// `GET /ready` the probes' answers, anything else 404.
fn answer(
    mut conn: TcpStream,
    snapshot: &impl Fn() -> MetricsSnapshot,
    state: &impl Fn() -> State,
) -> std::io::Result<()> {
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
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let text = "text/plain; charset=utf-8";
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            encode_text(&snapshot()),
        ),
        ("GET", "/health" | "/ready") => {
            let (status, body) = probe(path, state());
            (status, text, body)
        }
        _ => (
            "404 Not Found",
            text,
            "served here: GET /metrics, GET /health, GET /ready\n".to_owned(),
        ),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

/// The answer of probe `path` (`/health` or `/ready`) for a client in `state`: the status
/// line and a one-line body naming the state.
fn probe(path: &str, state: State) -> (&'static str, String) {
    let ok = if path == "/ready" {
        state.is_ready()
    } else {
        state.is_alive()
    };
    let status = if ok {
        "200 OK"
    } else {
        "503 Service Unavailable"
    };
    (status, format!("{state:?}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_answer_from_the_client_state() {
        use State::*;
        let cases = [
            (Created, true, false),
            (Rebalancing, true, false),
            (Running, true, true),
            (PendingShutdown, true, false),
            (NotRunning, false, false),
            (PendingError, false, false),
            (Error, false, false),
        ];
        let status = |ok: bool| {
            if ok {
                "200 OK"
            } else {
                "503 Service Unavailable"
            }
        };
        for (state, alive, ready) in cases {
            let body = format!("{state:?}\n");
            assert_eq!(
                probe("/health", state),
                (status(alive), body.clone()),
                "{state:?}"
            );
            assert_eq!(probe("/ready", state), (status(ready), body), "{state:?}");
        }
    }

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
