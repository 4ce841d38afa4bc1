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

/// The variants whose `describe()` differs from Kafka Streams', each with the entry of
/// `docs/architecture.md` ("Differences from Kafka Streams") that says why.
const DESCRIBED_DIFFERENTLY: &[(&str, &str)] = &[
    ("tumbling-final", EMIT_PROGRESS),
    ("tumbling-final-default-retention", EMIT_PROGRESS),
    ("hopping-final", EMIT_PROGRESS),
    ("sliding-final", EMIT_PROGRESS),
    ("session-final", EMIT_PROGRESS),
    ("session-final-default-retention", EMIT_PROGRESS),
    ("stream-global-inner", GLOBAL_SUBTOPOLOGY),
    ("stream-global-left", GLOBAL_SUBTOPOLOGY),
    ("fk-inner", FK_NODES),
    ("fk-left", FK_NODES),
    ("table-filter-unnamed", ALWAYS_STORED),
    ("to-table", ALWAYS_STORED),
];
const EMIT_PROGRESS: &str = "Emit-on-close keeps its progress in a store of its own";
const GLOBAL_SUBTOPOLOGY: &str = "Global tables are not described as a sub-topology";
const FK_NODES: &str = "Foreign-key joins are lowered to fewer nodes";
const ALWAYS_STORED: &str = "Every source table and to_table keeps a store";

/// Every variant's topology names its nodes, stores and internal topics as Kafka Streams'
/// `describe()` of the same topology does, and connects them the same way (the order of nodes
/// within a sub-topology aside: `differential::describe`), but for the documented
/// differences above.
#[test]
fn every_variant_is_described_as_kafka_streams_describes_it() -> anyhow::Result<()> {
    let mut java = differential::java::JavaDriver::start()?;
    let mut differences = Vec::new();
    let mut differing = Vec::new();
    for variant in differential::variants::all() {
        let theirs = java.describe(variant.name)?;
        let ours = differential::variants::topology(&variant)?
            .describe()
            .to_string();
        let (theirs_n, ours_n) = (
            differential::describe::normalized(&theirs),
            differential::describe::normalized(&ours),
        );
        if theirs_n != ours_n {
            let mut lines = Vec::new();
            for (t, o) in theirs_n.iter().zip(&ours_n) {
                for n in t.1.iter().filter(|n| !o.1.contains(n)) {
                    lines.push(format!("  {}: Kafka Streams only: {n}", t.0));
                }
                for n in o.1.iter().filter(|n| !t.1.contains(n)) {
                    lines.push(format!("  {}: ours only:          {n}", o.0));
                }
            }
            if theirs_n.len() != ours_n.len() {
                lines.push(format!(
                    "  {} sub-topologies in Kafka Streams, {} in ours",
                    theirs_n.len(),
                    ours_n.len()
                ));
            }
            differing.push(variant.name);
            if !DESCRIBED_DIFFERENTLY
                .iter()
                .any(|(v, _)| *v == variant.name)
            {
                differences.push(format!("{}:\n{}", variant.name, lines.join("\n")));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} variants are described differently, without a documented reason:\n\n{}",
        differences.len(),
        differences.join("\n\n")
    );
    let documented: Vec<&str> = DESCRIBED_DIFFERENTLY.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        differing, documented,
        "a documented difference no longer differs: take it off the list and the docs"
    );
    Ok(())
}
