//! Time-segmented byte stores: the storage under window and session stores.
//!
//! Entries are kept in segments, each an ordered byte map covering `segment_interval`
//! milliseconds of the entries' timestamps (window start for window stores, session end for
//! session stores). Retention works on whole segments: when stream time (the largest timestamp
//! written) moves on, every segment entirely older than `stream time - retention` is dropped
//! in one operation, never entry by entry. Writes into an already dropped segment are skipped,
//! and reads never return entries older than `stream time - retention + 1`.
//!
//! Two backends: `MemorySegments` (a map of ordered maps) and `RocksDbSegments` (one
//! RocksDB instance per store with a column family per segment, dropped whole). The RocksDB
//! backend stages writes and segment drops until the task commits, then applies the writes,
//! the stream time and the changelog offset in one atomic batch, and drops the segments.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, FlushOptions, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteOptions,
};
use streams_core::store::ChangelogWriter;
use streams_core::{Result, StreamsError};

use crate::key_value::KvIter;
use crate::rocks::{
    OFFSET_KEY, OptionsHook, RocksDbMemory, check_not_headless, decode_offset, rocksdb_options,
    store_error,
};
use crate::staging::{Staged, merge};

/// Staged entries of one segment, in read order: key and value (`None`: deleted).
type StagedIter<'a> = Box<dyn Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a>;

/// One write to a segment: key and value (`None` deletes).
pub(crate) type SegmentWrite<'a> = (&'a [u8], Option<&'a [u8]>);

/// Where segments live.
pub(crate) trait SegmentBackend {
    /// The existing segments, ascending.
    fn segment_ids(&self) -> Vec<i64>;
    /// The value of `key` in segment `segment`.
    fn get(&self, segment: i64, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Applies `writes` to segment `segment`, creating it when missing (staged until the
    /// next commit where the backend keeps state across restarts).
    fn write(&mut self, segment: i64, writes: &[SegmentWrite<'_>]) -> Result<()>;
    /// Applies restored changelog records to segment `segment` at once: they are committed
    /// changes already.
    fn restore_write(&mut self, segment: i64, writes: &[SegmentWrite<'_>]) -> Result<()> {
        self.write(segment, writes)
    }
    /// Entries of segment `segment` with `lower <= key <= upper` (open when `None`), in key
    /// order or reverse key order.
    fn range(
        &self,
        segment: i64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'_>>;
    /// Removes segment `segment` and all it holds (from reads at once; from disk at the next
    /// commit where the backend keeps state across restarts).
    fn drop_segment(&mut self, segment: i64) -> Result<()>;
    /// Makes the writes since the last commit durable locally, atomically with the store's
    /// stream time and the changelog offset.
    fn commit(&mut self, stream_time: i64, changelog_offset: Option<i64>) -> Result<()>;
    /// The stream time saved by the last commit, if the backend keeps one.
    fn saved_stream_time(&self) -> Result<Option<i64>>;
    /// The changelog offset saved by the last commit, if the backend keeps one.
    fn committed_offset(&self) -> Result<Option<i64>> {
        Ok(None)
    }
    /// Memory held by staged writes.
    fn uncommitted_bytes(&self) -> usize {
        0
    }
    /// The backend's own metrics.
    fn metrics(&self) -> Vec<streams_core::store::StoreMetric> {
        Vec::new()
    }
    /// Releases resources.
    fn close(&mut self) -> Result<()>;
}

/// Segments as ordered maps in memory.
#[derive(Debug, Default)]
pub(crate) struct MemorySegments {
    segments: BTreeMap<i64, BTreeMap<Vec<u8>, Vec<u8>>>,
}

fn inclusive(b: Option<&[u8]>) -> Bound<Vec<u8>> {
    b.map_or(Bound::Unbounded, |b| Bound::Included(b.to_vec()))
}

impl SegmentBackend for MemorySegments {
    fn segment_ids(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }

    fn get(&self, segment: i64, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .segments
            .get(&segment)
            .and_then(|s| s.get(key))
            .cloned())
    }

    fn write(&mut self, segment: i64, writes: &[SegmentWrite<'_>]) -> Result<()> {
        let map = self.segments.entry(segment).or_default();
        for (k, v) in writes {
            match v {
                Some(v) => {
                    map.insert(k.to_vec(), v.to_vec());
                }
                None => {
                    map.remove(*k);
                }
            }
        }
        Ok(())
    }

    fn range(
        &self,
        segment: i64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'_>> {
        let Some(map) = self.segments.get(&segment) else {
            return Ok(Box::new(std::iter::empty()));
        };
        if matches!((lower, upper), (Some(l), Some(u)) if l > u) {
            return Ok(Box::new(std::iter::empty()));
        }
        let range = map.range((inclusive(lower), inclusive(upper)));
        let clone = |(k, v): (&Vec<u8>, &Vec<u8>)| Ok((k.clone(), v.clone()));
        if reverse {
            Ok(Box::new(range.rev().map(clone)))
        } else {
            Ok(Box::new(range.map(clone)))
        }
    }

    fn drop_segment(&mut self, segment: i64) -> Result<()> {
        self.segments.remove(&segment);
        Ok(())
    }

    fn commit(&mut self, _stream_time: i64, _changelog_offset: Option<i64>) -> Result<()> {
        Ok(())
    }

    fn saved_stream_time(&self) -> Result<Option<i64>> {
        Ok(None)
    }

    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The key, in the default column family, under which a commit saves the stream time.
const STREAM_TIME_KEY: &[u8] = b"kstreams.stream-time";

/// Segments as column families of one RocksDB instance (`segment-<id>`); the default column
/// family holds the saved stream time and changelog offset. Writes wait in memory until the
/// commit, which applies them with the stream time and offset in one batch through the
/// write-ahead log, so a store reopened after a crash is consistent as a whole.
pub(crate) struct RocksDbSegments {
    name: String,
    path: PathBuf,
    db: Option<DB>,
    options: Options,
    write: WriteOptions,
    /// The segments as reads see them: the column families read once at open, plus segments
    /// with staged writes, minus segments dropped. Kept in step with every write and drop.
    segments: std::collections::BTreeSet<i64>,
    /// Writes since the last commit, by segment and key.
    staged: Staged<(i64, Vec<u8>)>,
    /// Segments dropped since the last commit, whose column families the commit drops.
    dropped: std::collections::BTreeSet<i64>,
}

fn segment_cf(segment: i64) -> String {
    format!("segment-{segment}")
}

impl RocksDbSegments {
    /// Opens (or creates) the segmented store `name` in directory `path`.
    pub(crate) fn open(
        name: &str,
        path: &Path,
        memory: &RocksDbMemory,
        hook: Option<&OptionsHook>,
    ) -> Result<Self> {
        check_not_headless(name, path)?;
        let mut options = rocksdb_options(name, path, memory, hook)?;
        options.set_atomic_flush(true);
        // Bounds the write-ahead log kept alive by column families written rarely.
        options.set_max_total_wal_size(64 << 20);
        options.create_missing_column_families(true);
        // A database not created yet has no column families to list; any other failure to
        // read them is an error, not an empty store.
        let existing = if path.join("CURRENT").exists() {
            DB::list_cf(&options, path).map_err(|e| store_error(name, "listing segments", e))?
        } else {
            Vec::new()
        };
        let segments = existing
            .iter()
            .filter_map(|n| n.strip_prefix("segment-")?.parse().ok())
            .collect();
        let descriptors = existing
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf, options.clone()))
            .collect::<Vec<_>>();
        let db = if descriptors.is_empty() {
            DB::open(&options, path)
        } else {
            DB::open_cf_descriptors(&options, path, descriptors)
        }
        .map_err(|e| store_error(name, "opening", e))?;
        Ok(RocksDbSegments {
            name: name.to_owned(),
            path: path.to_owned(),
            db: Some(db),
            options,
            write: WriteOptions::default(),
            segments,
            staged: Staged::default(),
            dropped: std::collections::BTreeSet::new(),
        })
    }

    fn db(&self) -> Result<&DB> {
        self.db.as_ref().ok_or_else(|| StreamsError::Store {
            store: self.name.clone(),
            message: "the store is closed".into(),
        })
    }

    fn error(&self, doing: &str, e: rocksdb::Error) -> StreamsError {
        store_error(&self.name, doing, e)
    }
}

impl std::fmt::Debug for RocksDbSegments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbSegments")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish()
    }
}

impl RocksDbSegments {
    /// The column family of `segment`, created when missing.
    fn create_segment(&mut self, segment: i64) -> Result<()> {
        let cf_name = segment_cf(segment);
        if self.db()?.cf_handle(&cf_name).is_none() {
            let options = self.options.clone();
            let name = self.name.clone();
            self.db
                .as_mut()
                .ok_or_else(|| StreamsError::Store {
                    store: name.clone(),
                    message: "the store is closed".into(),
                })?
                .create_cf(&cf_name, &options)
                .map_err(|e| store_error(&name, "creating a segment", e))?;
        }
        Ok(())
    }

    fn segment(&self, segment: i64) -> Result<&rocksdb::ColumnFamily> {
        self.db()?
            .cf_handle(&segment_cf(segment))
            .ok_or_else(|| StreamsError::Store {
                store: self.name.clone(),
                message: format!("segment {segment} vanished while writing"),
            })
    }

    /// Flushes the memtables of every column family, so that the next open need not replay
    /// the write-ahead log.
    fn flush_memtables(&self) -> Result<()> {
        let db = self.db()?;
        let names: Vec<String> = self.segments.iter().copied().map(segment_cf).collect();
        let mut cfs = vec![db.cf_handle(rocksdb::DEFAULT_COLUMN_FAMILY_NAME)];
        cfs.extend(names.iter().map(|n| db.cf_handle(n)));
        let cfs: Vec<_> = cfs.into_iter().flatten().collect();
        db.flush_cfs_opt(&cfs, &FlushOptions::default())
            .map_err(|e| self.error("flushing", e))
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
            Some(cf) => db.get_cf(cf, key).map_err(|e| self.error("reading", e)),
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
        let cf = self.segment(segment)?;
        let mut batch = WriteBatch::default();
        for (k, v) in writes {
            match v {
                Some(v) => batch.put_cf(cf, k, v),
                None => batch.delete_cf(cf, k),
            }
        }
        self.db()?
            .write_opt(batch, &self.write)
            .map_err(|e| self.error("restoring", e))
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
        let name = self.name.clone();
        let committed = Box::new(db.iterator_cf_opt(cf, read, mode).map(move |item| {
            item.map(|(k, v)| (k.into_vec(), v.into_vec()))
                .map_err(|e| store_error(&name, "iterating", e))
        }));
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
        let db = self.db()?;
        let mut batch = WriteBatch::default();
        let mut current: Option<(i64, &rocksdb::ColumnFamily)> = None;
        for ((segment, key), value) in &staged {
            let cf = match current {
                Some((s, cf)) if s == *segment => cf,
                _ => {
                    let cf = self.segment(*segment)?;
                    current = Some((*segment, cf));
                    cf
                }
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
        db.write_opt(batch, &self.write)
            .map_err(|e| self.error("committing", e))?;
        // Dropped after the batch: a crash in between leaves expired segments that the next
        // move of stream time drops again.
        for segment in std::mem::take(&mut self.dropped) {
            let cf_name = segment_cf(segment);
            let name = self.name.clone();
            let db = self.db.as_mut().ok_or_else(|| StreamsError::Store {
                store: name.clone(),
                message: "the store is closed".into(),
            })?;
            if db.cf_handle(&cf_name).is_some() {
                db.drop_cf(&cf_name)
                    .map_err(|e| store_error(&name, "dropping a segment", e))?;
            }
        }
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
        decode_offset(&self.name, bytes)
    }

    fn uncommitted_bytes(&self) -> usize {
        self.staged.bytes()
    }

    fn metrics(&self) -> Vec<streams_core::store::StoreMetric> {
        self.db
            .as_ref()
            .map(|db| crate::rocks::rocksdb_metrics(db, &self.options))
            .unwrap_or_default()
    }

    fn close(&mut self) -> Result<()> {
        self.staged.take();
        if self.db.is_some() {
            self.flush_memtables()?;
        }
        self.db = None;
        Ok(())
    }
}

/// How a store's binary keys carry the timestamp its segment is chosen by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeySchema {
    /// Bytes after the user key.
    pub(crate) suffix_len: usize,
    /// Where in the suffix the segment timestamp (8 bytes, big-endian) starts.
    pub(crate) timestamp_at: usize,
}

impl KeySchema {
    /// The segment timestamp of a binary key, if the key is long enough to have one.
    pub(crate) fn timestamp(&self, key: &[u8]) -> Option<i64> {
        let start = key.len().checked_sub(self.suffix_len)? + self.timestamp_at;
        Some(i64::from_be_bytes(
            key.get(start..start + 8)?.try_into().ok()?,
        ))
    }
}

/// The settings of a segmented store, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How long entries are kept, in milliseconds of stream time.
    pub retention_ms: i64,
    /// The width of a segment in milliseconds.
    pub segment_interval_ms: i64,
}

impl Retention {
    /// Retention `retention_ms` with Kafka Streams' default segment interval: half the
    /// retention, at least one minute.
    pub fn new(store: &str, retention_ms: i64) -> Result<Self> {
        Self::with_segment_interval(store, retention_ms, (retention_ms / 2).max(60_000))
    }

    /// Retention `retention_ms` in segments of `segment_interval_ms`.
    pub fn with_segment_interval(
        store: &str,
        retention_ms: i64,
        segment_interval_ms: i64,
    ) -> Result<Self> {
        if retention_ms < 0 {
            return Err(StreamsError::Topology(format!(
                "store `{store}`: retention must be zero or more milliseconds, got {retention_ms}"
            )));
        }
        if segment_interval_ms < 1 {
            return Err(StreamsError::Topology(format!(
                "store `{store}`: the segment interval must be at least 1 ms, got \
                 {segment_interval_ms}"
            )));
        }
        Ok(Retention {
            retention_ms,
            segment_interval_ms,
        })
    }
}

/// A segmented byte store: segments in a backend, retention by stream time, optional
/// changelog.
pub(crate) struct SegmentedBytesStore {
    name: String,
    backend: Box<dyn SegmentBackend>,
    schema: KeySchema,
    retention: Retention,
    /// The largest timestamp written or restored; -1 before the first.
    stream_time: i64,
    changelog: Option<ChangelogWriter>,
    expired_writes: u64,
}

impl SegmentedBytesStore {
    pub(crate) fn new(
        name: &str,
        backend: Box<dyn SegmentBackend>,
        schema: KeySchema,
        retention: Retention,
    ) -> Result<Self> {
        let stream_time = backend.saved_stream_time()?.unwrap_or(-1);
        Ok(SegmentedBytesStore {
            name: name.to_owned(),
            backend,
            schema,
            retention,
            stream_time,
            changelog: None,
            expired_writes: 0,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn set_changelog(&mut self, changelog: ChangelogWriter) {
        self.changelog = Some(changelog);
    }

    pub(crate) fn changelog(&self) -> Option<&ChangelogWriter> {
        self.changelog.as_ref()
    }

    pub(crate) fn retention(&self) -> Retention {
        self.retention
    }

    pub(crate) fn stream_time(&self) -> i64 {
        self.stream_time
    }

    pub(crate) fn expired_writes(&self) -> u64 {
        self.expired_writes
    }

    pub(crate) fn segment_ids(&self) -> Vec<i64> {
        self.backend.segment_ids()
    }

    fn segment_of(&self, timestamp: i64) -> i64 {
        timestamp.div_euclid(self.retention.segment_interval_ms)
    }

    /// The oldest timestamp a read may return.
    pub(crate) fn min_live_timestamp(&self) -> i64 {
        self.stream_time
            .saturating_sub(self.retention.retention_ms)
            .saturating_add(1)
    }

    /// The oldest segment that is kept.
    fn min_live_segment(&self) -> i64 {
        self.segment_of(self.stream_time.saturating_sub(self.retention.retention_ms))
    }

    /// Moves stream time to `timestamp` if later, dropping the segments that fall out of
    /// retention. Returns false when `timestamp` belongs to a dropped segment.
    fn advance(&mut self, timestamp: i64) -> Result<bool> {
        if timestamp > self.stream_time {
            let before = self.min_live_segment();
            self.stream_time = timestamp;
            let live = self.min_live_segment();
            if live > before {
                for id in self.backend.segment_ids() {
                    if id >= live {
                        break;
                    }
                    self.backend.drop_segment(id)?;
                }
            }
        }
        Ok(self.segment_of(timestamp) >= self.min_live_segment())
    }

    fn timestamp(&self, key: &[u8]) -> Result<i64> {
        match self.schema.timestamp(key) {
            Some(ts) if ts >= 0 => Ok(ts),
            _ => Err(StreamsError::Store {
                store: self.name.clone(),
                message: format!(
                    "a binary key of {} bytes has no valid timestamp (keys end with a \
                     {}-byte suffix holding a non-negative big-endian timestamp)",
                    key.len(),
                    self.schema.suffix_len
                ),
            }),
        }
    }

    /// Writes `key` (binary, with its suffix) = `value`, logging the change when a changelog
    /// is set. An entry older than retention is skipped (and counted), but still logged so the
    /// changelog mirrors every write.
    pub(crate) fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let ts = self.timestamp(key)?;
        if self.advance(ts)? {
            let segment = self.segment_of(ts);
            self.backend.write(segment, &[(key, value)])?;
        } else {
            self.expired_writes += 1;
            tracing::debug!(
                store = %self.name,
                timestamp = ts,
                stream_time = self.stream_time,
                "skipping a write older than the store's retention"
            );
        }
        if let Some(changelog) = &self.changelog {
            changelog.log(key, value)?;
        }
        Ok(())
    }

    /// The value of binary `key`, if live.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let ts = self.timestamp(key)?;
        if ts < self.min_live_timestamp() {
            return Ok(None);
        }
        self.backend.get(self.segment_of(ts), key)
    }

    /// Entries of the segments covering `[from_ts, to_ts]` (segment timestamps) with binary key
    /// in `[lower, upper]`, segment by segment, ascending or descending. The caller filters by
    /// its own key and time conditions.
    pub(crate) fn scan(
        &self,
        from_ts: i64,
        to_ts: i64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'_>> {
        let from_ts = from_ts.max(self.min_live_timestamp()).max(0);
        if from_ts > to_ts {
            return Ok(Box::new(std::iter::empty()));
        }
        let (first, last) = (self.segment_of(from_ts), self.segment_of(to_ts));
        let mut ids: Vec<i64> = self
            .backend
            .segment_ids()
            .into_iter()
            .filter(|id| (first..=last).contains(id))
            .collect();
        if reverse {
            ids.reverse();
        }
        let lower = lower.map(<[u8]>::to_vec);
        let upper = upper.map(<[u8]>::to_vec);
        let backend = &*self.backend;
        Ok(Box::new(ids.into_iter().flat_map(
            move |id| match backend.range(id, lower.as_deref(), upper.as_deref(), reverse) {
                Ok(iter) => iter,
                Err(e) => Box::new(std::iter::once(Err(e))),
            },
        )))
    }

    pub(crate) fn commit(&mut self, changelog_offset: Option<i64>) -> Result<()> {
        self.backend.commit(self.stream_time, changelog_offset)
    }

    pub(crate) fn committed_offset(&self) -> Result<Option<i64>> {
        self.backend.committed_offset()
    }

    pub(crate) fn uncommitted_bytes(&self) -> usize {
        self.backend.uncommitted_bytes()
    }

    pub(crate) fn metrics(&self) -> Vec<streams_core::store::StoreMetric> {
        self.backend.metrics()
    }

    /// Closes the backend; writes not committed are dropped.
    pub(crate) fn close(&mut self) -> Result<()> {
        self.backend.close()
    }

    /// Applies changelog records: each goes to its segment unless older than retention; no
    /// logging.
    pub(crate) fn restore(&mut self, batch: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        let mut pending: Vec<SegmentWrite<'_>> = Vec::new();
        let mut pending_segment = None;
        for (key, value) in batch {
            let ts = self.timestamp(key)?;
            let segment = self.segment_of(ts);
            // Apply what is pending for another segment before stream time moves: moving it
            // may drop that segment, and writing afterwards would create it again.
            if pending_segment != Some(segment) {
                if let Some(s) = pending_segment.take() {
                    self.backend.restore_write(s, &pending)?;
                }
                pending.clear();
            }
            if !self.advance(ts)? {
                continue;
            }
            pending_segment = Some(segment);
            pending.push((key, value.as_deref()));
        }
        if let Some(s) = pending_segment {
            self.backend.restore_write(s, &pending)?;
        }
        Ok(())
    }
}

/// The smallest binary key of any entry whose user key is at least `key_from`: entries for
/// longer keys that start with `key_from` can sort before `key_from + suffix`, so the suffix
/// is left off.
pub(crate) fn lower_bound_for_key_range(key_from: &[u8]) -> Vec<u8> {
    key_from.to_vec()
}

/// The largest binary key of any entry whose user key `k` satisfies `key_from <= k <= key_to`
/// with a suffix no larger than `max_suffix`. A key that is a proper prefix of `key_to` sorts
/// before it but its suffix can sort after `key_to`'s bytes, so every such prefix at least
/// `key_from` is a candidate.
pub(crate) fn upper_bound_for_key_range(
    key_from: Option<&[u8]>,
    key_to: &[u8],
    max_suffix: &[u8],
) -> Vec<u8> {
    (0..=key_to.len())
        .map(|i| &key_to[..i])
        .filter(|prefix| key_from.is_none_or(|f| *prefix >= f))
        .map(|prefix| [prefix, max_suffix].concat())
        .max()
        .unwrap_or_else(|| [key_to, max_suffix].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_range_upper_bound_covers_prefix_keys() {
        let suffix = [0u8, 0, 0, 0, 0, 0, 0, 9];
        // "a" is a prefix of "a\0\0"; its entries can sort after "a\0\0" + suffix.
        let upper = upper_bound_for_key_range(None, b"a\0\0", &suffix);
        assert_eq!(upper, [b"a".as_slice(), &suffix].concat());
        // With a lower end above "a", only "a\0\0" itself counts.
        let upper = upper_bound_for_key_range(Some(b"a\0"), b"a\0\0", &suffix);
        assert_eq!(upper, [b"a\0".as_slice(), &suffix].concat());
        // "b" + suffix sorts before "bz" + suffix: the plain bound is already the largest.
        let upper = upper_bound_for_key_range(Some(b"b"), b"bz", &suffix);
        assert_eq!(upper, [b"bz".as_slice(), &suffix].concat());
    }

    #[test]
    fn schema_reads_the_timestamp_from_the_suffix() {
        let schema = KeySchema {
            suffix_len: 12,
            timestamp_at: 0,
        };
        let key = [b"k".as_slice(), &42i64.to_be_bytes(), &[0, 0, 0, 7]].concat();
        assert_eq!(schema.timestamp(&key), Some(42));
        assert_eq!(schema.timestamp(b"short"), None);
    }
}
