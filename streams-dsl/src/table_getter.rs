//! Value getters: how a join reads the current row of a table that has no store of its own
//! (a `filter` or `map_values` of a table that has one), as Kafka Streams' `KTableValueGetter`
//! does: the row of the store upstream, passed through the same filters and mappings, with
//! its timestamp. No store and no changelog are added for it.

use std::sync::Arc;

use streams_core::processor::{ProcessorContext, ProcessorError, StoreLookup};

use crate::table::{Change, ChangeFn};
use crate::timestamped::{TimestampedKeyValueStore, ValueAndTimestamp};

/// Reads one row.
type Lookup<K, V> = dyn Fn(&K) -> Result<Option<ValueAndTimestamp<V>>, ProcessorError>;

/// Opens a row reader on a processor's connected stores.
type Open<K, V> =
    dyn Fn(&StoreLookup<'_>) -> Result<Box<Lookup<K, V>>, ProcessorError> + Send + Sync;

/// A value transformer as a table's value getter runs it: the transformer a
/// `KTable::transform_values` supplier built for the reading processor.
pub(crate) type Transform<K, V, V2> =
    dyn FnMut(&K, Option<&V>) -> Result<Option<V2>, ProcessorError>;

/// Builds a [`Transform`] from the reading processor's stores.
pub(crate) type OpenTransform<K, V, V2> =
    dyn Fn(&StoreLookup<'_>) -> Result<Box<Transform<K, V, V2>>, ProcessorError> + Send + Sync;

/// Looks a key up in an overlay on a table's rows: `Some(row)` where the overlay holds the
/// key's row (present or absent), `None` where the rows underneath apply.
pub(crate) type Overlay<K, V> =
    dyn Fn(&K) -> Result<Option<Option<ValueAndTimestamp<V>>>, ProcessorError>;

/// Opens an [`Overlay`] on the reading processor's stores.
pub(crate) type OpenOverlay<K, V> =
    dyn Fn(&StoreLookup<'_>) -> Result<Box<Overlay<K, V>>, ProcessorError> + Send + Sync;

/// A table-table join as one function of both sides' values: `None` where the join has no
/// row for that combination (a missing required side).
pub(crate) type TableJoiner<V1, V2, VR> =
    dyn Fn(Option<&V1>, Option<&V2>) -> Option<VR> + Send + Sync;

/// How to read a table's rows: the stores they come from and the steps between.
pub(crate) struct ValueGetter<K, V> {
    /// The stores the rows are read from (the table's store upstream, then the stores of
    /// value transformers on the way): connect them to every processor that reads the rows.
    pub(crate) stores: Vec<String>,
    open: Arc<Open<K, V>>,
}

impl<K, V> Clone for ValueGetter<K, V> {
    fn clone(&self) -> Self {
        ValueGetter {
            stores: self.stores.clone(),
            open: self.open.clone(),
        }
    }
}

impl<K: 'static, V: Clone + 'static> ValueGetter<K, V> {
    /// The rows of the timestamped key-value store `store`, as they are.
    pub(crate) fn of_store(store: &str) -> Self {
        let name = store.to_owned();
        ValueGetter {
            stores: vec![store.to_owned()],
            open: Arc::new(move |stores| {
                let handle = stores.state_store::<TimestampedKeyValueStore<K, V>>(&name)?;
                Ok(Box::new(move |key: &K| Ok(handle.borrow().get(key)?)) as Box<Lookup<K, V>>)
            }),
        }
    }

    /// The rows of this getter passed through a table step `f` (a filter or a value
    /// mapping): a row the step forwards no new value for is absent.
    pub(crate) fn then<V2: 'static>(&self, f: Arc<ChangeFn<K, V, V2>>) -> ValueGetter<K, V2> {
        let parent = self.open.clone();
        ValueGetter {
            stores: self.stores.clone(),
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

    /// The rows of this getter with `overlay` (which reads `overlay_store`) in front: the
    /// overlay's row where it holds the key, this getter's otherwise.
    pub(crate) fn overlaid(
        &self,
        overlay_store: &str,
        overlay: Arc<OpenOverlay<K, V>>,
    ) -> ValueGetter<K, V> {
        let under = self.open.clone();
        let mut all_stores = self.stores.clone();
        all_stores.push(overlay_store.to_owned());
        ValueGetter {
            stores: all_stores,
            open: Arc::new(move |stores: &StoreLookup<'_>| {
                let (read, front) = (under(stores)?, overlay(stores)?);
                Ok(Box::new(move |key: &K| match front(key)? {
                    Some(row) => Ok(row),
                    None => read(key),
                }) as Box<Lookup<K, V>>)
            }),
        }
    }

    /// The rows of a table-table join of this getter's table with `other`'s, as Kafka
    /// Streams' join value getters: the joined value of both rows (none where the join has
    /// none), stamped with the later of the rows' timestamps.
    pub(crate) fn joined<V2: 'static, VR: 'static>(
        &self,
        other: &ValueGetter<K, V2>,
        join: Arc<TableJoiner<V, V2, VR>>,
    ) -> ValueGetter<K, VR> {
        let (this, that) = (self.open.clone(), other.open.clone());
        let mut all_stores = self.stores.clone();
        all_stores.extend(
            other
                .stores
                .iter()
                .filter(|s| !self.stores.contains(s))
                .cloned(),
        );
        ValueGetter {
            stores: all_stores,
            open: Arc::new(move |stores: &StoreLookup<'_>| {
                let (left, right) = (this(stores)?, that(stores)?);
                let join = join.clone();
                Ok(Box::new(move |key: &K| {
                    let (l, r) = (left(key)?, right(key)?);
                    let value = join(l.as_ref().map(|l| &l.value), r.as_ref().map(|r| &r.value));
                    let timestamp = l
                        .iter()
                        .map(|l| l.timestamp)
                        .chain(r.iter().map(|r| r.timestamp))
                        .max();
                    Ok(value.map(|value| ValueAndTimestamp {
                        value,
                        timestamp: timestamp.unwrap_or(-1),
                    }))
                }) as Box<Lookup<K, VR>>)
            }),
        }
    }

    /// The rows of this getter passed through a value transformer built by `transformer`,
    /// which may use `transformer_stores`, as Kafka Streams' `KTableTransformValuesGetter`:
    /// the transformer sees the row's value (`None` for an absent row) and its result
    /// keeps the row's timestamp (`-1` when the row was absent).
    pub(crate) fn transformed<V2: 'static>(
        &self,
        transformer_stores: &[String],
        transformer: Arc<OpenTransform<K, V, V2>>,
    ) -> ValueGetter<K, V2> {
        let parent = self.open.clone();
        let mut all_stores = self.stores.clone();
        all_stores.extend(transformer_stores.iter().cloned());
        ValueGetter {
            stores: all_stores,
            open: Arc::new(move |stores| {
                let read = parent(stores)?;
                let transform = std::cell::RefCell::new(transformer(stores)?);
                Ok(Box::new(move |key: &K| {
                    let row = read(key)?;
                    let value = (transform.borrow_mut())(key, row.as_ref().map(|r| &r.value))?;
                    Ok(value.map(|value| ValueAndTimestamp {
                        value,
                        timestamp: row.map_or(-1, |r| r.timestamp),
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
        let read = self
            .read
            .as_ref()
            .ok_or("the table reader was used before its init")?;
        read(key)
    }
}
