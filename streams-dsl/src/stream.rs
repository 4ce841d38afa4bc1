//! `KStream`: an unbounded sequence of records, its stateless operations, `to`, `process`
//! and the groupings that aggregations start from.

use std::convert::Infallible;
use std::sync::Arc;

use streams_core::Record;
use streams_core::StreamsError;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{NaturalSerde, SharedSerde, builtin_serde, follow_serde};

use crate::grouped::KGroupedStream;
use crate::options::{Grouped, Produced};
use crate::shared::Shared;

/// A stream of `K`, `V` records. Operations add nodes to the builder's topology and return
/// the stream after them; nothing runs until the built topology does.
///
/// Closures given to operations run on every task of every stream thread, so they are
/// `Fn + Send + Sync + 'static`.
pub struct KStream<K, V> {
    pub(crate) builder: Shared,
    pub(crate) node: String,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// True after an operation that may change keys: a grouping, a join or `to_table` then
    /// reads the records back from a repartition topic.
    pub(crate) key_changed: bool,
    /// The name the next operation's node takes instead of a generated one.
    pub(crate) next_name: Option<String>,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            builder: self.builder.clone(),
            node: self.node.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            key_changed: self.key_changed,
            next_name: self.next_name.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for KStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KStream").field("node", &self.node).finish()
    }
}

/// A processor that applies `F` to each record and forwards what it returns.
struct Stateless<F> {
    f: Arc<F>,
}

/// What a [`Stateless`] node does with one record.
trait Step<K, V, K2, V2>: Send + Sync + 'static {
    fn apply(
        &self,
        ctx: &mut ProcessorContext<'_, K2, V2>,
        record: Record<K, V>,
    ) -> Result<(), ProcessorError>;
}

impl<K, V, K2, V2, F> Processor<K, V, K2, V2> for Stateless<F>
where
    F: Step<K, V, K2, V2>,
    K: 'static,
    V: 'static,
    K2: 'static,
    V2: 'static,
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K2, V2>,
        record: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        self.f.apply(ctx, record)
    }
}

/// Adapts a closure over (context, record) to a [`Step`].
struct StepFn<F>(F);

impl<K, V, K2, V2, F> Step<K, V, K2, V2> for StepFn<F>
where
    F: Fn(&mut ProcessorContext<'_, K2, V2>, Record<K, V>) -> streams_core::Result<()>
        + Send
        + Sync
        + 'static,
{
    fn apply(
        &self,
        ctx: &mut ProcessorContext<'_, K2, V2>,
        record: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        Ok((self.0)(ctx, record)?)
    }
}

/// Adapts a fallible closure over (context, record) to a [`Step`]: its errors go to the
/// processing exception handler, with the record.
struct TryStepFn<F>(F);

impl<K, V, K2, V2, F> Step<K, V, K2, V2> for TryStepFn<F>
where
    F: Fn(&mut ProcessorContext<'_, K2, V2>, Record<K, V>) -> Result<(), ProcessorError>
        + Send
        + Sync
        + 'static,
{
    fn apply(
        &self,
        ctx: &mut ProcessorContext<'_, K2, V2>,
        record: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        (self.0)(ctx, record)
    }
}

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    pub(crate) fn new(
        builder: Shared,
        node: String,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
    ) -> Self {
        KStream {
            builder,
            node,
            key_serde: key_serde.or_else(builtin_serde),
            value_serde: value_serde.or_else(builtin_serde),
            key_changed: false,
            next_name: None,
        }
    }

    /// The same stream with these serdes for its keys and values, for what needs them later
    /// (a grouping's store, a repartition topic, a join's window stores) after an operation
    /// whose output types the stream cannot know serdes for (`map`, `select_key`, ...).
    pub fn with_serdes(
        &self,
        key_serde: impl streams_core::serde::Serde<K>,
        value_serde: impl streams_core::serde::Serde<V>,
    ) -> KStream<K, V> {
        KStream {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            ..self.clone()
        }
    }

    /// Names the node of the next operation on this stream (`filter`, `filter_not`, `map`,
    /// `map_values`, `map_values_with_key`, `flat_map`, `flat_map_values`, the `try_`
    /// variants of these, `select_key`, `peek`, `foreach`, `merge`, `process`, and the
    /// stream-table and global-table joins) instead of generating `<PREFIX>-<n>`, as Kafka
    /// Streams' `Named` does:
    /// `stream.named("drop-empty").filter(...)`. A given name does not take a number from the
    /// counter.
    pub fn named(&self, name: &str) -> KStream<K, V> {
        KStream {
            next_name: Some(name.to_owned()),
            ..self.clone()
        }
    }

    /// Adds a stateless node `prefix-<n>` running `step`, and returns the stream after it.
    fn stateless<K2, V2, F>(
        &self,
        prefix: &str,
        key_serde: Option<SharedSerde<K2>>,
        value_serde: Option<SharedSerde<V2>>,
        key_changed: bool,
        step: F,
    ) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        F: Fn(&mut ProcessorContext<'_, K2, V2>, Record<K, V>) -> streams_core::Result<()>
            + Send
            + Sync
            + 'static,
    {
        self.add_step(prefix, key_serde, value_serde, key_changed, StepFn(step))
    }

    /// As [`Self::stateless`], for a step whose errors are the user's: they reach the
    /// processing exception handler with the record.
    pub(crate) fn stateless_try<K2, V2, F>(
        &self,
        prefix: &str,
        key_serde: Option<SharedSerde<K2>>,
        value_serde: Option<SharedSerde<V2>>,
        key_changed: bool,
        step: F,
    ) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        F: Fn(&mut ProcessorContext<'_, K2, V2>, Record<K, V>) -> Result<(), ProcessorError>
            + Send
            + Sync
            + 'static,
    {
        self.add_step(prefix, key_serde, value_serde, key_changed, TryStepFn(step))
    }

    fn add_step<K2, V2>(
        &self,
        prefix: &str,
        key_serde: Option<SharedSerde<K2>>,
        value_serde: Option<SharedSerde<V2>>,
        key_changed: bool,
        step: impl Step<K, V, K2, V2>,
    ) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
    {
        let step = Arc::new(step);
        let mut inner = self.builder.borrow_mut();
        let name = inner.name(self.next_name.as_deref(), prefix);
        let parent = self.node.clone();
        inner.apply(|t| {
            t.add_processor(&name, move || Stateless { f: step.clone() }, &[&parent])
                .map(|_| ())
        });
        drop(inner);
        KStream {
            builder: self.builder.clone(),
            node: name,
            key_serde: key_serde.or_else(|| follow_serde(&self.key_serde)),
            value_serde: value_serde.or_else(|| follow_serde(&self.value_serde)),
            key_changed: self.key_changed || key_changed,
            next_name: None,
        }
    }

    /// The records for which `predicate` holds (`KSTREAM-FILTER`).
    pub fn filter(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KStream<K, V> {
        self.try_filter(move |k, v| Ok::<_, Infallible>(predicate(k, v)))
    }

    /// The records for which `predicate` does not hold (`KSTREAM-FILTER`).
    pub fn filter_not(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KStream<K, V> {
        self.filter(move |k, v| !predicate(k, v))
    }

    /// Each record turned into a new key and value (`KSTREAM-MAP`); the key may change, so a
    /// grouping after it repartitions.
    pub fn map<K2, V2>(
        &self,
        mapper: impl Fn(K, V) -> (K2, V2) + Send + Sync + 'static,
    ) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
    {
        self.try_map(move |k, v| Ok::<_, Infallible>(mapper(k, v)))
    }

    /// Each value turned into a new value; keys stay (`KSTREAM-MAPVALUES`).
    pub fn map_values<V2>(&self, mapper: impl Fn(V) -> V2 + Send + Sync + 'static) -> KStream<K, V2>
    where
        V2: Clone + 'static,
    {
        self.try_map_values(move |v| Ok::<_, Infallible>(mapper(v)))
    }

    /// Each value turned into a new value, seeing the key (`KSTREAM-MAPVALUES`).
    pub fn map_values_with_key<V2>(
        &self,
        mapper: impl Fn(&K, V) -> V2 + Send + Sync + 'static,
    ) -> KStream<K, V2>
    where
        V2: Clone + 'static,
    {
        self.stateless(
            "KSTREAM-MAPVALUES",
            self.key_serde.clone(),
            None,
            false,
            move |ctx, r| {
                ctx.forward(r.map_key_value(|key, value| {
                    let value = mapper(&key, value);
                    (key, value)
                }))
            },
        )
    }

    /// Each record turned into zero or more records (`KSTREAM-FLATMAP`); keys may change.
    pub fn flat_map<K2, V2, I>(
        &self,
        mapper: impl Fn(K, V) -> I + Send + Sync + 'static,
    ) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        I: IntoIterator<Item = (K2, V2)>,
    {
        self.try_flat_map(move |k, v| Ok::<_, Infallible>(mapper(k, v)))
    }

    /// Each value turned into zero or more values under the same key (`KSTREAM-FLATMAPVALUES`).
    pub fn flat_map_values<V2, I>(
        &self,
        mapper: impl Fn(V) -> I + Send + Sync + 'static,
    ) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        I: IntoIterator<Item = V2>,
    {
        self.try_flat_map_values(move |v| Ok::<_, Infallible>(mapper(v)))
    }

    /// The records re-keyed by `selector` (`KSTREAM-KEY-SELECT`); a grouping after it
    /// repartitions.
    pub fn select_key<K2>(
        &self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
    ) -> KStream<K2, V>
    where
        K2: Clone + 'static,
    {
        self.stateless(
            "KSTREAM-KEY-SELECT",
            None,
            self.value_serde.clone(),
            true,
            move |ctx, r| {
                let key = selector(&r.key, &r.value);
                ctx.forward(r.with_key(key))
            },
        )
    }

    /// Calls `action` on each record and passes it on unchanged (`KSTREAM-PEEK`).
    pub fn peek(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) -> KStream<K, V> {
        self.stateless(
            "KSTREAM-PEEK",
            self.key_serde.clone(),
            self.value_serde.clone(),
            false,
            move |ctx, r| {
                action(&r.key, &r.value);
                ctx.forward(r)
            },
        )
    }

    /// Calls `action` on each record; the stream ends here (`KSTREAM-FOREACH`).
    pub fn foreach(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) {
        let _: KStream<K, V> = self.stateless(
            "KSTREAM-FOREACH",
            None,
            None,
            false,
            move |_: &mut ProcessorContext<'_, K, V>, r: Record<K, V>| {
                action(&r.key, &r.value);
                Ok(())
            },
        );
    }

    /// This stream and `other` as one (`KSTREAM-MERGE`): records of both, each in its own
    /// order.
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        let mut inner = self.builder.borrow_mut();
        let name = inner.name(self.next_name.as_deref(), "KSTREAM-MERGE");
        let parents = [self.node.clone(), other.node.clone()];
        inner.apply(|t| {
            t.add_processor(
                &name,
                || Stateless {
                    f: Arc::new(StepFn(
                        |ctx: &mut ProcessorContext<'_, K, V>, r: Record<K, V>| ctx.forward(r),
                    )),
                },
                &[&parents[0], &parents[1]],
            )
            .map(|_| ())
        });
        drop(inner);
        KStream {
            builder: self.builder.clone(),
            node: name,
            key_serde: self.key_serde.clone().or_else(|| other.key_serde.clone()),
            value_serde: self
                .value_serde
                .clone()
                .or_else(|| other.value_serde.clone()),
            key_changed: self.key_changed || other.key_changed,
            next_name: None,
        }
    }

    /// Writes the stream to `topic` with the stream's own serdes (`KSTREAM-SINK`): those it
    /// was read or last given with, or its types' natural ones. Without one, `build()` says
    /// which is missing; give it with [`Self::to_with`].
    pub fn to(&self, topic: &str) {
        self.to_with(topic, Produced::default());
    }

    /// Writes the stream to `topic` with the serdes of `produced` (`KSTREAM-SINK`); a serde
    /// it leaves out is the stream's own.
    pub fn to_with(&self, topic: &str, produced: Produced<K, V>) {
        self.sink(streams_core::SinkOptions::topic(topic), produced);
    }

    /// Writes each record to the topic `extractor` names for it, with the stream's own serdes
    /// (Kafka Streams' `to(TopicNameExtractor)`, `KSTREAM-SINK`). The topics must exist; a
    /// record for a missing one fails as a production error.
    ///
    /// ```
    /// use streams_core::serde::StringSerde;
    /// use streams_core::test_driver::TopologyTestDriver;
    /// use streams_core::StreamsConfig;
    /// use streams_dsl::{Consumed, StreamsBuilder};
    ///
    /// let b = StreamsBuilder::new();
    /// b.stream_with(&["events"], Consumed::with(StringSerde, StringSerde))
    ///     .to_dynamic(|r| format!("events-{}", r.key));
    /// let driver = TopologyTestDriver::new(b.build()?, StreamsConfig::new("route", "unused:9092"))?;
    /// driver.input_topic("events", StringSerde, StringSerde).pipe("eu".into(), "login".into(), 1)?;
    /// let eu = driver.output_topic("events-eu", StringSerde, StringSerde).read_key_values()?;
    /// assert_eq!(eu, vec![("eu".to_owned(), "login".to_owned())]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn to_dynamic(&self, extractor: impl Fn(&Record<K, V>) -> String + Send + Sync + 'static) {
        self.to_dynamic_with(extractor, Produced::default());
    }

    /// As [`Self::to_dynamic`], with the serdes, name and partitioner of `produced`.
    pub fn to_dynamic_with(
        &self,
        extractor: impl Fn(&Record<K, V>) -> String + Send + Sync + 'static,
        produced: Produced<K, V>,
    ) {
        self.sink(
            streams_core::SinkOptions::topic_chooser(extractor),
            produced,
        );
    }

    fn sink(&self, mut options: streams_core::SinkOptions<K, V>, produced: Produced<K, V>) {
        let mut inner = self.builder.borrow_mut();
        let name = inner.name(produced.name.as_deref(), "KSTREAM-SINK");
        let parent = self.node.clone();
        if let Some(partitioner) = produced.partitioner {
            options = options
                .partitioner(move |topic, r, count| partitioner(topic, &r.key, &r.value, count));
        }
        let key_serde = (produced.key_serde)
            .or_else(|| self.key_serde.clone())
            .or_else(builtin_serde);
        let value_serde = (produced.value_serde)
            .or_else(|| self.value_serde.clone())
            .or_else(builtin_serde);
        let key_missing = key_serde.is_none();
        let (Some(key_serde), Some(value_serde)) = (key_serde, value_serde) else {
            let (what, ty) = if key_missing {
                ("key", std::any::type_name::<K>())
            } else {
                ("value", std::any::type_name::<V>())
            };
            inner.fail(StreamsError::Topology(format!(
                "the sink `{name}` has no {what} serde: the stream's {what} type `{ty}` has no \
                 natural serde and no operation before gave one; give it with \
                 Produced::with(..) (to_with), or implement NaturalSerde (JsonValue for JSON) \
                 for the type"
            )));
            return;
        };
        inner.apply(|t| {
            t.add_sink_with(&name, options, key_serde, value_serde, &[&parent])
                .map(|_| ())
        });
    }

    /// Runs a Processor API node on the stream (`KSTREAM-PROCESSOR`) and returns what it
    /// forwards.
    pub fn process<K2, V2, P, F>(&self, supplier: F) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        P: Processor<K, V, K2, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.process_with_stores(supplier, &[])
    }

    /// As [`Self::process`], with access to the named stores: stores added beforehand with
    /// [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store), or the
    /// store of a table or an aggregation upstream (by its name), which the node may read.
    pub fn process_with_stores<K2, V2, P, F>(&self, supplier: F, stores: &[&str]) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        P: Processor<K, V, K2, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let name = self.add_processor_node("KSTREAM-PROCESSOR", supplier, stores);
        KStream {
            builder: self.builder.clone(),
            node: name,
            key_serde: follow_serde(&self.key_serde),
            value_serde: follow_serde(&self.value_serde),
            key_changed: true,
            next_name: None,
        }
    }

    /// Runs a [`FixedKeyProcessor`](streams_core::fixed_key::FixedKeyProcessor) on the stream
    /// (`KSTREAM-PROCESSVALUES`): it sees each record and forwards new values under the same
    /// key, so, unlike [`Self::process`], a grouping or join after it needs no repartition
    /// topic. The stream keeps its key serde.
    ///
    /// ```
    /// use streams_core::fixed_key::{FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord};
    /// use streams_core::processor::ProcessorError;
    /// use streams_core::serde::{I64Serde, StringSerde};
    /// use streams_core::test_driver::TopologyTestDriver;
    /// use streams_core::StreamsConfig;
    /// use streams_dsl::{Consumed, Produced, StreamsBuilder};
    ///
    /// struct Length;
    /// impl FixedKeyProcessor<String, String, i64> for Length {
    ///     fn process(
    ///         &mut self,
    ///         ctx: &mut FixedKeyProcessorContext<'_, '_, String, i64>,
    ///         record: FixedKeyRecord<String, String>,
    ///     ) -> Result<(), ProcessorError> {
    ///         let n = record.value().len() as i64;
    ///         ctx.forward(record.with_value(n))?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let b = StreamsBuilder::new();
    /// b.stream_with(&["words"], Consumed::with(StringSerde, StringSerde))
    ///     .process_values(|| Length)
    ///     .to_with("lengths", Produced::with(StringSerde, I64Serde));
    /// let driver = TopologyTestDriver::new(b.build()?, StreamsConfig::new("lengths", "unused:9092"))?;
    /// driver.input_topic("words", StringSerde, StringSerde).pipe("a".into(), "kafka".into(), 7)?;
    /// let out = driver.output_topic("lengths", StringSerde, I64Serde).read_key_values_with_time()?;
    /// assert_eq!(out, vec![("a".to_owned(), 5, 7)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn process_values<V2, P, F>(&self, supplier: F) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        P: streams_core::fixed_key::FixedKeyProcessor<K, V, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.process_values_with_stores(supplier, &[])
    }

    /// As [`Self::process_values`], with access to the named stores (as
    /// [`Self::process_with_stores`]).
    pub fn process_values_with_stores<V2, P, F>(
        &self,
        supplier: F,
        stores: &[&str],
    ) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        P: streams_core::fixed_key::FixedKeyProcessor<K, V, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let name = self.add_processor_node(
            "KSTREAM-PROCESSVALUES",
            move || streams_core::fixed_key::FixedKeyNode::new(supplier()),
            stores,
        );
        KStream {
            builder: self.builder.clone(),
            node: name,
            key_serde: self.key_serde.clone(),
            value_serde: None,
            key_changed: self.key_changed,
            next_name: None,
        }
    }

    /// Adds a Processor API node reading this stream, named as given or `<prefix>-<n>`, and
    /// connects it to `stores`; returns its name.
    fn add_processor_node<K2, V2, P, F>(&self, prefix: &str, supplier: F, stores: &[&str]) -> String
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        P: Processor<K, V, K2, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let mut inner = self.builder.borrow_mut();
        let name = inner.name(self.next_name.as_deref(), prefix);
        let parent = self.node.clone();
        inner.apply(|t| {
            t.add_processor(&name, supplier, &[&parent])?;
            t.connect_processor_and_state_stores(&name, stores)
                .map(|_| ())
        });
        name
    }

    /// Groups the records by their key, for an aggregation. With no [`Grouped`] serdes the
    /// stream's own serdes are used. After an operation that may have changed keys, the
    /// aggregation reads the records back from a repartition topic, so that every record of
    /// a key reaches the same task.
    pub fn group_by_key(&self) -> KGroupedStream<K, V> {
        self.group_by_key_with(Grouped::default())
    }

    /// Groups the records by their key with the serdes (and repartition name) of `grouped`.
    pub fn group_by_key_with(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(
            self.clone(),
            grouped.key_serde.or_else(|| self.key_serde.clone()),
            grouped.value_serde.or_else(|| self.value_serde.clone()),
            grouped.name,
        )
    }

    /// Groups the records by a new key chosen by `selector` (a `select_key` then a grouping),
    /// the new key with its natural serde and values with the stream's own.
    pub fn group_by<K2>(
        &self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
    ) -> KGroupedStream<K2, V>
    where
        K2: NaturalSerde + Clone,
    {
        self.group_by_with(
            selector,
            Grouped::default().or_key_serde(K2::natural_serde()),
        )
    }

    /// Groups the records by a new key chosen by `selector`, with the serdes (and repartition
    /// name) of `grouped`.
    pub fn group_by_with<K2>(
        &self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
        grouped: Grouped<K2, V>,
    ) -> KGroupedStream<K2, V>
    where
        K2: Clone + 'static,
    {
        self.select_key(selector).group_by_key_with(grouped)
    }
}

/// Forwards every record: the filter in front of a repartition sink (Kafka Streams drops
/// null keys there; keys here are never null), the child nodes of branches and the merge
/// nodes of joins.
pub(crate) struct PassThrough;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for PassThrough {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, V>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        ctx.forward(r)?;
        Ok(())
    }
}
