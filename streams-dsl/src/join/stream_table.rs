//! Stream-table joins: each stream record looks up the table's current row for its key.

use std::sync::Arc;

use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{Serde, SharedSerde};
use streams_core::{Record, StreamsError};

use super::{Joiner, REPARTITION_HINT, lower_join};
use crate::stream::KStream;
use crate::table::KTable;
use crate::table_getter::TableReader;

/// `KSTREAM-JOIN` / `KSTREAM-LEFTJOIN`: looks the record's key up in the table's store; an
/// inner join drops records without a row, a left join passes `None` to the joiner. Table
/// updates emit nothing. The output keeps the stream record's key, timestamp and headers.
struct StreamTableJoin<K, V, VT, VR> {
    joiner: Joiner<V, VT, VR>,
    table: TableReader<K, VT>,
}

impl<K, V, VT, VR> Processor<K, V, K, VR> for StreamTableJoin<K, V, VT, VR>
where
    K: Clone + 'static,
    V: 'static,
    VT: 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<(), ProcessorError> {
        self.table.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VR>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        let row = self.table.get(&r.key)?;
        if let Some(joined) = self
            .joiner
            .join(&r.value, row.as_ref().map(|row| &row.value))
        {
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
    /// Joins each record with the table's current row for its key (`KSTREAM-JOIN`): records
    /// without a row are dropped; updates of the table emit nothing. The table is read from
    /// its store, or, for a filter or value mapping of a table that has one, from that store
    /// through the same steps (as Kafka Streams' value getters: no store is added); it must
    /// be co-partitioned with the stream; after a key-changing operation the stream is
    /// repartitioned first.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let users = b.table::<String, String>("users");
    /// b.stream::<String, String>(&["clicks"])
    ///     .join_table(&users, |page, region| format!("{page} from {region}"))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("users", StringSerde, StringSerde).pipe(s("ann"), s("eu"), 1)?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/home"), 2)?;
    /// clicks.pipe(s("bob"), s("/cart"), 3)?; // no row for bob: dropped
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("ann"), s("/home from eu"), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn join_table<VT, VR>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, &VT) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
    {
        self.join_table_with(table, joiner, Joined::default())
    }

    /// As [`Self::join_table`], named and with serdes as `joined` says: the join's node and a
    /// key-changed stream's repartition topic are named after `Joined::with_name`.
    ///
    /// ```
    /// # use streams_core::serde::StringSerde;
    /// # use streams_dsl::*;
    /// let b = StreamsBuilder::new();
    /// let users = b.table::<String, String>("users");
    /// b.stream::<String, String>(&["clicks"])
    ///     .select_key(|_, user| user.clone())
    ///     .join_table_with(
    ///         &users,
    ///         |user, region| format!("{user} from {region}"),
    ///         Joined::with(StringSerde, StringSerde, StringSerde).with_name("enrich"),
    ///     )
    ///     .to("out");
    /// let topology = b.build()?;
    /// assert_eq!(topology.repartition_topics(), vec!["enrich-repartition".to_owned()]);
    /// assert!(topology.describe().to_string().contains("Processor: enrich (stores: [users-STATE-STORE-0000000000])"));
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn join_table_with<VT, VR>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, &VT) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
    {
        self.table_join(
            table,
            Joiner::Inner(Arc::new(joiner)),
            "KSTREAM-JOIN",
            joined,
        )
    }

    /// Joins each record with the table's current row for its key, or with `None` when there
    /// is none (`KSTREAM-LEFTJOIN`). Otherwise as [`Self::join_table`].
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let users = b.table::<String, String>("users");
    /// b.stream::<String, String>(&["clicks"])
    ///     .left_join_table(&users, |page, region| format!("{page} from {}", region.map_or("?", String::as_str)))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("users", StringSerde, StringSerde).pipe(s("ann"), s("eu"), 1)?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/home"), 2)?;
    /// clicks.pipe(s("bob"), s("/cart"), 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("ann"), s("/home from eu"), 2), (s("bob"), s("/cart from ?"), 3)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn left_join_table<VT, VR>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
    {
        self.left_join_table_with(table, joiner, Joined::default())
    }

    /// As [`Self::left_join_table`], named and with serdes as `joined` says (see
    /// [`Self::join_table_with`]).
    ///
    /// ```
    /// # use streams_core::serde::StringSerde;
    /// # use streams_dsl::*;
    /// let b = StreamsBuilder::new();
    /// let users = b.table::<String, String>("users");
    /// b.stream::<String, String>(&["clicks"])
    ///     .left_join_table_with(&users, |page, region| format!("{page} {region:?}"), Joined::default().with_name("enrich"))
    ///     .to("out");
    /// assert!(b.build()?.describe().to_string().contains("Processor: enrich (stores: [users-STATE-STORE-0000000000])"));
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn left_join_table_with<VT, VR>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
    {
        self.table_join(
            table,
            Joiner::Left(Arc::new(joiner)),
            "KSTREAM-LEFTJOIN",
            joined,
        )
    }

    fn table_join<VT, VR>(
        &self,
        table: &KTable<K, VT>,
        joiner: Joiner<V, VT, VR>,
        prefix: &str,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
    {
        let builder = self.builder.clone();
        let mut inner = builder.borrow_mut();
        // As Kafka Streams: a key-changed stream is repartitioned first, through a topic named
        // after the join's given name or else after the stream's own node; the join's
        // name is taken after the repartition's.
        let given = joined.name.or_else(|| self.next_name.clone());
        let base = given.clone().unwrap_or_else(|| self.node.clone());
        let key_serde = joined.key_serde.or_else(|| self.key_serde.clone());
        let parent = self.partitioned_by_key(
            &mut inner,
            &base,
            key_serde.clone(),
            joined.value_serde.or_else(|| self.value_serde.clone()),
            REPARTITION_HINT,
        );
        let name = inner.node_name(given.as_deref(), prefix);
        match table.value_getter() {
            None => inner.fail(StreamsError::Topology(format!(
                "join `{name}`: the rows of table `{}` cannot be read (it is a foreign-key \
                 join's result, kept in no store); turn it into a table that can with \
                 to_stream().to_table_with(..)",
                table.node
            ))),
            Some(getter) => {
                let stores = getter.stores.clone();
                let stores: Vec<&str> = stores.iter().map(String::as_str).collect();
                lower_join::<K, V, K, VR, _, _>(
                    &mut inner,
                    &name,
                    &[&parent],
                    &stores,
                    move || StreamTableJoin {
                        joiner: joiner.clone(),
                        table: TableReader::new(&getter),
                    },
                );
            }
        }
        drop(inner);
        KStream::new(builder, name, key_serde, None)
    }
}

/// How a stream-table join is named, and the serdes of a key-changed stream's repartition
/// topic (Kafka Streams' `Joined`; the table's value serde is accepted for the same calls
/// but not needed: the table is read from its store).
pub struct Joined<K, V, VT> {
    key_serde: Option<SharedSerde<K>>,
    value_serde: Option<SharedSerde<V>>,
    name: Option<String>,
    _table: std::marker::PhantomData<fn() -> VT>,
}

impl<K, V, VT> Default for Joined<K, V, VT> {
    fn default() -> Self {
        Joined {
            key_serde: None,
            value_serde: None,
            name: None,
            _table: std::marker::PhantomData,
        }
    }
}

impl<K: 'static, V: 'static, VT: 'static> Joined<K, V, VT> {
    /// Joins with these serdes for the stream's keys and values (and the table's values).
    pub fn with(
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
        _table_value_serde: impl Serde<VT>,
    ) -> Self {
        Joined {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            ..Self::default()
        }
    }

    /// Names the join's node `name` and a key-changed stream's repartition topic
    /// `<name>-repartition`.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}
