//! The DSL on the test driver: exact outputs per operator, names and describe().

use std::sync::{Arc, Mutex};

use state_stores::KeyValueStoreBuilder;
use state_stores::typed::TypedKeyValueStore;
use streams_core::fixed_key::{FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord};
use streams_core::processor::{
    OpenedProcessor, Processor, ProcessorContext, ProcessorError, from_stores,
};
use streams_core::serde::{I64Serde, Nullable, StringSerde};
use streams_core::store::StoreHandle;
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{Record, StreamsConfig, StreamsError, Topology};
use streams_dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};

type Out<V> = Vec<(String, V, i64)>;

fn s(v: &str) -> String {
    v.to_owned()
}

fn driver(topology: Topology) -> Result<TopologyTestDriver, StreamsError> {
    TopologyTestDriver::new(topology, StreamsConfig::new("dsl-test", "unused:9092"))
}

fn strings() -> Consumed<String, String> {
    Consumed::with(StringSerde, StringSerde)
}

/// Pipes `(key, value, timestamp)` records into `input`.
fn pipe(
    d: &TopologyTestDriver,
    input: &str,
    records: &[(&str, &str, i64)],
) -> Result<(), StreamsError> {
    let topic = d.input_topic(input, StringSerde, StringSerde);
    for (k, v, t) in records {
        topic.pipe(s(k), s(v), *t)?;
    }
    Ok(())
}

fn read_strings(d: &TopologyTestDriver, topic: &str) -> Result<Out<String>, StreamsError> {
    d.output_topic(topic, StringSerde, StringSerde)
        .read_key_values_with_time()
}

const INPUT: &[(&str, &str, i64)] = &[("a", "apple pie", 10), ("b", "", 20), ("c", "cherry", 30)];

#[test]
fn filter_and_filter_not_split_the_records() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let stream = b.stream_with(&["in"], strings());
    stream
        .filter(|_, v| !v.is_empty())
        .to_with("kept", Produced::with(StringSerde, StringSerde));
    stream
        .filter_not(|_, v| !v.is_empty())
        .to_with("dropped", Produced::with(StringSerde, StringSerde));
    let d = driver(b.build()?)?;
    pipe(&d, "in", INPUT)?;
    assert_eq!(
        read_strings(&d, "kept")?,
        vec![(s("a"), s("apple pie"), 10), (s("c"), s("cherry"), 30)]
    );
    assert_eq!(read_strings(&d, "dropped")?, vec![(s("b"), s(""), 20)]);
    Ok(())
}

#[test]
fn map_map_values_and_select_key_keep_timestamps() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let stream = b.stream_with(&["in"], strings());
    stream
        .map(|k, v| (format!("{k}!"), v.len() as i64))
        .to_with("mapped", Produced::with(StringSerde, I64Serde));
    stream
        .map_values(|v| v.to_uppercase())
        .to_with("upper", Produced::with(StringSerde, StringSerde));
    stream
        .map_values_with_key(|k, v| format!("{k}:{v}"))
        .to_with("with-key", Produced::with(StringSerde, StringSerde));
    stream
        .select_key(|_, v| v.chars().next().map(String::from).unwrap_or_default())
        .to_with("rekeyed", Produced::with(StringSerde, StringSerde));
    let d = driver(b.build()?)?;
    pipe(&d, "in", INPUT)?;
    assert_eq!(
        d.output_topic("mapped", StringSerde, I64Serde)
            .read_key_values_with_time()?,
        vec![(s("a!"), 9, 10), (s("b!"), 0, 20), (s("c!"), 6, 30)]
    );
    assert_eq!(
        read_strings(&d, "upper")?,
        vec![
            (s("a"), s("APPLE PIE"), 10),
            (s("b"), s(""), 20),
            (s("c"), s("CHERRY"), 30)
        ]
    );
    assert_eq!(
        read_strings(&d, "with-key")?,
        vec![
            (s("a"), s("a:apple pie"), 10),
            (s("b"), s("b:"), 20),
            (s("c"), s("c:cherry"), 30)
        ]
    );
    assert_eq!(
        read_strings(&d, "rekeyed")?,
        vec![
            (s("a"), s("apple pie"), 10),
            (s(""), s(""), 20),
            (s("c"), s("cherry"), 30)
        ]
    );
    Ok(())
}

#[test]
fn flat_map_and_flat_map_values_emit_zero_or_more() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let stream = b.stream_with(&["in"], strings());
    stream
        .flat_map_values(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .to_with("words", Produced::with(StringSerde, StringSerde));
    stream
        .flat_map(|k, v| {
            v.split_whitespace()
                .map(|w| (w.to_owned(), k.clone()))
                .collect::<Vec<_>>()
        })
        .to_with("inverted", Produced::with(StringSerde, StringSerde));
    let d = driver(b.build()?)?;
    pipe(&d, "in", INPUT)?;
    assert_eq!(
        read_strings(&d, "words")?,
        vec![
            (s("a"), s("apple"), 10),
            (s("a"), s("pie"), 10),
            (s("c"), s("cherry"), 30)
        ]
    );
    assert_eq!(
        read_strings(&d, "inverted")?,
        vec![
            (s("apple"), s("a"), 10),
            (s("pie"), s("a"), 10),
            (s("cherry"), s("c"), 30)
        ]
    );
    Ok(())
}

#[test]
fn peek_foreach_and_merge() -> Result<(), StreamsError> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let peeked = Arc::new(Mutex::new(Vec::new()));
    let b = StreamsBuilder::new();
    let left = b.stream_with(&["left"], strings());
    let right = b.stream_with(&["right"], strings());
    let (seen2, peeked2) = (seen.clone(), peeked.clone());
    let merged = left
        .peek(move |k, _| peeked2.lock().expect("lock").push(k.clone()))
        .merge(&right);
    merged.foreach(move |k, v| seen2.lock().expect("lock").push(format!("{k}={v}")));
    merged.to_with("merged", Produced::with(StringSerde, StringSerde));
    let d = driver(b.build()?)?;
    pipe(&d, "left", &[("l1", "x", 1), ("l2", "y", 3)])?;
    pipe(&d, "right", &[("r1", "z", 2)])?;
    assert_eq!(
        read_strings(&d, "merged")?,
        vec![
            (s("l1"), s("x"), 1),
            (s("l2"), s("y"), 3),
            (s("r1"), s("z"), 2)
        ]
    );
    assert_eq!(*seen.lock().expect("lock"), vec!["l1=x", "l2=y", "r1=z"]);
    assert_eq!(*peeked.lock().expect("lock"), vec!["l1", "l2"]);
    Ok(())
}

/// A Processor API node: forwards the value's length.
struct Length;

impl Processor<String, String, String, i64> for Length {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let len = r.value.len() as i64;
        ctx.forward(r.with_value(len))?;
        Ok(())
    }
}

#[test]
fn process_plugs_in_a_processor_api_node() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["in"], strings())
        .process(|| Length)
        .to_with("lengths", Produced::with(StringSerde, I64Serde));
    let d = driver(b.build()?)?;
    pipe(&d, "in", INPUT)?;
    assert_eq!(
        d.output_topic("lengths", StringSerde, I64Serde)
            .read_key_values_with_time()?,
        vec![(s("a"), 9, 10), (s("b"), 0, 20), (s("c"), 6, 30)]
    );
    Ok(())
}

/// A Processor API node with a store: numbers each key's records.
struct Numbering {
    seen: StoreHandle<TypedKeyValueStore<String, i64>>,
}

/// A supplier of [`Numbering`] over store `store`.
fn numbering(
    store: &'static str,
) -> impl Fn() -> OpenedProcessor<Numbering> + Send + Sync + 'static {
    from_stores(move |stores| {
        Ok(Numbering {
            seen: stores.state_store(store)?,
        })
    })
}

impl Processor<String, String, String, i64> for Numbering {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let n = self.seen.borrow().get(&r.key)?.unwrap_or(0) + 1;
        self.seen.borrow_mut().put(&r.key, &n)?;
        ctx.forward(r.with_value(n))?;
        Ok(())
    }
}

#[test]
fn process_with_stores_gives_the_node_the_stores_added_to_the_builder() -> Result<(), StreamsError>
{
    let b = StreamsBuilder::new();
    b.add_state_store(KeyValueStoreBuilder::in_memory(
        "seen",
        StringSerde,
        I64Serde,
    ));
    b.stream_with(&["in"], strings())
        .process_with_stores(numbering("seen"), &["seen"])
        .to_with("numbered", Produced::with(StringSerde, I64Serde));
    let d = driver(b.build()?)?;
    pipe(&d, "in", &[("a", "x", 1), ("b", "y", 2), ("a", "z", 3)])?;
    assert_eq!(
        d.output_topic("numbered", StringSerde, I64Serde)
            .read_key_values_with_time()?,
        vec![(s("a"), 1, 1), (s("b"), 1, 2), (s("a"), 2, 3)]
    );
    // A store that was not added is refused when the topology is built.
    let b = StreamsBuilder::new();
    b.stream_with(&["in"], strings())
        .process_with_stores(numbering("missing"), &["missing"])
        .to_with("numbered", Produced::with(StringSerde, I64Serde));
    assert_eq!(
        b.build().err().map(|e| e.to_string()),
        Some(
            "invalid topology: cannot connect store `missing` to `KSTREAM-PROCESSOR-0000000001`: \
             no such store (add it first)"
                .to_owned()
        )
    );
    Ok(())
}

#[test]
fn a_processor_built_from_its_stores_fails_its_task_on_a_store_not_connected_or_of_another_type()
-> Result<(), StreamsError> {
    // Connected to another store than the one it opens.
    let b = StreamsBuilder::new();
    b.add_state_store(KeyValueStoreBuilder::in_memory(
        "seen",
        StringSerde,
        I64Serde,
    ));
    b.add_state_store(KeyValueStoreBuilder::in_memory(
        "other",
        StringSerde,
        I64Serde,
    ));
    b.stream_with(&["in"], strings())
        .process_with_stores(numbering("seen"), &["other"])
        .to_with("numbered", Produced::with(StringSerde, I64Serde));
    assert_eq!(
        driver(b.build()?).err().map(|e| e.to_string()),
        Some(
            "invalid topology: processor `KSTREAM-PROCESSOR-0000000001` asked for state store \
             `seen`, which is not connected to it; connect it with Topology::add_state_store \
             or Topology::connect_processor_and_state_stores"
                .to_owned()
        )
    );
    // A store whose value type is not the one the processor's field holds.
    let b = StreamsBuilder::new();
    b.add_state_store(KeyValueStoreBuilder::in_memory(
        "seen",
        StringSerde,
        StringSerde,
    ));
    b.stream_with(&["in"], strings())
        .process_with_stores(numbering("seen"), &["seen"])
        .to_with("numbered", Produced::with(StringSerde, I64Serde));
    let error = driver(b.build()?).err().map(|e| e.to_string());
    assert_eq!(
        error,
        Some(format!(
            "invalid topology: state store `seen` is not of the requested type {}",
            std::any::type_name::<TypedKeyValueStore<String, i64>>()
        ))
    );
    Ok(())
}

const CLICKS: &[(&str, &str, i64)] = &[
    ("alice", "3", 100),
    ("bob", "5", 200),
    ("alice", "4", 50),
    ("alice", "1", 300),
];

#[test]
fn count_emits_every_update_with_the_largest_timestamp_so_far() -> Result<(), StreamsError> {
    for in_memory in [false, true] {
        let b = StreamsBuilder::new();
        let mut store = Materialized::as_store("counts");
        if in_memory {
            store = store.in_memory();
        }
        b.stream_with(&["clicks"], strings())
            .group_by_key()
            .count_with(store)
            .to_stream()
            .to_with("counts", Produced::with(StringSerde, Nullable(I64Serde)));
        let d = driver(b.build()?)?;
        pipe(&d, "clicks", CLICKS)?;
        // alice's second record is older (50): the update keeps the larger timestamp, 100.
        assert_eq!(
            d.output_topic("counts", StringSerde, Nullable(I64Serde))
                .read_key_values_with_time()?,
            vec![
                (s("alice"), Some(1), 100),
                (s("bob"), Some(1), 200),
                (s("alice"), Some(2), 100),
                (s("alice"), Some(3), 300)
            ]
        );
        // Every update went to the changelog too.
        assert_eq!(d.produced("dsl-test-counts-changelog").len(), 4);
    }
    Ok(())
}

#[test]
fn reduce_and_aggregate_fold_values_per_key() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let amounts = b
        .stream_with(&["clicks"], strings())
        .map_values(|v| v.parse::<i64>().unwrap_or(0));
    let grouped = amounts.group_by_key_with(Grouped::with(StringSerde, I64Serde));
    grouped
        .reduce_with(|a, b| a + b, Materialized::as_store("sums"))
        .to_stream()
        .to_with("sums", Produced::with(StringSerde, Nullable(I64Serde)));
    grouped
        .aggregate_with(
            String::new,
            |_, v, agg| format!("{agg}{v}"),
            Materialized::as_store("digits")
                .in_memory()
                .with_value_serde(StringSerde),
        )
        .to_stream()
        .to_with("digits", Produced::with(StringSerde, Nullable(StringSerde)));
    let d = driver(b.build()?)?;
    pipe(&d, "clicks", CLICKS)?;
    assert_eq!(
        d.output_topic("sums", StringSerde, Nullable(I64Serde))
            .read_key_values_with_time()?,
        vec![
            (s("alice"), Some(3), 100),
            (s("bob"), Some(5), 200),
            (s("alice"), Some(7), 100),
            (s("alice"), Some(8), 300)
        ]
    );
    assert_eq!(
        d.output_topic("digits", StringSerde, Nullable(StringSerde))
            .read_key_values_with_time()?,
        vec![
            (s("alice"), Some(s("3")), 100),
            (s("bob"), Some(s("5")), 200),
            (s("alice"), Some(s("34")), 100),
            (s("alice"), Some(s("341")), 300)
        ]
    );
    Ok(())
}

#[test]
fn word_count_describes_like_kafka_streams() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["input"], strings())
        .group_by_key()
        .count_with(Materialized::new())
        .to_stream()
        .to_with("output", Produced::with(StringSerde, Nullable(I64Serde)));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> KSTREAM-AGGREGATE-0000000002
    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000001])
      --> KTABLE-TOSTREAM-0000000003
      <-- KSTREAM-SOURCE-0000000000
    Processor: KTABLE-TOSTREAM-0000000003 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-AGGREGATE-0000000002
    Sink: KSTREAM-SINK-0000000004 (topic: output)
      <-- KTABLE-TOSTREAM-0000000003

";
    assert_eq!(b.build()?.describe().to_string(), expected);
    Ok(())
}

#[test]
fn filter_map_describes_like_kafka_streams() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["input"], strings())
        .filter(|_, v| !v.is_empty())
        .map_values(|v| v.to_uppercase())
        .to_with("output", Produced::with(StringSerde, StringSerde));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> KSTREAM-FILTER-0000000001
    Processor: KSTREAM-FILTER-0000000001 (stores: [])
      --> KSTREAM-MAPVALUES-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-MAPVALUES-0000000002 (stores: [])
      --> KSTREAM-SINK-0000000003
      <-- KSTREAM-FILTER-0000000001
    Sink: KSTREAM-SINK-0000000003 (topic: output)
      <-- KSTREAM-MAPVALUES-0000000002

";
    assert_eq!(b.build()?.describe().to_string(), expected);
    Ok(())
}

#[test]
fn misuse_is_reported_by_build() {
    // A store name used twice.
    let b = StreamsBuilder::new();
    let g = b.stream_with(&["in"], strings()).group_by_key();
    g.count_with(Materialized::as_store("counts"));
    g.count_with(Materialized::as_store("counts"));
    let err = b.build().expect_err("refused").to_string();
    assert_eq!(
        err,
        "invalid topology: the store name `counts` is used twice; every store needs its own name"
    );

    // No serde known for an aggregate's store (u64 has no natural serde: Kafka has none).
    let b = StreamsBuilder::new();
    b.stream_with(&["in"], strings())
        .group_by_key()
        .aggregate_with(|| 0u64, |_, _, n| n + 1, Materialized::as_store("n"));
    let err = b.build().expect_err("refused").to_string();
    assert_eq!(
        err,
        "invalid topology: aggregate `KSTREAM-AGGREGATE-0000000001`: no value serde is known \
         for its store `n`; give one with Materialized::with_value_serde, or implement \
         NaturalSerde for `u64`"
    );

    // A repartition topic needs serdes for a key type the stream does not know.
    let b = StreamsBuilder::new();
    b.stream_with(&["in"], strings())
        .map(|k, v| (k.len() as u64, v))
        .group_by_key()
        .count_with(
            Materialized::new().with_key_serde(streams_core::serde::JsonSerde::<u64>::new()),
        );
    let err = b.build().expect_err("refused").to_string();
    assert_eq!(
        err,
        "invalid topology: repartition topic `KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition` \
         needs key and value serdes: the operation before the grouping changed the key or value \
         type; give them with Grouped::with"
    );

    // A stream without topics.
    let b = StreamsBuilder::new();
    b.stream_with(&[], strings());
    assert_eq!(
        b.build().expect_err("refused").to_string(),
        "invalid topology: stream `KSTREAM-SOURCE-0000000000` needs at least one topic"
    );

    // A builder builds once.
    let b = StreamsBuilder::new();
    let stream = b.stream_with(&["in"], strings());
    assert!(b.build().is_ok());
    stream.to_with("late", Produced::with(StringSerde, StringSerde));
    assert_eq!(
        b.build().expect_err("refused").to_string(),
        "invalid topology: this StreamsBuilder already built its topology; use a new builder"
    );
}

#[test]
fn group_by_repartitions_and_describes_like_kafka_streams() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["words"], strings())
        .group_by_with(
            |_, word| word.clone(),
            Grouped::with(StringSerde, StringSerde),
        )
        .count_with(Materialized::new())
        .to_stream()
        .to_with("counts", Produced::with(StringSerde, Nullable(I64Serde)));
    let topology = b.build()?;
    // Kafka Streams' layout for the same topology (its StreamsGraphTest expects these names).
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [words])
      --> KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])
      --> KSTREAM-FILTER-0000000005
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FILTER-0000000005 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-KEY-SELECT-0000000001
    Sink: KSTREAM-SINK-0000000004 (topic: KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition)
      <-- KSTREAM-FILTER-0000000005

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000006 (topics: [KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000002])
      --> KTABLE-TOSTREAM-0000000007
      <-- KSTREAM-SOURCE-0000000006
    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-AGGREGATE-0000000003
    Sink: KSTREAM-SINK-0000000008 (topic: counts)
      <-- KTABLE-TOSTREAM-0000000007

";
    assert_eq!(topology.describe().to_string(), expected);
    assert_eq!(
        topology.repartition_topics(),
        vec!["KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition"]
    );

    // On the driver the records go through `<application.id>-<name>-repartition`.
    let d = driver(topology)?;
    pipe(
        &d,
        "words",
        &[("1", "kafka", 5), ("2", "rust", 6), ("3", "kafka", 7)],
    )?;
    assert_eq!(
        d.output_topic("counts", StringSerde, Nullable(I64Serde))
            .read_key_values_with_time()?,
        vec![
            (s("kafka"), Some(1), 5),
            (s("rust"), Some(1), 6),
            (s("kafka"), Some(2), 7)
        ]
    );
    let repartitioned: Vec<Option<Vec<u8>>> = d
        .produced("dsl-test-KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition")
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(
        repartitioned,
        vec![
            Some(b"kafka".to_vec()),
            Some(b"rust".to_vec()),
            Some(b"kafka".to_vec())
        ]
    );
    Ok(())
}

#[test]
fn split_sends_each_record_to_its_first_matching_branch() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let branches = b
        .stream_with(&["in"], strings())
        .split(Some("fruit-"))
        .branch("long", |_, v| v.len() > 6)
        .branch("a", |_, v| v.starts_with('a'))
        .default_branch("other");
    assert_eq!(
        branches.keys().collect::<Vec<_>>(),
        vec!["fruit-a", "fruit-long", "fruit-other"]
    );
    for (name, stream) in &branches {
        stream.to_with(name, Produced::with(StringSerde, StringSerde));
    }
    let d = driver(b.build()?)?;
    pipe(
        &d,
        "in",
        &[("1", "apple", 1), ("2", "apricots", 2), ("3", "fig", 3)],
    )?;
    assert_eq!(
        read_strings(&d, "fruit-long")?,
        vec![(s("2"), s("apricots"), 2)],
        "the first matching branch wins"
    );
    assert_eq!(read_strings(&d, "fruit-a")?, vec![(s("1"), s("apple"), 1)]);
    assert_eq!(
        read_strings(&d, "fruit-other")?,
        vec![(s("3"), s("fig"), 3)]
    );
    Ok(())
}

#[test]
fn repartition_and_to_table_go_through_repartition_topics() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let stream = b.stream_with(&["in"], strings());
    stream
        .repartition(streams_dsl::Repartitioned::default().with_name("spread"))
        .to_with("spread-out", Produced::with(StringSerde, StringSerde));
    // The latest value per first letter of the value: a key change, then a table.
    stream
        .select_key(|_, v| v.chars().next().map(String::from).unwrap_or_default())
        .to_table_with(
            Materialized::as_store("latest")
                .in_memory()
                .with_key_serde(StringSerde),
        )
        .to_stream()
        .to_with("latest", Produced::with(StringSerde, Nullable(StringSerde)));
    let topology = b.build()?;
    // The named repartition takes three numbers all the same, as in Kafka Streams (source 0,
    // repartition 1-3, sink 4, key select 5, to-table 6).
    assert_eq!(
        topology.repartition_topics(),
        vec![
            "KSTREAM-TOTABLE-0000000006-repartition".to_owned(),
            "spread-repartition".to_owned()
        ]
    );
    let d = driver(topology)?;
    pipe(
        &d,
        "in",
        &[("1", "apple", 1), ("2", "avocado", 2), ("3", "fig", 3)],
    )?;
    assert_eq!(
        read_strings(&d, "spread-out")?,
        vec![
            (s("1"), s("apple"), 1),
            (s("2"), s("avocado"), 2),
            (s("3"), s("fig"), 3)
        ]
    );
    assert_eq!(d.produced("dsl-test-spread-repartition").len(), 3);
    assert_eq!(
        d.output_topic("latest", StringSerde, Nullable(StringSerde))
            .read_key_values_with_time()?,
        vec![
            (s("a"), Some(s("apple")), 1),
            (s("a"), Some(s("avocado")), 2),
            (s("f"), Some(s("fig")), 3)
        ]
    );
    Ok(())
}

/// Reads the event time from the value, a decimal number of milliseconds.
struct TimeInValue;

impl streams_core::timestamp::TimestampExtractor for TimeInValue {
    fn extract(
        &self,
        record: &streams_core::record::RawRecord,
        _partition_time: i64,
    ) -> streams_core::Result<i64> {
        Ok(record
            .value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1))
    }
}

#[test]
fn a_stream_can_read_its_timestamps_with_its_own_extractor() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["in"], strings().with_timestamp_extractor(TimeInValue))
        .to_with("out", Produced::with(StringSerde, StringSerde));
    let d = driver(b.build()?)?;
    pipe(&d, "in", &[("a", "1000", 5), ("b", "2000", 6)])?;
    assert_eq!(
        read_strings(&d, "out")?,
        vec![(s("a"), s("1000"), 1000), (s("b"), s("2000"), 2000)]
    );
    Ok(())
}

#[test]
fn nodes_can_be_named_instead_of_numbered() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["input"], strings().with_name("words"))
        .named("drop-empty")
        .filter(|_, v| !v.is_empty())
        .map_values(|v| v.to_uppercase())
        .to_with(
            "output",
            Produced::with(StringSerde, StringSerde).with_name("shout"),
        );
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: words (topics: [input])
      --> drop-empty
    Processor: drop-empty (stores: [])
      --> KSTREAM-MAPVALUES-0000000002
      <-- words
    Processor: KSTREAM-MAPVALUES-0000000002 (stores: [])
      --> shout
      <-- drop-empty
    Sink: shout (topic: output)
      <-- KSTREAM-MAPVALUES-0000000002

";
    assert_eq!(b.build()?.describe().to_string(), expected);
    Ok(())
}

/// Forwards a value only when it differs from the last one of its key (kept in `last-seen`).
struct Changes {
    store: StoreHandle<TypedKeyValueStore<String, String>>,
}

impl FixedKeyProcessor<String, String, String> for Changes {
    fn process(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, '_, String, String>,
        record: FixedKeyRecord<String, String>,
    ) -> Result<(), ProcessorError> {
        let last = self.store.borrow().get(record.key())?;
        if last.as_ref() != Some(record.value()) {
            self.store.borrow_mut().put(record.key(), record.value())?;
            ctx.forward(record)?;
        }
        Ok(())
    }
}

#[test]
fn process_values_keeps_the_key_so_a_count_after_it_needs_no_repartition_topic()
-> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.add_state_store(KeyValueStoreBuilder::in_memory(
        "last-seen",
        StringSerde,
        StringSerde,
    ));
    b.stream_with(&["in"], Consumed::with(StringSerde, StringSerde))
        .process_values_with_stores(
            from_stores(|stores| {
                Ok(Changes {
                    store: stores.state_store("last-seen")?,
                })
            }),
            &["last-seen"],
        )
        .group_by_key_with(Grouped::with(StringSerde, StringSerde))
        .count_with(Materialized::as_store("changes"))
        .to_stream()
        .to_with("out", Produced::with(StringSerde, Nullable(I64Serde)));
    let topology = b.build()?;
    let described = topology.describe().to_string();
    assert!(
        described.contains("KSTREAM-PROCESSVALUES-0000000001")
            && !described.contains("repartition"),
        "{described}"
    );
    let d = driver(topology)?;
    let input = d.input_topic("in", StringSerde, StringSerde);
    for (k, v, t) in [
        ("a", "x", 1),
        ("a", "x", 2),
        ("a", "y", 3),
        ("b", "x", 4),
        ("a", "y", 5),
    ] {
        input.pipe(s(k), s(v), t)?;
    }
    let out: Out<Option<i64>> = d
        .output_topic("out", StringSerde, Nullable(I64Serde))
        .read_key_values_with_time()?;
    assert_eq!(
        out,
        vec![
            (s("a"), Some(1), 1),
            (s("a"), Some(2), 3),
            (s("b"), Some(1), 4)
        ]
    );

    // The same step through `process` may change keys: the count reads a repartition topic.
    let b = StreamsBuilder::new();
    b.stream_with(&["in"], Consumed::with(StringSerde, StringSerde))
        .process(|| Passing)
        .group_by_key_with(Grouped::with(StringSerde, StringSerde))
        .count_with(Materialized::as_store("changes"));
    assert!(b.build()?.describe().to_string().contains("repartition"));
    Ok(())
}

/// Forwards every record as it is.
struct Passing;

impl Processor<String, String, String, String> for Passing {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        ctx.forward(record)?;
        Ok(())
    }
}
