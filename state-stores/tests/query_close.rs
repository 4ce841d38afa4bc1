//! A query view and its store's lifecycle: a store closes while a scan of it is under way
//! without waiting for the scan, its files are free for the next owner at once, and the scan
//! then ends with a retriable "migrated" error instead of reading a closed database.

use std::sync::Arc;

use state_stores::query::QueryableStoreTypes;
use state_stores::rocks::{RocksDbKeyValueStore, RocksDbMemory};
use state_stores::typed::TypedKeyValueStore;
use streams_core::query::{LocalStore, QueryableStoreType, Unavailable};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::store::StateStore;
use streams_core::{Result, StreamsError};

fn open(dir: &std::path::Path, memory: &RocksDbMemory) -> Result<TypedKeyValueStore<String, i64>> {
    let rocks = RocksDbKeyValueStore::open("counts", dir, memory, None)?;
    Ok(TypedKeyValueStore::new(
        Box::new(rocks),
        Arc::new(StringSerde),
        Arc::new(I64Serde),
    ))
}

#[test]
fn a_store_closes_under_a_scan_and_the_scan_ends_as_migrated() -> Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let memory = RocksDbMemory::new(8 << 20);
    let mut store = open(dir.path(), &memory)?;
    for i in 0..600i64 {
        store.put(&format!("k{i:04}"), &i)?;
    }
    store.commit(None)?;
    store.put(&"staged".to_owned(), &1)?; // not committed: never visible to queries
    let registered = store.queryable().expect("a RocksDB store is queryable");
    let view = QueryableStoreTypes::key_value::<String, i64>().create(
        "counts",
        vec![LocalStore {
            partition: 3,
            store: registered,
        }],
    );
    assert_eq!(view.get(&"staged".to_owned())?, None);
    let mut scan = view.all()?;
    let first: Vec<(String, i64)> = scan.by_ref().take(10).collect::<Result<_>>()?;
    assert_eq!(first[9], ("k0009".to_owned(), 9));

    // The close does not wait for the idle scan, and the next owner opens the files at once.
    store.close()?;
    let mut reopened = open(dir.path(), &memory)?;
    assert_eq!(reopened.get(&"k0599".to_owned())?, Some(599));

    // The scan hands out what its first chunk (256 entries) read, then stops as migrated.
    let rest: Vec<Result<(String, i64)>> = scan.collect();
    assert_eq!(rest.len(), 247);
    assert!(rest[..246].iter().all(Result::is_ok));
    let Err(e) = &rest[246] else {
        panic!("the scan went on after its store closed");
    };
    assert!(e.is_retriable(), "{e}");
    assert!(
        matches!(
            e,
            StreamsError::StoreUnavailable {
                reason: Unavailable::Migrated { partition: 3 },
                ..
            }
        ),
        "{e}"
    );
    let e = view
        .get(&"k0001".to_owned())
        .expect_err("a read of a closed store");
    assert!(e.is_retriable(), "{e}");
    reopened.close()
}
