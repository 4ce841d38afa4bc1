//! A RocksDB key-value store.
//!
//! One RocksDB instance per task and store. The write-ahead log is off: the changelog topic is
//! the durable log, and a commit flushes the memtables. Memory is bounded per application
//! instance, not per store: every store opened with the same [`RocksDbMemory`] shares one LRU
//! block cache and one write-buffer manager charged to that cache. LZ4 is the only codec
//! built in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{
    BlockBasedOptions, Cache, DB, DBCompressionType, Direction, IteratorMode, Options, ReadOptions,
    WriteBufferManager, WriteOptions,
};
use streams_core::store::StateStore;
use streams_core::{Result, StreamsError};

use crate::key_value::{KeyValueStore, KvIter, empty_range, prefix_upper_bound};

/// The memory shared by every RocksDB store of an application instance.
#[derive(Clone)]
pub struct RocksDbMemory {
    cache: Cache,
    write_buffers: WriteBufferManager,
    total: usize,
}

impl std::fmt::Debug for RocksDbMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbMemory")
            .field("total_bytes", &self.total)
            .finish()
    }
}

impl RocksDbMemory {
    /// A budget of `total_bytes` for the block cache; memtables are charged to the same cache
    /// and limited to half of it.
    pub fn new(total_bytes: usize) -> Self {
        let cache = Cache::new_lru_cache(total_bytes);
        let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(
            total_bytes / 2,
            false,
            cache.clone(),
        );
        RocksDbMemory {
            cache,
            write_buffers,
            total: total_bytes,
        }
    }

    /// The budget in bytes.
    pub fn total_bytes(&self) -> usize {
        self.total
    }

    /// Bytes the memtables of all stores use now.
    pub fn memtable_usage(&self) -> usize {
        self.write_buffers.get_usage()
    }

    /// Bytes the shared block cache holds now.
    pub fn cache_usage(&self) -> usize {
        self.cache.get_usage()
    }
}

/// A hook to tune a store's RocksDB options before it opens: `hook(store_name, options)`.
pub type OptionsHook = Arc<dyn Fn(&str, &mut Options) + Send + Sync>;

/// A key-value store in its own RocksDB instance.
pub struct RocksDbKeyValueStore {
    name: String,
    path: PathBuf,
    db: Option<DB>,
    write: WriteOptions,
}

impl std::fmt::Debug for RocksDbKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbKeyValueStore")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish()
    }
}

impl RocksDbKeyValueStore {
    /// Opens (or creates) the store `name` in directory `path`.
    pub fn open(
        name: &str,
        path: &Path,
        memory: &RocksDbMemory,
        hook: Option<&OptionsHook>,
    ) -> Result<Self> {
        let opts = rocksdb_options(name, path, memory, hook)?;
        let db = DB::open(&opts, path).map_err(|e| store_error(name, "opening", e))?;
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        Ok(RocksDbKeyValueStore {
            name: name.to_owned(),
            path: path.to_owned(),
            db: Some(db),
            write,
        })
    }

    /// Where the store keeps its files.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self) -> Result<&DB> {
        self.db.as_ref().ok_or_else(|| StreamsError::Store {
            store: self.name.clone(),
            message: "the store is closed".into(),
        })
    }

    fn iter(&self, mode: IteratorMode<'_>, read: ReadOptions) -> Result<KvIter<'_>> {
        let name = self.name.clone();
        Ok(Box::new(self.db()?.iterator_opt(mode, read).map(
            move |item| {
                item.map(|(k, v)| (k.into_vec(), v.into_vec()))
                    .map_err(|e| store_error(&name, "iterating", e))
            },
        )))
    }
}

/// Creates `path` and returns the options every store of ours opens RocksDB with: LZ4, the
/// shared block cache and write-buffer manager of `memory`, then the user's hook.
pub(crate) fn rocksdb_options(
    name: &str,
    path: &Path,
    memory: &RocksDbMemory,
    hook: Option<&OptionsHook>,
) -> Result<Options> {
    std::fs::create_dir_all(path).map_err(|e| StreamsError::Store {
        store: name.to_owned(),
        message: format!("creating {}: {e}", path.display()),
    })?;
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_write_buffer_manager(&memory.write_buffers);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&memory.cache);
    table.set_cache_index_and_filter_blocks(true);
    opts.set_block_based_table_factory(&table);
    opts.increase_parallelism(2);
    if let Some(hook) = hook {
        hook(name, &mut opts);
    }
    Ok(opts)
}

pub(crate) fn store_error(store: &str, doing: &str, e: rocksdb::Error) -> StreamsError {
    StreamsError::Store {
        store: store.to_owned(),
        message: format!("RocksDB failed {doing}: {e}"),
    }
}

/// The smallest key after `key` (for an inclusive upper end as RocksDB's exclusive bound).
fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

impl StateStore for RocksDbKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn flush(&mut self) -> Result<()> {
        self.db()?
            .flush()
            .map_err(|e| store_error(&self.name, "flushing", e))
    }

    fn close(&mut self) -> Result<()> {
        if self.db.is_some() {
            self.flush()?;
        }
        self.db = None;
        Ok(())
    }

    fn restore_batch(&mut self, batch: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.put_all(batch)
    }
}

impl KeyValueStore for RocksDbKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db()?
            .get(key)
            .map_err(|e| store_error(&self.name, "reading", e))
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let db = self.db()?;
        match value {
            Some(v) => db.put_opt(key, v, &self.write),
            None => db.delete_opt(key, &self.write),
        }
        .map_err(|e| store_error(&self.name, "writing", e))
    }

    fn put_all(&mut self, entries: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        let mut batch = rocksdb::WriteBatch::default();
        for (k, v) in entries {
            match v {
                Some(v) => batch.put(k, v),
                None => batch.delete(k),
            }
        }
        self.db()?
            .write_opt(batch, &self.write)
            .map_err(|e| store_error(&self.name, "writing a batch", e))
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KvIter<'_>> {
        if empty_range(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let mut read = ReadOptions::default();
        if let Some(t) = to {
            read.set_iterate_upper_bound(successor(t));
        }
        let mode = match from {
            Some(f) => IteratorMode::From(f, Direction::Forward),
            None => IteratorMode::Start,
        };
        self.iter(mode, read)
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KvIter<'_>> {
        if empty_range(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let mut read = ReadOptions::default();
        if let Some(f) = from {
            read.set_iterate_lower_bound(f.to_vec());
        }
        match to {
            // Seek to the last key <= `to`: start just below its successor.
            Some(t) => {
                read.set_iterate_upper_bound(successor(t));
                self.iter(IteratorMode::End, read)
            }
            None => self.iter(IteratorMode::End, read),
        }
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>> {
        let mut read = ReadOptions::default();
        if let Some(upper) = prefix_upper_bound(prefix) {
            read.set_iterate_upper_bound(upper);
        }
        self.iter(IteratorMode::From(prefix, Direction::Forward), read)
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        Ok(self
            .db()?
            .property_int_value(rocksdb::properties::ESTIMATE_NUM_KEYS)
            .map_err(|e| store_error(&self.name, "reading a property", e))?
            .unwrap_or(0))
    }
}
