//! The RocksDB instance under every RocksDB store, key-value or segmented: how it is read,
//! written, flushed, closed and measured, how its errors are classified, and where the
//! committed changelog offset is kept.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rocksdb::{DBIteratorWithThreadMode, Options, WriteBatch, WriteOptions};
use streams_core::store::StoreMetric;
use streams_core::{Result, StreamsError};

use crate::key_value::KvIter;

/// The key, in the meta column family (or a segmented store's default one), of the changelog
/// offset saved by the last commit.
pub(crate) const OFFSET_KEY: &[u8] = b"kstreams.changelog-offset";

/// Reads an offset saved as 8 big-endian bytes.
pub(crate) fn decode_offset(store: &str, bytes: Option<Vec<u8>>) -> Result<Option<i64>> {
    match bytes {
        None => Ok(None),
        Some(b) => match <[u8; 8]>::try_from(b.as_slice()) {
            Ok(b) => Ok(Some(i64::from_be_bytes(b))),
            Err(_) => Err(StreamsError::Store {
                store: store.to_owned(),
                message: format!(
                    "the saved changelog offset has {} bytes, expected 8: the state directory is corrupt",
                    b.len()
                ),
            }),
        },
    }
}

/// A RocksDB database as our stores open it: column families can be created and dropped
/// through a shared reference, so that interactive queries can read it from other threads
/// while its task writes.
pub(crate) type Db = rocksdb::DBWithThreadMode<rocksdb::MultiThreaded>;

/// The RocksDB instance of one store, and what using it takes: the store's name for
/// errors, the options whose statistics the metrics read, the write options. Every store of
/// ours, key-value or segmented, has exactly one.
pub(crate) struct RocksDbInstance {
    name: String,
    path: PathBuf,
    /// `None` once closed. Interactive queries hold a [`Weak`] reference (see
    /// [`Self::shared`]) and upgrade it for the length of one read.
    db: Option<Arc<Db>>,
    /// Set when closing begins: from then on readers refuse to start a read.
    closing: Arc<AtomicBool>,
    options: Options,
    write: WriteOptions,
}

impl RocksDbInstance {
    /// The store `name`, open as `db` in `path` with `options`.
    pub(crate) fn new(name: &str, path: &Path, db: Db, options: Options) -> Self {
        RocksDbInstance {
            name: name.to_owned(),
            path: path.to_owned(),
            db: Some(Arc::new(db)),
            closing: Arc::new(AtomicBool::new(false)),
            options,
            write: WriteOptions::default(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The database; an error once closed.
    pub(crate) fn db(&self) -> Result<&Db> {
        self.db.as_deref().ok_or_else(|| closed_error(&self.name))
    }

    /// The database for readers on other threads, with the flag that tells them the store
    /// is closing (they must not start a read once it is set).
    pub(crate) fn shared(&self) -> crate::committed::CommittedDb {
        let db = self.db.as_ref().map(Arc::downgrade).unwrap_or_default();
        crate::committed::Shared::new(&self.name, db, Some(self.closing.clone()))
    }

    /// A RocksDB error of this store.
    pub(crate) fn error(&self, doing: &str, e: rocksdb::Error) -> StreamsError {
        store_error(&self.name, doing, e)
    }

    /// Applies `batch` atomically, through the write-ahead log (not synced).
    pub(crate) fn write(&self, batch: WriteBatch, doing: &str) -> Result<()> {
        self.db()?
            .write_opt(batch, &self.write)
            .map_err(|e| self.error(doing, e))
    }

    /// The entries a RocksDB iterator over this store yields.
    pub(crate) fn entries<'a>(&self, iter: DBIteratorWithThreadMode<'a, Db>) -> KvIter<'a> {
        let name = self.name.clone();
        Box::new(iter.map(move |item| {
            item.map(|(k, v)| (k.into_vec(), v.into_vec()))
                .map_err(|e| store_error(&name, "iterating", e))
        }))
    }

    /// Creates the column family `cf` unless it exists (`doing`: what for, in errors).
    pub(crate) fn create_cf(&self, cf: &str, doing: &str) -> Result<()> {
        let db = self.db()?;
        if db.cf_handle(cf).is_none() {
            db.create_cf(cf, &self.options)
                .map_err(|e| store_error(&self.name, doing, e))?;
        }
        Ok(())
    }

    /// Drops the column family `cf` if it exists (`doing`: what for, in errors).
    pub(crate) fn drop_cf(&self, cf: &str, doing: &str) -> Result<()> {
        let db = self.db()?;
        if db.cf_handle(cf).is_some() {
            db.drop_cf(cf)
                .map_err(|e| store_error(&self.name, doing, e))?;
        }
        Ok(())
    }

    /// See [`rocksdb_metrics`]; nothing once closed.
    pub(crate) fn metrics(&self) -> Vec<StoreMetric> {
        self.db
            .as_ref()
            .map(|db| rocksdb_metrics(db, &self.options))
            .unwrap_or_default()
    }

    /// Closes the database, once `flush` (given it if still open) flushed its memtables so
    /// that the next open need not replay the write-ahead log.
    pub(crate) fn close(
        &mut self,
        flush: impl FnOnce(&Db) -> std::result::Result<(), rocksdb::Error>,
    ) -> Result<()> {
        if let Some(db) = &self.db {
            flush(db).map_err(|e| self.error("flushing", e))?;
        }
        let Some(mut db) = self.db.take() else {
            return Ok(());
        };
        // Readers check the flag after taking the database, so none starts a read from here;
        // a read under way (one get, or one chunk of a scan) finishes, then the files close
        // here, before this returns, and the task can open them again at once.
        self.closing.store(true, Ordering::SeqCst);
        let started = std::time::Instant::now();
        let mut warned = false;
        loop {
            match Arc::try_unwrap(db) {
                Ok(db) => {
                    drop(db);
                    return Ok(());
                }
                Err(shared) => {
                    db = shared;
                    if !warned && started.elapsed() > std::time::Duration::from_secs(1) {
                        warned = true;
                        tracing::warn!(store = %self.name, "closing waits for a query's read of the store");
                    }
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
            }
        }
    }

    /// `Debug` for the store of type `store`: its name and path.
    pub(crate) fn debug(&self, store: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(store)
            .field("name", &self.name)
            .field("path", &self.path)
            .finish()
    }
}

/// The metrics of one RocksDB instance: block-cache hits and misses and write-stall time
/// from its statistics, and whether writes are stopped now.
pub(crate) fn rocksdb_metrics(db: &Db, options: &Options) -> Vec<StoreMetric> {
    use rocksdb::statistics::Ticker;
    use streams_core::metrics::MetricKind::{Counter, Gauge};
    let stopped = db
        .property_int_value("rocksdb.is-write-stopped")
        .ok()
        .flatten()
        .unwrap_or(0);
    vec![
        StoreMetric {
            name: "kstreams_rocksdb_block_cache_hits",
            help: "Block-cache hits of the store's RocksDB (hit ratio = hits / (hits + misses)).",
            kind: Counter,
            value: options.get_ticker_count(Ticker::BlockCacheHit) as f64,
        },
        StoreMetric {
            name: "kstreams_rocksdb_block_cache_misses",
            help: "Block-cache misses of the store's RocksDB.",
            kind: Counter,
            value: options.get_ticker_count(Ticker::BlockCacheMiss) as f64,
        },
        StoreMetric {
            name: "kstreams_rocksdb_write_stall_seconds",
            help: "Time the store's writes were stalled or slowed by RocksDB.",
            kind: Counter,
            value: options.get_ticker_count(Ticker::StallMicros) as f64 / 1e6,
        },
        StoreMetric {
            name: "kstreams_rocksdb_write_stopped",
            help: "1 while RocksDB stops the store's writes (too many memtables or L0 files).",
            kind: Gauge,
            value: stopped as f64,
        },
    ]
}

/// A RocksDB error as the store's error: [`StreamsError::StoreCorrupted`] when the files are
/// damaged or missing (RocksDB's `Corruption`, or an I/O error for a file that should be
/// there), [`StreamsError::Store`] otherwise (a lock held, a full disk, no permission).
pub(crate) fn store_error(store: &str, doing: &str, e: rocksdb::Error) -> StreamsError {
    let missing_file =
        e.kind() == rocksdb::ErrorKind::IOError && e.as_ref().contains("No such file or directory");
    if e.kind() == rocksdb::ErrorKind::Corruption || missing_file {
        return StreamsError::StoreCorrupted {
            store: store.to_owned(),
            message: format!("RocksDB failed {doing}: {e}"),
        };
    }
    StreamsError::Store {
        store: store.to_owned(),
        message: format!("RocksDB failed {doing}: {e}"),
    }
}

/// The error of a read or write on a closed store.
pub(crate) fn closed_error(store: &str) -> StreamsError {
    StreamsError::Store {
        store: store.to_owned(),
        message: "the store is closed".into(),
    }
}

/// Refuses a store directory that holds a database without its `CURRENT` file: RocksDB would
/// create a new, empty database beside the old files, which could then pass for the store.
pub(crate) fn check_not_headless(store: &str, path: &Path) -> Result<()> {
    if path.join("CURRENT").exists() {
        return Ok(());
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return Ok(());
    };
    let orphan = entries.flatten().find(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.starts_with("MANIFEST-") || name.ends_with(".sst")
    });
    match orphan {
        Some(file) => Err(StreamsError::StoreCorrupted {
            store: store.to_owned(),
            message: format!(
                "{} has no CURRENT file but holds {}",
                path.display(),
                file.file_name().to_string_lossy()
            ),
        }),
        None => Ok(()),
    }
}
