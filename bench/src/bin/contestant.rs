//! One contestant of a benchmark run: reads `--input`, writes `--output`, until SIGTERM.
//!
//! ```text
//! contestant (raw|streams) CASE
//!     --bootstrap-servers B --input T --output T --group G [--side T] [--expect N]
//!     [--guarantee at_least_once|exactly_once_v2] [--commit-interval-ms MS]
//! ```
//!
//! `raw` is a plain rdkafka consume-and-produce loop (the limit for a Kafka-fed processor);
//! `streams` runs the same case as a kstreams-rs topology. The cases without output
//! (`consume`, `kv-store`, `window-store`, `restore`) count what they did and print `done` on
//! stdout once they reach `--expect N` records (`restore`: `done SECONDS`, from the first
//! restoration's start to the last one's end).
//!
//! - `consume` (raw, streams): read every record; ours through a source and a processor
//!   that only counts.
//! - `consume-produce` (raw): the raw consume-and-produce loop; ours is `passthrough`.
//! - `kv-store` (streams): per record, a get and a put of its key in a RocksDB key-value
//!   store with a changelog.
//! - `window-store` (streams): per record, a fetch of the keys from its key to the next one
//!   (the key with its last byte incremented) over the last second, then a put, in a RocksDB
//!   window store of 1 s windows kept for 3 s in segments of 1 s, with a changelog.
//! - `restore` (streams): the `kv-store` topology on an empty state directory, restoring the
//!   changelog `<group>-kv-changelog` the runner loaded.
//!
//! `count` and `windowed-count` (a
//! hopping 1 s window advancing by 500 ms) are DSL aggregations on RocksDB with changelogs;
//! they have no raw counterpart. `stream-table-join` left-joins the input with a table read
//! from `--side`; `table-table-join` reads the input as a table and left-joins it with the
//! `--side` table; `stream-stream-join` inner-joins the input with `--side` read as a stream
//! (one record per key) within 10 minutes: one output per input record in each case. Both use
//! the same client settings: `linger.ms` 100, idempotent producer, murmur2 partitioner,
//! commits every 30 s (the streams contestant's guarantee and commit interval can be set for
//! the exactly-once comparison; under exactly-once its producer lingers 5 ms). Both run with
//! mimalloc as the Rust global allocator (librdkafka keeps the C allocator).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::cleanup::ScratchDir;
use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use streams_bench::{CASES, NO_OUTPUT, RAW_CASES, RestoreClock, filter_map, keep};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError, from_stores};
use streams_core::serde::BytesSerde;
use streams_core::{KafkaStreams, Record, StreamsConfig, Topology};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, case) = match (args.first(), args.get(1)) {
        (Some(k), Some(c)) => (k.clone(), c.clone()),
        _ => bail!(
            "usage: contestant (raw|streams) CASE --bootstrap-servers B --input T --output T --group G [--side T] [--expect N]; cases: {}",
            CASES.join(", ")
        ),
    };
    let flag = |name: &str| -> Result<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .with_context(|| format!("{name} is required"))
    };
    let (bootstrap, input, output, group) = (
        flag("--bootstrap-servers")?,
        flag("--input")?,
        flag("--output")?,
        flag("--group")?,
    );
    if !CASES.contains(&case.as_str()) {
        bail!("unknown case {case:?}; allowed: {}", CASES.join(", "));
    }
    let side = flag("--side").ok();
    // `--config key=value`, repeatable: client settings (security, ...) for the streams
    // contestant.
    let extra: Vec<(String, String)> = args
        .windows(2)
        .filter(|w| w[0] == "--config")
        .filter_map(|w| {
            w[1].split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    if kind == "raw" && !extra.is_empty() {
        bail!("--config is for the streams contestant");
    }
    let expect: u64 = match flag("--expect") {
        Ok(n) => n
            .parse()
            .with_context(|| format!("--expect takes a whole number, not {n:?}"))?,
        Err(_) if NO_OUTPUT.contains(&case.as_str()) => {
            bail!("--expect is required for the {case} case (it has no output to count)")
        }
        Err(_) => u64::MAX,
    };
    // The streams contestant's processing guarantee and commit interval (default
    // at_least_once, 30 s).
    let guarantee = flag("--guarantee").unwrap_or_else(|_| "at_least_once".into());
    let commit_interval_ms = flag("--commit-interval-ms").unwrap_or_else(|_| "30000".into());
    if kind == "raw" && !RAW_CASES.contains(&case.as_str()) {
        bail!("the raw contestant runs {} only", RAW_CASES.join(", "));
    }
    if kind == "streams" && case == "consume-produce" {
        bail!("consume-produce is the raw clients' case; ours is passthrough");
    }
    let stop = stop_flag()?;
    match kind.as_str() {
        "raw" => raw(&bootstrap, &input, &output, &group, &case, expect, &stop),
        "streams" => {
            // Empty at the start (the restore case relies on that), removed at the end.
            let state = ScratchDir::with_prefix("kstreams-bench-")?;
            let mut config = StreamsConfig::new(&group, &bootstrap)
                .set("processing.guarantee", &guarantee)?
                .set("commit.interval.ms", &commit_interval_ms)?
                .with_state_dir(state.path());
            for (k, v) in &extra {
                config = config.set(k, v)?;
            }
            let run = Run {
                input: &input,
                output: &output,
                case: &case,
                side: side.as_deref(),
                expect,
            };
            streams(config, &run, &stop)
        }
        other => bail!("unknown contestant {other:?}; allowed: raw, streams"),
    }
}

/// Prints the line the runner waits for.
fn report_done(seconds: Option<f64>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = match seconds {
        Some(s) => writeln!(out, "done {s:.3}"),
        None => writeln!(out, "done"),
    };
    let _ = out.flush();
}

fn stop_flag() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = flag.clone();
    std::thread::spawn(move || {
        if let Err(e) = integration_tests::wait_for_termination() {
            eprintln!("contestant: cannot wait for SIGTERM: {e}");
        }
        f.store(true, std::sync::atomic::Ordering::Release);
    });
    Ok(flag)
}

/// The plain rdkafka program: poll, (filter, map), produce (not for `consume`), commit every
/// 30 s.
fn raw(
    bootstrap: &str,
    input: &str,
    output: &str,
    group: &str,
    case: &str,
    expect: u64,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_uncommitted")
        .set("partition.assignment.strategy", "range")
        // The same fetch back-off as the library's consumers (librdkafka's default pauses a
        // partition for 1 s whenever its local queue is full).
        .set("fetch.queue.backoff.ms", "10")
        .create()?;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "100")
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .create()?;
    consumer.subscribe(&[input])?;
    let mut last_commit = Instant::now();
    let mut mapped = Vec::new();
    let mut consumed = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        let Some(msg) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let msg = msg?;
        if case == "consume" {
            consumed += 1;
            if consumed == expect {
                report_done(None);
            }
            continue;
        }
        let value = msg.payload().unwrap_or_default();
        let out: &[u8] = if case == "filter-map" {
            if !keep(value) {
                continue;
            }
            mapped.clear();
            filter_map(value, &mut mapped);
            &mapped
        } else {
            value
        };
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(output).payload(out);
        if let Some(k) = msg.key() {
            record = record.key(k);
        }
        if let Some(ts) = msg.timestamp().to_millis() {
            record = record.timestamp(ts);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        if last_commit.elapsed() >= Duration::from_secs(30) {
            producer.flush(Duration::from_secs(60))?;
            consumer.commit_consumer_state(CommitMode::Sync)?;
            last_commit = Instant::now();
        }
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(())
}

/// filter (keeps about half) -> map_values, as one processor.
struct FilterMap;

impl Processor<Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>> for FilterMap {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Vec<u8>, Vec<u8>>,
        mut r: Record<Vec<u8>, Vec<u8>>,
    ) -> Result<(), ProcessorError> {
        if keep(&r.value) {
            // The record owns its value: map it in place (the raw program maps a borrowed
            // librdkafka buffer into a reused one).
            r.value.make_ascii_uppercase();
            ctx.forward(r)?;
        }
        Ok(())
    }
}

/// What the streams contestant runs.
struct Run<'a> {
    input: &'a str,
    output: &'a str,
    case: &'a str,
    side: Option<&'a str>,
    expect: u64,
}

/// Counts the records a processor without output has handled.
type Counter = std::sync::Arc<std::sync::atomic::AtomicU64>;

/// `consume`: counts each record, forwards nothing.
struct CountOnly(Counter);

impl Processor<Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>> for CountOnly {
    fn process(
        &mut self,
        _: &mut ProcessorContext<'_, Vec<u8>, Vec<u8>>,
        _: Record<Vec<u8>, Vec<u8>>,
    ) -> Result<(), ProcessorError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

type KvStore = state_stores::typed::TypedKeyValueStore<Vec<u8>, Vec<u8>>;
type WinStore = state_stores::typed::TypedWindowStore<Vec<u8>, Vec<u8>>;

/// `kv-store`: a get, then a put of the record's key.
struct GetPut {
    store: streams_core::store::StoreHandle<KvStore>,
    done: Counter,
}

impl Processor<Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>> for GetPut {
    fn process(
        &mut self,
        _: &mut ProcessorContext<'_, Vec<u8>, Vec<u8>>,
        r: Record<Vec<u8>, Vec<u8>>,
    ) -> Result<(), ProcessorError> {
        let mut store = self.store.borrow_mut();
        std::hint::black_box(store.get(&r.key)?);
        store.put(&r.key, &r.value)?;
        self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// `window-store`: a fetch of a small key range over the last second, then a put.
struct FetchPut {
    store: streams_core::store::StoreHandle<WinStore>,
    done: Counter,
    upper: Vec<u8>,
}

impl Processor<Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>> for FetchPut {
    fn process(
        &mut self,
        _: &mut ProcessorContext<'_, Vec<u8>, Vec<u8>>,
        r: Record<Vec<u8>, Vec<u8>>,
    ) -> Result<(), ProcessorError> {
        let mut store = self.store.borrow_mut();
        self.upper.clear();
        self.upper.extend_from_slice(&r.key);
        if let Some(last) = self.upper.last_mut() {
            *last = last.saturating_add(1);
        }
        let ts = r.timestamp;
        for found in store.fetch_key_range(Some(&r.key), Some(&self.upper), ts - 1000, ts)? {
            std::hint::black_box(found?);
        }
        store.put(&r.key, &r.value, ts)?;
        self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// The topology of the cases without output: a source and one counting processor, with the
/// processor's store.
fn no_output(run: &Run<'_>, done: &Counter) -> Result<Topology> {
    use state_stores::{KeyValueStoreBuilder, StoreKind, WindowStoreBuilder};
    let mut t = Topology::new();
    t.add_source("src", &[run.input], BytesSerde, BytesSerde)?;
    let done = done.clone();
    match run.case {
        "consume" => {
            t.add_processor("count-only", move || CountOnly(done.clone()), &["src"])?;
        }
        "kv-store" | "restore" => {
            t.add_processor(
                "get-put",
                from_stores(move |stores| {
                    Ok(GetPut {
                        store: stores.state_store("kv")?,
                        done: done.clone(),
                    })
                }),
                &["src"],
            )?
            .add_state_store(
                KeyValueStoreBuilder::rocksdb("kv", BytesSerde, BytesSerde),
                &["get-put"],
            )?;
        }
        _ => {
            t.add_processor(
                "fetch-put",
                from_stores(move |stores| {
                    Ok(FetchPut {
                        store: stores.state_store("windows")?,
                        done: done.clone(),
                        upper: Vec::new(),
                    })
                }),
                &["src"],
            )?
            .add_state_store(
                WindowStoreBuilder::new(
                    "windows",
                    StoreKind::RocksDb,
                    Duration::from_secs(3),
                    Duration::from_secs(1),
                    false,
                    BytesSerde,
                    BytesSerde,
                )?
                // Segments of 1 s, so that the 3 s retention drops old windows (the default
                // segment, a minute, keeps the whole input and each range scan grows with the
                // run); the Kafka Streams contestant uses the same.
                .with_segment_interval(Duration::from_secs(1))?,
                &["fetch-put"],
            )?;
        }
    }
    Ok(t)
}

fn streams(
    config: StreamsConfig,
    run: &Run<'_>,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<()> {
    let (input, output, case, side) = (run.input, run.output, run.case, run.side);
    let done = Counter::default();
    let clock = RestoreClock::default();
    let t = match case {
        "consume" | "kv-store" | "window-store" | "restore" => no_output(run, &done)?,
        "count" | "windowed-count" => aggregation(input, output, case == "windowed-count")?,
        "stream-table-join" | "table-table-join" => join(
            input,
            side.context("--side is required for the join cases")?,
            output,
            case == "table-table-join",
        )?,
        "stream-stream-join" => stream_join(
            input,
            side.context("--side is required for the join cases")?,
            output,
        )?,
        _ => {
            let mut t = Topology::new();
            t.add_source("src", &[input], BytesSerde, BytesSerde)?;
            if case == "filter-map" {
                t.add_processor("filter-map", || FilterMap, &["src"])?
                    .add_sink("sink", output, BytesSerde, BytesSerde, &["filter-map"])?;
            } else {
                t.add_sink("sink", output, BytesSerde, BytesSerde, &["src"])?;
            }
            t
        }
    };
    let mut app = KafkaStreams::new(t, config)?;
    if case == "restore" {
        app.set_restore_listener(clock.clone());
    }
    app.start()?;
    let mut reported = false;
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        if let Some(e) = app.error() {
            bail!("the application failed: {e}");
        }
        if !reported && case == "restore" {
            if let Some((seconds, _)) = clock.finished(run.expect) {
                report_done(Some(seconds));
                reported = true;
            }
        } else if !reported && done.load(std::sync::atomic::Ordering::Relaxed) >= run.expect {
            report_done(None);
            reported = true;
        }
        std::thread::sleep(Duration::from_millis(if reported { 50 } else { 5 }));
    }
    app.close(Duration::from_secs(60))?;
    Ok(())
}

/// group_by_key -> count on RocksDB with a changelog -> sink; windowed: per hopping window of
/// 1 s advancing by 500 ms (grace 1 min, so no record is late).
fn aggregation(input: &str, output: &str, windowed: bool) -> Result<Topology> {
    use streams_core::TimeWindowedSerde;
    use streams_core::serde::{I64Serde, Nullable};
    use streams_dsl::{Consumed, Materialized, Produced, StreamsBuilder, TimeWindows};
    let b = StreamsBuilder::new();
    let grouped = b
        .stream_with(&[input], Consumed::with(BytesSerde, BytesSerde))
        .group_by_key();
    if windowed {
        grouped
            .windowed_by(
                TimeWindows::of_size_and_grace(Duration::from_secs(1), Duration::from_secs(60))
                    .advance_by(Duration::from_millis(500)),
            )
            .count_with(Materialized::as_store("counts"))
            .to_stream()
            .to_with(
                output,
                Produced::with(TimeWindowedSerde::new(BytesSerde, 1000), Nullable(I64Serde)),
            );
    } else {
        grouped
            .count_with(Materialized::as_store("counts"))
            .to_stream()
            .to_with(output, Produced::with(BytesSerde, Nullable(I64Serde)));
    }
    Ok(b.build()?)
}

/// The input left-joined with the `side` table: as a stream (stream-table) or as a table
/// (table-table), on RocksDB stores with changelogs.
fn join(input: &str, side: &str, output: &str, tables: bool) -> Result<Topology> {
    use streams_core::serde::Nullable;
    use streams_dsl::{Consumed, Materialized, Produced, StreamsBuilder};
    let b = StreamsBuilder::new();
    let profiles = b.table_with(
        side,
        Consumed::with(BytesSerde, BytesSerde),
        Materialized::as_store("side"),
    );
    let joined = |v: &Vec<u8>, p: Option<&Vec<u8>>| {
        let mut out = v.clone();
        out.extend_from_slice(p.map_or(&b"-"[..], |p| &p[..4.min(p.len())]));
        out
    };
    if tables {
        b.table_with(
            input,
            Consumed::with(BytesSerde, BytesSerde),
            Materialized::as_store("input"),
        )
        .left_join(&profiles, joined)
        .to_stream()
        .to_with(output, Produced::with(BytesSerde, Nullable(BytesSerde)));
    } else {
        b.stream_with(&[input], Consumed::with(BytesSerde, BytesSerde))
            .left_join_table(&profiles, joined)
            .to_with(output, Produced::with(BytesSerde, BytesSerde));
    }
    Ok(b.build()?)
}

/// The input inner-joined with the `side` stream (one record per key) within 10 minutes.
fn stream_join(input: &str, side: &str, output: &str) -> Result<Topology> {
    use streams_dsl::{Consumed, JoinWindows, Produced, StreamsBuilder};
    let b = StreamsBuilder::new();
    let profiles = b.stream_with(&[side], Consumed::with(BytesSerde, BytesSerde));
    b.stream_with(&[input], Consumed::with(BytesSerde, BytesSerde))
        .join(
            &profiles,
            |v: &Vec<u8>, p: &Vec<u8>| {
                let mut out = v.clone();
                out.extend_from_slice(&p[..4.min(p.len())]);
                out
            },
            JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(600)),
        )
        .to_with(output, Produced::with(BytesSerde, BytesSerde));
    Ok(b.build()?)
}
