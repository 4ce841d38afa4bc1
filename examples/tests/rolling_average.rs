//! The rolling-average example: exact output on the test driver, on the embedded mock cluster (the binary
//! with no options) and on the real test cluster (the binary against it, under at_least_once).

mod common;

use streams_examples::rolling_average::*;

const EXPECTED: &[&str] = &[
    "product-averages: gadget 10:00:00-10:05:00 orders=1 average=5.00 (at 10:01:00)",
    "product-averages: gadget 10:00:00-10:05:00 orders=2 average=6.00 (at 10:03:00)",
    "product-averages: gadget 10:20:00-10:25:00 orders=1 average=1.00 (at 10:20:00)",
    "product-averages: widget 10:00:00-10:05:00 orders=1 average=10.00 (at 10:00:00)",
    "product-averages: widget 10:00:00-10:05:00 orders=2 average=15.00 (at 10:02:00)",
    "product-averages: widget 10:00:00-10:05:00 orders=3 average=20.00 (at 10:04:00)",
    "product-averages: widget 10:05:00-10:10:00 orders=1 average=15.00 (at 10:06:00)",
    "product-averages: widget 10:05:00-10:10:00 orders=2 average=20.00 (at 10:09:00)",
    "product-averages: widget 10:20:00-10:25:00 orders=1 average=5.00 (at 10:20:00)",
    "product-averages-final: gadget 10:00:00-10:05:00 orders=2 average=6.00 (at 10:03:00)",
    "product-averages-final: widget 10:00:00-10:05:00 orders=3 average=20.00 (at 10:04:00)",
    "product-averages-final: widget 10:05:00-10:10:00 orders=2 average=20.00 (at 10:09:00)",
];

#[test]
fn on_the_test_driver() -> anyhow::Result<()> {
    let args = common::driver_args("rolling-average");
    assert_eq!(common::on_driver(&RollingAverageApp::new(&args))?, EXPECTED);
    Ok(())
}

#[test]
fn on_the_embedded_mock_cluster() {
    assert_eq!(
        common::on_mock(env!("CARGO_BIN_EXE_rolling-average")),
        EXPECTED
    );
}

#[test]
fn on_real_kafka() {
    assert_eq!(
        common::on_kafka(
            env!("CARGO_BIN_EXE_rolling-average"),
            "rolling-average",
            "at_least_once",
            &[]
        ),
        EXPECTED
    );
}
