//! Natural serdes on the test driver: topologies written without a serde spelled out produce
//! exactly what the explicit forms produce, JSON types opted in through `JsonValue`, and a
//! sink whose serde cannot be known fails the build naming what is missing.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use streams_core::serde::{F64Serde, I64Serde, JsonSerde, JsonValue, Nullable, Serde, StringSerde};
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{
    SerdeError, StreamsConfig, StreamsError, TimeWindowedSerde, Topology, Windowed,
};
use streams_dsl::{Consumed, Produced, SessionWindows, StreamsBuilder, TimeWindows};

fn driver(topology: Topology) -> Result<TopologyTestDriver, StreamsError> {
    TopologyTestDriver::new(topology, StreamsConfig::new("natural", "unused:9092"))
}

fn s(v: &str) -> String {
    v.to_owned()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Order {
    product: String,
    cents: i64,
}
impl JsonValue for Order {}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
struct Revenue {
    orders: i64,
    cents: i64,
}
impl JsonValue for Revenue {}

/// A type with no natural serde.
#[derive(Clone, Debug, PartialEq)]
struct Label(String);

/// Labels as their UTF-8 text.
struct LabelSerde;

impl Serde<Label> for LabelSerde {
    fn serialize_into(&self, _: &str, l: &Label, buf: &mut Vec<u8>) -> Result<bool, SerdeError> {
        buf.extend_from_slice(l.0.as_bytes());
        Ok(true)
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Label, SerdeError> {
        StringSerde.deserialize(topic, data).map(Label)
    }
}

/// The word count on a topic whose keys are null, as a Kafka Streams user writes it: no
/// serde anywhere, an `Option` key for the null keys.
#[test]
fn a_word_count_over_null_keys_needs_no_serde() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream::<Option<String>, String>(&["lines"])
        .flat_map_values(|line| {
            line.split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .group_by(|_, word| word.clone())
        .count()
        .to_stream()
        .to("word-counts");
    let d = driver(b.build()?)?;
    let lines = d.input_topic("lines", Nullable(StringSerde), StringSerde);
    lines.pipe(None, s("to be or"), 1000)?;
    lines.pipe(None, s("Not to be"), 2000)?;
    let out = d
        .output_topic("word-counts", StringSerde, Nullable(I64Serde))
        .read_key_values_with_time()?;
    assert_eq!(
        out,
        vec![
            (s("to"), Some(1), 1000),
            (s("be"), Some(1), 1000),
            (s("or"), Some(1), 1000),
            (s("not"), Some(1), 2000),
            (s("to"), Some(2), 2000),
            (s("be"), Some(2), 2000),
        ]
    );
    Ok(())
}

/// JSON types opted in: read, aggregated and written without a serde; a map to a built-in
/// type (`f64`) finds its serde too.
#[test]
fn json_values_and_built_in_results_need_no_serde() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let revenue = b
        .stream::<String, Order>(&["orders"])
        .group_by(|_, order| order.product.clone())
        .aggregate(Revenue::default, |_, order, r| Revenue {
            orders: r.orders + 1,
            cents: r.cents + order.cents,
        });
    revenue.to_stream().non_null().to("revenue");
    revenue
        .map_values(|r| r.cents as f64 / r.orders as f64)
        .to_stream()
        .to("average-cents");
    let d = driver(b.build()?)?;
    let orders = d.input_topic("orders", StringSerde, JsonSerde::<Order>::new());
    let order = |product: &str, cents| Order {
        product: s(product),
        cents,
    };
    orders.pipe(s("o1"), order("tea", 300), 10)?;
    orders.pipe(s("o2"), order("cake", 450), 20)?;
    orders.pipe(s("o3"), order("tea", 500), 30)?;
    // The raw bytes are JSON, as a Java JSON serde would read them.
    let raw = d.produced("revenue");
    assert_eq!(
        raw[0].value.as_deref(),
        Some(&br#"{"orders":1,"cents":300}"#[..])
    );
    let revenue = d
        .output_topic("revenue", StringSerde, JsonSerde::<Revenue>::new())
        .read_key_values_with_time()?;
    let r = |orders, cents| Revenue { orders, cents };
    assert_eq!(
        revenue,
        vec![
            (s("tea"), r(1, 300), 10),
            (s("cake"), r(1, 450), 20),
            (s("tea"), r(2, 800), 30),
        ]
    );
    let averages = d
        .output_topic("average-cents", StringSerde, Nullable(F64Serde))
        .read_key_values_with_time()?;
    assert_eq!(
        averages,
        vec![
            (s("tea"), Some(300.0), 10),
            (s("cake"), Some(450.0), 20),
            (s("tea"), Some(400.0), 30),
        ]
    );
    Ok(())
}

/// A value serde given at the source stays with the stream through operations that keep the
/// type, and the natural `to` writes with it.
#[test]
fn the_serde_given_at_the_source_follows_the_type() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(
        &["orders"],
        Consumed::with(StringSerde, JsonSerde::<Order>::new()),
    )
    .filter(|_, o| o.cents > 100)
    .map_values(|o| Order {
        cents: o.cents * 2,
        ..o
    })
    .to("doubled");
    let d = driver(b.build()?)?;
    let orders = d.input_topic("orders", StringSerde, JsonSerde::<Order>::new());
    orders.pipe(
        s("o1"),
        Order {
            product: s("tea"),
            cents: 50,
        },
        1,
    )?;
    orders.pipe(
        s("o2"),
        Order {
            product: s("cake"),
            cents: 450,
        },
        2,
    )?;
    let out = d
        .output_topic("doubled", StringSerde, JsonSerde::<Order>::new())
        .read_key_values_with_time()?;
    assert_eq!(
        out,
        vec![(
            s("o2"),
            Order {
                product: s("cake"),
                cents: 900
            },
            2
        )]
    );
    Ok(())
}

/// A sink whose value type has no natural serde and was given none: `build()` fails and says
/// which sink, which serde, which type and what to do.
#[test]
fn a_sink_without_a_serde_fails_the_build_naming_it() {
    let b = StreamsBuilder::new();
    b.stream::<String, String>(&["names"])
        .map_values(Label)
        .to("labels");
    let err = b.build().expect_err("the build must fail").to_string();
    assert_eq!(
        err,
        "invalid topology: the sink `KSTREAM-SINK-0000000002` has no value serde: the stream's \
         value type `natural_serdes::Label` has no natural serde and no operation before gave \
         one; give it with Produced::with(..) (to_with), or implement NaturalSerde (JsonValue \
         for JSON) for the type"
    );
}

/// `Produced::new()` keeps the stream's serdes for the serdes it leaves out.
#[test]
fn produced_without_serdes_uses_the_streams_own() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream::<String, i64>(&["numbers"])
        .map_values(|n| Label(n.to_string()))
        .map_values(|l| l.0.len() as i64)
        .to_with("lengths", Produced::new().with_name("lengths-sink"));
    b.stream::<String, String>(&["names"])
        .map_values(Label)
        .to_with("labels", Produced::new().with_value_serde(LabelSerde));
    let d = driver(b.build()?)?;
    d.input_topic("numbers", StringSerde, I64Serde)
        .pipe(s("n"), 12345, 7)?;
    d.input_topic("names", StringSerde, StringSerde)
        .pipe(s("k"), s("ada"), 8)?;
    assert_eq!(
        d.output_topic("lengths", StringSerde, I64Serde)
            .read_key_values_with_time()?,
        vec![(s("n"), 5, 7)]
    );
    assert_eq!(
        d.output_topic("labels", StringSerde, LabelSerde)
            .read_key_values_with_time()?,
        vec![(s("k"), Label(s("ada")), 8)]
    );
    Ok(())
}

/// Tables, table re-groupings, windowed and session aggregations and global tables, all in
/// their natural forms, give the records the explicit forms give.
#[test]
fn tables_windows_and_global_tables_in_natural_forms() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    // user -> region; regions counted by re-grouping the table.
    b.table::<String, String>("user-regions")
        .group_by(|user, region| (region.clone(), user.clone()))
        .count()
        .to_stream()
        .to("users-per-region");
    // clicks per user in 10 s windows and in sessions with a 5 s gap.
    let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    clicks
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
        .count()
        .to_stream()
        .to_with(
            "clicks-per-window",
            Produced::with(
                TimeWindowedSerde::new(StringSerde, 10_000),
                Nullable(I64Serde),
            ),
        );
    clicks
        .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(
            Duration::from_secs(5),
        ))
        .reduce(|a, b| format!("{a}+{b}"))
        .to_stream()
        .filter(|_, v| v.is_some())
        .map(|w: Windowed<String>, v| (format!("{}@{}", w.key, w.window.start), v))
        .to("click-sessions");
    // prices from a global table.
    let prices = b.global_table::<String, i64>("prices");
    b.stream::<String, String>(&["purchases"])
        .join_global(
            &prices,
            |_, product| product.clone(),
            |product, price| format!("{product}={price}"),
        )
        .to("priced");

    let d = driver(b.build()?)?;
    let regions = d.input_topic("user-regions", StringSerde, Nullable(StringSerde));
    regions.pipe(s("alice"), Some(s("eu")), 1)?;
    regions.pipe(s("bob"), Some(s("eu")), 2)?;
    regions.pipe(s("alice"), Some(s("asia")), 3)?;
    assert_eq!(
        d.output_topic("users-per-region", StringSerde, Nullable(I64Serde))
            .read_key_values_with_time()?,
        vec![
            (s("eu"), Some(1), 1),
            (s("eu"), Some(2), 2),
            (s("eu"), Some(1), 3),
            (s("asia"), Some(1), 3),
        ]
    );

    let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    clicks.pipe(s("ann"), s("a"), 1_000)?;
    clicks.pipe(s("ann"), s("b"), 4_000)?;
    clicks.pipe(s("ann"), s("c"), 12_000)?;
    let windows = d
        .output_topic(
            "clicks-per-window",
            TimeWindowedSerde::new(StringSerde, 10_000),
            Nullable(I64Serde),
        )
        .read_key_values_with_time()?
        .into_iter()
        .map(|(w, n, t)| ((w.key, w.window.start), n, t))
        .collect::<Vec<_>>();
    assert_eq!(
        windows,
        vec![
            ((s("ann"), 0), Some(1), 1_000),
            ((s("ann"), 0), Some(2), 4_000),
            ((s("ann"), 10_000), Some(1), 12_000),
        ]
    );
    assert_eq!(
        d.output_topic("click-sessions", StringSerde, Nullable(StringSerde))
            .read_key_values_with_time()?,
        vec![
            (s("ann@1000"), Some(s("a")), 1_000),
            (s("ann@1000"), Some(s("a+b")), 4_000),
            (s("ann@12000"), Some(s("c")), 12_000),
        ]
    );

    d.input_topic("prices", StringSerde, I64Serde)
        .pipe(s("tea"), 300, 1)?;
    d.input_topic("purchases", StringSerde, StringSerde)
        .pipe(s("p1"), s("tea"), 5)?;
    assert_eq!(
        d.output_topic("priced", StringSerde, StringSerde)
            .read_key_values_with_time()?,
        vec![(s("p1"), s("tea=300"), 5)]
    );
    Ok(())
}
