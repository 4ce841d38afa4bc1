//! The nodes of a topology as defined (before any task exists): each node's kind, types,
//! parents and children, and the factory that builds its instance for a task, with the
//! per-task [`Instantiation`] that builds a node once even when it has several parents.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use crate::context::{NodeOps, RawSource};
use crate::error::{Result, StreamsError};
use crate::nodes::{Partitioner, ProcessorNode, SinkNode, SinkTopic, SourceNode, TopicChooser};
use crate::processor::{Child, Node, Processor};
use crate::serde::SharedSerde;
use crate::store::StoreBuilder;
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
    pub(crate) fn of<K: 'static, V: 'static>() -> Self {
        TypeSig {
            key: TypeId::of::<K>(),
            value: TypeId::of::<V>(),
            key_name: std::any::type_name::<K>(),
            value_name: std::any::type_name::<V>(),
        }
    }

    pub(crate) fn same(&self, other: &TypeSig) -> bool {
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
pub(crate) trait TypedBuilder<K, V>: Send + Sync {
    fn build(
        &self,
        index: usize,
        inst: &mut Instantiation<'_>,
    ) -> Result<Rc<RefCell<dyn Node<K, V>>>>;
}

/// Builds a source node for one task.
pub(crate) trait SourceBuilder: Send + Sync {
    fn build(
        &self,
        index: usize,
        inst: &mut Instantiation<'_>,
    ) -> Result<Rc<RefCell<dyn RawSource>>>;
}

pub(crate) enum Factory {
    Source(Arc<dyn SourceBuilder>),
    /// An `Arc<dyn TypedBuilder<K, V>>` for the node's input types, checked when added.
    Typed(Box<dyn Any + Send + Sync>),
}

pub(crate) struct NodeDef {
    pub(crate) name: Arc<str>,
    pub(crate) kind: NodeKind,
    pub(crate) parents: Vec<usize>,
    pub(crate) children: Vec<usize>,
    pub(crate) output: Option<TypeSig>,
    pub(crate) factory: Factory,
    pub(crate) extractor: Option<Arc<dyn TimestampExtractor>>,
}

pub(crate) struct StoreDef {
    pub(crate) builder: Arc<dyn StoreBuilder>,
}

/// A sink's topic: fixed, or chosen per record.
pub(crate) enum SinkTopicSpec<K, V> {
    Fixed(String),
    Chosen(TopicChooser<K, V>),
}

/// Per-task construction state: instances already built (a node with several parents is
/// built once) and the lifecycle handles of processors.
pub(crate) struct Instantiation<'a> {
    pub nodes: &'a [NodeDef],
    /// The topic a sink named so writes to (see `Topology::topic_name`).
    pub topic_name: &'a dyn Fn(&str) -> String,
    pub cache: HashMap<usize, Box<dyn Any>>,
    pub ops: Vec<(usize, Rc<RefCell<dyn NodeOps>>)>,
}

impl Instantiation<'_> {
    pub(crate) fn children<K: 'static, V: 'static>(
        &mut self,
        index: usize,
    ) -> Result<Vec<Child<K, V>>> {
        let nodes = self.nodes;
        let mut out = Vec::new();
        for &c in &nodes[index].children {
            let def = &nodes[c];
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

pub(crate) struct SourceFactory<K, V> {
    pub key_serde: SharedSerde<K>,
    pub value_serde: SharedSerde<V>,
}

impl<K: Clone + 'static, V: Clone + 'static> SourceBuilder for SourceFactory<K, V> {
    fn build(
        &self,
        index: usize,
        inst: &mut Instantiation<'_>,
    ) -> Result<Rc<RefCell<dyn RawSource>>> {
        let children = inst.children::<K, V>(index)?;
        Ok(Rc::new(RefCell::new(SourceNode {
            name: inst.nodes[index].name.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            children,
        })))
    }
}

/// The processor's input and output types, as a function type (`Send + Sync` whatever they are).
pub(crate) type Signature<KIn, VIn, KOut, VOut> = fn(KIn, VIn) -> (KOut, VOut);

pub(crate) struct ProcessorFactory<F, KIn, VIn, KOut, VOut> {
    pub supplier: F,
    pub _types: PhantomData<Signature<KIn, VIn, KOut, VOut>>,
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
            name: inst.nodes[index].name.clone(),
            index,
            processor: (self.supplier)(),
            children,
            _input: PhantomData::<fn(KIn, VIn)>,
        }));
        inst.ops.push((index, node.clone()));
        Ok(node)
    }
}

pub(crate) struct SinkFactory<K, V> {
    pub topic: SinkTopicSpec<K, V>,
    pub key_serde: SharedSerde<K>,
    pub value_serde: SharedSerde<V>,
    pub partitioner: Option<Partitioner<K, V>>,
}

impl<K: 'static, V: 'static> TypedBuilder<K, V> for SinkFactory<K, V> {
    fn build(
        &self,
        index: usize,
        inst: &mut Instantiation<'_>,
    ) -> Result<Rc<RefCell<dyn Node<K, V>>>> {
        let topic = match &self.topic {
            SinkTopicSpec::Fixed(t) => SinkTopic::Fixed((inst.topic_name)(t).into()),
            SinkTopicSpec::Chosen(f) => SinkTopic::Chosen(f.clone()),
        };
        Ok(Rc::new(RefCell::new(SinkNode {
            name: inst.nodes[index].name.clone(),
            topic,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            partitioner: self.partitioner.clone(),
            key_buf: Vec::new(),
            value_buf: Vec::new(),
        })))
    }
}
