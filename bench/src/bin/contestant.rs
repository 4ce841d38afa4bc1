//! One contestant of a benchmark run: reads `--input`, writes `--output`, until SIGTERM.
//!
//! ```text
//! contestant (raw|streams) (passthrough|filter-map|count|windowed-count|stream-table-join|table-table-join|stream-stream-join)
//!     --bootstrap-servers B --input T --output T --group G [--side T]
//!     [--guarantee at_least_once|exactly_once_v2] [--commit-interval-ms MS]
//! ```
//!
//! `raw` is a plain rdkafka consume-and-produce loop (the limit for a Kafka-fed processor);
//! `streams` runs the same case as a kstreams-rs topology. `count` and `windowed-count` (a
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
use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use streams_bench::{filter_map, keep};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::BytesSerde;
use streams_core::{KafkaStreams, Record, StreamsConfig, Topology};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, case) = match (args.first(), args.get(1)) {
        (Some(k), Some(c)) => (k.clone(), c.clone()),
        _ => bail!(
            "usage: contestant (raw|streams) (passthrough|filter-map|count|windowed-count|stream-table-join|table-table-join) --bootstrap-servers B --input T --output T --group G [--side T]"
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
    if !matches!(
        case.as_str(),
        "passthrough"
            | "filter-map"
            | "count"
            | "windowed-count"
            | "stream-table-join"
            | "table-table-join"
            | "stream-stream-join"
    ) {
        bail!(
            "unknown case {case:?}; allowed: passthrough, filter-map, count, windowed-count, \
             stream-table-join, table-table-join, stream-stream-join"
        );
    }
    let side = flag("--side").ok();
    // The streams contestant's processing guarantee and commit interval (default
    // at_least_once, 30 s).
    let guarantee = flag("--guarantee").unwrap_or_else(|_| "at_least_once".into());
    let commit_interval_ms = flag("--commit-interval-ms").unwrap_or_else(|_| "30000".into());
    if kind == "raw" && !matches!(case.as_str(), "passthrough" | "filter-map") {
        bail!("the raw contestant runs passthrough and filter-map only");
    }
    let stop = stop_flag()?;
    match kind.as_str() {
        "raw" => raw(&bootstrap, &input, &output, &group, &case, &stop),
        "streams" => {
            let config = StreamsConfig::new(&group, &bootstrap)
                .set("processing.guarantee", &guarantee)?
                .set("commit.interval.ms", &commit_interval_ms)?;
            streams(config, &input, &output, &case, side.as_deref(), &stop)
        }
        other => bail!("unknown contestant {other:?}; allowed: raw, streams"),
    }
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

/// The plain rdkafka program: poll, (filter, map), produce, commit every 30 s.
fn raw(
    bootstrap: &str,
    input: &str,
    output: &str,
    group: &str,
    case: &str,
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
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        let Some(msg) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let msg = msg?;
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

fn streams(
    config: StreamsConfig,
    input: &str,
    output: &str,
    case: &str,
    side: Option<&str>,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<()> {
    let t = match case {
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
    app.start()?;
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        if let Some(e) = app.error() {
            bail!("the application failed: {e}");
        }
        std::thread::sleep(Duration::from_millis(50));
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
        .stream(&[input], Consumed::with(BytesSerde, BytesSerde))
        .group_by_key();
    if windowed {
        grouped
            .windowed_by(
                TimeWindows::of_size_and_grace(Duration::from_secs(1), Duration::from_secs(60))
                    .advance_by(Duration::from_millis(500)),
            )
            .count(Materialized::as_store("counts"))
            .to_stream()
            .to(
                output,
                Produced::with(TimeWindowedSerde::new(BytesSerde, 1000), Nullable(I64Serde)),
            );
    } else {
        grouped
            .count(Materialized::as_store("counts"))
            .to_stream()
            .to(output, Produced::with(BytesSerde, Nullable(I64Serde)));
    }
    Ok(b.build()?)
}

/// The input left-joined with the `side` table: as a stream (stream-table) or as a table
/// (table-table), on RocksDB stores with changelogs.
fn join(input: &str, side: &str, output: &str, tables: bool) -> Result<Topology> {
    use streams_core::serde::Nullable;
    use streams_dsl::{Consumed, Materialized, Produced, StreamsBuilder};
    let b = StreamsBuilder::new();
    let profiles = b.table(
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
        b.table(
            input,
            Consumed::with(BytesSerde, BytesSerde),
            Materialized::as_store("input"),
        )
        .left_join(&profiles, joined)
        .to_stream()
        .to(output, Produced::with(BytesSerde, Nullable(BytesSerde)));
    } else {
        b.stream(&[input], Consumed::with(BytesSerde, BytesSerde))
            .left_join_table(&profiles, joined)
            .to(output, Produced::with(BytesSerde, BytesSerde));
    }
    Ok(b.build()?)
}

/// The input inner-joined with the `side` stream (one record per key) within 10 minutes.
fn stream_join(input: &str, side: &str, output: &str) -> Result<Topology> {
    use streams_dsl::{Consumed, JoinWindows, Produced, StreamsBuilder};
    let b = StreamsBuilder::new();
    let profiles = b.stream(&[side], Consumed::with(BytesSerde, BytesSerde));
    b.stream(&[input], Consumed::with(BytesSerde, BytesSerde))
        .join(
            &profiles,
            |v: &Vec<u8>, p: &Vec<u8>| {
                let mut out = v.clone();
                out.extend_from_slice(&p[..4.min(p.len())]);
                out
            },
            JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(600)),
        )
        .to(output, Produced::with(BytesSerde, BytesSerde));
    Ok(b.build()?)
}
