//! The partition a key goes to by default: Kafka's murmur2 of the serialized key, as the Java
//! producer's (and Kafka Streams') default partitioner computes it, and as our producers
//! partition (librdkafka's `murmur2_random`).

/// Kafka's murmur2 hash of `data` (Java's `Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of `partitions` a record with the serialized key `key` goes to by default.
///
/// ```
/// use streams_core::partition::default_partition;
///
/// assert_eq!(default_partition(b"foobar", 4), 2);
/// ```
pub fn default_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of Java's `Utils.murmur2` and `toPositive(murmur2) % 4` (kafka-clients 4.1.1).
    #[test]
    fn matches_the_java_client() {
        for (key, hash, of_four) in [
            ("21", -973932308, 0),
            ("foobar", -790332482, 2),
            ("a-little-bit-long-string", -985981536, 0),
            ("k0", -704538303, 1),
            ("user-42", 1459644460, 0),
            ("", 275646681, 1),
        ] {
            assert_eq!(murmur2(key.as_bytes()), hash, "{key:?}");
            assert_eq!(default_partition(key.as_bytes(), 4), of_four, "{key:?}");
        }
    }
}
