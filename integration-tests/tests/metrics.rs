//! The metrics on real Kafka, read from the Prometheus endpoint while the application runs:
//! processed counts equal records in, late records and dead letters are counted exactly, and
//! input lag rises while processing is paused and falls to zero once it resumes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::produce_timed;
use integration_tests::http::get;
use integration_tests::kafka::{shared_cluster, unique_name};
use streams_core::serde::{I64Serde, Nullable, StringSerde};
use streams_core::{KafkaStreams, State, StreamsConfig, TimeWindowedSerde};
use streams_dsl::{Consumed, Materialized, Produced, StreamsBuilder, TimeWindows};

/// `GET /metrics` from the endpoint.
fn scrape(address: SocketAddr) -> Result<String> {
    let (status, body) = get(address, "/metrics")?;
    if status != "HTTP/1.1 200 OK" {
        bail!("the endpoint answered {status}");
    }
    Ok(body)
}

/// The sum of the samples of `name` (the full Prometheus name) in an exposition text.
fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Scrapes until `done` holds for the text (or fails after 60 s, showing the last text).
fn scrape_until(address: SocketAddr, what: &str, done: impl Fn(&str) -> bool) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = scrape(address)?;
        if done(&text) {
            return Ok(text);
        }
        if Instant::now() > deadline {
            bail!("waited 60 s for {what}; last scrape:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_counts_records_late_drops_dead_letters_and_lag() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let input = unique_name("metrics-in");
    let output = unique_name("metrics-out");
    let dlq = unique_name("metrics-dlq");
    for t in [&input, &output, &dlq] {
        cluster.create_topic(t, 1, 1, &[])?;
    }

    let b = StreamsBuilder::new();
    b.stream_with(&[input.as_str()], Consumed::with(StringSerde, I64Serde))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
        .count_with(Materialized::as_store("counts"))
        .to_stream()
        .to_with(
            &output,
            Produced::with(
                TimeWindowedSerde::new(StringSerde, 10_000),
                Nullable(I64Serde),
            ),
        );
    let state = ScratchDir::new()?;
    let config = StreamsConfig::new(unique_name("metrics-app"), bootstrap)
        .with_state_dir(state.path())
        .set("metrics.prometheus.address", "127.0.0.1:0")?
        .set("consumer.statistics.interval.ms", "200")?
        .set("commit.interval.ms", "100")?
        // Small buffers: while paused the partition fills its buffer and is paused itself,
        // so the lag must come from the broker, not from the fetcher's statistics.
        .set("buffered.records.per.partition", "10")?
        .set(
            "default.deserialization.exception.handler",
            "dead-letter-queue",
        )?
        .set("errors.dead.letter.queue.topic.name", &dlq)?;
    let mut app = KafkaStreams::new(b.build()?, config)?;
    app.start()?;
    let address = app.metrics_address().context("the endpoint is on")?;
    assert!(app.wait_for_state(State::Running, Duration::from_secs(60)));
    // The probes of an orchestrator: alive and ready while running.
    let ok = ("HTTP/1.1 200 OK".to_owned(), "Running\n".to_owned());
    assert_eq!(get(address, "/health")?, ok);
    assert_eq!(get(address, "/ready")?, ok);
    assert_eq!(
        get(address, "/nothing")?,
        (
            "HTTP/1.1 404 Not Found".to_owned(),
            "served here: GET /metrics, GET /health, GET /ready\n".to_owned()
        )
    );

    // 10 good records at 1..10 s, two malformed values (3 bytes, not an i64), and one record
    // at 0.5 s after stream time reached 10 s: its window [0, 10 s) has closed, so it is late.
    let good = |i: i64| {
        (
            "k".to_owned(),
            i.to_be_bytes().to_vec(),
            Some(0),
            Some(i * 1000),
        )
    };
    let mut records: Vec<_> = (1..=10).map(good).collect();
    records.push(("k".to_owned(), vec![1, 2, 3], Some(0), Some(10_000)));
    records.push(("k".to_owned(), vec![4, 5, 6], Some(0), Some(10_000)));
    records.push((
        "k".to_owned(),
        1i64.to_be_bytes().to_vec(),
        Some(0),
        Some(500),
    ));
    produce_timed(bootstrap, &input, records).await?;
    let text = scrape_until(address, "13 records processed", |t| {
        value(t, "kstreams_task_processed_records_total") == 13.0
    })?;
    assert_eq!(value(&text, "kstreams_task_dead_letter_records_total"), 2.0);
    assert_eq!(
        value(&text, "kstreams_task_late_records_dropped_total"),
        1.0
    );
    assert_eq!(value(&text, "kstreams_task_dropped_records_total"), 1.0);
    assert_eq!(value(&text, "kstreams_thread_process_records_total"), 13.0);
    // Each good record updated one window's count: 10 records reached the sink node.
    assert_eq!(value(&text, "kstreams_node_records_total"), 10.0);
    assert_eq!(value(&text, "kstreams_alive_stream_threads"), 1.0);
    assert_eq!(value(&text, "kstreams_failed_stream_threads"), 0.0);
    // Lateness: the late record was 9.5 s behind stream time; every other record was on time.
    assert_eq!(
        value(&text, "kstreams_task_record_lateness_seconds_total"),
        9.5
    );
    assert_eq!(
        value(&text, "kstreams_task_record_lateness_max_seconds"),
        9.5
    );
    // The producer delivered output, changelog and dead-letter records, and failed none.
    assert!(value(&text, "kstreams_producer_records_sent_total") >= 2.0);
    assert_eq!(value(&text, "kstreams_producer_record_errors_total"), 0.0);
    // The window store is RocksDB: its statistics (published every second) and the shared
    // memory budget are there.
    let text = scrape_until(address, "the store's RocksDB statistics", |t| {
        t.contains("kstreams_rocksdb_block_cache_hits_total{")
    })?;
    assert_eq!(value(&text, "kstreams_rocksdb_write_stopped"), 0.0);
    assert!(value(&text, "kstreams_rocksdb_memory_budget_bytes") >= 64.0 * 1024.0 * 1024.0);
    assert!(value(&text, "kstreams_thread_poll_total") > 0.0);
    assert!(value(&text, "kstreams_thread_commit_total") > 0.0);
    scrape_until(address, "no lag", |t| {
        value(t, "kstreams_consumer_records_lag_max") == 0.0
    })?;

    // Paused: 50 more records arrive, nothing is processed, the lag shows all 50 (though only
    // 10 fit in the buffer).
    app.pause();
    let more: Vec<_> = (11..=35).map(good).collect();
    produce_timed(bootstrap, &input, more).await?;
    // The buffer fills and the partition is paused: the consumer fetches no more of it, so
    // the 25 records that follow are seen only by asking the broker for the end offset.
    scrape_until(address, "a full buffer", |t| {
        value(t, "kstreams_task_buffered_records") == 10.0
    })?;
    std::thread::sleep(Duration::from_millis(500));
    let rest: Vec<_> = (36..=60).map(good).collect();
    produce_timed(bootstrap, &input, rest).await?;
    let text = scrape_until(address, "a lag of 50 while paused", |t| {
        value(t, "kstreams_consumer_records_lag_max") == 50.0
    })?;
    assert_eq!(value(&text, "kstreams_task_processed_records_total"), 13.0);
    assert_eq!(
        value(&text, "kstreams_consumer_records_lag"),
        50.0,
        "one input partition"
    );

    // Resumed: the lag falls to zero and every record in was processed.
    app.resume();
    let text = scrape_until(address, "caught up", |t| {
        value(t, "kstreams_consumer_records_lag_max") == 0.0
            && value(t, "kstreams_task_processed_records_total") == 63.0
    })?;
    assert_eq!(value(&text, "kstreams_task_dead_letter_records_total"), 2.0);
    assert_eq!(
        value(&text, "kstreams_task_late_records_dropped_total"),
        1.0
    );
    assert_eq!(value(&text, "kstreams_node_records_total"), 60.0);

    // The in-process API reads the same numbers.
    let snapshot = app.metrics();
    assert_eq!(snapshot.sum("kstreams_task_processed_records", &[]), 63.0);
    assert_eq!(snapshot.sum("kstreams_task_dead_letter_records", &[]), 2.0);
    app.close(Duration::from_secs(30))?;
    // Closed: neither alive nor ready (the endpoint lives as long as the client value).
    let down = (
        "HTTP/1.1 503 Service Unavailable".to_owned(),
        "NotRunning\n".to_owned(),
    );
    assert_eq!(get(address, "/health")?, down);
    assert_eq!(get(address, "/ready")?, down);
    Ok(())
}
