//! Pictures of a [`TopologyDescription`]: Mermaid flowcharts and Graphviz DOT graphs, with
//! each sub-topology as a cluster, topics and stores as nodes of their own (a repartition
//! topic joins the sink that writes it to the source that reads it), and global stores beside.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::describe::{NodeKindDescription, TopologyDescription};

/// What a picture shows besides the processor nodes: topics and stores, each once.
struct Sides {
    topics: BTreeMap<String, usize>,
    stores: BTreeMap<String, usize>,
}

impl Sides {
    fn of(d: &TopologyDescription) -> Sides {
        let mut sides = Sides {
            topics: BTreeMap::new(),
            stores: BTreeMap::new(),
        };
        let add = |map: &mut BTreeMap<String, usize>, name: &str| {
            let next = map.len();
            map.entry(name.to_owned()).or_insert(next);
        };
        for node in d.subtopologies.iter().flat_map(|s| &s.nodes) {
            match &node.kind {
                NodeKindDescription::Source { topics } => {
                    topics.iter().for_each(|t| add(&mut sides.topics, t));
                }
                NodeKindDescription::Processor { stores } => {
                    stores.iter().for_each(|s| add(&mut sides.stores, s));
                }
                NodeKindDescription::Sink { topic: Some(t) } => add(&mut sides.topics, t),
                NodeKindDescription::Sink { topic: None } => {}
            }
        }
        for g in &d.global_stores {
            add(&mut sides.topics, &g.topic);
            add(&mut sides.stores, &g.store);
        }
        sides
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
        let sides = Sides::of(self);
        let mut out = String::from("flowchart TB\n");
        let mut edges = String::new();
        // `writeln!` into a String cannot fail.
        for sub in &self.subtopologies {
            let _ = writeln!(out, "  subgraph s{0}[\"Sub-topology {0}\"]", sub.id);
            let id = |name: &str| {
                let i = sub.nodes.iter().position(|n| n.name == name).unwrap_or(0);
                format!("n{}_{i}", sub.id)
            };
            for node in &sub.nodes {
                let me = id(&node.name);
                let _ = writeln!(out, "    {me}[\"{}\"]", mermaid_label(&node.name));
                for child in &node.successors {
                    let _ = writeln!(edges, "  {me} --> {}", id(child));
                }
                match &node.kind {
                    NodeKindDescription::Source { topics } => {
                        for t in topics {
                            let _ = writeln!(
                                edges,
                                "  t{}[/\"{}\"/] --> {me}",
                                sides.topics[t],
                                mermaid_label(t)
                            );
                        }
                    }
                    NodeKindDescription::Processor { stores } => {
                        for s in stores {
                            let _ = writeln!(
                                edges,
                                "  {me} -.- st{}[(\"{}\")]",
                                sides.stores[s],
                                mermaid_label(s)
                            );
                        }
                    }
                    NodeKindDescription::Sink { topic: Some(t) } => {
                        let _ = writeln!(
                            edges,
                            "  {me} --> t{}[/\"{}\"/]",
                            sides.topics[t],
                            mermaid_label(t)
                        );
                    }
                    NodeKindDescription::Sink { topic: None } => {
                        let _ =
                            writeln!(edges, "  {me} --> {me}_chosen[/\"(chosen per record)\"/]");
                    }
                }
            }
            out.push_str("  end\n");
        }
        if !self.global_stores.is_empty() {
            out.push_str("  subgraph globals[\"Global stores\"]\n");
            for g in &self.global_stores {
                let _ = writeln!(
                    out,
                    "    t{}[/\"{}\"/] --> st{}[(\"{}\")]",
                    sides.topics[&g.topic],
                    mermaid_label(&g.topic),
                    sides.stores[&g.store],
                    mermaid_label(&g.store)
                );
            }
            out.push_str("  end\n");
        }
        out.push_str(&edges);
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
        let sides = Sides::of(self);
        let mut out = String::from(
            "digraph topology {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n",
        );
        let mut edges = String::new();
        for sub in &self.subtopologies {
            let _ = writeln!(
                out,
                "  subgraph cluster_{0} {{\n    label=\"Sub-topology {0}\";",
                sub.id
            );
            let id = |name: &str| dot_string(&format!("{}:{name}", sub.id));
            for node in &sub.nodes {
                let me = id(&node.name);
                let _ = writeln!(
                    out,
                    "    {me} [label={}, shape=box];",
                    dot_string(&node.name)
                );
                for child in &node.successors {
                    let _ = writeln!(edges, "  {me} -> {};", id(child));
                }
                match &node.kind {
                    NodeKindDescription::Source { topics } => {
                        for t in topics {
                            let _ =
                                writeln!(edges, "  {} -> {me};", dot_string(&format!("topic:{t}")));
                        }
                    }
                    NodeKindDescription::Processor { stores } => {
                        for s in stores {
                            let _ = writeln!(
                                edges,
                                "  {me} -> {} [style=dashed, dir=none];",
                                dot_string(&format!("store:{s}"))
                            );
                        }
                    }
                    NodeKindDescription::Sink { topic } => {
                        let target = match topic {
                            Some(t) => format!("topic:{t}"),
                            None => format!("chosen:{}:{}", sub.id, node.name),
                        };
                        let _ = writeln!(edges, "  {me} -> {};", dot_string(&target));
                    }
                }
            }
            out.push_str("  }\n");
        }
        if !self.global_stores.is_empty() {
            out.push_str("  subgraph cluster_globals {\n    label=\"Global stores\";\n");
            for g in &self.global_stores {
                let _ = writeln!(
                    out,
                    "    {} -> {};",
                    dot_string(&format!("topic:{}", g.topic)),
                    dot_string(&format!("store:{}", g.store))
                );
            }
            out.push_str("  }\n");
        }
        for t in sides.topics.keys() {
            let _ = writeln!(
                out,
                "  {} [label={}, shape=cds];",
                dot_string(&format!("topic:{t}")),
                dot_string(t)
            );
        }
        for s in sides.stores.keys() {
            let _ = writeln!(
                out,
                "  {} [label={}, shape=cylinder];",
                dot_string(&format!("store:{s}")),
                dot_string(s)
            );
        }
        for sub in &self.subtopologies {
            for node in &sub.nodes {
                if let NodeKindDescription::Sink { topic: None } = node.kind {
                    let _ = writeln!(
                        out,
                        "  {} [label=\"(chosen per record)\", shape=cds];",
                        dot_string(&format!("chosen:{}:{}", sub.id, node.name))
                    );
                }
            }
        }
        out.push_str(&edges);
        out.push_str("}\n");
        out
    }
}
