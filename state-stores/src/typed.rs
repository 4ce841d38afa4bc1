//! A typed view on a byte store: keys and values through serdes.

use streams_core::serde::SharedSerde;
use streams_core::store::StateStore;
use streams_core::{Result, StreamsError};

use crate::key_value::KeyValueStore;

/// A key-value store of `K` to `V`, over a byte store. This is the type processors look up:
/// `ctx.state_store::<TypedKeyValueStore<String, i64>>("counts")`.
pub struct TypedKeyValueStore<K, V> {
    inner: Box<dyn KeyValueStore>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    key_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl<K, V> std::fmt::Debug for TypedKeyValueStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedKeyValueStore")
            .field("name", &self.inner.name())
            .finish()
    }
}

impl<K: 'static, V: 'static> TypedKeyValueStore<K, V> {
    /// Wraps a byte store.
    pub fn new(
        inner: Box<dyn KeyValueStore>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        TypedKeyValueStore {
            inner,
            key_serde,
            value_serde,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    fn serde_error(&self, what: &str, e: streams_core::SerdeError) -> StreamsError {
        StreamsError::Store {
            store: self.inner.name().to_owned(),
            message: format!("{what}: {e}"),
        }
    }

    fn encode_key(&mut self, key: &K) -> Result<()> {
        self.key_buf.clear();
        let name = self.inner.name().to_owned();
        match self.key_serde.serialize_into(&name, key, &mut self.key_buf) {
            Ok(true) => Ok(()),
            Ok(false) => Err(StreamsError::Store {
                store: name,
                message: "a store key must not serialize to null".into(),
            }),
            Err(e) => Err(self.serde_error("serializing a key", e)),
        }
    }

    fn decode(&self, key: &[u8], value: &[u8]) -> Result<(K, V)> {
        let name = self.inner.name();
        let k = self
            .key_serde
            .deserialize(name, Some(key))
            .map_err(|e| self.serde_error("deserializing a key", e))?;
        let v = self
            .value_serde
            .deserialize(name, Some(value))
            .map_err(|e| self.serde_error("deserializing a value", e))?;
        Ok((k, v))
    }

    /// The value of `key`.
    pub fn get(&mut self, key: &K) -> Result<Option<V>> {
        self.encode_key(key)?;
        match self.inner.get(&self.key_buf)? {
            None => Ok(None),
            Some(bytes) => {
                let name = self.inner.name();
                self.value_serde
                    .deserialize(name, Some(&bytes))
                    .map(Some)
                    .map_err(|e| self.serde_error("deserializing a value", e))
            }
        }
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &K, value: &V) -> Result<()> {
        self.encode_key(key)?;
        self.value_buf.clear();
        let name = self.inner.name().to_owned();
        let non_null = self
            .value_serde
            .serialize_into(&name, value, &mut self.value_buf)
            .map_err(|e| self.serde_error("serializing a value", e))?;
        let value = non_null.then_some(&self.value_buf[..]);
        self.inner.put(&self.key_buf, value)
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &K) -> Result<()> {
        self.encode_key(key)?;
        self.inner.put(&self.key_buf, None)
    }

    /// Entries with `from <= key <= to` (in the order of the key encoding), collected.
    pub fn range(&mut self, from: Option<&K>, to: Option<&K>) -> Result<Vec<(K, V)>> {
        let from = match from {
            Some(k) => {
                self.encode_key(k)?;
                Some(self.key_buf.clone())
            }
            None => None,
        };
        let to = match to {
            Some(k) => {
                self.encode_key(k)?;
                Some(self.key_buf.clone())
            }
            None => None,
        };
        let iter = self.inner.range(from.as_deref(), to.as_deref())?;
        let mut out = Vec::new();
        for entry in iter {
            let (k, v) = entry?;
            out.push(self.decode(&k, &v)?);
        }
        Ok(out)
    }

    /// Every entry, collected in key-encoding order.
    pub fn all(&mut self) -> Result<Vec<(K, V)>> {
        self.range(None, None)
    }

    /// An estimate of the number of entries.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        self.inner.approximate_num_entries()
    }

    /// The byte store underneath.
    pub fn bytes(&mut self) -> &mut dyn KeyValueStore {
        &mut *self.inner
    }
}

impl<K: 'static, V: 'static> StateStore for TypedKeyValueStore<K, V> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }
    fn close(&mut self) -> Result<()> {
        self.inner.close()
    }
    fn restore_batch(&mut self, batch: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<()> {
        self.inner.restore_batch(batch)
    }
}
