//! `ChangeLoggingKeyValueStore`: a decorator that writes every change to the changelog.

use streams_core::Result;
use streams_core::store::{ChangelogWriter, StateStore};

use crate::delegate::delegate_state_store;
use crate::key_value::{KeyValueStore, KvIter};

/// Wraps any key-value store: a put is applied, then sent to the changelog partition of the
/// task; a delete is sent as a tombstone. Reads go straight to the inner store.
pub struct ChangeLoggingKeyValueStore {
    inner: Box<dyn KeyValueStore>,
    changelog: ChangelogWriter,
}

impl std::fmt::Debug for ChangeLoggingKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeLoggingKeyValueStore")
            .field("store", &self.inner.name())
            .field("changelog", &self.changelog.topic())
            .finish()
    }
}

impl ChangeLoggingKeyValueStore {
    /// Logs the changes of `inner` through `changelog`.
    pub fn new(inner: Box<dyn KeyValueStore>, changelog: ChangelogWriter) -> Self {
        ChangeLoggingKeyValueStore { inner, changelog }
    }
}

// Restored records came from the changelog: they go to the inner store only.
impl StateStore for ChangeLoggingKeyValueStore {
    delegate_state_store!(inner);

    fn queryable(&self) -> Option<streams_core::query::QueryableStore> {
        self.inner.queryable()
    }
}

impl KeyValueStore for ChangeLoggingKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.inner.put(key, value)?;
        self.changelog.log(key, value)
    }

    fn put_all(&mut self, entries: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.inner.put_all(entries)?;
        for (k, v) in entries {
            self.changelog.log(k, v.as_deref())?;
        }
        Ok(())
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KvIter<'_>> {
        self.inner.range(from, to)
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KvIter<'_>> {
        self.inner.reverse_range(from, to)
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>> {
        self.inner.prefix_scan(prefix)
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        self.inner.approximate_num_entries()
    }
}
