//! `KTable::suppress` on the test driver: final results of time and session windows, time
//! limits, full buffers, and the misuses refused when the topology is built. The outputs are
//! Kafka Streams' for the same input (the differential suite runs the same operators against
//! it: `tumbling-suppress`, `session-suppress`, `table-suppress-limit`).

use std::time::Duration;

use streams_core::serde::{I64Serde, Nullable, StringSerde};
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{
    SessionWindowedSerde, StreamsConfig, StreamsError, TimeWindowedSerde, Topology, Window,
    Windowed,
};
use streams_dsl::suppress::{BufferConfig, Suppressed};
use streams_dsl::{
    Consumed, KTable, Materialized, Produced, SessionWindows, StreamsBuilder, TimeWindows,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn w(key: &str, start: i64, end: i64) -> Windowed<String> {
    Windowed::new(key.to_owned(), Window::new(start, end))
}

fn driver(topology: Topology) -> Result<TopologyTestDriver, StreamsError> {
    TopologyTestDriver::new(topology, StreamsConfig::new("suppress", "unused:9092"))
}

#[test]
fn final_results_come_once_per_window_when_stream_time_passes_its_end_plus_grace()
-> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["clicks"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count_with(Materialized::as_store("counts"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to_with(
            "final",
            Produced::with(TimeWindowedSerde::new(StringSerde, 10), Nullable(I64Serde)),
        );
    let d = driver(b.build()?)?;
    let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    let out = d.output_topic(
        "final",
        TimeWindowedSerde::new(StringSerde, 10),
        Nullable(I64Serde),
    );
    for (key, t) in [("b", 2), ("a", 1), ("a", 8), ("a", 12), ("b", 14)] {
        clicks.pipe(key.into(), String::new(), t)?;
    }
    assert_eq!(
        out.read_key_values_with_time()?,
        vec![],
        "no window has closed"
    );
    // [0, 10) closes at 15: its windows come out by key, each with its last update's time.
    clicks.pipe("c".into(), String::new(), 15)?;
    assert_eq!(
        out.read_key_values_with_time()?,
        vec![(w("a", 0, 10), Some(2), 8), (w("b", 0, 10), Some(1), 2)]
    );
    // Too late for the aggregation: nothing changes, nothing comes out.
    clicks.pipe("a".into(), String::new(), 4)?;
    clicks.pipe("z".into(), String::new(), 24)?;
    assert_eq!(out.read_key_values_with_time()?, vec![]);
    clicks.pipe("z".into(), String::new(), 25)?;
    assert_eq!(
        out.read_key_values_with_time()?,
        vec![
            (w("a", 10, 20), Some(1), 12),
            (w("b", 10, 20), Some(1), 14),
            (w("c", 10, 20), Some(1), 15),
        ]
    );
    Ok(())
}

#[test]
fn a_session_comes_out_once_merged_and_closed_and_the_merged_away_ones_never()
-> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["clicks"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(ms(5), ms(2)))
        .count_with(Materialized::as_store("sessions"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to_with(
            "final",
            Produced::with(SessionWindowedSerde::new(StringSerde), Nullable(I64Serde)),
        );
    let d = driver(b.build()?)?;
    let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    let out = d.output_topic(
        "final",
        SessionWindowedSerde::new(StringSerde),
        Nullable(I64Serde),
    );
    // a's session [0, 0] merges into [0, 3]: its delete is buffered and dropped when due.
    for (key, t) in [("a", 0), ("a", 3), ("b", 4)] {
        clicks.pipe(key.into(), String::new(), t)?;
    }
    assert_eq!(out.read_key_values_with_time()?, vec![]);
    // A session closes at its end plus the gap plus grace: [0, 3] at 10, [4, 4] at 11.
    clicks.pipe("z".into(), String::new(), 9)?;
    assert_eq!(out.read_key_values_with_time()?, vec![]);
    clicks.pipe("z".into(), String::new(), 10)?;
    assert_eq!(
        out.read_key_values_with_time()?,
        vec![(w("a", 0, 3), Some(2), 3)]
    );
    clicks.pipe("z".into(), String::new(), 11)?;
    assert_eq!(
        out.read_key_values_with_time()?,
        vec![(w("b", 4, 4), Some(1), 4)]
    );
    Ok(())
}

/// `tbl` as a table with its updates held back by `suppressed`, written to `out`.
fn limited(suppressed: Suppressed<String, String>) -> Result<Topology, StreamsError> {
    let b = StreamsBuilder::new();
    let table: KTable<String, String> = b.table_with(
        "tbl",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_store("tbl-store"),
    );
    table
        .suppress(suppressed)
        .to_stream()
        .to_with("out", Produced::with(StringSerde, Nullable(StringSerde)));
    b.build()
}

type Row = (String, Option<String>, i64);

fn pipe_table(
    d: &TopologyTestDriver,
    rows: &[(&str, Option<&str>, i64)],
) -> Result<(), StreamsError> {
    let tbl = d.input_topic("tbl", StringSerde, Nullable(StringSerde));
    for (k, v, t) in rows {
        tbl.pipe((*k).to_owned(), v.map(str::to_owned), *t)?;
    }
    Ok(())
}

fn read(d: &TopologyTestDriver) -> Result<Vec<Row>, StreamsError> {
    d.output_topic("out", StringSerde, Nullable(StringSerde))
        .read_key_values_with_time()
}

fn row(k: &str, v: Option<&str>, t: i64) -> Row {
    (k.to_owned(), v.map(str::to_owned), t)
}

#[test]
fn a_time_limit_emits_a_key_once_per_period_from_its_first_update_deletes_included()
-> Result<(), StreamsError> {
    let d = driver(limited(Suppressed::until_time_limit(
        ms(10),
        BufferConfig::unbounded(),
    ))?)?;
    // k1 keeps the place of its first update (0) while its value moves on.
    pipe_table(
        &d,
        &[
            ("k1", Some("1"), 0),
            ("k1", Some("2"), 5),
            ("k2", Some("x"), 7),
        ],
    )?;
    assert_eq!(read(&d)?, vec![]);
    pipe_table(&d, &[("k3", Some("y"), 10)])?;
    assert_eq!(read(&d)?, vec![row("k1", Some("2"), 5)]);
    // A delete replaces k2's update and comes out when k2's time (7) is due.
    pipe_table(&d, &[("k1", Some("3"), 12), ("k2", None, 17)])?;
    assert_eq!(read(&d)?, vec![row("k2", None, 17)]);
    pipe_table(&d, &[("k4", Some("z"), 22)])?;
    assert_eq!(
        read(&d)?,
        vec![row("k3", Some("y"), 10), row("k1", Some("3"), 12)]
    );
    Ok(())
}

#[test]
fn a_full_buffer_emits_its_oldest_early_counting_bytes_as_kafka_streams() -> Result<(), StreamsError>
{
    let d = driver(limited(Suppressed::until_time_limit(
        ms(100),
        BufferConfig::max_records(2),
    ))?)?;
    pipe_table(&d, &[("a", Some("1"), 0), ("b", Some("1"), 1)])?;
    assert_eq!(read(&d)?, vec![]);
    pipe_table(&d, &[("c", Some("1"), 2)])?;
    assert_eq!(read(&d)?, vec![row("a", Some("1"), 0)]);

    // One buffered row of `tbl`: 8 (time) + 1 (key) + 1 (value) + 8 (timestamp) + 8
    // (offset) + 3 (topic) + 4 (partition) = 33 bytes; two fit in 66.
    let d = driver(limited(Suppressed::until_time_limit(
        ms(100),
        BufferConfig::max_bytes(66),
    ))?)?;
    pipe_table(&d, &[("a", Some("1"), 0), ("b", Some("1"), 1)])?;
    assert_eq!(read(&d)?, vec![]);
    // Updating a buffered key counts its old value too (1 byte more): over, a comes out.
    pipe_table(&d, &[("b", Some("2"), 2)])?;
    assert_eq!(read(&d)?, vec![row("a", Some("1"), 0)]);
    Ok(())
}

#[test]
fn a_full_strict_buffer_fails_the_task_naming_the_buffer_and_its_limits() -> Result<(), StreamsError>
{
    let d = driver(limited(
        Suppressed::until_time_limit(ms(100), BufferConfig::max_records(2).shut_down_when_full())
            .with_name("hold"),
    )?)?;
    pipe_table(&d, &[("a", Some("1"), 0), ("b", Some("1"), 1)])?;
    let error = pipe_table(&d, &[("c", Some("1"), 2)]).expect_err("the buffer is full");
    let message = error.to_string();
    assert!(
        message.contains(
            "hold buffer exceeded its max capacity. Currently [3/2] records and [99/9223372036854775807] bytes"
        ),
        "{message}"
    );
    assert_eq!(read(&d)?, vec![]);
    Ok(())
}

#[test]
fn misuses_are_refused_when_the_topology_is_built() {
    // Window close on a table that is not a windowed aggregation's.
    let b = StreamsBuilder::new();
    let windowed_source: KTable<Windowed<String>, i64> = b.table_with(
        "windows",
        Consumed::with(TimeWindowedSerde::new(StringSerde, 10), I64Serde),
        Materialized::as_store("windows-store"),
    );
    windowed_source.suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    let error = b
        .build()
        .expect_err("not a windowed aggregation")
        .to_string();
    assert!(
        error.contains("until_window_closes needs the table of a windowed aggregation"),
        "{error}"
    );

    // Final results with a buffer that would emit early.
    let b = StreamsBuilder::new();
    b.stream_with(&["clicks"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count_with(Materialized::new())
        .suppress(Suppressed::until_window_closes(BufferConfig::max_records(
            10,
        )));
    let error = b.build().expect_err("an eager buffer").to_string();
    assert!(error.contains("needs a strict buffer"), "{error}");
    // Without bounds a buffer is strict again, as in Kafka Streams.
    let b = StreamsBuilder::new();
    b.stream_with(&["clicks"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count_with(Materialized::new())
        .suppress(Suppressed::until_window_closes(
            BufferConfig::max_records(10).with_no_bound(),
        ));
    assert!(b.build().is_ok());

    // A value mapping to a type with no natural serde (u64: Kafka has none) leaves the
    // value serde unknown: the error says where to give one.
    let b = StreamsBuilder::new();
    let table: KTable<String, String> = b.table_with(
        "tbl",
        Consumed::with(StringSerde, StringSerde),
        Materialized::as_store("tbl-store"),
    );
    table
        .map_values(|v| v.len() as u64)
        .suppress(Suppressed::until_time_limit(
            ms(5),
            BufferConfig::unbounded(),
        ));
    let error = b.build().expect_err("no value serde").to_string();
    assert!(error.contains("Suppressed::with_value_serde"), "{error}");
}

#[test]
fn a_named_suppression_names_its_processor_and_store() -> Result<(), StreamsError> {
    let topology =
        limited(Suppressed::until_time_limit(ms(5), BufferConfig::unbounded()).with_name("hold"))?;
    let described = topology.describe().to_string();
    assert!(
        described.contains("hold") && described.contains("hold-store"),
        "{described}"
    );
    Ok(())
}
