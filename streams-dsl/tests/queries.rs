//! Interactive queries on the test driver: every view (key-value, timestamped key-value,
//! window, session) and every bound (inclusive ends, empty and reversed ranges, prefixes),
//! over the stores of DSL aggregations; and the errors of a query that cannot be answered.

use std::time::Duration;

use state_stores::query::QueryableStoreTypes;
use streams_core::query::{StoreQueryParameters, Unavailable};
use streams_core::serde::StringSerde;
use streams_core::test_driver::TopologyTestDriver;
use streams_core::{StreamsConfig, StreamsError, Window, Windowed};
use streams_dsl::{
    Consumed, Materialized, SessionWindows, StreamsBuilder, TimeWindows, ValueAndTimestamp,
};

type Result<T> = std::result::Result<T, StreamsError>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn params<Q: streams_core::query::QueryableStoreType>(
    name: &str,
    query: Q,
) -> StoreQueryParameters<Q> {
    StoreQueryParameters::from_name_and_type(name, query)
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn w(key: &str, start: i64, end: i64) -> Windowed<String> {
    Windowed::new(key.to_owned(), Window::new(start, end))
}

/// Counts `events` by key three ways: all time (`counts`, RocksDB), in tumbling windows of
/// 10 ms (`windows`), and in sessions with a 10 ms gap (`sessions`); and each again in memory
/// (`memory`, `memory-windows`, `memory-sessions`). The window and session stores keep 1 s,
/// so every window below stays. Pipes `(key, timestamp)` records.
fn driver(records: &[(&str, i64)]) -> Result<TopologyTestDriver> {
    let b = StreamsBuilder::new();
    let grouped = b
        .stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
        .group_by_key();
    grouped.count_with(Materialized::as_store("counts"));
    grouped.count_with(Materialized::as_store("memory").in_memory());
    grouped
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count_with(
            Materialized::as_store("memory-windows")
                .in_memory()
                .with_retention(ms(1_000)),
        );
    grouped
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count_with(Materialized::as_store("windows").with_retention(ms(1_000)));
    grouped
        .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(ms(10)))
        .count_with(Materialized::as_store("sessions").with_retention(ms(1_000)));
    grouped
        .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(ms(10)))
        .count_with(
            Materialized::as_store("memory-sessions")
                .in_memory()
                .with_retention(ms(1_000)),
        );
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("queries", "unused:9092"))?;
    let input = d.input_topic("events", StringSerde, StringSerde);
    for (k, t) in records {
        input.pipe(s(k), String::new(), *t)?;
    }
    Ok(d)
}

fn collect<T>(iter: impl Iterator<Item = Result<T>>) -> Result<Vec<T>> {
    iter.collect()
}

/// The keys of a scan's entries, in order.
fn keys_of(iter: impl Iterator<Item = Result<(String, i64)>>) -> Result<Vec<String>> {
    iter.map(|e| e.map(|(k, _)| k)).collect()
}

/// `n` keys counted once each (`k0000`, `k0001`, ...), the driver that counted them, and the
/// view of its RocksDB count store.
fn numbered(
    n: usize,
) -> Result<(
    Vec<String>,
    TopologyTestDriver,
    state_stores::query::ReadOnlyKeyValueStore<String, i64>,
)> {
    let keys: Vec<String> = (0..n).map(|i| format!("k{i:04}")).collect();
    let records: Vec<(&str, i64)> = keys.iter().map(|k| (k.as_str(), 0)).collect();
    let d = driver(&records)?;
    let counts = d.store(params(
        "counts",
        QueryableStoreTypes::key_value::<String, i64>(),
    ))?;
    Ok((keys, d, counts))
}

const KEYS: [(&str, i64); 6] = [
    ("a", 1),
    ("ab", 2),
    ("ab", 3),
    ("b", 4),
    ("ba", 5),
    ("c", 6),
];

#[test]
fn key_value_views_read_points_ranges_and_prefixes() -> Result<()> {
    let d = driver(&KEYS)?;
    let counts = d.store(params(
        "counts",
        QueryableStoreTypes::key_value::<String, i64>(),
    ))?;
    assert_eq!(counts.partitions(), vec![0]);
    assert_eq!(counts.get(&s("ab"))?, Some(2));
    assert_eq!(counts.get(&s("zz"))?, None);
    let all = vec![
        (s("a"), 1),
        (s("ab"), 2),
        (s("b"), 1),
        (s("ba"), 1),
        (s("c"), 1),
    ];
    assert_eq!(collect(counts.all()?)?, all);
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(collect(counts.reverse_all()?)?, reversed);
    // Both ends inclusive, open ends, an end that is no key, from after to.
    assert_eq!(
        collect(counts.range(Some(&s("ab")), Some(&s("ba")))?)?,
        vec![(s("ab"), 2), (s("b"), 1), (s("ba"), 1)]
    );
    assert_eq!(
        collect(counts.range(None, Some(&s("ab")))?)?,
        vec![(s("a"), 1), (s("ab"), 2)]
    );
    assert_eq!(
        collect(counts.range(Some(&s("bb")), None)?)?,
        vec![(s("c"), 1)]
    );
    assert_eq!(
        collect(counts.range(Some(&s("c")), Some(&s("a")))?)?,
        vec![]
    );
    assert_eq!(
        collect(counts.range(Some(&s("x")), Some(&s("z")))?)?,
        vec![]
    );
    assert_eq!(
        collect(counts.reverse_range(Some(&s("ab")), Some(&s("ba")))?)?,
        vec![(s("ba"), 1), (s("b"), 1), (s("ab"), 2)]
    );
    assert_eq!(
        collect(counts.reverse_range(Some(&s("c")), Some(&s("a")))?)?,
        vec![]
    );
    // Prefixes are serialized keys' prefixes.
    assert_eq!(
        collect(counts.prefix_scan(&s("a"), &StringSerde)?)?,
        vec![(s("a"), 1), (s("ab"), 2)]
    );
    assert_eq!(
        collect(counts.prefix_scan(&s("b"), &StringSerde)?)?,
        vec![(s("b"), 1), (s("ba"), 1)]
    );
    assert_eq!(collect(counts.prefix_scan(&s("d"), &StringSerde)?)?, vec![]);
    // RocksDB's estimate counts the overwritten key twice until a compaction.
    let estimate = counts.approximate_num_entries()?;
    assert!((5..=6).contains(&estimate), "{estimate}");

    // An in-memory store answers the same.
    let memory = d.store(params(
        "memory",
        QueryableStoreTypes::key_value::<String, i64>(),
    ))?;
    assert_eq!(collect(memory.all()?)?, all);
    assert_eq!(
        collect(memory.reverse_range(Some(&s("ab")), Some(&s("ba")))?)?,
        vec![(s("ba"), 1), (s("b"), 1), (s("ab"), 2)]
    );
    assert_eq!(
        collect(memory.prefix_scan(&s("a"), &StringSerde)?)?,
        vec![(s("a"), 1), (s("ab"), 2)]
    );
    assert_eq!(memory.approximate_num_entries()?, 5);

    // The same store with each row's timestamp (the latest record's of the key).
    let timestamped = d.store(params(
        "counts",
        QueryableStoreTypes::timestamped_key_value::<String, i64>(),
    ))?;
    assert_eq!(
        timestamped.get(&s("ab"))?,
        Some(ValueAndTimestamp {
            value: 2,
            timestamp: 3
        })
    );
    Ok(())
}

#[test]
fn a_view_sees_each_piped_record_and_scans_past_one_chunk() -> Result<()> {
    // More keys than a scan reads per visit to RocksDB (256), so scans cross chunks.
    let (keys, d, counts) = numbered(600)?;
    let all: Vec<String> = keys_of(counts.all()?)?;
    assert_eq!(all, keys);
    let mut reversed = keys.clone();
    reversed.reverse();
    let back: Vec<String> = keys_of(counts.reverse_all()?)?;
    assert_eq!(back, reversed);
    let from_300: Vec<String> = keys_of(counts.range(Some(&keys[300]), None)?)?;
    assert_eq!(from_300, keys[300..].to_vec());
    // Bounded at both ends, backwards, across two chunk boundaries.
    let back_10_590: Vec<String> =
        keys_of(counts.reverse_range(Some(&keys[10]), Some(&keys[590]))?)?;
    let mut expected: Vec<String> = keys[10..=590].to_vec();
    expected.reverse();
    assert_eq!(back_10_590, expected);
    // The in-memory store's scans go in chunks too.
    let memory = d.store(params(
        "memory",
        QueryableStoreTypes::key_value::<String, i64>(),
    ))?;
    let memory_all: Vec<String> = keys_of(memory.all()?)?;
    assert_eq!(memory_all, keys);
    let memory_back: Vec<String> =
        keys_of(memory.reverse_range(Some(&keys[10]), Some(&keys[590]))?)?;
    assert_eq!(memory_back, expected);

    // A view made before a record sees it once the driver has processed it.
    d.input_topic("events", StringSerde, StringSerde)
        .pipe(s("k0000"), String::new(), 1)?;
    assert_eq!(counts.get(&s("k0000"))?, Some(2));
    Ok(())
}

#[test]
fn window_views_fetch_by_key_and_time_with_inclusive_bounds() -> Result<()> {
    let d = driver(&[
        ("a", 1),
        ("a", 9),
        ("a", 10),
        ("b", 12),
        ("a", 25),
        ("b", 29),
    ])?;
    let windows = d.store(params(
        "windows",
        QueryableStoreTypes::window_store::<String, i64>(),
    ))?;
    assert_eq!(windows.fetch(&s("a"), 0)?, Some(2));
    assert_eq!(windows.fetch(&s("a"), 5)?, None);
    assert_eq!(
        collect(windows.fetch_range(&s("a"), 0, 20)?)?,
        vec![(0, 2), (10, 1), (20, 1)]
    );
    // Bounds select window starts, both inclusive.
    assert_eq!(
        collect(windows.fetch_range(&s("a"), 10, 20)?)?,
        vec![(10, 1), (20, 1)]
    );
    assert_eq!(collect(windows.fetch_range(&s("a"), 1, 9)?)?, vec![]);
    assert_eq!(collect(windows.fetch_range(&s("a"), 20, 10)?)?, vec![]);
    assert_eq!(
        collect(windows.backward_fetch_range(&s("a"), 0, 20)?)?,
        vec![(20, 1), (10, 1), (0, 2)]
    );
    assert_eq!(
        collect(windows.fetch_key_range(Some(&s("b")), Some(&s("b")), 0, 30)?)?,
        vec![(w("b", 10, 20), 1), (w("b", 20, 30), 1)]
    );
    // Across keys: segment by segment (one here), each in the byte order of key and start.
    assert_eq!(
        collect(windows.fetch_all(10, 20)?)?,
        vec![
            (w("a", 10, 20), 1),
            (w("a", 20, 30), 1),
            (w("b", 10, 20), 1),
            (w("b", 20, 30), 1)
        ]
    );
    assert_eq!(collect(windows.all()?)?.len(), 5);
    // The in-memory window store answers the same.
    let memory = d.store(params(
        "memory-windows",
        QueryableStoreTypes::window_store::<String, i64>(),
    ))?;
    assert_eq!(
        collect(memory.fetch_range(&s("a"), 0, 20)?)?,
        vec![(0, 2), (10, 1), (20, 1)]
    );
    assert_eq!(
        collect(memory.fetch_all(10, 20)?)?,
        collect(windows.fetch_all(10, 20)?)?
    );
    let timestamped = d.store(params(
        "windows",
        QueryableStoreTypes::timestamped_window_store::<String, i64>(),
    ))?;
    assert_eq!(
        timestamped.fetch(&s("a"), 0)?,
        Some(ValueAndTimestamp {
            value: 2,
            timestamp: 9
        })
    );
    Ok(())
}

#[test]
fn session_views_find_sessions_of_a_key() -> Result<()> {
    // a: sessions [1, 5] (two records) and [30, 30]; b: [3, 3].
    let d = driver(&[("a", 1), ("b", 3), ("a", 5), ("a", 30)])?;
    let sessions = d.store(params(
        "sessions",
        QueryableStoreTypes::session_store::<String, i64>(),
    ))?;
    assert_eq!(
        collect(sessions.fetch(&s("a"))?)?,
        vec![(w("a", 1, 5), 2), (w("a", 30, 30), 1)]
    );
    assert_eq!(
        collect(sessions.backward_fetch(&s("a"))?)?,
        vec![(w("a", 30, 30), 1), (w("a", 1, 5), 2)]
    );
    assert_eq!(sessions.fetch_session(&s("a"), 1, 5)?, Some(2));
    assert_eq!(sessions.fetch_session(&s("a"), 1, 4)?, None);
    // Sessions ending at or after 5 and starting at or before 29: only [1, 5].
    assert_eq!(
        collect(sessions.find_sessions(&s("a"), 5, 29)?)?,
        vec![(w("a", 1, 5), 2)]
    );
    assert_eq!(collect(sessions.find_sessions(&s("a"), 6, 29)?)?, vec![]);
    assert_eq!(
        collect(sessions.backward_find_sessions(&s("a"), 0, 30)?)?,
        vec![(w("a", 30, 30), 1), (w("a", 1, 5), 2)]
    );
    assert_eq!(collect(sessions.fetch(&s("b"))?)?, vec![(w("b", 3, 3), 1)]);
    // The in-memory session store answers the same.
    let memory = d.store(params(
        "memory-sessions",
        QueryableStoreTypes::session_store::<String, i64>(),
    ))?;
    assert_eq!(
        collect(memory.fetch(&s("a"))?)?,
        vec![(w("a", 1, 5), 2), (w("a", 30, 30), 1)]
    );
    assert_eq!(memory.fetch_session(&s("a"), 1, 5)?, Some(2));
    Ok(())
}

#[test]
fn queries_that_cannot_be_answered_say_why() -> Result<()> {
    let d = driver(&KEYS)?;
    let invalid = |e: StreamsError| {
        assert!(!e.is_retriable(), "{e}");
        match e {
            StreamsError::InvalidStoreQuery { message, .. } => message,
            other => panic!("expected an invalid query, got {other}"),
        }
    };
    let unknown = d
        .store(params(
            "nope",
            QueryableStoreTypes::key_value::<String, i64>(),
        ))
        .err()
        .expect("an unknown store");
    assert!(invalid(unknown).contains("no state store of that name"));
    let wrong_kind = d
        .store(params(
            "counts",
            QueryableStoreTypes::session_store::<String, i64>(),
        ))
        .err()
        .expect("a session view of a key-value store");
    assert!(invalid(wrong_kind).contains("cannot be read as a session store of"));
    let wrong_types = d
        .store(params(
            "counts",
            QueryableStoreTypes::key_value::<String, String>(),
        ))
        .err()
        .expect("a view with the wrong value type");
    assert!(invalid(wrong_types).contains("alloc::string::String to alloc::string::String"));

    let other_partition = d
        .store(params("counts", QueryableStoreTypes::key_value::<String, i64>()).with_partition(1))
        .err()
        .expect("a partition the driver does not run");
    assert!(other_partition.is_retriable());
    assert!(matches!(
        other_partition,
        StreamsError::StoreUnavailable {
            reason: Unavailable::NotHosted { partition: Some(1) },
            ..
        }
    ));

    // A view outliving its store: the read fails as migrated, retriable.
    let counts = d.store(params(
        "counts",
        QueryableStoreTypes::key_value::<String, i64>(),
    ))?;
    let memory = d.store(params(
        "memory",
        QueryableStoreTypes::key_value::<String, i64>(),
    ))?;
    let memory_windows = d.store(params(
        "memory-windows",
        QueryableStoreTypes::window_store::<String, i64>(),
    ))?;
    d.close()?;
    let e = counts.get(&s("a")).expect_err("a read after close");
    assert!(e.is_retriable(), "{e}");
    assert!(
        matches!(
            e,
            StreamsError::StoreUnavailable {
                reason: Unavailable::Migrated { partition: 0 },
                ..
            }
        ),
        "{e}"
    );
    let scan = collect(counts.all()?).expect_err("a scan after close");
    assert!(scan.is_retriable(), "{scan}");
    // In-memory views too.
    let e = memory
        .get(&s("a"))
        .expect_err("an in-memory read after close");
    assert!(e.is_retriable(), "{e}");
    let e = memory_windows
        .fetch(&s("a"), 0)
        .expect_err("an in-memory window read after close");
    assert!(e.is_retriable(), "{e}");
    Ok(())
}

#[test]
fn scans_of_exactly_two_chunks_end_where_the_keys_end() -> Result<()> {
    // 512 keys: the second chunk is full, and the scan must still stop after it.
    let (keys, _d, counts) = numbered(512)?;
    let all: Vec<String> = keys_of(counts.all()?)?;
    assert_eq!(all, keys);
    let back: Vec<String> = keys_of(counts.reverse_all()?)?;
    let mut reversed = keys.clone();
    reversed.reverse();
    assert_eq!(back, reversed);
    let first_256: Vec<String> = keys_of(counts.range(None, Some(&keys[255]))?)?;
    assert_eq!(first_256, keys[..256].to_vec());
    Ok(())
}

#[test]
fn a_global_table_answers_any_key_whatever_partition_is_named() -> Result<()> {
    let b = StreamsBuilder::new();
    let profiles = b.global_table_with("profiles", Consumed::with(StringSerde, StringSerde));
    b.stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
        .to_with("out", streams_dsl::Produced::with(StringSerde, StringSerde));
    let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("queries", "unused:9092"))?;
    let input = d.input_topic("profiles", StringSerde, StringSerde);
    input.pipe(s("bob"), s("Bob Ray"), 1)?;
    input.pipe(s("ann"), s("Ann Lee"), 2)?;
    let query = || QueryableStoreTypes::key_value::<String, String>();
    let view = d.store(params(profiles.store_name(), query()))?;
    assert_eq!(view.get(&s("ann"))?, Some(s("Ann Lee")));
    assert_eq!(
        collect(view.all()?)?,
        vec![(s("ann"), s("Ann Lee")), (s("bob"), s("Bob Ray"))]
    );
    // Every instance holds all of it: a partition named does not narrow it.
    let one = d.store(params(profiles.store_name(), query()).with_partition(7))?;
    assert_eq!(one.get(&s("bob"))?, Some(s("Bob Ray")));
    Ok(())
}
