//! Which instance of the application hosts which partitions, and where it answers queries:
//! the metadata behind [`KafkaStreams::query_metadata_for_key`](super::KafkaStreams::query_metadata_for_key).
//!
//! librdkafka cannot attach user data to a group assignment, so each instance publishes its
//! `application.server` in its main consumers' `client.id` (`<client id>@<host:port>`), which
//! the group coordinator shows in every member's description beside the partitions assigned
//! to it. A snapshot of the group (its members, their endpoints and assignments, and the
//! partition counts of the source topics) is read from the broker when asked and kept for
//! [`SNAPSHOT_TTL`]; a group that is rebalancing has no assignment to show, and a query then
//! gets a retriable error.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::consumer::Consumer;

use super::client_supplier::create_watermark_client;
use super::group_description::{ASK_TIMEOUT, GroupDescriber, MemberAssignment};
use super::member_identity::{ENDPOINT_MARK, published_process};
use super::standby_assignor::place_standbys;
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError, Unavailable};
use crate::query::{HostInfo, KeyQueryMetadata, StreamsMetadata};
use crate::topology::{Subtopology, Topology};

/// How long a snapshot of the group answers before it is read again.
pub(crate) const SNAPSHOT_TTL: Duration = Duration::from_millis(500);

/// The group as read: each endpoint's partitions (of its active tasks, and of the standby
/// copies it keeps), and the source topics' sizes.
struct Snapshot {
    hosts: BTreeMap<HostInfo, BTreeSet<(String, i32)>>,
    standbys: BTreeMap<HostInfo, BTreeSet<(String, i32)>>,
    partition_counts: HashMap<String, i32>,
}

/// A read of the group: the snapshot, or why there is none now.
type Reading = std::result::Result<Arc<Snapshot>, Unavailable>;

/// The client's view of where the application's partitions are.
pub(crate) struct MetadataState {
    config: StreamsConfig,
    client_id: String,
    topology: Arc<Topology>,
    subtopologies: Vec<Subtopology>,
    describer: Mutex<Option<GroupDescriber>>,
    snapshot: Mutex<Option<(Instant, Reading)>>,
}

impl MetadataState {
    pub(crate) fn new(config: &StreamsConfig, client_id: &str, topology: Arc<Topology>) -> Self {
        MetadataState {
            config: config.clone(),
            client_id: client_id.to_owned(),
            subtopologies: topology.subtopologies(),
            topology,
            describer: Mutex::new(None),
            snapshot: Mutex::new(None),
        }
    }

    /// Every instance with an endpoint, with the stores and partitions it hosts.
    pub(crate) fn all_metadata(&self) -> Result<Vec<StreamsMetadata>> {
        let snapshot = self.snapshot("")?;
        let none = BTreeSet::new();
        let hosts: BTreeSet<&HostInfo> = snapshot
            .hosts
            .keys()
            .chain(snapshot.standbys.keys())
            .collect();
        Ok(hosts
            .into_iter()
            .map(|host| {
                let active = snapshot.hosts.get(host).unwrap_or(&none);
                let standby = snapshot.standbys.get(host).unwrap_or(&none);
                StreamsMetadata {
                    host_info: host.clone(),
                    state_store_names: self.stores_of(active),
                    topic_partitions: active.clone(),
                    standby_state_store_names: self.stores_of(standby),
                    standby_topic_partitions: standby.clone(),
                }
            })
            .collect())
    }

    /// The stores of the sub-topologies that read some of `partitions`.
    fn stores_of(&self, partitions: &BTreeSet<(String, i32)>) -> BTreeSet<String> {
        self.subtopologies
            .iter()
            .filter(|s| {
                partitions
                    .iter()
                    .any(|(topic, _)| s.source_topics.contains(topic))
            })
            .flat_map(|s| s.stores.iter().cloned())
            .collect()
    }

    /// The instances hosting some partition of `store`, active or as a standby copy (all of
    /// them for a global store).
    pub(crate) fn metadata_for_store(&self, store: &str) -> Result<Vec<StreamsMetadata>> {
        if self.topology.has_global_store(store) {
            return self.all_metadata();
        }
        self.subtopology_of(store)?;
        let mut all = self.all_metadata()?;
        all.retain(|m| {
            m.state_store_names.contains(store) || m.standby_state_store_names.contains(store)
        });
        Ok(all)
    }

    /// Where the partition of `store` that holds the serialized key `key` lives (for a
    /// global store: here, as partition -1, since every instance holds all of it).
    pub(crate) fn for_key(&self, store: &str, key: &[u8]) -> Result<KeyQueryMetadata> {
        if self.topology.has_global_store(store) {
            return Ok(KeyQueryMetadata {
                active_host: self.own_server()?.clone(),
                standby_hosts: Vec::new(),
                partition: -1,
            });
        }
        let sub = self.subtopology_of(store)?;
        let snapshot = self.snapshot(store)?;
        let unavailable = |reason| StreamsError::StoreUnavailable {
            store: store.to_owned(),
            reason,
        };
        let topic = sub
            .source_topics
            .iter()
            .find(|t| snapshot.partition_counts.contains_key(*t))
            .ok_or_else(|| unavailable(Unavailable::Rebalancing))?;
        let partition = crate::partition::default_partition(key, snapshot.partition_counts[topic]);
        let host = snapshot
            .hosts
            .iter()
            .find(|(_, partitions)| partitions.contains(&(topic.clone(), partition)))
            .map(|(host, _)| host.clone())
            .ok_or_else(|| unavailable(Unavailable::Rebalancing))?;
        let key_partition = (topic.clone(), partition);
        let standby_hosts = snapshot
            .standbys
            .iter()
            .filter(|(_, partitions)| partitions.contains(&key_partition))
            .map(|(host, _)| host.clone())
            .collect();
        Ok(KeyQueryMetadata {
            active_host: host,
            standby_hosts,
            partition,
        })
    }

    /// The number of partitions of `store` (of its source topics).
    pub(crate) fn partition_count(&self, store: &str) -> Result<i32> {
        let sub = self.subtopology_of(store)?;
        let snapshot = self.snapshot(store)?;
        sub.source_topics
            .iter()
            .find_map(|t| snapshot.partition_counts.get(t).copied())
            .ok_or_else(|| StreamsError::StoreUnavailable {
                store: store.to_owned(),
                reason: Unavailable::Rebalancing,
            })
    }

    fn subtopology_of(&self, store: &str) -> Result<&Subtopology> {
        if !self.topology.has_store(store) {
            return Err(StreamsError::InvalidStoreQuery {
                store: store.to_owned(),
                message: "the topology has no state store of that name".into(),
            });
        }
        self.subtopologies
            .iter()
            .find(|s| s.stores.iter().any(|n| n == store))
            .ok_or_else(|| StreamsError::InvalidStoreQuery {
                store: store.to_owned(),
                message: "no processor uses the store, so no task hosts it".into(),
            })
    }

    /// This instance's `application.server`; without it no instance can find another.
    fn own_server(&self) -> Result<&HostInfo> {
        self.config.application_server().ok_or_else(|| {
            StreamsError::config(
                "application.server",
                "is not set: instances cannot tell each other where they answer queries; set it to this instance's host:port",
            )
        })
    }

    /// The group as last read, read again when older than [`SNAPSHOT_TTL`]. A failure to
    /// read it (a rebalance, a broker that does not answer) is kept as long, so that a burst
    /// of queries during an outage does not queue on the broker; its error names `store`.
    fn snapshot(&self, store: &str) -> Result<Arc<Snapshot>> {
        self.own_server()?;
        let mut cached = self.snapshot.lock();
        let fresh = match cached.as_ref() {
            Some((taken, read)) if taken.elapsed() < SNAPSHOT_TTL => read.clone(),
            _ => {
                let read = self.read_group()?.map(Arc::new);
                *cached = Some((Instant::now(), read.clone()));
                read
            }
        };
        fresh.map_err(|reason| StreamsError::StoreUnavailable {
            store: store.to_owned(),
            reason,
        })
    }

    /// The group from the broker; `Err(reason)` inside when it cannot be known now.
    fn read_group(&self) -> Result<std::result::Result<Snapshot, Unavailable>> {
        let mut describer = self.describer.lock();
        if describer.is_none() {
            let client = create_watermark_client(
                &self.config,
                &format!("{}-metadata", self.client_id),
                &Default::default(),
            )?;
            match GroupDescriber::new(client, self.config.application_id()) {
                Ok(made) => *describer = Some(made),
                Err(reason) => return Ok(Err(reason)),
            }
        }
        let describer = describer.as_mut().ok_or_else(|| {
            StreamsError::IllegalState("the metadata client was not created".into())
        })?;
        let members = match describer.stable_members(ASK_TIMEOUT) {
            Ok(members) => members,
            Err(reason) => return Ok(Err(reason)),
        };
        let mut hosts: BTreeMap<HostInfo, BTreeSet<(String, i32)>> = BTreeMap::new();
        let mut topics = BTreeSet::new();
        let mut process_hosts = BTreeMap::new();
        for MemberAssignment {
            client_id,
            partitions: assigned,
            ..
        } in &members
        {
            let Some(host) = client_id
                .rsplit_once(ENDPOINT_MARK)
                .and_then(|(_, h)| HostInfo::parse(h))
            else {
                continue;
            };
            if let Some((process, _)) = published_process(client_id) {
                process_hosts.insert(process.to_owned(), host.clone());
            }
            topics.extend(assigned.iter().map(|(t, _)| t.clone()));
            hosts
                .entry(host)
                .or_default()
                .extend(assigned.iter().cloned());
        }
        // Where the standby copies are: every instance places them alike (standby_assignor).
        let mut standbys: BTreeMap<HostInfo, BTreeSet<(String, i32)>> = BTreeMap::new();
        let replicas = self.config.num_standby_replicas();
        let successors = !self.config.uses_consumer_protocol();
        for (task, keepers) in place_standbys(&members, &self.subtopologies, replicas, successors) {
            let Some(sub) = self.subtopologies.iter().find(|s| s.id == task.subtopology) else {
                continue;
            };
            for host in keepers.iter().filter_map(|p| process_hosts.get(p)) {
                let partitions = sub
                    .source_topics
                    .iter()
                    .map(|t| (t.clone(), task.partition));
                standbys.entry(host.clone()).or_default().extend(partitions);
            }
        }
        let unknown = |doing: &str, e: rdkafka::error::KafkaError| {
            Ok(Err(Unavailable::NoMetadata {
                message: format!("{doing}: {e}"),
            }))
        };
        let mut partition_counts = HashMap::new();
        for topic in topics {
            let md = match describer.client().fetch_metadata(Some(&topic), ASK_TIMEOUT) {
                Ok(md) => md,
                Err(e) => return unknown(&format!("reading the metadata of {topic}"), e),
            };
            if let Some(t) = md.topics().first()
                && !t.partitions().is_empty()
            {
                partition_counts.insert(topic, t.partitions().len() as i32);
            }
        }
        Ok(Ok(Snapshot {
            hosts,
            standbys,
            partition_counts,
        }))
    }
}
