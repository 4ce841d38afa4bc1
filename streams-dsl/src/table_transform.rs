//! `KTable::transform_values`: a table's values through a transformer that may keep and read
//! state stores (Kafka Streams' `KTable#transformValues` with a `ValueTransformerWithKey`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use streams_core::Record;
use streams_core::StreamsError;
use streams_core::processor::{
    Processor, ProcessorContext, ProcessorError, StoreLookup, from_stores,
};
use streams_core::serde::{builtin_serde, follow_serde};
use streams_core::store::StoreHandle;

use crate::options::Materialized;
use crate::table::{Change, KTable};
use crate::table_getter::{OpenTransform, Transform};
use crate::timestamped::{TimestampedKeyValueStore, put_or_delete, timestamped_store};

/// Turns a table row's value into a new one, seeing its key (Kafka Streams'
/// `ValueTransformerWithKey`). It is called with `None` for a deleted row, and may return
/// `None` (the row is absent downstream) or a value for any input. A closure
/// `FnMut(&K, Option<&V>) -> Result<Option<VR>, ProcessorError>` is one.
pub trait ValueTransformerWithKey<K, V, VR>: 'static {
    /// The new value of `key`'s row whose value is `value`.
    fn transform(&mut self, key: &K, value: Option<&V>) -> Result<Option<VR>, ProcessorError>;

    /// Called once when the task closes.
    fn close(&mut self) {}
}

impl<K, V, VR, F> ValueTransformerWithKey<K, V, VR> for F
where
    F: FnMut(&K, Option<&V>) -> Result<Option<VR>, ProcessorError> + 'static,
{
    fn transform(&mut self, key: &K, value: Option<&V>) -> Result<Option<VR>, ProcessorError> {
        self(key, value)
    }
}

/// `KTABLE-TRANSFORMVALUES`: each change's new value transformed (and its old value, when a
/// later operation asked for old values), or, materialized, the new value kept in the store
/// and the stored one forwarded as the old value.
struct TransformValues<K, VR, T> {
    transformer: T,
    old_values: bool,
    store: Option<StoreHandle<TimestampedKeyValueStore<K, VR>>>,
}

impl<K, V, VR, T> Processor<K, Change<V>, K, Change<VR>> for TransformValues<K, VR, T>
where
    K: Clone + 'static,
    V: 'static,
    VR: Clone + 'static,
    T: ValueTransformerWithKey<K, V, VR>,
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
        r: Record<K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        let new = self.transformer.transform(&r.key, r.value.new.as_ref())?;
        let old = match &self.store {
            Some(store) => {
                let old = store.borrow().get(&r.key)?.map(|row| row.value);
                put_or_delete(&mut store.borrow_mut(), &r.key, new.as_ref(), r.timestamp)?;
                old
            }
            None if self.old_values => self.transformer.transform(&r.key, r.value.old.as_ref())?,
            None => None,
        };
        ctx.forward(r.with_value(Change { new, old }))?;
        Ok(())
    }

    fn close(&mut self) {
        self.transformer.close();
    }
}

impl<K, V> KTable<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Each row's value through a [`ValueTransformerWithKey`] (`KTABLE-TRANSFORMVALUES`)
    /// that `supplier` builds for each task from the stores named in `stores` (added with
    /// [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store)), which it
    /// may read and write. The result is not stored: a join reads its rows by transforming
    /// the rows of the table's store with a transformer of its own, for which the stores are
    /// connected to the join too. See [`Self::transform_values_with`] to keep the result in
    /// a store.
    ///
    /// As in Kafka Streams, the transformer is called for a row's previous value too when a
    /// later operation needs previous values (a re-grouping, a table-table or foreign-key
    /// join, a suppression, a filter of a table that has them); otherwise once per update.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use state_stores::KeyValueStoreBuilder;
    /// use state_stores::typed::TypedKeyValueStore;
    /// use streams_core::processor::ProcessorError;
    /// use streams_core::store::StoreHandle;
    ///
    /// /// Each user's region, with how many times the user's row changed so far (kept in
    /// /// store `changes`).
    /// struct Versioned(StoreHandle<TypedKeyValueStore<String, i64>>);
    /// impl ValueTransformerWithKey<String, String, String> for Versioned {
    ///     fn transform(&mut self, user: &String, region: Option<&String>) -> Result<Option<String>, ProcessorError> {
    ///         let n = self.0.borrow().get(user)?.unwrap_or(0) + 1;
    ///         self.0.borrow_mut().put(user, &n)?;
    ///         Ok(region.map(|r| format!("{r} (version {n})")))
    ///     }
    /// }
    ///
    /// let b = StreamsBuilder::new();
    /// b.add_state_store(KeyValueStoreBuilder::in_memory("changes", StringSerde, I64Serde));
    /// b.table::<String, String>("users")
    ///     .transform_values(|stores| Ok(Versioned(stores.state_store("changes")?)), &["changes"])
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, Nullable(StringSerde));
    /// users.pipe(s("ann"), Some(s("eu")), 1)?;
    /// users.pipe(s("ann"), Some(s("us")), 2)?;
    /// users.pipe(s("ann"), None, 3)?;
    /// assert_eq!(
    ///     d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?,
    ///     vec![(s("ann"), Some(s("eu (version 1)")), 1), (s("ann"), Some(s("us (version 2)")), 2), (s("ann"), None, 3)]
    /// );
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn transform_values<VR, T, F>(&self, supplier: F, stores: &[&str]) -> KTable<K, VR>
    where
        VR: Clone + 'static,
        T: ValueTransformerWithKey<K, V, VR>,
        F: Fn(&StoreLookup<'_>) -> Result<T, ProcessorError> + Send + Sync + 'static,
    {
        self.transform(supplier, None, stores)
    }

    /// As [`Self::transform_values`], keeping the result in the store `materialized`
    /// names, which queries and joins read, as Kafka Streams' `transformValues(..,
    /// Materialized, ..)`. As there, a `Materialized` without a store name keeps nothing.
    /// The store's value serde is `materialized`'s, or the natural one of a built-in type.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use streams_core::processor::ProcessorError;
    ///
    /// let b = StreamsBuilder::new();
    /// let lengths = b.table::<String, String>("users").transform_values_with(
    ///     |_| Ok(|_: &String, region: Option<&String>| -> Result<Option<i64>, ProcessorError> { Ok(region.map(|r| r.len() as i64)) }),
    ///     Materialized::as_store("region-lengths"),
    ///     &[],
    /// );
    /// assert_eq!(lengths.store_name(), Some("region-lengths"));
    /// lengths.to_stream().to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, Nullable(StringSerde));
    /// users.pipe(s("ann"), Some(s("eu-west")), 1)?;
    /// users.pipe(s("ann"), None, 2)?;
    /// assert_eq!(
    ///     d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?,
    ///     vec![(s("ann"), Some(7), 1), (s("ann"), None, 2)]
    /// );
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn transform_values_with<VR, T, F>(
        &self,
        supplier: F,
        materialized: Materialized<K, VR>,
        stores: &[&str],
    ) -> KTable<K, VR>
    where
        VR: Clone + 'static,
        T: ValueTransformerWithKey<K, V, VR>,
        F: Fn(&StoreLookup<'_>) -> Result<T, ProcessorError> + Send + Sync + 'static,
    {
        self.transform(supplier, Some(materialized), stores)
    }

    fn transform<VR, T, F>(
        &self,
        supplier: F,
        materialized: Option<Materialized<K, VR>>,
        stores: &[&str],
    ) -> KTable<K, VR>
    where
        VR: Clone + 'static,
        T: ValueTransformerWithKey<K, V, VR>,
        F: Fn(&StoreLookup<'_>) -> Result<T, ProcessorError> + Send + Sync + 'static,
    {
        let supplier = Arc::new(supplier);
        let mut inner = self.builder.borrow_mut();
        let name = inner.new_name("KTABLE-TRANSFORMVALUES");
        // As Kafka Streams: only a named store keeps the result.
        let materialized = materialized.filter(|m| m.name.is_some());
        let key_serde = (materialized.as_ref())
            .and_then(|m| m.key_serde.clone())
            .or_else(|| self.key_serde.clone());
        let value_serde = match &materialized {
            Some(m) => m.value_serde.clone().or_else(builtin_serde),
            None => follow_serde(&self.value_serde),
        };
        let store = match (&materialized, &key_serde, &value_serde) {
            (None, ..) => None,
            (Some(m), Some(k), Some(v)) => {
                let store = m.name.clone().unwrap_or_default();
                inner.claim_store(&store);
                let builder = m.changelog(timestamped_store(&store, m.kind, k.clone(), v.clone()));
                inner.apply(|t| t.add_state_store(builder, &[]).map(|_| ()));
                Some(store)
            }
            (Some(m), ..) => {
                inner.fail(StreamsError::Topology(format!(
                    "transform_values `{name}`: no key or value serde is known for its store `{}`; \
                     give them with Materialized::with_key_serde / with_value_serde",
                    m.name.as_deref().unwrap_or_default()
                )));
                None
            }
        };
        let mut connected: Vec<&str> = stores.to_vec();
        connected.extend(store.as_deref());
        // Kafka Streams transforms previous values only when a later operation asks for
        // them; a stored result reads them from its store instead.
        let send_old = Arc::new(AtomicBool::new(false));
        let node_send_old = send_old.clone();
        let node_store = store.clone();
        let node_supplier = supplier.clone();
        let parent = self.node.clone();
        inner.apply(|t| {
            t.add_processor::<K, Change<V>, K, Change<VR>, _, _>(
                &name,
                from_stores(move |lookup| {
                    Ok(TransformValues {
                        transformer: node_supplier(lookup)?,
                        old_values: node_send_old.load(Ordering::Relaxed),
                        store: node_store
                            .as_deref()
                            .map(|s| lookup.state_store(s))
                            .transpose()?,
                    })
                }),
                &[&parent],
            )?
            .connect_processor_and_state_stores(&name, &connected)?;
            Ok(())
        });
        drop(inner);
        let getter = match &store {
            Some(_) => None,
            None => {
                let open: Arc<OpenTransform<K, V, VR>> =
                    Arc::new(move |lookup: &StoreLookup<'_>| {
                        let mut transformer = supplier(lookup)?;
                        Ok(Box::new(move |key: &K, value: Option<&V>| {
                            transformer.transform(key, value)
                        }) as Box<Transform<K, V, VR>>)
                    });
                let stores: Vec<String> = stores.iter().map(|s| (*s).to_owned()).collect();
                self.value_getter().map(|g| g.transformed(&stores, open))
            }
        };
        let old_value_requests = match &store {
            Some(_) => Vec::new(),
            None => {
                let mut requests = self.old_value_requests.clone();
                requests.push(send_old);
                requests
            }
        };
        KTable {
            builder: self.builder.clone(),
            node: name,
            materialized: self.materialized || store.is_some(),
            old_values: self.old_values || store.is_some(),
            store,
            key_serde,
            value_serde,
            window_grace: self.window_grace,
            getter,
            old_value_requests,
        }
    }
}
