//! What a RocksDB store last committed, read from any thread: the bytes under interactive
//! queries.
//!
//! A reader holds a weak reference to the store's database and upgrades it for one read at a
//! time: a get, or one chunk of a scan (256 entries, read with a fresh RocksDB iterator
//! that seeks past the previous chunk's last key). No reader keeps the database open between
//! calls; once the store starts closing no read starts (the closing flag), the owning task
//! waits only for a read under way, and a read after that fails as migrated. Staged writes (since the task's last commit) are not visible:
//! readers see committed data only. Each chunk is consistent in itself; a scan that spans a
//! commit can see some keys before it and later keys after it.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::RwLock;
use rocksdb::{Direction, IteratorMode, ReadOptions};
use streams_core::query::Unavailable;
use streams_core::{Result, StreamsError};

use crate::key_value::{KvEntry, empty_range, prefix_upper_bound};
use crate::rocks_instance::{Db, store_error};
use crate::segmented::{Retention, SegmentedStore};
use crate::segments::{SegmentBackend, SegmentWrite};

/// Entries a scan reads per visit to the database.
pub(crate) const CHUNK: usize = 256;

/// Entries of a committed scan: owned, and movable to another thread.
pub type CommittedIter = Box<dyn Iterator<Item = Result<KvEntry>> + Send>;

/// The error of a read after the store closed: its task closed or moved. The typed views
/// fill in the partition.
pub(crate) fn migrated(store: &str) -> StreamsError {
    StreamsError::StoreUnavailable {
        store: store.to_owned(),
        reason: Unavailable::Migrated { partition: -1 },
    }
}

/// A store's data as readers on other threads hold it: a weak reference, taken for one read
/// (or one chunk of a scan) at a time, and the store's closing flag (`None` for the store's
/// own scans, which never outlive it).
pub(crate) struct Shared<T> {
    name: Arc<str>,
    data: Weak<T>,
    closing: Option<Arc<AtomicBool>>,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            name: self.name.clone(),
            data: self.data.clone(),
            closing: self.closing.clone(),
        }
    }
}

impl<T> Shared<T> {
    pub(crate) fn new(name: &str, data: Weak<T>, closing: Option<Arc<AtomicBool>>) -> Self {
        Shared {
            name: name.into(),
            data,
            closing,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The data for one read; migrated once the store closes. The flag is read after the
    /// data is taken: a close that began before cannot be waiting on this read.
    pub(crate) fn open(&self) -> Result<Arc<T>> {
        let data = self.data.upgrade().ok_or_else(|| migrated(&self.name))?;
        if self
            .closing
            .as_ref()
            .is_some_and(|c| c.load(Ordering::SeqCst))
        {
            return Err(migrated(&self.name));
        }
        Ok(data)
    }
}

/// A RocksDB store's database as readers on other threads hold it.
pub(crate) type CommittedDb = Shared<Db>;

impl CommittedDb {
    /// The committed value of `key` in column family `cf` (the default one when `None`; a
    /// missing column family holds nothing).
    pub(crate) fn get(&self, cf: Option<&str>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let db = self.open()?;
        let value = match cf {
            None => db.get(key),
            Some(cf) => match db.cf_handle(cf) {
                Some(handle) => db.get_cf(&handle, key),
                None => return Ok(None),
            },
        };
        value.map_err(|e| store_error(&self.name, "reading for a query", e))
    }

    /// An integer property of the default column family (`0` when RocksDB has none).
    pub(crate) fn property(&self, name: &rocksdb::properties::PropName) -> Result<u64> {
        let db = self.open()?;
        let value = db
            .property_int_value(name)
            .map_err(|e| store_error(&self.name, "reading a property", e))?;
        Ok(value.unwrap_or(0))
    }

    /// The committed entries of `cf` with `lower <= key <= upper` (open ends when `None`), in
    /// key order or reverse key order, read chunk by chunk.
    pub(crate) fn range(
        &self,
        cf: Option<&str>,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
    ) -> CommittedIter {
        let source = RocksChunks {
            db: self.clone(),
            cf: cf.map(str::to_owned),
        };
        ChunkedRange::inclusive(source, lower, upper, reverse)
    }

    /// The committed entries whose key starts with `prefix`, in key order.
    pub(crate) fn prefix(&self, prefix: &[u8]) -> CommittedIter {
        let source = RocksChunks {
            db: self.clone(),
            cf: None,
        };
        ChunkedRange::prefix(source, prefix)
    }
}

/// The smallest key after `key`: the exclusive upper bound for an inclusive `key`.
fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// Where a chunked scan reads its chunks.
pub(crate) trait ChunkSource: Send + 'static {
    /// Up to `n` entries with `lower <= key < upper` (open ends when `None`), in key order
    /// or reverse key order.
    fn chunk(
        &self,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
        n: usize,
    ) -> Result<Vec<KvEntry>>;
}

/// Up to `n` entries of an in-memory map with `lower <= key < upper`, ascending or
/// descending: one chunk of an in-memory scan.
pub(crate) fn map_chunk(
    map: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
    lower: Option<&[u8]>,
    upper: Option<&[u8]>,
    reverse: bool,
    n: usize,
) -> Vec<KvEntry> {
    use std::ops::Bound;
    let range = map.range::<[u8], _>((
        lower.map_or(Bound::Unbounded, Bound::Included),
        upper.map_or(Bound::Unbounded, Bound::Excluded),
    ));
    let clone = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
    if reverse {
        range.rev().take(n).map(clone).collect()
    } else {
        range.take(n).map(clone).collect()
    }
}

/// Chunks of a RocksDB store's committed data (a column family when `cf` names one; a
/// missing column family holds nothing).
struct RocksChunks {
    db: CommittedDb,
    cf: Option<String>,
}

impl ChunkSource for RocksChunks {
    fn chunk(
        &self,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
        n: usize,
    ) -> Result<Vec<KvEntry>> {
        let db = self.db.open()?;
        let handle = match &self.cf {
            None => None,
            Some(cf) => match db.cf_handle(cf) {
                Some(h) => Some(h),
                None => return Ok(Vec::new()),
            },
        };
        let mut read = ReadOptions::default();
        if let Some(l) = lower {
            read.set_iterate_lower_bound(l.to_vec());
        }
        if let Some(u) = upper {
            read.set_iterate_upper_bound(u.to_vec());
        }
        let mode = match (lower, reverse) {
            (_, true) => IteratorMode::End,
            (Some(l), false) => IteratorMode::From(l, Direction::Forward),
            (None, false) => IteratorMode::Start,
        };
        let iter = match &handle {
            None => db.iterator_opt(mode, read),
            Some(h) => db.iterator_cf_opt(h, read, mode),
        };
        let mut out = Vec::with_capacity(n);
        for item in iter.take(n) {
            let (k, v) =
                item.map_err(|e| store_error(self.db.name(), "scanning for a query", e))?;
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }
}

/// A scan read [`CHUNK`] entries at a time from a [`ChunkSource`]. `lower` is inclusive,
/// `upper` exclusive; after each chunk the bound on the reading side moves past the last key
/// read, so nothing is held between chunks.
pub(crate) struct ChunkedRange<S> {
    source: S,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    reverse: bool,
    buffer: VecDeque<KvEntry>,
    done: bool,
}

impl<S: ChunkSource> ChunkedRange<S> {
    /// The scan of `from <= key <= to` (open ends when `None`; nothing when `from > to`).
    pub(crate) fn inclusive(
        source: S,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        reverse: bool,
    ) -> CommittedIter {
        if empty_range(from, to) {
            return Box::new(std::iter::empty());
        }
        Self::boxed(source, from.map(<[u8]>::to_vec), to.map(successor), reverse)
    }

    /// The scan of the keys starting with `prefix`, in key order.
    pub(crate) fn prefix(source: S, prefix: &[u8]) -> CommittedIter {
        Self::boxed(
            source,
            Some(prefix.to_vec()),
            prefix_upper_bound(prefix),
            false,
        )
    }

    /// The scan of `lower <= key < upper`, boxed.
    fn boxed(
        source: S,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
        reverse: bool,
    ) -> CommittedIter {
        Box::new(ChunkedRange {
            source,
            lower,
            upper,
            reverse,
            buffer: VecDeque::new(),
            done: false,
        })
    }

    fn fill(&mut self) -> Result<()> {
        let chunk = self.source.chunk(
            self.lower.as_deref(),
            self.upper.as_deref(),
            self.reverse,
            CHUNK,
        )?;
        let full = chunk.len() == CHUNK;
        self.buffer.extend(chunk);
        match self.buffer.back() {
            Some((last, _)) if full => {
                if self.reverse {
                    self.upper = Some(last.clone());
                } else {
                    self.lower = Some(successor(last));
                }
            }
            _ => self.done = true,
        }
        Ok(())
    }
}

impl<S: ChunkSource> Iterator for ChunkedRange<S> {
    type Item = Result<KvEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty()
            && !self.done
            && let Err(e) = self.fill()
        {
            self.done = true;
            return Some(Err(e));
        }
        self.buffer.pop_front().map(Ok)
    }
}

/// The content of a key-value store as a key-value query reads it: what a RocksDB store
/// last committed, or an in-memory store's map as it is (in-memory stores write at once).
#[derive(Clone)]
pub struct CommittedKeyValues {
    inner: KeyValueBytes,
}

#[derive(Clone)]
enum KeyValueBytes {
    Rocks(CommittedDb),
    Memory(crate::memory::MemoryReader),
}

impl std::fmt::Debug for CommittedKeyValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommittedKeyValues")
            .field("store", &self.name())
            .finish()
    }
}

impl CommittedKeyValues {
    pub(crate) fn new(db: CommittedDb) -> Self {
        CommittedKeyValues {
            inner: KeyValueBytes::Rocks(db),
        }
    }

    pub(crate) fn memory(reader: crate::memory::MemoryReader) -> Self {
        CommittedKeyValues {
            inner: KeyValueBytes::Memory(reader),
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        match &self.inner {
            KeyValueBytes::Rocks(db) => db.name(),
            KeyValueBytes::Memory(m) => m.name(),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match &self.inner {
            KeyValueBytes::Rocks(db) => db.get(None, key),
            KeyValueBytes::Memory(m) => m.get(key),
        }
    }

    /// Entries with `from <= key <= to` (open ends when `None`), in key order or reverse.
    pub fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>, reverse: bool) -> CommittedIter {
        match &self.inner {
            KeyValueBytes::Rocks(db) => db.range(None, from, to, reverse),
            KeyValueBytes::Memory(m) => m.range(from, to, reverse),
        }
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub fn prefix_scan(&self, prefix: &[u8]) -> CommittedIter {
        match &self.inner {
            KeyValueBytes::Rocks(db) => db.prefix(prefix),
            KeyValueBytes::Memory(m) => m.prefix(prefix),
        }
    }

    /// The number of entries: RocksDB's estimate, or an in-memory map's size.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        match &self.inner {
            KeyValueBytes::Rocks(db) => db.property(rocksdb::properties::ESTIMATE_NUM_KEYS),
            KeyValueBytes::Memory(m) => m.len(),
        }
    }
}

/// The segments of a segmented store as a window or session query reads them: what a
/// RocksDB store last committed, or an in-memory store's segments as they are. A
/// read-only segment backend: a query builds a store over it for the length of one call.
#[derive(Clone)]
pub(crate) enum CommittedSegments {
    Rocks {
        db: CommittedDb,
        /// The segments as of the last commit (kept by the owning store).
        segments: Arc<RwLock<BTreeSet<i64>>>,
        /// The key, in the default column family, of the committed stream time.
        stream_time_key: &'static [u8],
    },
    Memory(crate::segments::MemorySegmentsReader),
}

impl CommittedSegments {
    pub(crate) fn new(
        db: CommittedDb,
        segments: Arc<RwLock<BTreeSet<i64>>>,
        stream_time_key: &'static [u8],
    ) -> Self {
        CommittedSegments::Rocks {
            db,
            segments,
            stream_time_key,
        }
    }

    pub(crate) fn memory(reader: crate::segments::MemorySegmentsReader) -> Self {
        CommittedSegments::Memory(reader)
    }

    fn name(&self) -> &str {
        match self {
            CommittedSegments::Rocks { db, .. } => db.name(),
            CommittedSegments::Memory(m) => m.name(),
        }
    }

    /// A read-only segmented store over the segments, at the stream time of the last
    /// commit.
    pub(crate) fn store<S: crate::key_schema::KeySchema>(
        &self,
        schema: S,
        retention: Retention,
    ) -> Result<SegmentedStore<S>> {
        // A closed store fails the call as migrated, not as an empty answer.
        match self {
            CommittedSegments::Rocks { db, .. } => drop(db.open()?),
            CommittedSegments::Memory(m) => drop(m.open()?),
        }
        SegmentedStore::new(self.name(), Box::new(self.clone()), schema, retention)
    }

    fn read_only(&self) -> StreamsError {
        StreamsError::Store {
            store: self.name().to_owned(),
            message: "a query's view of the store is read-only".into(),
        }
    }
}

pub(crate) fn segment_cf(segment: i64) -> String {
    format!("segment-{segment}")
}

impl SegmentBackend for CommittedSegments {
    fn segment_ids(&self) -> Vec<i64> {
        match self {
            CommittedSegments::Rocks { segments, .. } => segments.read().iter().copied().collect(),
            CommittedSegments::Memory(m) => m.segment_ids(),
        }
    }

    fn get(&self, segment: i64, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self {
            CommittedSegments::Rocks { db, .. } => db.get(Some(&segment_cf(segment)), key),
            CommittedSegments::Memory(m) => m.get(segment, key),
        }
    }

    fn write(&mut self, _segment: i64, _writes: &[SegmentWrite<'_>]) -> Result<()> {
        Err(self.read_only())
    }

    fn range(
        &self,
        segment: i64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
    ) -> Result<crate::key_value::KvIter<'_>> {
        Ok(match self {
            CommittedSegments::Rocks { db, .. } => {
                db.range(Some(&segment_cf(segment)), lower, upper, reverse)
            }
            CommittedSegments::Memory(m) => m.range(segment, lower, upper, reverse),
        })
    }

    fn drop_segment(&mut self, _segment: i64) -> Result<()> {
        Err(self.read_only())
    }

    fn commit(&mut self, _stream_time: i64, _changelog_offset: Option<i64>) -> Result<()> {
        Err(self.read_only())
    }

    fn saved_stream_time(&self) -> Result<Option<i64>> {
        match self {
            CommittedSegments::Rocks {
                db,
                stream_time_key,
                ..
            } => {
                let bytes = db.get(None, stream_time_key)?;
                Ok(bytes.and_then(|b| Some(i64::from_be_bytes(b.as_slice().try_into().ok()?))))
            }
            CommittedSegments::Memory(m) => Ok(m.stream_time()),
        }
    }

    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}
