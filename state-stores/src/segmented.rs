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

use streams_core::store::ChangelogWriter;
use streams_core::{Result, StreamsError};

use crate::key_value::KvIter;
use crate::segments::{SegmentBackend, SegmentWrite};

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
