//! Null values on a stream read with a `Nullable` serde, as Kafka Streams 4.1.1 treats them
//! (its outputs found by the differential suite, `differential/`): stream aggregations and
//! sliding windows skip such records, tumbling, hopping and session windows aggregate them.

use std::time::Duration;

use streams_core::serde::{Nullable, StringSerde};
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{StreamsConfig, StreamsError, Windowed};
use streams_dsl::{
    Consumed, EmitStrategy, KStream, Materialized, Produced, SlidingWindows, StreamsBuilder,
    TimeWindows,
};

type Out = Vec<(String, Option<String>, i64)>;

fn s(x: &str) -> String {
    x.to_owned()
}

/// Builds with `build` over a stream of nullable strings from `in`, pipes `records`, and
/// returns `out` and the dropped-records count of the task reading `in`.
fn run(
    build: impl Fn(KStream<String, Option<String>>),
    records: &[(&str, Option<&str>, i64)],
) -> Result<(Out, u64), StreamsError> {
    let b = StreamsBuilder::new();
    build(b.stream_with(&["in"], Consumed::with(StringSerde, Nullable(StringSerde))));
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("nulls", "unused:9092"))?;
    let input = d.input_topic("in", StringSerde, Nullable(StringSerde));
    for (k, v, t) in records {
        input.pipe(s(k), v.map(s), *t)?;
    }
    let out = d
        .output_topic("out", StringSerde, Nullable(StringSerde))
        .read_key_values_with_time()?;
    let dropped = d.task_counters("in").map_or(0, |c| c.dropped);
    Ok((out, dropped))
}

fn window_name(w: &Windowed<String>) -> String {
    format!("{}@{}/{}", w.key, w.window.start, w.window.end)
}

fn to_out<V: ToString + Clone + 'static>(t: &streams_dsl::KTable<Windowed<String>, V>) {
    t.to_stream()
        .map(|w, v| (window_name(&w), v.map(|v| v.to_string())))
        .to_with("out", Produced::with(StringSerde, Nullable(StringSerde)));
}

#[test]
fn a_stream_count_skips_null_values() -> Result<(), StreamsError> {
    let (out, dropped) = run(
        |stream| {
            stream
                .group_by_key()
                .count_with(Materialized::new())
                .to_stream()
                .map_values(|n| n.map(|n| n.to_string()))
                .to_with("out", Produced::with(StringSerde, Nullable(StringSerde)));
        },
        &[("kk2", None, 105), ("kk2", Some("5"), 106)],
    )?;
    assert_eq!(out, vec![(s("kk2"), Some(s("1")), 106)]);
    assert_eq!(dropped, 1);
    Ok(())
}

/// Final counts per key in sliding windows of 10 ms with 5 ms grace, kept a second.
fn final_sliding_counts(stream: KStream<String, Option<String>>) {
    let ms = Duration::from_millis;
    to_out(
        &stream
            .group_by_key()
            .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(ms(10), ms(5)))
            .emit_strategy(EmitStrategy::OnWindowClose)
            .count_with(Materialized::as_store("counts").with_retention(ms(1000))),
    );
}

#[test]
fn sliding_windows_skip_null_values_before_stream_time_moves() -> Result<(), StreamsError> {
    // The null at 130 neither counts nor closes [89, 99]; the record at 131 does.
    let (out, dropped) = run(
        final_sliding_counts,
        &[("kk2", Some("6"), 99), ("kk2", None, 130)],
    )?;
    assert_eq!(out, vec![]);
    assert_eq!(dropped, 1);
    let (out, _) = run(
        final_sliding_counts,
        &[
            ("kk2", Some("6"), 99),
            ("kk2", None, 130),
            ("k1", Some("1"), 131),
        ],
    )?;
    assert_eq!(out, vec![(s("kk2@89/99"), Some(s("1")), 99)]);
    Ok(())
}

#[test]
fn tumbling_windows_count_null_values() -> Result<(), StreamsError> {
    let (out, dropped) = run(
        |stream| {
            to_out(
                &stream
                    .group_by_key()
                    .windowed_by(TimeWindows::of_size_and_grace(
                        Duration::from_millis(10),
                        Duration::from_millis(5),
                    ))
                    .count_with(Materialized::new()),
            );
        },
        &[("kk2", None, 105)],
    )?;
    assert_eq!(out, vec![(s("kk2@100/110"), Some(s("1")), 105)]);
    assert_eq!(dropped, 0);
    Ok(())
}
