//! The option types DSL operations take: how a stream is read ([`Consumed`]) and written
//! ([`Produced`]), how it is grouped ([`Grouped`]) or repartitioned ([`Repartitioned`]), and
//! where an aggregation or a table keeps its rows ([`Materialized`]). They are plain values
//! with consuming `with_*` setters.

use std::sync::Arc;

use state_stores::StoreKind;
use streams_core::serde::{NaturalSerde, Serde, SharedSerde};

/// How a stream is read: key and value serdes, and optionally the source node's name.
pub struct Consumed<K, V> {
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) name: Option<String>,
    pub(crate) options: streams_core::SourceOptions,
}

impl<K: 'static, V: 'static> Consumed<K, V> {
    /// Reads keys and values with these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Consumed {
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
            name: None,
            options: Default::default(),
        }
    }

    /// Reads timestamps with `extractor` instead of the configured default.
    ///
    /// Unlike Kafka Streams' extractors, which see the deserialized key and value, ours sees
    /// the record's bytes ([`RawRecord`](streams_core::record::RawRecord)), because records
    /// are ordered by timestamp before they are deserialized; an extractor reading a field
    /// of a JSON value parses it once more (`serde_json::from_slice` of just that field, into
    /// a struct with only it, is the cheap way). A change of the timestamp by the topology's
    /// first node is the other way (`process_values` forwarding with
    /// `FixedKeyRecord::with_timestamp`), but it comes after the records were ordered by their
    /// own timestamps.
    pub fn with_timestamp_extractor(
        mut self,
        extractor: impl streams_core::timestamp::TimestampExtractor,
    ) -> Self {
        self.options.timestamp_extractor = Some(Arc::new(extractor));
        self
    }

    /// Where to start a partition the application has no committed offset for.
    pub fn with_offset_reset(mut self, reset: streams_core::OffsetReset) -> Self {
        self.options.offset_reset = Some(reset);
        self
    }

    /// Names the source node instead of `KSTREAM-SOURCE-<n>`.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

/// Reads keys and values with their types' natural serdes ([`NaturalSerde`]), for the other
/// options: `Consumed::<String, i64>::default().with_offset_reset(..)`.
impl<K: NaturalSerde, V: NaturalSerde> Default for Consumed<K, V> {
    fn default() -> Self {
        Consumed {
            key_serde: K::natural_serde(),
            value_serde: V::natural_serde(),
            name: None,
            options: Default::default(),
        }
    }
}

/// How a stream is written: key and value serdes (the stream's own where not given), and
/// optionally the sink node's name and a partitioner.
pub struct Produced<K, V> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) name: Option<String>,
    pub(crate) partitioner: Option<StreamPartitioner<K, V>>,
}

/// Chooses a record's partition (Kafka Streams' `StreamPartitioner`): from the topic, the
/// key, the value and the topic's partition count; `None` leaves it to the default (murmur2
/// of the serialized key, as the Java client).
pub type StreamPartitioner<K, V> = Arc<dyn Fn(&str, &K, &V, i32) -> Option<i32> + Send + Sync>;

impl<K: 'static, V: 'static> Default for Produced<K, V> {
    fn default() -> Self {
        Produced {
            key_serde: None,
            value_serde: None,
            name: None,
            partitioner: None,
        }
    }
}

impl<K: 'static, V: 'static> Produced<K, V> {
    /// Writes keys and values with these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Produced {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            name: None,
            partitioner: None,
        }
    }

    /// Writes with the stream's own serdes, for the other options:
    /// `Produced::new().with_name(..)`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes keys with `serde` (values with the stream's own, unless given).
    pub fn with_key_serde(mut self, serde: impl Serde<K>) -> Self {
        self.key_serde = Some(Arc::new(serde));
        self
    }

    /// Writes values with `serde` (keys with the stream's own, unless given).
    pub fn with_value_serde(mut self, serde: impl Serde<V>) -> Self {
        self.value_serde = Some(Arc::new(serde));
        self
    }

    /// Chooses each record's partition with `partitioner(topic, key, value,
    /// partition_count)`, which must return a partition in `0..partition_count` or `None`.
    /// Applications reading the topic as a table or joining it expect the default
    /// partitioning, as in Kafka Streams.
    pub fn with_stream_partitioner(
        mut self,
        partitioner: impl Fn(&str, &K, &V, i32) -> Option<i32> + Send + Sync + 'static,
    ) -> Self {
        self.partitioner = Some(Arc::new(partitioner));
        self
    }

    /// Names the sink node instead of `KSTREAM-SINK-<n>`.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

/// The serdes a grouping uses (for its store and, once a key changed, its repartition topic).
/// Without them, the stream's own serdes are used where known.
pub struct Grouped<K, V> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) name: Option<String>,
}

impl<K: 'static, V: 'static> Default for Grouped<K, V> {
    fn default() -> Self {
        Grouped {
            key_serde: None,
            value_serde: None,
            name: None,
        }
    }
}

impl<K: 'static, V: 'static> Grouped<K, V> {
    /// Groups with these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Grouped {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            name: None,
        }
    }

    /// Names the repartition topic `<application.id>-<name>-repartition` (and its nodes)
    /// instead of naming it after the aggregation's store.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Keys with `serde` unless a key serde was given.
    pub(crate) fn or_key_serde(mut self, serde: SharedSerde<K>) -> Self {
        self.key_serde.get_or_insert(serde);
        self
    }

    /// Values with `serde` unless a value serde was given.
    pub(crate) fn or_value_serde(mut self, serde: SharedSerde<V>) -> Self {
        self.value_serde.get_or_insert(serde);
        self
    }
}

/// Where an aggregation or a table keeps its rows: store name, in memory or RocksDB (the
/// default), changelog on (the default) or off, and the serdes of its keys and values.
pub struct Materialized<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) kind: StoreKind,
    pub(crate) logging: bool,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) retention: Option<std::time::Duration>,
}

impl<K: 'static, V: 'static> Default for Materialized<K, V> {
    fn default() -> Self {
        Materialized {
            name: None,
            kind: StoreKind::RocksDb,
            logging: true,
            key_serde: None,
            value_serde: None,
            retention: None,
        }
    }
}

impl<K: 'static, V: 'static> Materialized<K, V> {
    /// A RocksDB store with a generated name, logged, with the upstream serdes.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store named `name` (also the name of its changelog: `<application.id>-<name>-changelog`).
    pub fn as_store(name: &str) -> Self {
        Materialized {
            name: Some(name.to_owned()),
            ..Self::default()
        }
    }

    /// Keeps the store in memory instead of RocksDB.
    pub fn in_memory(mut self) -> Self {
        self.kind = StoreKind::InMemory;
        self
    }

    /// Turns the store's changelog off.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// The serde of the store's keys.
    pub fn with_key_serde(mut self, serde: impl Serde<K>) -> Self {
        self.key_serde = Some(Arc::new(serde));
        self
    }

    /// The serde of the store's values.
    pub fn with_value_serde(mut self, serde: impl Serde<V>) -> Self {
        self.value_serde = Some(Arc::new(serde));
        self
    }

    /// How long a windowed aggregation keeps its windows. The default, and the least allowed,
    /// is the window size plus grace; for sliding windows twice the time difference plus
    /// grace; for sessions the inactivity gap plus grace. Ignored by non-windowed
    /// aggregations and tables.
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// The same, with `serde` as the store's value serde unless one was given.
    pub(crate) fn or_value_serde(self, serde: Option<SharedSerde<V>>) -> Self {
        Materialized {
            value_serde: self.value_serde.or(serde),
            ..self
        }
    }

    /// `store` with its changelog as asked: on unless [`Self::with_logging_disabled`].
    pub(crate) fn changelog<S: Changelogged>(&self, store: S) -> S {
        if self.logging {
            store
        } else {
            store.without_changelog()
        }
    }
}

/// A store builder whose changelog [`Materialized`] can turn off.
pub(crate) trait Changelogged {
    /// The same store without a changelog.
    fn without_changelog(self) -> Self;
}

macro_rules! changelogged {
    ($($builder:ident),*) => {$(
        impl<K: 'static, V: 'static> Changelogged for state_stores::$builder<K, V> {
            fn without_changelog(self) -> Self {
                self.with_logging_disabled()
            }
        }
    )*};
}

changelogged!(
    KeyValueStoreBuilder,
    WindowStoreBuilder,
    SessionStoreBuilder
);

/// How [`KStream::repartition`](crate::KStream::repartition) writes its topic: serdes and the topic's base name.
pub struct Repartitioned<K, V> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) name: Option<String>,
    pub(crate) partitions: Option<usize>,
}

impl<K: 'static, V: 'static> Default for Repartitioned<K, V> {
    fn default() -> Self {
        Repartitioned {
            key_serde: None,
            value_serde: None,
            name: None,
            partitions: None,
        }
    }
}

impl<K: 'static, V: 'static> Repartitioned<K, V> {
    /// With these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Repartitioned {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            name: None,
            partitions: None,
        }
    }

    /// Names the topic `<application.id>-<name>-repartition`.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Creates the topic with `partitions` partitions instead of as many as the largest
    /// input topic of the sub-topology writing it; the tasks reading it follow. A count that
    /// breaks co-partitioning (the topic is read together with topics of another count: a
    /// join, say) fails the start with an error naming both topics; 0 is refused when the
    /// topology is built.
    pub fn with_number_of_partitions(mut self, partitions: usize) -> Self {
        self.partitions = Some(partitions);
        self
    }
}
