//! `non_null` and `filter_map_values` on the test driver: a table's change stream without its
//! deletes, and a nullable input stream with its nulls dropped and the rest mapped.

use streams_core::StreamsConfig;
use streams_core::serde::{Nullable, StringSerde};
use streams_core::test_driver::TopologyTestDriver;
use streams_dsl::{Consumed, Materialized, Produced, StreamsBuilder};

fn s(x: &str) -> String {
    x.to_owned()
}

#[test]
fn non_null_drops_a_tables_deletes_and_keeps_its_updates() -> Result<(), Box<dyn std::error::Error>>
{
    let b = StreamsBuilder::new();
    b.table_with(
        "profiles",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_store("profiles"),
    )
    .to_stream()
    .non_null()
    .to_with("cities", Produced::with(StringSerde, StringSerde));
    let driver = TopologyTestDriver::new(b.build()?, StreamsConfig::new("nn", "unused:9092"))?;
    let input = driver.input_topic("profiles", StringSerde, Nullable(StringSerde));
    input.pipe(s("ann"), Some(s("Oslo")), 1)?;
    input.pipe(s("bob"), Some(s("Lima")), 2)?;
    input.pipe(s("ann"), None, 3)?; // a delete: no output
    input.pipe(s("ann"), Some(s("Rome")), 4)?;
    let out = driver.output_topic("cities", StringSerde, StringSerde);
    assert_eq!(
        out.read_key_values_with_time()?,
        vec![
            (s("ann"), s("Oslo"), 1),
            (s("bob"), s("Lima"), 2),
            (s("ann"), s("Rome"), 4)
        ]
    );
    Ok(())
}

#[test]
fn filter_map_values_maps_what_it_keeps_and_names_one_node()
-> Result<(), Box<dyn std::error::Error>> {
    let b = StreamsBuilder::new();
    b.stream_with(&["in"], Consumed::with(StringSerde, Nullable(StringSerde)))
        .filter_map_values(|v: Option<String>| v.map(|v| v.to_uppercase()))
        .to_with("out", Produced::with(StringSerde, StringSerde));
    let topology = b.build()?;
    assert!(
        topology
            .describe()
            .to_string()
            .contains("Processor: KSTREAM-FLATMAPVALUES-0000000001"),
        "{}",
        topology.describe()
    );
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("fm", "unused:9092"))?;
    let input = driver.input_topic("in", StringSerde, Nullable(StringSerde));
    input.pipe(s("a"), Some(s("x")), 1)?;
    input.pipe(s("b"), None, 2)?;
    input.pipe(s("c"), Some(s("y")), 3)?;
    let out = driver.output_topic("out", StringSerde, StringSerde);
    assert_eq!(
        out.read_key_values_with_time()?,
        vec![(s("a"), s("X"), 1), (s("c"), s("Y"), 3)]
    );
    Ok(())
}
