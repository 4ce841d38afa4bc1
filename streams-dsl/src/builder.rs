//! `StreamsBuilder`: where a DSL topology starts (`stream`, `table`, `global_table`,
//! `add_state_store`) and is built.

use streams_core::{Result, StreamsError, Topology};

use streams_core::serde::NaturalSerde;

use crate::options::Consumed;
use crate::shared::{Inner, Shared};
use crate::stream::KStream;

/// Builds a topology with the DSL: streams from topics, operations on them, and `build()`
/// to get a [`Topology`] to run.
///
/// Node names are generated as Kafka Streams generates them (`KSTREAM-FILTER-0000000001`:
/// prefix and a counter shared by all nodes and stores), so `describe()` reads the same.
/// Misuse (a missing serde, a store name used twice, bad window sizes) is reported by
/// [`Self::build`], with the first problem found.
///
/// Types with a natural serde ([`NaturalSerde`]: strings, integers, floats, bytes, `Option`s
/// of them, and the types opted in to JSON) need no serde spelled out; every operation has a
/// `_with` form that takes them explicitly (`stream_with`, `to_with`, `count_with`, ...).
///
/// ```
/// use streams_dsl::StreamsBuilder;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<Option<String>, String>(&["lines"]) // keys may be null
///     .flat_map_values(|line| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
///     .group_by(|_, word| word.clone())
///     .count()
///     .to_stream()
///     .to("word-counts");
/// let topology = builder.build().unwrap();
/// assert!(topology.describe().to_string().contains("(topic: word-counts)"));
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
    ///
    /// ```
    /// let builder = streams_dsl::StreamsBuilder::new();
    /// builder.stream::<String, String>(&["in"]).to("out");
    /// assert_eq!(builder.build()?.subtopologies().len(), 1);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn new() -> Self {
        StreamsBuilder {
            inner: Inner::shared(),
        }
    }

    /// A stream of the records of `topics`, keys and values read with their types' natural
    /// serdes: `builder.stream::<Option<String>, String>(&["lines"])` (an `Option` key for
    /// a topic whose keys may be null).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("a"), s("x"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn stream<K, V>(&self, topics: &[&str]) -> KStream<K, V>
    where
        K: NaturalSerde + Clone,
        V: NaturalSerde + Clone,
    {
        self.stream_with(topics, Consumed::default())
    }

    /// A stream of the records of `topics`, read with the serdes of `consumed`.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream_with(&["in"], Consumed::with(Nullable(StringSerde), StringSerde).with_name("lines"))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("in", Nullable(StringSerde), StringSerde).pipe(None, s("x"), 1)?;
    /// assert_eq!(d.output_topic("out", Nullable(StringSerde), StringSerde).read_key_values_with_time()?, vec![(None, s("x"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn stream_with<K, V>(&self, topics: &[&str], consumed: Consumed<K, V>) -> KStream<K, V>
    where
        K: Clone + 'static,
        V: Clone + 'static,
    {
        let mut inner = self.inner.borrow_mut();
        let name = inner.node_name(consumed.name.as_deref(), "KSTREAM-SOURCE");
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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use state_stores::KeyValueStoreBuilder;
    /// use state_stores::typed::TypedKeyValueStore;
    /// use streams_core::processor::{from_stores, Processor, ProcessorContext, ProcessorError};
    /// use streams_core::store::StoreHandle;
    /// use streams_core::Record;
    ///
    /// /// Numbers each key's records, keeping the last number in store `seen`.
    /// struct Numbering {
    ///     seen: StoreHandle<TypedKeyValueStore<String, i64>>,
    /// }
    /// impl Processor<String, String, String, i64> for Numbering {
    ///     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, i64>, r: Record<String, String>) -> Result<(), ProcessorError> {
    ///         let n = self.seen.borrow().get(&r.key)?.unwrap_or(0) + 1;
    ///         self.seen.borrow_mut().put(&r.key, &n)?;
    ///         ctx.forward(r.with_value(n))?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let b = StreamsBuilder::new();
    /// b.add_state_store(KeyValueStoreBuilder::in_memory("seen", StringSerde, I64Serde));
    /// b.stream::<String, String>(&["in"])
    ///     .process_with_stores(from_stores(|s| Ok(Numbering { seen: s.state_store("seen")? })), &["seen"])
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// input.pipe(s("a"), s("y"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, I64Serde).read_key_values_with_time()?, vec![(s("a"), 1, 1), (s("a"), 2, 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"]).to("out");
    /// let topology = b.build()?;
    /// assert!(topology.describe().to_string().contains("Source: KSTREAM-SOURCE-0000000000 (topics: [in])"));
    /// assert!(b.build().is_err(), "a builder builds once");
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn build(&self) -> Result<Topology> {
        self.inner.borrow_mut().finish()
    }
}
