//! Global tables: a full copy of a topic in every application instance.
//!
//! A [`GlobalStore`] holds the latest value of every key of its topic, over all partitions.
//! The runtime fills it before the stream threads start (reading every partition from the
//! beginning to the end offsets seen at start-up) and then keeps it up to date from a
//! dedicated consumer thread; processors of any task and thread read it. Nothing is
//! changelogged: the topic itself is the log, and an instance restores the table from it at
//! every start.

use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// The rows of a global store: key bytes to value bytes.
pub type GlobalRows = Arc<RwLock<BTreeMap<Vec<u8>, Vec<u8>>>>;

/// The in-memory copy of one global table's topic, keyed and valued by bytes.
pub struct GlobalStore {
    name: String,
    topic: String,
    rows: GlobalRows,
    /// The typed view interactive queries read, set by whoever knows the serdes (the DSL's
    /// `global_table`).
    queryable: OnceLock<crate::query::QueryableStore>,
}

impl std::fmt::Debug for GlobalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalStore")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .finish()
    }
}

impl GlobalStore {
    /// An empty store `name` for `topic`.
    pub fn new(name: &str, topic: &str) -> Self {
        GlobalStore {
            name: name.to_owned(),
            topic: topic.to_owned(),
            rows: Arc::new(RwLock::new(BTreeMap::new())),
            queryable: OnceLock::new(),
        }
    }

    /// The rows, shared: what a query view of the store reads (see
    /// `state_stores::query::global_view`).
    pub fn rows(&self) -> &GlobalRows {
        &self.rows
    }

    /// Makes the store queryable through `view` (the first call wins).
    pub fn set_queryable(&self, view: crate::query::QueryableStore) {
        let _ = self.queryable.set(view);
    }

    /// The view interactive queries read, if one was set.
    pub fn queryable(&self) -> Option<crate::query::QueryableStore> {
        self.queryable.get().cloned()
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The topic the store copies.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The value of `key`, if the topic has one.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.rows.read().get(key).cloned()
    }

    /// Applies a record of the topic: `None` deletes the key.
    pub fn apply(&self, key: &[u8], value: Option<&[u8]>) {
        let mut rows = self.rows.write();
        match value {
            Some(v) => {
                rows.insert(key.to_vec(), v.to_vec());
            }
            None => {
                rows.remove(key);
            }
        }
    }

    /// The number of keys held.
    pub fn len(&self) -> usize {
        self.rows.read().len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
