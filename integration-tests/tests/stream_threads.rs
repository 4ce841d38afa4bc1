//! `add_stream_thread` / `remove_stream_thread` on a real broker, under exactly-once: a
//! second thread takes part of the tasks, removing the first hands them all to the second,
//! removing the last leaves the client up with none, and a thread added then takes the lowest
//! free index; the counts come out exact across all of it (every key 1, 2, ..., n).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::apps::count_topology;
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{
    counts_per_key, produce, read_committed, round_robin, wait_until_committed,
};
use integration_tests::kafka::{shared_cluster, unique_name};
use streams_core::{KafkaStreams, State, StreamsConfig};

const KEYS: usize = 6;
const BATCH: usize = 60;
const PARTITIONS: i32 = 4;

/// Waits until the client's threads hold `expected` active tasks each (by thread name
/// suffix), or fails with what they hold.
fn wait_for_threads(streams: &KafkaStreams, expected: &[(&str, usize)]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let threads = streams.metadata_for_local_threads();
        let held: Vec<(String, usize)> = threads
            .iter()
            .map(|t| (t.thread_name.clone(), t.active_tasks.len()))
            .collect();
        let matches = held.len() == expected.len()
            && held
                .iter()
                .zip(expected)
                .all(|((name, n), (suffix, m))| name.ends_with(suffix) && n == m);
        if matches && streams.state() == State::Running {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "threads hold {held:?} in state {:?}, expected {expected:?}",
                streams.state()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_added_and_removed_share_the_tasks_and_the_counts_stay_exact() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers().to_owned();
    let (app, input, output) = (
        unique_name("threads"),
        unique_name("threads-in"),
        unique_name("threads-out"),
    );
    cluster.create_topic(&input, PARTITIONS, 1, &[])?;
    cluster.create_topic(&output, PARTITIONS, 1, &[])?;
    let state = ScratchDir::new()?;
    let config = StreamsConfig::new(&app, &bootstrap)
        .set("processing.guarantee", "exactly_once_v2")?
        .with_state_dir(state.path());
    let mut streams = KafkaStreams::new(count_topology(&input, &output)?, config)?;
    assert_eq!(streams.add_stream_thread()?, None, "before start");
    streams.start()?;
    let inputs = std::slice::from_ref(&input);
    let mut sent = 0;
    // One thread: all four tasks.
    wait_for_threads(&streams, &[("-StreamThread-1", 4)])?;
    produce(&bootstrap, &input, round_robin(sent, BATCH, KEYS)).await?;
    sent += BATCH;
    wait_until_committed(&bootstrap, &app, inputs, Duration::from_secs(90))?;

    // A second thread takes its share.
    let added = streams.add_stream_thread()?.context("a thread added")?;
    assert!(added.ends_with("-StreamThread-2"), "{added}");
    wait_for_threads(&streams, &[("-StreamThread-1", 2), ("-StreamThread-2", 2)])?;
    produce(&bootstrap, &input, round_robin(sent, BATCH, KEYS)).await?;
    sent += BATCH;
    wait_until_committed(&bootstrap, &app, inputs, Duration::from_secs(90))?;

    // Removing the first hands every task to the second.
    let removed = streams
        .remove_stream_thread(Duration::from_secs(60))?
        .context("a thread removed")?;
    assert!(removed.ends_with("-StreamThread-1"), "{removed}");
    wait_for_threads(&streams, &[("-StreamThread-2", 4)])?;
    produce(&bootstrap, &input, round_robin(sent, BATCH, KEYS)).await?;
    sent += BATCH;
    wait_until_committed(&bootstrap, &app, inputs, Duration::from_secs(90))?;

    // The last one too: the client stays up with no thread, then one is added again with
    // the lowest free index and picks the work up from the last commit.
    let removed = streams
        .remove_stream_thread(Duration::from_secs(60))?
        .context("the last thread removed")?;
    assert!(removed.ends_with("-StreamThread-2"), "{removed}");
    assert_eq!(streams.remove_stream_thread(Duration::from_secs(1))?, None);
    assert_eq!(streams.state(), State::Running);
    assert!(streams.metadata_for_local_threads().is_empty());
    produce(&bootstrap, &input, round_robin(sent, BATCH, KEYS)).await?;
    sent += BATCH;
    let added = streams
        .add_stream_thread()?
        .context("a thread added again")?;
    assert!(added.ends_with("-StreamThread-1"), "{added}");
    wait_for_threads(&streams, &[("-StreamThread-1", 4)])?;
    wait_until_committed(&bootstrap, &app, inputs, Duration::from_secs(90))?;

    let out = read_committed(
        &bootstrap,
        &output,
        sent,
        Duration::from_secs(2),
        Duration::from_secs(90),
    )?;
    let per_key = counts_per_key(&out)?;
    let expected: BTreeMap<String, Vec<i64>> = (0..KEYS)
        .map(|k| (format!("k{k}"), (1..=(sent / KEYS) as i64).collect()))
        .collect();
    assert_eq!(per_key, expected);
    streams.close(Duration::from_secs(30))?;
    Ok(())
}
