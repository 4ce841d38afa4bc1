//! SIGTERM stops an example running as a service in order (a final commit, then exit 0), and
//! under exactly-once a restart after it loses and repeats nothing: the fraud-detection binary
//! against the real test cluster, its payments produced in two halves with a SIGTERM and a
//! restart in between, gives exactly the sample run's output.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Result, bail};
use common::service::Service;
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce_timed, read_topic, wait_until_committed};
use integration_tests::kafka::{shared_cluster, unique_name};
use streams_examples::fraud_detection::FraudDetectionApp;
use streams_examples::runner::{Example, OutputRecord, RawRecord, SERVICE_CLOSE_TIMEOUT};

/// The fraud-detection binary as a service against `bootstrap` under exactly-once.
fn start(bootstrap: &str, id: &str, state: &std::path::Path) -> Result<Service> {
    let args: Vec<String> = [
        "--bootstrap-servers",
        bootstrap,
        "--application-id",
        id,
        "--topic-prefix",
        &format!("{id}-"),
        "--processing-guarantee",
        "exactly_once_v2",
        "--state-dir",
        &state.to_string_lossy(),
    ]
    .map(str::to_owned)
    .to_vec();
    Service::start(env!("CARGO_BIN_EXE_fraud-detection"), &args)
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

    let service = start(&bootstrap, &id, state.path())?;
    produce(&bootstrap, &id, tables).await?;
    wait_until_committed(&bootstrap, &id, &input(tables), Duration::from_secs(120))?;
    // Half the payments, and SIGTERM while they are being processed.
    produce(&bootstrap, &id, first).await?;
    service.terminate(SERVICE_CLOSE_TIMEOUT * 2)?;
    // The other half arrives while the application is down.
    produce(&bootstrap, &id, second).await?;
    let service = start(&bootstrap, &id, state.path())?;
    wait_until_committed(&bootstrap, &id, &input(payments), Duration::from_secs(120))?;
    service.terminate(SERVICE_CLOSE_TIMEOUT * 2)?;

    let expected = common::FRAUD_DETECTION_EXPECTED;
    assert_eq!(outputs(&app, &bootstrap, &id, expected.len())?, expected);
    Ok(())
}
