//! Writes of the open transaction, held in memory until the task commits.
//!
//! The RocksDB stores apply nothing to RocksDB while a task processes: puts and deletes wait
//! in a [`Staged`] map, reads see them layered over RocksDB, and the task's commit (after the
//! Kafka transaction or the offset commit succeeded) writes them in one atomic RocksDB batch
//! together with the changelog offset they correspond to. A crash, an abort or a close
//! without commit drops them, leaving the store at its last committed state.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::iter::Peekable;
use std::ops::RangeBounds;

use crate::key_value::{KvEntry, KvIter};
use streams_core::Result;

/// Bytes one staged entry costs beyond its key and value (map node, vectors).
const ENTRY_OVERHEAD: usize = 64;

/// Staged writes keyed by `K` (a key, or a segment and a key): `None` is a delete.
#[derive(Debug)]
pub(crate) struct Staged<K: Ord> {
    writes: BTreeMap<K, Option<Vec<u8>>>,
    bytes: usize,
}

impl<K: Ord> Default for Staged<K> {
    fn default() -> Self {
        Staged {
            writes: BTreeMap::new(),
            bytes: 0,
        }
    }
}

impl<K: Ord> Staged<K> {
    /// Stages `key` = `value` (`None`: delete); `key_len` is the key's size in bytes.
    pub(crate) fn put(&mut self, key: K, key_len: usize, value: Option<&[u8]>) {
        let value_len = value.map_or(0, <[u8]>::len);
        match self.writes.insert(key, value.map(<[u8]>::to_vec)) {
            Some(old) => {
                self.bytes = self.bytes + value_len - old.map_or(0, |v| v.len());
            }
            None => self.bytes += key_len + value_len + ENTRY_OVERHEAD,
        }
    }

    /// The staged write of `key`: `Some(None)` when it is staged as deleted.
    pub(crate) fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<Option<&[u8]>>
    where
        K: std::borrow::Borrow<Q>,
    {
        self.writes.get(key).map(Option::as_deref)
    }

    /// The staged writes in `range`, in key order.
    pub(crate) fn range<R: RangeBounds<K>>(
        &self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = (&K, Option<&[u8]>)> + '_ {
        self.writes.range(range).map(|(k, v)| (k, v.as_deref()))
    }

    /// Removes and returns every staged write, in key order.
    pub(crate) fn take(&mut self) -> BTreeMap<K, Option<Vec<u8>>> {
        self.bytes = 0;
        std::mem::take(&mut self.writes)
    }

    /// Drops the staged writes that `drop` selects.
    pub(crate) fn discard(&mut self, mut drop: impl FnMut(&K) -> bool) {
        let mut bytes = 0;
        self.writes.retain(|k, v| {
            let keep = !drop(k);
            if !keep {
                bytes += v.as_ref().map_or(0, Vec::len);
            }
            keep
        });
        // Key sizes are not known here; the estimate only has to stay a bound.
        self.bytes = self.bytes.saturating_sub(bytes);
        if self.writes.is_empty() {
            self.bytes = 0;
        }
    }

    /// The estimated memory the staged writes hold.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Layers staged writes (`overlay`, in the same order as `base`) over the committed entries
/// of `base`: a staged value replaces the committed one, a staged delete hides it.
pub(crate) fn merge<'a>(
    base: KvIter<'a>,
    overlay: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a,
    reverse: bool,
) -> KvIter<'a> {
    Box::new(Merge {
        base: base.peekable(),
        overlay: overlay.peekable(),
        reverse,
    })
}

struct Merge<'a, O: Iterator<Item = (&'a [u8], Option<&'a [u8]>)>> {
    base: Peekable<KvIter<'a>>,
    overlay: Peekable<O>,
    reverse: bool,
}

impl<'a, O: Iterator<Item = (&'a [u8], Option<&'a [u8]>)>> Iterator for Merge<'a, O> {
    type Item = Result<KvEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let order = match (self.base.peek(), self.overlay.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) => return self.base.next(),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(Ok((b, _))), Some((o, _))) => {
                    let order = b.as_slice().cmp(o);
                    if self.reverse { order.reverse() } else { order }
                }
            };
            match order {
                Ordering::Less => return self.base.next(),
                Ordering::Equal | Ordering::Greater => {
                    if order == Ordering::Equal {
                        self.base.next();
                    }
                    let (key, value) = self.overlay.next()?;
                    if let Some(value) = value {
                        return Some(Ok((key.to_vec(), value.to_vec())));
                    }
                    // A staged delete: the committed entry (if any) is hidden.
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(entries: &[(&str, &str)]) -> KvIter<'static> {
        let owned: Vec<KvEntry> = entries
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        Box::new(owned.into_iter().map(Ok))
    }

    fn collect(iter: KvIter<'_>) -> Vec<(String, String)> {
        iter.map(|e| {
            let (k, v) = e.expect("entry");
            (
                String::from_utf8(k).expect("utf8"),
                String::from_utf8(v).expect("utf8"),
            )
        })
        .collect()
    }

    #[test]
    fn staged_writes_replace_and_hide_committed_entries_in_both_directions() {
        let mut staged: Staged<Vec<u8>> = Staged::default();
        staged.put(b"b".to_vec(), 1, Some(b"B2"));
        staged.put(b"c".to_vec(), 1, None);
        staged.put(b"e".to_vec(), 1, Some(b"E"));
        let committed = [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")];
        let forward = merge(
            base(&committed),
            staged
                .range::<std::ops::RangeFull>(..)
                .map(|(k, v)| (k.as_slice(), v)),
            false,
        );
        assert_eq!(
            collect(forward),
            [("a", "A"), ("b", "B2"), ("d", "D"), ("e", "E")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let mut reversed_committed = committed;
        reversed_committed.reverse();
        let backward = merge(
            base(&reversed_committed),
            staged
                .range::<std::ops::RangeFull>(..)
                .rev()
                .map(|(k, v)| (k.as_slice(), v)),
            true,
        );
        assert_eq!(
            collect(backward),
            [("e", "E"), ("d", "D"), ("b", "B2"), ("a", "A")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn the_byte_estimate_follows_puts_and_is_zero_after_take() {
        let mut staged: Staged<Vec<u8>> = Staged::default();
        staged.put(b"k".to_vec(), 1, Some(b"1234"));
        assert_eq!(staged.bytes(), 1 + 4 + ENTRY_OVERHEAD);
        staged.put(b"k".to_vec(), 1, Some(b"12"));
        assert_eq!(staged.bytes(), 1 + 2 + ENTRY_OVERHEAD);
        assert_eq!(staged.take().len(), 1);
        assert_eq!(staged.bytes(), 0);
    }
}
