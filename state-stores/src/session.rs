//! The session store: one value per key and session (start and end, both inclusive).
//!
//! Binary layout (Kafka Streams' `SessionKeySchema`): `key bytes ++ session end (8 bytes,
//! big-endian) ++ session start (8 bytes, big-endian)`. Segments are chosen by session end,
//! and retention counts from the largest session end written.

use std::path::Path;

use streams_core::store::StateStore;
use streams_core::{Result, StreamsError};

use crate::committed::CommittedSegments;
use crate::delegate::delegate_state_store;
use crate::key_schema::KeySchema;
use crate::rocks::{OptionsHook, RocksDbMemory};
use crate::segmented::{Retention, SegmentedStore, segmented_store_methods};

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

    /// Every session of every key ending in `[earliest_end, latest_end]`, by end time,
    /// including sessions past retention that the store still holds (it drops them in whole
    /// segments): what emit-on-close reads, as Kafka Streams' time-ordered session store's
    /// `fetchSessions(earliestSessionEndTime, latestSessionEndTime)`.
    fn sessions_ending_between(
        &self,
        earliest_end: i64,
        latest_end: i64,
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

/// The suffix of a binary session key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionSuffix {
    start: i64,
    end: i64,
}

/// The session store's key layout, Kafka Streams' `SessionKeySchema`: segments by session
/// end, and a fetch over `[earliest_end, latest_start]` selects the sessions that end at or
/// after `earliest_end` and start at or before `latest_start`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionKeySchema;

impl KeySchema for SessionKeySchema {
    type Suffix = SessionSuffix;

    const SUFFIX_LEN: usize = SUFFIX;

    fn encode(&self, key: &[u8], suffix: SessionSuffix) -> Vec<u8> {
        session_store_key(key, suffix.start, suffix.end)
    }

    fn decode<'a>(&self, binary: &'a [u8]) -> Option<(&'a [u8], SessionSuffix)> {
        let (key, start, end) = split_session_store_key(binary)?;
        Some((key, SessionSuffix { start, end }))
    }

    fn segment_timestamp(&self, suffix: SessionSuffix) -> i64 {
        suffix.end
    }

    /// Any session ending at or after `earliest_end` may have started early enough.
    fn segment_time_range(&self, earliest_end: i64, _latest_start: i64) -> (i64, i64) {
        (earliest_end, i64::MAX)
    }

    fn lower_range_suffix(&self, earliest_end: i64) -> SessionSuffix {
        SessionSuffix {
            start: 0,
            end: earliest_end,
        }
    }

    fn upper_range_suffix(&self, latest_start: i64) -> SessionSuffix {
        SessionSuffix {
            start: latest_start,
            end: i64::MAX,
        }
    }

    fn in_time_range(&self, suffix: SessionSuffix, earliest_end: i64, latest_start: i64) -> bool {
        suffix.end >= earliest_end && suffix.start <= latest_start
    }
}

/// The session store of kstreams-rs, on time segments kept in memory or in RocksDB.
///
/// ```
/// use state_stores::{Retention, SegmentedSessionStore, SessionStore};
///
/// let retention = Retention::new("visits", 60_000)?;
/// let mut store = SegmentedSessionStore::in_memory("visits", retention)?;
/// store.put(b"alice", 0, 5_000, Some(b"3 clicks"))?;
///
/// // A record of alice at 9 s, with an inactivity gap of 5 s, merges with her sessions that
/// // end at or after 4 s and start at or before 14 s.
/// let sessions: Vec<_> = store.find_sessions(b"alice", 4_000, 14_000)?.collect::<Result<_, _>>()?;
/// assert_eq!(sessions, vec![(b"alice".to_vec(), 0, 5_000, b"3 clicks".to_vec())]);
/// # Ok::<(), streams_core::StreamsError>(())
/// ```
pub struct SegmentedSessionStore {
    store: SegmentedStore<SessionKeySchema>,
}

impl std::fmt::Debug for SegmentedSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentedSessionStore")
            .field("name", &self.store.name())
            .field("retention", &self.store.retention())
            .finish()
    }
}

impl SegmentedSessionStore {
    /// A session store kept in memory.
    pub fn in_memory(name: &str, retention: Retention) -> Result<Self> {
        let store = SegmentedStore::in_memory(name, SessionKeySchema, retention)?;
        Ok(SegmentedSessionStore { store })
    }

    /// A session store in RocksDB in directory `path`, a column family per segment.
    pub fn rocksdb(
        name: &str,
        path: &Path,
        memory: &RocksDbMemory,
        hook: Option<&OptionsHook>,
        retention: Retention,
    ) -> Result<Self> {
        let store = SegmentedStore::rocksdb(name, path, memory, hook, SessionKeySchema, retention)?;
        Ok(SegmentedSessionStore { store })
    }

    fn sessions(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
        reverse: bool,
    ) -> Result<SessionIter<'_>> {
        self.store.fetch(
            key_from,
            key_to,
            earliest_end,
            latest_start,
            reverse,
            |k, s, value| (k.to_vec(), s.start, s.end, value),
        )
    }
}

segmented_store_methods!(SegmentedSessionStore, "session", "session end");

impl StateStore for SegmentedSessionStore {
    delegate_state_store!(store);

    /// A [`CommittedSessions`] for a RocksDB store; in-memory ones cannot be queried.
    fn queryable(&self) -> Option<streams_core::query::QueryableStore> {
        let segments = self.store.committed()?;
        Some(std::sync::Arc::new(CommittedSessions {
            segments,
            retention: self.store.retention(),
        }))
    }
}

impl SessionStore for SegmentedSessionStore {
    fn put(&mut self, key: &[u8], start: i64, end: i64, value: Option<&[u8]>) -> Result<()> {
        if start < 0 || end < start {
            return Err(StreamsError::Store {
                store: self.store.name().to_owned(),
                message: format!(
                    "a session needs 0 <= start <= end, got start {start} and end {end}"
                ),
            });
        }
        self.store.put(key, SessionSuffix { start, end }, value)
    }

    fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> Result<Option<Vec<u8>>> {
        if start < 0 || end < start {
            return Ok(None);
        }
        self.store.get(key, SessionSuffix { start, end })
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

    fn sessions_ending_between(
        &self,
        earliest_end: i64,
        latest_end: i64,
    ) -> Result<SessionIter<'_>> {
        self.store
            .fetch_kept(earliest_end, latest_end, |k, s, value| {
                (k.to_vec(), s.start, s.end, value)
            })
    }

    fn retention_ms(&self) -> i64 {
        self.store.retention().retention_ms
    }
}

/// The committed content of a RocksDB session store, readable from any thread: what a
/// session query reads. Each call reads its whole result before returning it.
#[derive(Clone)]
pub struct CommittedSessions {
    segments: CommittedSegments,
    retention: Retention,
}

impl std::fmt::Debug for CommittedSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommittedSessions")
            .field("retention", &self.retention)
            .finish()
    }
}

impl CommittedSessions {
    /// A read-only store at the last commit, for one call.
    fn store(&self) -> Result<SegmentedSessionStore> {
        let store = self.segments.store(SessionKeySchema, self.retention)?;
        Ok(SegmentedSessionStore { store })
    }

    /// See [`SessionStore::fetch_session`].
    pub fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> Result<Option<Vec<u8>>> {
        self.store()?.fetch_session(key, start, end)
    }

    /// See [`SessionStore::find_sessions`] (and [`SessionStore::backward_find_sessions`]
    /// with `reverse`).
    pub fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
        reverse: bool,
    ) -> Result<Vec<SessionEntry>> {
        let store = self.store()?;
        let iter = if reverse {
            store.backward_find_sessions(key, earliest_end, latest_start)?
        } else {
            store.find_sessions(key, earliest_end, latest_start)?
        };
        iter.collect()
    }

    /// See [`SessionStore::find_sessions_in_key_range`].
    pub fn find_sessions_in_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>> {
        self.store()?
            .find_sessions_in_key_range(key_from, key_to, earliest_end, latest_start)?
            .collect()
    }
}
