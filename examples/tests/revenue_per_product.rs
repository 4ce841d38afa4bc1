//! The revenue-per-product example: exact output on the test driver, on the embedded mock cluster (the binary
//! with no options) and on the real test cluster (the binary against it, under exactly_once_v2).

mod common;

use streams_examples::revenue_per_product::*;

const EXPECTED: &[&str] = &[
    "revenue-per-product: keyboard 09:00:00-10:00:00 orders=1 revenue=90.00 (at 09:15:00)",
    "revenue-per-product: keyboard 09:00:00-10:00:00 orders=2 revenue=135.00 (at 09:50:00)",
    "revenue-per-product: keyboard 10:00:00-11:00:00 orders=1 revenue=45.00 (at 10:02:00)",
    // 09:59, three minutes late, is within the grace period; 09:57 (after 10:05) is not.
    "revenue-per-product: keyboard 09:00:00-10:00:00 orders=3 revenue=225.00 (at 09:59:00)",
    "revenue-per-product: keyboard 10:00:00-11:00:00 orders=2 revenue=165.00 (at 10:05:00)",
    "revenue-per-product: mouse 09:00:00-10:00:00 orders=1 revenue=100.00 (at 09:30:00)",
    "revenue-per-product: mouse 10:00:00-11:00:00 orders=1 revenue=40.00 (at 10:40:00)",
];

#[test]
fn on_the_test_driver() -> anyhow::Result<()> {
    let args = common::driver_args("revenue-per-product");
    assert_eq!(
        common::on_driver(&RevenuePerProductApp::new(&args))?,
        EXPECTED
    );
    Ok(())
}

#[test]
fn on_the_embedded_mock_cluster() {
    assert_eq!(
        common::on_mock(env!("CARGO_BIN_EXE_revenue-per-product")),
        EXPECTED
    );
}

#[test]
fn on_real_kafka() {
    assert_eq!(
        common::on_kafka(
            env!("CARGO_BIN_EXE_revenue-per-product"),
            "revenue-per-product",
            "exactly_once_v2",
            &[]
        ),
        EXPECTED
    );
}
