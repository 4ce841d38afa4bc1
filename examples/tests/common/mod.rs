//! Runs an example on the test driver and, as a separate process, on the real test cluster.

#![allow(dead_code)]

pub mod service;

use std::collections::HashMap;
use std::process::Command;

use streams_core::StreamsConfig;
use streams_core::serde::BytesSerde;
use streams_core::test_driver::TopologyTestDriver;
use streams_examples::runner::{CommonArgs, Example, OutputRecord};

/// Options for a driver run of an example (no broker, no prefix).
pub fn driver_args(name: &str) -> CommonArgs {
    CommonArgs::sample_run(None, name)
}

/// Pipes the example's sample input through the topology on the test driver, phase by phase,
/// and describes its output records the way the runner prints them: sorted by output topic,
/// then key, in production order per key.
pub fn on_driver(example: &dyn Example) -> anyhow::Result<Vec<String>> {
    let config = example.configure(StreamsConfig::new(example.name(), "unused:9092"))?;
    let driver = TopologyTestDriver::new(example.topology()?, config)?;
    for phase in example.sample()? {
        for r in phase {
            driver
                .input_topic(r.topic, BytesSerde, BytesSerde)
                .pipe_raw(r.key, r.value, r.timestamp)?;
        }
    }
    let mut rows = Vec::new();
    for (index, label) in example.output_topics().into_iter().enumerate() {
        for (seq, p) in driver.produced(label).into_iter().enumerate() {
            let headers: HashMap<String, String> = p
                .headers
                .iter()
                .map(|h| {
                    let v = h.value.as_deref().unwrap_or_default();
                    (h.key.clone(), String::from_utf8_lossy(v).into_owned())
                })
                .collect();
            let line = example.describe(&OutputRecord {
                topic: label,
                key: p.key.as_deref(),
                value: p.value.as_deref(),
                timestamp: p.timestamp,
                headers,
            })?;
            rows.push((
                index,
                p.key.clone().unwrap_or_default(),
                seq,
                format!("{label}: {line}"),
            ));
        }
    }
    rows.sort();
    Ok(rows.into_iter().map(|(_, _, _, line)| line).collect())
}

/// Runs the example binary `exe` against the shared real cluster with its sample data, under
/// `guarantee`, with topics and application id of its own; returns the printed lines.
pub fn on_kafka(exe: &str, name: &str, guarantee: &str, extra: &[&str]) -> Vec<String> {
    let cluster = integration_tests::kafka::shared_cluster().expect("the test cluster starts");
    let id = integration_tests::kafka::unique_name(name);
    let mut cmd = Command::new(exe);
    cmd.args(["--bootstrap-servers", cluster.bootstrap_servers()])
        .args(["--application-id", &id])
        .args(["--topic-prefix", &format!("{id}-")])
        .args(["--processing-guarantee", guarantee, "--generate"])
        .args(extra);
    printed_lines(cmd)
}

/// Runs `cmd`, asserts that it succeeded and returns what it printed, line by line.
pub fn printed_lines(mut cmd: Command) -> Vec<String> {
    let out = cmd.output().expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} exited with {}:\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_owned).collect()
}

/// Runs the example binary with no broker (the embedded mock cluster); returns the printed
/// lines after the first, which says so.
pub fn on_mock(exe: &str) -> Vec<String> {
    let mut lines = printed_lines(Command::new(exe)).into_iter();
    assert_eq!(
        lines.next().as_deref(),
        Some("no --bootstrap-servers given: running on librdkafka's embedded mock cluster")
    );
    lines.collect()
}

/// The fraud-detection example's output for its sample input (its own test and the SIGTERM
/// test compare with it).
pub const FRAUD_DETECTION_EXPECTED: &[&str] = &[
    "alerts: ann (Ann Lee) hourly-limit: 570.00 in 3 payments in the hour from 09:00:00 exceeds the limit of 500.00 [payment p4 at 09:20:00]",
    "alerts: bob (Bob Ray) velocity: 3 payments within 60 s [payment p8 at 09:30:45]",
    "alerts: dave (unknown) hourly-limit: 1200.00 in 1 payment in the hour from 09:00:00 exceeds the limit of 1000.00 [payment p11 at 09:40:00]",
    "payments-dlq: bob {\"payment_id\": \"p?\", oops (invalid JSON for streams_examples::fraud_detection::Payment: key must be a string at line 1 column 22)",
];
