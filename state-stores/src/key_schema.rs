//! How a segmented store lays out its binary keys: the [`KeySchema`] trait (Kafka Streams'
//! `SegmentedBytesStore.KeySchema`), with the key-range bounds every schema shares.

/// The binary key layout of a segmented store: the user key's bytes, then a fixed-size suffix
/// of big-endian times whose first 8 bytes are the timestamp the entry's segment is chosen by.
///
/// The window and session stores each have one (`WindowKeySchema`, `SessionKeySchema`).
/// These layouts are what RocksDB state directories and changelog topics hold: they must not
/// change.
pub(crate) trait KeySchema {
    /// A suffix, decoded: what a binary key carries after the user key.
    type Suffix: Copy;

    /// Bytes after the user key.
    const SUFFIX_LEN: usize;

    /// The binary key of `key` with `suffix`.
    fn encode(&self, key: &[u8], suffix: Self::Suffix) -> Vec<u8>;

    /// A binary key split into user key and suffix; `None` when it is shorter than a suffix.
    fn decode<'a>(&self, binary: &'a [u8]) -> Option<(&'a [u8], Self::Suffix)>;

    /// The timestamp that chooses an entry's segment.
    fn segment_timestamp(&self, suffix: Self::Suffix) -> i64;

    /// The segment timestamps, first and last, that entries of a fetch over
    /// `[time_from, time_to]` can have.
    fn segment_time_range(&self, time_from: i64, time_to: i64) -> (i64, i64);

    /// The smallest suffix an entry of a fetch from `time_from` can have.
    fn lower_range_suffix(&self, time_from: i64) -> Self::Suffix;

    /// The largest suffix an entry of a fetch up to `time_to` can have.
    fn upper_range_suffix(&self, time_to: i64) -> Self::Suffix;

    /// Whether an entry with `suffix` belongs to a fetch over `[time_from, time_to]`.
    fn in_time_range(&self, suffix: Self::Suffix, time_from: i64, time_to: i64) -> bool;

    /// The segment timestamp of a binary key, if the key is long enough to have one.
    fn timestamp(&self, binary: &[u8]) -> Option<i64> {
        self.decode(binary)
            .map(|(_, suffix)| self.segment_timestamp(suffix))
    }

    /// The smallest binary key of a fetch of keys `[key_from, key_to]` (`None`: open end) from
    /// `time_from`, or `None` for no lower bound. For a range of keys the suffix is left off:
    /// entries of longer keys that start with `key_from` can sort before `key_from + suffix`.
    fn lower_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
    ) -> Option<Vec<u8>> {
        match (key_from, key_to) {
            (Some(from), Some(to)) if from == to => {
                Some(self.encode(from, self.lower_range_suffix(time_from)))
            }
            _ => key_from.map(<[u8]>::to_vec),
        }
    }

    /// The largest binary key of a fetch of keys `[key_from, key_to]` (`None`: open end) up to
    /// `time_to`, or `None` for no upper bound.
    fn upper_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_to: i64,
    ) -> Option<Vec<u8>> {
        let suffix = self.upper_range_suffix(time_to);
        match (key_from, key_to) {
            (Some(from), Some(to)) if from == to => Some(self.encode(to, suffix)),
            _ => {
                key_to.map(|to| upper_bound_for_key_range(key_from, to, &self.encode(b"", suffix)))
            }
        }
    }
}

/// The largest binary key of any entry whose user key `k` satisfies `key_from <= k <= key_to`
/// with a suffix no larger than `max_suffix`. A key that is a proper prefix of `key_to` sorts
/// before it but its suffix can sort after `key_to`'s bytes, so every such prefix at least
/// `key_from` is a candidate.
fn upper_bound_for_key_range(key_from: Option<&[u8]>, key_to: &[u8], max_suffix: &[u8]) -> Vec<u8> {
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
    use crate::window::WindowKeySchema;

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
        // A window key: 12 bytes of suffix, the window start first.
        let schema = WindowKeySchema;
        let key = [b"k".as_slice(), &42i64.to_be_bytes(), &[0, 0, 0, 7]].concat();
        assert_eq!(schema.timestamp(&key), Some(42));
        assert_eq!(schema.timestamp(b"short"), None);
    }
}
