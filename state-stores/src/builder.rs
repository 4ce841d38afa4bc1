//! Building stores for tasks, as the runtime asks for them.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use streams_core::serde::{Serde, SharedSerde};
use streams_core::store::{ChangelogSpec, StoreBuilder, StoreContext, StoreInstance};
use streams_core::{Result, StreamsError};

use crate::key_value::KeyValueStore;
use crate::logging::ChangeLoggingKeyValueStore;
use crate::memory::InMemoryKeyValueStore;
use crate::rocks::{OptionsHook, RocksDbKeyValueStore, RocksDbMemory};
use crate::segmented::Retention;
use crate::session::{SegmentedSessionStore, SessionStore};
use crate::typed::{TypedKeyValueStore, TypedSessionStore, TypedWindowStore};
use crate::window::{SegmentedWindowStore, WindowStore};

/// Where a store keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// An ordered map in memory.
    InMemory,
    /// RocksDB on local disk.
    RocksDb,
}

/// The RocksDB memory budget shared by stores that are not given one: 64 MiB per process.
pub fn default_rocksdb_memory() -> &'static RocksDbMemory {
    static DEFAULT: OnceLock<RocksDbMemory> = OnceLock::new();
    DEFAULT.get_or_init(|| RocksDbMemory::new(64 << 20))
}

/// What every store builder holds besides its serdes: name, kind, RocksDB memory and options
/// hook, and whether to log changes.
struct Common {
    name: String,
    kind: StoreKind,
    memory: Option<RocksDbMemory>,
    hook: Option<OptionsHook>,
    logging: bool,
}

impl Common {
    fn new(name: &str, kind: StoreKind) -> Self {
        Common {
            name: name.to_owned(),
            kind,
            memory: None,
            hook: None,
            logging: true,
        }
    }

    fn memory(&self) -> &RocksDbMemory {
        self.memory
            .as_ref()
            .unwrap_or_else(|| default_rocksdb_memory())
    }

    fn path(&self, ctx: &StoreContext) -> std::path::PathBuf {
        ctx.task_dir.join("rocksdb").join(&self.name)
    }
}

/// The builder methods every store builder has.
macro_rules! common_builder_methods {
    ($($builder:ident),*) => {$(
        impl<K: 'static, V: 'static> $builder<K, V> {
            /// Shares `memory` (block cache and write buffers) with the other stores given it.
            pub fn with_memory(mut self, memory: RocksDbMemory) -> Self {
                self.common.memory = Some(memory);
                self
            }

            /// Turns the changelog off: the store is not restored after a failure or a move to
            /// another instance, and no changelog topic is created.
            pub fn with_logging_disabled(mut self) -> Self {
                self.common.logging = false;
                self
            }

            /// Tunes RocksDB options before each instance opens.
            pub fn with_options_hook(
                mut self,
                hook: impl Fn(&str, &mut rocksdb::Options) + Send + Sync + 'static,
            ) -> Self {
                self.common.hook = Some(Arc::new(hook));
                self
            }
        }
    )*};
}

common_builder_methods!(
    KeyValueStoreBuilder,
    WindowStoreBuilder,
    SessionStoreBuilder
);

/// Builds a [`TypedKeyValueStore`] per task. Register it with
/// `Topology::add_state_store(builder, &["processor"])`.
pub struct KeyValueStoreBuilder<K, V> {
    common: Common,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K: 'static, V: 'static> KeyValueStoreBuilder<K, V> {
    /// A store kept in memory.
    pub fn in_memory(name: &str, key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Self::new(name, StoreKind::InMemory, key_serde, value_serde)
    }

    /// A store in RocksDB under the task's directory.
    pub fn rocksdb(name: &str, key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self {
        Self::new(name, StoreKind::RocksDb, key_serde, value_serde)
    }

    /// A store of `kind`.
    pub fn new(
        name: &str,
        kind: StoreKind,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> Self {
        KeyValueStoreBuilder {
            common: Common::new(name, kind),
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
        }
    }
}

impl<K: 'static, V: 'static> StoreBuilder for KeyValueStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.common.name
    }

    fn persistent(&self) -> bool {
        self.common.kind == StoreKind::RocksDb
    }

    fn changelog(&self) -> Option<ChangelogSpec> {
        self.common.logging.then(ChangelogSpec::compacted)
    }

    fn build(&self, ctx: &StoreContext) -> Result<StoreInstance> {
        let c = &self.common;
        let mut inner: Box<dyn KeyValueStore> = match c.kind {
            StoreKind::InMemory => Box::new(InMemoryKeyValueStore::new(&c.name)),
            StoreKind::RocksDb => Box::new(RocksDbKeyValueStore::open(
                &c.name,
                &c.path(ctx),
                c.memory(),
                c.hook.as_ref(),
            )?),
        };
        if let Some(changelog) = ctx.changelog.clone() {
            inner = Box::new(ChangeLoggingKeyValueStore::new(inner, changelog));
        }
        Ok(StoreInstance::new(TypedKeyValueStore::new(
            inner,
            self.key_serde.clone(),
            self.value_serde.clone(),
        )))
    }
}

/// How much longer than its store a window or session changelog keeps records: one day, as
/// Kafka Streams' `windowstore.changelog.additional.retention.ms` default.
pub const CHANGELOG_ADDITIONAL_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

fn millis(store: &str, what: &str, d: Duration) -> Result<i64> {
    i64::try_from(d.as_millis()).map_err(|_| {
        StreamsError::Topology(format!(
            "store `{store}`: {what} of {d:?} does not fit in 64-bit milliseconds"
        ))
    })
}

fn windowed_changelog(common: &Common, retention: Retention) -> Option<ChangelogSpec> {
    let extra = CHANGELOG_ADDITIONAL_RETENTION.as_millis() as i64;
    common.logging.then(|| {
        ChangelogSpec::compacted_with_retention(retention.retention_ms.saturating_add(extra))
    })
}

/// Builds a [`TypedWindowStore`] per task: windows of `window_size` kept for `retention` of
/// stream time. Register it with `Topology::add_state_store(builder, &["processor"])`.
pub struct WindowStoreBuilder<K, V> {
    common: Common,
    retention: Retention,
    window_size_ms: i64,
    retain_duplicates: bool,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K: 'static, V: 'static> WindowStoreBuilder<K, V> {
    /// A window store of `kind`. Fails when the window size is zero, when `retention` is
    /// shorter than `window_size`, or when either does not fit in 64-bit milliseconds. With
    /// `retain_duplicates` every put is kept (for stream-stream joins); without, a put
    /// replaces the key's value in that window.
    pub fn new(
        name: &str,
        kind: StoreKind,
        retention: Duration,
        window_size: Duration,
        retain_duplicates: bool,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> Result<Self> {
        let retention = Retention::new(name, millis(name, "the retention", retention)?)?;
        let window_size_ms = millis(name, "the window size", window_size)?;
        // Checked here so that a bad store fails when the topology is built.
        SegmentedWindowStore::in_memory(name, retention, window_size_ms, retain_duplicates)?;
        Ok(WindowStoreBuilder {
            common: Common::new(name, kind),
            retention,
            window_size_ms,
            retain_duplicates,
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
        })
    }

    /// Uses segments of `interval` instead of the default (half the retention, at least one
    /// minute). Fails on a zero interval.
    pub fn with_segment_interval(mut self, interval: Duration) -> Result<Self> {
        let name = &self.common.name;
        self.retention = Retention::with_segment_interval(
            name,
            self.retention.retention_ms,
            millis(name, "the segment interval", interval)?,
        )?;
        Ok(self)
    }
}

impl<K: 'static, V: 'static> StoreBuilder for WindowStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.common.name
    }

    fn persistent(&self) -> bool {
        self.common.kind == StoreKind::RocksDb
    }

    fn changelog(&self) -> Option<ChangelogSpec> {
        windowed_changelog(&self.common, self.retention)
    }

    fn build(&self, ctx: &StoreContext) -> Result<StoreInstance> {
        let c = &self.common;
        let (retention, size, dups) = (self.retention, self.window_size_ms, self.retain_duplicates);
        let mut store = match c.kind {
            StoreKind::InMemory => SegmentedWindowStore::in_memory(&c.name, retention, size, dups)?,
            StoreKind::RocksDb => SegmentedWindowStore::rocksdb(
                &c.name,
                &c.path(ctx),
                c.memory(),
                c.hook.as_ref(),
                retention,
                size,
                dups,
            )?,
        };
        if let Some(changelog) = ctx.changelog.clone() {
            store = store.with_changelog(changelog);
        }
        let inner: Box<dyn WindowStore> = Box::new(store);
        Ok(StoreInstance::new(TypedWindowStore::new(
            inner,
            self.key_serde.clone(),
            self.value_serde.clone(),
        )))
    }
}

/// Builds a [`TypedSessionStore`] per task: sessions kept for `retention` of stream time
/// (counted from session ends). Register it with
/// `Topology::add_state_store(builder, &["processor"])`.
pub struct SessionStoreBuilder<K, V> {
    common: Common,
    retention: Retention,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K: 'static, V: 'static> SessionStoreBuilder<K, V> {
    /// A session store of `kind`. Fails when `retention` does not fit in 64-bit
    /// milliseconds.
    pub fn new(
        name: &str,
        kind: StoreKind,
        retention: Duration,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> Result<Self> {
        let retention = Retention::new(name, millis(name, "the retention", retention)?)?;
        Ok(SessionStoreBuilder {
            common: Common::new(name, kind),
            retention,
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
        })
    }
}

impl<K: 'static, V: 'static> StoreBuilder for SessionStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.common.name
    }

    fn persistent(&self) -> bool {
        self.common.kind == StoreKind::RocksDb
    }

    fn changelog(&self) -> Option<ChangelogSpec> {
        windowed_changelog(&self.common, self.retention)
    }

    fn build(&self, ctx: &StoreContext) -> Result<StoreInstance> {
        let c = &self.common;
        let mut store = match c.kind {
            StoreKind::InMemory => SegmentedSessionStore::in_memory(&c.name, self.retention)?,
            StoreKind::RocksDb => SegmentedSessionStore::rocksdb(
                &c.name,
                &c.path(ctx),
                c.memory(),
                c.hook.as_ref(),
                self.retention,
            )?,
        };
        if let Some(changelog) = ctx.changelog.clone() {
            store = store.with_changelog(changelog);
        }
        let inner: Box<dyn SessionStore> = Box::new(store);
        Ok(StoreInstance::new(TypedSessionStore::new(
            inner,
            self.key_serde.clone(),
            self.value_serde.clone(),
        )))
    }
}
