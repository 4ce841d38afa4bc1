//! The session store: one value per key and session (start and end, both inclusive).
//!
//! Binary layout (Kafka Streams' `SessionKeySchema`): `key bytes ++ session end (8 bytes,
//! big-endian) ++ session start (8 bytes, big-endian)`. Segments are chosen by session end,
//! and retention counts from the largest session end written.

use std::path::Path;

use streams_core::store::{ChangelogWriter, StateStore};
use streams_core::{Result, StreamsError};

use crate::rocks::{OptionsHook, RocksDbMemory};
use crate::rocks_segments::RocksDbSegments;
use crate::segmented::{
    KeySchema, Retention, SegmentedBytesStore, lower_bound_for_key_range, upper_bound_for_key_range,
};
use crate::segments::MemorySegments;

/// One session: key, start, end, value.
pub type SessionEntry = (Vec<u8>, i64, i64, Vec<u8>);

/// Sessions, in the order the method producing them states.
pub type SessionIter<'a> = Box<dyn Iterator<Item = Result<SessionEntry>> + 'a>;

/// A session store over bytes.
///
/// Sessions of one key come back ordered by end time, then start time (reverse for the
/// backward variants). Sessions whose end is older than `stream time - retention + 1` are
/// never returned, where stream time is the largest session end written.
pub trait SessionStore: StateStore {
    /// Stores `value` for the session `[start, end]` of `key`; `None` removes the session.
    fn put(&mut self, key: &[u8], start: i64, end: i64, value: Option<&[u8]>) -> Result<()>;

    /// Removes the session `[start, end]` of `key`.
    fn remove(&mut self, key: &[u8], start: i64, end: i64) -> Result<()> {
        self.put(key, start, end, None)
    }

    /// The value of exactly the session `[start, end]` of `key`.
    fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> Result<Option<Vec<u8>>>;

    /// The sessions of `key` that end at or after `earliest_end` and start at or before
    /// `latest_start`: the sessions a record at `t` with inactivity gap `g` may merge with
    /// are `find_sessions(key, t - g, t + g)`.
    fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>>;

    /// [`Self::find_sessions`], newest first.
    fn backward_find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>>;

    /// The sessions of keys in `[key_from, key_to]` (`None`: open end) that end at or after
    /// `earliest_end` and start at or before `latest_start`, segment by segment (a segment
    /// spans a fixed stretch of session ends), each in the byte order of the binary keys (key
    /// bytes, then end and start; the sessions of keys that prefix one another interleave).
    fn find_sessions_in_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>>;

    /// Every session of `key`.
    fn fetch(&self, key: &[u8]) -> Result<SessionIter<'_>> {
        self.find_sessions(key, 0, i64::MAX)
    }

    /// Every live session.
    fn all(&self) -> Result<SessionIter<'_>> {
        self.find_sessions_in_key_range(None, None, 0, i64::MAX)
    }

    /// How long sessions are kept, in milliseconds of stream time.
    fn retention_ms(&self) -> i64;
}

const SUFFIX: usize = 16;
const SCHEMA: KeySchema = KeySchema {
    suffix_len: SUFFIX,
    timestamp_at: 0,
};

/// The binary key of the session `[start, end]` of `key`.
pub fn session_store_key(key: &[u8], start: i64, end: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + SUFFIX);
    out.extend_from_slice(key);
    out.extend_from_slice(&end.to_be_bytes());
    out.extend_from_slice(&start.to_be_bytes());
    out
}

/// Splits a binary session key into key, start and end.
pub fn split_session_store_key(binary: &[u8]) -> Option<(&[u8], i64, i64)> {
    let key_len = binary.len().checked_sub(SUFFIX)?;
    let (key, suffix) = binary.split_at(key_len);
    let end = i64::from_be_bytes(suffix[..8].try_into().ok()?);
    let start = i64::from_be_bytes(suffix[8..].try_into().ok()?);
    Some((key, start, end))
}

/// The session store of kstreams-rs, on time segments kept in memory or in RocksDB.
pub struct SegmentedSessionStore {
    bytes: SegmentedBytesStore,
}

impl std::fmt::Debug for SegmentedSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentedSessionStore")
            .field("name", &self.bytes.name())
            .field("retention", &self.bytes.retention())
            .finish()
    }
}

impl SegmentedSessionStore {
    /// A session store kept in memory.
    pub fn in_memory(name: &str, retention: Retention) -> Result<Self> {
        let bytes =
            SegmentedBytesStore::new(name, Box::new(MemorySegments::default()), SCHEMA, retention)?;
        Ok(SegmentedSessionStore { bytes })
    }

    /// A session store in RocksDB in directory `path`, a column family per segment.
    pub fn rocksdb(
        name: &str,
        path: &Path,
        memory: &RocksDbMemory,
        hook: Option<&OptionsHook>,
        retention: Retention,
    ) -> Result<Self> {
        let backend = RocksDbSegments::open(name, path, memory, hook)?;
        let bytes = SegmentedBytesStore::new(name, Box::new(backend), SCHEMA, retention)?;
        Ok(SegmentedSessionStore { bytes })
    }

    /// Logs every put and remove to `changelog` (binary key as above; a remove as a
    /// tombstone).
    pub fn with_changelog(mut self, changelog: ChangelogWriter) -> Self {
        self.bytes.set_changelog(changelog);
        self
    }

    /// The segments that exist now, by id (session end / segment interval), ascending.
    pub fn segment_ids(&self) -> Vec<i64> {
        self.bytes.segment_ids()
    }

    /// The largest session end written so far (-1 before the first).
    pub fn stream_time(&self) -> i64 {
        self.bytes.stream_time()
    }

    /// Puts skipped because their session was already out of retention.
    pub fn expired_writes(&self) -> u64 {
        self.bytes.expired_writes()
    }

    fn sessions(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
        reverse: bool,
    ) -> Result<SessionIter<'_>> {
        if matches!((key_from, key_to), (Some(f), Some(t)) if f > t) {
            return Ok(Box::new(std::iter::empty()));
        }
        let earliest_end = earliest_end.max(self.bytes.min_live_timestamp()).max(0);
        let single = matches!((key_from, key_to), (Some(f), Some(t)) if f == t);
        let (lower, upper) = if single {
            let key = key_from.unwrap_or_default();
            (
                Some(session_store_key(key, 0, earliest_end)),
                Some(session_store_key(key, latest_start, i64::MAX)),
            )
        } else {
            let max_suffix = session_store_key(b"", latest_start, i64::MAX);
            (
                key_from.map(lower_bound_for_key_range),
                key_to.map(|to| upper_bound_for_key_range(key_from, to, &max_suffix)),
            )
        };
        let (from, to) = (key_from.map(<[u8]>::to_vec), key_to.map(<[u8]>::to_vec));
        let iter = self.bytes.scan(
            earliest_end,
            i64::MAX,
            lower.as_deref(),
            upper.as_deref(),
            reverse,
        )?;
        Ok(Box::new(iter.filter_map(move |entry| match entry {
            Err(e) => Some(Err(e)),
            Ok((binary, value)) => {
                let (k, start, end) = split_session_store_key(&binary)?;
                let in_keys =
                    from.as_deref().is_none_or(|f| k >= f) && to.as_deref().is_none_or(|t| k <= t);
                (in_keys && end >= earliest_end && start <= latest_start)
                    .then(|| Ok((k.to_vec(), start, end, value)))
            }
        })))
    }
}

impl StateStore for SegmentedSessionStore {
    fn name(&self) -> &str {
        self.bytes.name()
    }

    fn commit(&mut self, changelog_offset: Option<i64>) -> Result<()> {
        self.bytes.commit(changelog_offset)
    }

    fn committed_offset(&self) -> Result<Option<i64>> {
        self.bytes.committed_offset()
    }

    fn uncommitted_bytes(&self) -> usize {
        self.bytes.uncommitted_bytes()
    }

    fn metrics(&self) -> Vec<streams_core::store::StoreMetric> {
        self.bytes.metrics()
    }

    fn close(&mut self) -> Result<()> {
        self.bytes.close()
    }

    fn restore_batch(&mut self, batch: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.bytes.restore(batch)
    }
}

impl SessionStore for SegmentedSessionStore {
    fn put(&mut self, key: &[u8], start: i64, end: i64, value: Option<&[u8]>) -> Result<()> {
        if start < 0 || end < start {
            return Err(StreamsError::Store {
                store: self.bytes.name().to_owned(),
                message: format!(
                    "a session needs 0 <= start <= end, got start {start} and end {end}"
                ),
            });
        }
        self.bytes.put(&session_store_key(key, start, end), value)
    }

    fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> Result<Option<Vec<u8>>> {
        if start < 0 || end < start {
            return Ok(None);
        }
        self.bytes.get(&session_store_key(key, start, end))
    }

    fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>> {
        self.sessions(Some(key), Some(key), earliest_end, latest_start, false)
    }

    fn backward_find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>> {
        self.sessions(Some(key), Some(key), earliest_end, latest_start, true)
    }

    fn find_sessions_in_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>> {
        self.sessions(key_from, key_to, earliest_end, latest_start, false)
    }

    fn retention_ms(&self) -> i64 {
        self.bytes.retention().retention_ms
    }
}
