//! `--describe text|mermaid|dot`: print an example's topology instead of running it.

use clap::ValueEnum;
use kstreams::prelude::*;

/// How `--describe` prints the topology.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescribeFormat {
    /// Kafka Streams' `Topology.describe()` text.
    Text,
    /// A Mermaid flowchart (Markdown viewers such as GitHub draw it).
    Mermaid,
    /// A Graphviz DOT graph (`dot -Tsvg`).
    Dot,
}

/// `topology` printed as `format` says.
pub fn render(topology: &Topology, format: DescribeFormat) -> String {
    let description = topology.describe();
    match format {
        DescribeFormat::Text => description.to_string(),
        DescribeFormat::Mermaid => description.to_mermaid(),
        DescribeFormat::Dot => description.to_dot(),
    }
}
