//! The segmented store under window and session stores: one `SegmentedStore`, generic over
//! the `KeySchema` that lays out its binary keys, and [`Retention`], its settings.
//!
//! Entries are kept in segments, each an ordered byte map covering `segment_interval`
//! milliseconds of the entries' segment timestamps (window start for window stores, session
//! end for session stores). Retention works on whole segments: when stream time (the largest
//! segment timestamp written) moves on, every segment entirely older than
//! `stream time - retention` is dropped in one operation, never entry by entry. Writes into an
//! already dropped segment are skipped (and counted), and reads never return entries older
//! than `stream time - retention + 1`.
//!
//! Two backends: `MemorySegments` (a map of ordered maps, in `segments`) and
//! `RocksDbSegments` (one RocksDB instance per store with a column family per segment, dropped
//! whole, in `rocks_segments`). The RocksDB backend stages writes and segment drops until the
//! task commits, then applies the writes, the stream time and the changelog offset in one
//! atomic batch (through RocksDB's write-ahead log, not synced), and drops the segments.

use std::path::Path;

use streams_core::store::{ChangelogWriter, StateStore, StoreMetric};
use streams_core::{Result, StreamsError};

use crate::key_schema::KeySchema;
use crate::key_value::KvIter;
use crate::rocks::{OptionsHook, RocksDbMemory};
use crate::rocks_segments::RocksDbSegments;
use crate::segments::{MemorySegments, SegmentBackend, SegmentWrite};

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

/// A segmented byte store: segments in a backend, retention by stream time, an optional
/// changelog, and keys laid out by the schema `S`.
pub(crate) struct SegmentedStore<S> {
    name: String,
    backend: Box<dyn SegmentBackend>,
    schema: S,
    retention: Retention,
    /// The largest segment timestamp written or restored; -1 before the first.
    stream_time: i64,
    changelog: Option<ChangelogWriter>,
    expired_writes: u64,
}

impl<S: KeySchema> SegmentedStore<S> {
    /// A store whose segments are kept in memory.
    pub(crate) fn in_memory(name: &str, schema: S, retention: Retention) -> Result<Self> {
        Self::new(name, Box::new(MemorySegments::new(name)), schema, retention)
    }

    /// A store in RocksDB in directory `path`, a column family per segment.
    pub(crate) fn rocksdb(
        name: &str,
        path: &Path,
        memory: &RocksDbMemory,
        hook: Option<&OptionsHook>,
        schema: S,
        retention: Retention,
    ) -> Result<Self> {
        let backend = RocksDbSegments::open(name, path, memory, hook)?;
        Self::new(name, Box::new(backend), schema, retention)
    }

    /// A store over `backend`, at the stream time the backend saved.
    pub(crate) fn new(
        name: &str,
        backend: Box<dyn SegmentBackend>,
        schema: S,
        retention: Retention,
    ) -> Result<Self> {
        let stream_time = backend.saved_stream_time()?.unwrap_or(-1);
        Ok(SegmentedStore {
            name: name.to_owned(),
            backend,
            schema,
            retention,
            stream_time,
            changelog: None,
            expired_writes: 0,
        })
    }

    pub(crate) fn set_changelog(&mut self, changelog: ChangelogWriter) {
        self.changelog = Some(changelog);
    }

    pub(crate) fn changelog(&self) -> Option<&ChangelogWriter> {
        self.changelog.as_ref()
    }

    /// What the store last committed, for queries from other threads (RocksDB only).
    pub(crate) fn committed(&self) -> Option<crate::committed::CommittedSegments> {
        self.backend.committed()
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

    /// The oldest segment timestamp a read may return.
    fn min_live_timestamp(&self) -> i64 {
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

    /// The segment timestamp of a binary key; an error when it has none or a negative one.
    fn timestamp(&self, binary: &[u8]) -> Result<i64> {
        match self.schema.timestamp(binary) {
            Some(ts) if ts >= 0 => Ok(ts),
            _ => Err(StreamsError::Store {
                store: self.name.clone(),
                message: format!(
                    "a binary key of {} bytes has no valid timestamp (keys end with a \
                     {}-byte suffix holding a non-negative big-endian timestamp)",
                    binary.len(),
                    S::SUFFIX_LEN
                ),
            }),
        }
    }

    /// Writes `key` with `suffix` = `value`, logging the change under the binary key when a
    /// changelog is set. An entry older than retention is skipped (and counted), but still
    /// logged so the changelog mirrors every write.
    pub(crate) fn put(
        &mut self,
        key: &[u8],
        suffix: S::Suffix,
        value: Option<&[u8]>,
    ) -> Result<()> {
        let binary = self.schema.encode(key, suffix);
        let ts = self.timestamp(&binary)?;
        if self.advance(ts)? {
            let segment = self.segment_of(ts);
            self.backend.write(segment, &[(binary.as_slice(), value)])?;
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
            changelog.log(&binary, value)?;
        }
        Ok(())
    }

    /// The value of `key` with `suffix`, if live.
    pub(crate) fn get(&self, key: &[u8], suffix: S::Suffix) -> Result<Option<Vec<u8>>> {
        let binary = self.schema.encode(key, suffix);
        let ts = self.timestamp(&binary)?;
        if ts < self.min_live_timestamp() {
            return Ok(None);
        }
        self.backend.get(self.segment_of(ts), &binary)
    }

    /// The live entries of keys in `[key_from, key_to]` (`None`: open end) whose suffix the
    /// schema places in `[time_from, time_to]`, each as `entry(key, suffix, value)`: segment by
    /// segment, each in the byte order of the binary keys (both reversed with `reverse`).
    pub(crate) fn fetch<'a, T: 'a>(
        &'a self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        reverse: bool,
        entry: impl Fn(&[u8], S::Suffix, Vec<u8>) -> T + 'a,
    ) -> Result<Box<dyn Iterator<Item = Result<T>> + 'a>> {
        if matches!((key_from, key_to), (Some(f), Some(t)) if f > t) {
            return Ok(Box::new(std::iter::empty()));
        }
        let time_from = time_from.max(self.min_live_timestamp()).max(0);
        let lower = self.schema.lower_range(key_from, key_to, time_from);
        let upper = self.schema.upper_range(key_from, key_to, time_to);
        let (first, last) = self.schema.segment_time_range(time_from, time_to);
        let iter = self.scan(first, last, lower.as_deref(), upper.as_deref(), reverse)?;
        let (from, to) = (key_from.map(<[u8]>::to_vec), key_to.map(<[u8]>::to_vec));
        let schema = &self.schema;
        Ok(Box::new(iter.filter_map(move |item| match item {
            Err(e) => Some(Err(e)),
            Ok((binary, value)) => {
                let (k, suffix) = schema.decode(&binary)?;
                let in_keys =
                    from.as_deref().is_none_or(|f| k >= f) && to.as_deref().is_none_or(|t| k <= t);
                (in_keys && schema.in_time_range(suffix, time_from, time_to))
                    .then(|| Ok(entry(k, suffix, value)))
            }
        })))
    }

    /// The entries whose segment timestamp is in `[from_ts, to_ts]`, in every key, segment by
    /// segment in binary key order, including those past retention that a segment still
    /// kept holds (retention drops whole segments): what Kafka Streams' time-ordered session
    /// store hands to emit-on-close, which reads sessions as they leave retention.
    pub(crate) fn fetch_kept<'a, T: 'a>(
        &'a self,
        from_ts: i64,
        to_ts: i64,
        entry: impl Fn(&[u8], S::Suffix, Vec<u8>) -> T + 'a,
    ) -> Result<Box<dyn Iterator<Item = Result<T>> + 'a>> {
        let iter = self.scan(from_ts, to_ts, None, None, false)?;
        let schema = &self.schema;
        Ok(Box::new(iter.filter_map(move |item| match item {
            Err(e) => Some(Err(e)),
            Ok((binary, value)) => {
                let ts = schema.timestamp(&binary)?;
                if ts < from_ts || ts > to_ts {
                    return None;
                }
                let (k, suffix) = schema.decode(&binary)?;
                Some(Ok(entry(k, suffix, value)))
            }
        })))
    }

    /// Entries of the segments covering segment timestamps `[from_ts, to_ts]` with binary key
    /// in `[lower, upper]`, segment by segment, ascending or descending. The caller filters by
    /// its own key and time conditions.
    fn scan(
        &self,
        from_ts: i64,
        to_ts: i64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
    ) -> Result<KvIter<'_>> {
        // Only segments still kept; the callers bound the entries' timestamps themselves.
        let from_ts = from_ts.max(0);
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

    /// Applies changelog records: each goes to its segment unless older than retention; no
    /// logging.
    fn restore(&mut self, batch: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
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

impl<S: KeySchema + 'static> StateStore for SegmentedStore<S> {
    fn name(&self) -> &str {
        &self.name
    }

    /// Commits the staged writes with the stream time and `changelog_offset`.
    fn commit(&mut self, changelog_offset: Option<i64>) -> Result<()> {
        self.backend.commit(self.stream_time, changelog_offset)
    }

    fn committed_offset(&self) -> Result<Option<i64>> {
        self.backend.committed_offset()
    }

    fn uncommitted_bytes(&self) -> usize {
        self.backend.uncommitted_bytes()
    }

    fn metrics(&self) -> Vec<StoreMetric> {
        self.backend.metrics()
    }

    /// Closes the backend; writes not committed are dropped.
    fn close(&mut self) -> Result<()> {
        self.backend.close()
    }

    fn restore_batch(&mut self, batch: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.restore(batch)
    }
}

/// The public methods a window or session store shares, handed to its `SegmentedStore` in
/// field `store`: `segmented_store_methods!(Facade, "window", "window start")` names what
/// one entry is and what its segment timestamp is.
macro_rules! segmented_store_methods {
    ($facade:ident, $entry:literal, $time:literal) => {
        impl $facade {
            /// Logs every write to `changelog`, under its binary key (see the module docs); a
            /// delete goes as a tombstone.
            pub fn with_changelog(
                mut self,
                changelog: ::streams_core::store::ChangelogWriter,
            ) -> Self {
                self.store.set_changelog(changelog);
                self
            }

            /// The changelog writes go to, if logging.
            pub fn changelog(&self) -> Option<&::streams_core::store::ChangelogWriter> {
                self.store.changelog()
            }

            #[doc = concat!(
                "The segments that exist now, by id (", $time, " / segment interval), ascending."
            )]
            pub fn segment_ids(&self) -> Vec<i64> {
                self.store.segment_ids()
            }

            #[doc = concat!("The largest ", $time, " written so far (-1 before the first).")]
            pub fn stream_time(&self) -> i64 {
                self.store.stream_time()
            }

            #[doc = concat!(
                "Puts skipped because their ", $entry, " was already out of retention."
            )]
            pub fn expired_writes(&self) -> u64 {
                self.store.expired_writes()
            }
        }
    };
}

pub(crate) use segmented_store_methods;
