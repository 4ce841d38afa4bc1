//! Window stores behind a processor: on the test driver, and on a real broker with their
//! changelog topic and restoration.

use std::time::Duration;

use anyhow::{Context, Result};
use integration_tests::apps::{WindowCounts, WindowedCountPerKey};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce_timed, read_topic};
use integration_tests::kafka::{shared_cluster, unique_name};
use state_stores::window::window_store_key;
use state_stores::{StoreKind, WindowStoreBuilder};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{KafkaStreams, StreamsConfig, Topology, Window, Windowed};

const SIZE_MS: i64 = 10_000;

fn topology(input: &str, output: &str, kind: StoreKind) -> streams_core::Result<Topology> {
    let store = WindowStoreBuilder::new(
        "window-counts",
        kind,
        Duration::from_secs(60),
        Duration::from_millis(SIZE_MS as u64),
        false,
        StringSerde,
        I64Serde,
    )?;
    let mut t = Topology::new();
    t.add_source("src", &[input], StringSerde, StringSerde)?
        .add_processor(
            "count",
            WindowedCountPerKey::supplier("window-counts", SIZE_MS),
            &["src"],
        )?
        .add_state_store(store, &["count"])?
        .add_sink("sink", output, StringSerde, I64Serde, &["count"])?;
    Ok(t)
}

fn on_driver(kind: StoreKind) -> Result<()> {
    let driver = TopologyTestDriver::new(
        topology("events", "counts", kind)?,
        StreamsConfig::new("window-app", "unused:9092"),
    )?;
    let input = driver.input_topic("events", StringSerde, StringSerde);
    for (key, ts) in [("a", 1_000), ("a", 9_999), ("b", 5_000), ("a", 10_000)] {
        input.pipe(key.to_owned(), String::new(), ts)?;
    }
    let out = driver
        .output_topic("counts", StringSerde, I64Serde)
        .read_key_values_with_time()?;
    let s = |k: &str| k.to_owned();
    assert_eq!(
        out,
        vec![
            (s("a@0"), 1, 1_000),
            (s("a@0"), 2, 9_999),
            (s("b@0"), 1, 5_000),
            (s("a@10000"), 1, 10_000),
        ]
    );
    let store = driver
        .state_store::<WindowCounts>("window-counts")
        .context("the window store is exposed")?;
    let w = |k: &str, start: i64| Windowed::new(k.to_owned(), Window::new(start, start + SIZE_MS));
    assert_eq!(
        store
            .borrow()
            .all()?
            .collect::<streams_core::Result<Vec<_>>>()?,
        vec![(w("a", 0), 2), (w("a", 10_000), 1), (w("b", 0), 1)]
    );
    assert_eq!(
        store
            .borrow()
            .fetch_range(&s("a"), 0, 20_000)?
            .collect::<streams_core::Result<Vec<_>>>()?,
        vec![(0, 2), (10_000, 1)]
    );
    // Every put went to the changelog with the binary window key.
    let logged = driver.produced("window-app-window-counts-changelog");
    assert_eq!(logged.len(), 4);
    assert_eq!(
        logged[3].key.as_deref(),
        Some(&window_store_key(b"a", 10_000, 0)[..])
    );
    Ok(())
}

#[test]
fn a_processor_counts_in_an_in_memory_window_store() -> Result<()> {
    on_driver(StoreKind::InMemory)
}

#[test]
fn a_processor_counts_in_a_rocksdb_window_store() -> Result<()> {
    on_driver(StoreKind::RocksDb)
}

#[test]
fn a_window_store_shorter_than_its_windows_is_refused_when_built() {
    let err = WindowStoreBuilder::new(
        "w",
        StoreKind::RocksDb,
        Duration::from_secs(1),
        Duration::from_secs(10),
        false,
        StringSerde,
        I64Serde,
    )
    .err()
    .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "invalid topology: window store `w`: the retention (1000 ms) must be at least the \
             window size (10000 ms)"
        )
    );
}

/// An output record: key, count, timestamp.
type Output = (String, i64, i64);

/// Runs the windowed count until `expected` outputs exist; returns `(key, count, timestamp)`
/// of all outputs and the number of changelog records restored.
fn run(
    bootstrap: &str,
    app: &str,
    input: &str,
    output: &str,
    state: &std::path::Path,
    expected: usize,
) -> Result<(Vec<Output>, u64)> {
    let config = StreamsConfig::new(app, bootstrap)
        .set("commit.interval.ms", "100")?
        .with_state_dir(state);
    let mut streams = KafkaStreams::new(topology(input, output, StoreKind::RocksDb)?, config)?;
    streams.start()?;
    let out = read_topic(
        bootstrap,
        output,
        expected,
        Duration::from_secs(1),
        Duration::from_secs(90),
    )?;
    streams.close(Duration::from_secs(30))?;
    let out = out
        .iter()
        .map(|r| {
            let n = i64::from_be_bytes(r.value.as_bytes().try_into().context("8-byte count")?);
            Ok((r.key.clone(), n, r.timestamp))
        })
        .collect::<Result<_>>()?;
    Ok((out, streams.restored_records()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_store_changelog_is_compact_delete_and_restores_the_windows() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output, app) = (
        unique_name("events"),
        unique_name("window-counts"),
        unique_name("window-app"),
    );
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    // Recent event times (a minute ago, aligned to the 10 s windows): the changelog deletes
    // records older than its retention (a day plus the store's) by their timestamps.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let base = now - now % SIZE_MS - 60_000;
    let at = |key: &str, ts: i64| (key.to_owned(), Vec::new(), None, Some(base + ts));
    produce_timed(
        bootstrap,
        &input,
        [
            at("a", 1_000),
            at("a", 5_000),
            at("b", 9_000),
            at("a", 12_000),
        ],
    )
    .await?;
    // Keys and timestamps relative to `base`.
    let relative = |out: Vec<Output>| -> Vec<Output> {
        out.into_iter()
            .map(|(k, n, t)| {
                let (key, start) = k.split_once('@').unwrap_or((&k, "0"));
                let start: i64 = start.parse().unwrap_or(0);
                (format!("{key}@{}", start - base), n, t - base)
            })
            .collect()
    };
    let first = ScratchDir::new()?;
    let (out, restored) = run(bootstrap, &app, &input, &output, first.path(), 4)?;
    let out = relative(out);
    let s = |k: &str| k.to_owned();
    assert_eq!(
        (out, restored),
        (
            vec![
                (s("a@0"), 1, 1_000),
                (s("a@0"), 2, 5_000),
                (s("b@0"), 1, 9_000),
                (s("a@10000"), 1, 12_000),
            ],
            0
        )
    );

    // The changelog: compacted and deleted after the store's retention plus one day.
    let changelog = format!("{app}-window-counts-changelog");
    let config = |name: &str| cluster.topic_config(&changelog, name);
    assert_eq!(config("cleanup.policy")?.as_deref(), Some("compact,delete"));
    assert_eq!(
        config("retention.ms")?.as_deref(),
        Some((60_000 + 86_400_000).to_string().as_str())
    );

    // A new instance on an empty state directory restores all 4 windows' updates and counts
    // on from them: a@10000 reaches 2 and b@0 reaches 2.
    produce_timed(bootstrap, &input, [at("a", 15_000), at("b", 3_000)]).await?;
    let second = ScratchDir::new()?;
    let (out, restored) = run(bootstrap, &app, &input, &output, second.path(), 6)?;
    let out = relative(out);
    assert_eq!(restored, 4);
    assert_eq!(out[4..], [(s("a@10000"), 2, 15_000), (s("b@0"), 2, 3_000)]);
    Ok(())
}
