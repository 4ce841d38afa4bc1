//! Where the segments of a segmented store live: the [`SegmentBackend`] trait, and
//! [`MemorySegments`], the backend that keeps them as ordered maps in memory (the RocksDB
//! backend is in `rocks_segments`).

use std::collections::BTreeMap;
use std::ops::Bound;

use streams_core::Result;

use crate::key_value::KvIter;

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
