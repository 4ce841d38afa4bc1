//! Tables on the test driver: reading a topic as a table, table operations, and re-grouping
//! with subtraction of old values.

use streams_core::serde::{I64Serde, Nullable, StringSerde};
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{StreamsConfig, StreamsError, Topology};
use streams_dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};

fn s(v: &str) -> String {
    v.to_owned()
}

/// alice, bob and carol pick regions; alice moves; bob leaves (a tombstone).
const UPDATES: &[(&str, Option<&str>, i64)] = &[
    ("alice", Some("europe"), 1),
    ("bob", Some("asia"), 2),
    ("carol", Some("europe"), 3),
    ("alice", Some("asia"), 4),
    ("bob", None, 5),
];

fn run(topology: Topology) -> Result<TopologyTestDriver, StreamsError> {
    let d = TopologyTestDriver::new(topology, StreamsConfig::new("tables", "unused:9092"))?;
    let input = d.input_topic("user-regions", StringSerde, Nullable(StringSerde));
    for (user, region, t) in UPDATES {
        input.pipe(s(user), region.map(s), *t)?;
    }
    Ok(d)
}

/// The rows of `user-regions` (read with `materialized`) outside Asia, their regions passed
/// through `map`, as a stream: `(user, region, timestamp)`.
fn europeans(
    materialized: Materialized<String, String>,
    map: fn(&String) -> String,
) -> Result<Vec<(String, Option<String>, i64)>, StreamsError> {
    let b = StreamsBuilder::new();
    b.table_with(
        "user-regions",
        Consumed::with(StringSerde, StringSerde),
        materialized.in_memory(),
    )
    .filter(|_, region| region != "asia")
    .map_values(map)
    .to_stream()
    .to_with(
        "europeans",
        Produced::with(StringSerde, Nullable(StringSerde)),
    );
    run(b.build()?)?
        .output_topic("europeans", StringSerde, Nullable(StringSerde))
        .read_key_values_with_time()
}

/// Kafka Streams' output for the filter below on a source table with a named store: the
/// source is materialized, so the filter knows each row's previous value and forwards a
/// delete only for a row that leaves (alice); bob, filtered out before and after, emits
/// nothing.
#[test]
fn a_table_filtered_and_mapped_forwards_deletes_for_rows_that_leave() -> Result<(), StreamsError> {
    assert_eq!(
        europeans(Materialized::as_store("regions"), |r| r.to_uppercase())?,
        vec![
            (s("alice"), Some(s("EUROPE")), 1),
            (s("carol"), Some(s("EUROPE")), 3),
            (s("alice"), None, 4),
        ]
    );
    Ok(())
}

/// The same on a source table whose store is not named: Kafka Streams does not materialize
/// it, so its filter cannot know a row was absent and forwards a delete for every update that
/// fails the predicate (bob's at 2 and 5).
#[test]
fn a_filter_on_an_unnamed_source_table_forwards_a_delete_for_every_rejected_update()
-> Result<(), StreamsError> {
    assert_eq!(
        europeans(Materialized::new(), String::clone)?,
        vec![
            (s("alice"), Some(s("europe")), 1),
            (s("bob"), None, 2),
            (s("carol"), Some(s("europe")), 3),
            (s("alice"), None, 4),
            (s("bob"), None, 5),
        ]
    );
    Ok(())
}

#[test]
fn regrouping_a_table_subtracts_the_old_value_from_its_old_group() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.table_with(
        "user-regions",
        Consumed::with(StringSerde, StringSerde),
        Materialized::new(),
    )
    .group_by_with(
        |user, region| (region.clone(), user.clone()),
        Grouped::with(StringSerde, StringSerde),
    )
    .count_with(Materialized::as_store("region-counts"))
    .to_stream()
    .to_with(
        "region-counts",
        Produced::with(StringSerde, Nullable(I64Serde)),
    );
    let topology = b.build()?;
    assert_eq!(
        topology.repartition_topics(),
        vec!["region-counts-repartition"]
    );
    let description = topology.describe().to_string();
    assert!(
        description.contains(
            "Processor: KTABLE-SOURCE-0000000002 (stores: [user-regions-STATE-STORE-0000000000])"
        ),
        "{description}"
    );
    let d = run(topology)?;
    assert_eq!(
        d.output_topic("region-counts", StringSerde, Nullable(I64Serde))
            .read_key_values_with_time()?,
        vec![
            (s("europe"), Some(1), 1),
            (s("asia"), Some(1), 2),
            (s("europe"), Some(2), 3),
            // alice moves: europe loses her, asia gains her.
            (s("europe"), Some(1), 4),
            (s("asia"), Some(2), 4),
            // bob's row is deleted: asia loses him.
            (s("asia"), Some(1), 5),
        ]
    );
    Ok(())
}

#[test]
fn a_table_reduce_with_a_subtractor_keeps_group_sums_right() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.table_with(
        "user-regions",
        Consumed::with(StringSerde, StringSerde),
        Materialized::new(),
    )
    .group_by_with(
        |user, region| (region.clone(), user.len() as i64),
        Grouped::with(StringSerde, I64Serde),
    )
    .reduce_with(
        |a, b| a + b,
        |a, b| a - b,
        Materialized::as_store("name-lengths"),
    )
    .to_stream()
    .to_with("lengths", Produced::with(StringSerde, Nullable(I64Serde)));
    let d = run(b.build()?)?;
    assert_eq!(
        d.output_topic("lengths", StringSerde, Nullable(I64Serde))
            .read_key_values_with_time()?,
        vec![
            (s("europe"), Some(5), 1),
            (s("asia"), Some(3), 2),
            (s("europe"), Some(10), 3),
            (s("europe"), Some(5), 4),
            (s("asia"), Some(8), 4),
            (s("asia"), Some(5), 5),
        ]
    );
    Ok(())
}
