//! Faults found by probing the runtime as a hostile but fair user would, each injected on a
//! real broker: a task whose state lock is held elsewhere, records whose timestamps break
//! window arithmetic, user code that panics. `docs/testing.md` lists what each test injects.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use integration_tests::apps::count_topology;
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce, read_committed};
use integration_tests::kafka::{shared_cluster, unique_name};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::{KafkaStreams, State, StreamsConfig, Topology};

/// The final count per key of a `CountPerKey` output (the last record of each key wins).
fn final_counts(records: &[integration_tests::client::RawRecord]) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for r in records {
        let value: [u8; 8] = r
            .value
            .as_deref()
            .and_then(|v| v.try_into().ok())
            .unwrap_or([0xff; 8]);
        counts.insert(
            String::from_utf8_lossy(&r.key).into_owned(),
            i64::from_be_bytes(value),
        );
    }
    counts
}

/// A task whose state directory lock is held when it is assigned (by a previous owner still
/// closing it, or another process on the same `state.dir`) is deferred, and starts and
/// processes its partition once the lock is released: every record of both partitions is
/// counted, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_lock_is_held_runs_once_the_lock_is_released() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output) = (unique_name("locked-in"), unique_name("locked-out"));
    cluster.create_topic(&input, 2, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    let app = unique_name("locked-app");
    let state = ScratchDir::new()?;

    // Hold task 0_1's lock the way another process would.
    let app_dir = state.path().join(&app);
    std::fs::create_dir_all(&app_dir)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(app_dir.join("0_1.lock"))?;
    lock.try_lock()?;

    // 10 keys, 3 records each, keys k0..k4 on partition 0 and k5..k9 on partition 1.
    let records: Vec<(String, Vec<u8>, Option<i32>)> = (0..30)
        .map(|i| {
            let k = i % 10;
            (
                format!("k{k}"),
                b"x".to_vec(),
                Some(if k < 5 { 0 } else { 1 }),
            )
        })
        .collect();
    produce(bootstrap, &input, records).await?;

    let t = count_topology(&input, &output)?;
    let config = StreamsConfig::new(&app, bootstrap)
        .set("commit.interval.ms", "100")?
        .with_state_dir(state.path());
    let mut streams = KafkaStreams::new(t, config)?;
    streams.start()?;

    // Partition 0 is processed while partition 1's task waits for its lock.
    let first = read_committed(
        bootstrap,
        &output,
        15,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )?;
    let counts = final_counts(&first);
    let expected_p0: BTreeMap<String, i64> = (0..5).map(|k| (format!("k{k}"), 3)).collect();
    assert_eq!(
        counts, expected_p0,
        "only partition 0 runs while 0_1 is locked"
    );
    assert_eq!(streams.state(), State::Rebalancing);

    let released = Instant::now();
    drop(lock);
    let out = read_committed(
        bootstrap,
        &output,
        30,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )?;
    let waited = released.elapsed();
    streams.close(Duration::from_secs(30))?;
    cluster.delete_topics(&[&input, &output], &[&app])?;
    if out.len() != 30 {
        bail!(
            "{} records out after the lock was released {waited:?} ago, expected 30: {:?}",
            out.len(),
            final_counts(&out)
        );
    }
    let expected: BTreeMap<String, i64> = (0..10).map(|k| (format!("k{k}"), 3)).collect();
    assert_eq!(final_counts(&out), expected);
    // Each key counted 1, 2, 3 exactly once.
    let per_key = integration_tests::client::counts_per_key(&out)?;
    for (key, counts) in per_key {
        assert_eq!(counts, vec![1, 2, 3], "counts of {key}");
    }
    Ok(())
}

/// Reads a record's timestamp from its value (decimal milliseconds), as an application that
/// takes event time from the payload does.
struct TimestampInValue;

impl streams_core::timestamp::TimestampExtractor for TimestampInValue {
    fn extract(
        &self,
        record: &streams_core::record::RawRecord,
        _: i64,
    ) -> streams_core::Result<i64> {
        Ok(record
            .value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1))
    }
}

/// The window types of [`windowed_count`].
#[derive(Debug, Clone, Copy)]
enum WindowKind {
    /// Tumbling, 10 ms.
    Tumbling,
    /// Hopping, 10 ms advancing by 5 ms.
    Hopping,
    /// Sliding, a time difference of 10 ms.
    Sliding,
    /// Sessions with an inactivity gap of 10 ms.
    Session,
}

/// Counts per key in windows of `kind` with 100 ms of grace, event time from the value,
/// written as `<start>..<end>=<count>` (`=null` for a session a merge replaced).
fn windowed_count(input: &str, output: &str, kind: WindowKind) -> streams_core::Result<Topology> {
    let ms = Duration::from_millis;
    let b = streams_dsl::StreamsBuilder::new();
    let grouped = b
        .stream_with(
            &[input],
            streams_dsl::Consumed::with(StringSerde, StringSerde)
                .with_timestamp_extractor(TimestampInValue),
        )
        .group_by_key();
    let counts = streams_dsl::Materialized::as_store("counts");
    let show = |k: &streams_core::Windowed<String>, v: Option<i64>| {
        let count = v.map_or("null".to_owned(), |n| n.to_string());
        (
            k.key.clone(),
            format!("{}..{}={count}", k.window.start, k.window.end),
        )
    };
    let produced = streams_dsl::Produced::with(StringSerde, StringSerde);
    match kind {
        WindowKind::Tumbling | WindowKind::Hopping => {
            let mut windows = streams_dsl::TimeWindows::of_size_and_grace(ms(10), ms(100));
            if let WindowKind::Hopping = kind {
                windows = windows.advance_by(ms(5));
            }
            grouped
                .windowed_by(windows)
                .count_with(counts)
                .to_stream()
                .map(move |k, v| show(&k, v))
                .to_with(output, produced);
        }
        WindowKind::Sliding => grouped
            .windowed_by_sliding(streams_dsl::SlidingWindows::of_time_difference_and_grace(
                ms(10),
                ms(100),
            ))
            .count_with(counts)
            .to_stream()
            .map(move |k, v| show(&k, v))
            .to_with(output, produced),
        WindowKind::Session => grouped
            .windowed_by_session(streams_dsl::SessionWindows::of_inactivity_gap_and_grace(
                ms(10),
                ms(100),
            ))
            .count_with(counts)
            .to_stream()
            .map(move |k, v| show(&k, v))
            .to_with(output, produced),
    }
    b.build()
}

/// Records whose event times are at or near `i64::MAX` no longer panic the stream thread on
/// window arithmetic: their windows end at `i64::MAX`, the application keeps running, and a
/// restart on the same state counts on from there. Every window type, under at-least-once;
/// tumbling windows under exactly-once too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_at_the_end_of_time_are_counted_in_windows_across_a_restart() -> Result<()> {
    let max = i64::MAX;
    let last_ten = max / 10 * 10;
    let w = |start: i64, end: i64, count: &str| format!("{start}..{end}={count}");
    // (kind, guarantee, event times before the restart, outputs, after it, outputs)
    type Case = (
        WindowKind,
        &'static str,
        Vec<i64>,
        Vec<String>,
        Vec<i64>,
        Vec<String>,
    );
    let tumbling = |guarantee| -> Case {
        (
            WindowKind::Tumbling,
            guarantee,
            // 7 is late once stream time is i64::MAX.
            vec![5, max - 5, max, 7],
            vec![w(0, 10, "1"), w(last_ten, max, "1"), w(last_ten, max, "2")],
            vec![max - 1],
            vec![w(last_ten, max, "3")],
        )
    };
    let cases: Vec<Case> = vec![
        tumbling("at_least_once"),
        tumbling("exactly_once_v2"),
        (
            WindowKind::Hopping,
            "at_least_once",
            vec![5, max - 5, max, 7],
            vec![
                w(0, 10, "1"),
                w(5, 15, "1"),
                w(last_ten - 5, last_ten + 5, "1"),
                w(last_ten, max, "1"),
                w(last_ten, max, "2"),
                w(last_ten + 5, max, "1"),
            ],
            vec![max - 1],
            vec![w(last_ten, max, "3"), w(last_ten + 5, max, "2")],
        ),
        (
            WindowKind::Sliding,
            "at_least_once",
            vec![max - 3, max],
            vec![
                w(max - 13, max - 3, "1"),
                w(max - 2, max, "1"),
                w(max - 10, max, "2"),
            ],
            vec![max - 1],
            // It joins both windows holding i64::MAX, newest first (as Kafka Streams), then
            // its own left window (with i64::MAX - 3) and its right window, which starts and
            // ends at i64::MAX.
            vec![
                w(max - 2, max, "2"),
                w(max - 10, max, "3"),
                w(max - 11, max - 1, "2"),
                w(max, max, "1"),
            ],
        ),
        (
            WindowKind::Session,
            "at_least_once",
            vec![max - 5, max],
            vec![
                w(max - 5, max - 5, "1"),
                w(max - 5, max - 5, "null"),
                w(max - 5, max, "2"),
            ],
            vec![max - 1],
            vec![w(max - 5, max, "null"), w(max - 5, max, "3")],
        ),
    ];
    for (kind, guarantee, before, expected_before, after, expected_after) in cases {
        let cluster = shared_cluster()?;
        let bootstrap = cluster.bootstrap_servers();
        let (input, output) = (unique_name("maxts-in"), unique_name("maxts-out"));
        let app = unique_name("maxts-app");
        // Since Kafka 4.0 a broker refuses records stamped more than an hour ahead of its
        // clock (`message.timestamp.after.max.ms`); the output and changelog topics are made
        // here to accept them, as topics did by default before.
        let future = [("message.timestamp.after.max.ms", "9223372036854775807")];
        cluster.create_topic(&input, 1, 1, &[])?;
        cluster.create_topic(&output, 1, 1, &future)?;
        cluster.create_topic(
            &format!("{app}-counts-changelog"),
            1,
            1,
            &[future[0], ("cleanup.policy", "compact")],
        )?;
        let state = ScratchDir::new()?;
        let start = || -> Result<KafkaStreams> {
            let config = StreamsConfig::new(&app, bootstrap)
                .set("commit.interval.ms", "100")?
                .set("processing.guarantee", guarantee)?
                .with_state_dir(state.path());
            let mut streams = KafkaStreams::new(windowed_count(&input, &output, kind)?, config)?;
            streams.start()?;
            Ok(streams)
        };
        let values = |ts: &[i64]| -> Vec<(String, Vec<u8>, Option<i32>)> {
            ts.iter()
                .map(|t| ("a".to_owned(), t.to_string().into_bytes(), None))
                .collect()
        };
        let read = |n: usize| {
            integration_tests::client::read_topic(
                bootstrap,
                &output,
                n,
                Duration::from_secs(1),
                Duration::from_secs(60),
            )
        };
        let got = |records: &[integration_tests::client::Consumed]| -> Vec<String> {
            records.iter().map(|r| r.value.clone()).collect()
        };
        produce(bootstrap, &input, values(&before)).await?;
        let mut streams = start()?;
        let first = read(expected_before.len())?;
        assert_eq!(streams.state(), State::Running, "{kind:?} {guarantee}");
        streams.close(Duration::from_secs(30))?;

        produce(bootstrap, &input, values(&after)).await?;
        let mut streams = start()?;
        let total = expected_before.len() + expected_after.len();
        let out = read(total)?;
        assert_eq!(streams.state(), State::Running, "{kind:?} {guarantee}");
        streams.close(Duration::from_secs(30))?;
        cluster.delete_topics(&[&input, &output], &[&app])?;

        assert_eq!(got(&first), expected_before, "{kind:?} {guarantee}");
        let expected: Vec<String> = expected_before.into_iter().chain(expected_after).collect();
        assert_eq!(
            got(&out),
            expected,
            "{kind:?} {guarantee}: after the restart"
        );
    }
    Ok(())
}

/// Parses values as integers and panics on anything else, as an application without a
/// fallible operation would.
fn panicking_parser(input: &str, output: &str) -> streams_core::Result<Topology> {
    let b = streams_dsl::StreamsBuilder::new();
    b.stream_with(
        &[input],
        streams_dsl::Consumed::with(StringSerde, StringSerde),
    )
    .map_values(|v: String| match v.parse::<i64>() {
        Ok(n) => n,
        Err(e) => panic!("cannot parse {v:?}: {e}"),
    })
    .to_with(output, streams_dsl::Produced::with(StringSerde, I64Serde));
    b.build()
}

/// A closure that panics on one record sends that record to the dead-letter topic and the
/// application goes on, under both guarantees (in the transaction under exactly-once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_closure_sends_its_record_to_the_dead_letter_topic() -> Result<()> {
    for guarantee in ["at_least_once", "exactly_once_v2"] {
        let cluster = shared_cluster()?;
        let bootstrap = cluster.bootstrap_servers();
        let (input, output, dlq) = (
            unique_name("panic-dlq-in"),
            unique_name("panic-dlq-out"),
            unique_name("panic-dlq"),
        );
        for topic in [&input, &output, &dlq] {
            cluster.create_topic(topic, 1, 1, &[])?;
        }
        let app = unique_name("panic-dlq-app");
        let state = ScratchDir::new()?;
        let config = StreamsConfig::new(&app, bootstrap)
            .set("commit.interval.ms", "100")?
            .set("processing.guarantee", guarantee)?
            .set("processing.exception.handler", "dead-letter-queue")?
            .set("errors.dead.letter.queue.topic.name", &dlq)?
            .with_state_dir(state.path());
        let records = ["1", "x", "3"]
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("k{i}"), v.as_bytes().to_vec(), None));
        produce(bootstrap, &input, records).await?;
        let mut streams = KafkaStreams::new(panicking_parser(&input, &output)?, config)?;
        streams.start()?;
        let out = read_committed(
            bootstrap,
            &output,
            2,
            Duration::from_secs(1),
            Duration::from_secs(60),
        )?;
        let dead = integration_tests::client::read_topic(
            bootstrap,
            &dlq,
            1,
            Duration::from_secs(1),
            Duration::from_secs(60),
        )?;
        assert_eq!(streams.state(), State::Running, "{guarantee}");
        streams.close(Duration::from_secs(30))?;
        cluster.delete_topics(&[&input, &output, &dlq], &[&app])?;
        let got: Vec<(String, Option<Vec<u8>>)> = out
            .into_iter()
            .map(|r| (String::from_utf8_lossy(&r.key).into_owned(), r.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("k0".to_owned(), Some(1i64.to_be_bytes().to_vec())),
                ("k2".to_owned(), Some(3i64.to_be_bytes().to_vec())),
            ],
            "{guarantee}"
        );
        assert_eq!(dead.len(), 1, "{guarantee}");
        assert_eq!((dead[0].key.as_str(), dead[0].value.as_str()), ("k1", "x"));
        assert_eq!(dead[0].header("__streams.errors.offset"), Some("1"));
        assert_eq!(
            dead[0].header("__streams.errors.message"),
            Some("panicked: cannot parse \"x\": invalid digit found in string")
        );
    }
    Ok(())
}

/// With log-and-fail, a closure that panics on one record stops the client in `Error` with
/// an error naming the record, and no offset past the record is committed, so a restart
/// meets it again rather than skipping it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_closure_with_log_and_fail_commits_nothing_past_its_record() -> Result<()> {
    use rdkafka::consumer::Consumer;
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output) = (unique_name("panic-fail-in"), unique_name("panic-fail-out"));
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    let app = unique_name("panic-fail-app");
    let state = ScratchDir::new()?;
    let config = StreamsConfig::new(&app, bootstrap)
        .set("commit.interval.ms", "100")?
        .with_state_dir(state.path());
    let records = ["1", "2", "x", "4"]
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("k{i}"), v.as_bytes().to_vec(), None));
    produce(bootstrap, &input, records).await?;
    let mut streams = KafkaStreams::new(panicking_parser(&input, &output)?, config)?;
    streams.start()?;
    assert!(streams.wait_for_state(State::Error, Duration::from_secs(60)));
    streams.close(Duration::from_secs(10))?;
    let err = streams
        .error()
        .expect("the failed record stopped the client");
    assert_eq!(
        err.to_string(),
        format!(
            "processing failed in node `KSTREAM-MAPVALUES-0000000001` for the record at \
             {input}-0@2: panicked: cannot parse \"x\": invalid digit found in string"
        )
    );
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", &app)
        .create()?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(&input, 0);
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    let offset = committed
        .find_partition(&input, 0)
        .map(|p| p.offset())
        .ok_or_else(|| anyhow::anyhow!("no committed offset entry"))?;
    match offset {
        rdkafka::Offset::Offset(o) => assert!(o <= 2, "committed past the failed record: {o}"),
        rdkafka::Offset::Invalid => {}
        other => bail!("unexpected committed offset {other:?}"),
    }
    drop(consumer);
    cluster.delete_topics(&[&input, &output], &[&app])?;
    Ok(())
}

/// A second instance of an application on the state directory another instance uses is
/// refused by `new`, before it processes anything; once the first closes, a third may start.
#[test]
fn a_second_instance_on_the_same_state_directory_is_refused() -> Result<()> {
    let cluster = shared_cluster()?;
    let app = unique_name("samedir-app");
    let state = ScratchDir::new()?;
    let new = || -> streams_core::Result<KafkaStreams> {
        KafkaStreams::new(
            count_topology("samedir-in", "samedir-out")?,
            StreamsConfig::new(&app, cluster.bootstrap_servers()).with_state_dir(state.path()),
        )
    };
    let mut first = new()?;
    let dir = state.path().join(&app);
    match new() {
        Ok(_) => bail!("a second instance on the same state directory was accepted"),
        Err(e) => assert_eq!(
            e.to_string(),
            format!(
                "invalid configuration `state.dir`: {} is in use by another instance of \
                 application `{app}` (it holds {}); give each instance its own state.dir",
                dir.display(),
                state.path().join(format!("{app}.lock")).display()
            )
        ),
    }
    first.close(Duration::from_secs(10))?;
    let mut third = new()?;
    third.close(Duration::from_secs(10))?;
    Ok(())
}

/// A bootstrap server that does not resolve fails `start` at once, naming the address,
/// instead of a transport error naming none after the 30 s metadata timeout.
#[test]
fn an_unresolvable_bootstrap_server_fails_start_at_once_naming_it() -> Result<()> {
    let mut t = Topology::new();
    t.add_source("in", &["unresolvable-in"], StringSerde, StringSerde)?
        .add_sink("out", "unresolvable-out", StringSerde, StringSerde, &["in"])?;
    let mut streams = KafkaStreams::new(
        t,
        StreamsConfig::new(unique_name("unresolvable"), "no-such-host.invalid:9092"),
    )?;
    let started = Instant::now();
    let err = streams
        .start()
        .expect_err("no broker can be reached")
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    assert!(
        err.starts_with(
            "invalid configuration `bootstrap.servers`: no bootstrap server resolves: \
             no-such-host.invalid:9092: "
        ),
        "{err}"
    );
    streams.close(Duration::from_secs(10))?;
    Ok(())
}

/// Under exactly-once a repartition topic is written in transactions, and each commit marker
/// takes an offset that never reaches a task: a caught-up, idle application still reports a
/// lag of 0 on every input partition (as Kafka Streams does), not 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_exactly_once_application_reports_no_lag_past_commit_markers() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output) = (unique_name("lag-in"), unique_name("lag-out"));
    cluster.create_topic(&input, 2, 1, &[])?;
    cluster.create_topic(&output, 2, 1, &[])?;
    let app = unique_name("lag-app");
    let state = ScratchDir::new()?;
    let b = streams_dsl::StreamsBuilder::new();
    b.stream_with(
        &[&input],
        streams_dsl::Consumed::with(StringSerde, StringSerde),
    )
    .group_by_with(
        |_, word: &String| word.clone(),
        streams_dsl::Grouped::with(StringSerde, StringSerde).with_name("by-word"),
    )
    .count_with(streams_dsl::Materialized::as_store("word-counts"))
    .to_stream()
    .to_with(
        &output,
        streams_dsl::Produced::with(StringSerde, streams_core::serde::Nullable(I64Serde)),
    );
    let config = StreamsConfig::new(&app, bootstrap)
        .set("processing.guarantee", "exactly_once_v2")?
        .with_state_dir(state.path());
    let mut streams = KafkaStreams::new(b.build()?, config)?;
    streams.start()?;
    let words = ["a", "b", "c", "d", "e"];
    produce(
        bootstrap,
        &input,
        (0..20).map(|i| (format!("k{i}"), words[i % 5].as_bytes().to_vec(), None)),
    )
    .await?;
    read_committed(
        bootstrap,
        &output,
        20,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    let repartition = format!("{app}-by-word-repartition");
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut partitions, mut total, mut max);
    loop {
        let m = streams.metrics();
        partitions = m
            .find(
                "kstreams_consumer_records_lag",
                &[("topic", repartition.as_str())],
            )
            .count();
        total = m.sum("kstreams_consumer_records_lag", &[]);
        max = m.max("kstreams_consumer_records_lag_max", &[]);
        if partitions == 2 && total == 0.0 && max == Some(0.0) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    streams.close(Duration::from_secs(30))?;
    cluster.delete_topics(&[&input, &output], &[&app])?;
    assert_eq!(
        partitions, 2,
        "lag of both repartition partitions is reported"
    );
    assert_eq!((total, max), (0.0, Some(0.0)), "lag of an idle application");
    Ok(())
}

/// A changelog topic deleted while the application was stopped is not silently recreated
/// empty (which would wipe the local state): the start is refused, naming the topic, until
/// the local state is reset with `clean_up`; then counting starts over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_changelog_topic_refuses_the_start_until_a_reset() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output) = (unique_name("lost-in"), unique_name("lost-out"));
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    let app = unique_name("lost-app");
    let changelog = format!("{app}-counts-changelog");
    let state = ScratchDir::new()?;
    let new = || -> Result<KafkaStreams> {
        let t = count_topology(&input, &output)?;
        let config = StreamsConfig::new(&app, bootstrap)
            .set("commit.interval.ms", "100")?
            .with_state_dir(state.path());
        Ok(KafkaStreams::new(t, config)?)
    };
    produce(bootstrap, &input, [("a".to_owned(), Vec::new(), None)]).await?;
    let mut first = new()?;
    first.start()?;
    read_committed(
        bootstrap,
        &output,
        1,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    first.close(Duration::from_secs(30))?;
    drop(first);

    cluster.delete_topics(&[&changelog], &[])?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        use rdkafka::consumer::Consumer;
        let probe: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()?;
        let md = probe.fetch_metadata(None, Duration::from_secs(10))?;
        if !md.topics().iter().any(|t| t.name() == changelog) {
            break;
        }
        if Instant::now() > deadline {
            bail!("{changelog} was not deleted");
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    let mut second = new()?;
    let err = second.start().expect_err("refused").to_string();
    let store_dir = state
        .path()
        .join(&app)
        .join("0_0")
        .join("rocksdb")
        .join("counts");
    assert_eq!(
        err,
        format!(
            "invalid topology: changelog topic {changelog} does not exist, but local state of \
             store `counts` does ({}): the topic was deleted while the application was stopped, \
             and recreating it empty would lose that state. Bring the topic back, or reset the \
             application's local state: call KafkaStreams::clean_up() before start() (it \
             deletes {})",
            store_dir.display(),
            state.path().join(&app).display()
        )
    );
    second.close(Duration::from_secs(10))?;
    drop(second);

    let mut third = new()?;
    third.clean_up()?;
    third.start()?;
    produce(bootstrap, &input, [("a".to_owned(), Vec::new(), None)]).await?;
    let out = read_committed(
        bootstrap,
        &output,
        2,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    third.close(Duration::from_secs(30))?;
    cluster.delete_topics(&[&input, &output], &[&app])?;
    // After the reset the input is read again from the committed offset (1): the new record
    // is counted from zero.
    let counts: Vec<i64> = out
        .iter()
        .map(|r| {
            let v: [u8; 8] = r.value.as_deref().unwrap_or_default().try_into()?;
            Ok(i64::from_be_bytes(v))
        })
        .collect::<Result<_>>()?;
    assert_eq!(counts, vec![1, 1]);
    Ok(())
}

/// A dead-letter record the producer refuses (a 5 MB record above its `message.max.bytes`)
/// stops the application with an error naming the source record; with
/// `errors.dead.letter.queue.oversized=truncate` the dead-letter record goes without its
/// value, with a header saying what was dropped, and processing goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_dead_letter_record_fails_naming_its_source_or_is_truncated() -> Result<()> {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output, dlq) = (
        unique_name("big-in"),
        unique_name("big-out"),
        unique_name("big-dlq"),
    );
    let big = [("max.message.bytes", "6000000")];
    cluster.create_topic(&input, 1, 1, &big)?;
    cluster.create_topic(&output, 1, 1, &[])?;
    cluster.create_topic(&dlq, 1, 1, &big)?;
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.max.bytes", "6000000")
        .create()?;
    let huge = vec![b'x'; 5_000_000];
    producer
        .send(
            FutureRecord::to(&input).key("big").payload(&huge),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)?;
    produce(
        bootstrap,
        &input,
        [("small".to_owned(), b"7".to_vec(), None)],
    )
    .await?;

    let run = |oversized: &'static str| -> Result<KafkaStreams> {
        let state = ScratchDir::new()?;
        let config = StreamsConfig::new(unique_name("big-app"), bootstrap)
            .set("commit.interval.ms", "100")?
            .set("processing.exception.handler", "dead-letter-queue")?
            .set("errors.dead.letter.queue.topic.name", &dlq)?
            .set("errors.dead.letter.queue.oversized", oversized)?
            .with_state_dir(state.path());
        let mut streams = KafkaStreams::new(panicking_parser(&input, &output)?, config)?;
        streams.start()?;
        Ok(streams)
    };

    let mut failing = run("fail")?;
    assert!(failing.wait_for_state(State::Error, Duration::from_secs(60)));
    failing.close(Duration::from_secs(10))?;
    let err = failing
        .error()
        .expect("the record cannot be dead-lettered")
        .to_string();
    let prefix = format!(
        "writing the dead-letter record of the record at {input}-0@0 to topic `{dlq}` failed: "
    );
    assert!(err.starts_with(&prefix), "{err}");
    assert!(err.contains("too large"), "{err}");

    let mut truncating = run("truncate")?;
    let out = read_committed(
        bootstrap,
        &output,
        1,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    let dead = integration_tests::client::read_topic(
        bootstrap,
        &dlq,
        1,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    assert_eq!(
        truncating.state(),
        State::Running,
        "{:?}",
        truncating.error()
    );
    truncating.close(Duration::from_secs(30))?;
    cluster.delete_topics(&[&input, &output, &dlq], &[])?;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, Some(7i64.to_be_bytes().to_vec()));
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].key.as_str(), dead[0].value.as_str()), ("big", ""));
    assert_eq!(dead[0].header("__streams.errors.offset"), Some("0"));
    // The panic's message quotes the whole value: cut to 4 KiB.
    let message = dead[0]
        .header("__streams.errors.message")
        .unwrap_or_default();
    assert!(
        message.starts_with("panicked: cannot parse \"xxx"),
        "{message}"
    );
    assert!(
        message.ends_with("... (cut from 5000056 bytes)"),
        "{message}"
    );
    assert!(message.len() < 4200);
    assert_eq!(
        dead[0].header("__streams.errors.truncated"),
        Some("value of 5000000 bytes dropped: the record would exceed message.max.bytes (1000000)")
    );
    Ok(())
}
