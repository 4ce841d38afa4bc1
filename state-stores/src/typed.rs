//! Typed views on byte stores: keys and values through serdes.

use std::cell::RefCell;

use streams_core::serde::{Serde, SharedSerde};
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

/// Serdes and scratch buffers shared by the typed stores. Reads go through `&self`, so the
/// key buffer is a `RefCell`: a read encodes its key there, hands the bytes to the byte store
/// and lets go of the buffer before it returns.
struct Codec<K, V> {
    store: String,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    key_buf: RefCell<Vec<u8>>,
    value_buf: Vec<u8>,
}

impl<K: 'static, V: 'static> Codec<K, V> {
    fn new(store: &str, key_serde: SharedSerde<K>, value_serde: SharedSerde<V>) -> Self {
        Codec {
            store: store.to_owned(),
            key_serde,
            value_serde,
            key_buf: RefCell::new(Vec::new()),
            value_buf: Vec::new(),
        }
    }

    fn error(&self, what: &str, e: streams_core::SerdeError) -> StreamsError {
        StreamsError::Store {
            store: self.store.clone(),
            message: format!("{what}: {e}"),
        }
    }

    fn null_key(&self) -> StreamsError {
        StreamsError::Store {
            store: self.store.clone(),
            message: "a store key must not serialize to null".into(),
        }
    }

    /// Serializes `key` into `buf` (cleared first).
    fn encode_key(&self, key: &K, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        match self.key_serde.serialize_into(&self.store, key, buf) {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.null_key()),
            Err(e) => Err(self.error("serializing a key", e)),
        }
    }

    /// Runs `read` on `key`'s bytes, encoded into the shared buffer (a fresh one if a read
    /// is already using it).
    fn with_key<R>(&self, key: &K, read: impl FnOnce(&[u8]) -> Result<R>) -> Result<R> {
        match self.key_buf.try_borrow_mut() {
            Ok(mut buf) => {
                self.encode_key(key, &mut buf)?;
                read(&buf)
            }
            Err(_) => read(&self.owned_key(key)?),
        }
    }

    /// Serializes `key` to a new vector.
    fn owned_key(&self, key: &K) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.encode_key(key, &mut buf)?;
        Ok(buf)
    }

    /// Serializes `key` into the key buffer, for a write.
    fn key(&mut self, key: &K) -> Result<&[u8]> {
        let mut buf = std::mem::take(self.key_buf.get_mut());
        let encoded = self.encode_key(key, &mut buf);
        *self.key_buf.get_mut() = buf;
        encoded?;
        Ok(&self.key_buf.get_mut()[..])
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
        Ok((
            &self.key_buf.get_mut()[..],
            non_null.then_some(&self.value_buf[..]),
        ))
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

/// What the typed stores' scans return: entries decoded one at a time as the iterator is
/// advanced, in the byte store's order. It borrows the store, so a processor holding its
/// store through a [`StoreHandle`](streams_core::store::StoreHandle) scans under `borrow()`.
pub type TypedIter<'a, T> = Box<dyn Iterator<Item = Result<T>> + 'a>;

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
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let bytes = self.codec.with_key(key, |k| self.inner.get(k))?;
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

    /// Entries with `from <= key <= to` (either end open when `None`), in the order of the
    /// key encoding.
    pub fn range(&self, from: Option<&K>, to: Option<&K>) -> Result<TypedIter<'_, (K, V)>> {
        let from = from.map(|k| self.codec.owned_key(k)).transpose()?;
        let to = to.map(|k| self.codec.owned_key(k)).transpose()?;
        Ok(self.entries(self.inner.range(from.as_deref(), to.as_deref())?))
    }

    /// The entries of [`Self::range`], in descending key-encoding order.
    pub fn reverse_range(&self, from: Option<&K>, to: Option<&K>) -> Result<TypedIter<'_, (K, V)>> {
        let from = from.map(|k| self.codec.owned_key(k)).transpose()?;
        let to = to.map(|k| self.codec.owned_key(k)).transpose()?;
        Ok(self.entries(self.inner.reverse_range(from.as_deref(), to.as_deref())?))
    }

    fn entries<'a>(&'a self, iter: crate::key_value::KvIter<'a>) -> TypedIter<'a, (K, V)> {
        Box::new(iter.map(|entry| {
            let (k, v) = entry?;
            Ok((self.codec.decode_key(&k)?, self.codec.decode_value(&v)?))
        }))
    }

    /// Every entry, in key-encoding order.
    pub fn all(&self) -> Result<TypedIter<'_, (K, V)>> {
        self.range(None, None)
    }

    /// Every entry, in descending key-encoding order.
    pub fn reverse_all(&self) -> Result<TypedIter<'_, (K, V)>> {
        self.reverse_range(None, None)
    }

    /// Entries whose serialized key starts with `prefix` serialized by `prefix_serde`
    /// (Kafka Streams' `prefixScan`), in key-encoding order.
    pub fn prefix_scan<P: 'static>(
        &self,
        prefix: &P,
        prefix_serde: &dyn Serde<P>,
    ) -> Result<TypedIter<'_, (K, V)>> {
        let mut bytes = Vec::new();
        prefix_serde
            .serialize_into(&self.codec.store, prefix, &mut bytes)
            .map_err(|e| self.codec.error("serializing a prefix", e))?;
        Ok(self.entries(self.inner.prefix_scan(&bytes)?))
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
    pub fn fetch(&self, key: &K, window_start: i64) -> Result<Option<V>> {
        let bytes = self
            .codec
            .with_key(key, |k| self.inner.fetch(k, window_start))?;
        self.codec.decode_optional(bytes)
    }

    /// `key`'s windows starting in `[time_from, time_to]` as `(window start, value)`, oldest
    /// first.
    pub fn fetch_range(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
    ) -> Result<TypedIter<'_, (i64, V)>> {
        let iter = self
            .codec
            .with_key(key, |k| self.inner.fetch_range(k, time_from, time_to))?;
        Ok(self.values(iter))
    }

    /// `key`'s windows starting in `[time_from, time_to]`, newest first.
    pub fn backward_fetch_range(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
    ) -> Result<TypedIter<'_, (i64, V)>> {
        let iter = self.codec.with_key(key, |k| {
            self.inner.backward_fetch_range(k, time_from, time_to)
        })?;
        Ok(self.values(iter))
    }

    fn values<'a>(&'a self, iter: crate::window::WindowIter<'a>) -> TypedIter<'a, (i64, V)> {
        Box::new(iter.map(|entry| {
            let (start, value) = entry?;
            Ok((start, self.codec.decode_value(&value)?))
        }))
    }

    /// Windows starting in `[time_from, time_to]` of keys in `[key_from, key_to]`.
    pub fn fetch_key_range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
        time_from: i64,
        time_to: i64,
    ) -> Result<TypedIter<'_, (Windowed<K>, V)>> {
        let from = key_from.map(|k| self.codec.owned_key(k)).transpose()?;
        let to = key_to.map(|k| self.codec.owned_key(k)).transpose()?;
        let iter =
            self.inner
                .fetch_key_range(from.as_deref(), to.as_deref(), time_from, time_to)?;
        Ok(Box::new(iter.map(|entry| self.windowed(entry?))))
    }

    /// Windows starting in `[time_from, time_to]`, of every key.
    pub fn fetch_all(
        &self,
        time_from: i64,
        time_to: i64,
    ) -> Result<TypedIter<'_, (Windowed<K>, V)>> {
        let iter = self.inner.fetch_all(time_from, time_to)?;
        Ok(Box::new(iter.map(|entry| self.windowed(entry?))))
    }

    /// Every live window.
    pub fn all(&self) -> Result<TypedIter<'_, (Windowed<K>, V)>> {
        let iter = self.inner.all()?;
        Ok(Box::new(iter.map(|entry| self.windowed(entry?))))
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

    fn sessions<'a>(
        &'a self,
        iter: crate::session::SessionIter<'a>,
    ) -> TypedIter<'a, (Windowed<K>, V)> {
        Box::new(iter.map(|entry| self.session(entry?)))
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
    pub fn fetch_session(&self, key: &K, start: i64, end: i64) -> Result<Option<V>> {
        let bytes = self
            .codec
            .with_key(key, |k| self.inner.fetch_session(k, start, end))?;
        self.codec.decode_optional(bytes)
    }

    /// `key`'s sessions ending at or after `earliest_end` and starting at or before
    /// `latest_start`, by end time.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<TypedIter<'_, (Windowed<K>, V)>> {
        let iter = self.codec.with_key(key, |k| {
            self.inner.find_sessions(k, earliest_end, latest_start)
        })?;
        Ok(self.sessions(iter))
    }

    /// [`Self::find_sessions`], newest first.
    pub fn backward_find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<TypedIter<'_, (Windowed<K>, V)>> {
        let iter = self.codec.with_key(key, |k| {
            self.inner
                .backward_find_sessions(k, earliest_end, latest_start)
        })?;
        Ok(self.sessions(iter))
    }

    /// Every session of every key ending in `[earliest_end, latest_end]`, including those
    /// past retention the store still holds (see
    /// [`SessionStore::sessions_ending_between`]), by end time.
    pub fn sessions_ending_between(
        &self,
        earliest_end: i64,
        latest_end: i64,
    ) -> Result<TypedIter<'_, (Windowed<K>, V)>> {
        let iter = self
            .inner
            .sessions_ending_between(earliest_end, latest_end)?;
        Ok(self.sessions(iter))
    }

    /// Every session of `key`, by end time.
    pub fn fetch(&self, key: &K) -> Result<TypedIter<'_, (Windowed<K>, V)>> {
        let iter = self.codec.with_key(key, |k| self.inner.fetch(k))?;
        Ok(self.sessions(iter))
    }

    /// Every live session.
    pub fn all(&self) -> Result<TypedIter<'_, (Windowed<K>, V)>> {
        let iter = self.inner.all()?;
        Ok(self.sessions(iter))
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
