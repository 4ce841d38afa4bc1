//! One conformance suite for every key-value store implementation.

use state_stores::KeyValueStore;
use state_stores::logging::ChangeLoggingKeyValueStore;
use state_stores::memory::InMemoryKeyValueStore;
use state_stores::rocks::{RocksDbKeyValueStore, RocksDbMemory};
use streams_core::Result;
use streams_core::store::{ChangelogWriter, StateStore};

fn collect(iter: state_stores::KvIter<'_>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    iter.collect()
}

fn keys(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<&[u8]> {
    entries.iter().map(|(k, _)| k.as_slice()).collect()
}

/// The suite: every implementation must pass it unchanged.
fn conformance(store: &mut dyn KeyValueStore) -> Result<()> {
    assert_eq!(store.get(b"missing")?, None);

    // put, get, overwrite, delete as a null put.
    store.put(b"b", Some(b"1"))?;
    store.put(b"b", Some(b"2"))?;
    assert_eq!(store.get(b"b")?, Some(b"2".to_vec()));
    store.put(b"b", None)?;
    assert_eq!(store.get(b"b")?, None);

    // put_if_absent returns what was there and does not overwrite.
    assert_eq!(store.put_if_absent(b"k", b"first")?, None);
    assert_eq!(
        store.put_if_absent(b"k", b"second")?,
        Some(b"first".to_vec())
    );
    assert_eq!(store.get(b"k")?, Some(b"first".to_vec()));

    // delete returns the old value.
    assert_eq!(store.delete(b"k")?, Some(b"first".to_vec()));
    assert_eq!(store.delete(b"k")?, None);

    // put_all applies in order, tombstones included.
    let entries: Vec<(Vec<u8>, Option<Vec<u8>>)> = vec![
        (b"a".to_vec(), Some(b"va".to_vec())),
        (b"aa".to_vec(), Some(b"vaa".to_vec())),
        (b"ab".to_vec(), Some(b"vab".to_vec())),
        (b"b".to_vec(), Some(b"vb".to_vec())),
        (vec![b'a', 0xff], Some(b"va-ff".to_vec())),
        (b"c".to_vec(), Some(b"gone".to_vec())),
        (b"c".to_vec(), None),
        (vec![0xff, 0xff], Some(b"max".to_vec())),
        (vec![0x00], Some(b"zero".to_vec())),
    ];
    store.put_all(&entries)?;
    assert_eq!(store.get(b"c")?, None);

    // Order is unsigned byte order; ranges are inclusive at both ends.
    let all = collect(store.all()?)?;
    let expected: Vec<&[u8]> = vec![
        &[0x00],
        b"a",
        b"aa",
        b"ab",
        &[b'a', 0xff],
        b"b",
        &[0xff, 0xff],
    ];
    assert_eq!(keys(&all), expected);
    assert_eq!(all[1], (b"a".to_vec(), b"va".to_vec()));

    let range = collect(store.range(Some(b"aa"), Some(b"b"))?)?;
    assert_eq!(
        keys(&range),
        vec![b"aa".as_slice(), b"ab", &[b'a', 0xff], b"b"]
    );
    let reverse = collect(store.reverse_range(Some(b"aa"), Some(b"b"))?)?;
    assert_eq!(
        keys(&reverse),
        vec![b"b".as_slice(), &[b'a', 0xff], b"ab", b"aa"]
    );
    let open_start = collect(store.range(None, Some(b"a"))?)?;
    assert_eq!(keys(&open_start), vec![[0x00].as_slice(), b"a"]);
    let open_end = collect(store.reverse_range(Some(b"b"), None)?)?;
    assert_eq!(keys(&open_end), vec![[0xff, 0xff].as_slice(), b"b"]);
    let between_keys = collect(store.range(Some(b"ac"), Some(&[b'a', 0xff]))?)?;
    assert_eq!(keys(&between_keys), vec![[b'a', 0xff].as_slice()]);
    assert!(
        collect(store.range(Some(b"ac"), Some(b"az"))?)?.is_empty(),
        "0xff sorts after every letter"
    );
    assert!(
        collect(store.range(Some(b"b"), Some(b"a"))?)?.is_empty(),
        "from > to is empty"
    );
    assert!(collect(store.reverse_range(Some(b"b"), Some(b"a"))?)?.is_empty());

    // Prefix scans, including a prefix ending in 0xff and the all-0xff prefix.
    let prefix = collect(store.prefix_scan(b"a")?)?;
    assert_eq!(
        keys(&prefix),
        vec![b"a".as_slice(), b"aa", b"ab", &[b'a', 0xff]]
    );
    let prefix_ff = collect(store.prefix_scan(&[0xff])?)?;
    assert_eq!(keys(&prefix_ff), vec![[0xff, 0xff].as_slice()]);
    assert!(collect(store.prefix_scan(b"zz")?)?.is_empty());

    // An estimate: RocksDB counts some deleted keys until compaction.
    let approx = store.approximate_num_entries()?;
    assert!(
        (7..=9).contains(&approx),
        "approximately 7 entries, estimated {approx}"
    );
    store.commit(None)?;
    Ok(())
}

#[test]
fn in_memory_store_conforms() -> Result<()> {
    let mut store = InMemoryKeyValueStore::new("mem");
    conformance(&mut store)?;
    assert_eq!(store.approximate_num_entries()?, 7, "exact in memory");
    Ok(())
}

#[test]
fn rocksdb_store_conforms_and_keeps_data_across_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let memory = RocksDbMemory::new(8 << 20);
    let mut store = RocksDbKeyValueStore::open("rocks", dir.path(), &memory, None)?;
    conformance(&mut store)?;
    assert_eq!(store.committed_offset()?, None, "no offset committed yet");
    store.commit(Some(42))?;
    // Writes after the last commit are read back, but dropped by a close without commit.
    store.put(b"ab", Some(b"uncommitted"))?;
    store.put(b"new", Some(b"x"))?;
    store.put(b"a", None)?;
    assert_eq!(store.get(b"ab")?, Some(b"uncommitted".to_vec()));
    assert_eq!(store.get(b"a")?, None);
    assert!(store.uncommitted_bytes() > 0);
    store.close()?;
    let mut reopened = RocksDbKeyValueStore::open("rocks", dir.path(), &memory, None)?;
    assert_eq!(
        reopened.get(b"ab")?,
        Some(b"vab".to_vec()),
        "a committed store keeps its data"
    );
    assert_eq!(reopened.get(b"new")?, None, "uncommitted puts are gone");
    assert_eq!(
        reopened.get(b"a")?,
        Some(b"va".to_vec()),
        "uncommitted deletes too"
    );
    assert_eq!(reopened.committed_offset()?, Some(42));
    assert_eq!(reopened.all()?.count(), 7);
    reopened.close()?;
    assert!(reopened.get(b"ab").is_err(), "a closed store refuses reads");
    Ok(())
}

#[test]
fn change_logging_stores_conform_and_log_every_change() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let memory = RocksDbMemory::new(8 << 20);
    let rocks: Box<dyn KeyValueStore> = Box::new(RocksDbKeyValueStore::open(
        "rocks",
        dir.path(),
        &memory,
        None,
    )?);
    for inner in [
        Box::new(InMemoryKeyValueStore::new("mem")) as Box<dyn KeyValueStore>,
        rocks,
    ] {
        let (writer, log) = ChangelogWriter::in_memory("app-store-changelog", 3);
        let mut store = ChangeLoggingKeyValueStore::new(inner, writer);
        conformance(&mut store)?;
        let log = log.borrow();
        // The suite's writes, in order: every put, and every delete as a tombstone.
        let expected: Vec<(&[u8], Option<&[u8]>)> = vec![
            (b"b", Some(b"1")),
            (b"b", Some(b"2")),
            (b"b", None),
            (b"k", Some(b"first")),
            (b"k", None),
            (b"a", Some(b"va")),
            (b"aa", Some(b"vaa")),
            (b"ab", Some(b"vab")),
            (b"b", Some(b"vb")),
            (&[b'a', 0xff], Some(b"va-ff")),
            (b"c", Some(b"gone")),
            (b"c", None),
            (&[0xff, 0xff], Some(b"max")),
            (&[0x00], Some(b"zero")),
        ];
        let logged: Vec<(&[u8], Option<&[u8]>)> = log
            .iter()
            .map(|(k, v, _)| (k.as_slice(), v.as_deref()))
            .collect();
        assert_eq!(logged, expected);
    }
    Ok(())
}

#[test]
fn the_options_hook_sees_each_store() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let hook: state_stores::rocks::OptionsHook =
        std::sync::Arc::new(move |name: &str, _: &mut rocksdb::Options| {
            log.lock().expect("lock").push(name.to_owned());
        });
    let memory = RocksDbMemory::new(8 << 20);
    let _a = RocksDbKeyValueStore::open("a", &dir.path().join("a"), &memory, Some(&hook))?;
    let _b = RocksDbKeyValueStore::open("b", &dir.path().join("b"), &memory, Some(&hook))?;
    assert_eq!(
        *seen.lock().expect("lock"),
        vec!["a".to_owned(), "b".to_owned()]
    );
    Ok(())
}
