//! Real-Kafka integration suites for kstreams-rs, and the broker fixture they share.
//!
//! [`kafka::KafkaCluster`] starts Apache Kafka (KRaft) nodes from jars fetched from Maven
//! Central, on loopback, and can kill and restart them. [`kafka::shared_cluster`] gives each
//! test binary one broker (or the external cluster named by `KSTREAMS_BOOTSTRAP_SERVERS`).
//! See `docs/testing.md`.

pub mod apps;
pub mod child;
pub mod cleanup;
pub mod client;
pub mod distribution;
pub mod http;
pub mod java;
pub mod kafka;
pub mod oidc;
pub mod pki;
pub mod registry;
pub mod secure;
pub mod tls_proxy;

pub use cleanup::wait_for_termination;

/// The `--name value` arguments of a test application.
pub struct Flags(std::collections::HashMap<String, String>);

impl Flags {
    /// Reads this process's arguments: pairs of `--name value`.
    pub fn from_args() -> anyhow::Result<Flags> {
        let mut flags = std::collections::HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(k) = it.next() {
            let v = it
                .next()
                .ok_or_else(|| anyhow::anyhow!("{k} needs a value"))?;
            flags.insert(k.trim_start_matches("--").to_owned(), v);
        }
        Ok(Flags(flags))
    }

    /// The value of `--name`, required.
    pub fn get(&self, name: &str) -> anyhow::Result<String> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("--{name} is required"))
    }

    /// The value of `--name`, if given.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The value of `--name`, or `default`.
    pub fn or(&self, name: &str, default: &str) -> String {
        self.opt(name).unwrap_or(default).to_owned()
    }
}

/// Sends the library's `tracing` events to stderr, filtered by `RUST_LOG` (nothing when it
/// is unset), for test binaries and the test applications. Safe to call more than once.
pub fn log_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Starts `streams` and runs it until the process receives SIGTERM or SIGINT, then closes it
/// (the test applications' main loop); `instance` names it on standard error.
pub fn run_until_terminated(
    mut streams: streams_core::KafkaStreams,
    instance: &str,
) -> anyhow::Result<()> {
    streams.start()?;
    eprintln!("{instance}: started (pid {})", std::process::id());
    // The library's own loop: SIGTERM closes in order (the tests' `stop` checks the exit).
    streams.run_until_signal(std::time::Duration::from_secs(30))?;
    eprintln!("{instance}: closed");
    Ok(())
}

/// Waits until every client in `clients` is `Running`, for at most a minute.
pub fn wait_running(clients: &[&streams_core::KafkaStreams]) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while clients
        .iter()
        .any(|c| c.state() != streams_core::State::Running)
    {
        if std::time::Instant::now() > deadline {
            anyhow::bail!("not every instance reached Running within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(())
}
