//! An in-memory key-value store: an ordered map.

use std::collections::BTreeMap;
use std::ops::Bound;

use streams_core::Result;
use streams_core::store::StateStore;

use crate::key_value::{KeyValueStore, KvIter, empty_range, prefix_upper_bound};

/// A key-value store in a `BTreeMap`. Its content is lost when the task closes; with a
/// changelog it is restored from there.
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
#[derive(Debug, Clone, Default)]
pub struct InMemoryKeyValueStore {
    name: String,
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl InMemoryKeyValueStore {
    /// An empty store named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        InMemoryKeyValueStore {
            name: name.into(),
            map: BTreeMap::new(),
        }
    }
}

fn bounds(from: Option<&[u8]>, to: Option<&[u8]>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    (
        from.map_or(Bound::Unbounded, |f| Bound::Included(f.to_vec())),
        to.map_or(Bound::Unbounded, |t| Bound::Included(t.to_vec())),
    )
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
        Ok(())
    }
    fn restore_batch(&mut self, batch: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.put_all(batch)
    }
}

impl KeyValueStore for InMemoryKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        match value {
            Some(v) => {
                self.map.insert(key.to_vec(), v.to_vec());
            }
            None => {
                self.map.remove(key);
            }
        }
        Ok(())
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KvIter<'_>> {
        if empty_range(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        Ok(Box::new(
            self.map
                .range(bounds(from, to))
                .map(|(k, v)| Ok((k.clone(), v.clone()))),
        ))
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KvIter<'_>> {
        if empty_range(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        Ok(Box::new(
            self.map
                .range(bounds(from, to))
                .rev()
                .map(|(k, v)| Ok((k.clone(), v.clone()))),
        ))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>> {
        let upper = prefix_upper_bound(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        Ok(Box::new(
            self.map
                .range((Bound::Included(prefix.to_vec()), upper))
                .map(|(k, v)| Ok((k.clone(), v.clone()))),
        ))
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        Ok(self.map.len() as u64)
    }
}
