//! Seeded inputs: keys drawn from a small set (so records meet in windows, joins and
//! groups), keys of different lengths, numbers 0-99 as values, tombstones, and timestamps that
//! mostly move forward with out-of-order, equal, late and very late records and jumps.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::case::Rec;
use crate::variants::Variant;

/// Keys of the streams and of the tables keyed like them: lengths differ, which changes the
/// order of keys sorted as bytes in some stores.
const KEYS: &[&str] = &["k0", "k1", "k2", "k3", "k10", "k11", "kk2"];
/// Keys of the `fk` table: values point at `f0`..`f3`, so `f4` is never joined.
const FOREIGN_KEYS: &[&str] = &["f0", "f1", "f2", "f3", "f4"];

/// Whether `topic` is one of the suite's tables.
fn is_table(topic: &str) -> bool {
    matches!(topic, "tbl" | "tbl2" | "fk")
}

/// `size` input records for `variant`, the same for the same seed.
pub fn input(variant: &Variant, seed: u64, size: usize) -> Vec<Rec> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stream_time: i64 = 0;
    let mut records = Vec::with_capacity(size);
    for _ in 0..size {
        let topic = variant.inputs[rng.random_range(0..variant.inputs.len())];
        let keys = if topic == "fk" { FOREIGN_KEYS } else { KEYS };
        let key = keys[rng.random_range(0..keys.len())];
        let null_chance = if is_table(topic) {
            0.15
        } else if variant.stream_nulls {
            0.05
        } else {
            0.0
        };
        let value = (!rng.random_bool(null_chance)).then(|| rng.random_range(0..100).to_string());
        let roll: f64 = rng.random();
        let timestamp = if roll < 0.62 {
            stream_time += rng.random_range(0..=3);
            stream_time
        } else if roll < 0.72 {
            // the same timestamp as the newest record
            stream_time
        } else if roll < 0.92 {
            // out of order, mostly within the grace periods
            stream_time - rng.random_range(1..=12)
        } else if roll < 0.97 {
            // late: behind every window's grace
            stream_time - rng.random_range(20..=60)
        } else {
            // a jump forward that closes and expires what is open
            stream_time += rng.random_range(20..=100);
            stream_time
        };
        records.push(Rec {
            topic: topic.to_owned(),
            key: Some(key.to_owned()),
            value,
            timestamp: timestamp.max(0),
        });
    }
    records
}
