//! An in-memory key-value store: an ordered map.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use streams_core::Result;
use streams_core::store::StateStore;

use crate::committed::{ChunkSource, ChunkedRange, CommittedIter, Shared, map_chunk};
use crate::key_value::{KeyValueStore, KvEntry, KvIter};

/// A key-value store in a `BTreeMap`. Its content is lost when the task closes; with a
/// changelog it is restored from there. Writes apply at once (there is nothing to commit),
/// so interactive queries read the map as it is, the latest writes included.
///
/// ```
/// use state_stores::KeyValueStore;
/// use state_stores::memory::InMemoryKeyValueStore;
///
/// let mut store = InMemoryKeyValueStore::new("counts");
/// store.put(b"a", Some(b"1"))?;
/// store.put(b"b", Some(b"2"))?;
/// store.put(b"a", None)?; // a tombstone deletes
/// assert_eq!(store.get(b"b")?, Some(b"2".to_vec()));
/// assert_eq!(store.all()?.count(), 1);
/// # Ok::<(), streams_core::StreamsError>(())
/// ```
#[derive(Debug, Default)]
pub struct InMemoryKeyValueStore {
    name: String,
    /// Shared with the store's query readers, which take the lock for one read or one
    /// chunk of a scan at a time.
    map: Arc<RwLock<Map>>,
    /// Set by `close`: readers stop reading.
    closing: Arc<AtomicBool>,
}

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

impl InMemoryKeyValueStore {
    /// An empty store named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        InMemoryKeyValueStore {
            name: name.into(),
            ..Self::default()
        }
    }

    /// A reader of the map; `closing` set for queries, `None` for the store's own scans.
    fn reader(&self, closing: Option<Arc<AtomicBool>>) -> MemoryReader {
        Shared::new(&self.name, Arc::downgrade(&self.map), closing)
    }
}

impl StateStore for InMemoryKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }
    /// Writes apply at once; there is nothing to commit, and nothing survives a restart.
    fn commit(&mut self, _changelog_offset: Option<i64>) -> Result<()> {
        Ok(())
    }
    fn close(&mut self) -> Result<()> {
        self.closing.store(true, Ordering::SeqCst);
        Ok(())
    }
    fn restore_batch(&mut self, batch: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.put_all(batch)
    }
    /// A [`CommittedKeyValues`](crate::committed::CommittedKeyValues) reading the live map.
    fn queryable(&self) -> Option<streams_core::query::QueryableStore> {
        let reader = self.reader(Some(self.closing.clone()));
        Some(Arc::new(crate::committed::CommittedKeyValues::memory(
            reader,
        )))
    }
}

impl KeyValueStore for InMemoryKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.read().get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let mut map = self.map.write();
        match value {
            Some(v) => {
                map.insert(key.to_vec(), v.to_vec());
            }
            None => {
                map.remove(key);
            }
        }
        Ok(())
    }

    fn put_all(&mut self, entries: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        let mut map = self.map.write();
        for (k, v) in entries {
            match v {
                Some(v) => {
                    map.insert(k.clone(), v.clone());
                }
                None => {
                    map.remove(k);
                }
            }
        }
        Ok(())
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KvIter<'_>> {
        Ok(self.reader(None).range(from, to, false))
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KvIter<'_>> {
        Ok(self.reader(None).range(from, to, true))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>> {
        Ok(self.reader(None).prefix(prefix))
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        Ok(self.map.read().len() as u64)
    }
}

/// An in-memory map as a reader holds it: for queries (which stop once the store closes),
/// and for the store's own scans, read in chunks so that no lock is held between them.
pub(crate) type MemoryReader = Shared<RwLock<Map>>;

/// A reader of a global store's rows (which never close while the client runs).
pub(crate) fn global_reader(store: &streams_core::global::GlobalStore) -> MemoryReader {
    Shared::new(store.name(), Arc::downgrade(store.rows()), None)
}

impl MemoryReader {
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.open()?.read().get(key).cloned())
    }

    pub(crate) fn len(&self) -> Result<u64> {
        Ok(self.open()?.read().len() as u64)
    }

    /// Entries with `from <= key <= to` (open when `None`), ascending or descending.
    pub(crate) fn range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        reverse: bool,
    ) -> CommittedIter {
        ChunkedRange::inclusive(self.clone(), from, to, reverse)
    }

    /// Entries whose key starts with `prefix`, ascending.
    pub(crate) fn prefix(&self, prefix: &[u8]) -> CommittedIter {
        ChunkedRange::prefix(self.clone(), prefix)
    }
}

impl ChunkSource for MemoryReader {
    fn chunk(
        &self,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
        n: usize,
    ) -> Result<Vec<KvEntry>> {
        Ok(map_chunk(&self.open()?.read(), lower, upper, reverse, n))
    }
}
