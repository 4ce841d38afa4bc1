//! Windows and windowed keys, shared by window stores, session stores and the DSL, and the
//! serdes of windowed keys on topics.

use crate::error::SerdeError;
use crate::serde::{Serde, SharedSerde};

/// A time window. For tumbling and hopping windows `end` is exclusive (`[start, end)`); for
/// sliding and session windows both ends are inclusive, as in Kafka Streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// The start, in milliseconds since the epoch.
    pub start: i64,
    /// The end, in milliseconds since the epoch.
    pub end: i64,
}

impl Window {
    /// The window `[start, end]`.
    pub fn new(start: i64, end: i64) -> Self {
        Window { start, end }
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {}]", self.start, self.end)
    }
}

/// A key in a window: what windowed aggregations and window and session stores key by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window.
    pub window: Window,
}

impl<K> Windowed<K> {
    /// `key` in `window`.
    pub fn new(key: K, window: Window) -> Self {
        Windowed { key, window }
    }
}

impl<K: std::fmt::Display> std::fmt::Display for Windowed<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.key, self.window)
    }
}

/// Splits `data` into the key's bytes and the last `suffix` bytes.
fn split_suffix<'a>(
    data: Option<&'a [u8]>,
    suffix: usize,
    what: &str,
) -> Result<(&'a [u8], &'a [u8]), SerdeError> {
    let data = data.ok_or_else(|| SerdeError::new(format!("a {what} key must not be null")))?;
    let at = data.len().checked_sub(suffix).ok_or_else(|| {
        SerdeError::new(format!(
            "a {what} key needs at least {suffix} bytes after the key, got {} bytes in all",
            data.len()
        ))
    })?;
    Ok(data.split_at(at))
}

fn be_i64(bytes: &[u8]) -> i64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&bytes[..8]);
    i64::from_be_bytes(buf)
}

/// The serde of time-windowed keys on topics, as Kafka Streams' `TimeWindowedSerde`: the
/// key's bytes followed by the window start (8 bytes, big-endian). The end is not written;
/// reading computes it as start + the window size given here.
pub struct TimeWindowedSerde<K> {
    inner: SharedSerde<K>,
    window_size_ms: i64,
}

impl<K: 'static> TimeWindowedSerde<K> {
    /// Windowed keys of `inner`, in windows of `window_size_ms`.
    pub fn new(inner: impl Serde<K>, window_size_ms: i64) -> Self {
        Self::shared(std::sync::Arc::new(inner), window_size_ms)
    }

    /// Windowed keys of a shared serde.
    pub fn shared(inner: SharedSerde<K>, window_size_ms: i64) -> Self {
        TimeWindowedSerde {
            inner,
            window_size_ms,
        }
    }
}

impl<K: 'static> Serde<Windowed<K>> for TimeWindowedSerde<K> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &Windowed<K>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        if !self.inner.serialize_into(topic, &value.key, buf)? {
            return Err(SerdeError::new("a windowed key's key must not be null"));
        }
        buf.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(true)
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Windowed<K>, SerdeError> {
        let (key, suffix) = split_suffix(data, 8, "time-windowed")?;
        let start = be_i64(suffix);
        Ok(Windowed::new(
            self.inner.deserialize(topic, Some(key))?,
            Window::new(start, start.saturating_add(self.window_size_ms)),
        ))
    }
}

/// The serde of session-windowed keys on topics, as Kafka Streams' `SessionWindowedSerde`:
/// the key's bytes, then the session end and start (8 bytes each, big-endian).
pub struct SessionWindowedSerde<K> {
    inner: SharedSerde<K>,
}

impl<K: 'static> SessionWindowedSerde<K> {
    /// Session-windowed keys of `inner`.
    pub fn new(inner: impl Serde<K>) -> Self {
        Self::shared(std::sync::Arc::new(inner))
    }

    /// Session-windowed keys of a shared serde.
    pub fn shared(inner: SharedSerde<K>) -> Self {
        SessionWindowedSerde { inner }
    }
}

impl<K: 'static> Serde<Windowed<K>> for SessionWindowedSerde<K> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &Windowed<K>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        if !self.inner.serialize_into(topic, &value.key, buf)? {
            return Err(SerdeError::new("a windowed key's key must not be null"));
        }
        buf.extend_from_slice(&value.window.end.to_be_bytes());
        buf.extend_from_slice(&value.window.start.to_be_bytes());
        Ok(true)
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Windowed<K>, SerdeError> {
        let (key, suffix) = split_suffix(data, 16, "session-windowed")?;
        Ok(Windowed::new(
            self.inner.deserialize(topic, Some(key))?,
            Window::new(be_i64(&suffix[8..]), be_i64(suffix)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::StringSerde;

    #[test]
    fn windowed_keys_round_trip_in_kafka_streams_layout() {
        let w = Windowed::new("k".to_owned(), Window::new(1_000, 1_500));
        let time = TimeWindowedSerde::new(StringSerde, 500);
        let bytes = time.serialize("t", &w).expect("ok").expect("non-null");
        assert_eq!(bytes, [b"k".as_slice(), &1_000i64.to_be_bytes()].concat());
        assert_eq!(time.deserialize("t", Some(&bytes)).expect("ok"), w);

        let session = SessionWindowedSerde::new(StringSerde);
        let bytes = session.serialize("t", &w).expect("ok").expect("non-null");
        assert_eq!(
            bytes,
            [
                b"k".as_slice(),
                &1_500i64.to_be_bytes(),
                &1_000i64.to_be_bytes()
            ]
            .concat()
        );
        assert_eq!(session.deserialize("t", Some(&bytes)).expect("ok"), w);

        let err = time
            .deserialize("t", Some(b"short"))
            .expect_err("too short");
        assert_eq!(
            err.to_string(),
            "a time-windowed key needs at least 8 bytes after the key, got 5 bytes in all"
        );
    }
}
