//! The order-enrichment example: exact output on the test driver, on the embedded mock cluster (the binary
//! with no options) and on the real test cluster with a real schema registry (the binary against both, under
//! exactly_once_v2).

mod common;

use streams_examples::order_enrichment::*;

const EXPECTED: &[&str] = &[
    "enriched-orders: c1 order o1: book 12.50 for Ann Lee (gold) (at 09:00:00)",
    "enriched-orders: c2 order o2: lamp 40.00 for Bob Ray (silver) (at 09:01:00)",
    // After Bob's profile changed to gold.
    "enriched-orders: c2 order o4: desk 150.00 for Bob Ray (gold) (at 09:04:00)",
    "enriched-orders: c3 order o3: pen 2.00 for an unknown customer (at 09:02:00)",
];

#[test]
fn on_the_test_driver() -> anyhow::Result<()> {
    let args = common::driver_args("order-enrichment");
    assert_eq!(
        common::on_driver(&OrderEnrichmentApp::new(&args, MOCK_REGISTRY)?)?,
        EXPECTED
    );
    Ok(())
}

#[test]
fn on_the_embedded_mock_cluster() {
    assert_eq!(
        common::on_mock(env!("CARGO_BIN_EXE_order-enrichment")),
        EXPECTED
    );
}

#[test]
fn on_real_kafka_with_a_real_schema_registry() {
    let registry = integration_tests::registry::shared_registry().expect("a schema registry");
    assert_eq!(
        common::on_kafka(
            env!("CARGO_BIN_EXE_order-enrichment"),
            "order-enrichment",
            "exactly_once_v2",
            &["--schema-registry-url", registry]
        ),
        EXPECTED
    );
}
