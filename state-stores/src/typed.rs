//! Typed views on byte stores: keys and values through serdes.

use streams_core::serde::SharedSerde;
use streams_core::store::StateStore;
use streams_core::{Result, StreamsError, Window, Windowed};

use streams_core::query::QueryableStore;

use crate::committed::CommittedKeyValues;
use crate::delegate::delegate_state_store;
use crate::key_value::KeyValueStore;
use crate::query::Source;
use crate::session::CommittedSessions;
use crate::session::{SessionEntry, SessionStore};
use crate::window::CommittedWindows;
use crate::window::{WindowStore, WindowedEntry};

/// Serdes and scratch buffers shared by the typed stores.
struct Codec<K, V> {
    store: String,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    key_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl<K: 'static, V: 'static> Codec<K, V> {
    fn new(store: &str, key_serde: SharedSerde<K>, value_serde: SharedSerde<V>) -> Self {
        Codec {
            store: store.to_owned(),
            key_serde,
            value_serde,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    fn error(&self, what: &str, e: streams_core::SerdeError) -> StreamsError {
        StreamsError::Store {
            store: self.store.clone(),
            message: format!("{what}: {e}"),
        }
    }

    /// Serializes `key` into the key buffer.
    fn key(&mut self, key: &K) -> Result<&[u8]> {
        self.key_buf.clear();
        match self
            .key_serde
            .serialize_into(&self.store, key, &mut self.key_buf)
        {
            Ok(true) => Ok(&self.key_buf),
            Ok(false) => Err(StreamsError::Store {
                store: self.store.clone(),
                message: "a store key must not serialize to null".into(),
            }),
            Err(e) => Err(self.error("serializing a key", e)),
        }
    }

    /// Serializes `key` to a new vector.
    fn owned_key(&mut self, key: &K) -> Result<Vec<u8>> {
        self.key(key).map(<[u8]>::to_vec)
    }

    /// Serializes `key` and `value` into the buffers; the value is `None` if it serializes to
    /// null.
    fn entry(&mut self, key: &K, value: &V) -> Result<(&[u8], Option<&[u8]>)> {
        self.key(key)?;
        self.value_buf.clear();
        let non_null = self
            .value_serde
            .serialize_into(&self.store, value, &mut self.value_buf)
            .map_err(|e| self.error("serializing a value", e))?;
        Ok((&self.key_buf, non_null.then_some(&self.value_buf[..])))
    }

    fn decode_key(&self, key: &[u8]) -> Result<K> {
        self.key_serde
            .deserialize(&self.store, Some(key))
            .map_err(|e| self.error("deserializing a key", e))
    }

    fn decode_value(&self, value: &[u8]) -> Result<V> {
        self.value_serde
            .deserialize(&self.store, Some(value))
            .map_err(|e| self.error("deserializing a value", e))
    }

    fn decode_optional(&self, value: Option<Vec<u8>>) -> Result<Option<V>> {
        value.map(|v| self.decode_value(&v)).transpose()
    }
}

/// A key-value store of `K` to `V`, over a byte store. This is the type processors look up:
/// `ctx.state_store::<TypedKeyValueStore<String, i64>>("counts")`.
pub struct TypedKeyValueStore<K, V> {
    inner: Box<dyn KeyValueStore>,
    codec: Codec<K, V>,
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
        let codec = Codec::new(inner.name(), key_serde, value_serde);
        TypedKeyValueStore { inner, codec }
    }

    /// The value of `key`.
    pub fn get(&mut self, key: &K) -> Result<Option<V>> {
        let bytes = self.inner.get(self.codec.key(key)?)?;
        self.codec.decode_optional(bytes)
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &K, value: &V) -> Result<()> {
        let (k, v) = self.codec.entry(key, value)?;
        self.inner.put(k, v)
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &K) -> Result<()> {
        self.inner.put(self.codec.key(key)?, None)
    }

    /// Entries with `from <= key <= to` (in the order of the key encoding), collected.
    pub fn range(&mut self, from: Option<&K>, to: Option<&K>) -> Result<Vec<(K, V)>> {
        let from = from.map(|k| self.codec.owned_key(k)).transpose()?;
        let to = to.map(|k| self.codec.owned_key(k)).transpose()?;
        let codec = &self.codec;
        self.inner
            .range(from.as_deref(), to.as_deref())?
            .map(|entry| {
                let (k, v) = entry?;
                Ok((codec.decode_key(&k)?, codec.decode_value(&v)?))
            })
            .collect()
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

/// A window store of `K` to `V`, over a byte window store: what processors look up as
/// `ctx.state_store::<TypedWindowStore<String, i64>>("windows")`.
pub struct TypedWindowStore<K, V> {
    inner: Box<dyn WindowStore>,
    codec: Codec<K, V>,
}

impl<K, V> std::fmt::Debug for TypedWindowStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedWindowStore")
            .field("name", &self.inner.name())
            .finish()
    }
}

impl<K: 'static, V: 'static> TypedWindowStore<K, V> {
    /// Wraps a byte window store.
    pub fn new(
        inner: Box<dyn WindowStore>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        let codec = Codec::new(inner.name(), key_serde, value_serde);
        TypedWindowStore { inner, codec }
    }

    fn windowed(&self, (key, start, value): WindowedEntry) -> Result<(Windowed<K>, V)> {
        let window = Window::new(start, start.saturating_add(self.inner.window_size_ms()));
        Ok((
            Windowed::new(self.codec.decode_key(&key)?, window),
            self.codec.decode_value(&value)?,
        ))
    }

    /// Stores `value` for `key` in the window starting at `window_start`.
    pub fn put(&mut self, key: &K, value: &V, window_start: i64) -> Result<()> {
        let (k, v) = self.codec.entry(key, value)?;
        self.inner.put(k, v, window_start)
    }

    /// Deletes `key`'s window starting at `window_start`.
    pub fn delete(&mut self, key: &K, window_start: i64) -> Result<()> {
        self.inner.put(self.codec.key(key)?, None, window_start)
    }

    /// The value of `key` in the window starting at `window_start`.
    pub fn fetch(&mut self, key: &K, window_start: i64) -> Result<Option<V>> {
        let bytes = self.inner.fetch(self.codec.key(key)?, window_start)?;
        self.codec.decode_optional(bytes)
    }

    /// `key`'s windows starting in `[time_from, time_to]` as `(window start, value)`, oldest
    /// first.
    pub fn fetch_range(&mut self, key: &K, time_from: i64, time_to: i64) -> Result<Vec<(i64, V)>> {
        self.fetch_of_key(key, time_from, time_to, false)
    }

    /// `key`'s windows starting in `[time_from, time_to]`, newest first.
    pub fn backward_fetch_range(
        &mut self,
        key: &K,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(i64, V)>> {
        self.fetch_of_key(key, time_from, time_to, true)
    }

    fn fetch_of_key(
        &mut self,
        key: &K,
        time_from: i64,
        time_to: i64,
        backward: bool,
    ) -> Result<Vec<(i64, V)>> {
        let key = self.codec.key(key)?;
        let iter = if backward {
            self.inner.backward_fetch_range(key, time_from, time_to)?
        } else {
            self.inner.fetch_range(key, time_from, time_to)?
        };
        iter.map(|entry| {
            let (start, value) = entry?;
            Ok((start, self.codec.decode_value(&value)?))
        })
        .collect()
    }

    /// Windows starting in `[time_from, time_to]` of keys in `[key_from, key_to]`.
    pub fn fetch_key_range(
        &mut self,
        key_from: Option<&K>,
        key_to: Option<&K>,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(Windowed<K>, V)>> {
        let from = key_from.map(|k| self.codec.owned_key(k)).transpose()?;
        let to = key_to.map(|k| self.codec.owned_key(k)).transpose()?;
        self.inner
            .fetch_key_range(from.as_deref(), to.as_deref(), time_from, time_to)?
            .map(|entry| self.windowed(entry?))
            .collect()
    }

    /// Every live window.
    pub fn all(&mut self) -> Result<Vec<(Windowed<K>, V)>> {
        self.inner
            .all()?
            .map(|entry| self.windowed(entry?))
            .collect()
    }

    /// The byte store underneath.
    pub fn bytes(&mut self) -> &mut dyn WindowStore {
        &mut *self.inner
    }
}

/// A session store of `K` to `V`, over a byte session store: what processors look up as
/// `ctx.state_store::<TypedSessionStore<String, i64>>("sessions")`.
pub struct TypedSessionStore<K, V> {
    inner: Box<dyn SessionStore>,
    codec: Codec<K, V>,
}

impl<K, V> std::fmt::Debug for TypedSessionStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedSessionStore")
            .field("name", &self.inner.name())
            .finish()
    }
}

impl<K: 'static, V: 'static> TypedSessionStore<K, V> {
    /// Wraps a byte session store.
    pub fn new(
        inner: Box<dyn SessionStore>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        let codec = Codec::new(inner.name(), key_serde, value_serde);
        TypedSessionStore { inner, codec }
    }

    fn session(&self, (key, start, end, value): SessionEntry) -> Result<(Windowed<K>, V)> {
        Ok((
            Windowed::new(self.codec.decode_key(&key)?, Window::new(start, end)),
            self.codec.decode_value(&value)?,
        ))
    }

    fn collect(&self, iter: crate::session::SessionIter<'_>) -> Result<Vec<(Windowed<K>, V)>> {
        iter.map(|entry| self.session(entry?)).collect()
    }

    /// Stores `value` for the session `key.window` of `key.key`.
    pub fn put(&mut self, key: &Windowed<K>, value: &V) -> Result<()> {
        let (k, v) = self.codec.entry(&key.key, value)?;
        self.inner.put(k, key.window.start, key.window.end, v)
    }

    /// Removes the session `key.window` of `key.key`.
    pub fn remove(&mut self, key: &Windowed<K>) -> Result<()> {
        let k = self.codec.key(&key.key)?;
        self.inner.remove(k, key.window.start, key.window.end)
    }

    /// The value of exactly the session `[start, end]` of `key`.
    pub fn fetch_session(&mut self, key: &K, start: i64, end: i64) -> Result<Option<V>> {
        let bytes = self.inner.fetch_session(self.codec.key(key)?, start, end)?;
        self.codec.decode_optional(bytes)
    }

    /// `key`'s sessions ending at or after `earliest_end` and starting at or before
    /// `latest_start`, by end time.
    pub fn find_sessions(
        &mut self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<(Windowed<K>, V)>> {
        let iter = self
            .inner
            .find_sessions(self.codec.key(key)?, earliest_end, latest_start)?;
        self.collect(iter)
    }

    /// [`Self::find_sessions`], newest first.
    pub fn backward_find_sessions(
        &mut self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<(Windowed<K>, V)>> {
        let iter =
            self.inner
                .backward_find_sessions(self.codec.key(key)?, earliest_end, latest_start)?;
        self.collect(iter)
    }

    /// Every session of `key`, by end time.
    pub fn fetch(&mut self, key: &K) -> Result<Vec<(Windowed<K>, V)>> {
        let iter = self.inner.fetch(self.codec.key(key)?)?;
        self.collect(iter)
    }

    /// Every live session.
    pub fn all(&mut self) -> Result<Vec<(Windowed<K>, V)>> {
        let iter = self.inner.all()?;
        self.collect(iter)
    }

    /// The byte store underneath.
    pub fn bytes(&mut self) -> &mut dyn SessionStore {
        &mut *self.inner
    }
}

// The lifecycle of every typed store is that of the byte store underneath.

// Queries read the byte store's committed content through the typed store's serdes.

impl<K: 'static, V: 'static> StateStore for TypedKeyValueStore<K, V> {
    delegate_state_store!(inner);

    fn queryable(&self) -> Option<QueryableStore> {
        Source::<CommittedKeyValues, K, V>::register(
            self.inner.queryable(),
            &self.codec.key_serde,
            &self.codec.value_serde,
        )
    }
}

impl<K: 'static, V: 'static> StateStore for TypedWindowStore<K, V> {
    delegate_state_store!(inner);

    fn queryable(&self) -> Option<QueryableStore> {
        Source::<CommittedWindows, K, V>::register(
            self.inner.queryable(),
            &self.codec.key_serde,
            &self.codec.value_serde,
        )
    }
}

impl<K: 'static, V: 'static> StateStore for TypedSessionStore<K, V> {
    delegate_state_store!(inner);

    fn queryable(&self) -> Option<QueryableStore> {
        Source::<CommittedSessions, K, V>::register(
            self.inner.queryable(),
            &self.codec.key_serde,
            &self.codec.value_serde,
        )
    }
}
