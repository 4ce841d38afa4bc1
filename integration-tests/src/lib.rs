//! Real-Kafka integration suites for kstreams-rs, and the broker fixture they share.
//!
//! [`kafka::KafkaCluster`] starts Apache Kafka (KRaft) nodes from jars fetched from Maven
//! Central, on loopback, and can kill and restart them. [`kafka::shared_cluster`] gives each
//! test binary one broker (or the external cluster named by `KSTREAMS_BOOTSTRAP_SERVERS`).
//! See `docs/testing.md`.

pub mod apps;
pub mod client;
pub mod kafka;

/// Sends the library's `tracing` events to stderr, filtered by `RUST_LOG` (nothing when it
/// is unset), for test binaries and the test applications. Safe to call more than once.
pub fn log_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Blocks until the process receives SIGINT or SIGTERM: how the test applications and the
/// `kafka-cluster` CLI know to shut down cleanly.
pub fn wait_for_termination() -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok(())
    })
}
