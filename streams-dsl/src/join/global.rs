//! Global tables (`StreamsBuilder::global_table`), kept whole by every instance, and stream
//! joins against them through a key computed from each record.

use std::sync::Arc;

use streams_core::Record;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};

use super::{Joiner, lower_join};
use crate::stream::KStream;

/// A table holding every key of its topic in every application instance (all partitions),
/// so streams join it without co-partitioning, through a key they compute.
pub struct GlobalKTable<K, V> {
    store: Arc<streams_core::global::GlobalStore>,
    key_serde: streams_core::serde::SharedSerde<K>,
    value_serde: streams_core::serde::SharedSerde<V>,
}

impl<K, V> std::fmt::Debug for GlobalKTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalKTable")
            .field("store", &self.store.name())
            .field("topic", &self.store.topic())
            .finish()
    }
}

impl<K, V> GlobalKTable<K, V> {
    /// The store's name.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let products = b.global_table_with("products", Consumed::with(StringSerde, StringSerde));
    /// assert_eq!(products.store_name(), "products-STATE-STORE-0000000000");
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn store_name(&self) -> &str {
        self.store.name()
    }
}

impl crate::StreamsBuilder {
    /// A global table of `topic`: every instance keeps a full copy (filled before processing
    /// starts, then kept up to date by its own reader; restored from the topic at each
    /// start). Its store is named `<topic>-STATE-STORE-<n>`; as in Kafka Streams, it takes
    /// three numbers of the name counter (the store, a source and a processor). Keys and
    /// values are read with their types' natural serdes; see [`Self::global_table_with`].
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let products = b.global_table::<String, String>("products");
    /// b.stream::<String, String>(&["orders"])
    ///     .join_global(&products, |_, product_id| product_id.clone(), |_, name| name.clone())
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("products", StringSerde, StringSerde).pipe(s("p1"), s("tea"), 1)?;
    /// d.input_topic("orders", StringSerde, StringSerde).pipe(s("o1"), s("p1"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("o1"), s("tea"), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn global_table<K, V>(&self, topic: &str) -> GlobalKTable<K, V>
    where
        K: streams_core::serde::NaturalSerde,
        V: streams_core::serde::NaturalSerde,
    {
        self.global_table_with(topic, crate::Consumed::default())
    }

    /// A global table of `topic` read with the serdes of `consumed`, as
    /// [`Self::global_table`].
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let products = b.global_table_with("products", Consumed::with(StringSerde, StringSerde));
    /// assert_eq!(products.store_name(), "products-STATE-STORE-0000000000");
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn global_table_with<K, V>(
        &self,
        topic: &str,
        consumed: crate::Consumed<K, V>,
    ) -> GlobalKTable<K, V>
    where
        K: 'static,
        V: 'static,
    {
        let shared = self.shared();
        let mut inner = shared.borrow_mut();
        let name = inner.new_name(&format!("{topic}-STATE-STORE"));
        // Kafka Streams also names a source and a processor for the global store here
        // (`KSTREAM-SOURCE-n`, `KTABLE-SOURCE-n`); taking the same numbers keeps every name
        // generated after a global table, and the internal topics named after them, the same
        // as Kafka Streams'.
        inner.new_name("KSTREAM-SOURCE");
        inner.new_name("KTABLE-SOURCE");
        inner.claim_store(&name);
        let store = Arc::new(streams_core::global::GlobalStore::new(&name, topic));
        store.set_queryable(state_stores::query::global_view(
            &store,
            consumed.key_serde.clone(),
            consumed.value_serde.clone(),
        ));
        let registered = store.clone();
        inner.apply(|t| t.add_global_store(registered).map(|_| ()));
        GlobalKTable {
            store,
            key_serde: consumed.key_serde,
            value_serde: consumed.value_serde,
        }
    }
}

/// Turns a stream record into the global table's key.
type KeyMapper<K, V, GK> = dyn Fn(&K, &V) -> GK + Send + Sync;

/// `KSTREAM-JOIN` / `KSTREAM-LEFTJOIN` against a global table: maps each record to a key of
/// the table and looks it up in this instance's full copy.
struct GlobalJoin<K, V, GK, GV, VR> {
    store: Arc<streams_core::global::GlobalStore>,
    key_mapper: Arc<KeyMapper<K, V, GK>>,
    key_serde: streams_core::serde::SharedSerde<GK>,
    value_serde: streams_core::serde::SharedSerde<GV>,
    joiner: Joiner<V, GV, VR>,
    buf: Vec<u8>,
}

impl<K, V, GK, GV, VR> Processor<K, V, K, VR> for GlobalJoin<K, V, GK, GV, VR>
where
    K: Clone + 'static,
    V: 'static,
    GK: 'static,
    GV: 'static,
    VR: Clone + 'static,
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VR>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        let global_key = (self.key_mapper)(&r.key, &r.value);
        self.buf.clear();
        let found =
            if self
                .key_serde
                .serialize_into(self.store.topic(), &global_key, &mut self.buf)?
            {
                match self.store.get(&self.buf) {
                    Some(bytes) => Some(
                        self.value_serde
                            .deserialize(self.store.topic(), Some(&bytes))?,
                    ),
                    None => None,
                }
            } else {
                // A key that serializes to null has no row.
                None
            };
        if let Some(joined) = self.joiner.join(&r.value, found.as_ref()) {
            ctx.forward(r.map_value(|_| joined))?;
        }
        Ok(())
    }
}

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Joins each record with the global table's row for `key_mapper(key, value)`
    /// (`KSTREAM-JOIN`); records without a row are dropped. No co-partitioning is needed:
    /// every instance holds the whole table. The output keeps the stream record's key and
    /// timestamp.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let products = b.global_table::<String, String>("products");
    /// b.stream::<String, String>(&["orders"])
    ///     .join_global(&products, |_, product_id| product_id.clone(), |_, name| name.clone())
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("products", StringSerde, StringSerde).pipe(s("p1"), s("tea"), 1)?;
    /// d.input_topic("orders", StringSerde, StringSerde).pipe(s("o1"), s("p1"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("o1"), s("tea"), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn join_global<GK, GV, VR>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_mapper: impl Fn(&K, &V) -> GK + Send + Sync + 'static,
        joiner: impl Fn(&V, &GV) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR>
    where
        GK: 'static,
        GV: 'static,
        VR: Clone + 'static,
    {
        self.global_join(
            table,
            Arc::new(key_mapper),
            Joiner::Inner(Arc::new(joiner)),
            "KSTREAM-JOIN",
        )
    }

    /// Joins each record with the global table's row for `key_mapper(key, value)`, or with
    /// `None` when there is none (`KSTREAM-LEFTJOIN`).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let products = b.global_table::<String, String>("products");
    /// b.stream::<String, String>(&["orders"])
    ///     .left_join_global(&products, |_, product_id| product_id.clone(), |id, name| format!("{id}: {}", name.map_or("?", String::as_str)))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("products", StringSerde, StringSerde).pipe(s("p1"), s("tea"), 1)?;
    /// let orders = d.input_topic("orders", StringSerde, StringSerde);
    /// orders.pipe(s("o1"), s("p1"), 2)?;
    /// orders.pipe(s("o2"), s("p7"), 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("o1"), s("p1: tea"), 2), (s("o2"), s("p7: ?"), 3)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn left_join_global<GK, GV, VR>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_mapper: impl Fn(&K, &V) -> GK + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&GV>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR>
    where
        GK: 'static,
        GV: 'static,
        VR: Clone + 'static,
    {
        self.global_join(
            table,
            Arc::new(key_mapper),
            Joiner::Left(Arc::new(joiner)),
            "KSTREAM-LEFTJOIN",
        )
    }

    fn global_join<GK, GV, VR>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_mapper: Arc<KeyMapper<K, V, GK>>,
        joiner: Joiner<V, GV, VR>,
        prefix: &str,
    ) -> KStream<K, VR>
    where
        GK: 'static,
        GV: 'static,
        VR: Clone + 'static,
    {
        let builder = self.builder.clone();
        let mut inner = builder.borrow_mut();
        let name = inner.node_name(self.next_name.as_deref(), prefix);
        let parent = self.node.clone();
        let (store, key_serde, value_serde) = (
            table.store.clone(),
            table.key_serde.clone(),
            table.value_serde.clone(),
        );
        // The global store is read directly, not through the task's stores.
        lower_join::<K, V, K, VR, _, _>(&mut inner, &name, &[&parent], &[], move || GlobalJoin {
            store: store.clone(),
            key_mapper: key_mapper.clone(),
            key_serde: key_serde.clone(),
            value_serde: value_serde.clone(),
            joiner: joiner.clone(),
            buf: Vec::new(),
        });
        drop(inner);
        KStream {
            key_changed: self.key_changed,
            ..KStream::new(builder, name, self.key_serde.clone(), None)
        }
    }
}
