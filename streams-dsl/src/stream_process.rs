//! Processor API nodes in a DSL topology: `process` and `process_values` (with stores).

use streams_core::processor::Processor;
use streams_core::serde::follow_serde;

use crate::stream::KStream;

impl<K, V> KStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Runs a Processor API node on the stream (`KSTREAM-PROCESSOR`) and returns what it
    /// forwards.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
    /// use streams_core::Record;
    ///
    /// /// Re-keys each record by its value's first word.
    /// struct ByFirstWord;
    /// impl Processor<String, String, String, String> for ByFirstWord {
    ///     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, String>, r: Record<String, String>) -> Result<(), ProcessorError> {
    ///         let word = r.value.split(' ').next().unwrap_or_default().to_owned();
    ///         ctx.forward(r.with_key(word))?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["in"]).process(|| ByFirstWord).to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("hello world"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("hello"), s("hello world"), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn process<K2, V2, P, F>(&self, supplier: F) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        P: Processor<K, V, K2, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.process_with_stores(supplier, &[])
    }

    /// As [`Self::process`], with access to the named stores: stores added beforehand with
    /// [`StreamsBuilder::add_state_store`](crate::StreamsBuilder::add_state_store), or the
    /// store of a table or an aggregation upstream (by its name), which the node may read.
    /// Give [`from_stores`](streams_core::processor::from_stores) a function that builds the
    /// processor from its stores, so that it holds their handles as plain fields; a supplier
    /// of processors that look their stores up in `init` works as well.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use state_stores::KeyValueStoreBuilder;
    /// use state_stores::typed::TypedKeyValueStore;
    /// use streams_core::processor::{from_stores, Processor, ProcessorContext, ProcessorError};
    /// use streams_core::store::StoreHandle;
    /// use streams_core::Record;
    ///
    /// /// Numbers each key's records, keeping the last number in store `seen`.
    /// struct Numbering {
    ///     seen: StoreHandle<TypedKeyValueStore<String, i64>>,
    /// }
    /// impl Processor<String, String, String, i64> for Numbering {
    ///     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, i64>, r: Record<String, String>) -> Result<(), ProcessorError> {
    ///         let n = self.seen.borrow().get(&r.key)?.unwrap_or(0) + 1;
    ///         self.seen.borrow_mut().put(&r.key, &n)?;
    ///         ctx.forward(r.with_value(n))?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let b = StreamsBuilder::new();
    /// b.add_state_store(KeyValueStoreBuilder::in_memory("seen", StringSerde, I64Serde));
    /// b.stream::<String, String>(&["in"])
    ///     .process_with_stores(from_stores(|s| Ok(Numbering { seen: s.state_store("seen")? })), &["seen"])
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe(s("a"), s("x"), 1)?;
    /// input.pipe(s("a"), s("y"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, I64Serde).read_key_values_with_time()?, vec![(s("a"), 1, 1), (s("a"), 2, 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn process_with_stores<K2, V2, P, F>(&self, supplier: F, stores: &[&str]) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        P: Processor<K, V, K2, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let name = self.add_processor_node("KSTREAM-PROCESSOR", supplier, stores);
        KStream {
            builder: self.builder.clone(),
            node: name,
            key_serde: follow_serde(&self.key_serde),
            value_serde: follow_serde(&self.value_serde),
            key_changed: true,
            next_name: None,
        }
    }

    /// Runs a [`FixedKeyProcessor`](streams_core::fixed_key::FixedKeyProcessor) on the stream
    /// (`KSTREAM-PROCESSVALUES`): it sees each record and forwards new values under the same
    /// key, so, unlike [`Self::process`], a grouping or join after it needs no repartition
    /// topic. The stream keeps its key serde.
    ///
    /// ```
    /// use streams_core::fixed_key::{FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord};
    /// use streams_core::processor::ProcessorError;
    /// use streams_core::serde::{I64Serde, StringSerde};
    /// use streams_core::test_driver::TopologyTestDriver;
    /// use streams_core::StreamsConfig;
    /// use streams_dsl::{Consumed, Produced, StreamsBuilder};
    ///
    /// struct Length;
    /// impl FixedKeyProcessor<String, String, i64> for Length {
    ///     fn process(
    ///         &mut self,
    ///         ctx: &mut FixedKeyProcessorContext<'_, '_, String, i64>,
    ///         record: FixedKeyRecord<String, String>,
    ///     ) -> Result<(), ProcessorError> {
    ///         let n = record.value().len() as i64;
    ///         ctx.forward(record.with_value(n))?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let b = StreamsBuilder::new();
    /// b.stream_with(&["words"], Consumed::with(StringSerde, StringSerde))
    ///     .process_values(|| Length)
    ///     .to_with("lengths", Produced::with(StringSerde, I64Serde));
    /// let driver = TopologyTestDriver::new(b.build()?, StreamsConfig::new("lengths", "unused:9092"))?;
    /// driver.input_topic("words", StringSerde, StringSerde).pipe("a".into(), "kafka".into(), 7)?;
    /// let out = driver.output_topic("lengths", StringSerde, I64Serde).read_key_values_with_time()?;
    /// assert_eq!(out, vec![("a".to_owned(), 5, 7)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn process_values<V2, P, F>(&self, supplier: F) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        P: streams_core::fixed_key::FixedKeyProcessor<K, V, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.process_values_with_stores(supplier, &[])
    }

    /// As [`Self::process_values`], with access to the named stores (as
    /// [`Self::process_with_stores`]).
    ///
    /// ```
    /// use state_stores::KeyValueStoreBuilder;
    /// use state_stores::typed::TypedKeyValueStore;
    /// use streams_core::fixed_key::{FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord};
    /// use streams_core::processor::{from_stores, ProcessorError};
    /// use streams_core::serde::{I64Serde, StringSerde};
    /// use streams_core::store::StoreHandle;
    /// use streams_core::test_driver::TopologyTestDriver;
    /// use streams_core::StreamsConfig;
    /// use streams_dsl::StreamsBuilder;
    ///
    /// /// A running total of each key's value lengths, kept in store `totals`.
    /// struct Total(StoreHandle<TypedKeyValueStore<String, i64>>);
    /// impl FixedKeyProcessor<String, String, i64> for Total {
    ///     fn process(
    ///         &mut self,
    ///         ctx: &mut FixedKeyProcessorContext<'_, '_, String, i64>,
    ///         record: FixedKeyRecord<String, String>,
    ///     ) -> Result<(), ProcessorError> {
    ///         let mut store = self.0.borrow_mut();
    ///         let total = store.get(record.key())?.unwrap_or(0) + record.value().len() as i64;
    ///         store.put(record.key(), &total)?;
    ///         ctx.forward(record.with_value(total))?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let b = StreamsBuilder::new();
    /// b.add_state_store(KeyValueStoreBuilder::in_memory("totals", StringSerde, I64Serde));
    /// b.stream::<String, String>(&["in"])
    ///     .process_values_with_stores(from_stores(|s| Ok(Total(s.state_store("totals")?))), &["totals"])
    ///     .to("out");
    /// let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let input = d.input_topic("in", StringSerde, StringSerde);
    /// input.pipe("a".into(), "xy".into(), 1)?;
    /// input.pipe("a".into(), "xyz".into(), 2)?;
    /// let out = d.output_topic("out", StringSerde, I64Serde).read_key_values_with_time()?;
    /// assert_eq!(out, vec![("a".to_owned(), 2, 1), ("a".to_owned(), 5, 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn process_values_with_stores<V2, P, F>(
        &self,
        supplier: F,
        stores: &[&str],
    ) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        P: streams_core::fixed_key::FixedKeyProcessor<K, V, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let name = self.add_processor_node(
            "KSTREAM-PROCESSVALUES",
            move || streams_core::fixed_key::FixedKeyNode::new(supplier()),
            stores,
        );
        KStream {
            builder: self.builder.clone(),
            node: name,
            key_serde: self.key_serde.clone(),
            value_serde: None,
            key_changed: self.key_changed,
            next_name: None,
        }
    }

    /// Adds a Processor API node reading this stream, named as given or `<prefix>-<n>`, and
    /// connects it to `stores`; returns its name.
    fn add_processor_node<K2, V2, P, F>(&self, prefix: &str, supplier: F, stores: &[&str]) -> String
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        P: Processor<K, V, K2, V2>,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let mut inner = self.builder.borrow_mut();
        let name = inner.node_name(self.next_name.as_deref(), prefix);
        let parent = self.node.clone();
        inner.apply(|t| {
            t.add_processor(&name, supplier, &[&parent])?;
            t.connect_processor_and_state_stores(&name, stores)
                .map(|_| ())
        });
        name
    }
}
