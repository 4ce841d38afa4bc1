//! Grouped streams (`KGroupedStream`) and their aggregations into tables: `count`, `reduce`,
//! `aggregate`.

use std::sync::Arc;

use streams_core::Record;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{NaturalSerde, SharedSerde};

use crate::aggregation::{
    Fold, Naming, Parts, aggregate_fold, count_fold, lower_aggregation, reduce_fold, skips_null,
    update_aggregate, with_count_serde,
};
use crate::options::Materialized;
use crate::shared::Inner;
use crate::store_slot::StoreSlot;
use crate::stream::KStream;
use crate::table::{Change, KTable};
use crate::timestamped::TimestampedKeyValueStore;

/// A stream grouped by key, ready for an aggregation.
pub struct KGroupedStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// The repartition topic's base name, if the user gave one.
    pub(crate) name: Option<String>,
}

impl<K, V> Clone for KGroupedStream<K, V> {
    fn clone(&self) -> Self {
        KGroupedStream {
            stream: self.stream.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            name: self.name.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for KGroupedStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KGroupedStream")
            .field("node", &self.stream.node)
            .finish()
    }
}

/// `KSTREAM-AGGREGATE` / `KSTREAM-REDUCE`: folds each record into its key's aggregate, stores
/// it with the largest timestamp seen, and forwards the change with that timestamp.
pub(crate) struct AggregateProcessor<K, V, A> {
    pub(crate) fold: Arc<Fold<K, V, A>>,
    pub(crate) store: StoreSlot<TimestampedKeyValueStore<K, A>>,
    /// The grouped stream's value serde, when known: a record whose value it reads as null
    /// is skipped, as Kafka Streams' stream aggregations skip null values.
    pub(crate) value_serde: Option<SharedSerde<V>>,
}

impl<K, V, A> Processor<K, V, K, Change<A>> for AggregateProcessor<K, V, A>
where
    K: Clone + 'static,
    V: 'static,
    A: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A>>) -> Result<(), ProcessorError> {
        self.store.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<A>>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        if skips_null(self.value_serde.as_ref(), &r.value, ctx, self.store.name()) {
            return Ok(());
        }
        let store = self.store.get()?;
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = r;
        let (change, timestamp) =
            update_aggregate(&mut store.borrow_mut(), &key, timestamp, |old| {
                Some((self.fold)(&key, value, old))
            })?;
        ctx.forward(Record {
            key,
            value: change,
            timestamp,
            headers,
        })?;
        Ok(())
    }
}

impl<K, V> KGroupedStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    pub(crate) fn new(
        stream: KStream<K, V>,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
        name: Option<String>,
    ) -> Self {
        KGroupedStream {
            stream,
            key_serde,
            value_serde,
            name,
        }
    }

    /// The node an aggregation named after `store_name` reads from: the grouped stream
    /// itself, or, when keys may have changed, the source of a new repartition topic
    /// `<name or store>-repartition` (see [`KStream::through_repartition`]).
    pub(crate) fn aggregation_parent(&self, inner: &mut Inner, store_name: &str) -> String {
        let base = self.name.as_deref().unwrap_or(store_name);
        self.stream.partitioned_by_key(
            inner,
            base,
            self.key_serde.clone(),
            self.value_serde.clone(),
            "the operation before the grouping changed the key or value type; give them with \
             Grouped::with",
        )
    }

    /// [`Self::count_with`] into a store with a generated name and the grouping's key serde.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .group_by_key()
    ///     .count()
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// input.pipe(s("a"), s("y"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("a"), Some(1), 1), (s("a"), Some(2), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn count(&self) -> KTable<K, i64> {
        self.count_with(Materialized::new())
    }

    /// [`Self::reduce_with`] into a store with a generated name and the grouping's serdes.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .group_by_key()
    ///     .reduce(|a, v| format!("{a},{v}"))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// input.pipe(s("a"), s("y"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("a"), Some(s("x")), 1), (s("a"), Some(s("x,y")), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn reduce(&self, reducer: impl Fn(V, V) -> V + Send + Sync + 'static) -> KTable<K, V> {
        self.reduce_with(reducer, Materialized::new())
    }

    /// [`Self::aggregate_with`] into a store with a generated name, the aggregate with its
    /// natural serde.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .group_by_key()
    ///     .aggregate(|| 0i64, |_, v, total| total + v.len() as i64)
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("xy"), 1)?;
    /// input.pipe(s("a"), s("xyz"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("a"), Some(2), 1), (s("a"), Some(5), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate<A: NaturalSerde + Clone>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
    ) -> KTable<K, A> {
        let materialized = Materialized::new().or_value_serde(Some(A::natural_serde()));
        self.aggregate_with(initializer, aggregator, materialized)
    }

    /// The number of records per key, in a table (`KSTREAM-AGGREGATE`, store
    /// `KSTREAM-AGGREGATE-STATE-STORE-<n>` unless named).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .group_by_key()
    ///     .count_with(Materialized::as_store("counts").in_memory())
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("a"), Some(1), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn count_with(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let materialized = with_count_serde(materialized);
        self.fold("KSTREAM-AGGREGATE", "count", materialized, count_fold())
    }

    /// Each key's values combined with `reducer(aggregate, value)`; the first value of a key
    /// is its aggregate as is (`KSTREAM-REDUCE`).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .group_by_key()
    ///     .reduce_with(|a, v| a + &v, Materialized::as_store("joined"))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// input.pipe(s("a"), s("y"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("a"), Some(s("x")), 1), (s("a"), Some(s("xy")), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn reduce_with(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let materialized = materialized.or_value_serde(self.value_serde.clone());
        self.fold(
            "KSTREAM-REDUCE",
            "reduce",
            materialized,
            reduce_fold(reducer),
        )
    }

    /// Each key's values folded into an aggregate that starts as `initializer()`:
    /// `aggregator(key, value, aggregate)` (`KSTREAM-AGGREGATE`). The store's value serde must
    /// be given in `materialized`.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .group_by_key()
    ///     .aggregate_with(|| 0i64, |_, v, n| n + v.len() as i64, Materialized::as_store("chars").with_value_serde(I64Serde))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("xy"), 1)?;
    /// input.pipe(s("a"), s("z"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("a"), Some(2), 1), (s("a"), Some(3), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate_with<A>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<K, A>
    where
        A: Clone + 'static,
    {
        let fold = aggregate_fold(initializer, aggregator);
        self.fold("KSTREAM-AGGREGATE", "aggregate", materialized, fold)
    }

    fn fold<A: Clone + 'static>(
        &self,
        prefix: &str,
        operation: &str,
        materialized: Materialized<K, A>,
        fold: Arc<Fold<K, V, A>>,
    ) -> KTable<K, A> {
        lower_aggregation(
            &self.stream.builder,
            Naming::stream(prefix, operation),
            &materialized,
            self.key_serde.clone(),
            |inner, plan, k, a| {
                let store_name = plan.store_name.clone();
                let value_serde = self.value_serde.clone();
                Some(Parts::key_value(
                    plan,
                    materialized.kind,
                    (k, a),
                    self.aggregation_parent(inner, &plan.store_name),
                    move || AggregateProcessor {
                        fold: fold.clone(),
                        store: StoreSlot::new(&store_name),
                        value_serde: value_serde.clone(),
                    },
                ))
            },
        )
    }
}
