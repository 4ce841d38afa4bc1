//! The bytes window and session stores leave behind, pinned: the binary keys they log to the
//! changelog and the column families and keys of their RocksDB directory. Existing state
//! directories and changelog topics hold these bytes, so a change here breaks them.

use std::cell::RefCell;
use std::rc::Rc;

use rocksdb::{DB, IteratorMode, Options};
use state_stores::rocks::RocksDbMemory;
use state_stores::{
    Retention, SegmentedSessionStore, SegmentedWindowStore, SessionStore, WindowStore,
};
use streams_core::Result;
use streams_core::store::{ChangelogWriter, LoggedChange, StateStore};

/// `key ++ a ++ b`, both big-endian.
fn key(user: &[u8], a: &[u8], b: &[u8]) -> Vec<u8> {
    [user, a, b].concat()
}

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The keys and values a changelog writer logged.
fn logged(log: &Rc<RefCell<Vec<LoggedChange>>>) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    log.borrow()
        .iter()
        .map(|(k, v, _)| (k.clone(), v.clone()))
        .collect()
}

/// The column families of the RocksDB directory `path` and what each holds, sorted by name.
fn raw_contents(path: &std::path::Path) -> Vec<(String, Entries)> {
    let mut names = DB::list_cf(&Options::default(), path).expect("column families");
    names.sort();
    let db = DB::open_cf_for_read_only(&Options::default(), path, &names, false).expect("open");
    names
        .iter()
        .map(|name| {
            let cf = db.cf_handle(name).expect("column family");
            let entries = db
                .iterator_cf(cf, IteratorMode::Start)
                .map(|e| {
                    let (k, v) = e.expect("entry");
                    (k.to_vec(), v.to_vec())
                })
                .collect();
            (name.clone(), entries)
        })
        .collect()
}

fn meta(stream_time: i64, offset: i64) -> (String, Entries) {
    (
        "default".to_owned(),
        vec![
            (
                b"kstreams.changelog-offset".to_vec(),
                offset.to_be_bytes().to_vec(),
            ),
            (
                b"kstreams.stream-time".to_vec(),
                stream_time.to_be_bytes().to_vec(),
            ),
        ],
    )
}

#[test]
fn window_store_bytes_are_unchanged() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let retention = Retention::with_segment_interval("w", 1000, 500).expect("valid");
    let memory = RocksDbMemory::new(8 << 20);
    let (writer, log) = ChangelogWriter::in_memory("app-w-changelog", 0);
    let mut store =
        SegmentedWindowStore::rocksdb("w", dir.path(), &memory, None, retention, 100, true)?
            .with_changelog(writer);
    store.put(b"k", Some(b"v1"), 100)?;
    store.put(b"k", Some(b"v2"), 600)?;
    store.commit(Some(7))?;
    store.close()?;

    let first = key(b"k", &100i64.to_be_bytes(), &1u32.to_be_bytes());
    let second = key(b"k", &600i64.to_be_bytes(), &2u32.to_be_bytes());
    assert_eq!(
        logged(&log),
        vec![
            (first.clone(), Some(b"v1".to_vec())),
            (second.clone(), Some(b"v2".to_vec()))
        ]
    );
    assert_eq!(
        raw_contents(dir.path()),
        vec![
            meta(600, 7),
            ("segment-0".to_owned(), vec![(first, b"v1".to_vec())]),
            ("segment-1".to_owned(), vec![(second, b"v2".to_vec())]),
        ]
    );
    Ok(())
}

#[test]
fn session_store_bytes_are_unchanged() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let retention = Retention::with_segment_interval("s", 1000, 500).expect("valid");
    let memory = RocksDbMemory::new(8 << 20);
    let (writer, log) = ChangelogWriter::in_memory("app-s-changelog", 0);
    let mut store = SegmentedSessionStore::rocksdb("s", dir.path(), &memory, None, retention)?
        .with_changelog(writer);
    store.put(b"k", 100, 700, Some(b"v"))?;
    store.remove(b"k", 100, 200)?;
    store.commit(Some(3))?;
    store.close()?;

    // Session end first, then start; segments by end.
    let kept = key(b"k", &700i64.to_be_bytes(), &100i64.to_be_bytes());
    let removed = key(b"k", &200i64.to_be_bytes(), &100i64.to_be_bytes());
    assert_eq!(
        logged(&log),
        vec![(kept.clone(), Some(b"v".to_vec())), (removed, None)]
    );
    assert_eq!(
        raw_contents(dir.path()),
        vec![
            meta(700, 3),
            ("segment-0".to_owned(), Vec::new()),
            ("segment-1".to_owned(), vec![(kept, b"v".to_vec())]),
        ]
    );
    Ok(())
}
