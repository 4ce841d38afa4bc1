//! Building key-value stores for tasks, as the runtime asks for them.

use std::sync::{Arc, OnceLock};

use streams_core::Result;
use streams_core::serde::{Serde, SharedSerde};
use streams_core::store::{ChangelogSpec, StoreBuilder, StoreContext, StoreInstance};

use crate::key_value::KeyValueStore;
use crate::logging::ChangeLoggingKeyValueStore;
use crate::memory::InMemoryKeyValueStore;
use crate::rocks::{OptionsHook, RocksDbKeyValueStore, RocksDbMemory};
use crate::typed::TypedKeyValueStore;

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

/// Builds a [`TypedKeyValueStore`] per task. Register it with
/// `Topology::add_state_store(builder, &["processor"])`.
pub struct KeyValueStoreBuilder<K, V> {
    name: String,
    kind: StoreKind,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    memory: Option<RocksDbMemory>,
    hook: Option<OptionsHook>,
    logging: bool,
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

    fn new(
        name: &str,
        kind: StoreKind,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> Self {
        KeyValueStoreBuilder {
            name: name.to_owned(),
            kind,
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
            memory: None,
            hook: None,
            logging: true,
        }
    }

    /// Shares `memory` (block cache and write buffers) with the other stores given it.
    pub fn with_memory(mut self, memory: RocksDbMemory) -> Self {
        self.memory = Some(memory);
        self
    }

    /// Turns the changelog off: the store is not restored after a failure or a move to another
    /// instance, and no changelog topic is created.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// Tunes RocksDB options before each instance opens.
    pub fn with_options_hook(
        mut self,
        hook: impl Fn(&str, &mut rocksdb::Options) + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }
}

impl<K: 'static, V: 'static> StoreBuilder for KeyValueStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        self.kind == StoreKind::RocksDb
    }

    fn changelog(&self) -> Option<ChangelogSpec> {
        self.logging.then(ChangelogSpec::compacted)
    }

    fn build(&self, ctx: &StoreContext) -> Result<StoreInstance> {
        let mut inner: Box<dyn KeyValueStore> = match self.kind {
            StoreKind::InMemory => Box::new(InMemoryKeyValueStore::new(&self.name)),
            StoreKind::RocksDb => {
                let memory = self
                    .memory
                    .as_ref()
                    .unwrap_or_else(|| default_rocksdb_memory());
                let path = ctx.task_dir.join("rocksdb").join(&self.name);
                Box::new(RocksDbKeyValueStore::open(
                    &self.name,
                    &path,
                    memory,
                    self.hook.as_ref(),
                )?)
            }
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
