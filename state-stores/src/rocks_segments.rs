//! The RocksDB segment backend: one RocksDB instance per store, a column family per
//! segment, writes staged until the task commits.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::Path;

use std::sync::Arc;

use parking_lot::RwLock;
use rocksdb::{
    BoundColumnFamily, ColumnFamilyDescriptor, Direction, FlushOptions, IteratorMode, ReadOptions,
    WriteBatch,
};
use streams_core::{Result, StreamsError};

use crate::committed::{CommittedSegments, segment_cf};
use crate::key_value::KvIter;
use crate::rocks::{OptionsHook, RocksDbMemory, rocksdb_options};
use crate::rocks_instance::{Db, OFFSET_KEY, RocksDbInstance, decode_offset, store_error};
use crate::segments::{SegmentBackend, SegmentWrite};
use crate::staging::{Staged, merge};

/// Staged entries of one segment, in read order: key and value (`None`: deleted).
type StagedIter<'a> = Box<dyn Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a>;

/// The key, in the default column family, under which a commit saves the stream time.
const STREAM_TIME_KEY: &[u8] = b"kstreams.stream-time";

/// Segments as column families of one RocksDB instance (`segment-<id>`); the default column
/// family holds the saved stream time and changelog offset. Writes wait in memory until the
/// commit, which applies them with the stream time and offset in one batch through the
/// write-ahead log, so a store reopened after a crash is consistent as a whole.
pub(crate) struct RocksDbSegments {
    rocks: RocksDbInstance,
    /// The segments as reads see them: the column families read once at open, plus segments
    /// with staged writes, minus segments dropped. Kept in step with every write and drop.
    segments: BTreeSet<i64>,
    /// Writes since the last commit, by segment and key.
    staged: Staged<(i64, Vec<u8>)>,
    /// Segments dropped since the last commit, whose column families the commit drops.
    dropped: BTreeSet<i64>,
    /// The segments as of the last commit, for queries ([`CommittedSegments`]).
    committed: Arc<RwLock<BTreeSet<i64>>>,
}

impl RocksDbSegments {
    /// Opens (or creates) the segmented store `name` in directory `path`.
    pub(crate) fn open(
        name: &str,
        path: &Path,
        memory: &RocksDbMemory,
        hook: Option<&OptionsHook>,
    ) -> Result<Self> {
        let mut options = rocksdb_options(name, path, memory, hook)?;
        options.set_atomic_flush(true);
        // Bounds the write-ahead log kept alive by column families written rarely.
        options.set_max_total_wal_size(64 << 20);
        options.create_missing_column_families(true);
        // A database not created yet has no column families to list; any other failure to
        // read them is an error, not an empty store.
        let existing = if path.join("CURRENT").exists() {
            Db::list_cf(&options, path).map_err(|e| store_error(name, "listing segments", e))?
        } else {
            Vec::new()
        };
        let segments: BTreeSet<i64> = existing
            .iter()
            .filter_map(|n| n.strip_prefix("segment-")?.parse().ok())
            .collect();
        let descriptors = existing
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf, options.clone()))
            .collect::<Vec<_>>();
        let db = if descriptors.is_empty() {
            Db::open(&options, path)
        } else {
            Db::open_cf_descriptors(&options, path, descriptors)
        }
        .map_err(|e| store_error(name, "opening", e))?;
        Ok(RocksDbSegments {
            rocks: RocksDbInstance::new(name, path, db, options),
            committed: Arc::new(RwLock::new(segments.clone())),
            segments,
            staged: Staged::default(),
            dropped: BTreeSet::new(),
        })
    }

    fn db(&self) -> Result<&Db> {
        self.rocks.db()
    }

    fn error(&self, doing: &str, e: rocksdb::Error) -> StreamsError {
        self.rocks.error(doing, e)
    }
}

impl std::fmt::Debug for RocksDbSegments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.rocks.debug("RocksDbSegments", f)
    }
}

impl RocksDbSegments {
    /// The column family of `segment`, created when missing.
    fn create_segment(&mut self, segment: i64) -> Result<()> {
        self.rocks
            .create_cf(&segment_cf(segment), "creating a segment")
    }

    fn segment(&self, segment: i64) -> Result<Arc<BoundColumnFamily<'_>>> {
        self.db()?
            .cf_handle(&segment_cf(segment))
            .ok_or_else(|| StreamsError::Store {
                store: self.rocks.name().to_owned(),
                message: format!("segment {segment} vanished while writing"),
            })
    }
}

impl SegmentBackend for RocksDbSegments {
    fn segment_ids(&self) -> Vec<i64> {
        self.segments.iter().copied().collect()
    }

    fn get(&self, segment: i64, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if !self.segments.contains(&segment) {
            return Ok(None);
        }
        if let Some(staged) = self.staged.get(&(segment, key.to_vec())) {
            return Ok(staged.map(<[u8]>::to_vec));
        }
        let db = self.db()?;
        match db.cf_handle(&segment_cf(segment)) {
            None => Ok(None),
            Some(cf) => db.get_cf(&cf, key).map_err(|e| self.error("reading", e)),
        }
    }

    fn write(&mut self, segment: i64, writes: &[SegmentWrite<'_>]) -> Result<()> {
        self.db()?;
        self.segments.insert(segment);
        for (k, v) in writes {
            self.staged.put((segment, k.to_vec()), k.len() + 8, *v);
        }
        Ok(())
    }

    fn restore_write(&mut self, segment: i64, writes: &[SegmentWrite<'_>]) -> Result<()> {
        self.create_segment(segment)?;
        self.segments.insert(segment);
        self.committed.write().insert(segment);
        let cf = self.segment(segment)?;
        let mut batch = WriteBatch::default();
        for (k, v) in writes {
            match v {
                Some(v) => batch.put_cf(&cf, k, v),
                None => batch.delete_cf(&cf, k),
            }
        }
        self.rocks.write(batch, "restoring")
    }

    fn range(
        &self,
        segment: i64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'_>> {
        if !self.segments.contains(&segment)
            || matches!((lower, upper), (Some(l), Some(u)) if l > u)
        {
            return Ok(Box::new(std::iter::empty()));
        }
        let staged_range = (
            Bound::Included((segment, lower.map(<[u8]>::to_vec).unwrap_or_default())),
            match upper {
                Some(u) => Bound::Included((segment, u.to_vec())),
                None => Bound::Excluded((segment.saturating_add(1), Vec::new())),
            },
        );
        let staged = self.staged.range(staged_range);
        let staged: StagedIter<'_> = if reverse {
            Box::new(staged.rev().map(|((_, k), v)| (k.as_slice(), v)))
        } else {
            Box::new(staged.map(|((_, k), v)| (k.as_slice(), v)))
        };
        let db = self.db()?;
        let Some(cf) = db.cf_handle(&segment_cf(segment)) else {
            return Ok(merge(Box::new(std::iter::empty()), staged, reverse));
        };
        let mut read = ReadOptions::default();
        if let Some(l) = lower {
            read.set_iterate_lower_bound(l.to_vec());
        }
        if let Some(u) = upper {
            // RocksDB's upper bound is exclusive: the smallest key after `u` is `u` + 0x00.
            let mut bound = u.to_vec();
            bound.push(0);
            read.set_iterate_upper_bound(bound);
        }
        let mode = if reverse {
            IteratorMode::End
        } else {
            match lower {
                Some(l) => IteratorMode::From(l, Direction::Forward),
                None => IteratorMode::Start,
            }
        };
        let committed = self.rocks.entries(db.iterator_cf_opt(&cf, read, mode));
        Ok(merge(committed, staged, reverse))
    }

    fn drop_segment(&mut self, segment: i64) -> Result<()> {
        self.segments.remove(&segment);
        self.staged.discard(|(s, _)| *s == segment);
        self.dropped.insert(segment);
        Ok(())
    }

    fn commit(&mut self, stream_time: i64, changelog_offset: Option<i64>) -> Result<()> {
        let staged = self.staged.take();
        let mut segments: Vec<i64> = staged.keys().map(|(s, _)| *s).collect();
        segments.dedup();
        for &segment in &segments {
            self.create_segment(segment)?;
        }
        let mut batch = WriteBatch::default();
        let mut current: Option<(i64, Arc<BoundColumnFamily<'_>>)> = None;
        for ((segment, key), value) in &staged {
            let cf = match &current {
                Some((s, cf)) if s == segment => cf,
                _ => &current.insert((*segment, self.segment(*segment)?)).1,
            };
            match value {
                Some(v) => batch.put_cf(cf, key, v),
                None => batch.delete_cf(cf, key),
            }
        }
        batch.put(STREAM_TIME_KEY, stream_time.to_be_bytes());
        if let Some(offset) = changelog_offset {
            batch.put(OFFSET_KEY, offset.to_be_bytes());
        }
        self.rocks.write(batch, "committing")?;
        drop(current);
        // Dropped after the batch: a crash in between leaves expired segments that the next
        // move of stream time drops again.
        for segment in std::mem::take(&mut self.dropped) {
            self.committed.write().remove(&segment);
            self.rocks
                .drop_cf(&segment_cf(segment), "dropping a segment")?;
        }
        self.committed.write().clone_from(&self.segments);
        Ok(())
    }

    fn saved_stream_time(&self) -> Result<Option<i64>> {
        let bytes = self
            .db()?
            .get(STREAM_TIME_KEY)
            .map_err(|e| self.error("reading the stream time", e))?;
        Ok(bytes.and_then(|b| Some(i64::from_be_bytes(b.as_slice().try_into().ok()?))))
    }

    fn committed_offset(&self) -> Result<Option<i64>> {
        let bytes = self
            .db()?
            .get(OFFSET_KEY)
            .map_err(|e| self.error("reading the committed offset", e))?;
        decode_offset(self.rocks.name(), bytes)
    }

    fn uncommitted_bytes(&self) -> usize {
        self.staged.bytes()
    }

    fn metrics(&self) -> Vec<streams_core::store::StoreMetric> {
        self.rocks.metrics()
    }

    fn committed(&self) -> Option<CommittedSegments> {
        Some(CommittedSegments::new(
            self.rocks.shared(),
            self.committed.clone(),
            STREAM_TIME_KEY,
        ))
    }

    /// Drops the staged writes; flushes the memtables of every column family (atomically,
    /// as the store is opened with atomic flush).
    fn close(&mut self) -> Result<()> {
        self.staged.take();
        let names: Vec<String> = self.segments.iter().copied().map(segment_cf).collect();
        self.rocks.close(|db| {
            let mut cfs = vec![db.cf_handle(rocksdb::DEFAULT_COLUMN_FAMILY_NAME)];
            cfs.extend(names.iter().map(|n| db.cf_handle(n)));
            let cfs: Vec<_> = cfs.into_iter().flatten().collect();
            let cfs: Vec<_> = cfs.iter().collect();
            db.flush_cfs_opt(&cfs, &FlushOptions::default())
        })
    }
}
