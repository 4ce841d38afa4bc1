//! The window store: values per key and window start, kept for a retention period.
//!
//! Binary layout (the same as Kafka Streams' `WindowKeySchema`, so changelog records look
//! alike): `key bytes ++ window start (8 bytes, big-endian) ++ sequence number (4 bytes,
//! big-endian)`. The sequence number is 0 unless the store retains duplicates, in which case
//! every put gets the next one and no put overwrites another (what stream-stream joins need).
//! Segments are chosen by window start.

use std::path::Path;

use streams_core::store::StateStore;
use streams_core::{Result, StreamsError};

use crate::committed::CommittedSegments;
use crate::delegate::delegate_state_store;
use crate::key_schema::KeySchema;
use crate::rocks::{OptionsHook, RocksDbMemory};
use crate::segmented::{Retention, SegmentedStore, segmented_store_methods};

/// Window start and value, for one key.
pub type WindowIter<'a> = Box<dyn Iterator<Item = Result<(i64, Vec<u8>)>> + 'a>;

/// One windowed entry: key, window start, value.
pub type WindowedEntry = (Vec<u8>, i64, Vec<u8>);

/// Windowed entries over several keys.
pub type WindowedIter<'a> = Box<dyn Iterator<Item = Result<WindowedEntry>> + 'a>;

/// A window store over bytes.
///
/// Time ranges are inclusive at both ends and select by window start. Reads never return
/// entries whose window start is older than `stream time - retention + 1`, where stream time is
/// the largest window start written. Single-key fetches return windows in window-start order
/// (duplicates in the order they were put); key-range fetches go segment by segment (a segment
/// spans a fixed stretch of window starts), each in the byte order of the binary keys (key
/// bytes then big-endian window start: where one key is a prefix of another, say `a` and
/// `a\0`, their windows interleave), as Kafka Streams' RocksDB window store does.
pub trait WindowStore: StateStore {
    /// Stores `value` for `key` in the window starting at `window_start` (milliseconds, not
    /// negative); `None` deletes it. In a store retaining duplicates every non-null put is
    /// kept and null puts are ignored.
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> Result<()>;

    /// The value of `key` in the window starting at `window_start` (the first one put, in a
    /// store retaining duplicates).
    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>>;

    /// The windows of `key` starting in `[time_from, time_to]`, oldest first.
    fn fetch_range(&self, key: &[u8], time_from: i64, time_to: i64) -> Result<WindowIter<'_>>;

    /// The windows of `key` starting in `[time_from, time_to]`, newest first.
    fn backward_fetch_range(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
    ) -> Result<WindowIter<'_>>;

    /// The windows starting in `[time_from, time_to]` of keys in `[key_from, key_to]`
    /// (`None`: open end).
    fn fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Result<WindowedIter<'_>>;

    /// Every window of every key starting in `[time_from, time_to]`.
    fn fetch_all(&self, time_from: i64, time_to: i64) -> Result<WindowedIter<'_>> {
        self.fetch_key_range(None, None, time_from, time_to)
    }

    /// Every live window.
    fn all(&self) -> Result<WindowedIter<'_>> {
        self.fetch_key_range(None, None, 0, i64::MAX)
    }

    /// The size of the windows this store holds, in milliseconds (window end = start + size).
    fn window_size_ms(&self) -> i64;

    /// How long windows are kept, in milliseconds of stream time.
    fn retention_ms(&self) -> i64;
}

const SUFFIX: usize = 12;

/// The binary key of `key` in the window starting at `start` with sequence number `seq`.
pub fn window_store_key(key: &[u8], start: i64, seq: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + SUFFIX);
    out.extend_from_slice(key);
    out.extend_from_slice(&start.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// Splits a binary window key into key, window start and sequence number.
pub fn split_window_store_key(binary: &[u8]) -> Option<(&[u8], i64, u32)> {
    let key_len = binary.len().checked_sub(SUFFIX)?;
    let (key, suffix) = binary.split_at(key_len);
    let start = i64::from_be_bytes(suffix[..8].try_into().ok()?);
    let seq = u32::from_be_bytes(suffix[8..].try_into().ok()?);
    Some((key, start, seq))
}

/// The suffix of a binary window key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowSuffix {
    start: i64,
    seq: u32,
}

/// The window store's key layout, Kafka Streams' `WindowKeySchema`: segments by window start,
/// and a fetch over `[time_from, time_to]` selects the windows starting in it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowKeySchema;

impl KeySchema for WindowKeySchema {
    type Suffix = WindowSuffix;

    const SUFFIX_LEN: usize = SUFFIX;

    fn encode(&self, key: &[u8], suffix: WindowSuffix) -> Vec<u8> {
        window_store_key(key, suffix.start, suffix.seq)
    }

    fn decode<'a>(&self, binary: &'a [u8]) -> Option<(&'a [u8], WindowSuffix)> {
        let (key, start, seq) = split_window_store_key(binary)?;
        Some((key, WindowSuffix { start, seq }))
    }

    fn segment_timestamp(&self, suffix: WindowSuffix) -> i64 {
        suffix.start
    }

    fn segment_time_range(&self, time_from: i64, time_to: i64) -> (i64, i64) {
        (time_from, time_to)
    }

    fn lower_range_suffix(&self, time_from: i64) -> WindowSuffix {
        WindowSuffix {
            start: time_from,
            seq: 0,
        }
    }

    fn upper_range_suffix(&self, time_to: i64) -> WindowSuffix {
        WindowSuffix {
            start: time_to,
            seq: u32::MAX,
        }
    }

    fn in_time_range(&self, suffix: WindowSuffix, time_from: i64, time_to: i64) -> bool {
        (time_from..=time_to).contains(&suffix.start)
    }
}

/// The window store of kstreams-rs, on time segments kept in memory or in RocksDB.
///
/// ```
/// use state_stores::{Retention, SegmentedWindowStore, WindowStore};
///
/// // Windows of 1 s, kept for 1 min of stream time.
/// let retention = Retention::new("clicks", 60_000)?;
/// let mut store = SegmentedWindowStore::in_memory("clicks", retention, 1_000, false)?;
/// store.put(b"alice", Some(b"1"), 0)?;
/// store.put(b"alice", Some(b"2"), 1_000)?;
/// store.put(b"bob", Some(b"1"), 1_000)?;
///
/// let alice = store.fetch_range(b"alice", 0, 1_000)?;
/// let alice: Vec<(i64, Vec<u8>)> = alice.collect::<Result<_, _>>()?;
/// assert_eq!(alice, vec![(0, b"1".to_vec()), (1_000, b"2".to_vec())]);
/// assert_eq!(store.fetch(b"bob", 1_000)?, Some(b"1".to_vec()));
/// # Ok::<(), streams_core::StreamsError>(())
/// ```
pub struct SegmentedWindowStore {
    store: SegmentedStore<WindowKeySchema>,
    window_size_ms: i64,
    retain_duplicates: bool,
    /// The sequence number of the last put, in a store retaining duplicates.
    seq: u32,
}

impl std::fmt::Debug for SegmentedWindowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentedWindowStore")
            .field("name", &self.store.name())
            .field("window_size_ms", &self.window_size_ms)
            .field("retention", &self.store.retention())
            .field("retain_duplicates", &self.retain_duplicates)
            .finish()
    }
}

fn check_window(store: &str, retention: Retention, window_size_ms: i64) -> Result<()> {
    if window_size_ms < 1 {
        return Err(StreamsError::Topology(format!(
            "window store `{store}`: the window size must be at least 1 ms, got {window_size_ms}"
        )));
    }
    if retention.retention_ms < window_size_ms {
        return Err(StreamsError::Topology(format!(
            "window store `{store}`: the retention ({} ms) must be at least the window size \
             ({window_size_ms} ms)",
            retention.retention_ms
        )));
    }
    Ok(())
}

impl SegmentedWindowStore {
    /// A window store kept in memory.
    pub fn in_memory(
        name: &str,
        retention: Retention,
        window_size_ms: i64,
        retain_duplicates: bool,
    ) -> Result<Self> {
        check_window(name, retention, window_size_ms)?;
        let store = SegmentedStore::in_memory(name, WindowKeySchema, retention)?;
        Ok(Self::with_store(store, window_size_ms, retain_duplicates))
    }

    /// A window store in RocksDB in directory `path`, a column family per segment.
    pub fn rocksdb(
        name: &str,
        path: &Path,
        memory: &RocksDbMemory,
        hook: Option<&OptionsHook>,
        retention: Retention,
        window_size_ms: i64,
        retain_duplicates: bool,
    ) -> Result<Self> {
        check_window(name, retention, window_size_ms)?;
        let store = SegmentedStore::rocksdb(name, path, memory, hook, WindowKeySchema, retention)?;
        Ok(Self::with_store(store, window_size_ms, retain_duplicates))
    }

    fn with_store(
        store: SegmentedStore<WindowKeySchema>,
        window_size_ms: i64,
        retain_duplicates: bool,
    ) -> Self {
        SegmentedWindowStore {
            store,
            window_size_ms,
            retain_duplicates,
            seq: 0,
        }
    }

    /// The windows of `key` starting in `[time_from, time_to]`, by start (newest first with
    /// `reverse`).
    fn windows_of_key(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        reverse: bool,
    ) -> Result<WindowIter<'_>> {
        self.store.fetch(
            Some(key),
            Some(key),
            time_from,
            time_to,
            reverse,
            |_, s, value| (s.start, value),
        )
    }
}

segmented_store_methods!(SegmentedWindowStore, "window", "window start");

impl StateStore for SegmentedWindowStore {
    delegate_state_store!(store, except restore_batch);

    /// A [`CommittedWindows`] for a RocksDB store; in-memory ones cannot be queried.
    fn queryable(&self) -> Option<streams_core::query::QueryableStore> {
        let segments = self.store.committed()?;
        Some(std::sync::Arc::new(CommittedWindows {
            segments,
            retention: self.store.retention(),
            window_size_ms: self.window_size_ms,
            retain_duplicates: self.retain_duplicates,
        }))
    }

    fn restore_batch(&mut self, batch: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        if self.retain_duplicates {
            // Continue numbering after the largest sequence number restored.
            for (key, _) in batch {
                if let Some((_, _, seq)) = split_window_store_key(key) {
                    self.seq = self.seq.max(seq);
                }
            }
        }
        self.store.restore_batch(batch)
    }
}

impl WindowStore for SegmentedWindowStore {
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> Result<()> {
        if window_start < 0 {
            return Err(StreamsError::Store {
                store: self.store.name().to_owned(),
                message: format!(
                    "window start must not be negative, got {window_start} (windows start at \
                     epoch 0 or later)"
                ),
            });
        }
        let seq = if self.retain_duplicates {
            if value.is_none() {
                return Ok(());
            }
            self.seq = self.seq.wrapping_add(1) & 0x7fff_ffff;
            self.seq
        } else {
            0
        };
        let suffix = WindowSuffix {
            start: window_start,
            seq,
        };
        self.store.put(key, suffix, value)
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>> {
        if window_start < 0 {
            return Ok(None);
        }
        if !self.retain_duplicates {
            let suffix = WindowSuffix {
                start: window_start,
                seq: 0,
            };
            return self.store.get(key, suffix);
        }
        let mut iter = self.windows_of_key(key, window_start, window_start, false)?;
        iter.next().transpose().map(|e| e.map(|(_, v)| v))
    }

    fn fetch_range(&self, key: &[u8], time_from: i64, time_to: i64) -> Result<WindowIter<'_>> {
        self.windows_of_key(key, time_from, time_to, false)
    }

    fn backward_fetch_range(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
    ) -> Result<WindowIter<'_>> {
        self.windows_of_key(key, time_from, time_to, true)
    }

    fn fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Result<WindowedIter<'_>> {
        self.store.fetch(
            key_from,
            key_to,
            time_from,
            time_to,
            false,
            |k, s, value| (k.to_vec(), s.start, value),
        )
    }

    fn window_size_ms(&self) -> i64 {
        self.window_size_ms
    }

    fn retention_ms(&self) -> i64 {
        self.store.retention().retention_ms
    }
}

/// The committed content of a RocksDB window store, readable from any thread: what a window
/// query reads. Each call reads its whole result before returning it.
#[derive(Clone)]
pub struct CommittedWindows {
    segments: CommittedSegments,
    retention: Retention,
    window_size_ms: i64,
    retain_duplicates: bool,
}

impl std::fmt::Debug for CommittedWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommittedWindows")
            .field("window_size_ms", &self.window_size_ms)
            .field("retention", &self.retention)
            .finish()
    }
}

impl CommittedWindows {
    /// A read-only store at the last commit, for one call.
    fn store(&self) -> Result<SegmentedWindowStore> {
        let store = self.segments.store(WindowKeySchema, self.retention)?;
        Ok(SegmentedWindowStore::with_store(
            store,
            self.window_size_ms,
            self.retain_duplicates,
        ))
    }

    /// The size of the store's windows in milliseconds.
    pub fn window_size_ms(&self) -> i64 {
        self.window_size_ms
    }

    /// See [`WindowStore::fetch`].
    pub fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>> {
        self.store()?.fetch(key, window_start)
    }

    /// See [`WindowStore::fetch_range`] (and [`WindowStore::backward_fetch_range`] with
    /// `reverse`).
    pub fn fetch_range(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        reverse: bool,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        let store = self.store()?;
        let iter = if reverse {
            store.backward_fetch_range(key, time_from, time_to)?
        } else {
            store.fetch_range(key, time_from, time_to)?
        };
        iter.collect()
    }

    /// See [`WindowStore::fetch_key_range`].
    pub fn fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<WindowedEntry>> {
        self.store()?
            .fetch_key_range(key_from, key_to, time_from, time_to)?
            .collect()
    }
}
