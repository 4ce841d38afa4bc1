//! Tables kept in a store from a stream of rows: `StreamsBuilder::table` (from a topic) and
//! `KStream::to_table` (from a stream), both through the `TableSource` processor.

use std::sync::Arc;

use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{NaturalSerde, Nullable, SharedSerde};
use streams_core::{Record, StreamsError};

use crate::builder::StreamsBuilder;
use crate::options::{Consumed, Materialized};
use crate::store_slot::StoreSlot;
use crate::stream::KStream;
use crate::table::{Change, KTable};
use crate::timestamped::{TimestampedKeyValueStore, put_or_delete, timestamped_store};

/// `KTABLE-SOURCE` / `KSTREAM-TOTABLE`: applies each record to the table's store (a null
/// value deletes the row) and forwards the change. `I` is the record value: `Option<V>` from a
/// topic, `V` from a stream.
struct TableSource<K, V, I> {
    store: StoreSlot<TimestampedKeyValueStore<K, V>>,
    value: fn(I) -> Option<V>,
}

impl<K: 'static, V: 'static, I: 'static> TableSource<K, V, I> {
    /// Makes the node that keeps the table in `store`, reading each record's value with
    /// `value`.
    fn supplier(
        store: &str,
        value: fn(I) -> Option<V>,
    ) -> impl Fn() -> Self + Send + Sync + 'static {
        let store = store.to_owned();
        move || TableSource {
            store: StoreSlot::new(&store),
            value,
        }
    }
}

impl<K, V, I> Processor<K, I, K, Change<V>> for TableSource<K, V, I>
where
    K: Clone + 'static,
    V: Clone + 'static,
    I: 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), ProcessorError> {
        self.store.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        r: Record<K, I>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.get()?;
        let r = r.map_value(self.value);
        let old = {
            let mut store = store.borrow_mut();
            let old = store.get(&r.key)?.map(|o| o.value);
            put_or_delete(&mut store, &r.key, r.value.as_ref(), r.timestamp)?;
            old
        };
        ctx.forward(r.map_value(|new| Change { new, old }))?;
        Ok(())
    }
}

impl StreamsBuilder {
    /// A table of the latest value per key of `topic`, keys and values read with their types'
    /// natural serdes, in a store with a generated name; see [`Self::table_with`].
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
    /// users.pipe(s("ann"), Some(s("us")), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann"), Some(s("eu")), 1), (s("ann"), Some(s("us")), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn table<K, V>(&self, topic: &str) -> KTable<K, V>
    where
        K: NaturalSerde + Clone,
        V: NaturalSerde + Clone,
    {
        self.table_with(topic, Consumed::default(), Materialized::new())
    }

    /// A table of the latest value per key of `topic`: a record with a null value deletes its
    /// key. The table is kept in a store (`Materialized`, named `<topic>-STATE-STORE-<n>`
    /// unless named) with a changelog, and each update flows downstream as a [`Change`].
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table_with("users", Consumed::with(StringSerde, StringSerde), Materialized::as_store("users").in_memory())
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("users", StringSerde, StringSerde).pipe(s("ann"), s("eu"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann"), Some(s("eu")), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn table_with<K, V>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V>
    where
        K: Clone + 'static,
        V: Clone + 'static,
    {
        let shared = self.shared();
        let mut inner = shared.borrow_mut();
        // Kafka Streams materializes a source table only when its store is named (or a join
        // needs it); see `KTable::materialized`.
        let named = materialized.name.is_some();
        let store_name = match &materialized.name {
            Some(n) => n.clone(),
            None => inner.new_name(&format!("{topic}-STATE-STORE")),
        };
        inner.claim_store(&store_name);
        let source = inner.node_name(consumed.name.as_deref(), "KSTREAM-SOURCE");
        let name = inner.new_name("KTABLE-SOURCE");
        let key_serde = materialized
            .key_serde
            .clone()
            .unwrap_or_else(|| consumed.key_serde.clone());
        let value_serde = materialized
            .value_serde
            .clone()
            .unwrap_or_else(|| consumed.value_serde.clone());
        let store = materialized.changelog(timestamped_store(
            &store_name,
            materialized.kind,
            key_serde.clone(),
            value_serde.clone(),
        ));
        let nullable: SharedSerde<Option<V>> = Arc::new(Nullable(consumed.value_serde.clone()));
        inner.apply(|t| {
            t.add_source_with(
                &source,
                &[topic],
                consumed.key_serde.clone(),
                nullable,
                consumed.options.clone(),
            )?
            .add_processor(
                &name,
                TableSource::<K, V, Option<V>>::supplier(&store_name, |v| v),
                &[&source],
            )?
            .add_state_store(store, &[&name])?;
            Ok(())
        });
        drop(inner);
        KTable {
            builder: shared,
            node: name,
            store: Some(store_name),
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            old_values: true,
            materialized: named,
            window_grace: None,
            getter: None,
            old_value_requests: Vec::new(),
        }
    }
}

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// The stream read as a table in a store with a generated name and the stream's serdes;
    /// see [`Self::to_table_with`].
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .to_table()
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// input.pipe(s("a"), s("y"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("a"), Some(s("x")), 1), (s("a"), Some(s("y")), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn to_table(&self) -> KTable<K, V> {
        self.to_table_with(Materialized::new())
    }

    /// The stream read as a table (`KSTREAM-TOTABLE`): each record sets its key's row. After
    /// a key-changing operation the records go through a repartition topic first. Stored as
    /// `materialized` says (named `KSTREAM-TOTABLE-STATE-STORE-<n>` unless named).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"])
    ///     .to_table_with(Materialized::as_store("latest").in_memory())
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("a"), Some(s("x")), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn to_table_with(&self, materialized: Materialized<K, V>) -> KTable<K, V> {
        let builder = self.builder.clone();
        let mut inner = builder.borrow_mut();
        let name = inner.new_name("KSTREAM-TOTABLE");
        let named = materialized.name.is_some();
        let store_name = match &materialized.name {
            Some(n) => n.clone(),
            None => inner.new_name("KSTREAM-TOTABLE-STATE-STORE"),
        };
        inner.claim_store(&store_name);
        let key_serde = materialized
            .key_serde
            .clone()
            .or_else(|| self.key_serde.clone());
        let value_serde = materialized
            .value_serde
            .clone()
            .or_else(|| self.value_serde.clone());
        let parent = self.partitioned_by_key(
            &mut inner,
            &name,
            key_serde.clone(),
            value_serde.clone(),
            "the operation before to_table changed the key or value type; give them with \
             Materialized::with_key_serde and with_value_serde",
        );
        match (&key_serde, &value_serde) {
            (Some(k), Some(v)) => {
                let store = materialized.changelog(timestamped_store(
                    &store_name,
                    materialized.kind,
                    k.clone(),
                    v.clone(),
                ));
                inner.apply(|t| {
                    t.add_processor(
                        &name,
                        TableSource::<K, V, V>::supplier(&store_name, Some),
                        &[&parent],
                    )?
                    .add_state_store(store, &[&name])?;
                    Ok(())
                });
            }
            _ => inner.fail(StreamsError::Topology(format!(
                "to_table `{name}`: its store `{store_name}` needs key and value serdes; give \
                 them with Materialized::with_key_serde and with_value_serde"
            ))),
        }
        drop(inner);
        KTable {
            builder,
            node: name,
            store: Some(store_name),
            key_serde,
            value_serde,
            old_values: true,
            materialized: named,
            window_grace: None,
            getter: None,
            old_value_requests: Vec::new(),
        }
    }
}
