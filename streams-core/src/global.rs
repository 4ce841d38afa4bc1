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

/// The in-memory copy of one global table's topic, keyed and valued by bytes.
#[derive(Debug)]
pub struct GlobalStore {
    name: String,
    topic: String,
    rows: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl GlobalStore {
    /// An empty store `name` for `topic`.
    pub fn new(name: &str, topic: &str) -> Self {
        GlobalStore {
            name: name.to_owned(),
            topic: topic.to_owned(),
            rows: RwLock::new(BTreeMap::new()),
        }
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
