//! Interactive queries on a real broker: two instances of a count application answer for
//! the partitions they host, every key from exactly one of them and with the value last
//! written for it to the output topic; while the second instance joins (a rebalance, then
//! restoration), every answer is either that value or a retriable error, never another
//! value; the errors name what is wrong (not running, not hosted, wrong type, unknown store).
//! Each key's metadata, asked of either instance, names the instance that answered it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::apps::count_topology;
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce, read_committed, round_robin, wait_until_committed};
use integration_tests::kafka::{shared_cluster, unique_name};
use integration_tests::wait_running;
use state_stores::query::{QueryableStoreTypes, ReadOnlyKeyValueStore};
use streams_core::query::{StoreQueryParameters, Unavailable};
use streams_core::serde::StringSerde;
use streams_core::{KafkaStreams, State, StreamsConfig, StreamsError};

const PARTITIONS: i32 = 4;
const KEYS: usize = 12;
const RECORDS: usize = 240;

fn config(app: &str, bootstrap: &str, state: &ScratchDir, server: &str) -> Result<StreamsConfig> {
    Ok(StreamsConfig::new(app, bootstrap)
        // Queries read what was committed: commit often so that they keep up.
        .set("commit.interval.ms", "100")?
        // Published to the other instance; nothing listens there in this test.
        .set("application.server", server)?
        .with_state_dir(state.path()))
}

const SERVER_A: &str = "127.0.0.1:18081";
const SERVER_B: &str = "127.0.0.1:18082";

fn counts(streams: &KafkaStreams) -> Result<ReadOnlyKeyValueStore<String, i64>, StreamsError> {
    streams.store(StoreQueryParameters::from_name_and_type(
        "counts",
        QueryableStoreTypes::key_value::<String, i64>(),
    ))
}

/// Every entry of the instance's `counts` store, or the error that kept it from answering.
fn all_counts(streams: &KafkaStreams) -> Result<BTreeMap<String, i64>, StreamsError> {
    counts(streams)?.all()?.collect()
}

/// The last count written to the output topic for each key.
fn last_output(bootstrap: &str, output: &str) -> Result<BTreeMap<String, i64>> {
    let records = read_committed(
        bootstrap,
        output,
        RECORDS,
        Duration::from_secs(1),
        Duration::from_secs(90),
    )?;
    let mut last = BTreeMap::new();
    for r in records {
        let value = r.value.context("a count")?;
        let n = i64::from_be_bytes(value.as_slice().try_into().context("8-byte count")?);
        last.insert(String::from_utf8(r.key)?, n);
    }
    Ok(last)
}

/// Partition `p`'s view from whichever instance hosts it.
fn partition_view(
    a: &KafkaStreams,
    b: &KafkaStreams,
    p: i32,
) -> Option<ReadOnlyKeyValueStore<String, i64>> {
    let one = StoreQueryParameters::from_name_and_type(
        "counts",
        QueryableStoreTypes::key_value::<String, i64>(),
    )
    .with_partition(p);
    a.store(one.clone()).or_else(|_| b.store(one)).ok()
}

fn reason(e: &StreamsError) -> Option<&Unavailable> {
    match e {
        StreamsError::StoreUnavailable { reason, .. } => Some(reason),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_answer_every_key_and_a_rebalance_gives_only_retriable_errors() -> Result<()>
{
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (app, input, output) = (
        unique_name("queries"),
        unique_name("queries-in"),
        unique_name("queries-out"),
    );
    cluster.create_topic(&input, PARTITIONS, 1, &[])?;
    cluster.create_topic(&output, PARTITIONS, 1, &[])?;
    let (state_a, state_b) = (ScratchDir::new()?, ScratchDir::new()?);

    let mut a = KafkaStreams::new(
        count_topology(&input, &output)?,
        config(&app, bootstrap, &state_a, SERVER_A)?,
    )?;
    let e = counts(&a).err().context("a query before start")?;
    assert!(e.is_retriable(), "{e}");
    assert_eq!(reason(&e), Some(&Unavailable::NotRunning(State::Created)));
    a.start()?;
    wait_running(&[&a])?;

    produce(bootstrap, &input, round_robin(0, RECORDS, KEYS)).await?;
    wait_until_committed(
        bootstrap,
        &app,
        std::slice::from_ref(&input),
        Duration::from_secs(60),
    )?;
    let expected = last_output(bootstrap, &output)?;
    assert_eq!(expected.len(), KEYS);
    assert!(expected.values().all(|&n| n == (RECORDS / KEYS) as i64));
    // The stores commit right after the offsets: wait for the last commit to show.
    let deadline = Instant::now() + Duration::from_secs(30);
    while all_counts(&a).ok().as_ref() != Some(&expected) {
        if Instant::now() > deadline {
            bail!(
                "instance A's store never showed the output's counts: {:?}",
                all_counts(&a)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let view = counts(&a)?;
    assert_eq!(view.partitions(), vec![0, 1, 2, 3]);
    assert_eq!(view.get(&"k3".to_owned())?, Some(20));
    assert_eq!(view.get(&"absent".to_owned())?, None);

    // Mistakes are named and not retriable.
    let wrong = a
        .store(StoreQueryParameters::from_name_and_type(
            "counts",
            QueryableStoreTypes::window_store::<String, i64>(),
        ))
        .err()
        .context("a window query on a key-value store")?;
    assert!(matches!(wrong, StreamsError::InvalidStoreQuery { .. }) && !wrong.is_retriable());
    let unknown = a
        .store(StoreQueryParameters::from_name_and_type(
            "no-such-store",
            QueryableStoreTypes::key_value::<String, i64>(),
        ))
        .err()
        .context("a query of an unknown store")?;
    assert!(
        matches!(unknown, StreamsError::InvalidStoreQuery { .. }),
        "{unknown}"
    );

    // B joins while a thread keeps querying A and B: each answer is the final count or a
    // retriable error.
    let b = Arc::new(parking_lot::Mutex::new(None::<KafkaStreams>));
    let a = Arc::new(a);
    let stop = Arc::new(AtomicBool::new(false));
    // Answers count once B has been created: the ones during its join.
    let joining = Arc::new(AtomicBool::new(false));
    let checker = {
        let (a, b, stop, expected) = (a.clone(), b.clone(), stop.clone(), expected.clone());
        let joining = joining.clone();
        std::thread::spawn(move || -> Result<(usize, usize)> {
            let (mut answers, mut retriable) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let b_guard = b.lock();
                let instances = std::iter::once(&*a).chain(b_guard.as_ref());
                for streams in instances {
                    for (key, count) in &expected {
                        match counts(streams).and_then(|v| v.get(key)) {
                            Ok(None) => {}
                            Ok(Some(n)) => {
                                assert_eq!(n, *count, "{key} answered a wrong count");
                                answers += usize::from(joining.load(Ordering::Relaxed));
                            }
                            Err(e) if e.is_retriable() => retriable += 1,
                            Err(e) => bail!("a query failed for good: {e}"),
                        }
                    }
                }
                drop(b_guard);
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok((answers, retriable))
        })
    };
    joining.store(true, Ordering::Relaxed);
    let mut started = KafkaStreams::new(
        count_topology(&input, &output)?,
        config(&app, bootstrap, &state_b, SERVER_B)?,
    )?;
    started.start()?;
    *b.lock() = Some(started);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let guard = b.lock();
        let b_ref = guard.as_ref().context("instance B")?;
        if a.state() == State::Running
            && b_ref.state() == State::Running
            && counts(&a).is_ok_and(|v| v.partitions().len() < 4)
            && counts(b_ref).is_ok()
        {
            break;
        }
        drop(guard);
        if Instant::now() > deadline {
            bail!("the partitions were not shared out within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let (answers, retriable) = checker.join().expect("the checking thread")?;
    assert!(answers > 0, "no query was answered during the rebalance");
    eprintln!("during the rebalance: {answers} right answers, {retriable} retriable errors");

    // Every key from exactly one instance, with the output's count.
    let guard = b.lock();
    let b_ref = guard.as_ref().context("instance B")?;
    let (from_a, from_b) = (all_counts(&a)?, all_counts(b_ref)?);
    let mut union = from_a.clone();
    for (k, v) in &from_b {
        assert!(
            union.insert(k.clone(), *v).is_none(),
            "{k} answered by both instances"
        );
    }
    assert_eq!(union, expected);
    let (view_a, view_b) = (counts(&a)?, counts(b_ref)?);
    let mut hosted: Vec<i32> = view_a.partitions();
    hosted.extend(view_b.partitions());
    hosted.sort();
    assert_eq!(hosted, vec![0, 1, 2, 3]);
    for (key, count) in &expected {
        let found: Vec<i64> = [view_a.get(key)?, view_b.get(key)?]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(found, vec![*count], "{key}");
    }
    // Each key's metadata names the instance that answered it and its partition, from
    // either instance (the group's view may lag the rebalance by a moment).
    let hosts = [(SERVER_A, &view_a), (SERVER_B, &view_b)];
    let deadline = Instant::now() + Duration::from_secs(30);
    for key in expected.keys() {
        let (server, _) = hosts
            .iter()
            .find(|(_, v)| v.get(key).ok().flatten().is_some())
            .context("the host of a key")?;
        let partition = (0..PARTITIONS)
            .find(|p| {
                partition_view(&a, b_ref, *p)
                    .is_some_and(|one| one.get(key).ok().flatten().is_some())
            })
            .context("the partition of a key")?;
        for asking in [&*a, b_ref] {
            loop {
                match asking.query_metadata_for_key("counts", key, &StringSerde) {
                    Ok(m) if m.active_host.to_string() == *server => {
                        assert_eq!(m.partition, partition, "{key}");
                        assert!(m.standby_hosts.is_empty());
                        break;
                    }
                    Ok(_) => {}
                    Err(e) if e.is_retriable() => {}
                    Err(e) => bail!("metadata of {key}: {e}"),
                }
                if Instant::now() > deadline {
                    bail!("the metadata of {key} never named {server}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let all = a.all_metadata()?;
    let servers: Vec<String> = all.iter().map(|m| m.host_info.to_string()).collect();
    assert_eq!(servers, vec![SERVER_A.to_owned(), SERVER_B.to_owned()]);
    for (m, view) in all.iter().zip([&view_a, &view_b]) {
        let partitions: Vec<i32> = m.topic_partitions.iter().map(|(_, p)| *p).collect();
        assert_eq!(partitions, view.partitions(), "{}", m.host_info);
        assert!(m.topic_partitions.iter().all(|(t, _)| *t == input));
        assert_eq!(
            m.state_store_names.iter().collect::<Vec<_>>(),
            vec!["counts"]
        );
    }
    assert_eq!(b_ref.metadata_for_store("counts")?, all);
    let unknown = a
        .metadata_for_store("no-such-store")
        .err()
        .context("unknown store")?;
    assert!(
        matches!(unknown, StreamsError::InvalidStoreQuery { .. }),
        "{unknown}"
    );

    // One partition: answered by its host; the other instance names it as not hosted.
    let p = view_b.partitions()[0];
    let one = StoreQueryParameters::from_name_and_type(
        "counts",
        QueryableStoreTypes::key_value::<String, i64>(),
    )
    .with_partition(p);
    assert_eq!(b_ref.store(one.clone())?.partitions(), vec![p]);
    let e = a.store(one).err().context("a partition A does not host")?;
    assert_eq!(
        reason(&e),
        Some(&Unavailable::NotHosted { partition: Some(p) })
    );
    drop(guard);

    // Closed: the views fail as migrated, new queries as not running.
    let mut a = Arc::try_unwrap(a).ok().context("the only reference to A")?;
    a.close(Duration::from_secs(30))?;
    let e = view_a
        .get(&"k0".to_owned())
        .and_then(|_| view_a.all()?.collect::<Result<Vec<_>, _>>().map(|_| ()))
        .err()
        .context("a read from a closed instance's view")?;
    assert!(
        matches!(reason(&e), Some(Unavailable::Migrated { .. })),
        "{e}"
    );
    let e = counts(&a).err().context("a query after close")?;
    assert_eq!(
        reason(&e),
        Some(&Unavailable::NotRunning(State::NotRunning))
    );
    let mut b = b.lock().take().context("instance B")?;
    b.close(Duration::from_secs(30))?;
    Ok(())
}
