//! A Processor API node downstream of a windowed aggregation, in the same task, reading the
//! aggregation's store on every record it forwards: the aggregation must not hold its store
//! while it forwards, and what the node reads is the store as of that update.

use std::time::Duration;

use state_stores::typed::{TypedSessionStore, TypedWindowStore};
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{Serde, StringSerde};
use streams_core::store::StoreHandle;
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{
    Record, SessionWindowedSerde, StreamsConfig, StreamsError, TimeWindowedSerde, Window, Windowed,
};
use streams_dsl::{
    Consumed, EmitStrategy, KGroupedStream, KTable, Materialized, Produced, SessionWindows,
    SlidingWindows, StreamsBuilder, TimeWindows, ValueAndTimestamp,
};

type Row = (Windowed<String>, String, i64);

fn w(key: &str, start: i64, end: i64) -> Windowed<String> {
    Windowed::new(key.to_owned(), Window::new(start, end))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `"<update> stored <row>"`: the forwarded count and the row the store holds for its window
/// (`-` for none), as `count@timestamp`.
fn describe(update: Option<i64>, stored: Option<(i64, i64)>) -> String {
    let update = update.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let stored = stored.map_or_else(|| "-".to_owned(), |(n, t)| format!("{n}@{t}"));
    format!("{update} stored {stored}")
}

/// The store of every count here.
const STORE: &str = "counts";

/// How a reader finds a window's row in a store of `S`: `(count, timestamp)`.
type ReadRow<S> = fn(&mut S, &Windowed<String>) -> streams_core::Result<Option<(i64, i64)>>;

/// Reads a windowed count's store for each update it gets, and forwards what it read.
struct Reader<S> {
    store: Option<StoreHandle<S>>,
    read: ReadRow<S>,
}

impl<S: 'static> Processor<Windowed<String>, Option<i64>, Windowed<String>, String> for Reader<S> {
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<String>, String>,
    ) -> Result<(), ProcessorError> {
        self.store = Some(ctx.state_store(STORE)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<String>, String>,
        r: Record<Windowed<String>, Option<i64>>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.as_ref().ok_or("init did not run")?;
        let row = (self.read)(&mut store.borrow_mut(), &r.key)?;
        let text = describe(r.value, row);
        ctx.forward(r.with_value(text))?;
        Ok(())
    }
}

/// A time window's row in a window store.
fn window_row(
    store: &mut TypedWindowStore<String, ValueAndTimestamp<i64>>,
    key: &Windowed<String>,
) -> streams_core::Result<Option<(i64, i64)>> {
    let row = store.fetch(&key.key, key.window.start)?;
    Ok(row.map(|vt| (vt.value, vt.timestamp)))
}

/// A session's row in a session store (a session's timestamp is its end).
fn session_row(
    store: &mut TypedSessionStore<String, i64>,
    key: &Windowed<String>,
) -> streams_core::Result<Option<(i64, i64)>> {
    let Window { start, end } = key.window;
    Ok(store.fetch_session(&key.key, start, end)?.map(|n| (n, end)))
}

/// Counts `events` per key and window with `count` (in [`STORE`]) and writes what a
/// [`Reader`] with `read` reads for each update to `reads`, keyed with `windows`.
fn counted<S: 'static>(
    count: impl FnOnce(KGroupedStream<String, String>) -> KTable<Windowed<String>, i64>,
    read: ReadRow<S>,
    windows: impl Serde<Windowed<String>>,
) -> StreamsBuilder {
    let b = StreamsBuilder::new();
    let grouped = b
        .stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
        .group_by_key();
    count(grouped)
        .to_stream()
        .process_with_stores(move || Reader { store: None, read }, &[STORE])
        .to_with("reads", Produced::with(windows, StringSerde));
    b
}

/// Pipes `(key, timestamp)` records to `events` and returns what the reader wrote.
fn run(
    b: &StreamsBuilder,
    records: &[(&str, i64)],
    windows: impl Serde<Windowed<String>>,
) -> Result<Vec<Row>, StreamsError> {
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("reads", "unused:9092"))?;
    let input = d.input_topic("events", StringSerde, StringSerde);
    for (k, t) in records {
        input.pipe((*k).to_owned(), String::new(), *t)?;
    }
    d.output_topic("reads", windows, StringSerde)
        .read_key_values_with_time()
}

#[test]
fn a_processor_after_a_hopping_window_count_reads_each_update_from_the_store()
-> Result<(), StreamsError> {
    let b = counted(
        |g| {
            g.windowed_by(TimeWindows::of_size_with_no_grace(ms(10)).advance_by(ms(5)))
                .count_with(Materialized::as_store(STORE))
        },
        window_row,
        TimeWindowedSerde::new(StringSerde, 10),
    );
    let out = run(
        &b,
        &[("a", 3), ("a", 7), ("b", 12)],
        TimeWindowedSerde::new(StringSerde, 10),
    )?;
    assert_eq!(
        out,
        vec![
            (w("a", 0, 10), "1 stored 1@3".to_owned(), 3),
            (w("a", 0, 10), "2 stored 2@7".to_owned(), 7),
            (w("a", 5, 15), "1 stored 1@7".to_owned(), 7),
            (w("b", 5, 15), "1 stored 1@12".to_owned(), 12),
            (w("b", 10, 20), "1 stored 1@12".to_owned(), 12),
        ]
    );
    Ok(())
}

#[test]
fn a_processor_after_an_emit_on_close_count_reads_each_final_result_from_the_store()
-> Result<(), StreamsError> {
    let b = counted(
        |g| {
            g.windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
                .emit_strategy(EmitStrategy::OnWindowClose)
                .count_with(Materialized::as_store(STORE))
        },
        window_row,
        TimeWindowedSerde::new(StringSerde, 10),
    );
    let out = run(
        &b,
        &[("a", 3), ("a", 7), ("b", 12), ("a", 25)],
        TimeWindowedSerde::new(StringSerde, 10),
    )?;
    assert_eq!(
        out,
        vec![
            // Stream time 12 closes [0, 10); 25 closes [10, 20).
            (w("a", 0, 10), "2 stored 2@7".to_owned(), 7),
            (w("b", 10, 20), "1 stored 1@12".to_owned(), 12),
        ]
    );
    Ok(())
}

#[test]
fn a_processor_after_a_sliding_window_count_reads_each_update_from_the_store()
-> Result<(), StreamsError> {
    let b = counted(
        |g| {
            g.windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(
                ms(10),
                ms(100),
            ))
            .count_with(Materialized::as_store(STORE))
        },
        window_row,
        TimeWindowedSerde::new(StringSerde, 10),
    );
    let out = run(
        &b,
        &[("a", 20), ("a", 25), ("a", 27)],
        TimeWindowedSerde::new(StringSerde, 10),
    )?;
    assert_eq!(
        out,
        vec![
            (w("a", 10, 20), "1 stored 1@20".to_owned(), 20),
            (w("a", 21, 31), "1 stored 1@25".to_owned(), 25),
            (w("a", 15, 25), "2 stored 2@25".to_owned(), 25),
            (w("a", 21, 31), "2 stored 2@27".to_owned(), 27),
            (w("a", 26, 36), "1 stored 1@27".to_owned(), 27),
            (w("a", 17, 27), "3 stored 3@27".to_owned(), 27),
        ]
    );
    Ok(())
}

#[test]
fn a_processor_after_a_session_count_reads_each_update_from_the_store() -> Result<(), StreamsError>
{
    let b = counted(
        |g| {
            g.windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(ms(10)))
                .count_with(Materialized::as_store(STORE))
        },
        session_row,
        SessionWindowedSerde::new(StringSerde),
    );
    let out = run(
        &b,
        &[("a", 0), ("a", 5), ("a", 30)],
        SessionWindowedSerde::new(StringSerde),
    )?;
    assert_eq!(
        out,
        vec![
            (w("a", 0, 0), "1 stored 1@0".to_owned(), 0),
            // The merged session is gone from the store when its tombstone is forwarded.
            (w("a", 0, 0), "- stored -".to_owned(), 0),
            (w("a", 0, 5), "2 stored 2@5".to_owned(), 5),
            (w("a", 30, 30), "1 stored 1@30".to_owned(), 30),
        ]
    );
    Ok(())
}
