//! Re-grouped tables (`KTable::group_by`, `KGroupedTable`) and their aggregations with an
//! adder and a subtractor, through a repartition topic of row changes (`ChangeSerde`).

use std::sync::Arc;

use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{NaturalSerde, Serde, SharedSerde};
use streams_core::{Record, SerdeError, StreamsError};

use crate::aggregation::{
    Fold, Naming, Parts, aggregate_fold, count_fold, lower_aggregation, reduce_fold,
    update_aggregate, with_count_serde,
};
use crate::options::{Grouped, Materialized};
use crate::shared::Shared;
use crate::store_slot::StoreSlot;
use crate::table::{Change, KTable};
use crate::timestamped::TimestampedKeyValueStore;

/// `KTABLE-SELECT`: maps each row update to its new group, as a subtraction from the group
/// of the old value and an addition to the group of the new one (one record when both fall
/// in the same group).
struct TableSelect<K, V, K2, V2> {
    selector: Arc<Selector<K, V, K2, V2>>,
}

/// Picks a row's new group key and value.
type Selector<K, V, K2, V2> = dyn Fn(&K, &V) -> (K2, V2) + Send + Sync;

impl<K, V, K2, V2> Processor<K, Change<V>, K2, Change<V2>> for TableSelect<K, V, K2, V2>
where
    K: 'static,
    V: 'static,
    K2: Clone + PartialEq + 'static,
    V2: Clone + 'static,
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K2, Change<V2>>,
        r: Record<K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        let old = r.value.old.as_ref().map(|v| (self.selector)(&r.key, v));
        let new = r.value.new.as_ref().map(|v| (self.selector)(&r.key, v));
        let out = |key: K2, change: Change<V2>| Record {
            key,
            value: change,
            timestamp: r.timestamp,
            headers: r.headers.clone(),
        };
        match (old, new) {
            (Some((ok, ov)), Some((nk, nv))) if ok == nk => {
                ctx.forward(out(
                    nk,
                    Change {
                        new: Some(nv),
                        old: Some(ov),
                    },
                ))?;
            }
            (old, new) => {
                if let Some((k, v)) = old {
                    ctx.forward(out(
                        k,
                        Change {
                            new: None,
                            old: Some(v),
                        },
                    ))?;
                }
                if let Some((k, v)) = new {
                    ctx.forward(out(
                        k,
                        Change {
                            new: Some(v),
                            old: None,
                        },
                    ))?;
                }
            }
        }
        Ok(())
    }
}

/// Writes a [`Change`] to a repartition topic: one flag byte (0: neither value, 1: new
/// value, 2: old value, 3: both), then the value, or for both the new value's length
/// (4 bytes, big-endian), the new value and the old value.
pub struct ChangeSerde<V>(pub SharedSerde<V>);

impl<V: 'static> Serde<Change<V>> for ChangeSerde<V> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &Change<V>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        let flag = u8::from(value.new.is_some()) | (u8::from(value.old.is_some()) << 1);
        buf.push(flag);
        let encode = |v: &V, buf: &mut Vec<u8>| -> Result<(), SerdeError> {
            if !self.0.serialize_into(topic, v, buf)? {
                return Err(SerdeError::new(
                    "a table value on a repartition topic must not serialize to null",
                ));
            }
            Ok(())
        };
        match (&value.new, &value.old) {
            (Some(n), Some(o)) => {
                let at = buf.len();
                buf.extend_from_slice(&[0; 4]);
                encode(n, buf)?;
                let len = u32::try_from(buf.len() - at - 4)
                    .map_err(|_| SerdeError::new("a table value over 4 GiB"))?;
                buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
                encode(o, buf)?;
            }
            (Some(v), None) | (None, Some(v)) => encode(v, buf)?,
            (None, None) => {}
        }
        Ok(true)
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Change<V>, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::new("a table change must not be null"))?;
        let (&flag, rest) = data
            .split_first()
            .ok_or_else(|| SerdeError::new("a table change needs its flag byte"))?;
        let decode = |b: &[u8]| self.0.deserialize(topic, Some(b));
        Ok(match flag {
            0 => Change {
                new: None,
                old: None,
            },
            1 => Change {
                new: Some(decode(rest)?),
                old: None,
            },
            2 => Change {
                new: None,
                old: Some(decode(rest)?),
            },
            3 => {
                let len = rest
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes)
                    .ok_or_else(|| SerdeError::new("a table change lacks its length"))?
                    as usize;
                let body = &rest[4..];
                if body.len() < len {
                    return Err(SerdeError::new(format!(
                        "a table change says its new value has {len} bytes, {} remain",
                        body.len()
                    )));
                }
                Change {
                    new: Some(decode(&body[..len])?),
                    old: Some(decode(&body[len..])?),
                }
            }
            other => {
                return Err(SerdeError::new(format!(
                    "a table change's flag must be 0 to 3, got {other}"
                )));
            }
        })
    }
}

/// A table re-grouped by a new key, ready for an aggregation that adds new values to their
/// group and subtracts old ones from theirs.
pub struct KGroupedTable<K, V> {
    table_builder: Shared,
    select: String,
    key_serde: Option<SharedSerde<K>>,
    value_serde: Option<SharedSerde<V>>,
    name: Option<String>,
}

impl<K, V> std::fmt::Debug for KGroupedTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KGroupedTable")
            .field("select", &self.select)
            .finish()
    }
}

impl<K, V> KTable<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Re-groups the table's rows by `selector(key, value) -> (new key, new value)`
    /// (`KTABLE-SELECT`), both with their natural serdes; see [`Self::group_by_with`].
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table::<String, String>("users")
    ///     .group_by(|user, region| (region.clone(), user.clone()))
    ///     .count()
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, Nullable(StringSerde));
    /// users.pipe(s("ann"), Some(s("eu")), 1)?;
    /// users.pipe(s("bob"), Some(s("eu")), 2)?;
    /// users.pipe(s("ann"), Some(s("us")), 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("eu"), Some(1), 1), (s("eu"), Some(2), 2), (s("eu"), Some(1), 3), (s("us"), Some(1), 3)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn group_by<K2, V2>(
        &self,
        selector: impl Fn(&K, &V) -> (K2, V2) + Send + Sync + 'static,
    ) -> KGroupedTable<K2, V2>
    where
        K2: NaturalSerde + Clone + PartialEq,
        V2: NaturalSerde + Clone,
    {
        let grouped = Grouped::default()
            .or_key_serde(K2::natural_serde())
            .or_value_serde(V2::natural_serde());
        self.group_by_with(selector, grouped)
    }

    /// Re-groups the table's rows by `selector(key, value) -> (new key, new value)`
    /// (`KTABLE-SELECT`) with the serdes of `grouped`; the aggregation reads them from a
    /// repartition topic. An update of a row subtracts its old value from the old group and
    /// adds the new value to the new one.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table::<String, String>("users")
    ///     .group_by_with(|user, region| (region.clone(), user.clone()), Grouped::with(StringSerde, StringSerde).with_name("by-region"))
    ///     .count()
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// d.input_topic("users", StringSerde, StringSerde).pipe(s("ann"), s("eu"), 1)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("eu"), Some(1), 1)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn group_by_with<K2, V2>(
        &self,
        selector: impl Fn(&K, &V) -> (K2, V2) + Send + Sync + 'static,
        grouped: Grouped<K2, V2>,
    ) -> KGroupedTable<K2, V2>
    where
        K2: Clone + PartialEq + 'static,
        V2: Clone + 'static,
    {
        self.send_old_values();
        let mut inner = self.builder.borrow_mut();
        let name = inner.new_name("KTABLE-SELECT");
        if !self.old_values {
            inner.fail(StreamsError::Topology(format!(
                "group_by `{name}`: table `{}` does not carry its rows' previous values (a \
                 foreign-key join's result), so a re-grouping could not subtract them; \
                 materialize it first with to_stream().to_table_with(..)",
                self.node
            )));
        }
        let parent = self.node.clone();
        let selector: Arc<Selector<K, V, K2, V2>> = Arc::new(selector);
        inner.apply(|t| {
            t.add_processor(
                &name,
                move || TableSelect {
                    selector: selector.clone(),
                },
                &[&parent],
            )
            .map(|_| ())
        });
        drop(inner);
        KGroupedTable {
            table_builder: self.builder.clone(),
            select: name,
            key_serde: grouped.key_serde,
            value_serde: grouped.value_serde,
            name: grouped.name,
        }
    }
}

/// Subtracts a value from a group's existing aggregate (`None` when nothing is left to hold).
type Subtractor<K, V, A> = dyn Fn(&K, V, A) -> Option<A> + Send + Sync;

impl<K, V> KGroupedTable<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// [`Self::count_with`] into a store with a generated name and the grouping's key serde.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table::<String, String>("users") // user -> region
    ///     .group_by(|user, region| (region.clone(), user.clone()))
    ///     .count()
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, Nullable(StringSerde));
    /// users.pipe(s("ann"), Some(s("eu")), 1)?;
    /// users.pipe(s("bob"), Some(s("eu")), 2)?;
    /// users.pipe(s("ann"), None, 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("eu"), Some(1), 1), (s("eu"), Some(2), 2), (s("eu"), Some(1), 3)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn count(&self) -> KTable<K, i64> {
        self.count_with(Materialized::new())
    }

    /// [`Self::reduce_with`] into a store with a generated name and the grouping's serdes.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table::<String, String>("users") // user -> region
    ///     .group_by(|user, region| (region.clone(), user.clone()))
    ///     .reduce(|all, user| format!("{all},{user}"), |all, user| all.replace(&format!(",{user}"), "").replace(&user, ""))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, Nullable(StringSerde));
    /// users.pipe(s("ann"), Some(s("eu")), 1)?;
    /// users.pipe(s("bob"), Some(s("eu")), 2)?;
    /// users.pipe(s("ann"), None, 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("eu"), Some(s("ann")), 1), (s("eu"), Some(s("ann,bob")), 2), (s("eu"), Some(s(",bob")), 3)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn reduce(
        &self,
        adder: impl Fn(V, V) -> V + Send + Sync + 'static,
        subtractor: impl Fn(V, V) -> V + Send + Sync + 'static,
    ) -> KTable<K, V> {
        self.reduce_with(adder, subtractor, Materialized::new())
    }

    /// [`Self::aggregate_with`] into a store with a generated name, the aggregate with its
    /// natural serde.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table::<String, String>("users") // user -> region
    ///     .group_by(|user, region| (region.clone(), user.clone()))
    ///     .aggregate(|| 0i64, |_, user, n| n + user.len() as i64, |_, user, n| n - user.len() as i64)
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, Nullable(StringSerde));
    /// users.pipe(s("ann"), Some(s("eu")), 1)?;
    /// users.pipe(s("bob"), Some(s("eu")), 2)?;
    /// users.pipe(s("ann"), None, 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("eu"), Some(3), 1), (s("eu"), Some(6), 2), (s("eu"), Some(3), 3)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate<A: NaturalSerde + Clone>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        adder: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        subtractor: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
    ) -> KTable<K, A> {
        let materialized = Materialized::new().or_value_serde(Some(A::natural_serde()));
        self.aggregate_with(initializer, adder, subtractor, materialized)
    }

    /// The number of rows per group (`KTABLE-AGGREGATE`).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table::<String, String>("users") // user -> region
    ///     .group_by(|user, region| (region.clone(), user.clone()))
    ///     .count_with(Materialized::as_store("users-per-region"))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, Nullable(StringSerde));
    /// users.pipe(s("ann"), Some(s("eu")), 1)?;
    /// users.pipe(s("bob"), Some(s("eu")), 2)?;
    /// users.pipe(s("ann"), None, 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("eu"), Some(1), 1), (s("eu"), Some(2), 2), (s("eu"), Some(1), 3)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn count_with(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let materialized = with_count_serde(materialized);
        self.fold(
            "KTABLE-AGGREGATE",
            "count",
            materialized,
            count_fold(),
            Arc::new(|_, _, n: i64| Some(n - 1)),
        )
    }

    /// Each group's values combined with `adder(aggregate, value)`; a value leaving the group
    /// is taken out with `subtractor(aggregate, value)` (`KTABLE-REDUCE`).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table::<String, String>("users") // user -> region
    ///     .group_by(|user, region| (region.clone(), user.clone()))
    ///     .reduce_with(|all, user| format!("{all},{user}"), |all, user| all.replace(&format!(",{user}"), "").replace(&user, ""), Materialized::as_store("members"))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, Nullable(StringSerde));
    /// users.pipe(s("ann"), Some(s("eu")), 1)?;
    /// users.pipe(s("bob"), Some(s("eu")), 2)?;
    /// users.pipe(s("ann"), None, 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("eu"), Some(s("ann")), 1), (s("eu"), Some(s("ann,bob")), 2), (s("eu"), Some(s(",bob")), 3)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn reduce_with(
        &self,
        adder: impl Fn(V, V) -> V + Send + Sync + 'static,
        subtractor: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let materialized = materialized.or_value_serde(self.value_serde.clone());
        self.fold(
            "KTABLE-REDUCE",
            "reduce",
            materialized,
            reduce_fold(adder),
            Arc::new(move |_, v, agg: V| Some(subtractor(agg, v))),
        )
    }

    /// Each group's values folded into an aggregate from `initializer()` with
    /// `adder(key, value, aggregate)`; a value leaving the group is taken out with
    /// `subtractor(key, value, aggregate)` (`KTABLE-AGGREGATE`). The store's value serde must
    /// be given in `materialized`.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// let b = StreamsBuilder::new();
    /// b.table::<String, String>("users") // user -> region
    ///     .group_by(|user, region| (region.clone(), user.clone()))
    ///     .aggregate_with(|| 0i64, |_, user, n| n + user.len() as i64, |_, user, n| n - user.len() as i64, Materialized::as_store("letters").with_value_serde(I64Serde))
    ///     .to_stream()
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let users = d.input_topic("users", StringSerde, Nullable(StringSerde));
    /// users.pipe(s("ann"), Some(s("eu")), 1)?;
    /// users.pipe(s("bob"), Some(s("eu")), 2)?;
    /// users.pipe(s("ann"), None, 3)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("eu"), Some(3), 1), (s("eu"), Some(6), 2), (s("eu"), Some(3), 3)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate_with<A: Clone + 'static>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        adder: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        subtractor: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<K, A> {
        self.fold(
            "KTABLE-AGGREGATE",
            "aggregate",
            materialized,
            aggregate_fold(initializer, adder),
            Arc::new(move |k, v, agg: A| Some(subtractor(k, v, agg))),
        )
    }

    fn fold<A: Clone + 'static>(
        &self,
        prefix: &str,
        operation: &str,
        materialized: Materialized<K, A>,
        adder: Arc<Fold<K, V, A>>,
        subtractor: Arc<Subtractor<K, V, A>>,
    ) -> KTable<K, A> {
        lower_aggregation(
            &self.table_builder,
            Naming::table(prefix, operation),
            &materialized,
            self.key_serde.clone(),
            |inner, plan, k, a| {
                let base = self.name.clone().unwrap_or_else(|| plan.store_name.clone());
                let topic = format!("{base}-repartition");
                let Some(v) = &self.value_serde else {
                    inner.fail(StreamsError::Topology(format!(
                        "{operation} `{}`: repartition topic `{topic}` needs a value serde for \
                         the re-grouped values; give it with Grouped::with",
                        plan.name
                    )));
                    return None;
                };
                // The re-grouped changes go through the repartition topic to the aggregation.
                let (sink, source) = plan.repartition_nodes.clone()?;
                let change: SharedSerde<Change<V>> = Arc::new(ChangeSerde(v.clone()));
                let (select, k2) = (self.select.clone(), k.clone());
                inner.apply(|t| {
                    t.add_repartition_topic(&topic)?
                        .add_sink_with(
                            &sink,
                            streams_core::SinkOptions::topic(topic.as_str()),
                            k2.clone(),
                            change.clone(),
                            &[&select],
                        )?
                        .add_source_with(&source, &[&topic], k2, change, Default::default())?;
                    Ok(())
                });
                let store_name = plan.store_name.clone();
                Some(Parts::key_value(
                    plan,
                    materialized.kind,
                    (k, a),
                    source,
                    move || TableAggregate {
                        adder: adder.clone(),
                        subtractor: subtractor.clone(),
                        store: StoreSlot::new(&store_name),
                    },
                ))
            },
        )
    }
}

/// `KTABLE-AGGREGATE` / `KTABLE-REDUCE`: subtracts a change's old value from its group and
/// adds its new value, stores the result with the larger timestamp, and forwards the change.
struct TableAggregate<K, V, A> {
    adder: Arc<Fold<K, V, A>>,
    subtractor: Arc<Subtractor<K, V, A>>,
    store: StoreSlot<TimestampedKeyValueStore<K, A>>,
}

impl<K, V, A> Processor<K, Change<V>, K, Change<A>> for TableAggregate<K, V, A>
where
    K: Clone + 'static,
    V: 'static,
    A: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A>>) -> Result<(), ProcessorError> {
        self.store.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<A>>,
        r: Record<K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.get()?;
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = r;
        let (change, timestamp) =
            update_aggregate(&mut store.borrow_mut(), &key, timestamp, |mut agg| {
                // As Kafka Streams: an old value is subtracted only from an existing aggregate.
                if let Some(v) = value.old
                    && let Some(a) = agg.take()
                {
                    agg = (self.subtractor)(&key, v, a);
                }
                if let Some(v) = value.new {
                    agg = Some((self.adder)(&key, v, agg));
                }
                agg
            })?;
        ctx.forward(Record {
            key,
            value: change,
            timestamp,
            headers,
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streams_core::serde::StringSerde;

    #[test]
    fn changes_round_trip() {
        let serde = ChangeSerde::<String>(Arc::new(StringSerde));
        for change in [
            Change {
                new: Some("new".to_owned()),
                old: Some("old".to_owned()),
            },
            Change {
                new: Some("new".to_owned()),
                old: None,
            },
            Change {
                new: None,
                old: Some("old".to_owned()),
            },
        ] {
            let bytes = serde
                .serialize("t", &change)
                .expect("ok")
                .expect("non-null");
            assert_eq!(serde.deserialize("t", Some(&bytes)).expect("ok"), change);
        }
        assert!(serde.deserialize("t", Some(&[9])).is_err());
    }
}
