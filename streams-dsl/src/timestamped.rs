//! Rows with a timestamp, as tables, aggregations and joins keep them: [`ValueAndTimestamp`]
//! and its store encoding (defined in `state_stores::timestamped`), and the key-value store
//! of such rows.

use state_stores::typed::TypedKeyValueStore;
use state_stores::{KeyValueStoreBuilder, StoreKind};
use streams_core::serde::SharedSerde;

pub use state_stores::timestamped::{ValueAndTimestamp, ValueAndTimestampSerde};

/// The store of a table or a (non-windowed) aggregation: each key's row and its timestamp
/// (Kafka Streams' `TimestampedKeyValueStore`).
pub(crate) type TimestampedKeyValueStore<K, V> = TypedKeyValueStore<K, ValueAndTimestamp<V>>;

/// The builder of a [`TimestampedKeyValueStore`] named `name`, of `kind`, with its changelog
/// on.
pub(crate) fn timestamped_store<K: 'static, V: 'static>(
    name: &str,
    kind: StoreKind,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
) -> KeyValueStoreBuilder<K, ValueAndTimestamp<V>> {
    KeyValueStoreBuilder::new(name, kind, key_serde, ValueAndTimestampSerde(value_serde))
}

/// Sets `key`'s row to `value` stamped `timestamp`, or deletes it when `value` is `None`.
pub(crate) fn put_or_delete<K: 'static, V: Clone + 'static>(
    store: &mut TimestampedKeyValueStore<K, V>,
    key: &K,
    value: Option<&V>,
    timestamp: i64,
) -> streams_core::Result<()> {
    match value {
        Some(v) => store.put(
            key,
            &ValueAndTimestamp {
                value: v.clone(),
                timestamp,
            },
        ),
        None => store.delete(key),
    }
}
