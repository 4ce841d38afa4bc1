//! `Topology::describe()`: the structure of a topology in Kafka Streams' text layout.

use std::fmt;

use crate::topology::Topology;
use crate::topology::node_def::NodeKind;

/// One node as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDescription {
    /// The node's name.
    pub name: String,
    /// `Source`, `Processor` or `Sink`, with what it prints in parentheses.
    pub kind: NodeKindDescription,
    /// Names of the children.
    pub successors: Vec<String>,
    /// Names of the parents.
    pub predecessors: Vec<String>,
}

/// What kind of node, and its topics or stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKindDescription {
    /// A source and the topics it reads.
    Source {
        /// Topics.
        topics: Vec<String>,
    },
    /// A processor and the stores it uses.
    Processor {
        /// Store names.
        stores: Vec<String>,
    },
    /// A sink and its topic (`None` when a topic chooser picks it per record).
    Sink {
        /// Topic.
        topic: Option<String>,
    },
}

/// One sub-topology as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtopologyDescription {
    /// Its number.
    pub id: u32,
    /// Its nodes, in the order Kafka Streams prints them.
    pub nodes: Vec<NodeDescription>,
}

/// A global store as described: every instance keeps a full copy of its topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalStoreDescription {
    /// The store's name.
    pub store: String,
    /// The topic it copies.
    pub topic: String,
}

/// The description of a whole topology. `Display` prints Kafka Streams' layout (without the
/// global stores, which Kafka Streams prints as sub-topologies of their own: see
/// `docs/architecture.md`, "Topology"); [`Self::to_mermaid`] and [`Self::to_dot`] draw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyDescription {
    /// The sub-topologies in id order.
    pub subtopologies: Vec<SubtopologyDescription>,
    /// The global stores, in the order they were added.
    pub global_stores: Vec<GlobalStoreDescription>,
}

impl TopologyDescription {
    pub(crate) fn new(topology: &Topology) -> Self {
        let nodes = &topology.nodes;
        // Size of a node = 1 + the sizes of its children: a node's sub-tree size, which orders
        // nodes within a sub-topology (larger first, then by name), as Kafka Streams does.
        let mut size = vec![1usize; nodes.len()];
        for i in (0..nodes.len()).rev() {
            size[i] += nodes[i].children.iter().map(|&c| size[c]).sum::<usize>();
        }
        let by_order = |a: &usize, b: &usize| {
            size[*b]
                .cmp(&size[*a])
                .then_with(|| nodes[*a].name.cmp(&nodes[*b].name))
        };
        let subtopologies = topology
            .subtopologies()
            .into_iter()
            .map(|sub| {
                let mut members = sub.nodes.clone();
                members.sort_by(by_order);
                let described = members
                    .into_iter()
                    .map(|i| {
                        let def = &nodes[i];
                        let mut children = def.children.clone();
                        children.sort_by(by_order);
                        let mut parents = def.parents.clone();
                        parents.sort_by(by_order);
                        NodeDescription {
                            name: def.name.to_string(),
                            kind: match &def.kind {
                                NodeKind::Source { topics } => NodeKindDescription::Source {
                                    topics: topics.clone(),
                                },
                                NodeKind::Processor { stores } => NodeKindDescription::Processor {
                                    stores: stores.clone(),
                                },
                                NodeKind::Sink { topic } => NodeKindDescription::Sink {
                                    topic: topic.clone(),
                                },
                            },
                            successors: children
                                .iter()
                                .map(|&c| nodes[c].name.to_string())
                                .collect(),
                            predecessors: parents
                                .iter()
                                .map(|&p| nodes[p].name.to_string())
                                .collect(),
                        }
                    })
                    .collect();
                SubtopologyDescription {
                    id: sub.id,
                    nodes: described,
                }
            })
            .collect();
        let global_stores = topology
            .global_stores()
            .iter()
            .map(|g| GlobalStoreDescription {
                store: g.name().to_owned(),
                topic: g.topic().to_owned(),
            })
            .collect();
        TopologyDescription {
            subtopologies,
            global_stores,
        }
    }
}

fn names(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

impl fmt::Display for NodeDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NodeKindDescription::Source { topics } => {
                write!(
                    f,
                    "Source: {} (topics: [{}])\n      --> {}",
                    self.name,
                    topics.join(", "),
                    names(&self.successors)
                )
            }
            NodeKindDescription::Processor { stores } => write!(
                f,
                "Processor: {} (stores: [{}])\n      --> {}\n      <-- {}",
                self.name,
                stores.join(", "),
                names(&self.successors),
                names(&self.predecessors)
            ),
            NodeKindDescription::Sink { topic } => {
                match topic {
                    Some(t) => write!(f, "Sink: {} (topic: {t})", self.name)?,
                    None => write!(f, "Sink: {} (extractor class: topic chooser)", self.name)?,
                }
                write!(f, "\n      <-- {}", names(&self.predecessors))
            }
        }
    }
}

impl fmt::Display for SubtopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Sub-topology: {}", self.id)?;
        for node in &self.nodes {
            writeln!(f, "    {node}")?;
        }
        writeln!(f)
    }
}

impl fmt::Display for TopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Topologies:\n ")?;
        for sub in &self.subtopologies {
            write!(f, "  {sub}")?;
        }
        Ok(())
    }
}

impl Topology {
    /// The structure in Kafka Streams' `Topology.describe()` layout.
    pub fn describe(&self) -> TopologyDescription {
        TopologyDescription::new(self)
    }
}
