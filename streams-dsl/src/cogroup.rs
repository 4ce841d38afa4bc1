//! `cogroup`: several grouped streams, each with its own value type and aggregator, folded
//! into one aggregate per key kept in one store (Kafka Streams' `CogroupedKStream`).
//!
//! Lowered as Kafka Streams lowers it: the store's name first
//! (`COGROUPKSTREAM-AGGREGATE-STATE-STORE-<n>` unless named), then a repartition topic for each
//! input whose key changed, then one `COGROUPKSTREAM-AGGREGATE-<n>` processor per input, all
//! on the one store, and a `COGROUPKSTREAM-MERGE-<n>` node the table hangs off. Sharing the
//! store puts every input in one sub-topology, so their topics must be co-partitioned
//! (checked at start, as for joins).

use std::sync::Arc;

use streams_core::StreamsError;
use streams_core::serde::{NaturalSerde, SharedSerde, builtin_serde};

use streams_core::store::StoreBuilder;

use crate::aggregation::aggregate_fold;
use crate::grouped::{AggregateProcessor, KGroupedStream};
use crate::options::Materialized;
use crate::session::{Merger, SessionAggregateProcessor};
use crate::shared::{Inner, Shared};
use crate::store_slot::StoreSlot;
use crate::stream::PassThrough;
use crate::table::{Change, KTable};
use crate::timestamped::timestamped_store;
use crate::window_emit::EmitProgress;
use crate::windowed::Checked;
use crate::windows::EmitStrategy;

/// What a cogroup's processors fold records into.
pub(crate) enum Folding<K, A> {
    /// One aggregate per key.
    Keys,
    /// One aggregate per key and time (fixed or sliding) window.
    Windows(Checked),
    /// One aggregate per key and session; merging sessions combine their aggregates with
    /// `merger`.
    Sessions {
        gap: i64,
        grace: i64,
        merger: Arc<Merger<K, A>>,
    },
}

impl<K, A> Clone for Folding<K, A> {
    fn clone(&self) -> Self {
        match self {
            Folding::Keys => Folding::Keys,
            Folding::Windows(w) => Folding::Windows(*w),
            Folding::Sessions { gap, grace, merger } => Folding::Sessions {
                gap: *gap,
                grace: *grace,
                merger: merger.clone(),
            },
        }
    }
}

/// Folds a record of one input into the aggregate.
type Aggregator<K, V, A> = dyn Fn(&K, V, A) -> A + Send + Sync;

/// One input of a cogroup, its value type erased.
trait Input<K, A> {
    /// The node its processor reads: the stream, or a repartition topic's source named after
    /// `store` when the key changed (a name given by `Grouped::with_name` wins).
    fn parent(&self, inner: &mut Inner, store: &str) -> String;

    /// The repartition topic `parent` would read, if any.
    fn repartition_topic(&self, store: &str) -> Option<String>;

    /// Adds its processor `nodes.0` reading `nodes.1`, folding into store `nodes.2` from
    /// `initializer` as `folding` says.
    fn add_processor(
        &self,
        inner: &mut Inner,
        nodes: (&str, &str, &str),
        initializer: Arc<dyn Fn() -> A + Send + Sync>,
        folding: Folding<K, A>,
    );

    /// The grouped stream's key serde, when known.
    fn key_serde(&self) -> Option<SharedSerde<K>>;
}

struct GroupedInput<K, V, A> {
    grouped: KGroupedStream<K, V>,
    aggregator: Arc<Aggregator<K, V, A>>,
}

impl<K, V, A> Input<K, A> for GroupedInput<K, V, A>
where
    K: Clone + 'static,
    V: Clone + 'static,
    A: Clone + 'static,
{
    fn parent(&self, inner: &mut Inner, store: &str) -> String {
        self.grouped.aggregation_parent(inner, store)
    }

    fn repartition_topic(&self, store: &str) -> Option<String> {
        let base = self.grouped.name.as_deref().unwrap_or(store);
        self.grouped
            .stream
            .key_changed
            .then(|| format!("{base}-repartition"))
    }

    fn add_processor(
        &self,
        inner: &mut Inner,
        (name, parent, store): (&str, &str, &str),
        initializer: Arc<dyn Fn() -> A + Send + Sync>,
        folding: Folding<K, A>,
    ) {
        let aggregator = self.aggregator.clone();
        let first = initializer.clone();
        let fold = aggregate_fold(move || initializer(), move |k, v, a| aggregator(k, v, a));
        let store = store.to_owned();
        let value_serde = self.grouped.value_serde.clone();
        inner.apply(|t| {
            match folding {
                Folding::Keys => t.add_processor(
                    name,
                    move || AggregateProcessor {
                        fold: fold.clone(),
                        store: StoreSlot::new(&store),
                        value_serde: value_serde.clone(),
                    },
                    &[parent],
                )?,
                // As Kafka Streams, a windowed cogroup emits every update.
                Folding::Windows(windows) => t.add_processor(
                    name,
                    move || {
                        windows.processor(
                            StoreSlot::new(&store),
                            EmitStrategy::OnWindowUpdate,
                            fold.clone(),
                            EmitProgress::new(None),
                            value_serde.clone(),
                        )
                    },
                    &[parent],
                )?,
                Folding::Sessions { gap, grace, merger } => t.add_processor(
                    name,
                    move || SessionAggregateProcessor {
                        gap,
                        grace,
                        fold: fold.clone(),
                        init: Arc::new({
                            let first = first.clone();
                            move || Some(first())
                        }),
                        merger: merger.clone(),
                        store: StoreSlot::new(&store),
                        observed: -1,
                        emit: EmitStrategy::OnWindowUpdate,
                        progress: EmitProgress::new(None),
                    },
                    &[parent],
                )?,
            };
            Ok(())
        });
    }

    fn key_serde(&self) -> Option<SharedSerde<K>> {
        self.grouped.key_serde.clone()
    }
}

/// Grouped streams cogrouped into one aggregate per key: made by
/// [`KGroupedStream::cogroup`], extended by [`Self::cogroup`], and turned into a table by
/// [`Self::aggregate`]. Each input keeps its own value type and aggregator; they share the
/// initializer and the store. Records of every input update the same row in the order they
/// are processed, and each update is forwarded (no record cache: see `docs/architecture.md`).
///
/// ```
/// use streams_core::serde::{I64Serde, Nullable, StringSerde};
/// use streams_core::test_driver::TopologyTestDriver;
/// use streams_core::StreamsConfig;
/// use streams_dsl::StreamsBuilder;
///
/// // A score per customer: a click adds 1, a purchase its amount, a refund takes its amount.
/// let b = StreamsBuilder::new();
/// let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
/// let purchases = b.stream::<String, i64>(&["purchases"]).group_by_key();
/// let refunds = b.stream::<String, i64>(&["refunds"]).group_by_key();
/// clicks
///     .cogroup(|_, _page, score: i64| score + 1)
///     .cogroup(&purchases, |_, amount, score| score + amount)
///     .cogroup(&refunds, |_, amount, score| score - amount)
///     .aggregate(|| 0)
///     .to_stream()
///     .to("scores");
/// let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("scores", "unused:9092"))?;
/// d.input_topic("clicks", StringSerde, StringSerde).pipe("ann".into(), "/".into(), 1)?;
/// d.input_topic("purchases", StringSerde, I64Serde).pipe("ann".into(), 40, 2)?;
/// d.input_topic("refunds", StringSerde, I64Serde).pipe("ann".into(), 15, 3)?;
/// let scores = d.output_topic("scores", StringSerde, Nullable(I64Serde));
/// assert_eq!(
///     scores.read_key_values_with_time()?,
///     vec![("ann".into(), Some(1), 1), ("ann".into(), Some(41), 2), ("ann".into(), Some(26), 3)]
/// );
/// # Ok::<(), streams_core::StreamsError>(())
/// ```
pub struct CogroupedKStream<K, A> {
    pub(crate) builder: Shared,
    inputs: Vec<Box<dyn Input<K, A>>>,
}

impl<K, V> KGroupedStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Starts a cogroup with this grouped stream, whose records fold into the aggregate with
    /// `aggregator(key, value, aggregate)`; add more inputs with
    /// [`CogroupedKStream::cogroup`].
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    /// let buys = b.stream::<String, String>(&["buys"]).group_by_key();
    /// clicks
    ///     .cogroup(|_, _, n: i64| n + 1)
    ///     .cogroup(&buys, |_, _, n| n + 10)
    ///     .aggregate(|| 0)
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("clicks", StringSerde, StringSerde).pipe(s("ann"), s("/"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 2_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann"), Some(1), 1_000), (s("ann"), Some(11), 2_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn cogroup<A: Clone + 'static>(
        &self,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
    ) -> CogroupedKStream<K, A> {
        CogroupedKStream {
            builder: self.stream.builder.clone(),
            inputs: Vec::new(),
        }
        .cogroup(self, aggregator)
    }
}

impl<K, A> CogroupedKStream<K, A>
where
    K: Clone + 'static,
    A: Clone + 'static,
{
    /// Adds `grouped`, whose records fold into the aggregate with `aggregator(key, value,
    /// aggregate)`.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    /// let buys = b.stream::<String, String>(&["buys"]).group_by_key();
    /// clicks
    ///     .cogroup(|_, _, n: i64| n + 1)
    ///     .cogroup(&buys, |_, _, n| n + 10)
    ///     .aggregate(|| 0)
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("clicks", StringSerde, StringSerde).pipe(s("ann"), s("/"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 2_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann"), Some(1), 1_000), (s("ann"), Some(11), 2_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn cogroup<V: Clone + 'static>(
        mut self,
        grouped: &KGroupedStream<K, V>,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
    ) -> Self {
        self.inputs.push(Box::new(GroupedInput {
            grouped: grouped.clone(),
            aggregator: Arc::new(aggregator),
        }));
        self
    }

    /// The aggregates, from `initializer()` for a new key, in a store with a generated name;
    /// the aggregate with its natural serde. See [`Self::aggregate_with`].
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    /// let buys = b.stream::<String, String>(&["buys"]).group_by_key();
    /// clicks
    ///     .cogroup(|_, _, n: i64| n + 1)
    ///     .cogroup(&buys, |_, _, n| n + 10)
    ///     .aggregate(|| 0)
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("clicks", StringSerde, StringSerde).pipe(s("ann"), s("/"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 2_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann"), Some(1), 1_000), (s("ann"), Some(11), 2_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate(&self, initializer: impl Fn() -> A + Send + Sync + 'static) -> KTable<K, A>
    where
        A: NaturalSerde,
    {
        self.aggregate_with(
            initializer,
            Materialized::new().or_value_serde(Some(A::natural_serde())),
        )
    }

    /// The aggregates, from `initializer()` for a new key, kept as `materialized` says: keys
    /// with its key serde or the first input's that is known, values with its value serde
    /// or the aggregate's built-in one.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let clicks = b.stream::<String, String>(&["clicks"]).group_by_key();
    /// let buys = b.stream::<String, String>(&["buys"]).group_by_key();
    /// clicks
    ///     .cogroup(|_, _, n: i64| n + 1)
    ///     .cogroup(&buys, |_, _, n| n + 10)
    ///     .aggregate_with(|| 0, Materialized::as_store("activity").with_value_serde(I64Serde))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("clicks", StringSerde, StringSerde).pipe(s("ann"), s("/"), 1_000)?;
    /// d.input_topic("buys", StringSerde, StringSerde).pipe(s("ann"), s("b1"), 2_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann"), Some(1), 1_000), (s("ann"), Some(11), 2_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate_with(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<K, A> {
        self.lower(
            Arc::new(initializer),
            &materialized,
            Folding::Keys,
            |_, store, k, a| {
                Some(materialized.changelog(timestamped_store(
                    store,
                    materialized.kind,
                    k.clone(),
                    a.clone(),
                )))
            },
            |k| k.clone(),
        )
    }

    /// Lowers the cogroup: the store's name, the inputs' repartition topics, one processor
    /// per input folding as `folding` says into the store `store_builder` makes (`None`: it
    /// recorded what was wrong), the merge node, and the table, keyed with `table_key_serde`
    /// of the store's key serde.
    pub(crate) fn lower<KT, S>(
        &self,
        initializer: Arc<dyn Fn() -> A + Send + Sync>,
        materialized: &Materialized<K, A>,
        folding: Folding<K, A>,
        store_builder: impl FnOnce(&mut Inner, &str, &SharedSerde<K>, &SharedSerde<A>) -> Option<S>,
        table_key_serde: impl FnOnce(&SharedSerde<K>) -> SharedSerde<KT>,
    ) -> KTable<KT, A>
    where
        KT: Clone + 'static,
        S: StoreBuilder,
    {
        let mut inner = self.builder.borrow_mut();
        let store = inner.name(
            materialized.name.as_deref(),
            "COGROUPKSTREAM-AGGREGATE-STATE-STORE",
        );
        inner.claim_store(&store);
        let key_serde = (materialized.key_serde.clone())
            .or_else(|| self.inputs.iter().find_map(|i| i.key_serde()));
        let value_serde = (materialized.value_serde.clone()).or_else(builtin_serde::<A>);
        self.check_repartition_topics(&mut inner, &store);
        let parents: Vec<String> = (self.inputs.iter())
            .map(|input| input.parent(&mut inner, &store))
            .collect();
        let mut processors = Vec::with_capacity(self.inputs.len());
        for (input, parent) in self.inputs.iter().zip(&parents) {
            let name = inner.new_name("COGROUPKSTREAM-AGGREGATE");
            let nodes = (name.as_str(), parent.as_str(), store.as_str());
            input.add_processor(&mut inner, nodes, initializer.clone(), folding.clone());
            processors.push(name);
        }
        let merge = inner.new_name("COGROUPKSTREAM-MERGE");
        let mut table_key = None;
        match (&key_serde, &value_serde) {
            (Some(k), Some(a)) => {
                table_key = Some(table_key_serde(k));
                if let Some(builder) = store_builder(&mut inner, &store, k, a) {
                    let names: Vec<&str> = processors.iter().map(String::as_str).collect();
                    inner.apply(|t| {
                        t.add_state_store(builder, &names)?
                            .add_processor::<KT, Change<A>, KT, Change<A>, _, _>(
                                &merge,
                                || PassThrough,
                                &names,
                            )?;
                        Ok(())
                    });
                }
            }
            (None, _) => inner.fail(StreamsError::Topology(format!(
                "cogroup `{merge}`: no key serde is known for its store `{store}`; give one \
                 with Grouped::with on an input or Materialized::with_key_serde"
            ))),
            (_, None) => inner.fail(StreamsError::Topology(format!(
                "cogroup `{merge}`: no value serde is known for its store `{store}`; give one \
                 with Materialized::with_value_serde, or implement NaturalSerde for `{}`",
                std::any::type_name::<A>()
            ))),
        }
        drop(inner);
        KTable {
            builder: self.builder.clone(),
            node: merge,
            store: Some(store),
            key_serde: table_key,
            value_serde,
            old_values: true,
            materialized: true,
            window_grace: None,
            getter: None,
            old_value_requests: Vec::new(),
        }
    }

    /// Two inputs whose keys changed and that have no repartition name of their own would
    /// both write `<store>-repartition`: refused, naming the fix.
    fn check_repartition_topics(&self, inner: &mut Inner, store: &str) {
        let mut seen = std::collections::BTreeSet::new();
        for topic in self
            .inputs
            .iter()
            .filter_map(|i| i.repartition_topic(store))
        {
            if !seen.insert(topic.clone()) {
                inner.fail(StreamsError::Topology(format!(
                    "cogroup on store `{store}`: two inputs changed their keys and would share \
                     the repartition topic `{topic}`; give each its own name with \
                     Grouped::with_name (group_by_key_with / group_by_with)"
                )));
                return;
            }
        }
    }
}
