//! The key-value store trait, over bytes.

use streams_core::Result;
use streams_core::store::StateStore;

/// One entry: key and value bytes.
pub type KvEntry = (Vec<u8>, Vec<u8>);

/// An iterator over entries, in key order (or reverse key order for reverse scans).
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<KvEntry>> + 'a>;

/// A key-value store over bytes. Keys are ordered by unsigned byte comparison (what RocksDB's
/// default comparator and Kafka Streams' `Bytes` do), so encodings that keep order (such as
/// big-endian unsigned integers) scan in numeric order.
pub trait KeyValueStore: StateStore {
    /// The value of `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Sets `key` to `value`; `None` deletes it (a tombstone).
    fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()>;

    /// Sets `key` to `value` only if it has no value; returns the value it already had.
    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>> {
        let existing = self.get(key)?;
        if existing.is_none() {
            self.put(key, Some(value))?;
        }
        Ok(existing)
    }

    /// Applies every entry in order, as [`Self::put`] would.
    fn put_all(&mut self, entries: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        for (k, v) in entries {
            self.put(k, v.as_deref())?;
        }
        Ok(())
    }

    /// Deletes `key`; returns the value it had.
    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let old = self.get(key)?;
        if old.is_some() {
            self.put(key, None)?;
        }
        Ok(old)
    }

    /// Entries with `from <= key <= to` in ascending key order; `None` leaves that end open.
    /// An empty range (`from > to`) yields nothing.
    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KvIter<'_>>;

    /// The same entries as [`Self::range`], in descending key order.
    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KvIter<'_>>;

    /// Entries whose key starts with `prefix`, in ascending key order.
    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>>;

    /// Every entry, in ascending key order.
    fn all(&self) -> Result<KvIter<'_>> {
        self.range(None, None)
    }

    /// An estimate of the number of entries (exact for the in-memory store).
    fn approximate_num_entries(&self) -> Result<u64>;
}

/// True when `from > to`, which makes a range empty.
pub(crate) fn empty_range(from: Option<&[u8]>, to: Option<&[u8]>) -> bool {
    matches!((from, to), (Some(f), Some(t)) if f > t)
}

/// The smallest key greater than every key starting with `prefix`, if one exists.
pub(crate) fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut bound = prefix.to_vec();
    while let Some(last) = bound.pop() {
        if last < u8::MAX {
            bound.push(last + 1);
            return Some(bound);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_upper_bound(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_upper_bound(&[0xff, 0xff]), None);
        assert_eq!(prefix_upper_bound(b""), None);
    }
}
