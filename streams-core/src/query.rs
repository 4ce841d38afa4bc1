//! Interactive queries: reading a running application's state stores from any thread.
//!
//! Each task's stores register a read-only view here when the task is created (as
//! restoring) and again when it has restored (as active); closing the task removes them.
//! [`KafkaStreams::store`](crate::runtime::KafkaStreams::store) and the test driver's
//! `store` (feature `test-util`) look the views up by name and
//! hand them to a [`QueryableStoreType`], which combines the partitions into the typed view
//! the caller asked for (key-value, window or session: see `state_stores::query`).
//!
//! A query reads what the store's task last committed: the writes a task makes between two
//! commits are invisible until the commit (every `commit.interval.ms`, and after every
//! record in the test driver), under at-least-once as under exactly-once, so a query never
//! sees a value that an aborted transaction or a crash takes back.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::client_state::State;
pub use crate::error::Unavailable;
use crate::error::{Result, StreamsError};
use crate::ids::TaskId;

/// A store's read-only view as its task registers it: an object the store's
/// [`QueryableStoreType`]s know how to downcast, shareable across threads.
pub type QueryableStore = Arc<dyn Any + Send + Sync>;

/// One partition's view of a store, as a [`QueryableStoreType`] receives it.
#[derive(Clone)]
pub struct LocalStore {
    /// The partition (the task's partition number).
    pub partition: i32,
    /// The view the store registered.
    pub store: QueryableStore,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("partition", &self.partition)
            .finish()
    }
}

/// A kind of store view (key-value, window, session; with or without timestamps) and how to
/// build it from the views of a store's local partitions.
pub trait QueryableStoreType {
    /// The view handed to the caller.
    type View;
    /// What the caller asked for, for errors (`"a key-value store of String to i64"`).
    fn describe(&self) -> String;
    /// Whether `store` (one partition's registered view) can serve this type.
    fn accepts(&self, store: &QueryableStore) -> bool;
    /// The caller's view over the partitions (each accepted), in partition order.
    fn create(&self, store_name: &str, stores: Vec<LocalStore>) -> Self::View;
}

/// What [`KafkaStreams::store`](crate::runtime::KafkaStreams::store) is asked: the store's
/// name, the view wanted, optionally one partition, and whether stores that are still
/// restoring may answer.
///
/// ```
/// use streams_core::query::{LocalStore, QueryableStore, QueryableStoreType, StoreQueryParameters};
///
/// struct Names;
/// impl QueryableStoreType for Names {
///     type View = Vec<i32>;
///     fn describe(&self) -> String { "partitions".into() }
///     fn accepts(&self, _: &QueryableStore) -> bool { true }
///     fn create(&self, _: &str, stores: Vec<LocalStore>) -> Vec<i32> {
///         stores.iter().map(|s| s.partition).collect()
///     }
/// }
/// let params = StoreQueryParameters::from_name_and_type("counts", Names)
///     .with_partition(3)
///     .enable_stale_stores();
/// assert_eq!(params.store_name(), "counts");
/// assert_eq!(params.partition(), Some(3));
/// assert!(params.stale_stores_enabled());
/// ```
#[derive(Debug, Clone)]
pub struct StoreQueryParameters<Q> {
    name: String,
    query_type: Q,
    partition: Option<i32>,
    stale: bool,
}

impl<Q: QueryableStoreType> StoreQueryParameters<Q> {
    /// Every local partition of the store `name`, as the view `query_type`; while one of
    /// them is still restoring, the query fails as restoring (see
    /// [`Self::enable_stale_stores`]).
    pub fn from_name_and_type(name: &str, query_type: Q) -> Self {
        StoreQueryParameters {
            name: name.to_owned(),
            query_type,
            partition: None,
            stale: false,
        }
    }

    /// Only partition `partition` (an error if this instance does not host it).
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Lets partitions that are still restoring, and standby copies
    /// (`num.standby.replicas`), answer too: their content lags the changelog (until
    /// restoration ends; by what a standby has not read yet).
    pub fn enable_stale_stores(mut self) -> Self {
        self.stale = true;
        self
    }

    /// The store's name.
    pub fn store_name(&self) -> &str {
        &self.name
    }

    /// The partition asked for, if one.
    pub fn partition(&self) -> Option<i32> {
        self.partition
    }

    /// Whether restoring partitions may answer.
    pub fn stale_stores_enabled(&self) -> bool {
        self.stale
    }

    /// The view asked for.
    pub fn query_type(&self) -> &Q {
        &self.query_type
    }
}

/// Where an instance answers interactive queries: its `application.server`, `host:port`.
///
/// ```
/// use streams_core::query::HostInfo;
///
/// let host = HostInfo::parse("fraud-0.fraud.svc:8080").expect("host:port");
/// assert_eq!((host.host.as_str(), host.port), ("fraud-0.fraud.svc", 8080));
/// assert_eq!(host.to_string(), "fraud-0.fraud.svc:8080");
/// assert!(HostInfo::parse("no-port").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostInfo {
    /// A host name or IP address other instances can reach.
    pub host: String,
    /// The port the application serves queries on.
    pub port: u16,
}

impl HostInfo {
    /// `host:port` (an IPv6 address in brackets: `[::1]:8080`); `None` when it is not one.
    pub fn parse(value: &str) -> Option<Self> {
        let (host, port) = value.trim().rsplit_once(':')?;
        let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        let valid = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            !v6.is_empty()
                && v6
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        } else {
            !host.is_empty() && host.chars().all(plain)
        };
        valid.then(|| HostInfo {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for HostInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Where the partition of a store holding one key lives (Kafka Streams' `KeyQueryMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyQueryMetadata {
    /// The instance whose active task holds the key.
    pub active_host: HostInfo,
    /// Instances holding a standby copy of the key's partition (`num.standby.replicas`),
    /// which answer queries that enable stale stores.
    pub standby_hosts: Vec<HostInfo>,
    /// The partition (of the store's source topics) the key belongs to.
    pub partition: i32,
}

/// One instance of the application as the group shows it (Kafka Streams' `StreamsMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsMetadata {
    /// Where it answers queries.
    pub host_info: HostInfo,
    /// The stores of the tasks it runs.
    pub state_store_names: std::collections::BTreeSet<String>,
    /// The input partitions assigned to it.
    pub topic_partitions: std::collections::BTreeSet<(String, i32)>,
    /// The stores of the standby copies it keeps (`num.standby.replicas`).
    pub standby_state_store_names: std::collections::BTreeSet<String>,
    /// The input partitions of the tasks it keeps standby copies of.
    pub standby_topic_partitions: std::collections::BTreeSet<(String, i32)>,
}

/// The partition under which a global store is registered.
const GLOBAL: i32 = -1;

/// The task a global store is registered for (no task owns it).
const GLOBAL_TASK: TaskId = TaskId {
    subtopology: u32::MAX,
    partition: GLOBAL,
};

/// One store of one task, as registered.
struct Registered {
    task: TaskId,
    /// `None`: a store of a kind that cannot be queried (one without `queryable`).
    store: Option<QueryableStore>,
    restoring: bool,
    /// A standby copy: it answers only queries that enable stale stores.
    standby: bool,
}

/// The stores of the tasks this client runs, by store name and partition.
#[derive(Default)]
pub(crate) struct QueryableStores {
    stores: RwLock<HashMap<String, BTreeMap<i32, Registered>>>,
}

impl QueryableStores {
    /// Registers the stores of `task` (name and view; `None` for a store that cannot be
    /// queried), replacing what the task registered before.
    pub(crate) fn register(
        &self,
        task: TaskId,
        stores: Vec<(String, Option<QueryableStore>)>,
        restoring: bool,
    ) {
        let mut all = self.stores.write();
        for (name, store) in stores {
            all.entry(name).or_default().insert(
                task.partition,
                Registered {
                    task,
                    store,
                    restoring,
                    standby: false,
                },
            );
        }
    }

    /// Registers the stores of standby task `task`, under partitions no active task of this
    /// client registered.
    pub(crate) fn register_standby(
        &self,
        task: TaskId,
        stores: Vec<(String, Option<QueryableStore>)>,
    ) {
        let mut all = self.stores.write();
        for (name, store) in stores {
            all.entry(name)
                .or_default()
                .entry(task.partition)
                .or_insert(Registered {
                    task,
                    store,
                    restoring: false,
                    standby: true,
                });
        }
    }

    /// Registers the global stores: every instance has all of each, so a query of one is
    /// answered whatever partition it names.
    pub(crate) fn register_globals(&self, globals: Vec<(String, Option<QueryableStore>)>) {
        let mut all = self.stores.write();
        for (name, store) in globals {
            all.entry(name).or_default().insert(
                GLOBAL,
                Registered {
                    task: GLOBAL_TASK,
                    store,
                    restoring: false,
                    standby: false,
                },
            );
        }
    }

    /// Marks the stores of `task` restored.
    pub(crate) fn restored(&self, task: TaskId) {
        for partitions in self.stores.write().values_mut() {
            if let Some(r) = partitions.get_mut(&(task.partition))
                && r.task == task
                && !r.standby
            {
                r.restoring = false;
            }
        }
    }

    /// Removes the stores of active task `task` (closed, or moved away).
    pub(crate) fn remove(&self, task: TaskId) {
        self.remove_where(|r| r.task == task && !r.standby);
    }

    /// Removes the stores of standby task `task`.
    pub(crate) fn remove_standby(&self, task: TaskId) {
        self.remove_where(|r| r.task == task && r.standby);
    }

    fn remove_where(&self, gone: impl Fn(&Registered) -> bool) {
        let mut all = self.stores.write();
        for partitions in all.values_mut() {
            partitions.retain(|_, r| !gone(r));
        }
        all.retain(|_, partitions| !partitions.is_empty());
    }

    /// The view `params` asks for. `state` is the client's; `known` says whether the
    /// topology has a store of that name.
    pub(crate) fn query<Q: QueryableStoreType>(
        &self,
        params: &StoreQueryParameters<Q>,
        state: State,
        known: bool,
    ) -> Result<Q::View> {
        let name = params.store_name();
        let unavailable = |reason| StreamsError::StoreUnavailable {
            store: name.to_owned(),
            reason,
        };
        if !known {
            return Err(StreamsError::InvalidStoreQuery {
                store: name.to_owned(),
                message: "the topology has no state store of that name".into(),
            });
        }
        if !state.is_running_or_rebalancing() {
            return Err(unavailable(Unavailable::NotRunning(state)));
        }
        let all = self.stores.read();
        let none = BTreeMap::new();
        let partitions = all.get(name).unwrap_or(&none);
        let mut chosen = Vec::new();
        let mut restoring = Vec::new();
        for (&partition, r) in partitions {
            if partition != GLOBAL && params.partition().is_some_and(|p| p != partition) {
                continue;
            }
            // A standby copy is not hosted as far as a query for current data goes.
            if r.standby && !params.stale_stores_enabled() {
                continue;
            }
            let Some(store) = &r.store else {
                return Err(StreamsError::InvalidStoreQuery {
                    store: name.to_owned(),
                    message: "the store offers no view for queries (a store type of your own needs StateStore::queryable; the library's stores all have one)".into(),
                });
            };
            if !params.query_type().accepts(store) {
                return Err(StreamsError::InvalidStoreQuery {
                    store: name.to_owned(),
                    message: format!(
                        "the store cannot be read as {}; check the query type and its key and value types against the store's",
                        params.query_type().describe()
                    ),
                });
            }
            if r.restoring && !params.stale_stores_enabled() {
                restoring.push(partition);
                continue;
            }
            chosen.push(LocalStore {
                partition,
                store: store.clone(),
            });
        }
        // As Kafka Streams (whose stream thread must be running), a view is whole or not at
        // all: while a partition asked for restores, the query waits for it.
        if !restoring.is_empty() {
            return Err(unavailable(Unavailable::Restoring {
                partitions: restoring,
            }));
        }
        if chosen.is_empty() {
            let reason = if state == State::Rebalancing {
                Unavailable::Rebalancing
            } else {
                Unavailable::NotHosted {
                    partition: params.partition(),
                }
            };
            return Err(unavailable(reason));
        }
        Ok(params.query_type().create(name, chosen))
    }
}
