//! A RocksDB key-value store.
//!
//! One RocksDB instance per task and store. Writes are staged in memory until the task
//! commits (see `staging`); a commit writes them to RocksDB in one atomic batch with the
//! changelog offset they correspond to, kept in the `kstreams-meta` column family. The batch
//! goes through RocksDB's write-ahead log (not synced: it survives a killed process, as the
//! changelog covers a lost machine), so a restarted store is exactly at its last commit.
//! Memory is bounded per application instance, not per store: every store opened with the
//! same [`RocksDbMemory`] shares one LRU block cache and one write-buffer manager charged to
//! that cache. LZ4 is the only codec built in.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use rocksdb::{
    BlockBasedOptions, Cache, DBCompressionType, Direction, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteBufferManager,
};
use streams_core::store::{StateStore, StoreMetric};
use streams_core::{Result, StreamsError};

use crate::key_value::{KeyValueStore, KvIter, empty_range, prefix_upper_bound};
use crate::rocks_instance::{
    Db, OFFSET_KEY, RocksDbInstance, check_not_headless, decode_offset, store_error,
};
use crate::staging::{Staged, merge};

/// The column family holding what the store knows about itself (the committed changelog
/// offset), apart from the data.
pub(crate) const META_CF: &str = "kstreams-meta";

/// The memory shared by every RocksDB store of an application instance. Its usage is in every
/// client's metrics (`kstreams_rocksdb_block_cache_usage_bytes`, ...), labelled with its id.
#[derive(Clone)]
pub struct RocksDbMemory {
    inner: Arc<MemoryInner>,
}

struct MemoryInner {
    id: u64,
    cache: Cache,
    write_buffers: WriteBufferManager,
    total: usize,
}

impl std::fmt::Debug for RocksDbMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbMemory")
            .field("id", &self.inner.id)
            .field("total_bytes", &self.inner.total)
            .finish()
    }
}

impl streams_core::metrics::MetricsSource for MemoryInner {
    fn collect(&self, out: &mut streams_core::metrics::MetricsSnapshot) {
        use streams_core::metrics::MetricKind::Gauge;
        let labels = || vec![("memory", self.id.to_string())];
        out.push(
            "kstreams_rocksdb_memory_budget_bytes",
            "The RocksDB memory budget shared by the stores given this memory.",
            Gauge,
            labels(),
            self.total as f64,
        );
        out.push(
            "kstreams_rocksdb_block_cache_usage_bytes",
            "Bytes in the shared block cache (memtables are charged to it too).",
            Gauge,
            labels(),
            self.cache.get_usage() as f64,
        );
        out.push(
            "kstreams_rocksdb_memtable_usage_bytes",
            "Bytes the memtables of the stores sharing this memory use.",
            Gauge,
            labels(),
            self.write_buffers.get_usage() as f64,
        );
    }
}

impl RocksDbMemory {
    /// A budget of `total_bytes` for the block cache; memtables are charged to the same cache
    /// and limited to half of it.
    pub fn new(total_bytes: usize) -> Self {
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let cache = Cache::new_lru_cache(total_bytes);
        let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(
            total_bytes / 2,
            false,
            cache.clone(),
        );
        let inner = Arc::new(MemoryInner {
            id: IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            cache,
            write_buffers,
            total: total_bytes,
        });
        let weak: std::sync::Weak<dyn streams_core::metrics::MetricsSource> =
            Arc::downgrade(&inner) as _;
        streams_core::metrics::register_source(weak);
        RocksDbMemory { inner }
    }

    /// The budget in bytes.
    pub fn total_bytes(&self) -> usize {
        self.inner.total
    }

    /// Bytes the memtables of all stores use now.
    pub fn memtable_usage(&self) -> usize {
        self.inner.write_buffers.get_usage()
    }

    /// Bytes the shared block cache holds now.
    pub fn cache_usage(&self) -> usize {
        self.inner.cache.get_usage()
    }
}

/// A hook to tune a store's RocksDB options before it opens: `hook(store_name, options)`.
pub type OptionsHook = Arc<dyn Fn(&str, &mut Options) + Send + Sync>;

/// A key-value store in its own RocksDB instance.
///
/// ```
/// use state_stores::KeyValueStore;
/// use state_stores::rocks::{RocksDbKeyValueStore, RocksDbMemory};
/// use streams_core::store::StateStore;
///
/// let dir = tempfile::tempdir().expect("a temporary directory");
/// let memory = RocksDbMemory::new(8 << 20);
/// let mut store = RocksDbKeyValueStore::open("counts", dir.path(), &memory, None)?;
/// store.put(b"a", Some(b"1"))?;
/// assert_eq!(store.get(b"a")?, Some(b"1".to_vec())); // staged, and read back at once
/// store.commit(Some(42))?; // one batch: the write and changelog offset 42
/// store.put(b"a", Some(b"2"))?; // never committed: dropped by close
/// store.close()?;
///
/// let store = RocksDbKeyValueStore::open("counts", dir.path(), &memory, None)?;
/// assert_eq!(store.get(b"a")?, Some(b"1".to_vec()));
/// assert_eq!(store.committed_offset()?, Some(42));
/// # Ok::<(), streams_core::StreamsError>(())
/// ```
pub struct RocksDbKeyValueStore {
    rocks: RocksDbInstance,
    staged: Staged<Vec<u8>>,
}

impl std::fmt::Debug for RocksDbKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.rocks.debug("RocksDbKeyValueStore", f)
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
        let mut opts = rocksdb_options(name, path, memory, hook)?;
        opts.create_missing_column_families(true);
        let db = Db::open_cf(&opts, path, [rocksdb::DEFAULT_COLUMN_FAMILY_NAME, META_CF])
            .map_err(|e| store_error(name, "opening", e))?;
        Ok(RocksDbKeyValueStore {
            rocks: RocksDbInstance::new(name, path, db, opts),
            staged: Staged::default(),
        })
    }

    /// Where the store keeps its files.
    pub fn path(&self) -> &Path {
        self.rocks.path()
    }

    fn db(&self) -> Result<&Db> {
        self.rocks.db()
    }

    fn meta(&self) -> Result<Arc<rocksdb::BoundColumnFamily<'_>>> {
        self.db()?
            .cf_handle(META_CF)
            .ok_or_else(|| StreamsError::Store {
                store: self.rocks.name().to_owned(),
                message: format!("the column family {META_CF} is missing"),
            })
    }

    /// Writes `batch` (and, when given, the changelog offset) atomically through the
    /// write-ahead log.
    fn write_batch(
        &self,
        entries: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
        changelog_offset: Option<i64>,
    ) -> Result<()> {
        let mut batch = WriteBatch::default();
        for (k, v) in entries {
            match v {
                Some(v) => batch.put(k, v),
                None => batch.delete(k),
            }
        }
        if let Some(offset) = changelog_offset {
            batch.put_cf(&self.meta()?, OFFSET_KEY, offset.to_be_bytes());
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.rocks.write(batch, "committing")
    }

    fn iter(&self, mode: IteratorMode<'_>, read: ReadOptions) -> Result<KvIter<'_>> {
        Ok(self.rocks.entries(self.db()?.iterator_opt(mode, read)))
    }
}

/// Checks that `path` is not a headless database ([`check_not_headless`]), creates it, and
/// returns the options every store of ours opens RocksDB with: LZ4, the shared block cache
/// and write-buffer manager of `memory`, then the user's hook.
pub(crate) fn rocksdb_options(
    name: &str,
    path: &Path,
    memory: &RocksDbMemory,
    hook: Option<&OptionsHook>,
) -> Result<Options> {
    check_not_headless(name, path)?;
    std::fs::create_dir_all(path).map_err(|e| StreamsError::Store {
        store: name.to_owned(),
        message: format!("creating {}: {e}", path.display()),
    })?;
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_write_buffer_manager(&memory.inner.write_buffers);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&memory.inner.cache);
    table.set_cache_index_and_filter_blocks(true);
    opts.set_block_based_table_factory(&table);
    opts.increase_parallelism(2);
    // Tickers only (block-cache hits, stall time) for the metrics: no histograms, no timers.
    opts.enable_statistics();
    opts.set_statistics_level(rocksdb::statistics::StatsLevel::ExceptHistogramOrTimers);
    if let Some(hook) = hook {
        hook(name, &mut opts);
    }
    Ok(opts)
}

/// Inclusive key bounds, open when `None`.
fn bounds(from: Option<&[u8]>, to: Option<&[u8]>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    (
        from.map_or(Bound::Unbounded, |f| Bound::Included(f.to_vec())),
        to.map_or(Bound::Unbounded, |t| Bound::Included(t.to_vec())),
    )
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
        self.rocks.name()
    }

    fn commit(&mut self, changelog_offset: Option<i64>) -> Result<()> {
        let staged = self.staged.take();
        self.write_batch(staged, changelog_offset)
    }

    fn committed_offset(&self) -> Result<Option<i64>> {
        let bytes = self
            .db()?
            .get_cf(&self.meta()?, OFFSET_KEY)
            .map_err(|e| self.rocks.error("reading the committed offset", e))?;
        decode_offset(self.rocks.name(), bytes)
    }

    fn metrics(&self) -> Vec<StoreMetric> {
        self.rocks.metrics()
    }

    fn uncommitted_bytes(&self) -> usize {
        self.staged.bytes()
    }

    fn close(&mut self) -> Result<()> {
        // Uncommitted writes are dropped; the memtables are flushed so that the next open
        // does not replay the write-ahead log.
        self.staged.take();
        self.rocks.close(Db::flush)
    }

    /// A [`CommittedKeyValues`](crate::committed::CommittedKeyValues): what the store last
    /// committed, readable from other threads.
    fn queryable(&self) -> Option<streams_core::query::QueryableStore> {
        let db = self.rocks.shared();
        Some(Arc::new(crate::committed::CommittedKeyValues::new(db)))
    }

    /// Restored records go straight to RocksDB: they are committed changes already.
    fn restore_batch(&mut self, batch: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.write_batch(batch.iter().cloned(), None)
    }
}

impl KeyValueStore for RocksDbKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(staged) = self.staged.get(key) {
            return Ok(staged.map(<[u8]>::to_vec));
        }
        self.db()?
            .get(key)
            .map_err(|e| self.rocks.error("reading", e))
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.db()?;
        self.staged.put(key.to_vec(), key.len(), value);
        Ok(())
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
        let staged = self
            .staged
            .range(bounds(from, to))
            .map(|(k, v)| (k.as_slice(), v));
        Ok(merge(self.iter(mode, read)?, staged, false))
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KvIter<'_>> {
        if empty_range(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let mut read = ReadOptions::default();
        if let Some(f) = from {
            read.set_iterate_lower_bound(f.to_vec());
        }
        // Seek to the last key <= `to`: start just below its successor.
        if let Some(t) = to {
            read.set_iterate_upper_bound(successor(t));
        }
        let staged = self
            .staged
            .range(bounds(from, to))
            .rev()
            .map(|(k, v)| (k.as_slice(), v));
        Ok(merge(self.iter(IteratorMode::End, read)?, staged, true))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>> {
        let mut read = ReadOptions::default();
        let upper = prefix_upper_bound(prefix);
        if let Some(upper) = &upper {
            read.set_iterate_upper_bound(upper.clone());
        }
        let staged = self
            .staged
            .range((
                Bound::Included(prefix.to_vec()),
                upper.map_or(Bound::Unbounded, Bound::Excluded),
            ))
            .map(|(k, v)| (k.as_slice(), v));
        Ok(merge(
            self.iter(IteratorMode::From(prefix, Direction::Forward), read)?,
            staged,
            false,
        ))
    }

    /// RocksDB's estimate of committed keys, plus the staged puts (staged deletes are not
    /// subtracted: whether they hit a committed key is not known without reading it).
    fn approximate_num_entries(&self) -> Result<u64> {
        let committed = self
            .db()?
            .property_int_value(rocksdb::properties::ESTIMATE_NUM_KEYS)
            .map_err(|e| self.rocks.error("reading a property", e))?
            .unwrap_or(0);
        let puts = self
            .staged
            .range::<std::ops::RangeFull>(..)
            .filter(|(_, v)| v.is_some())
            .count() as u64;
        Ok(committed + puts)
    }
}
