//! The short form of the differential suite, in the test command: every variant on Kafka
//! Streams' `TopologyTestDriver` and on ours, two seeds at two sizes. The long form is the
//! `differential` binary (`docs/testing.md`).

use differential::run::{Plan, run};

#[test]
fn every_variant_gives_kafka_streams_output_or_a_documented_difference() -> anyhow::Result<()> {
    let report = run(&Plan {
        filter: String::new(),
        first_seed: 1,
        seeds: 2,
        sizes: vec![30, 300],
        shrink_budget: 500,
        stop: None,
    })?;
    assert!(
        report.differences.is_empty(),
        "{} variants differ from Kafka Streams:\n\n{}",
        report.differences.len(),
        report.differences.join("\n\n")
    );
    assert_eq!(
        report.cases,
        differential::variants::all().len() * 4,
        "every variant ran"
    );
    // Every case had the same output or an expected difference, and the sizes were right.
    assert_eq!(report.same + report.expected.len(), report.cases);
    assert_eq!(
        report.records,
        differential::variants::all().len() * 2 * (30 + 300)
    );
    Ok(())
}
