//! One conformance suite for the session store, run in memory, in RocksDB, and both with a
//! changelog; a store restored from that changelog must hold the same sessions.

use std::cell::RefCell;
use std::rc::Rc;

use state_stores::rocks::RocksDbMemory;
use state_stores::session::{SessionIter, session_store_key, split_session_store_key};
use state_stores::{Retention, SegmentedSessionStore, SessionStore};
use streams_core::Result;
use streams_core::store::{ChangelogWriter, LoggedChange, StateStore};

/// Retention 1000 ms in segments of 500 ms (by session end).
fn retention() -> Retention {
    Retention::with_segment_interval("s", 1000, 500).expect("valid retention")
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    RocksDb,
}

struct Fixture {
    store: SegmentedSessionStore,
    log: Option<Rc<RefCell<Vec<LoggedChange>>>>,
    _dir: Option<tempfile::TempDir>,
}

fn open(kind: Kind, logged: bool) -> Result<Fixture> {
    let (store, dir) = match kind {
        Kind::Memory => (SegmentedSessionStore::in_memory("s", retention())?, None),
        Kind::RocksDb => {
            let dir = tempfile::tempdir().expect("tempdir");
            let memory = RocksDbMemory::new(8 << 20);
            let store =
                SegmentedSessionStore::rocksdb("s", dir.path(), &memory, None, retention())?;
            (store, Some(dir))
        }
    };
    let (store, log) = if logged {
        let (writer, log) = ChangelogWriter::in_memory("app-s-changelog", 0);
        (store.with_changelog(writer), Some(log))
    } else {
        (store, None)
    };
    Ok(Fixture {
        store,
        log,
        _dir: dir,
    })
}

type Session = (String, i64, i64, String);

fn sessions(iter: SessionIter<'_>) -> Result<Vec<Session>> {
    iter.map(|e| {
        e.map(|(k, start, end, v)| {
            (
                String::from_utf8(k).expect("utf-8"),
                start,
                end,
                String::from_utf8(v).expect("utf-8"),
            )
        })
    })
    .collect()
}

fn s(k: &str, start: i64, end: i64, v: &str) -> Session {
    (k.to_owned(), start, end, v.to_owned())
}

/// The suite: every implementation must pass it unchanged.
fn conformance(store: &mut SegmentedSessionStore) -> Result<()> {
    assert_eq!(store.retention_ms(), 1000);
    assert_eq!(store.fetch_session(b"a", 0, 0)?, None);

    store.put(b"a", 0, 0, Some(b"a-0-0"))?;
    store.put(b"a", 100, 200, Some(b"a-100-200"))?;
    store.put(b"a", 300, 400, Some(b"a-300-400"))?;
    store.put(b"b", 150, 150, Some(b"b-150"))?;
    store.put(b"a\0", 120, 180, Some(b"anul-120-180"))?;

    // Exact lookups.
    assert_eq!(
        store.fetch_session(b"a", 100, 200)?,
        Some(b"a-100-200".to_vec())
    );
    assert_eq!(store.fetch_session(b"a", 100, 201)?, None);

    // Overlap: end >= earliest_end and start <= latest_start, both inclusive; by end time.
    assert_eq!(
        sessions(store.find_sessions(b"a", 150, 350)?)?,
        vec![s("a", 100, 200, "a-100-200"), s("a", 300, 400, "a-300-400")]
    );
    assert_eq!(
        sessions(store.find_sessions(b"a", 200, 300)?)?,
        vec![s("a", 100, 200, "a-100-200"), s("a", 300, 400, "a-300-400")],
        "a session ending exactly at earliest_end and one starting exactly at latest_start \
         both overlap"
    );
    assert!(sessions(store.find_sessions(b"a", 201, 299)?)?.is_empty());
    assert_eq!(
        sessions(store.find_sessions(b"a", 0, 0)?)?,
        vec![s("a", 0, 0, "a-0-0")]
    );
    assert_eq!(
        sessions(store.backward_find_sessions(b"a", 0, 1000)?)?,
        vec![
            s("a", 300, 400, "a-300-400"),
            s("a", 100, 200, "a-100-200"),
            s("a", 0, 0, "a-0-0")
        ]
    );

    // Replace and remove; a null put removes too.
    store.put(b"a", 100, 200, Some(b"a-100-200-v2"))?;
    assert_eq!(
        store.fetch_session(b"a", 100, 200)?,
        Some(b"a-100-200-v2".to_vec())
    );
    store.remove(b"a", 100, 200)?;
    store.put(b"b", 150, 150, None)?;
    assert_eq!(
        sessions(store.fetch(b"a")?)?,
        vec![s("a", 0, 0, "a-0-0"), s("a", 300, 400, "a-300-400")]
    );
    assert!(sessions(store.fetch(b"b")?)?.is_empty());

    // Key ranges, in the byte order of the binary keys within a segment.
    store.put(b"b", 10, 20, Some(b"b-10-20"))?;
    assert_eq!(
        sessions(store.find_sessions_in_key_range(Some(b"a\0"), Some(b"b"), 0, 1000)?)?,
        vec![
            s("a\0", 120, 180, "anul-120-180"),
            s("b", 10, 20, "b-10-20")
        ]
    );
    assert_eq!(
        sessions(store.find_sessions_in_key_range(None, Some(b"a\0\0"), 0, 1000)?)?,
        vec![
            s("a", 0, 0, "a-0-0"),
            s("a\0", 120, 180, "anul-120-180"),
            s("a", 300, 400, "a-300-400"),
        ],
        "a key that prefixes the upper key is found whatever its end time"
    );

    // Sessions in a later segment (ends 500-999) come after those of segment 0.
    store.put(b"0", 450, 600, Some(b"zero"))?;
    assert_eq!(
        sessions(store.all()?)?,
        vec![
            s("a", 0, 0, "a-0-0"),
            s("a\0", 120, 180, "anul-120-180"),
            s("a", 300, 400, "a-300-400"),
            s("b", 10, 20, "b-10-20"),
            s("0", 450, 600, "zero"),
        ]
    );

    // Retention by session end: stream time 1600 keeps ends from 601 on; segment 0 (ends
    // 0-499) is dropped whole and the session ending at 600 is no longer returned.
    store.put(b"z", 1500, 1600, Some(b"z"))?;
    assert_eq!(store.stream_time(), 1600);
    assert_eq!(store.segment_ids(), vec![1, 3]);
    assert_eq!(sessions(store.all()?)?, vec![s("z", 1500, 1600, "z")]);
    assert_eq!(store.fetch_session(b"0", 450, 600)?, None);
    store.put(b"late", 10, 20, Some(b"late"))?;
    assert_eq!(store.expired_writes(), 1);
    assert!(sessions(store.fetch(b"late")?)?.is_empty());

    // Invalid sessions are refused with what is allowed.
    let err = store
        .put(b"x", 10, 5, Some(b"x"))
        .expect_err("end < start")
        .to_string();
    assert!(
        err.contains("0 <= start <= end, got start 10 and end 5"),
        "{err}"
    );
    store.commit(None)?;
    Ok(())
}

#[test]
fn in_memory_session_store_conforms() -> Result<()> {
    conformance(&mut open(Kind::Memory, false)?.store)
}

#[test]
fn rocksdb_session_store_conforms() -> Result<()> {
    conformance(&mut open(Kind::RocksDb, false)?.store)
}

fn logged(kind: Kind) -> Result<()> {
    let mut f = open(kind, true)?;
    conformance(&mut f.store)?;
    let log = f.log.expect("logged").borrow().clone();
    assert_eq!(
        log.len(),
        12,
        "one change per accepted put or remove: {log:?}"
    );
    assert_eq!(log[0].0, session_store_key(b"a", 0, 0));
    let removed = &log[6];
    assert_eq!(
        split_session_store_key(&removed.0),
        Some((&b"a"[..], 100, 200))
    );
    assert_eq!(removed.1, None, "a remove is a tombstone");

    let mut restored = open(kind, false)?;
    let batch: Vec<(Vec<u8>, Option<Vec<u8>>)> =
        log.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
    restored.store.restore_batch(&batch)?;
    assert_eq!(sessions(restored.store.all()?)?, sessions(f.store.all()?)?);
    assert_eq!(restored.store.segment_ids(), vec![1, 3]);
    Ok(())
}

#[test]
fn logged_in_memory_session_store_conforms_and_restores() -> Result<()> {
    logged(Kind::Memory)
}

#[test]
fn logged_rocksdb_session_store_conforms_and_restores() -> Result<()> {
    logged(Kind::RocksDb)
}

#[test]
fn rocksdb_session_store_keeps_sessions_across_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let memory = RocksDbMemory::new(8 << 20);
    let mut store = SegmentedSessionStore::rocksdb("s", dir.path(), &memory, None, retention())?;
    store.put(b"k", 10, 40, Some(b"v"))?;
    store.commit(Some(7))?;
    store.put(b"k", 50, 60, Some(b"uncommitted"))?;
    assert_eq!(store.stream_time(), 60);
    store.close()?;
    let store = SegmentedSessionStore::rocksdb("s", dir.path(), &memory, None, retention())?;
    assert_eq!(store.stream_time(), 40, "the committed stream time");
    assert_eq!(store.committed_offset()?, Some(7));
    assert_eq!(
        sessions(store.find_sessions(b"k", 0, 100)?)?,
        vec![s("k", 10, 40, "v")]
    );
    Ok(())
}
