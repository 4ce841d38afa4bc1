//! Processors the integration suites share.

use std::collections::BTreeMap;

use state_stores::KeyValueStoreBuilder;
use state_stores::typed::{TypedKeyValueStore, TypedWindowStore};
use streams_core::processor::{
    OpenedProcessor, Processor, ProcessorContext, ProcessorError, from_stores,
};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::store::StoreHandle;
use streams_core::{Record, Topology};

/// The store [`CountPerKey`] uses: counts by key.
pub type Counts = TypedKeyValueStore<String, i64>;

/// Counts records per key in the store named at construction and forwards the running count.
pub struct CountPerKey {
    store: StoreHandle<Counts>,
}

impl CountPerKey {
    /// A supplier of counters over the store `store_name`, each built from its task's store.
    pub fn supplier(
        store_name: &'static str,
    ) -> impl Fn() -> OpenedProcessor<CountPerKey> + Send + Sync + 'static {
        from_stores(move |stores| {
            Ok(CountPerKey {
                store: stores.state_store(store_name)?,
            })
        })
    }
}

impl Processor<String, String, String, i64> for CountPerKey {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let count = increment(&self.store, &r.key)?;
        ctx.forward(r.with_value(count))?;
        Ok(())
    }
}

/// `input` counted per key by [`CountPerKey`] over a logged RocksDB store `counts`, each
/// running count written to `output` as a big-endian i64.
pub fn count_topology(input: &str, output: &str) -> streams_core::Result<Topology> {
    let mut t = Topology::new();
    t.add_source("src", &[input], StringSerde, StringSerde)?
        .add_processor("count", CountPerKey::supplier("counts"), &["src"])?
        .add_state_store(
            KeyValueStoreBuilder::rocksdb("counts", StringSerde, I64Serde),
            &["count"],
        )?
        .add_sink("sink", output, StringSerde, I64Serde, &["count"])?;
    Ok(t)
}

/// Checks the output of [`count_topology`] over the input `client::round_robin(0, total,
/// keys)`: per key, the counts 1, 2, ..., n in order (no loss, no duplicate), with n the
/// key's number of input records. Reads `output` with `read_committed`.
pub fn check_counts(
    bootstrap: &str,
    output: &str,
    total: usize,
    keys: usize,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let out = crate::client::read_committed(
        bootstrap,
        output,
        total,
        std::time::Duration::from_secs(2),
        std::time::Duration::from_secs(90),
    )?;
    let mut per_key: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in &out {
        let value = r.value.as_deref().context("a count")?;
        let n = i64::from_be_bytes(value.try_into().context("8-byte count")?);
        per_key
            .entry(String::from_utf8(r.key.clone())?)
            .or_default()
            .push(n);
    }
    let mut expected = BTreeMap::new();
    for i in 0..total {
        let key = format!("k{}", i % keys);
        let seen: &mut Vec<i64> = expected.entry(key).or_default();
        seen.push(seen.len() as i64 + 1);
    }
    assert_eq!(per_key, expected);
    Ok(())
}

/// Adds one to `key`'s count in `store` and returns the new count.
pub fn increment(store: &StoreHandle<Counts>, key: &String) -> Result<i64, ProcessorError> {
    let mut store = store.borrow_mut();
    let count = store.get(key)?.unwrap_or(0) + 1;
    store.put(key, &count)?;
    Ok(count)
}

/// The store [`WindowedCountPerKey`] uses: counts by key and window start.
pub type WindowCounts = TypedWindowStore<String, i64>;

/// Counts records per key in tumbling windows of `size_ms` (aligned to the epoch) kept in a
/// window store, and forwards `<key>@<window start>` with the window's running count.
pub struct WindowedCountPerKey {
    size_ms: i64,
    store: StoreHandle<WindowCounts>,
}

impl WindowedCountPerKey {
    /// A counter over the window store `store_name`, in windows of `size_ms`.
    pub fn supplier(
        store_name: &'static str,
        size_ms: i64,
    ) -> impl Fn() -> OpenedProcessor<WindowedCountPerKey> + Send + Sync + 'static {
        from_stores(move |stores| {
            Ok(WindowedCountPerKey {
                size_ms,
                store: stores.state_store(store_name)?,
            })
        })
    }
}

impl Processor<String, String, String, i64> for WindowedCountPerKey {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let start = r.timestamp - r.timestamp.rem_euclid(self.size_ms);
        let count = {
            let mut store = self.store.borrow_mut();
            let count = store.fetch(&r.key, start)?.unwrap_or(0) + 1;
            store.put(&r.key, &count, start)?;
            count
        };
        let key = format!("{}@{start}", r.key);
        ctx.forward(r.with_key(key).with_value(count))?;
        Ok(())
    }
}
