//! `KStream`: an unbounded sequence of records and its stateless operations; writing it
//! (`stream_sink.rs`), Processor API nodes (`stream_process.rs`) and groupings
//! (`stream_grouping.rs`) are in files of their own.

use std::convert::Infallible;
use std::sync::Arc;

use streams_core::Record;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{SharedSerde, builtin_serde, follow_serde};

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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .map(|k, v| (v.len() as u32, k)) // u32 has no natural serde
    ///     .with_serdes(streams_core::serde::JsonSerde::<u32>::new(), StringSerde)
    ///     .group_by_key()
    ///     .count();
    /// assert!(b.build().is_ok());
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
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
    /// `stream.named("drop-empty").filter(...)`. As there, the node still takes a number from
    /// the counter, so the nodes after it are numbered as Kafka Streams numbers them.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .named("drop-empty")
    ///     .filter(|_, v| !v.is_empty())
    ///     .to("out");
    /// let topology = b.build()?;
    /// assert!(topology.describe().to_string().contains("Processor: drop-empty (stores: [])"));
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
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
        let name = inner.node_name(self.next_name.as_deref(), prefix);
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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .filter(|_, v| v.len() > 2)
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("hi"), 1)?;
    /// input.pipe(s("b"), s("hello"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("b"), s("hello"), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn filter(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KStream<K, V> {
        self.try_filter(move |k, v| Ok::<_, Infallible>(predicate(k, v)))
    }

    /// The records for which `predicate` does not hold (`KSTREAM-FILTER`).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .filter_not(|_, v| v.len() > 2)
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("hi"), 1)?;
    /// input.pipe(s("b"), s("hello"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("a"), s("hi"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn filter_not(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KStream<K, V> {
        self.filter(move |k, v| !predicate(k, v))
    }

    /// Each record turned into a new key and value (`KSTREAM-MAP`); the key may change, so a
    /// grouping after it repartitions.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .map(|k, v| (v, k))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("x"), s("a"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .map_values(|v| v.len() as i64)
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("hello"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, I64Serde).read_key_values_with_time()?, vec![(s("a"), 5, 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn map_values<V2>(&self, mapper: impl Fn(V) -> V2 + Send + Sync + 'static) -> KStream<K, V2>
    where
        V2: Clone + 'static,
    {
        self.try_map_values(move |v| Ok::<_, Infallible>(mapper(v)))
    }

    /// Each value turned into a new value, seeing the key (`KSTREAM-MAPVALUES`).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .map_values_with_key(|k, v| format!("{k}:{v}"))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("a"), s("a:x"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .flat_map(|k, v| v.split(' ').map(|w| (w.to_owned(), k.clone())).collect::<Vec<_>>())
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x y"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("x"), s("a"), 1), (s("y"), s("a"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .flat_map_values(|v| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x y"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("a"), s("x"), 1), (s("a"), s("y"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .select_key(|_, v| v.to_uppercase())
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("X"), s("x"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .peek(|k, v| println!("{k} = {v}"))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("a"), s("x"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::sync::{Arc, Mutex};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = seen.clone();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"]).foreach(move |k, v| sink.lock().unwrap().push(format!("{k}={v}")));
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// assert_eq!(*seen.lock().unwrap(), vec![s("a=x")]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let left = b.stream::<String, String>(&["left"]);
    /// let right = b.stream::<String, String>(&["right"]);
    /// left.merge(&right).to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("left", StringSerde, StringSerde).pipe(s("a"), s("l"), 1)?;
    /// d.input_topic("right", StringSerde, StringSerde).pipe(s("b"), s("r"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("a"), s("l"), 1), (s("b"), s("r"), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        let mut inner = self.builder.borrow_mut();
        let name = inner.node_name(self.next_name.as_deref(), "KSTREAM-MERGE");
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
