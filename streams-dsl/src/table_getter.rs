//! Value getters: how a join reads the current row of a table that has no store of its own
//! (a `filter` or `map_values` of a table that has one), as Kafka Streams' `KTableValueGetter`
//! does: the row of the store upstream, passed through the same filters and mappings, with
//! its timestamp. No store and no changelog are added for it.

use std::sync::Arc;

use streams_core::processor::{ProcessorContext, ProcessorError, StoreLookup};

use crate::table::{Change, ChangeFn};
use crate::timestamped::{TimestampedKeyValueStore, ValueAndTimestamp};

/// Reads one row.
type Lookup<K, V> = dyn Fn(&K) -> streams_core::Result<Option<ValueAndTimestamp<V>>>;

/// Opens a row reader on a processor's connected stores.
type Open<K, V> = dyn Fn(&StoreLookup<'_>) -> streams_core::Result<Box<Lookup<K, V>>> + Send + Sync;

/// How to read a table's rows: the store they come from and the steps between.
pub(crate) struct ValueGetter<K, V> {
    /// The store the rows are read from: connect it to every processor that reads them.
    pub(crate) store: String,
    open: Arc<Open<K, V>>,
}

impl<K, V> Clone for ValueGetter<K, V> {
    fn clone(&self) -> Self {
        ValueGetter {
            store: self.store.clone(),
            open: self.open.clone(),
        }
    }
}

impl<K: 'static, V: Clone + 'static> ValueGetter<K, V> {
    /// The rows of the timestamped key-value store `store`, as they are.
    pub(crate) fn of_store(store: &str) -> Self {
        let name = store.to_owned();
        ValueGetter {
            store: store.to_owned(),
            open: Arc::new(move |stores| {
                let handle = stores.state_store::<TimestampedKeyValueStore<K, V>>(&name)?;
                Ok(Box::new(move |key: &K| handle.borrow_mut().get(key)) as Box<Lookup<K, V>>)
            }),
        }
    }

    /// The rows of this getter passed through a table step `f` (a filter or a value
    /// mapping): a row the step forwards no new value for is absent.
    pub(crate) fn then<V2: 'static>(&self, f: Arc<ChangeFn<K, V, V2>>) -> ValueGetter<K, V2> {
        let parent = self.open.clone();
        ValueGetter {
            store: self.store.clone(),
            open: Arc::new(move |stores| {
                let read = parent(stores)?;
                let f = f.clone();
                Ok(Box::new(move |key: &K| {
                    Ok(read(key)?.and_then(|row| {
                        let change = Change {
                            new: Some(row.value),
                            old: None,
                        };
                        let value = f(key, change)?.new?;
                        Some(ValueAndTimestamp {
                            value,
                            timestamp: row.timestamp,
                        })
                    }))
                }) as Box<Lookup<K, V2>>)
            }),
        }
    }
}

/// A processor's reader of a table's rows, opened in the processor's `init`.
pub(crate) struct TableReader<K, V> {
    getter: ValueGetter<K, V>,
    read: Option<Box<Lookup<K, V>>>,
}

impl<K: 'static, V: 'static> TableReader<K, V> {
    /// A reader of `getter`'s rows.
    pub(crate) fn new(getter: &ValueGetter<K, V>) -> Self {
        TableReader {
            getter: getter.clone(),
            read: None,
        }
    }

    /// Opens the reader on the processor's stores.
    pub(crate) fn init<KO, VO>(
        &mut self,
        ctx: &mut ProcessorContext<'_, KO, VO>,
    ) -> Result<(), ProcessorError> {
        self.read = Some((self.getter.open)(&ctx.stores())?);
        Ok(())
    }

    /// The current row of `key`.
    pub(crate) fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, ProcessorError> {
        let read = self.read.as_ref().ok_or("init did not run")?;
        Ok(read(key)?)
    }
}
