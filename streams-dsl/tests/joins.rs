//! Stream-table joins on the test driver.

use std::time::Duration;
use streams_core::serde::{Nullable, StringSerde};
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{StreamsConfig, StreamsError};

use streams_dsl::{Consumed, JoinWindows, Materialized, Produced, StreamsBuilder};

fn s(v: &str) -> String {
    v.to_owned()
}

/// An output record: key, value, timestamp.
type Row = (String, String, i64);

/// Orders keyed by customer, joined with the customers table; `left` picks the join.
fn run(left: bool) -> Result<(Vec<Row>, String), StreamsError> {
    let b = StreamsBuilder::new();
    let customers = b.table_with(
        "customers",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_store("customers").in_memory(),
    );
    let orders = b.stream_with(&["orders"], Consumed::with(StringSerde, StringSerde));
    let joined = if left {
        orders.left_join_table(&customers, |order, name| {
            format!("{order} by {}", name.map_or("?", String::as_str))
        })
    } else {
        orders.join_table(&customers, |order, name| format!("{order} by {name}"))
    };
    joined.to_with("enriched", Produced::with(StringSerde, StringSerde));
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

/// A stream joined with a filtered and mapped table: the rows are read from the source
/// table's store through the filter and the mapping (Kafka Streams' value getters), and no
/// store is added for them.
#[test]
fn a_stream_joins_a_filtered_and_mapped_table_through_its_source_store() -> Result<(), StreamsError>
{
    let b = StreamsBuilder::new();
    let vips = b
        .table_with(
            "customers",
            Consumed::with(StringSerde, StringSerde),
            Materialized::as_store("customers"),
        )
        .filter(|_, v| v.starts_with("vip:"))
        .map_values(|v| v.trim_start_matches("vip:").to_uppercase());
    b.stream_with(&["orders"], Consumed::with(StringSerde, StringSerde))
        .left_join_table(&vips, |o, c| {
            format!("{o} for {}", c.map_or("-", String::as_str))
        })
        .to("out");
    let topology = b.build()?;
    let description = topology.describe().to_string();
    assert!(
        description.contains("Processor: KSTREAM-LEFTJOIN-0000000005 (stores: [customers])"),
        "{description}"
    );
    assert_eq!(
        description.matches("(stores: [customers])").count(),
        2,
        "{description}"
    );
    let d = TopologyTestDriver::new(topology, StreamsConfig::new("joins", "unused:9092"))?;
    let customers = d.input_topic("customers", StringSerde, StringSerde);
    let orders = d.input_topic("orders", StringSerde, StringSerde);
    customers.pipe(s("c1"), s("vip:ann"), 1)?;
    customers.pipe(s("c2"), s("bob"), 2)?;
    orders.pipe(s("c1"), s("o1"), 3)?;
    orders.pipe(s("c2"), s("o2"), 4)?;
    customers.pipe(s("c1"), s("carl"), 5)?;
    orders.pipe(s("c1"), s("o3"), 6)?;
    assert_eq!(
        d.output_topic("out", StringSerde, StringSerde)
            .read_key_values_with_time()?,
        vec![
            (s("c1"), s("o1 for ANN"), 3),
            (s("c2"), s("o2 for -"), 4),
            (s("c1"), s("o3 for -"), 6),
        ]
    );
    Ok(())
}

/// A table whose rows no store holds (a foreign-key join's result) cannot be joined: the
/// error says what to do.
#[test]
fn joining_a_table_whose_rows_cannot_be_read_is_refused() {
    let b = StreamsBuilder::new();
    let strings = || Consumed::with(StringSerde, StringSerde);
    let orders = b.table_with("orders", strings(), Materialized::new());
    let customers = b.table_with("customers", strings(), Materialized::new());
    let joined = orders.join_on_foreign_key(&customers, |c| c.clone(), |o, c| format!("{o}{c}"));
    b.stream_with(&["clicks"], strings())
        .join_table(&joined, |o, c| format!("{o}{c}"))
        .to("out");
    let err = b.build().expect_err("refused").to_string();
    assert_eq!(
        err,
        "invalid topology: join `KSTREAM-JOIN-0000000013`: the rows of table \
         `KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-0000000011` cannot be read (it is a \
         foreign-key join's result, kept in no store); turn it into a table that can with \
         to_stream().to_table_with(..)"
    );
}

/// A suppressed table is read as Kafka Streams' suppress value getter reads it: a key whose
/// update is buffered reads its prior value (what downstream last saw), other keys the table
/// upstream.
#[test]
fn a_stream_joins_a_suppressed_table_as_downstream_saw_it() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let users = b.table::<String, String>("users").suppress(
        streams_dsl::suppress::Suppressed::until_time_limit(
            Duration::from_millis(10),
            streams_dsl::suppress::BufferConfig::unbounded(),
        ),
    );
    b.stream::<String, String>(&["clicks"])
        .left_join_table(&users, |c, u| {
            format!("{c}@{}", u.map_or("-", String::as_str))
        })
        .to("out");
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("joins", "unused:9092"))?;
    let users = d.input_topic("users", StringSerde, StringSerde);
    let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    users.pipe(s("ann"), s("eu"), 0)?;
    // Buffered, not yet emitted: no prior value, so no row.
    clicks.pipe(s("ann"), s("c1"), 1)?;
    users.pipe(s("bob"), s("us"), 20)?; // ann's update goes out (20 - 10 >= 0)
    clicks.pipe(s("ann"), s("c2"), 21)?;
    users.pipe(s("ann"), s("apac"), 22)?; // buffered: the prior is "eu"
    clicks.pipe(s("ann"), s("c3"), 23)?;
    // bob's update is buffered with no prior.
    clicks.pipe(s("bob"), s("c4"), 24)?;
    assert_eq!(
        d.output_topic("out", StringSerde, StringSerde)
            .read_key_values_with_time()?,
        vec![
            (s("ann"), s("c1@-"), 1),
            (s("ann"), s("c2@eu"), 21),
            (s("ann"), s("c3@eu"), 23),
            (s("bob"), s("c4@-"), 24),
        ]
    );
    Ok(())
}

/// A table-table join's result is read through both sides' rows: a stream joined with it
/// sees the joined row, stamped with the later of the rows' timestamps (what Kafka Streams'
/// join value getters return), and no store is added for it.
#[test]
fn a_stream_joins_the_result_of_a_table_table_join_through_both_sides() -> Result<(), StreamsError>
{
    let b = StreamsBuilder::new();
    let regions = b.table::<String, String>("regions");
    let plans = b.table::<String, String>("plans");
    let both = regions.left_join(&plans, |r, p| {
        format!("{r}/{}", p.map_or("-", String::as_str))
    });
    b.stream::<String, String>(&["orders"])
        .left_join_table(&both, |o, c| {
            format!("{o} {}", c.map_or("none", String::as_str))
        })
        .to("out");
    let topology = b.build()?;
    let description = topology.describe().to_string();
    // The join reads both tables' stores; no store is added for the joined rows.
    assert!(
        description.contains(
            "Processor: KSTREAM-LEFTJOIN-0000000010 (stores: [regions-STATE-STORE-0000000000, \
             plans-STATE-STORE-0000000003])"
        ),
        "{description}"
    );
    assert!(
        description.contains("Processor: KTABLE-MERGE-0000000006 (stores: [])"),
        "{description}"
    );
    let d = TopologyTestDriver::new(topology, StreamsConfig::new("joins", "unused:9092"))?;
    d.input_topic("regions", StringSerde, StringSerde)
        .pipe(s("ann"), s("eu"), 1)?;
    d.input_topic("plans", StringSerde, StringSerde)
        .pipe(s("ann"), s("pro"), 5)?;
    d.input_topic("plans", StringSerde, StringSerde)
        .pipe(s("bob"), s("free"), 6)?;
    let orders = d.input_topic("orders", StringSerde, StringSerde);
    orders.pipe(s("ann"), s("o1"), 7)?;
    orders.pipe(s("bob"), s("o2"), 8)?;
    orders.pipe(s("cid"), s("o3"), 9)?;
    assert_eq!(
        d.output_topic("out", StringSerde, StringSerde)
            .read_key_values_with_time()?,
        vec![
            (s("ann"), s("o1 eu/pro"), 7),
            // A left join has no row without a left one.
            (s("bob"), s("o2 none"), 8),
            (s("cid"), s("o3 none"), 9),
        ]
    );
    Ok(())
}

type TableRow = (String, Option<String>, i64);

/// A table made by joining two others.
type Table = streams_dsl::KTable<String, String>;

/// Joins the left table with the right one.
type TableJoin<'a> = dyn Fn(&Table, &Table) -> Table + 'a;

/// An input record: topic, key, value (`None`: a delete), timestamp.
type Step<'a> = (&'a str, &'a str, Option<&'a str>, i64);

/// The tables read from `left` and `right` (named stores of the same names), joined by `join`
/// and fed `steps`: the joined rows as a stream, and the topology's repartition topic count.
fn join_tables(
    (left, right): (&str, &str),
    join: &TableJoin<'_>,
    steps: &[Step<'_>],
) -> Result<(Vec<TableRow>, usize), StreamsError> {
    let b = StreamsBuilder::new();
    let table = |topic: &str| {
        b.table_with(
            topic,
            Consumed::with(StringSerde, StringSerde),
            Materialized::as_store(topic).in_memory(),
        )
    };
    let (left, right) = (table(left), table(right));
    join(&left, &right)
        .to_stream()
        .to_with("joined", Produced::with(StringSerde, Nullable(StringSerde)));
    let topology = b.build()?;
    let repartition_topics = topology.repartition_topics().len();
    let d = TopologyTestDriver::new(topology, StreamsConfig::new("joins", "unused:9092"))?;
    for (topic, key, value, t) in steps {
        d.input_topic(topic, StringSerde, Nullable(StringSerde))
            .pipe(s(key), value.map(s), *t)?;
    }
    let out = d
        .output_topic("joined", StringSerde, Nullable(StringSerde))
        .read_key_values_with_time()?;
    Ok((out, repartition_topics))
}

/// Left table `names` and right table `cities`, joined by `join`, as a stream.
fn tables(join: impl Fn(&Table, &Table) -> Table) -> Result<Vec<TableRow>, StreamsError> {
    let steps = [
        ("names", "u1", Some("Ann"), 1),   // no city yet
        ("cities", "u1", Some("Oslo"), 2), // now both
        ("cities", "u2", Some("Rome"), 3), // a city without a name
        ("names", "u1", Some("Anna"), 4),  // an update on the left
        ("cities", "u1", None, 5),         // the right row goes
        ("names", "u1", None, 6),          // then the left one
    ];
    Ok(join_tables(("names", "cities"), &join, &steps)?.0)
}

fn row(k: &str, v: Option<&str>, t: i64) -> TableRow {
    (s(k), v.map(s), t)
}

#[test]
fn an_inner_table_join_has_rows_while_both_sides_do() -> Result<(), StreamsError> {
    let out = tables(|a, b| a.join(b, |n, c| format!("{n}@{c}")))?;
    assert_eq!(
        out,
        vec![
            row("u1", Some("Ann@Oslo"), 2),
            row("u1", Some("Anna@Oslo"), 4),
            row("u1", None, 5),
        ]
    );
    Ok(())
}

#[test]
fn a_left_table_join_keeps_left_rows_without_a_match() -> Result<(), StreamsError> {
    let out =
        tables(|a, b| a.left_join(b, |n, c| format!("{n}@{}", c.map_or("-", String::as_str))))?;
    assert_eq!(
        out,
        vec![
            row("u1", Some("Ann@-"), 1),
            row("u1", Some("Ann@Oslo"), 2),
            row("u1", Some("Anna@Oslo"), 4),
            row("u1", Some("Anna@-"), 5),
            row("u1", None, 6),
        ]
    );
    Ok(())
}

#[test]
fn an_outer_table_join_has_rows_while_either_side_does() -> Result<(), StreamsError> {
    let out = tables(|a, b| {
        a.outer_join(b, |n, c| {
            format!(
                "{}@{}",
                n.map_or("-", String::as_str),
                c.map_or("-", String::as_str)
            )
        })
    })?;
    assert_eq!(
        out,
        vec![
            row("u1", Some("Ann@-"), 1),
            row("u1", Some("Ann@Oslo"), 2),
            row("u2", Some("-@Rome"), 3),
            row("u1", Some("Anna@Oslo"), 4),
            row("u1", Some("Anna@-"), 5),
            row("u1", None, 6),
        ]
    );
    Ok(())
}

#[test]
fn an_inner_stream_stream_join_pairs_records_within_the_window() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let clicks = b.stream_with(&["clicks"], Consumed::with(StringSerde, StringSerde));
    let views = b.stream_with(&["views"], Consumed::with(StringSerde, StringSerde));
    clicks
        .join(
            &views,
            |click, view| format!("{click}+{view}"),
            streams_dsl::JoinWindows::of_time_difference_with_no_grace(
                std::time::Duration::from_millis(10),
            ),
        )
        .to_with("pairs", Produced::with(StringSerde, StringSerde));
    let topology = b.build()?;
    let description = topology.describe().to_string();
    assert!(
        description.contains(
            "Processor: KSTREAM-JOINTHIS-0000000004 (stores: [KSTREAM-JOINOTHER-0000000005-store])"
        ),
        "{description}"
    );
    let d = TopologyTestDriver::new(topology, StreamsConfig::new("joins", "unused:9092"))?;
    let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    let views = d.input_topic("views", StringSerde, StringSerde);
    views.pipe(s("a"), s("v1"), 5)?;
    clicks.pipe(s("a"), s("c1"), 12)?; // v1 is 7 before: a pair
    views.pipe(s("a"), s("v2"), 20)?; // c1 is 8 before: a pair
    clicks.pipe(s("a"), s("c2"), 40)?; // nothing within 10
    views.pipe(s("b"), s("v3"), 41)?; // another key
    // Out of order: v2 (20) would be within 10, but the stores keep records for the window
    // plus grace (20 ms) behind stream time 41, so v2 is gone and c3 finds nothing.
    clicks.pipe(s("a"), s("c3"), 25)?;
    assert_eq!(
        d.output_topic("pairs", StringSerde, StringSerde)
            .read_key_values_with_time()?,
        vec![(s("a"), s("c1+v1"), 12), (s("a"), s("c1+v2"), 20)]
    );
    Ok(())
}

/// Clicks (left) and views (right) joined within 10 ms, no grace, by `join`.
fn stream_join(
    join: impl Fn(
        &streams_dsl::KStream<String, String>,
        &streams_dsl::KStream<String, String>,
    ) -> streams_dsl::KStream<String, String>,
) -> Result<Vec<Row>, StreamsError> {
    stream_join_with(
        join,
        &[
            ("clicks", "a", "c1", 0),  // waits for a view
            ("views", "a", "v1", 5),   // matches c1: c1 no longer waits
            ("clicks", "b", "c2", 6),  // never matched
            ("views", "a", "v2", 30),  // stream time 30 closes c2's window (6 + 10 < 30)
            ("clicks", "a", "c3", 50), // stream time 50 closes v2's window (30 + 10 < 50)
        ],
    )
}

/// Like [`stream_join`], with the records given as (topic, key, value, timestamp).
fn stream_join_with(
    join: impl Fn(
        &streams_dsl::KStream<String, String>,
        &streams_dsl::KStream<String, String>,
    ) -> streams_dsl::KStream<String, String>,
    records: &[(&str, &str, &str, i64)],
) -> Result<Vec<Row>, StreamsError> {
    let b = StreamsBuilder::new();
    let clicks = b.stream_with(&["clicks"], Consumed::with(StringSerde, StringSerde));
    let views = b.stream_with(&["views"], Consumed::with(StringSerde, StringSerde));
    join(&clicks, &views).to_with("pairs", Produced::with(StringSerde, StringSerde));
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("joins", "unused:9092"))?;
    for (topic, k, v, t) in records {
        d.input_topic(topic, StringSerde, StringSerde)
            .pipe(s(k), s(v), *t)?;
    }
    d.output_topic("pairs", StringSerde, StringSerde)
        .read_key_values_with_time()
}

/// Clicks left-joined with views within 10 ms: `click+view`, `-` for no view.
fn left_join_clicks(
    clicks: &streams_dsl::KStream<String, String>,
    views: &streams_dsl::KStream<String, String>,
) -> streams_dsl::KStream<String, String> {
    clicks.left_join(
        views,
        |c, v| format!("{c}+{}", v.map_or("-", String::as_str)),
        within_10ms(),
    )
}

/// `click|view`, `null` for a missing side.
fn both_or_null(c: Option<&String>, v: Option<&String>) -> String {
    format!(
        "{}|{}",
        c.map_or("null", String::as_str),
        v.map_or("null", String::as_str)
    )
}

/// Clicks outer-joined with the views from 3 to 10 ms later (`before` -3 ms), grace 5 ms.
fn outer_join_asymmetric(
    clicks: &streams_dsl::KStream<String, String>,
    views: &streams_dsl::KStream<String, String>,
) -> streams_dsl::KStream<String, String> {
    clicks.outer_join(
        views,
        both_or_null,
        streams_dsl::JoinWindows::of_time_difference_and_grace(
            std::time::Duration::from_millis(10),
            std::time::Duration::from_millis(5),
        )
        .before_ms(-3),
    )
}

fn within_10ms() -> streams_dsl::JoinWindows {
    streams_dsl::JoinWindows::of_time_difference_with_no_grace(std::time::Duration::from_millis(10))
}

#[test]
fn a_left_stream_join_emits_unmatched_records_only_after_their_window_closes()
-> Result<(), StreamsError> {
    let out = stream_join(left_join_clicks)?;
    assert_eq!(
        out,
        vec![(s("a"), s("c1+v1"), 5), (s("b"), s("c2+-"), 6)],
        "c1 matched, so it is never emitted alone; c2 is, with its own timestamp, once \
         its window closed; unmatched views are not emitted"
    );
    Ok(())
}

#[test]
fn an_outer_stream_join_emits_unmatched_records_of_both_sides() -> Result<(), StreamsError> {
    let out = stream_join(|clicks, views| {
        clicks.outer_join(
            views,
            |c, v| {
                format!(
                    "{}+{}",
                    c.map_or("-", String::as_str),
                    v.map_or("-", String::as_str)
                )
            },
            within_10ms(),
        )
    })?;
    assert_eq!(
        out,
        vec![
            (s("a"), s("c1+v1"), 5),
            (s("b"), s("c2+-"), 6),
            (s("a"), s("-+v2"), 30),
        ]
    );
    Ok(())
}

/// Asymmetric windows (`before` 3 ms *after* the record, `after` 10 ms, grace 5 ms): a click
/// joins the views from 3 to 10 ms later; a view closes at its time - 3 + 5, a click at its
/// time + 10 + 5, each side by its own bound. Kafka Streams 4.1.1 emits the first two records
/// alike (`differential/`, variant `stream-stream-outer-asymmetric`) and holds the third back
/// until a later scan (docs/architecture.md, "Differences from Kafka Streams").
#[test]
fn asymmetric_join_windows_close_each_side_by_its_own_bound() -> Result<(), StreamsError> {
    let out = stream_join_with(
        outer_join_asymmetric,
        &[
            ("views", "b", "1", 0),  // closes at stream time 3 (0 - 3 + 5 < 3)
            ("clicks", "a", "2", 1), // closes at stream time 17 (1 + 10 + 5 < 17)
            ("clicks", "c", "3", 5), // emits b's view first
            ("views", "c", "4", 9),  // joins c's click at 5 (5 + 3 <= 9 <= 5 + 10)
            ("clicks", "d", "5", 20),
        ],
    )?;
    assert_eq!(
        out,
        vec![
            (s("b"), s("null|1"), 0),
            (s("c"), s("3|4"), 9),
            (s("a"), s("2|null"), 1)
        ]
    );
    Ok(())
}

/// A window that ends before its record (`before` -3 ms: the other side joins from 3 to 10 ms
/// later): a right record at stream time is past its own window at once and goes out
/// unmatched, but only after the left record whose window closed meanwhile, as Kafka Streams
/// 4.1.1 emits them (found by the differential suite, variant
/// `stream-stream-outer-asymmetric`; the left record is still joined by the late right one).
#[test]
fn a_record_past_its_own_window_goes_out_after_the_unmatched_records_that_closed()
-> Result<(), StreamsError> {
    let out = stream_join_with(
        outer_join_asymmetric,
        &[
            ("clicks", "k2", "63", 3052),
            ("views", "k2", "39", 3072),
            ("views", "k2", "63", 3061),
        ],
    )?;
    assert_eq!(
        out,
        vec![
            (s("k2"), s("63|null"), 3052),
            (s("k2"), s("null|39"), 3072),
            (s("k2"), s("63|63"), 3061),
        ]
    );
    Ok(())
}

#[test]
fn a_stream_join_after_a_key_change_repartitions_that_side() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let clicks = b.stream_with(&["clicks"], Consumed::with(StringSerde, StringSerde));
    // Views arrive keyed by page with the user as value; re-keyed by user to join.
    let views = b
        .stream_with(&["views"], Consumed::with(StringSerde, StringSerde))
        .select_key(|_page, user| user.clone());
    clicks
        .join(
            &views.with_serdes(StringSerde, StringSerde),
            |c, page_user| format!("{c}+{page_user}"),
            within_10ms(),
        )
        .to_with("pairs", Produced::with(StringSerde, StringSerde));
    let topology = b.build()?;
    assert_eq!(
        topology.repartition_topics(),
        vec!["KSTREAM-KEY-SELECT-0000000002-repartition"]
    );
    let d = TopologyTestDriver::new(topology, StreamsConfig::new("joins", "unused:9092"))?;
    d.input_topic("clicks", StringSerde, StringSerde)
        .pipe(s("ann"), s("c1"), 1)?;
    d.input_topic("views", StringSerde, StringSerde)
        .pipe(s("page-9"), s("ann"), 2)?;
    assert_eq!(
        d.output_topic("pairs", StringSerde, StringSerde)
            .read_key_values_with_time()?,
        vec![(s("ann"), s("c1+ann"), 2)]
    );

    // Without serdes for the changed side (a value type with no natural serde), the join
    // says what to do.
    let b = StreamsBuilder::new();
    let clicks = b.stream_with(&["clicks"], Consumed::with(StringSerde, StringSerde));
    let by_user = b
        .stream_with(&["views"], Consumed::with(StringSerde, StringSerde))
        .select_key(|_, user| user.clone())
        .map_values(|page| (page,));
    clicks
        .join(&by_user, |c, v| format!("{c}+{}", v.0), within_10ms())
        .to("pairs");
    let err = b.build().expect_err("refused").to_string();
    assert!(
        err.contains("needs key and value serdes: the operation before the join changed"),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_global_table_join_looks_up_a_key_computed_from_the_record() -> Result<(), StreamsError> {
    for left in [false, true] {
        let b = StreamsBuilder::new();
        let products = b.global_table_with("products", Consumed::with(StringSerde, StringSerde));
        let orders = b.stream_with(&["orders"], Consumed::with(StringSerde, StringSerde));
        let enriched = if left {
            orders.left_join_global(
                &products,
                |_order, product| product.clone(),
                |product, name| format!("{product}:{}", name.map_or("?", String::as_str)),
            )
        } else {
            orders.join_global(
                &products,
                |_order, product| product.clone(),
                |product, name| format!("{product}:{name}"),
            )
        };
        enriched.to_with("enriched", Produced::with(StringSerde, StringSerde));
        let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("joins", "unused:9092"))?;
        let products = d.input_topic("products", StringSerde, Nullable(StringSerde));
        let orders = d.input_topic("orders", StringSerde, StringSerde);
        products.pipe(s("p1"), Some(s("pen")), 1)?;
        orders.pipe(s("o1"), s("p1"), 10)?;
        orders.pipe(s("o2"), s("p2"), 11)?; // no such product
        products.pipe(s("p1"), None, 12)?; // the pen is gone
        orders.pipe(s("o3"), s("p1"), 13)?;
        let out = d
            .output_topic("enriched", StringSerde, StringSerde)
            .read_key_values_with_time()?;
        let expected = if left {
            vec![
                (s("o1"), s("p1:pen"), 10),
                (s("o2"), s("p2:?"), 11),
                (s("o3"), s("p1:?"), 13),
            ]
        } else {
            vec![(s("o1"), s("p1:pen"), 10)]
        };
        assert_eq!(out, expected, "left: {left}");
    }
    Ok(())
}

#[test]
fn a_foreign_key_join_follows_both_tables() -> Result<(), StreamsError> {
    for left in [false, true] {
        let join = move |products: &Table, categories: &Table| {
            if left {
                products.left_join_on_foreign_key(
                    categories,
                    |p: &String| category_of(p),
                    |p, c| format!("{} in {}", name_of(p), c.map_or("?", String::as_str)),
                )
            } else {
                products.join_on_foreign_key(
                    categories,
                    |p: &String| category_of(p),
                    |p, c| format!("{} in {c}", name_of(p)),
                )
            }
        };
        let steps = [
            ("categories", "c1", Some("office"), 1),
            ("products", "p1", Some("pen|c1"), 2),
            ("products", "p2", Some("mug|c2"), 3), // no category c2 yet
            ("categories", "c2", Some("kitchen"), 4), // p2 now joins
            ("categories", "c1", Some("stationery"), 5), // p1 follows its category
            ("products", "p1", Some("pen|c2"), 6), // p1 moves to c2
            ("categories", "c1", Some("gone"), 7), // nobody is in c1 any more
            ("products", "p2", None, 8),           // p2 is deleted
            ("categories", "c2", None, 9),         // c2 is deleted: p1 loses its match
            ("products", "p3", Some("cup|c1"), 10),
            ("products", "p3", Some("cup|c9"), 11), // moves to a category with no row
        ];
        let (out, repartition_topics) = join_tables(("products", "categories"), &join, &steps)?;
        assert_eq!(repartition_topics, 2);
        let row = |k: &str, v: Option<&str>, t: i64| (s(k), v.map(s), t);
        let expected = if left {
            vec![
                row("p1", Some("pen in office"), 2),
                row("p2", Some("mug in ?"), 3),
                row("p2", Some("mug in kitchen"), 4),
                row("p1", Some("pen in stationery"), 5),
                row("p1", Some("pen in kitchen"), 6),
                row("p2", None, 8),
                row("p1", Some("pen in ?"), 9),
                row("p3", Some("cup in gone"), 10),
                row("p3", Some("cup in ?"), 11),
            ]
        } else {
            vec![
                row("p1", Some("pen in office"), 2),
                row("p2", Some("mug in kitchen"), 4),
                row("p1", Some("pen in stationery"), 5),
                row("p1", Some("pen in kitchen"), 6),
                row("p2", None, 8),
                row("p1", None, 9),
                row("p3", Some("cup in gone"), 10),
                // Its old result goes: no row for c9.
                row("p3", None, 11),
            ]
        };
        assert_eq!(out, expected, "left: {left}");
    }
    Ok(())
}

#[test]
fn out_of_order_stream_join_records_join_what_the_stores_still_hold() -> Result<(), StreamsError> {
    // As Kafka Streams: a join never drops a late record; it joins whatever is still in the
    // other side's store (retained for the window plus grace).
    let b = StreamsBuilder::new();
    let clicks = b.stream_with(&["clicks"], Consumed::with(StringSerde, StringSerde));
    let views = b.stream_with(&["views"], Consumed::with(StringSerde, StringSerde));
    clicks
        .join(
            &views,
            |c, v| format!("{c}+{v}"),
            streams_dsl::JoinWindows::of_time_difference_and_grace(
                std::time::Duration::from_millis(10),
                std::time::Duration::from_millis(20),
            ),
        )
        .to_with("pairs", Produced::with(StringSerde, StringSerde));
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("joins", "unused:9092"))?;
    let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    let views = d.input_topic("views", StringSerde, StringSerde);
    clicks.pipe(s("a"), s("c50"), 50)?;
    views.pipe(s("a"), s("v45"), 45)?; // out of order: joins c50
    clicks.pipe(s("a"), s("c15"), 15)?; // far behind, nothing within 10
    views.pipe(s("a"), s("v22"), 22)?; // out of order too: joins c15, still retained
    assert_eq!(
        d.output_topic("pairs", StringSerde, StringSerde)
            .read_key_values_with_time()?,
        vec![(s("a"), s("c50+v45"), 50), (s("a"), s("c15+v22"), 22)]
    );
    Ok(())
}

#[test]
fn a_left_stream_join_emits_a_late_unmatched_record_at_once() -> Result<(), StreamsError> {
    let out = stream_join_with(
        left_join_clicks,
        &[
            ("clicks", "a", "c1", 50),
            ("clicks", "b", "c2", 10),
            ("clicks", "b", "c3", 10),
        ],
    )?;
    // c2 and c3 (same key and time) come after stream time 50, past their windows: each is
    // emitted unmatched at once; c1 still waits for its window to close.
    assert_eq!(out, vec![(s("b"), s("c2+-"), 10), (s("b"), s("c3+-"), 10)]);
    Ok(())
}

#[test]
fn unmatched_records_with_the_same_key_and_time_are_all_emitted() -> Result<(), StreamsError> {
    let out = stream_join_with(
        left_join_clicks,
        &[
            ("clicks", "a", "c1", 5),
            ("clicks", "a", "c2", 5),
            ("views", "z", "v", 40),
        ],
    )?;
    assert_eq!(out, vec![(s("a"), s("c1+-"), 5), (s("a"), s("c2+-"), 5)]);
    Ok(())
}

#[test]
fn regrouping_a_foreign_key_join_result_is_refused_until_materialized() {
    let b = StreamsBuilder::new();
    let products = b.table_with(
        "products",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_store("products"),
    );
    let categories = b.table_with(
        "categories",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_store("categories"),
    );
    products
        .join_on_foreign_key(&categories, |p| p.clone(), |p, c| format!("{p}{c}"))
        .group_by_with(
            |k, v| (v.clone(), k.clone()),
            streams_dsl::Grouped::with(StringSerde, StringSerde),
        )
        .count_with(Materialized::new());
    let err = b.build().expect_err("refused").to_string();
    assert!(
        err.contains("does not carry its rows' previous values"),
        "{err}"
    );
}

/// A delete on one side of a key that side never had, while the other side has a row:
/// Kafka Streams' inner and left table-table joins forward a delete for it (its output for
/// `cities:k1=99@22`, then `names:k1=null@27` is `(k1, null)@27`), and the outer join the
/// row with the other side alone.
#[test]
fn a_delete_of_a_row_one_side_never_had_is_forwarded_while_the_other_side_has_one()
-> Result<(), StreamsError> {
    let run = |join: &TableJoin<'_>| -> Result<Vec<TableRow>, StreamsError> {
        let steps = [("cities", "k1", Some("99"), 22), ("names", "k1", None, 27)];
        Ok(join_tables(("names", "cities"), join, &steps)?.0)
    };
    let inner = run(&|a, b| a.join(b, |n, c| format!("{n}|{c}")))?;
    assert_eq!(inner, vec![row("k1", None, 27)]);
    let left = run(&|a, b| a.left_join(b, |n, c| format!("{n}|{c:?}")))?;
    assert_eq!(left, vec![row("k1", None, 27)]);
    let outer = run(&|a, b| {
        a.outer_join(b, |n, c| {
            format!(
                "{}|{}",
                n.map_or("null", String::as_str),
                c.map_or("null", String::as_str)
            )
        })
    })?;
    assert_eq!(
        outer,
        vec![
            row("k1", Some("null|99"), 22),
            row("k1", Some("null|99"), 27)
        ]
    );
    Ok(())
}

/// The category of a product `name|category`.
fn category_of(p: &str) -> String {
    p.split('|').nth(1).unwrap_or_default().to_owned()
}

/// The name of a product `name|category`.
fn name_of(p: &str) -> String {
    p.split('|').next().unwrap_or_default().to_owned()
}

/// `products` (value `name|category`) joined on their category with `categories`, inner or
/// left, fed `steps` (topic, key, value, timestamp); the joined rows as `(key, value, time)`.
fn foreign_key_join(left: bool, steps: &[Step<'_>]) -> Result<Vec<TableRow>, StreamsError> {
    let join = move |products: &Table, categories: &Table| {
        if left {
            products.left_join_on_foreign_key(
                categories,
                |p: &String| category_of(p),
                |p, c| format!("{}|{}", name_of(p), c.map_or("null", String::as_str)),
            )
        } else {
            products.join_on_foreign_key(
                categories,
                |p: &String| category_of(p),
                |p, c| format!("{}|{c}", name_of(p)),
            )
        }
    };
    Ok(join_tables(("products", "categories"), &join, steps)?.0)
}

/// Kafka Streams stamps a result the left side triggers, and an inner join's delete of a left
/// row, with the later of the left record's and the right row's timestamps
/// (`categories:f1=48@22`, then `products:k3=81@21` gives `(k3, "81|48")@22`); a left join's
/// delete carries the left record's own timestamp, even an earlier one (Kafka Streams 4.1.1,
/// found by the differential suite).
#[test]
fn a_foreign_key_join_result_has_the_later_of_both_rows_timestamps() -> Result<(), StreamsError> {
    for left in [false, true] {
        let out = foreign_key_join(
            left,
            &[
                ("categories", "f1", Some("48"), 22),
                ("products", "k3", Some("81|f1"), 21),
                ("products", "k3", None, 20),
            ],
        )?;
        assert_eq!(
            out,
            vec![
                row("k3", Some("81|48"), 22),
                row("k3", None, if left { 20 } else { 22 })
            ],
            "left join: {left}"
        );
    }
    Ok(())
}

/// An update of a row that keeps a foreign key with no row: the inner join had no result for
/// it and emits none (Kafka Streams 4.1's output for `products:kk2=57|f1@0`, then
/// `products:kk2=17|f1@27`, with no `f1` row, is empty); the left join updates its row.
#[test]
fn an_update_keeping_an_unmatched_foreign_key_emits_no_inner_join_delete()
-> Result<(), StreamsError> {
    let steps = [
        ("products", "kk2", Some("57|f1"), 0),
        ("products", "kk2", Some("17|f1"), 27),
    ];
    assert_eq!(foreign_key_join(false, &steps)?, vec![]);
    assert_eq!(
        foreign_key_join(true, &steps)?,
        vec![
            row("kk2", Some("57|null"), 0),
            row("kk2", Some("17|null"), 27)
        ]
    );
    Ok(())
}

/// A record at stream time first emits the unmatched records whose windows closed, then its
/// own results: Kafka Streams' output for `clicks:k10=28@436`, `clicks:k10=81@450`,
/// `views:k10=85@455` (left join, 10 ms, 5 ms grace) is `28|null` (closed at 455), then
/// `81|85`.
#[test]
fn expired_unmatched_records_come_before_the_records_own_results() -> Result<(), StreamsError> {
    let out = stream_join_with(
        |clicks, views| {
            clicks.left_join(
                views,
                |c, v| format!("{c}|{}", v.map_or("null", String::as_str)),
                streams_dsl::JoinWindows::of_time_difference_and_grace(
                    std::time::Duration::from_millis(10),
                    std::time::Duration::from_millis(5),
                ),
            )
        },
        &[
            ("clicks", "k10", "28", 436),
            ("clicks", "k10", "81", 450),
            ("views", "k10", "85", 455),
        ],
    )?;
    assert_eq!(
        out,
        vec![(s("k10"), s("28|null"), 436), (s("k10"), s("81|85"), 455)]
    );
    Ok(())
}

/// Unmatched records closing together come out by timestamp, then the right side before the
/// left, then by key bytes (`k10` before `k9`), as Kafka Streams' outer join store sorts them.
#[test]
fn unmatched_outer_join_records_come_out_right_side_first_and_in_key_byte_order()
-> Result<(), StreamsError> {
    let out = stream_join_with(
        |clicks, views| clicks.outer_join(views, both_or_null, within_10ms()),
        &[
            ("clicks", "b", "B", 10),
            ("views", "a", "A", 10),
            ("clicks", "k9", "K9", 20),
            ("clicks", "k10", "K10", 20),
            ("clicks", "z", "Z", 100),
        ],
    )?;
    assert_eq!(
        out,
        vec![
            (s("a"), s("null|A"), 10),
            (s("b"), s("B|null"), 10),
            (s("k10"), s("K10|null"), 20),
            (s("k9"), s("K9|null"), 20),
        ]
    );
    Ok(())
}

/// The internal topics and node names of joins after a key change, as Kafka Streams 4.1.1
/// names them (its `describe()` of the same two topologies, taken from it): the repartition
/// topic is named after the re-keyed stream's node, and the join's nodes are numbered after
/// the repartition's. One line differs: Kafka Streams lists the stream-stream merge's two
/// predecessors the other way round (`docs/architecture.md`, "Differences from Kafka
/// Streams": nodes of equal sub-trees).
#[test]
fn joins_after_a_key_change_name_their_repartition_topics_as_kafka_streams()
-> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let t = b.table::<String, String>("tbl");
    b.stream::<String, String>(&["in"])
        .select_key(|_, v| v.clone())
        .join_table(&t, |x, y| format!("{x}{y}"))
        .to("out");
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000007 (topics: [KSTREAM-KEY-SELECT-0000000004-repartition])
      --> KSTREAM-JOIN-0000000008
    Processor: KSTREAM-JOIN-0000000008 (stores: [tbl-STATE-STORE-0000000000])
      --> KSTREAM-SINK-0000000009
      <-- KSTREAM-SOURCE-0000000007
    Source: KSTREAM-SOURCE-0000000001 (topics: [tbl])
      --> KTABLE-SOURCE-0000000002
    Sink: KSTREAM-SINK-0000000009 (topic: out)
      <-- KSTREAM-JOIN-0000000008
    Processor: KTABLE-SOURCE-0000000002 (stores: [tbl-STATE-STORE-0000000000])
      --> none
      <-- KSTREAM-SOURCE-0000000001

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000003 (topics: [in])
      --> KSTREAM-KEY-SELECT-0000000004
    Processor: KSTREAM-KEY-SELECT-0000000004 (stores: [])
      --> KSTREAM-FILTER-0000000006
      <-- KSTREAM-SOURCE-0000000003
    Processor: KSTREAM-FILTER-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-KEY-SELECT-0000000004
    Sink: KSTREAM-SINK-0000000005 (topic: KSTREAM-KEY-SELECT-0000000004-repartition)
      <-- KSTREAM-FILTER-0000000006

";
    assert_eq!(b.build()?.describe().to_string(), expected);

    let c = StreamsBuilder::new();
    let l = c.stream::<String, String>(&["l"]);
    let r = c
        .stream::<String, String>(&["r"])
        .select_key(|_, v| v.clone());
    l.join(
        &r,
        |x, y| format!("{x}{y}"),
        JoinWindows::of_time_difference_with_no_grace(Duration::from_millis(10)),
    )
    .to("out");
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [l])
      --> KSTREAM-WINDOWED-0000000006
    Source: KSTREAM-SOURCE-0000000005 (topics: [KSTREAM-KEY-SELECT-0000000002-repartition])
      --> KSTREAM-WINDOWED-0000000007
    Processor: KSTREAM-WINDOWED-0000000006 (stores: [KSTREAM-JOINTHIS-0000000008-store])
      --> KSTREAM-JOINTHIS-0000000008
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-WINDOWED-0000000007 (stores: [KSTREAM-JOINOTHER-0000000009-store])
      --> KSTREAM-JOINOTHER-0000000009
      <-- KSTREAM-SOURCE-0000000005
    Processor: KSTREAM-JOINOTHER-0000000009 (stores: [KSTREAM-JOINTHIS-0000000008-store])
      --> KSTREAM-MERGE-0000000010
      <-- KSTREAM-WINDOWED-0000000007
    Processor: KSTREAM-JOINTHIS-0000000008 (stores: [KSTREAM-JOINOTHER-0000000009-store])
      --> KSTREAM-MERGE-0000000010
      <-- KSTREAM-WINDOWED-0000000006
    Processor: KSTREAM-MERGE-0000000010 (stores: [])
      --> KSTREAM-SINK-0000000011
      <-- KSTREAM-JOINOTHER-0000000009, KSTREAM-JOINTHIS-0000000008
    Sink: KSTREAM-SINK-0000000011 (topic: out)
      <-- KSTREAM-MERGE-0000000010

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000001 (topics: [r])
      --> KSTREAM-KEY-SELECT-0000000002
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> KSTREAM-FILTER-0000000004
      <-- KSTREAM-SOURCE-0000000001
    Processor: KSTREAM-FILTER-0000000004 (stores: [])
      --> KSTREAM-SINK-0000000003
      <-- KSTREAM-KEY-SELECT-0000000002
    Sink: KSTREAM-SINK-0000000003 (topic: KSTREAM-KEY-SELECT-0000000002-repartition)
      <-- KSTREAM-FILTER-0000000004

";
    assert_eq!(c.build()?.describe().to_string(), expected);
    Ok(())
}
