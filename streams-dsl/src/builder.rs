//! `StreamsBuilder` and the option types the DSL takes (`Consumed`, `Produced`, `Grouped`,
//! `Materialized`).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use state_stores::StoreKind;
use streams_core::serde::{Serde, SharedSerde};
use streams_core::{Result, StreamsError, Topology};

use crate::stream::KStream;

/// The builder state every stream and table of one `StreamsBuilder` shares: the topology
/// being built, the name counter, and the first misuse found.
pub(crate) struct Inner {
    pub(crate) topology: Topology,
    counter: usize,
    error: Option<StreamsError>,
    store_names: Vec<String>,
    built: bool,
}

/// A shared handle on [`Inner`].
pub(crate) type Shared = Rc<RefCell<Inner>>;

impl Inner {
    /// `<prefix>-<10-digit counter>`, the counter shared by every node and store name.
    pub(crate) fn new_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}-{:010}", self.counter);
        self.counter += 1;
        name
    }

    /// The user's name if given, else a generated one.
    pub(crate) fn name(&mut self, given: Option<&str>, prefix: &str) -> String {
        match given {
            Some(n) => n.to_owned(),
            None => self.new_name(prefix),
        }
    }

    /// Keeps the first error; `build()` returns it.
    pub(crate) fn fail(&mut self, e: StreamsError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Runs a topology change, keeping its error for `build()`.
    pub(crate) fn apply(&mut self, f: impl FnOnce(&mut Topology) -> Result<()>) {
        if self.built {
            // build() reports this on a second call; the topology handed out is complete.
            self.fail(StreamsError::Topology(
                "an operation was added after build(); build a new StreamsBuilder".into(),
            ));
            return;
        }
        if self.error.is_some() {
            return;
        }
        if let Err(e) = f(&mut self.topology) {
            self.fail(e);
        }
    }

    /// Claims a store name, failing on a second use.
    pub(crate) fn claim_store(&mut self, name: &str) {
        if self.store_names.iter().any(|n| n == name) {
            self.fail(StreamsError::Topology(format!(
                "the store name `{name}` is used twice; every store needs its own name"
            )));
        } else {
            self.store_names.push(name.to_owned());
        }
    }
}

/// Builds a topology with the DSL: streams from topics, operations on them, and `build()`
/// to get a [`Topology`] to run.
///
/// Node names are generated as Kafka Streams generates them (`KSTREAM-FILTER-0000000001`:
/// prefix and a counter shared by all nodes and stores), so `describe()` reads the same.
/// Misuse (a missing serde, a store name used twice, bad window sizes) is reported by
/// [`Self::build`], with the first problem found.
///
/// ```
/// use streams_core::serde::{I64Serde, StringSerde};
/// use streams_dsl::{Consumed, Materialized, Produced, StreamsBuilder};
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream(&["words"], Consumed::with(StringSerde, StringSerde))
///     .filter(|_, word| !word.is_empty())
///     .group_by_key()
///     .count(Materialized::as_store("counts"))
///     .to_stream()
///     .to("word-counts", Produced::with(StringSerde, streams_core::serde::Nullable(I64Serde)));
/// let topology = builder.build().unwrap();
/// assert!(topology.describe().to_string().contains("(stores: [counts])"));
/// ```
pub struct StreamsBuilder {
    inner: Shared,
}

impl Default for StreamsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for StreamsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsBuilder").finish_non_exhaustive()
    }
}

impl StreamsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        StreamsBuilder {
            inner: Rc::new(RefCell::new(Inner {
                topology: Topology::new(),
                counter: 0,
                error: None,
                store_names: Vec::new(),
                built: false,
            })),
        }
    }

    /// A stream of the records of `topics`, read with the serdes of `consumed`.
    pub fn stream<K, V>(&self, topics: &[&str], consumed: Consumed<K, V>) -> KStream<K, V>
    where
        K: Clone + 'static,
        V: Clone + 'static,
    {
        let mut inner = self.inner.borrow_mut();
        let name = inner.name(consumed.name.as_deref(), "KSTREAM-SOURCE");
        if topics.is_empty() {
            inner.fail(StreamsError::Topology(format!(
                "stream `{name}` needs at least one topic"
            )));
        }
        let (k, v) = (consumed.key_serde.clone(), consumed.value_serde.clone());
        let options = consumed.options.clone();
        inner.apply(|t| t.add_source_with(&name, topics, k, v, options).map(|_| ()));
        drop(inner);
        KStream::new(
            self.inner.clone(),
            name,
            Some(consumed.key_serde),
            Some(consumed.value_serde),
        )
    }

    /// Adds a state store for Processor API nodes added with
    /// [`KStream::process_with_stores`] (Kafka Streams' `addStateStore`). Its changelog, if
    /// the builder asks for one, is created and restored like those of DSL stores.
    pub fn add_state_store(&self, builder: impl streams_core::store::StoreBuilder) {
        let mut inner = self.inner.borrow_mut();
        inner.claim_store(builder.name());
        inner.apply(|t| t.add_state_store(builder, &[]).map(|_| ()));
    }

    /// The state shared with the streams and tables of this builder.
    pub(crate) fn shared(&self) -> Shared {
        self.inner.clone()
    }

    /// The topology, or the first misuse found while building it. A builder builds once:
    /// operations on its streams afterwards, and a second `build()`, are errors.
    pub fn build(&self) -> Result<Topology> {
        let mut inner = self.inner.borrow_mut();
        if inner.built {
            return Err(StreamsError::Topology(
                "this StreamsBuilder already built its topology; use a new builder".into(),
            ));
        }
        inner.built = true;
        match inner.error.take() {
            Some(e) => Err(e),
            None => Ok(std::mem::take(&mut inner.topology)),
        }
    }
}

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

/// How a stream is written: key and value serdes, and optionally the sink node's name.
pub struct Produced<K, V> {
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) name: Option<String>,
}

impl<K: 'static, V: 'static> Produced<K, V> {
    /// Writes keys and values with these serdes.
    pub fn with(key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Produced {
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
            name: None,
        }
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
}

/// Where an aggregation keeps its table: store name, in memory or RocksDB (the default),
/// changelog on (the default) or off, and the serdes of its keys and values.
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

    /// How long a windowed aggregation keeps its windows (default: window size plus grace;
    /// it must be at least that). Ignored by non-windowed aggregations.
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention = Some(retention);
        self
    }
}
