//! Pictures of a [`TopologyDescription`]: Mermaid flowcharts and Graphviz DOT graphs, with
//! each sub-topology as a cluster, topics and stores as nodes of their own (a repartition
//! topic joins the sink that writes it to the source that reads it), and global stores beside.
//! One walk ([`Graph::of`]) lists what a picture shows; each format only spells it.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use crate::describe::{NodeKindDescription, TopologyDescription};

/// One end of an edge of a picture.
#[derive(Clone, Copy)]
enum End<'a> {
    /// Node `index` (its place in the sub-topology's list) of sub-topology `sub`.
    Node {
        sub: u32,
        index: usize,
        name: &'a str,
    },
    Topic(&'a str),
    Store(&'a str),
    /// The topic a sink's topic chooser picks per record.
    Chosen {
        sub: u32,
        index: usize,
        name: &'a str,
    },
}

/// How two ends are joined.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Records flow along it.
    Flow,
    /// A processor uses a store.
    Uses,
}

/// What a picture shows, in the order it lists it.
struct Graph<'a> {
    /// The edges of the sub-topologies: per node, its children, then its topics or stores.
    edges: Vec<(End<'a>, End<'a>, Link)>,
    /// Global stores: topic to store.
    globals: Vec<(End<'a>, End<'a>)>,
    /// Topics and stores, each once, numbered in the order first seen.
    topics: BTreeMap<&'a str, usize>,
    stores: BTreeMap<&'a str, usize>,
}

impl<'a> Graph<'a> {
    fn of(d: &'a TopologyDescription) -> Graph<'a> {
        let mut g = Graph {
            edges: Vec::new(),
            globals: Vec::new(),
            topics: BTreeMap::new(),
            stores: BTreeMap::new(),
        };
        fn number<'a>(map: &mut BTreeMap<&'a str, usize>, name: &'a str) {
            let next = map.len();
            map.entry(name).or_insert(next);
        }
        for sub in &d.subtopologies {
            let places: HashMap<&str, usize> = sub
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.name.as_str(), i))
                .collect();
            let node = |name: &'a str| End::Node {
                sub: sub.id,
                index: places.get(name).copied().unwrap_or(0),
                name,
            };
            for n in &sub.nodes {
                let me = node(&n.name);
                for child in &n.successors {
                    g.edges.push((me, node(child), Link::Flow));
                }
                match &n.kind {
                    NodeKindDescription::Source { topics } => {
                        for t in topics {
                            number(&mut g.topics, t);
                            g.edges.push((End::Topic(t), me, Link::Flow));
                        }
                    }
                    NodeKindDescription::Processor { stores } => {
                        for s in stores {
                            number(&mut g.stores, s);
                            g.edges.push((me, End::Store(s), Link::Uses));
                        }
                    }
                    NodeKindDescription::Sink { topic: Some(t) } => {
                        number(&mut g.topics, t);
                        g.edges.push((me, End::Topic(t), Link::Flow));
                    }
                    NodeKindDescription::Sink { topic: None } => {
                        let chosen = End::Chosen {
                            sub: sub.id,
                            index: places[n.name.as_str()],
                            name: &n.name,
                        };
                        g.edges.push((me, chosen, Link::Flow));
                    }
                }
            }
        }
        for global in &d.global_stores {
            number(&mut g.topics, &global.topic);
            number(&mut g.stores, &global.store);
            g.globals
                .push((End::Topic(&global.topic), End::Store(&global.store)));
        }
        g
    }

    /// An end as Mermaid writes it: topics, stores and chosen topics with their shapes.
    fn mermaid(&self, end: End<'_>) -> String {
        match end {
            End::Node { sub, index, .. } => format!("n{sub}_{index}"),
            End::Topic(t) => format!("t{}[/\"{}\"/]", self.topics[t], mermaid_label(t)),
            End::Store(s) => format!("st{}[(\"{}\")]", self.stores[s], mermaid_label(s)),
            End::Chosen { sub, index, .. } => {
                format!("n{sub}_{index}_chosen[/\"(chosen per record)\"/]")
            }
        }
    }

    /// An end's DOT node id.
    fn dot(end: End<'_>) -> String {
        dot_string(&match end {
            End::Node { sub, name, .. } => format!("{sub}:{name}"),
            End::Topic(t) => format!("topic:{t}"),
            End::Store(s) => format!("store:{s}"),
            End::Chosen { sub, name, .. } => format!("chosen:{sub}:{name}"),
        })
    }
}

/// Mermaid's label text: quotes and angle brackets as entities.
fn mermaid_label(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

/// DOT's quoted string.
fn dot_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl TopologyDescription {
    /// The topology as a Mermaid flowchart (GitHub and most Markdown viewers draw it):
    /// sub-topologies as subgraphs, topics as parallelograms, stores as cylinders, a
    /// store's processors joined to it by dotted lines, a sink chosen per record by a topic
    /// chooser pointing at a `(chosen per record)` node.
    ///
    /// ```
    /// # use streams_core::serde::StringSerde;
    /// # use streams_core::Topology;
    /// # use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
    /// # use streams_core::Record;
    /// # struct Upper;
    /// # impl Processor<String, String, String, String> for Upper {
    /// #     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, String>, r: Record<String, String>)
    /// #         -> Result<(), ProcessorError> { ctx.forward(r)?; Ok(()) }
    /// # }
    /// let mut topology = Topology::new();
    /// topology
    ///     .add_source("src", &["in"], StringSerde, StringSerde)?
    ///     .add_processor("upper", || Upper, &["src"])?
    ///     .add_sink("sink", "out", StringSerde, StringSerde, &["upper"])?;
    /// let picture = topology.describe().to_mermaid();
    /// assert!(picture.starts_with("flowchart TB\n"));
    /// assert!(picture.contains("t0[/\"in\"/] --> n0_0"));
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn to_mermaid(&self) -> String {
        let g = Graph::of(self);
        let mut out = String::from("flowchart TB\n");
        // `writeln!` into a String cannot fail.
        for sub in &self.subtopologies {
            let _ = writeln!(out, "  subgraph s{0}[\"Sub-topology {0}\"]", sub.id);
            for (index, node) in sub.nodes.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "    n{}_{index}[\"{}\"]",
                    sub.id,
                    mermaid_label(&node.name)
                );
            }
            out.push_str("  end\n");
        }
        if !g.globals.is_empty() {
            out.push_str("  subgraph globals[\"Global stores\"]\n");
            for &(topic, store) in &g.globals {
                let _ = writeln!(out, "    {} --> {}", g.mermaid(topic), g.mermaid(store));
            }
            out.push_str("  end\n");
        }
        for &(from, to, link) in &g.edges {
            let arrow = if link == Link::Uses { "-.-" } else { "-->" };
            let _ = writeln!(out, "  {} {arrow} {}", g.mermaid(from), g.mermaid(to));
        }
        out
    }

    /// The topology as a Graphviz DOT graph (`dot -Tsvg`): sub-topologies as clusters,
    /// processor nodes as boxes, topics as `cds` shapes, stores as cylinders joined to their
    /// processors by dashed undirected edges, global stores in a cluster of their own.
    ///
    /// ```
    /// # use streams_core::serde::StringSerde;
    /// # use streams_core::Topology;
    /// let mut topology = Topology::new();
    /// topology
    ///     .add_source("src", &["in"], StringSerde, StringSerde)?
    ///     .add_sink("sink", "out", StringSerde, StringSerde, &["src"])?;
    /// let dot = topology.describe().to_dot();
    /// assert!(dot.contains("\"topic:in\" -> \"0:src\";"));
    /// assert!(dot.contains("\"0:sink\" -> \"topic:out\";"));
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn to_dot(&self) -> String {
        let g = Graph::of(self);
        let mut out = String::from(
            "digraph topology {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n",
        );
        for sub in &self.subtopologies {
            let _ = writeln!(
                out,
                "  subgraph cluster_{0} {{\n    label=\"Sub-topology {0}\";",
                sub.id
            );
            for node in &sub.nodes {
                let id = dot_string(&format!("{}:{}", sub.id, node.name));
                let _ = writeln!(
                    out,
                    "    {id} [label={}, shape=box];",
                    dot_string(&node.name)
                );
            }
            out.push_str("  }\n");
        }
        if !g.globals.is_empty() {
            out.push_str("  subgraph cluster_globals {\n    label=\"Global stores\";\n");
            for &(topic, store) in &g.globals {
                let _ = writeln!(out, "    {} -> {};", Graph::dot(topic), Graph::dot(store));
            }
            out.push_str("  }\n");
        }
        for &t in g.topics.keys() {
            let id = Graph::dot(End::Topic(t));
            let _ = writeln!(out, "  {id} [label={}, shape=cds];", dot_string(t));
        }
        for &s in g.stores.keys() {
            let id = Graph::dot(End::Store(s));
            let _ = writeln!(out, "  {id} [label={}, shape=cylinder];", dot_string(s));
        }
        for &(_, to, _) in &g.edges {
            if let End::Chosen { .. } = to {
                let id = Graph::dot(to);
                let _ = writeln!(out, "  {id} [label=\"(chosen per record)\", shape=cds];");
            }
        }
        for &(from, to, link) in &g.edges {
            let style = if link == Link::Uses {
                " [style=dashed, dir=none]"
            } else {
                ""
            };
            let _ = writeln!(out, "  {} -> {}{style};", Graph::dot(from), Graph::dot(to));
        }
        out.push_str("}\n");
        out
    }
}
