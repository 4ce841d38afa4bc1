//! One conformance suite for the window store, run in memory, in RocksDB, and both with a
//! changelog; a store restored from that changelog must hold the same windows.

use std::cell::RefCell;
use std::rc::Rc;

use state_stores::rocks::RocksDbMemory;
use state_stores::window::{WindowedEntry, split_window_store_key, window_store_key};
use state_stores::{Retention, SegmentedWindowStore, WindowStore};
use streams_core::Result;
use streams_core::store::{ChangelogWriter, LoggedChange, StateStore};

/// Retention 1000 ms in segments of 500 ms; windows of 100 ms.
fn retention() -> Retention {
    Retention::with_segment_interval("w", 1000, 500).expect("valid retention")
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    RocksDb,
}

struct Fixture {
    store: SegmentedWindowStore,
    log: Option<Rc<RefCell<Vec<LoggedChange>>>>,
    _dir: Option<tempfile::TempDir>,
}

fn open(kind: Kind, logged: bool, duplicates: bool) -> Result<Fixture> {
    let (store, dir) = match kind {
        Kind::Memory => (
            SegmentedWindowStore::in_memory("w", retention(), 100, duplicates)?,
            None,
        ),
        Kind::RocksDb => {
            let dir = tempfile::tempdir().expect("tempdir");
            let memory = RocksDbMemory::new(8 << 20);
            let store = SegmentedWindowStore::rocksdb(
                "w",
                dir.path(),
                &memory,
                None,
                retention(),
                100,
                duplicates,
            )?;
            (store, Some(dir))
        }
    };
    if logged {
        let (writer, log) = ChangelogWriter::in_memory("app-w-changelog", 0);
        Ok(Fixture {
            store: store.with_changelog(writer),
            log: Some(log),
            _dir: dir,
        })
    } else {
        Ok(Fixture {
            store,
            log: None,
            _dir: dir,
        })
    }
}

fn windows(iter: state_stores::window::WindowIter<'_>) -> Result<Vec<(i64, String)>> {
    iter.map(|e| e.map(|(t, v)| (t, String::from_utf8(v).expect("utf-8"))))
        .collect()
}

fn entries(iter: state_stores::window::WindowedIter<'_>) -> Result<Vec<(String, i64, String)>> {
    iter.map(|e| {
        e.map(|(k, t, v): WindowedEntry| {
            (
                String::from_utf8(k).expect("utf-8"),
                t,
                String::from_utf8(v).expect("utf-8"),
            )
        })
    })
    .collect()
}

fn s(k: &str, t: i64, v: &str) -> (String, i64, String) {
    (k.to_owned(), t, v.to_owned())
}

fn w(t: i64, v: &str) -> (i64, String) {
    (t, v.to_owned())
}

/// The suite: every implementation must pass it unchanged.
fn conformance(store: &mut SegmentedWindowStore) -> Result<()> {
    assert_eq!(store.fetch(b"a", 0)?, None);
    assert_eq!(store.window_size_ms(), 100);
    assert_eq!(store.retention_ms(), 1000);

    store.put(b"a", Some(b"a0"), 0)?;
    store.put(b"a", Some(b"a100"), 100)?;
    store.put(b"a", Some(b"a200"), 200)?;
    store.put(b"b", Some(b"b100"), 100)?;
    store.put(b"a", Some(b"a100-again"), 100)?;
    // "a\0" extends "a": its windows must never show up as "a"'s.
    store.put(b"a\0", Some(b"a-nul100"), 100)?;
    assert_eq!(store.fetch(b"a", 100)?, Some(b"a100-again".to_vec()));

    // Time ranges are inclusive at both ends; one key's windows come oldest first.
    assert_eq!(
        windows(store.fetch_range(b"a", 0, 200)?)?,
        vec![w(0, "a0"), w(100, "a100-again"), w(200, "a200")]
    );
    assert_eq!(
        windows(store.fetch_range(b"a", 100, 200)?)?,
        vec![w(100, "a100-again"), w(200, "a200")]
    );
    assert_eq!(
        windows(store.fetch_range(b"a", 50, 150)?)?,
        vec![w(100, "a100-again")]
    );
    assert!(windows(store.fetch_range(b"a", 201, 300)?)?.is_empty());
    assert!(windows(store.fetch_range(b"a", 200, 100)?)?.is_empty());
    assert_eq!(
        windows(store.backward_fetch_range(b"a", 0, 200)?)?,
        vec![w(200, "a200"), w(100, "a100-again"), w(0, "a0")]
    );

    // A delete is a null put.
    store.put(b"a", None, 200)?;
    assert_eq!(store.fetch(b"a", 200)?, None);
    assert_eq!(windows(store.fetch_range(b"a", 150, 250)?)?, vec![]);

    // Key ranges come in the byte order of the binary keys (key bytes, then the big-endian
    // window start) within a segment: "a\0"@100 sorts before "a"@100, as in Kafka Streams.
    assert_eq!(
        entries(store.fetch_all(100, 100)?)?,
        vec![
            s("a\0", 100, "a-nul100"),
            s("a", 100, "a100-again"),
            s("b", 100, "b100")
        ]
    );
    assert_eq!(
        entries(store.fetch_key_range(Some(b"a\0"), Some(b"b"), 0, 1000)?)?,
        vec![s("a\0", 100, "a-nul100"), s("b", 100, "b100")]
    );
    assert!(entries(store.fetch_key_range(Some(b"b"), Some(b"a"), 0, 1000)?)?.is_empty());

    // A key that is a prefix of the range's upper key, with a late window: its binary key
    // sorts after `upper key ++ suffix`, and must still be found.
    store.put(b"a", Some(b"a300"), 300)?;
    assert_eq!(
        entries(store.fetch_key_range(None, Some(b"a\0\0"), 0, 1000)?)?,
        vec![
            s("a", 0, "a0"),
            s("a\0", 100, "a-nul100"),
            s("a", 100, "a100-again"),
            s("a", 300, "a300"),
        ]
    );

    // Windows in later segments come after earlier segments in key-range results.
    store.put(b"a", Some(b"a700"), 700)?;
    store.put(b"0", Some(b"zero550"), 550)?;
    assert_eq!(
        entries(store.all()?)?,
        vec![
            s("a", 0, "a0"),
            s("a\0", 100, "a-nul100"),
            s("a", 100, "a100-again"),
            s("a", 300, "a300"),
            s("b", 100, "b100"),
            s("0", 550, "zero550"),
            s("a", 700, "a700"),
        ]
    );
    assert_eq!(store.segment_ids(), vec![0, 1]);

    // Retention: stream time 1600 keeps window starts from 601 on. Segment 0 (starts 0-499)
    // is dropped whole; segment 1 stays, but its window at 550 is no longer returned.
    store.put(b"c", Some(b"c1600"), 1600)?;
    assert_eq!(store.stream_time(), 1600);
    assert_eq!(store.segment_ids(), vec![1, 3]);
    assert_eq!(store.fetch(b"a", 100)?, None);
    assert_eq!(store.fetch(b"0", 550)?, None);
    assert_eq!(
        windows(store.fetch_range(b"a", 0, 2000)?)?,
        vec![w(700, "a700")]
    );
    assert_eq!(
        entries(store.all()?)?,
        vec![s("a", 700, "a700"), s("c", 1600, "c1600")]
    );
    // A put into a dropped segment is skipped and counted.
    store.put(b"late", Some(b"late"), 100)?;
    assert_eq!(store.expired_writes(), 1);
    assert_eq!(store.fetch(b"late", 100)?, None);
    assert_eq!(store.segment_ids(), vec![1, 3]);

    assert!(store.put(b"neg", Some(b"x"), -1).is_err(), "negative start");
    store.commit(None)?;
    Ok(())
}

fn run_conformance(kind: Kind) -> Result<()> {
    let mut f = open(kind, false, false)?;
    conformance(&mut f.store)
}

#[test]
fn in_memory_window_store_conforms() -> Result<()> {
    run_conformance(Kind::Memory)
}

#[test]
fn rocksdb_window_store_conforms() -> Result<()> {
    run_conformance(Kind::RocksDb)
}

/// The logged variants pass the suite, log every put (the expired one too) with its binary
/// key, and a fresh store restored from the log holds the same windows.
fn logged(kind: Kind) -> Result<()> {
    let mut f = open(kind, true, false)?;
    conformance(&mut f.store)?;
    let log = f.log.expect("logged").borrow().clone();
    assert_eq!(log.len(), 12, "one change per accepted put: {log:?}");
    let first = &log[0];
    assert_eq!(first.0, window_store_key(b"a", 0, 0));
    assert_eq!(first.1.as_deref(), Some(b"a0".as_slice()));
    let tombstone = &log[6];
    assert_eq!(
        split_window_store_key(&tombstone.0),
        Some((&b"a"[..], 200, 0))
    );
    assert_eq!(tombstone.1, None);

    let mut restored = open(kind, false, false)?;
    let batch: Vec<(Vec<u8>, Option<Vec<u8>>)> =
        log.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
    restored.store.restore_batch(&batch)?;
    assert_eq!(entries(restored.store.all()?)?, entries(f.store.all()?)?);
    assert_eq!(restored.store.segment_ids(), vec![1, 3]);
    assert_eq!(restored.store.stream_time(), 1600);
    Ok(())
}

#[test]
fn logged_in_memory_window_store_conforms_and_restores() -> Result<()> {
    logged(Kind::Memory)
}

#[test]
fn logged_rocksdb_window_store_conforms_and_restores() -> Result<()> {
    logged(Kind::RocksDb)
}

fn duplicates(kind: Kind) -> Result<()> {
    let mut f = open(kind, true, true)?;
    let store = &mut f.store;
    store.put(b"k", Some(b"x"), 100)?;
    store.put(b"k", Some(b"y"), 100)?;
    store.put(b"k", None, 100)?;
    store.put(b"k", Some(b"z"), 50)?;
    assert_eq!(
        windows(store.fetch_range(b"k", 0, 100)?)?,
        vec![w(50, "z"), w(100, "x"), w(100, "y")]
    );
    assert_eq!(store.fetch(b"k", 100)?, Some(b"x".to_vec()));
    let log = f.log.expect("logged").borrow().clone();
    let seqs: Vec<u32> = log
        .iter()
        .filter_map(|(k, _, _)| split_window_store_key(k).map(|(_, _, seq)| seq))
        .collect();
    assert_eq!(seqs, vec![1, 2, 3], "null puts are ignored, not logged");

    // Restored, the store keeps numbering after the largest sequence number.
    let mut restored = open(kind, false, true)?;
    let batch: Vec<(Vec<u8>, Option<Vec<u8>>)> =
        log.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
    restored.store.restore_batch(&batch)?;
    restored.store.put(b"k", Some(b"w"), 100)?;
    assert_eq!(
        windows(restored.store.fetch_range(b"k", 100, 100)?)?,
        vec![w(100, "x"), w(100, "y"), w(100, "w")]
    );
    Ok(())
}

#[test]
fn in_memory_window_store_retains_duplicates() -> Result<()> {
    duplicates(Kind::Memory)
}

#[test]
fn rocksdb_window_store_retains_duplicates() -> Result<()> {
    duplicates(Kind::RocksDb)
}

#[test]
fn rocksdb_window_store_keeps_windows_and_stream_time_across_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let memory = RocksDbMemory::new(8 << 20);
    let open =
        || SegmentedWindowStore::rocksdb("w", dir.path(), &memory, None, retention(), 100, false);
    let mut store = open()?;
    store.put(b"a", Some(b"1"), 100)?;
    store.put(b"a", Some(b"2"), 900)?;
    store.commit(Some(3))?;
    // Not committed: a write that moves stream time far enough to drop segment 0.
    store.put(b"a", Some(b"3"), 1600)?;
    assert_eq!(store.segment_ids(), vec![1, 3]);
    store.close()?;
    assert!(
        store.fetch(b"a", 900).is_err(),
        "a closed store refuses reads"
    );

    let mut store = open()?;
    assert_eq!(store.stream_time(), 900, "the committed stream time");
    assert_eq!(store.committed_offset()?, Some(3));
    assert_eq!(store.segment_ids(), vec![0, 1]);
    assert_eq!(
        windows(store.fetch_range(b"a", 0, 1000)?)?,
        vec![w(100, "1"), w(900, "2")]
    );
    // Stream time 1600 drops segment 0 of the reopened store too.
    store.put(b"a", Some(b"3"), 1600)?;
    assert_eq!(store.segment_ids(), vec![1, 3]);
    Ok(())
}

#[test]
fn bad_window_store_settings_are_refused() {
    let err = |r: Result<SegmentedWindowStore>| r.expect_err("refused").to_string();
    assert!(
        err(SegmentedWindowStore::in_memory("w", retention(), 0, false))
            .contains("window size must be at least 1 ms, got 0")
    );
    let short = Retention::with_segment_interval("w", 50, 10).expect("valid");
    assert!(
        err(SegmentedWindowStore::in_memory("w", short, 100, false))
            .contains("retention (50 ms) must be at least the window size (100 ms)")
    );
    assert!(
        Retention::new("w", -1)
            .expect_err("refused")
            .to_string()
            .contains("retention must be zero or more milliseconds, got -1")
    );
    assert!(
        Retention::with_segment_interval("w", 10, 0)
            .expect_err("refused")
            .to_string()
            .contains("segment interval must be at least 1 ms")
    );
}

#[test]
fn restoring_past_a_segment_does_not_create_it_again() -> Result<()> {
    for kind in [Kind::Memory, Kind::RocksDb] {
        let dir = tempfile::tempdir().expect("tempdir");
        let retention = Retention::with_segment_interval("w", 10, 5).expect("valid");
        let mut store = match kind {
            Kind::Memory => SegmentedWindowStore::in_memory("w", retention, 1, false)?,
            Kind::RocksDb => SegmentedWindowStore::rocksdb(
                "w",
                dir.path(),
                &RocksDbMemory::new(8 << 20),
                None,
                retention,
                1,
                false,
            )?,
        };
        let batch = vec![
            (window_store_key(b"k", 0, 0), Some(b"old".to_vec())),
            (window_store_key(b"k", 100, 0), Some(b"new".to_vec())),
        ];
        store.restore_batch(&batch)?;
        assert_eq!(store.segment_ids(), vec![20], "{kind:?}");
        assert_eq!(entries(store.all()?)?, vec![s("k", 100, "new")], "{kind:?}");
    }
    Ok(())
}
