//! The fraud-detection example: exact output on the test driver, on the embedded mock cluster (the binary
//! with no options) and on the real test cluster (the binary against it, under exactly_once_v2).

mod common;

use streams_examples::fraud_detection::*;

const EXPECTED: &[&str] = common::FRAUD_DETECTION_EXPECTED;

#[test]
fn on_the_test_driver() -> anyhow::Result<()> {
    let args = common::driver_args("fraud-detection");
    assert_eq!(
        common::on_driver(&FraudDetectionApp::new(
            &args,
            3,
            std::time::Duration::from_secs(60)
        ))?,
        EXPECTED
    );
    Ok(())
}

/// What a newcomer sees on a first run: the results, and on standard error no error (reaching
/// the end of a partition is none), only the warning about the malformed payment.
#[test]
fn a_first_run_prints_no_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fraud-detection"))
        .output()
        .expect("the example runs");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("ERROR"), "{stderr}");
    assert!(
        stderr.contains("sending the record to the dead-letter topic"),
        "{stderr}"
    );
}

#[test]
fn on_the_embedded_mock_cluster() {
    assert_eq!(
        common::on_mock(env!("CARGO_BIN_EXE_fraud-detection")),
        EXPECTED
    );
}

#[test]
fn on_real_kafka() {
    assert_eq!(
        common::on_kafka(
            env!("CARGO_BIN_EXE_fraud-detection"),
            "fraud-detection",
            "exactly_once_v2",
            &[]
        ),
        EXPECTED
    );
}

#[test]
fn the_live_generator_makes_payments_and_one_malformed_record_in_500() -> anyhow::Result<()> {
    let app = FraudDetectionApp::new(
        &common::driver_args("live"),
        3,
        std::time::Duration::from_secs(60),
    );
    let first =
        streams_examples::runner::Example::live_record(&app, 0, 1_000).expect("a generator")?;
    assert_eq!(
        (first.topic, first.key.as_deref(), first.timestamp),
        ("payments", Some(&b"ann"[..]), 1_000)
    );
    let p: Payment = serde_json::from_slice(first.value.as_deref().unwrap_or_default())?;
    assert_eq!(
        p,
        Payment {
            payment_id: "live-0".into(),
            user: "ann".into(),
            amount_cents: 100,
            merchant: "grocer".into()
        }
    );
    let bad =
        streams_examples::runner::Example::live_record(&app, 499, 1_000).expect("a generator")?;
    assert!(serde_json::from_slice::<Payment>(bad.value.as_deref().unwrap_or_default()).is_err());
    assert_eq!(bad.key.as_deref(), Some(&b"u49"[..]));
    Ok(())
}

/// The README shows this example's topology as a Mermaid picture; it must be what the binary
/// prints with `--describe mermaid`.
#[test]
fn the_readme_picture_is_the_topology() -> anyhow::Result<()> {
    use streams_examples::picture::{DescribeFormat, render};
    let args = common::driver_args("fraud-detection");
    let app = FraudDetectionApp::new(&args, 3, std::time::Duration::from_secs(60));
    let picture = render(
        &streams_examples::runner::Example::topology(&app)?,
        DescribeFormat::Mermaid,
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))?;
    let marker = "<!-- fraud-detection picture:";
    let after = &readme[readme.find(marker).expect("the README marks its picture")..];
    let start = after.find("```mermaid\n").expect("a mermaid block") + "```mermaid\n".len();
    let end = after[start..].find("```").expect("the block's end");
    assert_eq!(&after[start..start + end], picture);
    // The binary prints the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fraud-detection"))
        .args(["--describe", "mermaid"])
        .output()?;
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout)?, picture);
    Ok(())
}
