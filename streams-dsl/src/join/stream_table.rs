//! Stream-table joins: each stream record looks up the table's current row for its key.

use std::sync::Arc;

use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
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
        self.table_join(table, Joiner::Inner(Arc::new(joiner)), "KSTREAM-JOIN")
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
        self.table_join(table, Joiner::Left(Arc::new(joiner)), "KSTREAM-LEFTJOIN")
    }

    fn table_join<VT, VR>(
        &self,
        table: &KTable<K, VT>,
        joiner: Joiner<V, VT, VR>,
        prefix: &str,
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
        let base = self.next_name.clone().unwrap_or_else(|| self.node.clone());
        let parent = self.partitioned_by_key(
            &mut inner,
            &base,
            self.key_serde.clone(),
            self.value_serde.clone(),
            REPARTITION_HINT,
        );
        let name = inner.node_name(self.next_name.as_deref(), prefix);
        match table.value_getter() {
            None => inner.fail(StreamsError::Topology(format!(
                "join `{name}`: the rows of table `{}` cannot be read (it is the result of a join \
                 or a suppression, kept in no store); turn it into a table that can with \
                 to_stream().to_table_with(..)",
                table.node
            ))),
            Some(getter) => {
                let store = getter.store.clone();
                lower_join::<K, V, K, VR, _, _>(
                    &mut inner,
                    &name,
                    &[&parent],
                    &[&store],
                    move || StreamTableJoin {
                        joiner: joiner.clone(),
                        table: TableReader::new(&getter),
                    },
                );
            }
        }
        drop(inner);
        KStream::new(builder, name, self.key_serde.clone(), None)
    }
}
