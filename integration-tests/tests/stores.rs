//! State stores on a real broker: changelog topics and what they hold.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use integration_tests::apps::{CountPerKey, count_topology};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce, read_topic};
use integration_tests::kafka::{shared_cluster, unique_name};
use state_stores::rocks::{RocksDbKeyValueStore, RocksDbMemory};
use state_stores::{KeyValueStore, KeyValueStoreBuilder};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::store::RestoreListener;
use streams_core::store::StateStore;
use streams_core::{KafkaStreams, StateChange, StreamsConfig, Topology};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_changelog_topic_is_created_compacted_and_holds_every_update() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output, app) = (
        unique_name("words"),
        unique_name("counts"),
        unique_name("count-app"),
    );
    cluster.create_topic(&input, 4, 1, &[])?;
    cluster.create_topic(&output, 4, 1, &[])?;
    let words = [
        "kafka", "streams", "rust", "kafka", "state", "kafka", "rust",
    ];
    let records: Vec<(String, Vec<u8>, Option<i32>)> = (0..70)
        .map(|i| {
            (
                words[i % words.len()].to_owned(),
                format!("{i}").into_bytes(),
                None,
            )
        })
        .collect();
    produce(bootstrap, &input, records).await?;

    let state = ScratchDir::new()?;
    let config = StreamsConfig::new(&app, bootstrap)
        .set("commit.interval.ms", "100")?
        .with_state_dir(state.path());
    let mut streams = KafkaStreams::new(count_topology(&input, &output)?, config)?;
    streams.start()?;
    let out = read_topic(
        bootstrap,
        &output,
        70,
        Duration::from_secs(1),
        Duration::from_secs(90),
    )?;
    streams.close(Duration::from_secs(30))?;

    // Final counts per word, from the output.
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for r in &out {
        let n = i64::from_be_bytes(r.value.as_bytes().try_into().context("8-byte count")?);
        last.insert(r.key.clone(), n);
    }
    let expected: BTreeMap<String, i64> =
        [("kafka", 30), ("rust", 20), ("state", 10), ("streams", 10)]
            .into_iter()
            .map(|(k, n)| (k.to_owned(), n))
            .collect();
    assert_eq!(last, expected);

    // The changelog: named after the store, one partition per task, compacted, and holding
    // every update (70), its last value per key equal to the final count.
    let changelog = format!("{app}-counts-changelog");
    let md = cluster
        .admin()?
        .inner()
        .fetch_metadata(Some(&changelog), Duration::from_secs(10))?;
    assert_eq!(md.topics()[0].partitions().len(), 4);
    let policy = cluster.topic_config(&changelog, "cleanup.policy")?;
    assert_eq!(policy.as_deref(), Some("compact"));
    let logged = read_topic(
        bootstrap,
        &changelog,
        70,
        Duration::from_secs(1),
        Duration::from_secs(30),
    )?;
    assert_eq!(logged.len(), 70);
    let mut from_changelog: BTreeMap<String, i64> = BTreeMap::new();
    for r in &logged {
        from_changelog.insert(
            r.key.clone(),
            i64::from_be_bytes(r.value.as_bytes().try_into()?),
        );
    }
    assert_eq!(from_changelog, expected);
    // The RocksDB files live under <state.dir>/<application.id>/<task id>/rocksdb/<store>.
    let task_dirs: Vec<String> = std::fs::read_dir(state.path().join(&app))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    assert!(
        !task_dirs.is_empty() && task_dirs.iter().all(|d| d.starts_with("0_")),
        "{task_dirs:?}"
    );
    assert!(
        state
            .path()
            .join(&app)
            .join(&task_dirs[0])
            .join("rocksdb/counts")
            .is_dir()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changelog_with_the_wrong_partition_count_is_refused() -> Result<()> {
    let cluster = shared_cluster()?;
    let (input, app) = (unique_name("words"), unique_name("count-app"));
    cluster.create_topic(&input, 4, 1, &[])?;
    let changelog = format!("{app}-counts-changelog");
    cluster.create_topic(&changelog, 2, 1, &[("cleanup.policy", "compact")])?;
    let state = ScratchDir::new()?;
    let mut streams = KafkaStreams::new(
        count_topology(&input, "unused-output")?,
        StreamsConfig::new(&app, cluster.bootstrap_servers()).with_state_dir(state.path()),
    )?;
    let err = streams.start().expect_err("refused");
    assert_eq!(
        err.to_string(),
        format!(
            "invalid topology: changelog topic {changelog} has 2 partitions but its sub-topology has 4 tasks; \
             delete it or reset the application"
        )
    );
    Ok(())
}

/// Runs the count application until `expected` output records exist (counting from the start
/// of the output topic), then closes it. Returns the output and the records it restored.
async fn run_count_app(
    bootstrap: &str,
    app: &str,
    input: &str,
    output: &str,
    state: &std::path::Path,
    expected: usize,
) -> Result<(Vec<(String, i64)>, u64)> {
    let config = StreamsConfig::new(app, bootstrap)
        .set("commit.interval.ms", "100")?
        .with_state_dir(state);
    let mut streams = KafkaStreams::new(count_topology(input, output)?, config)?;
    let events = Arc::new(Mutex::new(Vec::new()));
    streams.set_restore_listener(Recorder(events.clone()));
    let states = events.clone();
    streams.set_state_listener(move |StateChange { new, .. }| {
        states.lock().expect("lock").push(Event::State(new));
    });
    streams.start()?;
    let out = read_topic(
        bootstrap,
        output,
        expected,
        Duration::from_secs(1),
        Duration::from_secs(90),
    )?;
    streams.close(Duration::from_secs(30))?;
    assert_eq!(
        streams.restore_remaining_records(),
        0,
        "nothing left to restore"
    );
    // The client runs only once its task has restored: Running comes after the restore end.
    let all_events = events.lock().expect("lock").clone();
    let running = all_events
        .iter()
        .position(|e| *e == Event::State(streams_core::State::Running))
        .context("the client ran")?;
    if let Some(end) = all_events.iter().position(|e| matches!(e, Event::End(_))) {
        assert!(
            end < running,
            "Running before the restore ended: {all_events:?}"
        );
    }
    // The listener saw one start and one end per restored changelog partition, and batches
    // adding up to the total.
    let events: Vec<Event> = all_events
        .into_iter()
        .filter(|e| !matches!(e, Event::State(_)))
        .collect();
    let restored = streams.restored_records();
    if restored > 0 {
        let changelog = format!("{app}-counts-changelog");
        assert!(
            matches!(&events[0], Event::Start(s, t, 0, _, _) if s == "counts" && *t == changelog),
            "{events:?}"
        );
        let batches: u64 = events
            .iter()
            .map(|e| if let Event::Batch(n) = e { *n } else { 0 })
            .sum();
        assert_eq!(batches, restored);
        assert!(
            matches!(events.last(), Some(Event::End(total)) if *total == restored),
            "{events:?}"
        );
    } else {
        assert_eq!(events, vec![]);
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
    Ok((counts, streams.restored_records()))
}

#[derive(Debug, Clone, PartialEq)]
enum Event {
    State(streams_core::State),
    Start(String, String, i32, i64, i64),
    Batch(u64),
    End(u64),
}

struct Recorder(Arc<Mutex<Vec<Event>>>);

impl RestoreListener for Recorder {
    fn on_restore_start(&self, store: &str, topic: &str, partition: i32, start: i64, end: i64) {
        self.0.lock().expect("lock").push(Event::Start(
            store.into(),
            topic.into(),
            partition,
            start,
            end,
        ));
    }
    fn on_batch_restored(&self, _: &str, _: &str, _: i32, _: i64, records: u64) {
        self.0.lock().expect("lock").push(Event::Batch(records));
    }
    fn on_restore_end(&self, _: &str, _: &str, _: i32, total: u64) {
        self.0.lock().expect("lock").push(Event::End(total));
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_restore_everything_without_local_state_and_only_the_tail_with_a_checkpoint()
-> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output, app) = (
        unique_name("words"),
        unique_name("counts"),
        unique_name("restore-app"),
    );
    // One partition: one task, so every count lands in one changelog partition.
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    let word = |w: &str| (w.to_owned(), Vec::new(), None);
    let count = |out: &[(String, i64)], at: usize| out[at].clone();

    // Run 1: 3 x kafka, 2 x rust; nothing to restore.
    produce(
        bootstrap,
        &input,
        ["kafka", "rust", "kafka", "rust", "kafka"].map(word),
    )
    .await?;
    let first_dir = ScratchDir::new()?;
    let (out, restored) =
        run_count_app(bootstrap, &app, &input, &output, first_dir.path(), 5).await?;
    assert_eq!((count(&out, 4), restored), (("kafka".to_owned(), 3), 0));

    // Run 2 on an empty state directory: all 5 changelog records restored, counts go on.
    produce(bootstrap, &input, ["kafka", "rust"].map(word)).await?;
    let dir = ScratchDir::new()?;
    let (out, restored) = run_count_app(bootstrap, &app, &input, &output, dir.path(), 7).await?;
    assert_eq!(
        (count(&out, 5), count(&out, 6), restored),
        (("kafka".to_owned(), 4), ("rust".to_owned(), 3), 5)
    );

    // Keep a copy of this state: its checkpoint is at the end of the changelog (7 records).
    let snapshot = ScratchDir::new()?;
    copy_dir(dir.path(), snapshot.path())?;

    // Run 3 on the kept directory: the checkpoint is current, nothing to restore.
    produce(bootstrap, &input, ["kafka"].map(word)).await?;
    let (out, restored) = run_count_app(bootstrap, &app, &input, &output, dir.path(), 8).await?;
    assert_eq!((count(&out, 7), restored), (("kafka".to_owned(), 5), 0));

    // Run 4 on the older copy: only the tail written after its checkpoint (1 record) restores.
    produce(bootstrap, &input, ["kafka"].map(word)).await?;
    let (out, restored) =
        run_count_app(bootstrap, &app, &input, &output, snapshot.path(), 9).await?;
    assert_eq!((count(&out, 8), restored), (("kafka".to_owned(), 6), 1));

    // State written by something else (a store without a committed changelog offset) is
    // not trusted: wiped, and all 9 records restored.
    let rocks = snapshot.path().join(&app).join("0_0").join("rocksdb");
    let store_dir = std::fs::read_dir(&rocks)?
        .filter_map(|e| Some(e.ok()?.path()))
        .find(|p| p.is_dir())
        .context("the store's directory")?;
    std::fs::remove_dir_all(&store_dir)?;
    let memory = RocksDbMemory::new(1 << 20);
    let mut foreign = RocksDbKeyValueStore::open("foreign", &store_dir, &memory, None)?;
    foreign.put(b"kafka", Some(&100i64.to_be_bytes()))?;
    foreign.commit(None)?;
    foreign.close()?;
    produce(bootstrap, &input, ["rust"].map(word)).await?;
    let (out, restored) =
        run_count_app(bootstrap, &app, &input, &output, snapshot.path(), 10).await?;
    assert_eq!((count(&out, 9), restored), (("rust".to_owned(), 4), 9));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moving_to_another_instance_takes_its_state_along() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output, app) = (
        unique_name("words"),
        unique_name("counts"),
        unique_name("move-app"),
    );
    cluster.create_topic(&input, 2, 1, &[])?;
    cluster.create_topic(&output, 2, 1, &[])?;
    // Ten keys spread over both partitions, three rounds of one record per key.
    let keys: Vec<String> = (0..10).map(|i| format!("user-{i}")).collect();
    let round = |keys: &[String]| {
        keys.iter()
            .map(|k| (k.clone(), Vec::new(), None))
            .collect::<Vec<_>>()
    };
    let start = |state: &std::path::Path| -> Result<KafkaStreams> {
        let config = StreamsConfig::new(&app, bootstrap)
            .set("commit.interval.ms", "100")?
            .set("consumer.session.timeout.ms", "6000")?
            .with_state_dir(state);
        let mut streams = KafkaStreams::new(count_topology(&input, &output)?, config)?;
        streams.start()?;
        Ok(streams)
    };

    // Instance A alone owns both partitions and counts two rounds.
    let (dir_a, dir_b) = (ScratchDir::new()?, ScratchDir::new()?);
    let mut a = start(dir_a.path())?;
    produce(bootstrap, &input, round(&keys)).await?;
    produce(bootstrap, &input, round(&keys)).await?;
    read_topic(
        bootstrap,
        &output,
        20,
        Duration::from_secs(1),
        Duration::from_secs(90),
    )?;

    // Instance B joins; one partition moves to it, with its state from the changelog.
    let mut b = start(dir_b.path())?;
    assert!(
        b.wait_for_state(streams_core::State::Running, Duration::from_secs(60)),
        "B runs"
    );
    assert!(
        a.wait_for_state(streams_core::State::Running, Duration::from_secs(60)),
        "A runs"
    );
    produce(bootstrap, &input, round(&keys)).await?;
    let out = read_topic(
        bootstrap,
        &output,
        30,
        Duration::from_secs(2),
        Duration::from_secs(90),
    )?;
    a.close(Duration::from_secs(30))?;
    b.close(Duration::from_secs(30))?;

    // Every key's third count is 3: wherever its partition went, its state went with it.
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for r in &out {
        last.insert(
            r.key.clone(),
            i64::from_be_bytes(r.value.as_bytes().try_into().context("8-byte count")?),
        );
    }
    assert_eq!(
        last,
        keys.iter()
            .map(|k| (k.clone(), 3))
            .collect::<BTreeMap<_, _>>()
    );
    assert_eq!(out.len(), 30, "one count per record");
    assert!(
        b.restored_records() > 0,
        "B restored the moved partition's state"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_store_restores_its_whole_changelog_on_every_start() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output, app) = (
        unique_name("words"),
        unique_name("counts"),
        unique_name("mem-app"),
    );
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    let state = ScratchDir::new()?;
    let run = |expected: usize| -> Result<(Vec<String>, u64)> {
        let mut t = Topology::new();
        t.add_source("src", &[&input], StringSerde, StringSerde)?
            .add_processor("count", CountPerKey::supplier("counts"), &["src"])?
            .add_state_store(
                KeyValueStoreBuilder::in_memory("counts", StringSerde, I64Serde),
                &["count"],
            )?
            .add_sink("sink", &output, StringSerde, I64Serde, &["count"])?;
        let config = StreamsConfig::new(&app, bootstrap)
            .set("commit.interval.ms", "100")?
            .with_state_dir(state.path());
        let mut streams = KafkaStreams::new(t, config)?;
        streams.start()?;
        let out = read_topic(
            bootstrap,
            &output,
            expected,
            Duration::from_secs(1),
            Duration::from_secs(90),
        )?;
        streams.close(Duration::from_secs(30))?;
        let counts = out
            .iter()
            .map(|r| {
                Ok(format!(
                    "{}={}",
                    r.key,
                    i64::from_be_bytes(r.value.as_bytes().try_into()?)
                ))
            })
            .collect::<Result<_>>()?;
        Ok((counts, streams.restored_records()))
    };
    produce(
        bootstrap,
        &input,
        [
            ("a".to_owned(), Vec::new(), None),
            ("a".to_owned(), Vec::new(), None),
        ],
    )
    .await?;
    let (_, restored) = run(2)?;
    assert_eq!(restored, 0);
    // Same state directory, clean close before: the in-memory store is empty again and must
    // restore both changelog records (it has no committed offset to resume from).
    produce(bootstrap, &input, [("a".to_owned(), Vec::new(), None)]).await?;
    let (counts, restored) = run(3)?;
    assert_eq!(
        (counts, restored),
        (
            vec!["a=1".to_owned(), "a=2".to_owned(), "a=3".to_owned()],
            2
        )
    );
    Ok(())
}
