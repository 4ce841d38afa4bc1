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

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use crate::collector::RecordCollector;
use crate::context::{NodeOps, RawSource, TaskContext, TaskSettings};
use crate::describe::TopologyDescription;
use crate::error::{Result, StreamsError};
use crate::ids::TaskId;
use crate::nodes::{Partitioner, ProcessorNode, SinkNode, SinkTopic, SourceNode, TopicChooser};
use crate::processor::{Child, Node, Processor};
use crate::serde::{Serde, SharedSerde};
use crate::store::{
    ChangelogSpec, ChangelogWriter, StoreBuilder, StoreContext, StoreInstance, changelog_topic,
};
use crate::task::{StreamTask, TaskInput};
use crate::timestamp::TimestampExtractor;

/// A key and value type pair, with names for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TypeSig {
    key: TypeId,
    value: TypeId,
    key_name: &'static str,
    value_name: &'static str,
}

impl TypeSig {
    fn of<K: 'static, V: 'static>() -> Self {
        TypeSig {
            key: TypeId::of::<K>(),
            value: TypeId::of::<V>(),
            key_name: std::any::type_name::<K>(),
            value_name: std::any::type_name::<V>(),
        }
    }

    fn same(&self, other: &TypeSig) -> bool {
        self.key == other.key && self.value == other.value
    }
}

impl std::fmt::Display for TypeSig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.key_name, self.value_name)
    }
}

/// What kind of node, with what the description prints for it.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Source { topics: Vec<String> },
    Processor { stores: Vec<String> },
    Sink { topic: Option<String> },
}

/// Builds a node that takes `(K, V)` records, with its children, for one task.
trait TypedBuilder<K, V>: Send + Sync {
    fn build(
        &self,
        index: usize,
        inst: &mut Instantiation<'_>,
    ) -> Result<Rc<RefCell<dyn Node<K, V>>>>;
}

/// Builds a source node for one task.
trait SourceBuilder: Send + Sync {
    fn build(
        &self,
        index: usize,
        inst: &mut Instantiation<'_>,
    ) -> Result<Rc<RefCell<dyn RawSource>>>;
}

enum Factory {
    Source(Arc<dyn SourceBuilder>),
    /// An `Arc<dyn TypedBuilder<K, V>>` for the node's input types, checked when added.
    Typed(Box<dyn Any + Send + Sync>),
}

pub(crate) struct NodeDef {
    pub(crate) name: Arc<str>,
    pub(crate) kind: NodeKind,
    pub(crate) parents: Vec<usize>,
    pub(crate) children: Vec<usize>,
    output: Option<TypeSig>,
    factory: Factory,
    extractor: Option<Arc<dyn TimestampExtractor>>,
}

pub(crate) struct StoreDef {
    pub(crate) builder: Arc<dyn StoreBuilder>,
}

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

enum SinkTopicSpec<K, V> {
    Fixed(String),
    Chosen(TopicChooser<K, V>),
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

    /// All topics read by sources.
    pub fn source_topics(&self) -> BTreeSet<String> {
        self.topics.keys().cloned().collect()
    }

    /// The sub-topologies: connected components of the graph, where processors sharing a
    /// store are connected too. Numbered in the order of their first source.
    pub fn subtopologies(&self) -> Vec<Subtopology> {
        let n = self.nodes.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        let union = |parent: &mut Vec<usize>, a: usize, b: usize| {
            let (ra, rb) = (find(parent, a), find(parent, b));
            if ra != rb {
                parent[ra.max(rb)] = ra.min(rb);
            }
        };
        for (i, node) in self.nodes.iter().enumerate() {
            for &p in &node.parents {
                union(&mut parent, i, p);
            }
        }
        for users in self.store_users.values() {
            for pair in users.windows(2) {
                union(&mut parent, pair[0], pair[1]);
            }
        }
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for i in 0..n {
            let root = find(&mut parent, i);
            match groups.iter_mut().find(|(r, _)| *r == root) {
                Some((_, members)) => members.push(i),
                None => groups.push((root, vec![i])),
            }
        }
        // Order by the first source node of each group (a group always has one).
        groups.sort_by_key(|(_, members)| {
            members
                .iter()
                .copied()
                .find(|&m| matches!(self.nodes[m].kind, NodeKind::Source { .. }))
                .unwrap_or(usize::MAX)
        });
        groups
            .into_iter()
            .enumerate()
            .map(|(id, (_, nodes))| {
                let mut source_topics = Vec::new();
                let mut stores = Vec::new();
                for &i in &nodes {
                    match &self.nodes[i].kind {
                        NodeKind::Source { topics } => source_topics.extend(topics.iter().cloned()),
                        NodeKind::Processor { stores: s } => {
                            for store in s {
                                if !stores.contains(store) {
                                    stores.push(store.clone());
                                }
                            }
                        }
                        NodeKind::Sink { .. } => {}
                    }
                }
                Subtopology {
                    id: id as u32,
                    nodes,
                    source_topics,
                    stores,
                }
            })
            .collect()
    }

    /// Whether a store keeps its state on disk (RocksDB), in the state directory.
    pub(crate) fn has_persistent_stores(&self) -> bool {
        self.stores.iter().any(|d| d.builder.persistent())
    }

    /// The changelog topics the stores need: `(topic, sub-topology id, spec)`.
    pub fn changelog_topics(&self, application_id: &str) -> Vec<(String, u32, ChangelogSpec)> {
        let subs = self.subtopologies();
        let mut out = Vec::new();
        for def in &self.stores {
            let name = def.builder.name();
            if let (Some(spec), Some(sub)) = (
                def.builder.changelog(),
                subs.iter().find(|s| s.stores.iter().any(|n| n == name)),
            ) {
                out.push((changelog_topic(application_id, name), sub.id, spec));
            }
        }
        out
    }

    /// The stores kept on disk whose changes go to a changelog: `(changelog topic,
    /// sub-topology id, store name)`.
    pub(crate) fn persistent_logged_stores(
        &self,
        application_id: &str,
    ) -> Vec<(String, u32, String)> {
        let subs = self.subtopologies();
        self.stores
            .iter()
            .filter(|d| d.builder.persistent() && d.builder.changelog().is_some())
            .filter_map(|d| {
                let name = d.builder.name();
                let sub = subs.iter().find(|s| s.stores.iter().any(|n| n == name))?;
                Some((
                    changelog_topic(application_id, name),
                    sub.id,
                    name.to_owned(),
                ))
            })
            .collect()
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

    /// The topic a source or sink named `name` uses: `<application.id>-<name>` for a
    /// repartition topic once the application id is known, else `name`.
    pub(crate) fn topic_name(&self, name: &str) -> String {
        match &self.application_id {
            Some(app) if self.internal_topics.contains(name) => format!("{app}-{name}"),
            _ => name.to_owned(),
        }
    }

    /// Binds the topology to `application_id`: the source topics of repartition topics get
    /// their full names (sinks resolve theirs when tasks are built).
    pub(crate) fn bind_application(&mut self, application_id: &str) {
        if self.application_id.is_some() {
            return;
        }
        self.application_id = Some(application_id.to_owned());
        if self.internal_topics.is_empty() {
            return;
        }
        let resolve = |t: &String| -> String {
            if self.internal_topics.contains(t) {
                format!("{application_id}-{t}")
            } else {
                t.clone()
            }
        };
        let renamed: Vec<(usize, Vec<String>)> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match &n.kind {
                NodeKind::Source { topics } => Some((i, topics.iter().map(resolve).collect())),
                _ => None,
            })
            .collect();
        let topics: HashMap<String, usize> =
            self.topics.iter().map(|(t, i)| (resolve(t), *i)).collect();
        for (i, new_topics) in renamed {
            self.nodes[i].kind = NodeKind::Source { topics: new_topics };
        }
        self.topics = topics;
        self.offset_resets = self
            .offset_resets
            .iter()
            .map(|(t, r)| (resolve(t), *r))
            .collect();
    }

    /// For each repartition topic (full name), the sub-topologies that write to it.
    pub(crate) fn repartition_writers(&self) -> Vec<(String, Vec<u32>)> {
        let subs = self.subtopologies();
        self.internal_topics
            .iter()
            .map(|name| {
                let writers = subs
                    .iter()
                    .filter(|sub| {
                        sub.nodes.iter().any(|&n| {
                            matches!(&self.nodes[n].kind, NodeKind::Sink { topic: Some(t) } if t == name)
                        })
                    })
                    .map(|sub| sub.id)
                    .collect();
                (self.topic_name(name), writers)
            })
            .collect()
    }

    /// The structure in Kafka Streams' `Topology.describe()` layout.
    pub fn describe(&self) -> TopologyDescription {
        TopologyDescription::new(self)
    }

    /// Builds the stores of `sub` for task `task_id`, with their changelog partitions.
    fn build_stores(
        &self,
        sub: &Subtopology,
        task_id: TaskId,
        env: &TaskEnv,
        task_dir: &std::path::Path,
        record_timestamp: &Rc<std::cell::Cell<i64>>,
    ) -> Result<TaskStores> {
        let mut stores = HashMap::new();
        let mut changelogs = Vec::new();
        for def in &self.stores {
            let name = def.builder.name();
            if !sub.stores.iter().any(|s| s == name) {
                continue;
            }
            let changelog = def.builder.changelog().map(|_| {
                let topic = changelog_topic(&env.application_id, name);
                changelogs.push(crate::state_manager::ChangelogPartition {
                    store: name.to_owned(),
                    topic: topic.clone(),
                    partition: task_id.partition,
                    restore_end: None,
                    restored: 0,
                    checkpoint: None,
                    persistent: def.builder.persistent(),
                });
                ChangelogWriter::new(
                    topic.into(),
                    task_id.partition,
                    env.collector.clone(),
                    record_timestamp.clone(),
                )
            });
            let store_ctx = StoreContext {
                task_id,
                application_id: env.application_id.to_string(),
                task_dir: task_dir.to_path_buf(),
                changelog,
            };
            stores.insert(name.to_owned(), def.builder.build(&store_ctx)?);
        }
        Ok((stores, changelogs))
    }

    /// Instantiates sub-topology `subtopology` for `partition`.
    pub(crate) fn build_task(
        &self,
        sub: &Subtopology,
        partition: i32,
        env: TaskEnv,
    ) -> Result<StreamTask> {
        let task_id = TaskId {
            subtopology: sub.id,
            partition,
        };
        let record_timestamp = Rc::new(std::cell::Cell::new(-1));
        let task_dir = env
            .state_dir
            .join(&*env.application_id)
            .join(task_id.to_string());
        let lock = if sub.stores.is_empty() {
            None
        } else {
            Some(crate::state_manager::lock_task_dir(&task_dir, task_id)?)
        };
        let existed = task_dir.exists();
        // Stores that cannot be opened because their files are damaged or missing are moved
        // aside with the rest of the task's state and restored from the changelogs, the
        // source of truth: a corrupt store never needs a person to delete it.
        let mut moved_aside = None;
        let (mut stores, mut changelogs) = match self.build_stores(
            sub,
            task_id,
            &env,
            &task_dir,
            &record_timestamp,
        ) {
            Err(StreamsError::StoreCorrupted { store, message }) => {
                let moved = crate::state_manager::move_state_aside(&task_dir)?;
                tracing::error!(task = %task_id, %store, dir = %task_dir.display(), moved_to = %moved.display(), error = %message, "state store is corrupt; moved the task's state aside, restoring it from the changelogs");
                moved_aside = Some(moved);
                self.build_stores(sub, task_id, &env, &task_dir, &record_timestamp)?
            }
            other => other?,
        };
        // A logged store kept on disk says which changelog offset its content is at; one that
        // cannot (state written by something else, or a corrupt offset) is not trusted: the
        // task's state is wiped and restored from the beginning of the changelogs.
        let mut trusted = true;
        for c in changelogs.iter_mut().filter(|c| c.persistent) {
            let offset = stores
                .get(&c.store)
                .map(|s| s.lifecycle.borrow().committed_offset());
            match offset {
                Some(Ok(offset)) => c.checkpoint = offset,
                Some(Err(e)) => {
                    tracing::warn!(task = %task_id, store = %c.store, error = %e, "unreadable committed offset");
                    trusted = false;
                }
                None => {}
            }
            trusted &= c.checkpoint.is_some();
        }
        if existed && !trusted {
            tracing::warn!(task = %task_id, dir = %task_dir.display(), "local state without a committed changelog offset; wiping it and restoring from the changelogs");
            for store in stores.values() {
                store.lifecycle.borrow_mut().close()?;
            }
            drop(stores);
            std::fs::remove_dir_all(&task_dir).map_err(|e| StreamsError::Io {
                context: format!("wiping {}", task_dir.display()),
                source: e,
            })?;
            (stores, changelogs) =
                self.build_stores(sub, task_id, &env, &task_dir, &record_timestamp)?;
        }
        let node_names: Arc<[Arc<str>]> = self.nodes.iter().map(|n| n.name.clone()).collect();
        let node_stores: Arc<[Vec<String>]> = self
            .nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::Processor { stores } => stores.clone(),
                _ => Vec::new(),
            })
            .collect();
        let ctx = TaskContext::new(
            task_id,
            env.application_id,
            node_names,
            node_stores,
            stores,
            env.collector,
            record_timestamp,
            env.settings,
            env.wall_clock,
        );
        let mut inst = Instantiation {
            topology: self,
            cache: HashMap::new(),
            ops: Vec::new(),
        };
        let mut inputs = Vec::new();
        for &i in &sub.nodes {
            let def = &self.nodes[i];
            if let (NodeKind::Source { topics }, Factory::Source(factory)) =
                (&def.kind, &def.factory)
            {
                let source = factory.build(i, &mut inst)?;
                for topic in topics {
                    inputs.push(TaskInput {
                        topic: topic.as_str().into(),
                        partition,
                        source: source.clone(),
                        extractor: def.extractor.clone(),
                    });
                }
            }
        }
        let mut ops = inst.ops;
        ops.sort_by_key(|(i, _)| *i);
        let mut task = StreamTask::new(ctx, inputs, ops, changelogs, task_dir, lock);
        task.state.state_moved_aside = moved_aside;
        Ok(task)
    }
}

/// What a task needs from its environment (runtime or test driver).
/// A task's stores by name, and the changelog partitions of the logged ones.
type TaskStores = (
    HashMap<String, StoreInstance>,
    Vec<crate::state_manager::ChangelogPartition>,
);

pub(crate) struct TaskEnv {
    pub application_id: Arc<str>,
    pub state_dir: std::path::PathBuf,
    pub collector: Rc<RefCell<dyn RecordCollector>>,
    pub settings: TaskSettings,
    pub wall_clock: i64,
}

/// Per-task construction state: instances already built (a node with several parents is
/// built once) and the lifecycle handles of processors.
struct Instantiation<'a> {
    topology: &'a Topology,
    cache: HashMap<usize, Box<dyn Any>>,
    ops: Vec<(usize, Rc<RefCell<dyn NodeOps>>)>,
}

impl Instantiation<'_> {
    fn children<K: 'static, V: 'static>(&mut self, index: usize) -> Result<Vec<Child<K, V>>> {
        let topology = self.topology;
        let mut out = Vec::new();
        for &c in &topology.nodes[index].children {
            let def = &topology.nodes[c];
            let node = if let Some(cached) = self.cache.get(&c) {
                cached
                    .downcast_ref::<Rc<RefCell<dyn Node<K, V>>>>()
                    .cloned()
            } else {
                None
            };
            let node = match node {
                Some(n) => n,
                None => {
                    let Factory::Typed(any) = &def.factory else {
                        return Err(StreamsError::Topology(format!(
                            "source `{}` cannot be a child",
                            def.name
                        )));
                    };
                    let builder = any
                        .downcast_ref::<Arc<dyn TypedBuilder<K, V>>>()
                        .ok_or_else(|| {
                            StreamsError::Topology(format!(
                                "node `{}` does not take the types its parent emits",
                                def.name
                            ))
                        })?;
                    let node = builder.build(c, self)?;
                    self.cache.insert(c, Box::new(node.clone()));
                    node
                }
            };
            out.push(Child {
                name: def.name.clone(),
                node,
            });
        }
        Ok(out)
    }
}

struct SourceFactory<K, V> {
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K: Clone + 'static, V: Clone + 'static> SourceBuilder for SourceFactory<K, V> {
    fn build(
        &self,
        index: usize,
        inst: &mut Instantiation<'_>,
    ) -> Result<Rc<RefCell<dyn RawSource>>> {
        let children = inst.children::<K, V>(index)?;
        Ok(Rc::new(RefCell::new(SourceNode {
            name: inst.topology.nodes[index].name.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            children,
        })))
    }
}

/// The processor's input and output types, as a function type (`Send + Sync` whatever they are).
type Signature<KIn, VIn, KOut, VOut> = fn(KIn, VIn) -> (KOut, VOut);

struct ProcessorFactory<F, KIn, VIn, KOut, VOut> {
    supplier: F,
    _types: PhantomData<Signature<KIn, VIn, KOut, VOut>>,
}

impl<F, P, KIn, VIn, KOut, VOut> TypedBuilder<KIn, VIn>
    for ProcessorFactory<F, KIn, VIn, KOut, VOut>
where
    P: Processor<KIn, VIn, KOut, VOut>,
    F: Fn() -> P + Send + Sync,
    KIn: 'static,
    VIn: 'static,
    KOut: Clone + 'static,
    VOut: Clone + 'static,
{
    fn build(
        &self,
        index: usize,
        inst: &mut Instantiation<'_>,
    ) -> Result<Rc<RefCell<dyn Node<KIn, VIn>>>> {
        let children = inst.children::<KOut, VOut>(index)?;
        let node = Rc::new(RefCell::new(ProcessorNode {
            name: inst.topology.nodes[index].name.clone(),
            index,
            processor: (self.supplier)(),
            children,
            _input: PhantomData::<fn(KIn, VIn)>,
        }));
        inst.ops.push((index, node.clone()));
        Ok(node)
    }
}

struct SinkFactory<K, V> {
    topic: SinkTopicSpec<K, V>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    partitioner: Option<Partitioner<K, V>>,
}

impl<K: 'static, V: 'static> TypedBuilder<K, V> for SinkFactory<K, V> {
    fn build(
        &self,
        index: usize,
        inst: &mut Instantiation<'_>,
    ) -> Result<Rc<RefCell<dyn Node<K, V>>>> {
        let topic = match &self.topic {
            SinkTopicSpec::Fixed(t) => SinkTopic::Fixed(inst.topology.topic_name(t).into()),
            SinkTopicSpec::Chosen(f) => SinkTopic::Chosen(f.clone()),
        };
        Ok(Rc::new(RefCell::new(SinkNode {
            name: inst.topology.nodes[index].name.clone(),
            topic,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            partitioner: self.partitioner.clone(),
            key_buf: Vec::new(),
            value_buf: Vec::new(),
        })))
    }
}
