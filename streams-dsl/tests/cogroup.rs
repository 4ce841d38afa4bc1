//! `cogroup` on the test driver: three grouped streams of different value types folded into
//! one aggregate, named as Kafka Streams names the nodes, re-keyed inputs through their own
//! repartition topics, and the misuses `build()` refuses.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use streams_core::serde::{I64Serde, JsonSerde, JsonValue, Nullable, StringSerde};
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{StreamsConfig, StreamsError};

use streams_dsl::{Grouped, Materialized, SessionWindows, StreamsBuilder, TimeWindows};

fn s(v: &str) -> String {
    v.to_owned()
}

/// A customer's activity, from three topics.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
struct Activity {
    clicks: i64,
    spent: i64,
    last_page: String,
}
impl JsonValue for Activity {}

/// Clicks (page names), purchases and refunds (amounts) into one `Activity` per customer:
/// every record updates the row and is forwarded with the largest timestamp seen, as
/// Kafka Streams' cogroup does.
#[test]
fn three_streams_fold_into_one_aggregate() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    let purchases = b.stream::<String, i64>(&["purchases"]).group_by_key();
    let refunds = b.stream::<String, i64>(&["refunds"]).group_by_key();
    clicks
        .cogroup(|_, page, a: Activity| Activity {
            clicks: a.clicks + 1,
            last_page: page,
            ..a
        })
        .cogroup(&purchases, |_, amount, a| Activity {
            spent: a.spent + amount,
            ..a
        })
        .cogroup(&refunds, |_, amount, a| Activity {
            spent: a.spent - amount,
            ..a
        })
        .aggregate(Activity::default)
        .to_stream()
        .to("activity");
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("cogroup", "unused:9092"))?;
    let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    let purchases = d.input_topic("purchases", StringSerde, I64Serde);
    let refunds = d.input_topic("refunds", StringSerde, I64Serde);
    clicks.pipe(s("ann"), s("/shoes"), 10)?;
    purchases.pipe(s("ann"), 4_000, 20)?;
    clicks.pipe(s("bob"), s("/"), 15)?;
    refunds.pipe(s("ann"), 1_500, 12)?; // out of order: the row keeps timestamp 20
    clicks.pipe(s("ann"), s("/socks"), 30)?;

    let out = d
        .output_topic(
            "activity",
            StringSerde,
            Nullable(JsonSerde::<Activity>::new()),
        )
        .read_key_values_with_time()?;
    let a = |clicks, spent, page: &str| {
        Some(Activity {
            clicks,
            spent,
            last_page: s(page),
        })
    };
    assert_eq!(
        out,
        vec![
            (s("ann"), a(1, 0, "/shoes"), 10),
            (s("ann"), a(1, 4_000, "/shoes"), 20),
            (s("bob"), a(1, 0, "/"), 15),
            (s("ann"), a(1, 2_500, "/shoes"), 20),
            (s("ann"), a(2, 2_500, "/socks"), 30),
        ]
    );
    Ok(())
}

/// Kafka Streams' names: the store first, then a repartition topic for a re-keyed input (its
/// nodes named after the topic, three numbers taken), one aggregate processor per input on
/// the one store, and the merge node. Kafka Streams' own test of this topology lists the two
/// sources of sub-topology 1 the other way round (equal sub-trees; `docs/architecture.md`,
/// "Differences from Kafka Streams"); every name and edge is the same.
#[test]
fn nodes_are_named_as_kafka_streams_names_them() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let one = b.stream::<String, String>(&["one"]);
    let two = b.stream::<String, String>(&["two"]).group_by_key();
    let one = one.map(|k, v| (v, k)).group_by_key();
    one.cogroup(|_, v, agg: String| agg + &v)
        .cogroup(&two, |_, v, agg| agg + &v)
        .aggregate(String::new)
        .to_stream()
        .to("output");
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [one])
      --> KSTREAM-MAP-0000000002
    Processor: KSTREAM-MAP-0000000002 (stores: [])
      --> COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-filter
      <-- KSTREAM-SOURCE-0000000000
    Processor: COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-filter (stores: [])
      --> COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-sink
      <-- KSTREAM-MAP-0000000002
    Sink: COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-sink (topic: COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition)
      <-- COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-filter

  Sub-topology: 1
    Source: COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-source (topics: [COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition])
      --> COGROUPKSTREAM-AGGREGATE-0000000007
    Source: KSTREAM-SOURCE-0000000001 (topics: [two])
      --> COGROUPKSTREAM-AGGREGATE-0000000008
    Processor: COGROUPKSTREAM-AGGREGATE-0000000007 (stores: [COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003])
      --> COGROUPKSTREAM-MERGE-0000000009
      <-- COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-source
    Processor: COGROUPKSTREAM-AGGREGATE-0000000008 (stores: [COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003])
      --> COGROUPKSTREAM-MERGE-0000000009
      <-- KSTREAM-SOURCE-0000000001
    Processor: COGROUPKSTREAM-MERGE-0000000009 (stores: [])
      --> KTABLE-TOSTREAM-0000000010
      <-- COGROUPKSTREAM-AGGREGATE-0000000007, COGROUPKSTREAM-AGGREGATE-0000000008
    Processor: KTABLE-TOSTREAM-0000000010 (stores: [])
      --> KSTREAM-SINK-0000000011
      <-- COGROUPKSTREAM-MERGE-0000000009
    Sink: KSTREAM-SINK-0000000011 (topic: output)
      <-- KTABLE-TOSTREAM-0000000010

";
    assert_eq!(b.build()?.describe().to_string(), expected);
    Ok(())
}

/// Two re-keyed inputs without names of their own would share `<store>-repartition`: refused
/// with the fix; named, they work.
#[test]
fn re_keyed_inputs_need_their_own_repartition_names() -> Result<(), StreamsError> {
    let build = |named: bool| {
        let b = StreamsBuilder::new();
        let by_value = |topic: &str, name: &str| {
            let stream = b
                .stream::<String, String>(&[topic])
                .select_key(|_, v| v.clone());
            if named {
                stream.group_by_key_with(Grouped::default().with_name(name))
            } else {
                stream.group_by_key()
            }
        };
        let (one, two) = (by_value("one", "by-one"), by_value("two", "by-two"));
        one.cogroup(|_, _, n: i64| n + 1)
            .cogroup(&two, |_, _, n| n + 10)
            .aggregate_with(|| 0, Materialized::as_store("hits"))
            .to_stream()
            .to("hits");
        b.build()
    };
    let err = build(false)
        .expect_err("shared repartition topic")
        .to_string();
    assert_eq!(
        err,
        "invalid topology: cogroup on store `hits`: two inputs changed their keys and would \
         share the repartition topic `hits-repartition`; give each its own name with \
         Grouped::with_name (group_by_key_with / group_by_with)"
    );

    let topology = build(true)?;
    assert_eq!(
        topology.repartition_topics(),
        vec![s("by-one-repartition"), s("by-two-repartition")]
    );
    let d = TopologyTestDriver::new(topology, StreamsConfig::new("cogroup", "unused:9092"))?;
    d.input_topic("one", StringSerde, StringSerde)
        .pipe(s("x"), s("ann"), 1)?;
    d.input_topic("two", StringSerde, StringSerde)
        .pipe(s("y"), s("ann"), 2)?;
    assert_eq!(
        d.output_topic("hits", StringSerde, Nullable(I64Serde))
            .read_key_values_with_time()?,
        vec![(s("ann"), Some(1), 1), (s("ann"), Some(11), 2)]
    );
    Ok(())
}

/// An aggregate type with no natural serde and none given: `build()` says so.
#[test]
fn a_missing_aggregate_serde_fails_the_build() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>(&["one"])
        .group_by_key()
        .cogroup(|_, _, n: u64| n + 1)
        .aggregate_with(|| 0, Materialized::as_store("n"));
    let err = b.build().expect_err("no serde").to_string();
    assert_eq!(
        err,
        "invalid topology: cogroup `COGROUPKSTREAM-MERGE-0000000002`: no value serde is known \
         for its store `n`; give one with Materialized::with_value_serde, or implement \
         NaturalSerde for `u64`"
    );
}

/// Session windows: a click adds 1, a purchase 100; a purchase within the gap of a click
/// merges into its session (the old session is deleted, the merged one emitted).
#[test]
fn session_windowed_inputs_merge_into_one_session() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    let purchases = b.stream::<String, String>(&["purchases"]).group_by_key();
    clicks
        .cogroup(|_, _, n: i64| n + 1)
        .cogroup(&purchases, |_, _, n| n + 100)
        .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(
            Duration::from_secs(5),
        ))
        .aggregate(|| 0, |_, a, c| a + c)
        .to_stream()
        .map(|w, n| {
            let window = format!("{}@{}-{}", w.key, w.window.start, w.window.end);
            (window, n)
        })
        .to("sessions");
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("cogroup", "unused:9092"))?;
    let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    let purchases = d.input_topic("purchases", StringSerde, StringSerde);
    clicks.pipe(s("ann"), s("/"), 1_000)?;
    purchases.pipe(s("ann"), s("p1"), 3_000)?;
    clicks.pipe(s("ann"), s("/"), 20_000)?;
    assert_eq!(
        d.output_topic("sessions", StringSerde, Nullable(I64Serde))
            .read_key_values_with_time()?,
        vec![
            (s("ann@1000-1000"), Some(1), 1_000),
            (s("ann@1000-1000"), None, 1_000),
            (s("ann@1000-3000"), Some(101), 3_000),
            (s("ann@20000-20000"), Some(1), 20_000),
        ]
    );
    Ok(())
}

/// A windowed cogroup's store keeps at least the window size plus grace: a shorter retention
/// is refused naming both.
#[test]
fn a_windowed_cogroup_refuses_a_retention_shorter_than_its_windows() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>(&["one"])
        .group_by_key()
        .cogroup(|_, _, n: i64| n + 1)
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_secs(60),
            Duration::from_secs(10),
        ))
        .aggregate_with(
            || 0,
            Materialized::as_store("per-minute").with_retention(Duration::from_secs(30)),
        );
    let err = b.build().expect_err("too short").to_string();
    assert_eq!(
        err,
        "invalid topology: cogroup on store `per-minute`: its retention (30000 ms) must be at \
         least 70000 ms (the window size plus the grace period; twice the time difference plus \
         the grace period for sliding windows)"
    );
}
