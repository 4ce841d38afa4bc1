//! SIGTERM stops an example running as a service in order (a final commit, then exit 0), and
//! under exactly-once a restart after it loses and repeats nothing: the fraud-detection binary
//! against the real test cluster, its payments produced in two halves with a SIGTERM and a
//! restart in between, gives exactly the sample run's output.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce_timed, read_topic, wait_until_committed};
use integration_tests::kafka::{shared_cluster, unique_name};
use streams_examples::fraud_detection::FraudDetectionApp;
use streams_examples::runner::{Example, OutputRecord, RawRecord};

/// The example running as a service, its standard output read by a thread.
struct Service {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Service {
    /// Starts the binary against `bootstrap` and waits until it says it runs.
    fn start(bootstrap: &str, id: &str, state: &std::path::Path) -> Result<Service> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fraud-detection"))
            .args(["--bootstrap-servers", bootstrap, "--application-id", id])
            .args(["--topic-prefix", &format!("{id}-")])
            .args(["--processing-guarantee", "exactly_once_v2"])
            .arg("--state-dir")
            .arg(state)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let service = Service { child, lines };
        let line = service
            .lines
            .recv_timeout(Duration::from_secs(60))
            .context("the service's first line")?;
        if !line.starts_with("running against") {
            bail!("unexpected first line: {line}");
        }
        Ok(service)
    }

    /// SIGTERM, then the exit status, which must be success: the close committed in time.
    fn terminate(mut self) -> Result<()> {
        // By our own child's pid, which we have not reaped yet.
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !sent.success() {
            bail!("kill -TERM failed: {sent}");
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("the service exited with {status} after SIGTERM");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("the service did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // A failed test must not leave the process behind.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn produce(bootstrap: &str, id: &str, records: &[RawRecord]) -> Result<()> {
    for r in records {
        let topic = format!("{id}-{}", r.topic);
        let key = String::from_utf8(r.key.clone().unwrap_or_default())?;
        let value = r.value.clone().unwrap_or_default();
        produce_timed(bootstrap, &topic, [(key, value, None, Some(r.timestamp))]).await?;
    }
    Ok(())
}

/// Every committed output record, described as the runner prints a sample run's: by topic,
/// then key, in offset order per key.
fn outputs(
    app: &FraudDetectionApp,
    bootstrap: &str,
    id: &str,
    expected: usize,
) -> Result<Vec<String>> {
    let mut rows = Vec::new();
    for (index, label) in app.output_topics().into_iter().enumerate() {
        let topic = format!("{id}-{label}");
        let wanted = if label == "alerts" { expected - 1 } else { 1 };
        for r in read_topic(
            bootstrap,
            &topic,
            wanted,
            Duration::from_secs(2),
            Duration::from_secs(60),
        )? {
            let headers: HashMap<String, String> = r.headers.iter().cloned().collect();
            let line = app.describe(&OutputRecord {
                topic: label,
                key: Some(r.key.as_bytes()),
                value: Some(r.value.as_bytes()),
                timestamp: r.timestamp,
                headers,
            })?;
            rows.push((
                index,
                r.key.clone(),
                r.partition,
                r.offset,
                format!("{label}: {line}"),
            ));
        }
    }
    rows.sort();
    Ok(rows.into_iter().map(|row| row.4).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_restart_under_exactly_once_loses_and_repeats_nothing() -> Result<()> {
    let bootstrap = shared_cluster()?.bootstrap_servers().to_owned();
    let id = unique_name("fraud-sigterm");
    let state = ScratchDir::new()?;
    let args = common::driver_args("fraud-detection");
    let app = FraudDetectionApp::new(&args, 3, Duration::from_secs(60));
    let phases = app.sample()?;
    let [tables, payments] = &phases[..] else {
        bail!("fraud-detection's sample has two phases");
    };
    let (first, second) = payments.split_at(payments.len() / 2);
    let input = |records: &[RawRecord]| -> Vec<String> {
        let mut t: Vec<String> = records
            .iter()
            .map(|r| format!("{id}-{}", r.topic))
            .collect();
        t.sort();
        t.dedup();
        t
    };

    let service = Service::start(&bootstrap, &id, state.path())?;
    produce(&bootstrap, &id, tables).await?;
    wait_until_committed(&bootstrap, &id, &input(tables), Duration::from_secs(120))?;
    // Half the payments, and SIGTERM while they are being processed.
    produce(&bootstrap, &id, first).await?;
    service.terminate()?;
    // The other half arrives while the application is down.
    produce(&bootstrap, &id, second).await?;
    let service = Service::start(&bootstrap, &id, state.path())?;
    wait_until_committed(&bootstrap, &id, &input(payments), Duration::from_secs(120))?;
    service.terminate()?;

    let expected = common::FRAUD_DETECTION_EXPECTED;
    assert_eq!(outputs(&app, &bootstrap, &id, expected.len())?, expected);
    Ok(())
}
