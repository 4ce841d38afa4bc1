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
//! RocksDB instance per store with a column family per segment, dropped whole).

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
use crate::rocks::{OptionsHook, RocksDbMemory, rocksdb_options, store_error};

/// One write to a segment: key and value (`None` deletes).
pub(crate) type SegmentWrite<'a> = (&'a [u8], Option<&'a [u8]>);

/// Where segments live.
pub(crate) trait SegmentBackend {
    /// The existing segments, ascending.
    fn segment_ids(&self) -> Vec<i64>;
    /// The value of `key` in segment `segment`.
    fn get(&self, segment: i64, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Applies `writes` to segment `segment`, creating it when missing.
    fn write(&mut self, segment: i64, writes: &[SegmentWrite<'_>]) -> Result<()>;
    /// Entries of segment `segment` with `lower <= key <= upper` (open when `None`), in key
    /// order or reverse key order.
    fn range(
        &self,
        segment: i64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'_>>;
    /// Removes segment `segment` and all it holds.
    fn drop_segment(&mut self, segment: i64) -> Result<()>;
    /// Makes writes durable locally, together with the store's stream time.
    fn flush(&mut self, stream_time: i64) -> Result<()>;
    /// The stream time saved by the last flush, if the backend keeps one.
    fn saved_stream_time(&self) -> Result<Option<i64>>;
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

    fn flush(&mut self, _stream_time: i64) -> Result<()> {
        Ok(())
    }

    fn saved_stream_time(&self) -> Result<Option<i64>> {
        Ok(None)
    }

    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The key, in the default column family, under which a flush saves the stream time.
const STREAM_TIME_KEY: &[u8] = b"kstreams.stream-time";

/// Segments as column families of one RocksDB instance (`segment-<id>`); the default column
/// family holds only the saved stream time. Write-ahead log off and atomic flushes across
/// column families, so a flushed store is consistent as a whole.
pub(crate) struct RocksDbSegments {
    name: String,
    path: PathBuf,
    db: Option<DB>,
    options: Options,
    write: WriteOptions,
    /// The segments (column families) that exist: read once at open, then kept in step with
    /// every create and drop.
    segments: std::collections::BTreeSet<i64>,
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
        let mut options = rocksdb_options(name, path, memory, hook)?;
        options.set_atomic_flush(true);
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
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        Ok(RocksDbSegments {
            name: name.to_owned(),
            path: path.to_owned(),
            db: Some(db),
            options,
            write,
            segments,
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

impl SegmentBackend for RocksDbSegments {
    fn segment_ids(&self) -> Vec<i64> {
        self.segments.iter().copied().collect()
    }

    fn get(&self, segment: i64, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let db = self.db()?;
        match db.cf_handle(&segment_cf(segment)) {
            None => Ok(None),
            Some(cf) => db.get_cf(cf, key).map_err(|e| self.error("reading", e)),
        }
    }

    fn write(&mut self, segment: i64, writes: &[SegmentWrite<'_>]) -> Result<()> {
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
            self.segments.insert(segment);
        }
        let db = self.db()?;
        let cf = db.cf_handle(&cf_name).ok_or_else(|| StreamsError::Store {
            store: self.name.clone(),
            message: format!("segment {segment} vanished while writing"),
        })?;
        let mut batch = WriteBatch::default();
        for (k, v) in writes {
            match v {
                Some(v) => batch.put_cf(cf, k, v),
                None => batch.delete_cf(cf, k),
            }
        }
        db.write_opt(batch, &self.write)
            .map_err(|e| self.error("writing", e))
    }

    fn range(
        &self,
        segment: i64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'_>> {
        let db = self.db()?;
        let Some(cf) = db.cf_handle(&segment_cf(segment)) else {
            return Ok(Box::new(std::iter::empty()));
        };
        if matches!((lower, upper), (Some(l), Some(u)) if l > u) {
            return Ok(Box::new(std::iter::empty()));
        }
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
        Ok(Box::new(db.iterator_cf_opt(cf, read, mode).map(
            move |item| {
                item.map(|(k, v)| (k.into_vec(), v.into_vec()))
                    .map_err(|e| store_error(&name, "iterating", e))
            },
        )))
    }

    fn drop_segment(&mut self, segment: i64) -> Result<()> {
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
        self.segments.remove(&segment);
        Ok(())
    }

    fn flush(&mut self, stream_time: i64) -> Result<()> {
        let db = self.db()?;
        db.put_opt(STREAM_TIME_KEY, stream_time.to_be_bytes(), &self.write)
            .map_err(|e| self.error("saving the stream time", e))?;
        let ids = self.segment_ids();
        let names: Vec<String> = ids.into_iter().map(segment_cf).collect();
        let mut cfs = vec![db.cf_handle(rocksdb::DEFAULT_COLUMN_FAMILY_NAME)];
        cfs.extend(names.iter().map(|n| db.cf_handle(n)));
        let cfs: Vec<_> = cfs.into_iter().flatten().collect();
        db.flush_cfs_opt(&cfs, &FlushOptions::default())
            .map_err(|e| self.error("flushing", e))
    }

    fn saved_stream_time(&self) -> Result<Option<i64>> {
        let bytes = self
            .db()?
            .get(STREAM_TIME_KEY)
            .map_err(|e| self.error("reading the stream time", e))?;
        Ok(bytes.and_then(|b| Some(i64::from_be_bytes(b.as_slice().try_into().ok()?))))
    }

    fn close(&mut self) -> Result<()> {
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

    pub(crate) fn flush(&mut self) -> Result<()> {
        self.backend.flush(self.stream_time)
    }

    pub(crate) fn close(&mut self) -> Result<()> {
        self.flush()?;
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
                    self.backend.write(s, &pending)?;
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
            self.backend.write(s, &pending)?;
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
