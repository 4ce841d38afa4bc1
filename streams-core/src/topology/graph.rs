//! Graph analysis: the sub-topologies (connected parts of the graph, one task per partition
//! each), the changelog and repartition topics they need, and the full names of internal
//! topics once the application id is known.

use std::collections::{BTreeSet, HashMap};

use super::Subtopology;
use super::Topology;
use super::node_def::NodeKind;
use crate::store::{ChangelogSpec, changelog_topic};

impl Topology {
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
}
