//! `Topology`: the graph of sources, processors, sinks and state stores an application runs.
//!
//! Nodes are added by name, each naming its parents, so the graph is acyclic by construction.
//! Every call checks what it can at once: unique names, existing parents, and that a node's
//! input types equal its parents' output types; errors name the offending node.
//!
//! ```
//! use streams_core::Topology;
//! use streams_core::serde::StringSerde;
//! # use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
//! # use streams_core::Record;
//! # struct Upper;
//! # impl Processor<String, String, String, String> for Upper {
//! #     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, String>, r: Record<String, String>)
//! #         -> Result<(), ProcessorError> { let v = r.value.to_uppercase(); ctx.forward(r.with_value(v))?; Ok(()) }
//! # }
//!
//! let mut topology = Topology::new();
//! topology
//!     .add_source("src", &["input"], StringSerde, StringSerde)?
//!     .add_processor("upper", || Upper, &["src"])?
//!     .add_sink("sink", "output", StringSerde, StringSerde, &["upper"])?;
//! assert_eq!(
//!     topology.describe().to_string(),
//!     "Topologies:\n   Sub-topology: 0\n    Source: src (topics: [input])\n      --> upper\n    \
//!      Processor: upper (stores: [])\n      --> sink\n      <-- src\n    \
//!      Sink: sink (topic: output)\n      <-- upper\n\n"
//! );
//! # Ok::<(), streams_core::StreamsError>(())
//! ```

mod graph;
pub(crate) mod instantiate;
pub(crate) mod node_def;

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::{Result, StreamsError};
use crate::nodes::Partitioner;
use crate::processor::Processor;
use crate::serde::{Serde, SharedSerde};
use crate::store::StoreBuilder;
use crate::timestamp::TimestampExtractor;
use node_def::{
    Factory, NodeDef, NodeKind, ProcessorFactory, SinkFactory, SinkTopicSpec, SourceFactory,
    StoreDef, TypeSig, TypedBuilder,
};

/// Options of a source node beyond its topics and serdes.
#[derive(Clone, Default)]
pub struct SourceOptions {
    /// A timestamp extractor for this source's topics instead of the configured default.
    pub timestamp_extractor: Option<Arc<dyn TimestampExtractor>>,
    /// Where to start reading a partition of this source's topics that has no committed
    /// offset, instead of the consumer's `auto.offset.reset` (earliest by default).
    pub offset_reset: Option<OffsetReset>,
}

/// Where a source starts reading a partition without a committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// At the oldest record still in the partition.
    Earliest,
    /// After the newest record: only records produced from now on.
    Latest,
}

impl std::fmt::Debug for SourceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceOptions")
            .field("timestamp_extractor", &self.timestamp_extractor.is_some())
            .field("offset_reset", &self.offset_reset)
            .finish()
    }
}

/// Where a sink writes: one topic, or a topic chosen per record; with an optional
/// partitioner.
pub struct SinkOptions<K, V> {
    topic: SinkTopicSpec<K, V>,
    partitioner: Option<Partitioner<K, V>>,
}

impl<K, V> SinkOptions<K, V> {
    /// Writes every record to `topic`.
    pub fn topic(topic: impl Into<String>) -> Self {
        SinkOptions {
            topic: SinkTopicSpec::Fixed(topic.into()),
            partitioner: None,
        }
    }

    /// Writes each record to the topic `chooser` returns for it.
    pub fn topic_chooser(
        chooser: impl Fn(&crate::record::Record<K, V>) -> String + Send + Sync + 'static,
    ) -> Self {
        SinkOptions {
            topic: SinkTopicSpec::Chosen(Arc::new(chooser)),
            partitioner: None,
        }
    }

    /// Chooses the partition per record: `partitioner(topic, record, partition_count)`;
    /// returning `None` leaves it to the producer's default (murmur2 of the key bytes, as the
    /// Java client does).
    pub fn partitioner(
        mut self,
        partitioner: impl Fn(&str, &crate::record::Record<K, V>, i32) -> Option<i32>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.partitioner = Some(Arc::new(partitioner));
        self
    }
}

/// The graph of an application: sources, processors, sinks and state stores.
#[derive(Default)]
pub struct Topology {
    pub(crate) nodes: Vec<NodeDef>,
    pub(crate) stores: Vec<StoreDef>,
    /// Store name -> processors (node indexes) connected to it.
    pub(crate) store_users: HashMap<String, Vec<usize>>,
    names: HashMap<Arc<str>, usize>,
    topics: HashMap<String, usize>,
    /// Repartition topics, by the name sources and sinks use for them (without the
    /// application id).
    internal_topics: std::collections::BTreeSet<String>,
    /// Repartition topics given a partition count (`Repartitioned::with_number_of_partitions`),
    /// by the same names.
    repartition_partitions: std::collections::BTreeMap<String, usize>,
    /// Set once the topology runs for an application: internal topic names are prefixed
    /// with it.
    application_id: Option<String>,
    /// Source topics with their own offset reset policy.
    offset_resets: HashMap<String, OffsetReset>,
    /// Global tables: copies of whole topics, read by any task.
    global_stores: Vec<Arc<crate::global::GlobalStore>>,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.describe())
    }
}

/// A sub-topology: a connected part of the graph, run as one task per partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtopology {
    /// Its number, as in task ids and `describe()`.
    pub id: u32,
    /// Node indexes, ascending.
    pub(crate) nodes: Vec<usize>,
    /// The topics its sources read, in the order the sources were added.
    pub source_topics: Vec<String>,
    /// Names of the state stores used by its processors.
    pub stores: Vec<String>,
}

impl Topology {
    /// An empty topology.
    pub fn new() -> Self {
        Self::default()
    }

    fn check_new_name(&self, name: &str) -> Result<()> {
        if name.is_empty() {
            return Err(StreamsError::Topology(
                "a node name must not be empty".into(),
            ));
        }
        if self.names.contains_key(name) {
            return Err(StreamsError::Topology(format!(
                "a node named `{name}` already exists; node names must be unique"
            )));
        }
        Ok(())
    }

    fn parent_indexes(&self, name: &str, parents: &[&str], input: &TypeSig) -> Result<Vec<usize>> {
        if parents.is_empty() {
            return Err(StreamsError::Topology(format!(
                "node `{name}` needs at least one parent"
            )));
        }
        let mut out = Vec::with_capacity(parents.len());
        for parent in parents {
            let index = *self.names.get(*parent).ok_or_else(|| {
                StreamsError::Topology(format!("node `{name}` names parent `{parent}`, which does not exist (add parents first)"))
            })?;
            let def = &self.nodes[index];
            let Some(output) = &def.output else {
                return Err(StreamsError::Topology(format!(
                    "node `{name}` names sink `{parent}` as its parent; a sink has no children"
                )));
            };
            if !output.same(input) {
                return Err(StreamsError::Topology(format!(
                    "node `{name}` takes records of types {input}, but its parent `{parent}` emits {output}"
                )));
            }
            if out.contains(&index) {
                return Err(StreamsError::Topology(format!(
                    "node `{name}` names parent `{parent}` twice"
                )));
            }
            out.push(index);
        }
        Ok(out)
    }

    fn push(
        &mut self,
        name: &str,
        kind: NodeKind,
        parents: Vec<usize>,
        output: Option<TypeSig>,
        factory: Factory,
    ) -> usize {
        let index = self.nodes.len();
        let name: Arc<str> = name.into();
        for &p in &parents {
            self.nodes[p].children.push(index);
        }
        self.nodes.push(NodeDef {
            name: name.clone(),
            kind,
            parents,
            children: Vec::new(),
            output,
            factory,
            extractor: None,
        });
        self.names.insert(name, index);
        index
    }

    /// Adds a source reading `topics` with the given key and value serdes.
    pub fn add_source<K, V>(
        &mut self,
        name: &str,
        topics: &[&str],
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> Result<&mut Self>
    where
        K: Clone + 'static,
        V: Clone + 'static,
    {
        self.add_source_with(
            name,
            topics,
            Arc::new(key_serde),
            Arc::new(value_serde),
            SourceOptions::default(),
        )
    }

    /// Adds a source with shared serdes and [`SourceOptions`].
    pub fn add_source_with<K, V>(
        &mut self,
        name: &str,
        topics: &[&str],
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        options: SourceOptions,
    ) -> Result<&mut Self>
    where
        K: Clone + 'static,
        V: Clone + 'static,
    {
        self.check_new_name(name)?;
        if topics.is_empty() {
            return Err(StreamsError::Topology(format!(
                "source `{name}` must read at least one topic"
            )));
        }
        for topic in topics {
            if topic.is_empty() {
                return Err(StreamsError::Topology(format!(
                    "source `{name}` names an empty topic"
                )));
            }
            if let Some(&other) = self.topics.get(*topic) {
                return Err(StreamsError::Topology(format!(
                    "topic `{topic}` is read by source `{}` already; source `{name}` cannot read it too",
                    self.nodes[other].name
                )));
            }
        }
        let factory = Factory::Source(Arc::new(SourceFactory {
            key_serde,
            value_serde,
        }));
        let index = self.push(
            name,
            NodeKind::Source {
                topics: topics.iter().map(|t| t.to_string()).collect(),
            },
            Vec::new(),
            Some(TypeSig::of::<K, V>()),
            factory,
        );
        self.nodes[index].extractor = options.timestamp_extractor;
        for topic in topics {
            self.topics.insert(topic.to_string(), index);
            if let Some(reset) = options.offset_reset {
                self.offset_resets.insert(topic.to_string(), reset);
            }
        }
        Ok(self)
    }

    /// Adds a processor created by `supplier` (once per task), fed by `parents`.
    pub fn add_processor<KIn, VIn, KOut, VOut, P, F>(
        &mut self,
        name: &str,
        supplier: F,
        parents: &[&str],
    ) -> Result<&mut Self>
    where
        P: Processor<KIn, VIn, KOut, VOut>,
        F: Fn() -> P + Send + Sync + 'static,
        KIn: 'static,
        VIn: 'static,
        KOut: Clone + 'static,
        VOut: Clone + 'static,
    {
        self.check_new_name(name)?;
        let parents = self.parent_indexes(name, parents, &TypeSig::of::<KIn, VIn>())?;
        let builder: Arc<dyn TypedBuilder<KIn, VIn>> =
            Arc::new(ProcessorFactory::<F, KIn, VIn, KOut, VOut> {
                supplier,
                _types: PhantomData,
            });
        self.push(
            name,
            NodeKind::Processor { stores: Vec::new() },
            parents,
            Some(TypeSig::of::<KOut, VOut>()),
            Factory::Typed(Box::new(builder)),
        );
        Ok(self)
    }

    /// Adds a sink writing to `topic`, fed by `parents`.
    pub fn add_sink<K: 'static, V: 'static>(
        &mut self,
        name: &str,
        topic: &str,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
        parents: &[&str],
    ) -> Result<&mut Self> {
        self.add_sink_with(
            name,
            SinkOptions::topic(topic),
            Arc::new(key_serde),
            Arc::new(value_serde),
            parents,
        )
    }

    /// Adds a sink with [`SinkOptions`] (a per-record topic chooser, a partitioner).
    pub fn add_sink_with<K: 'static, V: 'static>(
        &mut self,
        name: &str,
        options: SinkOptions<K, V>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        parents: &[&str],
    ) -> Result<&mut Self> {
        self.check_new_name(name)?;
        let parents = self.parent_indexes(name, parents, &TypeSig::of::<K, V>())?;
        let (topic, described) = match options.topic {
            SinkTopicSpec::Fixed(t) => {
                if t.is_empty() {
                    return Err(StreamsError::Topology(format!(
                        "sink `{name}` names an empty topic"
                    )));
                }
                (SinkTopicSpec::Fixed(t.clone()), Some(t))
            }
            SinkTopicSpec::Chosen(f) => (SinkTopicSpec::Chosen(f), None),
        };
        let builder: Arc<dyn TypedBuilder<K, V>> = Arc::new(SinkFactory {
            topic,
            key_serde,
            value_serde,
            partitioner: options.partitioner,
        });
        self.push(
            name,
            NodeKind::Sink { topic: described },
            parents,
            None,
            Factory::Typed(Box::new(builder)),
        );
        Ok(self)
    }

    /// Whether the topology has a (non-global) state store named `name`.
    pub(crate) fn has_store(&self, name: &str) -> bool {
        self.store_users.contains_key(name)
    }

    /// Whether the topology has a global store named `name`.
    pub(crate) fn has_global_store(&self, name: &str) -> bool {
        self.global_stores.iter().any(|g| g.name() == name)
    }

    /// Adds a state store and connects it to `processors` (which may be empty, to connect
    /// later with [`Self::connect_processor_and_state_stores`]).
    pub fn add_state_store(
        &mut self,
        builder: impl StoreBuilder,
        processors: &[&str],
    ) -> Result<&mut Self> {
        let name = builder.name().to_owned();
        if name.is_empty() {
            return Err(StreamsError::Topology(
                "a state store name must not be empty".into(),
            ));
        }
        if self.store_users.contains_key(&name) {
            return Err(StreamsError::Topology(format!(
                "a state store named `{name}` already exists; store names must be unique"
            )));
        }
        self.stores.push(StoreDef {
            builder: Arc::new(builder),
        });
        self.store_users.insert(name.clone(), Vec::new());
        for p in processors {
            self.connect_processor_and_state_stores(p, &[&name])?;
        }
        Ok(self)
    }

    /// Gives `processor` access to the named stores.
    pub fn connect_processor_and_state_stores(
        &mut self,
        processor: &str,
        stores: &[&str],
    ) -> Result<&mut Self> {
        let index = *self.names.get(processor).ok_or_else(|| {
            StreamsError::Topology(format!(
                "cannot connect stores to `{processor}`: no such processor"
            ))
        })?;
        for store in stores {
            let users = self.store_users.get_mut(*store).ok_or_else(|| {
                StreamsError::Topology(format!(
                    "cannot connect store `{store}` to `{processor}`: no such store (add it first)"
                ))
            })?;
            let NodeKind::Processor { stores: connected } = &mut self.nodes[index].kind else {
                return Err(StreamsError::Topology(format!(
                    "cannot connect store `{store}` to `{processor}`: only processors use stores"
                )));
            };
            if !connected.iter().any(|s| s == store) {
                connected.push(store.to_string());
                users.push(index);
            }
        }
        Ok(self)
    }

    /// Declares `name` an internal repartition topic: sources and sinks that name it read and
    /// write `<application.id>-<name>`, which the runtime creates at start-up (delete policy,
    /// as many partitions as the largest source topic of the sub-topologies writing to it) and
    /// purges below committed offsets. `describe()` shows `name` as given, as Kafka Streams does.
    pub fn add_repartition_topic(&mut self, name: &str) -> Result<&mut Self> {
        if name.is_empty() {
            return Err(StreamsError::Topology(
                "a repartition topic name must not be empty".into(),
            ));
        }
        self.internal_topics.insert(name.to_owned());
        Ok(self)
    }

    /// Gives repartition topic `name` (declared with [`add_repartition_topic`](Self::add_repartition_topic))
    /// `partitions` partitions instead of its writers' count. A count that breaks
    /// co-partitioning (the topic is read next to topics with another count) fails the start.
    pub fn set_repartition_partitions(
        &mut self,
        name: &str,
        partitions: usize,
    ) -> Result<&mut Self> {
        if !self.internal_topics.contains(name) {
            return Err(StreamsError::Topology(format!(
                "`{name}` is not a repartition topic of this topology; declare it with \
                 add_repartition_topic first"
            )));
        }
        if partitions == 0 {
            return Err(StreamsError::Topology(format!(
                "repartition topic `{name}`: the number of partitions must be at least 1"
            )));
        }
        self.repartition_partitions
            .insert(name.to_owned(), partitions);
        Ok(self)
    }

    /// The partition counts given to repartition topics, by full topic name once the
    /// application id is bound.
    pub(crate) fn fixed_repartition_partitions(&self) -> HashMap<String, usize> {
        self.repartition_partitions
            .iter()
            .map(|(name, n)| (self.topic_name(name), *n))
            .collect()
    }

    /// Adds a global table: the runtime keeps `store` a full copy of its topic (all
    /// partitions) in this instance, filled before processing starts. Processors read it
    /// through the `Arc` they were given; its topic must not also be a source topic.
    pub fn add_global_store(
        &mut self,
        store: Arc<crate::global::GlobalStore>,
    ) -> Result<&mut Self> {
        if self.topics.contains_key(store.topic())
            || self
                .global_stores
                .iter()
                .any(|g| g.topic() == store.topic())
        {
            return Err(StreamsError::Topology(format!(
                "topic `{}` of global store `{}` is read by another source already",
                store.topic(),
                store.name()
            )));
        }
        if self.global_stores.iter().any(|g| g.name() == store.name()) {
            return Err(StreamsError::Topology(format!(
                "a global store named `{}` exists already",
                store.name()
            )));
        }
        self.global_stores.push(store);
        Ok(self)
    }

    /// The global stores.
    pub fn global_stores(&self) -> &[Arc<crate::global::GlobalStore>] {
        &self.global_stores
    }

    /// The offset reset policy a source set for `topic`, if any.
    pub fn offset_reset(&self, topic: &str) -> Option<OffsetReset> {
        self.offset_resets.get(topic).copied()
    }

    /// The repartition topics, as declared (without the application id).
    pub fn repartition_topics(&self) -> Vec<String> {
        self.internal_topics.iter().cloned().collect()
    }
}
