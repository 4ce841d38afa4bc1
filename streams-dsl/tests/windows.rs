//! Windowed aggregations on the test driver: exact outputs at the window edges.

use std::time::Duration;

use streams_core::serde::{I64Serde, Nullable, StringSerde};
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{
    SessionWindowedSerde, StreamsConfig, StreamsError, TimeWindowedSerde, Topology, Window,
    Windowed,
};
use streams_dsl::{
    Consumed, EmitStrategy, Materialized, Produced, SessionWindows, StreamsBuilder, TimeWindows,
};

type Row = (Windowed<String>, Option<i64>, i64);

fn w(key: &str, start: i64, end: i64) -> Windowed<String> {
    Windowed::new(key.to_owned(), Window::new(start, end))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Counts `events` per key in `windows` and writes the table's stream to `counts`.
fn counting(windows: TimeWindows, emit: EmitStrategy, size: i64) -> Result<Topology, StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by(windows)
        .emit_strategy(emit)
        .count_with(Materialized::as_store("window-counts"))
        .to_stream()
        .to_with(
            "counts",
            Produced::with(
                TimeWindowedSerde::new(StringSerde, size),
                Nullable(I64Serde),
            ),
        );
    b.build()
}

/// Pipes `(key, timestamp)` records and returns the output and the late-dropped count.
fn run(
    topology: Topology,
    size: i64,
    records: &[(&str, i64)],
) -> Result<(Vec<Row>, u64), StreamsError> {
    let d = TopologyTestDriver::new(topology, StreamsConfig::new("windows", "unused:9092"))?;
    let input = d.input_topic("events", StringSerde, StringSerde);
    for (k, t) in records {
        input.pipe((*k).to_owned(), String::new(), *t)?;
    }
    let out = d
        .output_topic(
            "counts",
            TimeWindowedSerde::new(StringSerde, size),
            Nullable(I64Serde),
        )
        .read_key_values_with_time()?;
    let late = d
        .task_counters("events")
        .map(|c| c.late_dropped)
        .ok_or_else(|| StreamsError::Topology("no task reads `events`".into()))?;
    Ok((out, late))
}

#[test]
fn tumbling_windows_with_grace_accept_out_of_order_records_until_end_plus_grace()
-> Result<(), StreamsError> {
    let windows = TimeWindows::of_size_and_grace(ms(10), ms(5));
    let records = [
        ("a", 1),
        ("a", 9),
        ("a", 10), // exactly at the first window's end: the next window
        ("a", 3),  // out of order, stream time 10 < end 10 + grace 5: accepted
        ("b", 14), // stream time 14: [0, 10) still open (14 < 15)
        ("a", 2),  // accepted
        ("b", 15), // stream time 15 = end + grace: [0, 10) closes
        ("a", 4),  // late: dropped and counted
    ];
    let (out, late) = run(
        counting(windows, EmitStrategy::OnWindowUpdate, 10)?,
        10,
        &records,
    )?;
    assert_eq!(
        out,
        vec![
            (w("a", 0, 10), Some(1), 1),
            (w("a", 0, 10), Some(2), 9),
            (w("a", 10, 20), Some(1), 10),
            (w("a", 0, 10), Some(3), 9),
            (w("b", 10, 20), Some(1), 14),
            (w("a", 0, 10), Some(4), 9),
            (w("b", 10, 20), Some(2), 15),
        ]
    );
    assert_eq!(late, 1);
    Ok(())
}

#[test]
fn without_grace_a_record_behind_stream_time_past_its_window_is_dropped() -> Result<(), StreamsError>
{
    let windows = TimeWindows::of_size_with_no_grace(ms(10));
    let (out, late) = run(
        counting(windows, EmitStrategy::OnWindowUpdate, 10)?,
        10,
        &[("a", 5), ("a", 10), ("a", 9)],
    )?;
    assert_eq!(
        out,
        vec![(w("a", 0, 10), Some(1), 5), (w("a", 10, 20), Some(1), 10)]
    );
    assert_eq!(late, 1);
    Ok(())
}

#[test]
fn hopping_windows_count_a_record_in_every_window_it_falls_in() -> Result<(), StreamsError> {
    let windows = TimeWindows::of_size_with_no_grace(ms(10)).advance_by(ms(5));
    let (out, late) = run(
        counting(windows, EmitStrategy::OnWindowUpdate, 10)?,
        10,
        &[("a", 3), ("a", 12), ("a", 14)],
    )?;
    assert_eq!(
        out,
        vec![
            (w("a", 0, 10), Some(1), 3),
            (w("a", 5, 15), Some(1), 12),
            (w("a", 10, 20), Some(1), 12),
            (w("a", 5, 15), Some(2), 14),
            (w("a", 10, 20), Some(2), 14),
        ]
    );
    assert_eq!(late, 0);
    Ok(())
}

/// A difference from Kafka Streams on purpose (docs/architecture.md, "Differences from Kafka
/// Streams"): one record that moves stream time past both a window's close and the store's
/// default retention still gets that window's final result out.
#[test]
fn emit_on_window_close_keeps_a_final_result_past_the_retention() -> Result<(), StreamsError> {
    let (out, late) = run(
        counting(
            TimeWindows::of_size_with_no_grace(ms(10)),
            EmitStrategy::OnWindowClose,
            10,
        )?,
        10,
        &[("a", 5), ("a", 1000)],
    )?;
    assert_eq!(out, vec![(w("a", 0, 10), Some(1), 5)]);
    assert_eq!(late, 0);
    Ok(())
}

#[test]
fn emit_on_window_close_emits_each_window_exactly_once() -> Result<(), StreamsError> {
    let windows = TimeWindows::of_size_and_grace(ms(10), ms(5));
    let records = [
        ("a", 1),
        ("a", 9),
        ("a", 10),
        ("a", 3),
        ("b", 16), // stream time 16: [0, 10) closed (10 + 5 <= 16): a's final count, 3
        ("b", 17), // nothing new closes
        ("a", 26), // stream time 26: [10, 20) closed: a's 1 and b's 2
        ("a", 40), // [20, 30) closed: a's 1
    ];
    let (out, late) = run(
        counting(windows, EmitStrategy::OnWindowClose, 10)?,
        10,
        &records,
    )?;
    assert_eq!(
        out,
        vec![
            (w("a", 0, 10), Some(3), 9),
            (w("a", 10, 20), Some(1), 10),
            (w("b", 10, 20), Some(2), 17),
            (w("a", 20, 30), Some(1), 26),
        ]
    );
    assert_eq!(late, 0);
    Ok(())
}

#[test]
fn bad_windows_and_short_retention_are_reported_by_build() {
    let err = counting(
        TimeWindows::of_size_with_no_grace(ms(10)).advance_by(ms(20)),
        EmitStrategy::OnWindowUpdate,
        10,
    )
    .expect_err("refused")
    .to_string();
    assert_eq!(
        err,
        "invalid topology: time windows of 10 ms need an advance of at least 1 ms and at most \
         the size, got 20 ms"
    );

    let b = StreamsBuilder::new();
    b.stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count_with(Materialized::as_store("short").with_retention(ms(12)));
    let err = b.build().expect_err("refused").to_string();
    assert_eq!(
        err,
        "invalid topology: count `KSTREAM-AGGREGATE-0000000001`: the retention of store `short` \
         (12 ms) must be at least 15 ms (the window size plus the grace period; twice the time \
         difference plus the grace period for sliding windows)"
    );
}

#[test]
fn sessions_merge_forwarding_tombstones_for_the_sessions_they_replace() -> Result<(), StreamsError>
{
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
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("windows", "unused:9092"))?;
    let input = d.input_topic("events", StringSerde, StringSerde);
    for (k, t) in [
        ("a", 0),
        ("a", 5),
        ("a", 30),
        ("a", 20),
        ("a", 12),
        ("z", 100),
        ("b", 50),
    ] {
        input.pipe(k.to_owned(), String::new(), t)?;
    }
    let out = d
        .output_topic(
            "sessions",
            SessionWindowedSerde::new(StringSerde),
            Nullable(I64Serde),
        )
        .read_key_values_with_time()?;
    assert_eq!(
        out,
        vec![
            (w("a", 0, 0), Some(1), 0),
            // a@5 is within the gap of [0, 0]: that session is replaced by [0, 5].
            (w("a", 0, 0), None, 0),
            (w("a", 0, 5), Some(2), 5),
            (w("a", 30, 30), Some(1), 30),
            (w("a", 30, 30), None, 30),
            (w("a", 20, 30), Some(2), 30),
            // a@12 bridges [0, 5] and [20, 30]: both go, [0, 30] holds all five.
            (w("a", 0, 5), None, 5),
            (w("a", 20, 30), None, 30),
            (w("a", 0, 30), Some(5), 30),
            (w("z", 100, 100), Some(1), 100),
        ]
    );
    // b@50 would be a session ending at 50, before stream time 100 minus grace 20 minus the
    // gap 10 (a session can still grow by a gap after its end): late.
    assert_eq!(d.task_counters("events").map(|c| c.late_dropped), Some(1));
    Ok(())
}

#[test]
fn sessions_emitting_on_close_forward_each_session_once_it_closes() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(ms(5)))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count_with(Materialized::as_store("sessions"))
        .to_stream()
        .to_with(
            "sessions",
            Produced::with(SessionWindowedSerde::new(StringSerde), Nullable(I64Serde)),
        );
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("windows", "unused:9092"))?;
    let input = d.input_topic("events", StringSerde, StringSerde);
    let output = d.output_topic(
        "sessions",
        SessionWindowedSerde::new(StringSerde),
        Nullable(I64Serde),
    );
    let pipe = |k: &str, t: i64| input.pipe(k.to_owned(), String::new(), t);
    pipe("a", 0)?;
    pipe("a", 3)?; // [0, 3]: merged, nothing forwarded
    assert_eq!(output.read_key_values_with_time()?, vec![]);
    // Stream time 10: sessions ending before 10 - 5 (no grace) are closed.
    pipe("b", 10)?;
    assert_eq!(
        output.read_key_values_with_time()?,
        vec![(w("a", 0, 3), Some(2), 3)]
    );
    pipe("b", 12)?;
    // a@8 is within the gap of [0, 3], but that session ended before the store's retention
    // (stream time 12 minus gap and grace): a session of its own, as in Kafka Streams.
    pipe("a", 8)?;
    assert_eq!(output.read_key_values_with_time()?, vec![]);
    pipe("c", 20)?;
    assert_eq!(
        output.read_key_values_with_time()?,
        vec![(w("a", 8, 8), Some(1), 8), (w("b", 10, 12), Some(2), 12)]
    );
    // Late: dropped, counted, and nothing more is emitted.
    pipe("d", 1)?;
    assert_eq!(output.read_key_values_with_time()?, vec![]);
    assert_eq!(d.task_counters("events").map(|c| c.late_dropped), Some(1));
    Ok(())
}

/// Counts per key in sliding windows of time difference 10 (grace 100: nothing is late).
fn sliding(records: &[(&str, i64)]) -> Result<Vec<Row>, StreamsError> {
    sliding_with_grace(records, 100)
}

/// Counts per key in sliding windows of time difference 10 and grace `grace` ms.
fn sliding_with_grace(records: &[(&str, i64)], grace: u64) -> Result<Vec<Row>, StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by_sliding(streams_dsl::SlidingWindows::of_time_difference_and_grace(
            ms(10),
            ms(grace),
        ))
        .count_with(Materialized::as_store("sliding"))
        .to_stream()
        .to_with(
            "counts",
            Produced::with(TimeWindowedSerde::new(StringSerde, 10), Nullable(I64Serde)),
        );
    Ok(run(b.build()?, 10, records)?.0)
}

#[test]
fn sliding_windows_hold_each_set_of_records_within_the_time_difference() -> Result<(), StreamsError>
{
    let out = sliding(&[("a", 20), ("a", 25), ("a", 40), ("a", 27)])?;
    assert_eq!(
        out,
        vec![
            // 20: its left window.
            (w("a", 10, 20), Some(1), 20),
            // 25: 20's right window (holding 25), then 25's left window (20 and 25).
            (w("a", 21, 31), Some(1), 25),
            (w("a", 15, 25), Some(2), 25),
            // 40: nothing within 10 before it.
            (w("a", 30, 40), Some(1), 40),
            // 27, out of order: it joins [21, 31], creates 25's right window [26, 36] and
            // its own left window [17, 27] (20, 25, 27).
            (w("a", 21, 31), Some(2), 27),
            (w("a", 26, 36), Some(1), 27),
            (w("a", 17, 27), Some(3), 27),
        ]
    );
    Ok(())
}

/// A record inside several existing windows updates them newest first, then creates the
/// previous record's right window and its own left window: Kafka Streams' output for the
/// fourth record of `a@9, a@10, a@12, a@13` (its stores fetch backwards).
#[test]
fn sliding_windows_are_updated_newest_first() -> Result<(), StreamsError> {
    let out = sliding(&[("a", 9), ("a", 10), ("a", 12), ("a", 13)])?;
    assert_eq!(
        out[out.len() - 4..],
        [
            (w("a", 11, 21), Some(2), 13),
            (w("a", 10, 20), Some(3), 13),
            (w("a", 13, 23), Some(1), 13),
            (w("a", 3, 13), Some(4), 13),
        ]
    );
    Ok(())
}

/// Kafka Streams' backward scan, followed (found by the differential suite, `differential/`,
/// variant `sliding`): when a record's left window already exists, the scan goes on to the
/// next older window and takes that window's newest record as the previous one, so the right
/// window of the record really before it is not created. Here 946's left window [936, 946]
/// exists (it holds 940), the next window [926, 936] holds 935, and 940's right window
/// [941, 951], which would hold 946, never appears: Kafka Streams 4.1.1's output exactly.
#[test]
fn sliding_windows_follow_kafka_streams_backward_scan_for_the_previous_record()
-> Result<(), StreamsError> {
    let out = sliding_with_grace(
        &[
            ("kk2", 925),
            ("kk2", 935),
            ("a", 946), // stream time 946: windows ending before 941 are closed
            ("kk2", 940),
            ("kk2", 946),
        ],
        5,
    )?;
    assert_eq!(
        out,
        vec![
            (w("kk2", 915, 925), Some(1), 925),
            (w("kk2", 926, 936), Some(1), 935),
            (w("kk2", 925, 935), Some(2), 935),
            (w("a", 936, 946), Some(1), 946),
            // 940's left window [930, 940] is closed; 935's right window holds it.
            (w("kk2", 936, 946), Some(1), 940),
            (w("kk2", 936, 946), Some(2), 946),
        ]
    );
    Ok(())
}

#[test]
fn early_sliding_records_share_the_first_window() -> Result<(), StreamsError> {
    let out = sliding(&[("a", 5), ("a", 3)])?;
    assert_eq!(
        out,
        vec![
            (w("a", 0, 10), Some(1), 5),
            // 3 comes after 5 was processed: 3's right window holds 5; [0, 10] holds both.
            (w("a", 4, 14), Some(1), 5),
            (w("a", 0, 10), Some(2), 5),
        ]
    );
    Ok(())
}

#[test]
fn sliding_windows_emit_each_final_count_once_when_they_close() -> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by_sliding(streams_dsl::SlidingWindows::of_time_difference_with_no_grace(ms(10)))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count_with(Materialized::as_store("sliding"))
        .to_stream()
        .to_with(
            "counts",
            Produced::with(TimeWindowedSerde::new(StringSerde, 10), Nullable(I64Serde)),
        );
    let (out, late) = run(
        b.build()?,
        10,
        &[("a", 20), ("a", 25), ("a", 40), ("a", 55)],
    )?;
    assert_eq!(
        out,
        vec![
            // Stream time 40 closes every window ending before 40.
            (w("a", 10, 20), Some(1), 20),
            (w("a", 15, 25), Some(2), 25),
            (w("a", 21, 31), Some(1), 25),
            // Stream time 55 closes [30, 40].
            (w("a", 30, 40), Some(1), 40),
        ]
    );
    assert_eq!(late, 0);
    Ok(())
}

#[test]
fn a_record_inside_a_session_replaces_it_with_a_tombstone_and_the_update()
-> Result<(), StreamsError> {
    let b = StreamsBuilder::new();
    b.stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
        .group_by_key()
        .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(ms(10)))
        .count_with(Materialized::as_store("sessions"))
        .to_stream()
        .to_with(
            "sessions",
            Produced::with(SessionWindowedSerde::new(StringSerde), Nullable(I64Serde)),
        );
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("windows", "unused:9092"))?;
    let input = d.input_topic("events", StringSerde, StringSerde);
    for t in [0, 5, 3] {
        input.pipe("a".to_owned(), String::new(), t)?;
    }
    let out = d
        .output_topic(
            "sessions",
            SessionWindowedSerde::new(StringSerde),
            Nullable(I64Serde),
        )
        .read_key_values_with_time()?;
    assert_eq!(
        out,
        vec![
            (w("a", 0, 0), Some(1), 0),
            (w("a", 0, 0), None, 0),
            (w("a", 0, 5), Some(2), 5),
            // 3 falls inside [0, 5]: as Kafka Streams, the session is removed and put again.
            (w("a", 0, 5), None, 5),
            (w("a", 0, 5), Some(3), 5),
        ]
    );
    Ok(())
}
