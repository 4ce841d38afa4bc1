//! Rows with a timestamp, as tables, aggregations and joins keep them: [`ValueAndTimestamp`],
//! its store encoding, and the key-value store of such rows.

use state_stores::typed::TypedKeyValueStore;
use state_stores::{KeyValueStoreBuilder, StoreKind};
use streams_core::SerdeError;
use streams_core::serde::{Serde, SharedSerde};

/// A row and its timestamp, as the stores of tables and aggregations keep them.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueAndTimestamp<V> {
    /// A table's value, or an aggregate.
    pub value: V,
    /// For a table, the timestamp of the record that set the value; for an aggregate, the
    /// largest timestamp of the records aggregated into it.
    pub timestamp: i64,
}

/// Stores a [`ValueAndTimestamp`] as the 8-byte big-endian timestamp followed by the value's
/// encoding (Kafka Streams' timestamped store layout).
pub struct ValueAndTimestampSerde<V>(pub SharedSerde<V>);

impl<V: 'static> Serde<ValueAndTimestamp<V>> for ValueAndTimestampSerde<V> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &ValueAndTimestamp<V>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        let start = buf.len();
        buf.extend_from_slice(&value.timestamp.to_be_bytes());
        if !self.0.serialize_into(topic, &value.value, buf)? {
            buf.truncate(start);
            return Ok(false);
        }
        Ok(true)
    }

    fn deserialize(
        &self,
        topic: &str,
        data: Option<&[u8]>,
    ) -> Result<ValueAndTimestamp<V>, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::new("a stored aggregate must not be null"))?;
        if data.len() < 8 {
            return Err(SerdeError::new(format!(
                "a stored aggregate needs 8 timestamp bytes before the value, got {} bytes",
                data.len()
            )));
        }
        let (ts, rest) = data.split_at(8);
        Ok(ValueAndTimestamp {
            timestamp: i64::from_be_bytes(ts.try_into().map_err(|_| SerdeError::new("timestamp"))?),
            value: self.0.deserialize(topic, Some(rest))?,
        })
    }
}

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
