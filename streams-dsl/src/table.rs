//! `KTable`: a changelog stream read as the latest value per key.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use streams_core::Record;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{SharedSerde, follow_serde};

use crate::shared::Shared;
use crate::stream::KStream;
use crate::table_getter::ValueGetter;

/// An update of a table row as it flows between table nodes: the new value and the value it
/// replaced (`None`: the row did not exist / was deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<V> {
    /// The value after the update; `None` deletes the row.
    pub new: Option<V>,
    /// The value before the update.
    pub old: Option<V>,
}

/// A table of `K` to `V`: every update of a row flows downstream as a [`Change`].
pub struct KTable<K, V> {
    pub(crate) builder: Shared,
    pub(crate) node: String,
    pub(crate) store: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// Whether updates carry the row's previous value (a re-grouping needs it to subtract).
    pub(crate) old_values: bool,
    /// Whether Kafka Streams would have this table's previous values without materializing
    /// anything more (a source table with a named store, an aggregation, and filters and
    /// value mappings of those): its `filter` then drops an update that passes neither
    /// before nor after, where otherwise it forwards a delete.
    pub(crate) materialized: bool,
    /// How long after a window's end the windowed aggregation this table is (or is a filter
    /// or value mapping of) still changes it: the grace period, plus the inactivity gap for
    /// sessions. `suppress(until_window_closes)` waits that long.
    pub(crate) window_grace: Option<i64>,
    /// How a join reads this table's rows when it has no store: through the filters and
    /// value mappings from the table that has one (`None`: it has a store, or no rows to read).
    pub(crate) getter: Option<ValueGetter<K, V>>,
    /// The value transformers upstream, through steps that keep no store, that transform a
    /// row's previous value only once a later operation needs previous values (Kafka
    /// Streams' `enableSendingOldValues`): see [`Self::send_old_values`].
    pub(crate) old_value_requests: OldValueRequests,
}

/// Flags of value transformers upstream of a table that a later operation sets when it
/// needs previous values; each transformer reads its flag when its task's node is built.
pub(crate) type OldValueRequests = Vec<Arc<AtomicBool>>;

impl<K, V> std::fmt::Debug for KTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KTable")
            .field("node", &self.node)
            .field("store", &self.store)
            .finish()
    }
}

/// `KTABLE-TOSTREAM`: forwards each update's new value (`None` for a delete).
struct ToStream;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>, K, Option<V>> for ToStream {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Option<V>>,
        r: Record<K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        ctx.forward(r.map_value(|change| change.new))?;
        Ok(())
    }
}

impl<K, V> KTable<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// The name of the store the table is materialized in, if it is.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let users = b.table_with("users", Consumed::with(StringSerde, StringSerde), Materialized::as_store("users-store"));
    /// assert_eq!(users.store_name(), Some("users-store"));
    /// assert_eq!(users.filter(|_, v| !v.is_empty()).store_name(), None);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// The table's updates as a stream (`KTABLE-TOSTREAM`): each update's new value, `None`
    /// for a deleted row (written as a tombstone by a sink with a
    /// [`Nullable`](streams_core::serde::Nullable) value serde).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table::<String, String>("users")
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, Nullable(StringSerde));
    /// users.pipe(s("ann"), Some(s("eu")), 1)?;
    /// users.pipe(s("ann"), None, 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann"), Some(s("eu")), 1), (s("ann"), None, 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn to_stream(&self) -> KStream<K, Option<V>> {
        let mut inner = self.builder.borrow_mut();
        let name = inner.new_name("KTABLE-TOSTREAM");
        let parent = self.node.clone();
        inner.apply(|t| {
            t.add_processor::<K, Change<V>, K, Option<V>, _, _>(&name, || ToStream, &[&parent])
                .map(|_| ())
        });
        drop(inner);
        let value_serde = self
            .value_serde
            .clone()
            .map(|s| Arc::new(streams_core::serde::Nullable(s)) as SharedSerde<Option<V>>);
        KStream::new(
            self.builder.clone(),
            name,
            self.key_serde.clone(),
            value_serde,
        )
    }
}

/// What a table node does with one change: the change out, or `None` to forward nothing.
pub(crate) type ChangeFn<K, V, V2> = dyn Fn(&K, Change<V>) -> Option<Change<V2>> + Send + Sync;

/// `KTABLE-FILTER` / `KTABLE-MAPVALUES`: a stateless function of each change.
struct TableStep<K, V, V2> {
    f: Arc<ChangeFn<K, V, V2>>,
}

impl<K, V, V2> Processor<K, Change<V>, K, Change<V2>> for TableStep<K, V, V2>
where
    K: Clone + 'static,
    V: 'static,
    V2: Clone + 'static,
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V2>>,
        r: Record<K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = r;
        if let Some(change) = (self.f)(&key, value) {
            ctx.forward(Record {
                key,
                value: change,
                timestamp,
                headers,
            })?;
        }
        Ok(())
    }
}

impl<K, V> KTable<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    fn step<V2: Clone + 'static>(
        &self,
        prefix: &str,
        value_serde: Option<SharedSerde<V2>>,
        f: Arc<ChangeFn<K, V, V2>>,
    ) -> KTable<K, V2> {
        let mut inner = self.builder.borrow_mut();
        let name = inner.new_name(prefix);
        let parent = self.node.clone();
        let getter = self.value_getter().map(|g| g.then(f.clone()));
        inner.apply(|t| {
            t.add_processor::<K, Change<V>, K, Change<V2>, _, _>(
                &name,
                move || TableStep { f: f.clone() },
                &[&parent],
            )
            .map(|_| ())
        });
        drop(inner);
        KTable {
            builder: self.builder.clone(),
            node: name,
            store: None,
            key_serde: self.key_serde.clone(),
            value_serde: value_serde.or_else(|| follow_serde(&self.value_serde)),
            old_values: self.old_values,
            materialized: self.materialized,
            window_grace: self.window_grace,
            getter,
            old_value_requests: self.old_value_requests.clone(),
        }
    }

    /// Asks the value transformers upstream to transform previous values too, as an
    /// operation that needs them does in Kafka Streams (a re-grouping, a table-table or
    /// foreign-key join, a suppression, a filter of a table that has previous values).
    pub(crate) fn send_old_values(&self) {
        for flag in &self.old_value_requests {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// How to read this table's rows: its store, or the getter through its filters and
    /// value mappings; `None` when neither exists (a join's result, a suppression).
    pub(crate) fn value_getter(&self) -> Option<ValueGetter<K, V>> {
        match &self.store {
            Some(store) => Some(ValueGetter::of_store(store)),
            None => self.getter.clone(),
        }
    }

    /// A table downstream of this one at `node`, unmaterialized, with the same serdes, old
    /// values and windows.
    pub(crate) fn derived(&self, node: String) -> KTable<K, V> {
        KTable {
            builder: self.builder.clone(),
            node,
            store: None,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            old_values: self.old_values,
            materialized: self.materialized,
            window_grace: self.window_grace,
            getter: None,
            old_value_requests: self.old_value_requests.clone(),
        }
    }

    /// The rows for which `predicate` holds (`KTABLE-FILTER`): an update whose new value
    /// fails it is forwarded as a delete, so downstream tables drop the row. As in Kafka
    /// Streams, when the table is materialized (a source table with a named store, an
    /// aggregation, or a filter or value mapping of one), an update that fails the predicate
    /// whose previous row was absent or failed it too is dropped instead: there was no row
    /// downstream to delete.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table::<String, String>("users")
    ///     .filter(|_, region| region == "eu")
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, Nullable(StringSerde));
    /// users.pipe(s("ann"), Some(s("eu")), 1)?;
    /// users.pipe(s("ann"), Some(s("us")), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann"), Some(s("eu")), 1), (s("ann"), None, 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn filter(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KTable<K, V> {
        let skip_empty = self.materialized;
        if skip_empty {
            self.send_old_values();
        }
        self.step(
            "KTABLE-FILTER",
            self.value_serde.clone(),
            Arc::new(move |k, change: Change<V>| {
                let keep = |v: Option<V>| v.filter(|v| predicate(k, v));
                let (new, old) = (keep(change.new), keep(change.old));
                if skip_empty && new.is_none() && old.is_none() {
                    return None;
                }
                Some(Change { new, old })
            }),
        )
    }

    /// The rows for which `predicate` does not hold (`KTABLE-FILTER`).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table::<String, String>("users")
    ///     .filter_not(|_, region| region == "eu")
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, StringSerde);
    /// users.pipe(s("ann"), s("us"), 1)?;
    /// users.pipe(s("ann"), s("eu"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann"), Some(s("us")), 1), (s("ann"), None, 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn filter_not(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KTable<K, V> {
        self.filter(move |k, v| !predicate(k, v))
    }

    /// Each row's value turned into a new value (`KTABLE-MAPVALUES`); deletes stay deletes.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table::<String, String>("users")
    ///     .map_values(|region| region.to_uppercase())
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, Nullable(StringSerde));
    /// users.pipe(s("ann"), Some(s("eu")), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann"), Some(s("EU")), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn map_values<V2: Clone + 'static>(
        &self,
        mapper: impl Fn(&V) -> V2 + Send + Sync + 'static,
    ) -> KTable<K, V2> {
        self.step(
            "KTABLE-MAPVALUES",
            None,
            Arc::new(move |_, change: Change<V>| {
                Some(Change {
                    new: change.new.as_ref().map(&mapper),
                    old: change.old.as_ref().map(&mapper),
                })
            }),
        )
    }
}
