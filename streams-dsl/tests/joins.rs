//! Stream-table joins on the test driver.

use streams_core::serde::{Nullable, StringSerde};
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{StreamsConfig, StreamsError};
use streams_dsl::{Consumed, Materialized, Produced, StreamsBuilder};

fn s(v: &str) -> String {
    v.to_owned()
}

/// An output record: key, value, timestamp.
type Row = (String, String, i64);

/// Orders keyed by customer, joined with the customers table; `left` picks the join.
fn run(left: bool) -> Result<(Vec<Row>, String), StreamsError> {
    let b = StreamsBuilder::new();
    let customers = b.table(
        "customers",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_store("customers").in_memory(),
    );
    let orders = b.stream(&["orders"], Consumed::with(StringSerde, StringSerde));
    let joined = if left {
        orders.left_join_table(&customers, |order, name| {
            format!("{order} by {}", name.map_or("?", String::as_str))
        })
    } else {
        orders.join_table(&customers, |order, name| format!("{order} by {name}"))
    };
    joined.to("enriched", Produced::with(StringSerde, StringSerde));
    let topology = b.build()?;
    let description = topology.describe().to_string();
    let d = TopologyTestDriver::new(topology, StreamsConfig::new("joins", "unused:9092"))?;
    let customers = d.input_topic("customers", StringSerde, Nullable(StringSerde));
    let orders = d.input_topic("orders", StringSerde, StringSerde);
    customers.pipe(s("c1"), Some(s("Alice")), 1)?;
    customers.pipe(s("c2"), Some(s("Bob")), 2)?;
    orders.pipe(s("c1"), s("o1"), 10)?;
    orders.pipe(s("c3"), s("o2"), 11)?;
    customers.pipe(s("c1"), Some(s("Alicia")), 12)?; // a table update emits nothing
    orders.pipe(s("c1"), s("o3"), 13)?;
    customers.pipe(s("c2"), None, 14)?; // Bob's row is deleted
    orders.pipe(s("c2"), s("o4"), 15)?;
    let out = d
        .output_topic("enriched", StringSerde, StringSerde)
        .read_key_values_with_time()?;
    Ok((out, description))
}

#[test]
fn an_inner_stream_table_join_enriches_records_that_have_a_row() -> Result<(), StreamsError> {
    let (out, description) = run(false)?;
    assert_eq!(
        out,
        vec![
            (s("c1"), s("o1 by Alice"), 10),
            (s("c1"), s("o3 by Alicia"), 13),
        ]
    );
    assert!(
        description.contains("Processor: KSTREAM-JOIN-0000000003 (stores: [customers])"),
        "{description}"
    );
    Ok(())
}

#[test]
fn a_left_stream_table_join_passes_none_without_a_row() -> Result<(), StreamsError> {
    let (out, description) = run(true)?;
    assert_eq!(
        out,
        vec![
            (s("c1"), s("o1 by Alice"), 10),
            (s("c3"), s("o2 by ?"), 11),
            (s("c1"), s("o3 by Alicia"), 13),
            (s("c2"), s("o4 by ?"), 15),
        ]
    );
    assert!(
        description.contains("Processor: KSTREAM-LEFTJOIN-0000000003 (stores: [customers])"),
        "{description}"
    );
    Ok(())
}

#[test]
fn joining_a_table_without_a_store_is_refused() {
    let b = StreamsBuilder::new();
    let table = b
        .table(
            "customers",
            Consumed::with(StringSerde, StringSerde),
            Materialized::new(),
        )
        .filter(|_, v| !v.is_empty());
    b.stream(&["orders"], Consumed::with(StringSerde, StringSerde))
        .join_table(&table, |o, c| format!("{o}{c}"))
        .to("out", Produced::with(StringSerde, StringSerde));
    let err = b.build().expect_err("refused").to_string();
    assert!(
        err.contains("the table `KTABLE-FILTER-0000000003` is not kept in a store"),
        "{err}"
    );
}
