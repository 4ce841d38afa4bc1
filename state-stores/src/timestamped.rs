//! [`ValueAndTimestamp`]: a row with the timestamp tables and aggregations keep beside it,
//! and its store encoding (Kafka Streams' timestamped stores).

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
