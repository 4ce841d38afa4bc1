//! [`Queries`]: what a query server asks a running client, on any thread.

use std::sync::Arc;

use super::control::{ClientControl, State};
use super::streams_metadata::MetadataState;
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::query::HostInfo;
use crate::topology::Topology;

/// Interactive queries on a [`KafkaStreams`](super::KafkaStreams) client, from any thread
/// (from [`KafkaStreams::queries`](super::KafkaStreams::queries)): views of the stores this
/// instance hosts, and where the other partitions live.
#[derive(Clone)]
pub struct Queries {
    control: Arc<ClientControl>,
    topology: Arc<Topology>,
    metadata: Arc<MetadataState>,
    server: Option<HostInfo>,
}

impl std::fmt::Debug for Queries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queries")
            .field("application.server", &self.server)
            .finish()
    }
}

impl Queries {
    pub(crate) fn new(
        config: &StreamsConfig,
        client_id: &str,
        topology: Arc<Topology>,
        control: Arc<ClientControl>,
    ) -> Self {
        Queries {
            metadata: Arc::new(MetadataState::new(config, client_id, topology.clone())),
            server: config.application_server().cloned(),
            control,
            topology,
        }
    }

    /// The client's state.
    pub fn state(&self) -> State {
        self.control.state()
    }

    /// This instance's `application.server`, if set.
    pub fn application_server(&self) -> Option<&HostInfo> {
        self.server.as_ref()
    }

    /// The client's metrics, as [`KafkaStreams::metrics`](super::KafkaStreams::metrics).
    pub fn metrics(&self) -> crate::metrics::MetricsSnapshot {
        self.control.metrics_snapshot()
    }

    /// A read-only view of the state store `params` names, over the partitions this instance
    /// hosts (Kafka Streams' `store(StoreQueryParameters)`). The view reads what each
    /// partition's task last committed, from the calling thread, while the stream threads
    /// go on. The query types (key-value, window, session) are in `state_stores::query`;
    /// `TopologyTestDriver::store` (feature `test-util`) answers
    /// the same calls in tests.
    ///
    /// Errors: [`StreamsError::StoreUnavailable`] (retriable: not running, rebalancing,
    /// restoring, not hosted here) and [`StreamsError::InvalidStoreQuery`] (no such store,
    /// wrong view or types, a kind of store that cannot be queried).
    ///
    /// ```no_run
    /// # use streams_core::{KafkaStreams, StreamsError};
    /// # use streams_core::query::{QueryableStoreType, StoreQueryParameters};
    /// # fn ask<Q: QueryableStoreType>(streams: &KafkaStreams, q: Q) -> Result<Q::View, StreamsError> {
    /// loop {
    ///     match streams.store(StoreQueryParameters::from_name_and_type("counts", q)) {
    ///         Err(e) if e.is_retriable() => {
    ///             std::thread::sleep(std::time::Duration::from_millis(100));
    ///             # return Err(e);
    ///         }
    ///         other => return other,
    ///     }
    /// }
    /// # }
    /// ```
    pub fn store<Q: crate::query::QueryableStoreType>(
        &self,
        params: crate::query::StoreQueryParameters<Q>,
    ) -> Result<Q::View> {
        let known =
            self.topology.has_store(params.store_name()) || self.is_global(params.store_name());
        self.control
            .stores
            .query(&params, self.control.state(), known)
    }

    /// Where the partition of store `store` that holds `key` (serialized by `serde`, as the
    /// store's input is) lives: the instance whose `application.server` to ask, and the
    /// partition (Kafka Streams' `queryMetadataForKey`). The partition is the default
    /// partitioner's (murmur2 of the key bytes); the host comes from the group's member
    /// descriptions, read from the broker at most every half second, so during and just after
    /// a rebalance it can be stale: a query sent there then fails with a retriable error, and
    /// the caller asks again. Needs `application.server` set on every instance.
    ///
    /// Errors: [`StreamsError::StoreUnavailable`] while the client is not running or the
    /// group rebalances; [`StreamsError::InvalidStoreQuery`] for an unknown store;
    /// [`StreamsError::Config`] without `application.server`.
    pub fn query_metadata_for_key<K: 'static>(
        &self,
        store: &str,
        key: &K,
        serde: &dyn crate::serde::Serde<K>,
    ) -> Result<crate::query::KeyQueryMetadata> {
        self.check_running(store)?;
        let mut bytes = Vec::new();
        if !serde.serialize_into(store, key, &mut bytes).map_err(|e| {
            StreamsError::InvalidStoreQuery {
                store: store.to_owned(),
                message: format!("serializing the key: {e}"),
            }
        })? {
            return Err(StreamsError::InvalidStoreQuery {
                store: store.to_owned(),
                message: "the key serializes to null, which no partition holds".into(),
            });
        }
        self.metadata.for_key(store, &bytes)
    }

    /// Every instance of the application that has an `application.server`, with the stores
    /// and input partitions it hosts (Kafka Streams' `metadataForAllStreamsClients`). As
    /// fresh as [`Self::query_metadata_for_key`]'s answer.
    pub fn all_metadata(&self) -> Result<Vec<crate::query::StreamsMetadata>> {
        self.check_running("")?;
        self.metadata.all_metadata()
    }

    /// The instances hosting a partition of `store` (Kafka Streams'
    /// `streamsMetadataForStore`).
    pub fn metadata_for_store(&self, store: &str) -> Result<Vec<crate::query::StreamsMetadata>> {
        self.check_running(store)?;
        self.metadata.metadata_for_store(store)
    }

    /// Whether `store` is a global store (every instance holds all of it: queries of it are
    /// answered where they are asked).
    pub fn is_global(&self, store: &str) -> bool {
        self.topology.has_global_store(store)
    }

    /// The number of partitions of `store` (of the source topics of its tasks), as the group
    /// metadata shows them; as fresh as [`Self::query_metadata_for_key`]'s answer.
    pub fn partition_count(&self, store: &str) -> Result<i32> {
        self.check_running(store)?;
        self.metadata.partition_count(store)
    }

    fn check_running(&self, store: &str) -> Result<()> {
        let state = self.control.state();
        if state.is_running_or_rebalancing() {
            return Ok(());
        }
        Err(StreamsError::StoreUnavailable {
            store: store.to_owned(),
            reason: crate::error::Unavailable::NotRunning(state),
        })
    }
}
