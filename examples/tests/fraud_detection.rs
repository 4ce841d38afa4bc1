//! The fraud-detection example: exact output on the test driver, on the embedded mock cluster (the binary
//! with no options) and on the real test cluster (the binary against it, under exactly_once_v2).

mod common;

use streams_examples::fraud_detection::*;

const EXPECTED: &[&str] = &[
    "alerts: ann (Ann Lee) hourly-limit: 570.00 in 3 payments in the hour from 09:00:00 exceeds the limit of 500.00 [payment p4 at 09:20:00]",
    "alerts: bob (Bob Ray) velocity: 3 payments within 60 s [payment p8 at 09:30:45]",
    "alerts: dave (unknown) hourly-limit: 1200.00 in 1 payment in the hour from 09:00:00 exceeds the limit of 1000.00 [payment p11 at 09:40:00]",
    "payments-dlq: bob {\"payment_id\": \"p?\", oops (invalid JSON for streams_examples::fraud_detection::Payment: key must be a string at line 1 column 22)",
];

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
