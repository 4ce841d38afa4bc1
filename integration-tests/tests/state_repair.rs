//! Local state that cannot be opened or read repairs itself: a count application runs, stops,
//! has one of its RocksDB files damaged (truncated SST, flipped bits in an SST's footer or in
//! a data block, garbage `CURRENT`, missing `MANIFEST`), and starts again on the same state
//! directory. The task's state is moved aside (`<task>.corrupt-<ms>`), counted in
//! `kstreams_state_corruptions_total`, and restored from the changelog: the counts go on
//! exactly, with no manual step and the client never in `Error`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use integration_tests::apps::{WindowedCountPerKey, count_topology};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce, read_topic};
use integration_tests::kafka::{shared_cluster, unique_name};
use state_stores::{StoreKind, WindowStoreBuilder};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::{KafkaStreams, State, StreamsConfig, Topology};

#[derive(Debug, Clone, Copy)]
enum Damage {
    TruncateSst,
    FlipSstFooter,
    FlipSstData,
    GarbageCurrent,
    DeleteManifest,
}

fn files(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        if keep(&entry.file_name().to_string_lossy()) {
            found.push(entry.path());
        }
    }
    Ok(found)
}

fn largest_sst(store: &Path) -> Result<PathBuf> {
    files(store, |n| n.ends_with(".sst"))?
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .with_context(|| format!("no SST file in {}", store.display()))
}

fn flip_byte(file: &Path, at: u64) -> Result<()> {
    let mut bytes = std::fs::read(file)?;
    let len = bytes.len() as u64;
    let at = usize::try_from(at.min(len.saturating_sub(1)))?;
    bytes[at] ^= 0xff;
    std::fs::write(file, bytes)?;
    Ok(())
}

fn damage(store: &Path, how: Damage) -> Result<()> {
    match how {
        Damage::TruncateSst => {
            let sst = largest_sst(store)?;
            let len = std::fs::metadata(&sst)?.len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&sst)?
                .set_len(len / 2)?;
        }
        Damage::FlipSstFooter => {
            let sst = largest_sst(store)?;
            let len = std::fs::metadata(&sst)?.len();
            flip_byte(&sst, len - 1)?;
        }
        Damage::FlipSstData => flip_byte(&largest_sst(store)?, 16)?,
        Damage::GarbageCurrent => std::fs::write(store.join("CURRENT"), b"garbage")?,
        Damage::DeleteManifest => {
            let manifests = files(store, |n| n.starts_with("MANIFEST-"))?;
            if manifests.is_empty() {
                bail!("no MANIFEST in {}", store.display());
            }
            for m in manifests {
                std::fs::remove_file(m)?;
            }
        }
    }
    Ok(())
}

/// What a run left: the output as (key, count), the records restored, the corruptions
/// counted.
type Outcome = (Vec<(String, i64)>, u64, f64);

/// Runs `topology` until `expected` records are in `output`, then closes it. Returns the
/// output as (key, count), the records restored, the corruptions counted, and whether the
/// client ever reached `Error`.
fn run(
    bootstrap: &str,
    app: &str,
    topology: Topology,
    output: &str,
    state: &Path,
    expected: usize,
) -> Result<Outcome> {
    let config = StreamsConfig::new(app, bootstrap)
        .set("commit.interval.ms", "100")?
        .with_state_dir(state);
    let mut streams = KafkaStreams::new(topology, config)?;
    let states = Arc::new(Mutex::new(Vec::new()));
    let seen = states.clone();
    streams.set_state_listener(move |c| seen.lock().expect("lock").push(c.new));
    streams.start()?;
    let out = read_topic(
        bootstrap,
        output,
        expected,
        Duration::from_secs(1),
        Duration::from_secs(90),
    )?;
    let corruptions = streams.metrics().sum("kstreams_state_corruptions", &[]);
    let restored = streams.restored_records();
    let error = streams.error();
    streams.close(Duration::from_secs(30))?;
    let states = states.lock().expect("lock").clone();
    if states.contains(&State::Error) || states.contains(&State::PendingError) {
        bail!("the client failed: {error:?} ({states:?})");
    }
    let counts = out
        .iter()
        .map(|r| {
            Ok((
                r.key.clone(),
                i64::from_be_bytes(r.value.as_bytes().try_into().context("8-byte count")?),
            ))
        })
        .collect::<Result<_>>()?;
    Ok((counts, restored, corruptions))
}

async fn damaged_key_value_store_is_restored(how: Damage) -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output, app) = (
        unique_name("repair-in"),
        unique_name("repair-out"),
        unique_name("repair-app"),
    );
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    let words = |ws: &[&str]| -> Vec<(String, Vec<u8>, Option<i32>)> {
        ws.iter()
            .map(|w| ((*w).to_owned(), Vec::new(), None))
            .collect()
    };
    let state = ScratchDir::new()?;
    produce(
        bootstrap,
        &input,
        words(&["kafka", "rust", "kafka", "rust", "kafka"]),
    )
    .await?;
    let (_, restored, corruptions) = run(
        bootstrap,
        &app,
        count_topology(&input, &output)?,
        &output,
        state.path(),
        5,
    )?;
    assert_eq!((restored, corruptions), (0, 0.0), "{how:?}: first run");

    let app_dir = state.path().join(&app);
    damage(&app_dir.join("0_0/rocksdb/counts"), how)?;
    produce(bootstrap, &input, words(&["kafka", "rust"])).await?;
    let (counts, restored, corruptions) = run(
        bootstrap,
        &app,
        count_topology(&input, &output)?,
        &output,
        state.path(),
        7,
    )?;
    cluster.delete_topics(&[&input, &output], &[&app])?;
    let s = |k: &str, n: i64| (k.to_owned(), n);
    assert_eq!(
        counts,
        vec![
            s("kafka", 1),
            s("rust", 1),
            s("kafka", 2),
            s("rust", 2),
            s("kafka", 3),
            s("kafka", 4),
            s("rust", 3),
        ],
        "{how:?}"
    );
    assert_eq!((restored, corruptions), (5, 1.0), "{how:?}: second run");
    let aside = files(&app_dir, |n| n.starts_with("0_0.corrupt-"))?;
    assert_eq!(aside.len(), 1, "{how:?}: the damaged state is kept aside");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_sst_is_moved_aside_and_restored() -> Result<()> {
    damaged_key_value_store_is_restored(Damage::TruncateSst).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sst_with_a_damaged_footer_is_moved_aside_and_restored() -> Result<()> {
    damaged_key_value_store_is_restored(Damage::FlipSstFooter).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sst_with_a_damaged_data_block_is_moved_aside_when_read() -> Result<()> {
    damaged_key_value_store_is_restored(Damage::FlipSstData).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_current_file_is_moved_aside_and_restored() -> Result<()> {
    damaged_key_value_store_is_restored(Damage::GarbageCurrent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_manifest_is_moved_aside_and_restored() -> Result<()> {
    damaged_key_value_store_is_restored(Damage::DeleteManifest).await
}

/// The window store's segmented database lists its column families before it opens: a
/// missing `MANIFEST` is found there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_store_without_its_manifest_is_moved_aside_and_restored() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output, app) = (
        unique_name("wrepair-in"),
        unique_name("wrepair-out"),
        unique_name("wrepair-app"),
    );
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    // Recent event times (window changelogs are deleted by their record timestamps), at the
    // start of a 1-minute window.
    let base = streams_core::timestamp::now_ms() / 60_000 * 60_000;
    let topology = || -> streams_core::Result<Topology> {
        let mut t = Topology::new();
        t.add_source("src", &[&input], StringSerde, StringSerde)?
            .add_processor(
                "count",
                WindowedCountPerKey::supplier("wcounts", 60_000),
                &["src"],
            )?
            .add_state_store(
                WindowStoreBuilder::new(
                    "wcounts",
                    StoreKind::RocksDb,
                    Duration::from_secs(86_400),
                    Duration::from_secs(60),
                    false,
                    StringSerde,
                    I64Serde,
                )?,
                &["count"],
            )?
            .add_sink("sink", &output, StringSerde, I64Serde, &["count"])?;
        Ok(t)
    };
    let at = |ws: &[&str]| -> Vec<integration_tests::client::Outgoing> {
        ws.iter()
            .map(|w| ((*w).to_owned(), Vec::new(), None, Some(base + 1_000)))
            .collect()
    };
    let state = ScratchDir::new()?;
    integration_tests::client::produce_timed(bootstrap, &input, at(&["a", "b", "a"])).await?;
    let (_, _, corruptions) = run(bootstrap, &app, topology()?, &output, state.path(), 3)?;
    assert_eq!(corruptions, 0.0);
    let app_dir = state.path().join(&app);
    damage(&app_dir.join("0_0/rocksdb/wcounts"), Damage::DeleteManifest)?;
    integration_tests::client::produce_timed(bootstrap, &input, at(&["a"])).await?;
    let (counts, restored, corruptions) =
        run(bootstrap, &app, topology()?, &output, state.path(), 4)?;
    cluster.delete_topics(&[&input, &output], &[&app])?;
    let key = |k: &str| format!("{k}@{base}");
    assert_eq!(
        counts,
        vec![(key("a"), 1), (key("b"), 1), (key("a"), 2), (key("a"), 3)]
    );
    assert_eq!((restored, corruptions), (3, 1.0));
    Ok(())
}
