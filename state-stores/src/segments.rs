//! Where the segments of a segmented store live: the [`SegmentBackend`] trait, and
//! [`MemorySegments`], the backend that keeps them as ordered maps in memory (the RocksDB
//! backend is in `rocks_segments`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use parking_lot::RwLock;
use streams_core::Result;

use crate::committed::{ChunkSource, ChunkedRange, CommittedIter, Shared, map_chunk};
use crate::key_value::{KvEntry, KvIter};

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
    /// What the backend last committed, readable from other threads (interactive queries);
    /// `None` for backends that cannot offer it.
    fn committed(&self) -> Option<crate::committed::CommittedSegments> {
        None
    }
}

/// Segments as ordered maps in memory, shared with query readers (who take the lock for
/// one read or one chunk of a scan at a time).
#[derive(Debug, Default)]
pub(crate) struct MemorySegments {
    name: String,
    segments: Arc<RwLock<Segments>>,
    /// The stream time of the last commit, for readers (`-1` before the first).
    stream_time: Arc<AtomicI64>,
    /// Set by `close`: readers stop reading.
    closing: Arc<AtomicBool>,
}

type Segments = BTreeMap<i64, BTreeMap<Vec<u8>, Vec<u8>>>;

impl MemorySegments {
    pub(crate) fn new(name: &str) -> Self {
        MemorySegments {
            name: name.to_owned(),
            stream_time: Arc::new(AtomicI64::new(-1)),
            ..Self::default()
        }
    }

    /// A reader of the segments; `closing` set for queries, `None` for the store's own
    /// scans.
    fn reader(&self, closing: Option<Arc<AtomicBool>>) -> MemorySegmentsReader {
        MemorySegmentsReader {
            segments: Shared::new(&self.name, Arc::downgrade(&self.segments), closing),
            stream_time: self.stream_time.clone(),
        }
    }
}

impl SegmentBackend for MemorySegments {
    fn segment_ids(&self) -> Vec<i64> {
        self.segments.read().keys().copied().collect()
    }

    fn get(&self, segment: i64, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .segments
            .read()
            .get(&segment)
            .and_then(|s| s.get(key))
            .cloned())
    }

    fn write(&mut self, segment: i64, writes: &[SegmentWrite<'_>]) -> Result<()> {
        let mut segments = self.segments.write();
        let map = segments.entry(segment).or_default();
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
        Ok(self.reader(None).range(segment, lower, upper, reverse))
    }

    fn drop_segment(&mut self, segment: i64) -> Result<()> {
        self.segments.write().remove(&segment);
        Ok(())
    }

    fn commit(&mut self, stream_time: i64, _changelog_offset: Option<i64>) -> Result<()> {
        self.stream_time.store(stream_time, Ordering::SeqCst);
        Ok(())
    }

    /// Nothing survives a restart.
    fn saved_stream_time(&self) -> Result<Option<i64>> {
        Ok(None)
    }

    fn close(&mut self) -> Result<()> {
        self.closing.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn committed(&self) -> Option<crate::committed::CommittedSegments> {
        let reader = self.reader(Some(self.closing.clone()));
        Some(crate::committed::CommittedSegments::memory(reader))
    }
}

/// In-memory segments as a reader holds them: queries (stopped once the store closes) and
/// the store's own scans, both chunk by chunk.
#[derive(Clone)]
pub(crate) struct MemorySegmentsReader {
    segments: Shared<RwLock<Segments>>,
    stream_time: Arc<AtomicI64>,
}

impl MemorySegmentsReader {
    pub(crate) fn name(&self) -> &str {
        self.segments.name()
    }

    /// The segments for one read; migrated once the store closes.
    pub(crate) fn open(&self) -> Result<Arc<RwLock<Segments>>> {
        self.segments.open()
    }

    pub(crate) fn segment_ids(&self) -> Vec<i64> {
        self.open()
            .map(|s| s.read().keys().copied().collect())
            .unwrap_or_default()
    }

    pub(crate) fn get(&self, segment: i64, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .open()?
            .read()
            .get(&segment)
            .and_then(|s| s.get(key))
            .cloned())
    }

    /// The stream time of the store's last commit, if it committed.
    pub(crate) fn stream_time(&self) -> Option<i64> {
        Some(self.stream_time.load(Ordering::SeqCst)).filter(|t| *t >= 0)
    }

    /// Entries of `segment` with `lower <= key <= upper` (open when `None`).
    pub(crate) fn range(
        &self,
        segment: i64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
    ) -> CommittedIter {
        let source = SegmentChunks {
            reader: self.clone(),
            segment,
        };
        ChunkedRange::inclusive(source, lower, upper, reverse)
    }
}

/// The chunks of one in-memory segment.
struct SegmentChunks {
    reader: MemorySegmentsReader,
    segment: i64,
}

impl ChunkSource for SegmentChunks {
    fn chunk(
        &self,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
        n: usize,
    ) -> Result<Vec<KvEntry>> {
        let segments = self.reader.open()?;
        let segments = segments.read();
        Ok(segments
            .get(&self.segment)
            .map_or_else(Vec::new, |map| map_chunk(map, lower, upper, reverse, n)))
    }
}
