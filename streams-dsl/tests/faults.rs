//! Records that break naive arithmetic or user code, on the test driver: timestamps at and
//! near `i64::MAX` for every window type and the stream-stream join (window ends saturate at
//! `i64::MAX`, as Kafka Streams' do), and closures that panic or return errors (the record
//! goes to the processing exception handler, with where it came from).

use std::time::Duration;

use streams_core::handlers::dlq_headers;
use streams_core::serde::{I64Serde, Nullable, StringSerde};
use streams_core::test_driver::{ProducedRecord, TopologyTestDriver};
use streams_core::{
    SessionWindowedSerde, StreamsConfig, StreamsError, TimeWindowedSerde, Topology, Window,
    Windowed,
};
use streams_dsl::{
    Consumed, EmitStrategy, JoinWindows, Materialized, Produced, SessionWindows, SlidingWindows,
    StreamsBuilder, TimeWindows,
};

const MAX: i64 = i64::MAX;

type Row = (Windowed<String>, Option<i64>, i64);

fn w(key: &str, start: i64, end: i64) -> Windowed<String> {
    Windowed::new(key.to_owned(), Window::new(start, end))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Counts `events` per key in `windows` (size 10 ms for the output serde) and returns the
/// table's stream and the number of records dropped as late.
fn count_in(
    windows: TimeWindows,
    emit: EmitStrategy,
    records: &[(&str, i64)],
) -> Result<(Vec<Row>, u64), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by(windows)
        .emit_strategy(emit)
        .count_with(Materialized::as_store("counts"))
        .to_stream()
        .to_with(
            "counts",
            Produced::with(TimeWindowedSerde::new(StringSerde, 10), Nullable(I64Serde)),
        );
    run(b.build()?, records, |d| {
        d.output_topic(
            "counts",
            TimeWindowedSerde::new(StringSerde, 10),
            Nullable(I64Serde),
        )
        .read_key_values_with_time()
    })
}

fn run<T>(
    topology: Topology,
    records: &[(&str, i64)],
    read: impl Fn(&TopologyTestDriver) -> Result<T, StreamsError>,
) -> Result<(T, u64), StreamsError> {
    let d = TopologyTestDriver::new(topology, StreamsConfig::new("faults", "unused:9092"))?;
    let input = d.input_topic("events", StringSerde, StringSerde);
    for (k, t) in records {
        input.pipe((*k).to_owned(), String::new(), *t)?;
    }
    let out = read(&d)?;
    let late = d.task_counters("events").map_or(0, |c| c.late_dropped);
    Ok((out, late))
}

/// The largest multiple of 10 not above `i64::MAX`.
const LAST_TEN: i64 = MAX / 10 * 10;

#[test]
fn tumbling_windows_at_the_end_of_time_end_at_i64_max() -> Result<(), StreamsError> {
    let (out, late) = count_in(
        TimeWindows::of_size_with_no_grace(ms(10)),
        EmitStrategy::OnWindowUpdate,
        &[("a", MAX - 5), ("a", MAX), ("a", 100)],
    )?;
    // a@MAX falls in the window ending at i64::MAX, which closes when stream time reaches
    // i64::MAX: dropped as late, as Kafka Streams drops it. a@100 is late too.
    assert_eq!(out, vec![(w("a", LAST_TEN, MAX), Some(1), MAX - 5)]);
    assert_eq!(late, 2);
    Ok(())
}

#[test]
fn hopping_windows_at_the_end_of_time_stop_before_overflowing() -> Result<(), StreamsError> {
    let (out, _) = count_in(
        TimeWindows::of_size_with_no_grace(ms(10)).advance_by(ms(5)),
        EmitStrategy::OnWindowUpdate,
        &[("a", MAX - 1)],
    )?;
    // Windows start every 5 ms; the ones holding i64::MAX - 1 start at LAST_TEN and
    // LAST_TEN + 5, and the next start would overflow.
    assert_eq!(
        out,
        vec![
            (w("a", LAST_TEN, MAX), Some(1), MAX - 1),
            (w("a", LAST_TEN + 5, MAX), Some(1), MAX - 1),
        ]
    );
    Ok(())
}

#[test]
fn a_record_at_the_end_of_time_closes_every_earlier_window() -> Result<(), StreamsError> {
    let (out, _) = count_in(
        TimeWindows::of_size_and_grace(ms(10), ms(5)),
        EmitStrategy::OnWindowClose,
        &[("a", 3), ("a", 7), ("b", 12), ("a", MAX)],
    )?;
    // Final results only: [0, 10) and [10, 20) close; the last window never does.
    assert_eq!(
        out,
        vec![(w("a", 0, 10), Some(2), 7), (w("b", 10, 20), Some(1), 12),]
    );
    Ok(())
}

#[test]
fn sliding_windows_at_the_end_of_time_end_at_i64_max() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(
            ms(10),
            ms(100),
        ))
        .count_with(Materialized::as_store("sliding"))
        .to_stream()
        .to_with(
            "counts",
            Produced::with(TimeWindowedSerde::new(StringSerde, 10), Nullable(I64Serde)),
        );
    let (out, _) = run(b.build()?, &[("a", MAX - 3), ("a", MAX)], |d| {
        d.output_topic(
            "counts",
            TimeWindowedSerde::new(StringSerde, 10),
            Nullable(I64Serde),
        )
        .read_key_values_with_time()
    })?;
    assert_eq!(
        out,
        vec![
            // MAX - 3: its left window.
            (w("a", MAX - 13, MAX - 3), Some(1), MAX - 3),
            // MAX: the right window of MAX - 3 (saturated), then its own left window.
            (w("a", MAX - 2, MAX), Some(1), MAX),
            (w("a", MAX - 10, MAX), Some(2), MAX),
        ]
    );
    Ok(())
}

#[test]
fn sessions_at_the_end_of_time_merge() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by_session(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(20)))
        .count_with(Materialized::as_store("sessions"))
        .to_stream()
        .to_with(
            "sessions",
            Produced::with(SessionWindowedSerde::new(StringSerde), Nullable(I64Serde)),
        );
    let (out, late) = run(b.build()?, &[("a", MAX - 5), ("a", MAX), ("a", 7)], |d| {
        d.output_topic(
            "sessions",
            SessionWindowedSerde::new(StringSerde),
            Nullable(I64Serde),
        )
        .read_key_values_with_time()
    })?;
    assert_eq!(
        out,
        vec![
            (w("a", MAX - 5, MAX - 5), Some(1), MAX - 5),
            (w("a", MAX - 5, MAX - 5), None, MAX - 5),
            (w("a", MAX - 5, MAX), Some(2), MAX),
        ]
    );
    assert_eq!(late, 1);
    Ok(())
}

#[test]
fn a_stream_stream_join_at_the_end_of_time_pairs_records() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let clicks = b.stream_with(&["clicks"], Consumed::with(StringSerde, StringSerde));
    let views = b.stream_with(&["views"], Consumed::with(StringSerde, StringSerde));
    clicks
        .left_join(
            &views,
            |c, v| format!("{c}+{}", v.map_or("-", String::as_str)),
            JoinWindows::of_time_difference_with_no_grace(ms(10)),
        )
        .to_with("pairs", Produced::with(StringSerde, StringSerde));
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("faults", "unused:9092"))?;
    let s = |v: &str| v.to_owned();
    d.input_topic("clicks", StringSerde, StringSerde)
        .pipe(s("a"), s("c1"), 20)?;
    d.input_topic("clicks", StringSerde, StringSerde)
        .pipe(s("a"), s("c2"), MAX - 4)?;
    d.input_topic("views", StringSerde, StringSerde)
        .pipe(s("a"), s("v1"), MAX)?;
    let out = d
        .output_topic("pairs", StringSerde, StringSerde)
        .read_key_values_with_time()?;
    assert_eq!(
        out,
        vec![
            // c1's window closed long ago: unmatched, emitted when stream time passes it.
            (s("a"), s("c1+-"), 20),
            (s("a"), s("c2+v1"), MAX),
        ]
    );
    Ok(())
}

/// `amounts` parsed to integers by `parse`, to `parsed`; handlers set by `config`.
fn parsing(
    parse: impl Fn(String) -> i64 + Send + Sync + 'static,
) -> Result<Topology, StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["amounts"], Consumed::with(StringSerde, StringSerde))
        .map_values(parse)
        .to_with("parsed", Produced::with(StringSerde, I64Serde));
    b.build()
}

fn header(r: &ProducedRecord, key: &str) -> String {
    r.headers
        .last(key)
        .and_then(|h| h.value.clone())
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

fn panicking_parse(v: String) -> i64 {
    match v.parse() {
        Ok(n) => n,
        Err(e) => panic!("cannot parse {v:?}: {e}"),
    }
}

#[test]
fn a_panicking_closure_sends_its_record_to_the_dead_letter_queue() -> Result<(), StreamsError> {
    let config = StreamsConfig::new("faults", "unused:9092")
        .set("processing.exception.handler", "dead-letter-queue")?
        .set("errors.dead.letter.queue.topic.name", "amounts-dlq")?;
    let d = TopologyTestDriver::new(parsing(panicking_parse)?, config)?;
    let input = d.input_topic("amounts", StringSerde, StringSerde);
    input.pipe("a".into(), "1".into(), 10)?;
    input.pipe("b".into(), "x".into(), 20)?;
    input.pipe("c".into(), "3".into(), 30)?;
    assert_eq!(
        d.output_topic("parsed", StringSerde, I64Serde)
            .read_key_values_with_time()?,
        vec![("a".to_owned(), 1, 10), ("c".to_owned(), 3, 30)]
    );
    let dlq = d.dead_letters("amounts-dlq")?;
    assert_eq!(dlq.len(), 1);
    let letter = &dlq[0];
    assert_eq!(
        (
            letter.key.as_deref(),
            letter.value.as_deref(),
            letter.timestamp
        ),
        (Some(&b"b"[..]), Some(&b"x"[..]), 20)
    );
    assert_eq!(
        (letter.topic.as_str(), letter.partition, letter.offset),
        ("amounts", 0, 1)
    );
    let message = "panicked: cannot parse \"x\": invalid digit found in string";
    assert_eq!(letter.message, message);
    assert_eq!(letter.exception, "ProcessorError");
    assert_eq!(
        letter.trace,
        format!("processing error in node KSTREAM-MAPVALUES-0000000001: {message}")
    );
    assert!(d.produced("amounts-dlq").is_empty(), "read once");
    Ok(())
}

#[test]
fn a_panicking_closure_with_log_and_fail_names_the_record() -> Result<(), StreamsError> {
    let d = TopologyTestDriver::new(
        parsing(panicking_parse)?,
        StreamsConfig::new("faults", "unused:9092"),
    )?;
    let input = d.input_topic("amounts", StringSerde, StringSerde);
    input.pipe("a".into(), "1".into(), 10)?;
    let err = input
        .pipe("b".into(), "x".into(), 20)
        .expect_err("log-and-fail stops at the record");
    assert_eq!(
        err.to_string(),
        "processing failed in node `KSTREAM-MAPVALUES-0000000001` for the record at amounts-0@1: \
         panicked: cannot parse \"x\": invalid digit found in string"
    );
    Ok(())
}

#[test]
fn fallible_operations_hand_their_errors_to_the_handler() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    let parsed = b
        .stream_with(&["amounts"], Consumed::with(StringSerde, StringSerde))
        .try_filter(|_, v: &String| {
            if v.is_empty() {
                Err("empty amount")
            } else {
                Ok(v != "0")
            }
        })
        .try_map_values(|v: String| v.parse::<i64>());
    parsed
        .try_flat_map_values(|n: i64| {
            if n < 0 {
                Err(format!("negative amount {n}"))
            } else {
                Ok(vec![n, n * 10])
            }
        })
        .to_with("parsed", Produced::with(StringSerde, I64Serde));
    parsed
        .try_map(|k: String, n: i64| {
            if n > 100 {
                Err(std::io::Error::other("too large"))
            } else {
                Ok((format!("{k}!"), n))
            }
        })
        .try_flat_map(|k: String, n: i64| Ok::<_, String>([(k, n)]))
        .to_with("keyed", Produced::with(StringSerde, I64Serde));
    let config = StreamsConfig::new("faults", "unused:9092")
        .set("processing.exception.handler", "dead-letter-queue")?
        .set("errors.dead.letter.queue.topic.name", "amounts-dlq")?;
    let d = TopologyTestDriver::new(b.build()?, config)?;
    let input = d.input_topic("amounts", StringSerde, StringSerde);
    for (i, v) in ["5", "", "0", "x", "-2", "500"].into_iter().enumerate() {
        input.pipe(format!("k{i}"), v.to_owned(), i as i64)?;
    }
    let s = |v: &str| v.to_owned();
    assert_eq!(
        d.output_topic("parsed", StringSerde, I64Serde)
            .read_key_values_with_time()?,
        vec![
            (s("k0"), 5, 0),
            (s("k0"), 50, 0),
            (s("k5"), 500, 5),
            (s("k5"), 5000, 5)
        ]
    );
    assert_eq!(
        d.output_topic("keyed", StringSerde, I64Serde)
            .read_key_values_with_time()?,
        vec![(s("k0!"), 5, 0), (s("k4!"), -2, 4)]
    );
    let dlq: Vec<(String, String)> = d
        .produced("amounts-dlq")
        .iter()
        .map(|r| {
            (
                header(r, dlq_headers::OFFSET),
                header(r, dlq_headers::MESSAGE),
            )
        })
        .collect();
    assert_eq!(
        dlq,
        vec![
            (s("1"), s("empty amount")),
            (s("3"), s("invalid digit found in string")),
            (s("4"), s("negative amount -2")),
            (s("5"), s("too large")),
        ]
    );
    Ok(())
}
