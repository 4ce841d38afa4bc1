//! Table-table joins (inner, left, outer): an update on either side looks up the other
//! side's row and emits the joined row's change.

use std::sync::Arc;

use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::{Record, StreamsError};

use super::lower_join;
use crate::options::Materialized;
use crate::store_slot::StoreSlot;
use crate::stream::PassThrough;
use crate::table::{Change, KTable};
use crate::table_getter::{TableJoiner, TableReader, ValueGetter};
use crate::timestamped::{TimestampedKeyValueStore, put_or_delete, timestamped_store};

/// One side of a table-table join (`KTABLE-JOINTHIS` / `-JOINOTHER` and the left / outer
/// variants): on an update of this side, looks up the other side's row and forwards the
/// joined change (new and old joined rows); nothing when neither joined row exists and the
/// other side has no row. The timestamp is the larger of the update's and the other row's.
struct TableJoinSide<K, VThis, VOther, VR> {
    /// Joins (this side, other side) in the user's order.
    join: Arc<TableJoiner<VThis, VOther, VR>>,
    /// The other side's rows.
    other: TableReader<K, VOther>,
}

impl<K, VThis, VOther, VR> TableJoinSide<K, VThis, VOther, VR>
where
    K: 'static,
    VThis: 'static,
    VOther: 'static,
    VR: 'static,
{
    /// Makes the side that reads the other side's rows with `other`.
    fn supplier(
        other: ValueGetter<K, VOther>,
        join: Arc<TableJoiner<VThis, VOther, VR>>,
    ) -> impl Fn() -> Self + Send + Sync + 'static {
        move || TableJoinSide {
            join: join.clone(),
            other: TableReader::new(&other),
        }
    }
}

impl<K, VThis, VOther, VR> Processor<K, Change<VThis>, K, Change<VR>>
    for TableJoinSide<K, VThis, VOther, VR>
where
    K: Clone + 'static,
    VThis: 'static,
    VOther: 'static,
    VR: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
    ) -> Result<(), ProcessorError> {
        self.other.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
        r: Record<K, Change<VThis>>,
    ) -> Result<(), ProcessorError> {
        let other = self.other.get(&r.key)?;
        let other_value = other.as_ref().map(|o| &o.value);
        // The joined row after and before this update, against the other side's current row
        // (a missing row on either side counts as the join says: outer and left joins keep
        // rows with one side missing).
        let new = (self.join)(r.value.new.as_ref(), other_value);
        let old = (self.join)(r.value.old.as_ref(), other_value);
        // As Kafka Streams: while the other side has a row, every update of this side is
        // forwarded, a delete of a row this side never had included (an inner join then
        // emits a delete for it); without one, only updates with a joined row before or after.
        if new.is_none() && old.is_none() && other.is_none() {
            return Ok(());
        }
        let timestamp = other.map_or(r.timestamp, |o| o.timestamp.max(r.timestamp));
        ctx.forward(Record {
            key: r.key,
            value: Change { new, old },
            timestamp,
            headers: r.headers,
        })?;
        Ok(())
    }
}

impl<K, V1> KTable<K, V1>
where
    K: Clone + 'static,
    V1: Clone + 'static,
{
    /// Inner table-table join (`KTABLE-JOINTHIS` / `KTABLE-JOINOTHER` / `KTABLE-MERGE`): a key
    /// has a joined row while both tables have one; an update on either side emits the new
    /// joined row, and a delete on either side a delete.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let regions = b.table::<String, String>("regions");
    /// let plans = b.table::<String, String>("plans");
    /// regions
    ///     .join(&plans, |region, plan| format!("{region}/{plan}"))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("regions", StringSerde, StringSerde).pipe(s("ann"), s("eu"), 1)?;
    /// d.input_topic("plans", StringSerde, StringSerde).pipe(s("ann"), s("pro"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann"), Some(s("eu/pro")), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn join<V2, VR>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V1, &V2) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        let f: Arc<TableJoiner<V1, V2, VR>> = Arc::new(move |a, b| match (a, b) {
            (Some(a), Some(b)) => Some(joiner(a, b)),
            _ => None,
        });
        self.table_table_join(other, f, None)
    }

    /// As [`Self::join`], the joined rows kept in a store as `materialized` says (named
    /// `KTABLE-MERGE-STATE-STORE-<n>` unless named; queryable, and joinable like any stored
    /// table).
    ///
    /// ```
    /// # use streams_core::serde::{Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let regions = b.table::<String, String>("regions");
    /// let plans = b.table::<String, String>("plans");
    /// let profiles = regions.join_with(&plans, |r, p| format!("{r}/{p}"), Materialized::as_store("profiles"));
    /// // A stored join result can be joined in turn.
    /// b.stream::<String, String>(&["clicks"])
    ///     .join_table(&profiles, |page, profile| format!("{page} by {profile}"))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("regions", StringSerde, StringSerde).pipe(s("ann"), s("eu"), 1)?;
    /// d.input_topic("plans", StringSerde, StringSerde).pipe(s("ann"), s("pro"), 2)?;
    /// d.input_topic("clicks", StringSerde, StringSerde).pipe(s("ann"), s("/home"), 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, StringSerde).read_key_values_with_time()?, vec![(s("ann"), s("/home by eu/pro"), 3)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn join_with<V2, VR>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V1, &V2) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        let f: Arc<TableJoiner<V1, V2, VR>> = Arc::new(move |a, b| match (a, b) {
            (Some(a), Some(b)) => Some(joiner(a, b)),
            _ => None,
        });
        self.table_table_join(other, f, Some(materialized))
    }

    /// Left table-table join: every row of this table has a joined row, with the other
    /// table's row if it has one (nodes named as the inner join's).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let regions = b.table::<String, String>("regions");
    /// let plans = b.table::<String, String>("plans");
    /// regions
    ///     .left_join(&plans, |region, plan| format!("{region}/{}", plan.map_or("-", String::as_str)))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("regions", StringSerde, StringSerde).pipe(s("ann"), s("eu"), 1)?;
    /// d.input_topic("plans", StringSerde, StringSerde).pipe(s("bob"), s("pro"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann"), Some(s("eu/-")), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn left_join<V2, VR>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V1, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        self.left_join_with_store(other, joiner, None)
    }

    /// As [`Self::left_join`], the joined rows kept in a store as `materialized` says (see
    /// [`Self::join_with`]).
    ///
    /// ```
    /// # use streams_core::serde::StringSerde;
    /// # use streams_dsl::*;
    /// let b = StreamsBuilder::new();
    /// let regions = b.table::<String, String>("regions");
    /// let plans = b.table::<String, String>("plans");
    /// let joined = regions.left_join_with(&plans, |r, p| format!("{r}/{p:?}"), Materialized::as_store("profiles"));
    /// assert_eq!(joined.store_name(), Some("profiles"));
    /// ```
    pub fn left_join_with<V2, VR>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V1, Option<&V2>) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        self.left_join_with_store(other, joiner, Some(materialized))
    }

    fn left_join_with_store<V2, VR>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(&V1, Option<&V2>) -> VR + Send + Sync + 'static,
        materialized: Option<Materialized<K, VR>>,
    ) -> KTable<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        let f: Arc<TableJoiner<V1, V2, VR>> = Arc::new(move |a, b| a.map(|a| joiner(a, b)));
        self.table_table_join(other, f, materialized)
    }

    /// Outer table-table join: a key has a joined row while either table has one
    /// (nodes named as the inner join's).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// let regions = b.table::<String, String>("regions");
    /// let plans = b.table::<String, String>("plans");
    /// regions
    ///     .outer_join(&plans, |region, plan| format!("{}/{}", region.map_or("-", String::as_str), plan.map_or("-", String::as_str)))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("regions", StringSerde, StringSerde).pipe(s("ann"), s("eu"), 1)?;
    /// d.input_topic("plans", StringSerde, StringSerde).pipe(s("bob"), s("pro"), 2)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann"), Some(s("eu/-")), 1), (s("bob"), Some(s("-/pro")), 2)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn outer_join<V2, VR>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(Option<&V1>, Option<&V2>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        self.outer_join_with_store(other, joiner, None)
    }

    /// As [`Self::outer_join`], the joined rows kept in a store as `materialized` says (see
    /// [`Self::join_with`]).
    ///
    /// ```
    /// # use streams_core::serde::StringSerde;
    /// # use streams_dsl::*;
    /// let b = StreamsBuilder::new();
    /// let regions = b.table::<String, String>("regions");
    /// let plans = b.table::<String, String>("plans");
    /// let joined = regions.outer_join_with(&plans, |r, p| format!("{r:?}/{p:?}"), Materialized::new());
    /// assert_eq!(joined.store_name(), Some("KTABLE-MERGE-STATE-STORE-0000000006"));
    /// ```
    pub fn outer_join_with<V2, VR>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(Option<&V1>, Option<&V2>) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        self.outer_join_with_store(other, joiner, Some(materialized))
    }

    fn outer_join_with_store<V2, VR>(
        &self,
        other: &KTable<K, V2>,
        joiner: impl Fn(Option<&V1>, Option<&V2>) -> VR + Send + Sync + 'static,
        materialized: Option<Materialized<K, VR>>,
    ) -> KTable<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        let f: Arc<TableJoiner<V1, V2, VR>> =
            Arc::new(move |a, b| (a.is_some() || b.is_some()).then(|| joiner(a, b)));
        self.table_table_join(other, f, materialized)
    }

    fn table_table_join<V2, VR>(
        &self,
        other: &KTable<K, V2>,
        f: Arc<TableJoiner<V1, V2, VR>>,
        materialized: Option<Materialized<K, VR>>,
    ) -> KTable<K, VR>
    where
        V2: Clone + 'static,
        VR: Clone + 'static,
    {
        // As Kafka Streams: both sides of a table-table join send previous values.
        self.send_old_values();
        other.send_old_values();
        let builder = self.builder.clone();
        let mut inner = builder.borrow_mut();
        // A materialized result's store is named first (`KTABLE-MERGE-STATE-STORE-<n>`).
        let store = materialized.as_ref().map(|m| {
            let name = inner.name(m.name.as_deref(), "KTABLE-MERGE-STATE-STORE");
            inner.claim_store(&name);
            name
        });
        let key_serde = (materialized.as_ref())
            .and_then(|m| m.key_serde.clone())
            .or_else(|| self.key_serde.clone());
        let value_serde = (materialized.as_ref())
            .and_then(|m| m.value_serde.clone())
            .or_else(streams_core::serde::builtin_serde);
        // Kafka Streams names the merge first, then both sides, `KTABLE-JOINTHIS` /
        // `KTABLE-JOINOTHER` for every kind of join.
        let merge = inner.new_name("KTABLE-MERGE");
        let this_name = inner.new_name("KTABLE-JOINTHIS");
        let other_name = inner.new_name("KTABLE-JOINOTHER");
        // Unless stored, the result's rows are read by joining both sides' rows on demand.
        let getter = match (self.value_getter(), other.value_getter(), &store) {
            (Some(this_rows), Some(other_rows), None) => {
                Some(this_rows.joined(&other_rows, f.clone()))
            }
            _ => None,
        };
        match (self.value_getter(), other.value_getter()) {
            (Some(this_rows), Some(other_rows)) => {
                let (this_stores, other_stores) =
                    (this_rows.stores.clone(), other_rows.stores.clone());
                let this_stores: Vec<&str> = this_stores.iter().map(String::as_str).collect();
                let other_stores: Vec<&str> = other_stores.iter().map(String::as_str).collect();
                let from_other = f.clone();
                let flipped: Arc<TableJoiner<V2, V1, VR>> = Arc::new(move |b, a| from_other(a, b));
                lower_join::<K, Change<V1>, K, Change<VR>, _, _>(
                    &mut inner,
                    &this_name,
                    &[&self.node],
                    &other_stores,
                    TableJoinSide::supplier(other_rows, f),
                );
                lower_join::<K, Change<V2>, K, Change<VR>, _, _>(
                    &mut inner,
                    &other_name,
                    &[&other.node],
                    &this_stores,
                    TableJoinSide::supplier(this_rows, flipped),
                );
                match (&store, &materialized, &key_serde, &value_serde) {
                    (None, _, _, _) => lower_join::<K, Change<VR>, K, Change<VR>, _, _>(
                        &mut inner,
                        &merge,
                        &[&this_name, &other_name],
                        &[],
                        || PassThrough,
                    ),
                    (Some(store), Some(m), Some(k), Some(v)) => {
                        let builder =
                            m.changelog(timestamped_store(store, m.kind, k.clone(), v.clone()));
                        let store_name = store.clone();
                        inner.apply(|t| {
                            t.add_state_store(builder, &[])?;
                            Ok(())
                        });
                        lower_join::<K, Change<VR>, K, Change<VR>, _, _>(
                            &mut inner,
                            &merge,
                            &[&this_name, &other_name],
                            &[store],
                            move || MaterializedMerge {
                                store: StoreSlot::new(&store_name),
                            },
                        );
                    }
                    (Some(store), ..) => inner.fail(StreamsError::Topology(format!(
                        "join `{merge}`: no key or value serde is known for its store `{store}`; \
                         give them with Materialized::with_key_serde / with_value_serde"
                    ))),
                }
            }
            _ => inner.fail(StreamsError::Topology(format!(
                "join `{this_name}`: the rows of both tables must be readable: kept in a store \
                 (a table read by StreamsBuilder::table, an aggregation) or a filter or value \
                 mapping, transformation, suppression or join of such tables; `{}` or `{}` \
                 is neither (a foreign-key join's result); turn it into one with \
                 to_stream().to_table_with(..)",
                self.node, other.node
            ))),
        }
        drop(inner);
        KTable {
            builder,
            node: merge,
            materialized: store.is_some(),
            store,
            key_serde,
            value_serde,
            old_values: self.old_values && other.old_values,
            window_grace: None,
            getter,
            old_value_requests: Vec::new(),
        }
    }
}

/// `KTABLE-MERGE` of a materialized join: keeps each joined row in the store (a delete removes
/// it) with the update's timestamp, and forwards the change.
struct MaterializedMerge<K, V> {
    store: StoreSlot<TimestampedKeyValueStore<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>, K, Change<V>>
    for MaterializedMerge<K, V>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), ProcessorError> {
        self.store.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        r: Record<K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        put_or_delete(
            &mut self.store.get()?.borrow_mut(),
            &r.key,
            r.value.new.as_ref(),
            r.timestamp,
        )?;
        ctx.forward(r)?;
        Ok(())
    }
}
