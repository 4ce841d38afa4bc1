//! `KTable::transform_values` on the test driver: exact outputs, when the transformer sees
//! previous values (only when a later operation needs them, as in Kafka Streams), joins that
//! read the result through the transformer, and a stored result.

use state_stores::KeyValueStoreBuilder;
use state_stores::typed::TypedKeyValueStore;
use streams_core::processor::ProcessorError;
use streams_core::serde::{I64Serde, Nullable, StringSerde};
use streams_core::store::StoreHandle;
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{StreamsConfig, StreamsError, Topology};
use streams_dsl::{
    KTable, Materialized, StreamsBuilder, ValueAndTimestamp, ValueTransformerWithKey,
};

fn s(v: &str) -> String {
    v.to_owned()
}

fn driver(topology: Topology) -> Result<TopologyTestDriver, StreamsError> {
    TopologyTestDriver::new(
        topology,
        StreamsConfig::new("transform-test", "unused:9092"),
    )
}

/// Pipes `(key, value, timestamp)` into the table topic `users` (`None`: a tombstone).
fn users(d: &TopologyTestDriver, rows: &[(&str, Option<&str>, i64)]) -> Result<(), StreamsError> {
    let topic = d.input_topic("users", StringSerde, Nullable(StringSerde));
    for (k, v, t) in rows {
        topic.pipe(s(k), v.map(s), *t)?;
    }
    Ok(())
}

/// Each row's value with the number of times the transformer was called for its key so far
/// (`<value>#<calls>`), counted in store `calls`: shows every call the transformer gets.
struct CountingCalls(StoreHandle<TypedKeyValueStore<String, i64>>);

impl ValueTransformerWithKey<String, String, String> for CountingCalls {
    fn transform(
        &mut self,
        key: &String,
        value: Option<&String>,
    ) -> Result<Option<String>, ProcessorError> {
        let calls = self.0.borrow().get(key)?.unwrap_or(0) + 1;
        self.0.borrow_mut().put(key, &calls)?;
        Ok(value.map(|v| format!("{v}#{calls}")))
    }
}

/// `users` as a table, through [`CountingCalls`] with its store `calls`.
fn counted(b: &StreamsBuilder) -> KTable<String, String> {
    b.add_state_store(KeyValueStoreBuilder::in_memory(
        "calls",
        StringSerde,
        I64Serde,
    ));
    b.table::<String, String>("users").transform_values(
        |stores| Ok(CountingCalls(stores.state_store("calls")?)),
        &["calls"],
    )
}

#[test]
fn a_transformer_is_called_once_per_update_when_nothing_downstream_needs_previous_values()
-> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    counted(&b).to_stream().to("out");
    let d = driver(b.build()?)?;
    users(
        &d,
        &[
            ("ann", Some("eu"), 1),
            ("ann", Some("us"), 2),
            ("bob", Some("eu"), 3),
            ("ann", None, 4),
        ],
    )?;
    assert_eq!(
        d.output_topic("out", StringSerde, Nullable(StringSerde))
            .read_key_values_with_time()?,
        vec![
            (s("ann"), Some(s("eu#1")), 1),
            (s("ann"), Some(s("us#2")), 2),
            (s("bob"), Some(s("eu#1")), 3),
            // A delete is transformed too: the transformer saw `None` (call 3).
            (s("ann"), None, 4),
        ]
    );
    let calls = d
        .state_store::<TypedKeyValueStore<String, i64>>("calls")
        .expect("the store");
    assert_eq!(calls.borrow().get(&s("ann"))?, Some(3));
    Ok(())
}

#[test]
fn a_regrouping_downstream_makes_the_transformer_see_previous_values_too()
-> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    counted(&b)
        .group_by(|user, value| {
            (
                value.split('#').next().unwrap_or_default().to_owned(),
                user.clone(),
            )
        })
        .count()
        .to_stream()
        .to("out");
    let d = driver(b.build()?)?;
    users(&d, &[("ann", Some("eu"), 1), ("ann", Some("us"), 2)])?;
    assert_eq!(
        d.output_topic("out", StringSerde, Nullable(I64Serde))
            .read_key_values_with_time()?,
        vec![
            (s("eu"), Some(1), 1),
            (s("eu"), Some(0), 2),
            (s("us"), Some(1), 2),
        ]
    );
    // Per update, once for the new value and once for the previous one (absent at first).
    let calls = d
        .state_store::<TypedKeyValueStore<String, i64>>("calls")
        .expect("the store");
    assert_eq!(calls.borrow().get(&s("ann"))?, Some(4));
    Ok(())
}

#[test]
fn a_join_reads_the_transformed_rows_through_a_transformer_of_its_own() -> Result<(), StreamsError>
{
    let b = StreamsBuilder::new();
    let regions = b.table::<String, String>("users").transform_values(
        |_| {
            Ok(
                |_: &String, v: Option<&String>| -> Result<Option<String>, ProcessorError> {
                    // Rows of "xx" are absent from the result; an absent row reads "none".
                    Ok(match v.map(String::as_str) {
                        Some("xx") => None,
                        Some(v) => Some(v.to_uppercase()),
                        None => Some(s("none")),
                    })
                },
            )
        },
        &[],
    );
    b.stream::<String, String>(&["clicks"])
        .left_join_table(&regions, |click, region| {
            format!("{click}@{}", region.map_or("-", String::as_str))
        })
        .to("out");
    let d = driver(b.build()?)?;
    users(&d, &[("ann", Some("eu"), 1), ("bob", Some("xx"), 2)])?;
    let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    clicks.pipe(s("ann"), s("c1"), 3)?;
    clicks.pipe(s("bob"), s("c2"), 4)?;
    clicks.pipe(s("cid"), s("c3"), 5)?;
    assert_eq!(
        d.output_topic("out", StringSerde, StringSerde)
            .read_key_values_with_time()?,
        vec![
            (s("ann"), s("c1@EU"), 3),
            (s("bob"), s("c2@-"), 4),
            // No row: the transformer turned the absent value into "none", as Kafka Streams'
            // value getter does.
            (s("cid"), s("c3@none"), 5),
        ]
    );
    Ok(())
}

#[test]
fn a_join_reading_through_a_transformer_with_a_store_has_the_store_connected()
-> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let counted = counted(&b);
    b.stream::<String, String>(&["clicks"])
        .join_table(&counted, |click, value| format!("{click}:{value}"))
        .to("out");
    let topology = b.build()?;
    let description = topology.describe().to_string();
    assert!(
        description.contains(
            "Processor: KSTREAM-JOIN-0000000005 (stores: [users-STATE-STORE-0000000000, calls])"
        ),
        "{description}"
    );
    let d = driver(topology)?;
    users(&d, &[("ann", Some("eu"), 1)])?;
    d.input_topic("clicks", StringSerde, StringSerde)
        .pipe(s("ann"), s("c1"), 2)?;
    // The table's node called the transformer once (call 1); the join's reader calls its
    // own transformer on the stored row (call 2): both count in the shared store.
    assert_eq!(
        d.output_topic("out", StringSerde, StringSerde)
            .read_key_values_with_time()?,
        vec![(s("ann"), s("c1:eu#2"), 2)]
    );
    Ok(())
}

#[test]
fn a_stored_result_keeps_each_row_with_its_timestamp_and_forwards_the_stored_previous_value()
-> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let lengths = b.table::<String, String>("users").transform_values_with(
        |_| {
            Ok(
                |_: &String, v: Option<&String>| -> Result<Option<i64>, ProcessorError> {
                    Ok(v.map(|v| v.len() as i64))
                },
            )
        },
        Materialized::as_store("lengths"),
        &[],
    );
    assert_eq!(lengths.store_name(), Some("lengths"));
    // A regrouping subtracts the previous value: it comes from the store.
    lengths
        .group_by(|_, n| (s("all"), *n))
        .reduce(|a, b| a + b, |a, b| a - b)
        .to_stream()
        .to("out");
    let d = driver(b.build()?)?;
    users(
        &d,
        &[
            ("ann", Some("eu-west"), 1),
            ("bob", Some("us"), 2),
            ("ann", Some("eu"), 3),
            ("bob", None, 4),
        ],
    )?;
    assert_eq!(
        d.output_topic("out", StringSerde, Nullable(I64Serde))
            .read_key_values_with_time()?,
        vec![
            (s("all"), Some(7), 1),
            (s("all"), Some(9), 2),
            // The group stays the same: one update (Kafka Streams since KIP-904).
            (s("all"), Some(4), 3),
            (s("all"), Some(2), 4),
        ]
    );
    let store = d
        .state_store::<TypedKeyValueStore<String, ValueAndTimestamp<i64>>>("lengths")
        .expect("the store");
    let rows = store.borrow().all()?.collect::<Result<Vec<_>, _>>()?;
    assert_eq!(
        rows,
        vec![(
            s("ann"),
            ValueAndTimestamp {
                value: 2,
                timestamp: 3
            }
        )]
    );
    Ok(())
}

#[test]
fn a_materialized_without_a_store_name_keeps_nothing_as_in_kafka_streams()
-> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let t = b.table::<String, String>("users").transform_values_with(
        |_| {
            Ok(
                |_: &String, v: Option<&String>| -> Result<Option<String>, ProcessorError> {
                    Ok(v.cloned())
                },
            )
        },
        Materialized::new(),
        &[],
    );
    assert_eq!(t.store_name(), None);
    t.to_stream().to("out");
    let description = b.build()?.describe().to_string();
    assert!(
        description.contains("Processor: KTABLE-TRANSFORMVALUES-0000000003 (stores: [])"),
        "{description}"
    );
    Ok(())
}
