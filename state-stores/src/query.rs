//! Interactive queries on key-value, window and session stores: the query types to hand to
//! [`KafkaStreams::store`](streams_core::KafkaStreams::store) (or the test driver's
//! `store`) and the read-only views they return.
//!
//! A view reads what each partition's task last committed (see [`streams_core::query`]),
//! from the calling thread; it is `Send + Sync`, so one view can serve many threads. Over
//! several local partitions a view asks each in partition order: `get` returns the first
//! value found, scans return one partition's entries after another's (each in key order, as
//! Kafka Streams' composite stores do). A read that meets a partition closed or moved since
//! the view was made fails with [`StreamsError::StoreUnavailable`] (retriable): ask for a new
//! view. Key-value scans stream from RocksDB in chunks; a window or session call reads its
//! result for a partition before returning the first entry.
//!
//! The stores of tables and aggregations keep a timestamp beside each value; the plain
//! types ([`QueryableStoreTypes::key_value`], [`QueryableStoreTypes::window_store`]) read
//! their values, the timestamped ones read [`ValueAndTimestamp`]s. Only RocksDB stores (the
//! default) can be queried so far.
//!
//! ```
//! use state_stores::KeyValueStoreBuilder;
//! use state_stores::query::QueryableStoreTypes;
//! use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
//! use streams_core::query::StoreQueryParameters;
//! use streams_core::serde::{I64Serde, StringSerde};
//! use streams_core::test_driver::TopologyTestDriver;
//! use streams_core::{Record, StreamsConfig, Topology};
//! # use state_stores::typed::TypedKeyValueStore;
//!
//! // Counts words into the store "counts".
//! struct Count;
//! impl Processor<String, String, String, i64> for Count {
//!     fn process(
//!         &mut self,
//!         ctx: &mut ProcessorContext<'_, String, i64>,
//!         record: Record<String, String>,
//!     ) -> Result<(), ProcessorError> {
//!         let store = ctx.state_store::<TypedKeyValueStore<String, i64>>("counts")?;
//!         let mut store = store.borrow_mut();
//!         let count = store.get(&record.value)?.unwrap_or(0) + 1;
//!         store.put(&record.value, &count)?;
//!         Ok(())
//!     }
//! }
//!
//! let mut topology = Topology::new();
//! topology.add_source("words", &["words"], StringSerde, StringSerde)?;
//! topology.add_processor("count", || Count, &["words"])?;
//! topology.add_state_store(KeyValueStoreBuilder::rocksdb("counts", StringSerde, I64Serde), &["count"])?;
//! let driver = TopologyTestDriver::new(topology, StreamsConfig::new("words", "unused:9092"))?;
//! let words = driver.input_topic("words", StringSerde, StringSerde);
//! for word in ["b", "a", "b"] {
//!     words.pipe(String::new(), word.to_owned(), 0)?;
//! }
//!
//! let counts = driver.store(StoreQueryParameters::from_name_and_type(
//!     "counts",
//!     QueryableStoreTypes::key_value::<String, i64>(),
//! ))?;
//! assert_eq!(counts.get(&"b".to_owned())?, Some(2));
//! let all: Vec<(String, i64)> = counts.all()?.collect::<Result<_, _>>()?;
//! assert_eq!(all, vec![("a".to_owned(), 1), ("b".to_owned(), 2)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::marker::PhantomData;
use std::sync::Arc;

use streams_core::query::{LocalStore, QueryableStore, QueryableStoreType, Unavailable};
use streams_core::serde::{Serde, SharedSerde};
use streams_core::{Result, StreamsError, Window, Windowed};

use crate::committed::{CommittedIter, CommittedKeyValues};
use crate::session::CommittedSessions;
use crate::timestamped::ValueAndTimestamp;
use crate::window::CommittedWindows;

/// What a typed store registers for queries: its committed bytes (`B`) and its serdes.
pub(crate) struct Source<B, K, V> {
    pub(crate) bytes: B,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
}

impl<B: Clone + Send + Sync + 'static, K: 'static, V: 'static> Source<B, K, V> {
    /// The registered form: `bytes` is the byte store's own registration, when it has one.
    pub(crate) fn register(
        bytes: Option<QueryableStore>,
        key_serde: &SharedSerde<K>,
        value_serde: &SharedSerde<V>,
    ) -> Option<QueryableStore> {
        let bytes = bytes?.downcast_ref::<B>()?.clone();
        Some(Arc::new(Source {
            bytes,
            key_serde: key_serde.clone(),
            value_serde: value_serde.clone(),
        }))
    }
}

/// The view a global store registers for queries: its rows through `key_serde` and
/// `value_serde`, read by [`QueryableStoreTypes::key_value`] (set by the DSL's
/// `global_table`; a Processor API global store sets it with
/// [`GlobalStore::set_queryable`](streams_core::global::GlobalStore::set_queryable)).
pub fn global_view<K: 'static, V: 'static>(
    store: &streams_core::global::GlobalStore,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
) -> QueryableStore {
    Arc::new(Source {
        bytes: CommittedKeyValues::memory(crate::memory::global_reader(store)),
        key_serde,
        value_serde,
    })
}

/// Decodes a stored value into the value a view returns.
type Decode<V> = Arc<dyn Fn(&str, &[u8]) -> Result<V> + Send + Sync>;

/// One partition of a view: its bytes, its key serde, and how its values decode.
struct Part<B, K, V> {
    partition: i32,
    name: Arc<str>,
    bytes: B,
    key_serde: SharedSerde<K>,
    decode: Decode<V>,
}

impl<B: Clone + 'static, K: 'static, V: 'static> Part<B, K, V> {
    /// `store` as a part of a view of values `V`: a store of `V`s, or of
    /// `ValueAndTimestamp<V>`s read without their timestamps.
    fn of(name: &str, local: &LocalStore) -> Option<Self> {
        let store = &*local.store;
        let (bytes, key_serde, decode): (B, SharedSerde<K>, Decode<V>) =
            if let Some(s) = store.downcast_ref::<Source<B, K, V>>() {
                let serde = s.value_serde.clone();
                (
                    s.bytes.clone(),
                    s.key_serde.clone(),
                    Arc::new(move |name, b| decode_value(&*serde, name, b)),
                )
            } else {
                let s = store.downcast_ref::<Source<B, K, ValueAndTimestamp<V>>>()?;
                let serde = s.value_serde.clone();
                (
                    s.bytes.clone(),
                    s.key_serde.clone(),
                    Arc::new(move |name, b| decode_value(&*serde, name, b).map(|v| v.value)),
                )
            };
        Some(Part {
            partition: local.partition,
            name: name.into(),
            bytes,
            key_serde,
            decode,
        })
    }

    fn accepts(store: &QueryableStore) -> bool {
        store.downcast_ref::<Source<B, K, V>>().is_some()
            || store
                .downcast_ref::<Source<B, K, ValueAndTimestamp<V>>>()
                .is_some()
    }

    fn key(&self, key: &K) -> Result<Vec<u8>> {
        encode(&self.name, &*self.key_serde, key)
    }

    fn decode_key(&self, bytes: &[u8]) -> Result<K> {
        self.key_serde
            .deserialize(&self.name, Some(bytes))
            .map_err(|e| store_error(&self.name, "deserializing a key", e))
    }

    fn decode(&self, bytes: &[u8]) -> Result<V> {
        (self.decode)(&self.name, bytes)
    }

    /// `e` with this part's partition when it says the store moved.
    fn locate(&self, e: StreamsError) -> StreamsError {
        match e {
            StreamsError::StoreUnavailable {
                store,
                reason: Unavailable::Migrated { .. },
            } => StreamsError::StoreUnavailable {
                store,
                reason: Unavailable::Migrated {
                    partition: self.partition,
                },
            },
            other => other,
        }
    }
}

impl<B: Clone, K, V> Clone for Part<B, K, V> {
    fn clone(&self) -> Self {
        Part {
            partition: self.partition,
            name: self.name.clone(),
            bytes: self.bytes.clone(),
            key_serde: self.key_serde.clone(),
            decode: self.decode.clone(),
        }
    }
}

fn store_error(store: &str, doing: &str, e: streams_core::SerdeError) -> StreamsError {
    StreamsError::Store {
        store: store.to_owned(),
        message: format!("{doing}: {e}"),
    }
}

fn decode_value<T: 'static>(serde: &dyn Serde<T>, store: &str, bytes: &[u8]) -> Result<T> {
    serde
        .deserialize(store, Some(bytes))
        .map_err(|e| store_error(store, "deserializing a value", e))
}

/// `value` serialized for a lookup; a key that serializes to null cannot be looked up.
fn encode<T: 'static>(store: &str, serde: &dyn Serde<T>, value: &T) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match serde.serialize_into(store, value, &mut buf) {
        Ok(true) => Ok(buf),
        Ok(false) => Err(StreamsError::InvalidStoreQuery {
            store: store.to_owned(),
            message: "the key serializes to null, which no store holds".into(),
        }),
        Err(e) => Err(store_error(store, "serializing a key", e)),
    }
}

/// The query types: pass one to `StoreQueryParameters::from_name_and_type`.
#[derive(Debug, Clone, Copy)]
pub struct QueryableStoreTypes;

impl QueryableStoreTypes {
    /// A key-value store of `K` to `V` (a table's or aggregation's store too, read without
    /// its timestamps).
    pub fn key_value<K, V>() -> KeyValueQuery<K, V> {
        KeyValueQuery(PhantomData)
    }

    /// A table's or aggregation's store, with each row's timestamp.
    pub fn timestamped_key_value<K, V>() -> KeyValueQuery<K, ValueAndTimestamp<V>> {
        KeyValueQuery(PhantomData)
    }

    /// A window store of `K` to `V` (a windowed aggregation's too, without timestamps).
    pub fn window_store<K, V>() -> WindowQuery<K, V> {
        WindowQuery(PhantomData)
    }

    /// A windowed aggregation's store, with each window's timestamp.
    pub fn timestamped_window_store<K, V>() -> WindowQuery<K, ValueAndTimestamp<V>> {
        WindowQuery(PhantomData)
    }

    /// A session store of `K` to `V`.
    pub fn session_store<K, V>() -> SessionQuery<K, V> {
        SessionQuery(PhantomData)
    }
}

macro_rules! query_type {
    ($query:ident, $bytes:ty, $view:ident, $what:literal) => {
        #[doc = concat!("Asks for ", $what, " of `K` to `V`: see [`QueryableStoreTypes`].")]
        pub struct $query<K, V>(PhantomData<fn() -> (K, V)>);

        impl<K: 'static, V: 'static> std::fmt::Debug for $query<K, V> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.describe())
            }
        }

        impl<K, V> Clone for $query<K, V> {
            fn clone(&self) -> Self {
                $query(PhantomData)
            }
        }

        impl<K: 'static, V: 'static> QueryableStoreType for $query<K, V> {
            type View = $view<K, V>;

            fn describe(&self) -> String {
                format!(
                    "{} of {} to {}",
                    $what,
                    std::any::type_name::<K>(),
                    std::any::type_name::<V>()
                )
            }

            fn accepts(&self, store: &QueryableStore) -> bool {
                Part::<$bytes, K, V>::accepts(store)
            }

            fn create(&self, store_name: &str, stores: Vec<LocalStore>) -> $view<K, V> {
                $view {
                    parts: stores
                        .iter()
                        .filter_map(|s| Part::of(store_name, s))
                        .collect(),
                }
            }
        }
    };
}

query_type!(
    KeyValueQuery,
    CommittedKeyValues,
    ReadOnlyKeyValueStore,
    "a key-value store"
);
query_type!(
    WindowQuery,
    CommittedWindows,
    ReadOnlyWindowStore,
    "a window store"
);
query_type!(
    SessionQuery,
    CommittedSessions,
    ReadOnlySessionStore,
    "a session store"
);

/// Entries of a view, decoded as they are read.
pub type QueryIter<T> = Box<dyn Iterator<Item = Result<T>> + Send>;

/// Chains the partitions' iterators, each made only when the previous one is done.
fn chained<B, K, V, T>(
    parts: &[Part<B, K, V>],
    each: impl Fn(&Part<B, K, V>) -> Result<QueryIter<T>> + Send + 'static,
) -> QueryIter<T>
where
    B: Clone + Send + Sync + 'static,
    K: 'static,
    V: 'static,
    T: Send + 'static,
{
    let parts: Vec<Part<B, K, V>> = parts.to_vec();
    Box::new(parts.into_iter().flat_map(move |part| match each(&part) {
        Ok(iter) => iter,
        Err(e) => Box::new(std::iter::once(Err(part.locate(e)))) as QueryIter<T>,
    }))
}

/// Decodes the entries of a committed key-value scan of `part`.
fn decoded<K: 'static, V: 'static>(
    part: &Part<CommittedKeyValues, K, V>,
    iter: CommittedIter,
) -> QueryIter<(K, V)> {
    let part = part.clone();
    Box::new(iter.map(move |entry| {
        let (k, v) = entry.map_err(|e| part.locate(e))?;
        Ok((part.decode_key(&k)?, part.decode(&v)?))
    }))
}

/// `key` serialized as the view's partitions keep it (they are one store, with one key
/// serde): once per call, not once per partition. `None` for a view without partitions.
fn key_bytes<B: Clone + 'static, K: 'static, V: 'static>(
    parts: &[Part<B, K, V>],
    key: &K,
) -> Result<Option<Vec<u8>>> {
    parts.first().map(|p| p.key(key)).transpose()
}

/// The first value `read` finds for `key` in the partitions, in partition order.
fn first_found<B: Clone + 'static, K: 'static, V: 'static>(
    parts: &[Part<B, K, V>],
    key: &K,
    read: impl Fn(&B, &[u8]) -> Result<Option<Vec<u8>>>,
) -> Result<Option<V>> {
    let Some(bytes) = key_bytes(parts, key)? else {
        return Ok(None);
    };
    for part in parts {
        if let Some(v) = read(&part.bytes, &bytes).map_err(|e| part.locate(e))? {
            return part.decode(&v).map(Some);
        }
    }
    Ok(None)
}

/// A read-only key-value view (Kafka Streams' `ReadOnlyKeyValueStore`).
pub struct ReadOnlyKeyValueStore<K, V> {
    parts: Vec<Part<CommittedKeyValues, K, V>>,
}

impl<K: Send + 'static, V: Send + 'static> ReadOnlyKeyValueStore<K, V> {
    /// The partitions this view reads, ascending.
    pub fn partitions(&self) -> Vec<i32> {
        self.parts.iter().map(|p| p.partition).collect()
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        first_found(&self.parts, key, |bytes, key| bytes.get(key))
    }

    fn scan(&self, from: Option<&K>, to: Option<&K>, reverse: bool) -> Result<QueryIter<(K, V)>> {
        let from = from
            .map(|k| key_bytes(&self.parts, k))
            .transpose()?
            .flatten();
        let to = to.map(|k| key_bytes(&self.parts, k)).transpose()?.flatten();
        let mut parts = self.parts.clone();
        if reverse {
            parts.reverse();
        }
        Ok(chained(&parts, move |part| {
            let iter = part.bytes.range(from.as_deref(), to.as_deref(), reverse);
            Ok(decoded(part, iter))
        }))
    }

    /// Entries with `from <= key <= to` in the byte order of the serialized keys (`None`:
    /// open end); nothing when `from` is after `to`.
    pub fn range(&self, from: Option<&K>, to: Option<&K>) -> Result<QueryIter<(K, V)>> {
        self.scan(from, to, false)
    }

    /// [`Self::range`] in reverse order (partitions in reverse too).
    pub fn reverse_range(&self, from: Option<&K>, to: Option<&K>) -> Result<QueryIter<(K, V)>> {
        self.scan(from, to, true)
    }

    /// Every entry.
    pub fn all(&self) -> Result<QueryIter<(K, V)>> {
        self.scan(None, None, false)
    }

    /// Every entry, in reverse order.
    pub fn reverse_all(&self) -> Result<QueryIter<(K, V)>> {
        self.scan(None, None, true)
    }

    /// Entries whose serialized key starts with `prefix` serialized by `prefix_serde`
    /// (Kafka Streams' `prefixScan`).
    pub fn prefix_scan<P: 'static>(
        &self,
        prefix: &P,
        prefix_serde: &dyn Serde<P>,
    ) -> Result<QueryIter<(K, V)>> {
        let Some(first) = self.parts.first() else {
            return Ok(Box::new(std::iter::empty()));
        };
        let prefix = Arc::new(encode(&first.name, prefix_serde, prefix)?);
        Ok(chained(&self.parts, move |part| {
            Ok(decoded(part, part.bytes.prefix_scan(&prefix)))
        }))
    }

    /// RocksDB's estimate of the number of entries, summed over the partitions.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        let mut total = 0u64;
        for part in &self.parts {
            total = total.saturating_add(
                part.bytes
                    .approximate_num_entries()
                    .map_err(|e| part.locate(e))?,
            );
        }
        Ok(total)
    }
}

/// A read-only window view (Kafka Streams' `ReadOnlyWindowStore`). Time ranges are
/// inclusive and select windows by their start.
pub struct ReadOnlyWindowStore<K, V> {
    parts: Vec<Part<CommittedWindows, K, V>>,
}

impl<K: Send + 'static, V: Send + 'static> ReadOnlyWindowStore<K, V> {
    /// The partitions this view reads, ascending.
    pub fn partitions(&self) -> Vec<i32> {
        self.parts.iter().map(|p| p.partition).collect()
    }

    /// The value of `key` in the window starting at `window_start`.
    pub fn fetch(&self, key: &K, window_start: i64) -> Result<Option<V>> {
        first_found(&self.parts, key, |bytes, key| {
            bytes.fetch(key, window_start)
        })
    }

    fn of_key(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
        reverse: bool,
    ) -> Result<QueryIter<(i64, V)>> {
        let key = key_bytes(&self.parts, key)?.unwrap_or_default();
        Ok(chained(&self.parts, move |part| {
            let found = part.bytes.fetch_range(&key, time_from, time_to, reverse)?;
            let part = part.clone();
            Ok(Box::new(
                found
                    .into_iter()
                    .map(move |(start, v)| Ok((start, part.decode(&v)?))),
            ))
        }))
    }

    /// `key`'s windows starting in `[time_from, time_to]` as `(window start, value)`,
    /// oldest first.
    pub fn fetch_range(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
    ) -> Result<QueryIter<(i64, V)>> {
        self.of_key(key, time_from, time_to, false)
    }

    /// [`Self::fetch_range`], newest first.
    pub fn backward_fetch_range(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
    ) -> Result<QueryIter<(i64, V)>> {
        self.of_key(key, time_from, time_to, true)
    }

    /// The windows starting in `[time_from, time_to]` of keys in `[key_from, key_to]`
    /// (`None`: open end), segment by segment, each in the byte order of the keys.
    pub fn fetch_key_range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
        time_from: i64,
        time_to: i64,
    ) -> Result<QueryIter<(Windowed<K>, V)>> {
        let from = key_from
            .map(|k| key_bytes(&self.parts, k))
            .transpose()?
            .flatten();
        let to = key_to
            .map(|k| key_bytes(&self.parts, k))
            .transpose()?
            .flatten();
        Ok(chained(&self.parts, move |part| {
            let found =
                part.bytes
                    .fetch_key_range(from.as_deref(), to.as_deref(), time_from, time_to)?;
            let size = part.bytes.window_size_ms();
            let part = part.clone();
            Ok(Box::new(found.into_iter().map(move |(k, start, v)| {
                let window = Window::new(start, start.saturating_add(size));
                Ok((
                    Windowed::new(part.decode_key(&k)?, window),
                    part.decode(&v)?,
                ))
            })))
        }))
    }

    /// Every window starting in `[time_from, time_to]`.
    pub fn fetch_all(&self, time_from: i64, time_to: i64) -> Result<QueryIter<(Windowed<K>, V)>> {
        self.fetch_key_range(None, None, time_from, time_to)
    }

    /// Every window the store keeps.
    pub fn all(&self) -> Result<QueryIter<(Windowed<K>, V)>> {
        self.fetch_key_range(None, None, 0, i64::MAX)
    }
}

/// A read-only session view (Kafka Streams' `ReadOnlySessionStore`). A session's window is
/// `[start, end]`, both inclusive.
pub struct ReadOnlySessionStore<K, V> {
    parts: Vec<Part<CommittedSessions, K, V>>,
}

impl<K: Send + 'static, V: Send + 'static> ReadOnlySessionStore<K, V> {
    /// The partitions this view reads, ascending.
    pub fn partitions(&self) -> Vec<i32> {
        self.parts.iter().map(|p| p.partition).collect()
    }

    /// The value of exactly the session `[start, end]` of `key`.
    pub fn fetch_session(&self, key: &K, start: i64, end: i64) -> Result<Option<V>> {
        first_found(&self.parts, key, |bytes, key| {
            bytes.fetch_session(key, start, end)
        })
    }

    /// The sessions of `key` ending at or after `earliest_end` and starting at or before
    /// `latest_start`, by end then start (newest first with [`Self::backward_find_sessions`]).
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<QueryIter<(Windowed<K>, V)>> {
        self.sessions(key, earliest_end, latest_start, false)
    }

    /// [`Self::find_sessions`], newest first.
    pub fn backward_find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<QueryIter<(Windowed<K>, V)>> {
        self.sessions(key, earliest_end, latest_start, true)
    }

    /// Every session of `key` the store keeps, oldest first.
    pub fn fetch(&self, key: &K) -> Result<QueryIter<(Windowed<K>, V)>> {
        self.sessions(key, 0, i64::MAX, false)
    }

    /// Every session of `key` the store keeps, newest first.
    pub fn backward_fetch(&self, key: &K) -> Result<QueryIter<(Windowed<K>, V)>> {
        self.sessions(key, 0, i64::MAX, true)
    }

    fn sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
        reverse: bool,
    ) -> Result<QueryIter<(Windowed<K>, V)>> {
        let key = key_bytes(&self.parts, key)?.unwrap_or_default();
        Ok(chained(&self.parts, move |part| {
            let found = part
                .bytes
                .find_sessions(&key, earliest_end, latest_start, reverse)?;
            let part = part.clone();
            Ok(Box::new(found.into_iter().map(
                move |(k, start, end, v)| {
                    let window = Window::new(start, end);
                    Ok((
                        Windowed::new(part.decode_key(&k)?, window),
                        part.decode(&v)?,
                    ))
                },
            )))
        }))
    }
}
