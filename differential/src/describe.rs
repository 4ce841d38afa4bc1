//! Topology descriptions compared: ours and Kafka Streams' `describe()` of the same variant
//! must name the same nodes, stores and topics and connect them the same way. The order of
//! nodes within a sub-topology, of the names in an edge list and of a processor's stores is
//! not compared: Kafka Streams sorts the first two by sub-tree sizes it counts while nodes
//! are added, and lists stores in a Java `HashSet`'s order (`docs/architecture.md`,
//! "Differences from Kafka Streams").

/// A description reduced to what must match: each sub-topology's header line, in order, with
/// its nodes sorted, each node as its line and its sorted successors and predecessors.
pub fn normalized(describe: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    let mut node: Option<(String, Vec<String>, Vec<String>)> = None;
    let flush = |node: &mut Option<(String, Vec<String>, Vec<String>)>,
                 sections: &mut Vec<(String, Vec<String>)>| {
        if let (Some((line, mut succ, mut pred)), Some(section)) =
            (node.take(), sections.last_mut())
        {
            succ.sort();
            pred.sort();
            section.1.push(format!(
                "{line} --> [{}] <-- [{}]",
                succ.join(", "),
                pred.join(", ")
            ));
        }
    };
    for line in describe.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("Sub-topology:") {
            flush(&mut node, &mut sections);
            sections.push((trimmed.to_owned(), Vec::new()));
        } else if let Some(list) = trimmed.strip_prefix("-->") {
            if let Some(n) = node.as_mut() {
                n.1.extend(names(list));
            }
        } else if let Some(list) = trimmed.strip_prefix("<--") {
            if let Some(n) = node.as_mut() {
                n.2.extend(names(list));
            }
        } else if !trimmed.is_empty() && trimmed != "Topologies:" {
            flush(&mut node, &mut sections);
            node = Some((stores_sorted(trimmed), Vec::new(), Vec::new()));
        }
    }
    flush(&mut node, &mut sections);
    for section in &mut sections {
        section.1.sort();
    }
    sections
}

/// A node's line with its store list sorted: Kafka Streams lists a processor's stores in the
/// order of a Java `HashSet`.
fn stores_sorted(line: &str) -> String {
    match (line.find("(stores: ["), line.rfind("])")) {
        (Some(start), Some(end)) if end > start => {
            let list = &line[start + "(stores: [".len()..end];
            let mut stores: Vec<&str> = list.split(", ").filter(|s| !s.is_empty()).collect();
            stores.sort_unstable();
            format!(
                "{}(stores: [{}]){}",
                &line[..start],
                stores.join(", "),
                &line[end + 2..]
            )
        }
        _ => line.to_owned(),
    }
}

fn names(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != "none")
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_order_and_edge_order_do_not_matter_but_names_do() {
        let a = "Topologies:\n   Sub-topology: 0\n    Source: S (topics: [in])\n      --> A, B\n    Processor: A (stores: [])\n      --> none\n      <-- S\n    Processor: B (stores: [])\n      --> none\n      <-- S\n\n";
        let b = "Topologies:\n   Sub-topology: 0\n    Processor: B (stores: [])\n      --> none\n      <-- S\n    Source: S (topics: [in])\n      --> B, A\n    Processor: A (stores: [])\n      --> none\n      <-- S\n\n";
        assert_eq!(normalized(a), normalized(b));
        assert_ne!(
            normalized(a),
            normalized(&b.replace("stores: []", "stores: [x]"))
        );
        assert_eq!(normalized(a)[0].1.len(), 3);
        let stores = |list: &str| {
            normalized(&a.replace(
                "Processor: A (stores: [])",
                &format!("Processor: A (stores: [{list}])"),
            ))
        };
        assert_eq!(stores("x, y"), stores("y, x"));
        assert_ne!(stores("x, y"), stores("x, z"));
    }
}
