//! Grouped streams and their aggregations: `count`, `reduce`, `aggregate`.

use std::sync::Arc;

use state_stores::KeyValueStoreBuilder;
use state_stores::typed::TypedKeyValueStore;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{I64Serde, Serde, SharedSerde};
use streams_core::store::StoreHandle;
use streams_core::{Record, SerdeError, StreamsError};

use crate::options::Materialized;
use crate::shared::Inner;
use crate::stream::KStream;
use crate::table::{Change, KTable};

/// A stream grouped by key, ready for an aggregation.
pub struct KGroupedStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// Keys may have changed upstream: aggregations read from a repartition topic.
    pub(crate) repartition: bool,
    /// The repartition topic's base name, if the user gave one.
    pub(crate) name: Option<String>,
}

impl<K, V> Clone for KGroupedStream<K, V> {
    fn clone(&self) -> Self {
        KGroupedStream {
            stream: self.stream.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition: self.repartition,
            name: self.name.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for KGroupedStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KGroupedStream")
            .field("node", &self.stream.node)
            .finish()
    }
}

/// An aggregate and the timestamp of its last update, as aggregation stores keep them.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueAndTimestamp<V> {
    /// The aggregate.
    pub value: V,
    /// The largest timestamp of the records aggregated into it.
    pub timestamp: i64,
}

/// Stores a [`ValueAndTimestamp`] as the 8-byte big-endian timestamp followed by the value's
/// encoding (Kafka Streams' timestamped store layout).
pub struct ValueAndTimestampSerde<V>(pub SharedSerde<V>);

impl<V: 'static> Serde<ValueAndTimestamp<V>> for ValueAndTimestampSerde<V> {
    fn serialize_into(
        &self,
        topic: &str,
        value: &ValueAndTimestamp<V>,
        buf: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        let start = buf.len();
        buf.extend_from_slice(&value.timestamp.to_be_bytes());
        if !self.0.serialize_into(topic, &value.value, buf)? {
            buf.truncate(start);
            return Ok(false);
        }
        Ok(true)
    }

    fn deserialize(
        &self,
        topic: &str,
        data: Option<&[u8]>,
    ) -> Result<ValueAndTimestamp<V>, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::new("a stored aggregate must not be null"))?;
        if data.len() < 8 {
            return Err(SerdeError::new(format!(
                "a stored aggregate needs 8 timestamp bytes before the value, got {} bytes",
                data.len()
            )));
        }
        let (ts, rest) = data.split_at(8);
        Ok(ValueAndTimestamp {
            timestamp: i64::from_be_bytes(ts.try_into().map_err(|_| SerdeError::new("timestamp"))?),
            value: self.0.deserialize(topic, Some(rest))?,
        })
    }
}

/// The store an aggregation keeps its results in.
pub(crate) type AggregateStore<K, A> = TypedKeyValueStore<K, ValueAndTimestamp<A>>;

/// How an aggregation folds a record into the current aggregate (`None`: no row yet).
pub(crate) type Fold<K, V, A> = dyn Fn(&K, V, Option<A>) -> A + Send + Sync;

/// Replaces `key`'s aggregate with `update(current)` (`None` deletes it), stamped with the
/// larger of the stored and the record's timestamp; returns the change and that timestamp.
pub(crate) fn update_aggregate<K: 'static, A: Clone + 'static>(
    store: &mut AggregateStore<K, A>,
    key: &K,
    record_timestamp: i64,
    update: impl FnOnce(Option<A>) -> Option<A>,
) -> streams_core::Result<(Change<A>, i64)> {
    let old = store.get(key)?;
    let timestamp = old
        .as_ref()
        .map_or(record_timestamp, |o| o.timestamp.max(record_timestamp));
    let old = old.map(|o| o.value);
    let new = update(old.clone());
    match &new {
        Some(value) => store.put(
            key,
            &ValueAndTimestamp {
                value: value.clone(),
                timestamp,
            },
        )?,
        None => store.delete(key)?,
    }
    Ok((Change { new, old }, timestamp))
}

/// `KSTREAM-AGGREGATE` / `KSTREAM-REDUCE`: folds each record into its key's aggregate, stores
/// it with the largest timestamp seen, and forwards the change with that timestamp.
struct AggregateProcessor<K, V, A> {
    store_name: String,
    fold: Arc<Fold<K, V, A>>,
    store: Option<StoreHandle<AggregateStore<K, A>>>,
}

impl<K, V, A> Processor<K, V, K, Change<A>> for AggregateProcessor<K, V, A>
where
    K: Clone + 'static,
    V: 'static,
    A: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A>>) -> Result<(), ProcessorError> {
        self.store = Some(ctx.state_store::<AggregateStore<K, A>>(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<A>>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.as_ref().ok_or("init did not run")?;
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = r;
        let (change, timestamp) =
            update_aggregate(&mut store.borrow_mut(), &key, timestamp, |old| {
                Some((self.fold)(&key, value, old))
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

impl<K, V> KGroupedStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    pub(crate) fn new(
        stream: KStream<K, V>,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
        repartition: bool,
        name: Option<String>,
    ) -> Self {
        KGroupedStream {
            stream,
            key_serde,
            value_serde,
            repartition,
            name,
        }
    }

    /// The node an aggregation named after `store_name` reads from: the grouped stream
    /// itself, or, when keys may have changed, the source of a new repartition topic
    /// `<name or store>-repartition` fed through `<topic>-filter` and `<topic>-sink` (the names
    /// Kafka Streams gives them).
    pub(crate) fn aggregation_parent(&self, inner: &mut Inner, store_name: &str) -> String {
        if !self.repartition {
            return self.stream.node.clone();
        }
        let base = self.name.as_deref().unwrap_or(store_name);
        self.stream.through_repartition(
            inner,
            base,
            self.key_serde.clone(),
            self.value_serde.clone(),
            "the operation before the grouping changed the key or value type; give them with \
             Grouped::with",
        )
    }

    /// The number of records per key, in a table (`KSTREAM-AGGREGATE`, store
    /// `KSTREAM-AGGREGATE-STATE-STORE-<n>` unless named).
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let materialized = with_count_serde(materialized);
        self.fold("KSTREAM-AGGREGATE", "count", materialized, count_fold())
    }

    /// Each key's values combined with `reducer(aggregate, value)`; the first value of a key
    /// is its aggregate as is (`KSTREAM-REDUCE`).
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let materialized = Materialized {
            value_serde: materialized
                .value_serde
                .or_else(|| self.value_serde.clone()),
            ..materialized
        };
        self.fold(
            "KSTREAM-REDUCE",
            "reduce",
            materialized,
            reduce_fold(reducer),
        )
    }

    /// Each key's values folded into an aggregate that starts as `initializer()`:
    /// `aggregator(key, value, aggregate)` (`KSTREAM-AGGREGATE`). The store's value serde must
    /// be given in `materialized`.
    pub fn aggregate<A>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<K, A>
    where
        A: Clone + 'static,
    {
        let fold = aggregate_fold(initializer, aggregator);
        self.fold("KSTREAM-AGGREGATE", "aggregate", materialized, fold)
    }

    fn fold<A: Clone + 'static>(
        &self,
        prefix: &str,
        operation: &str,
        materialized: Materialized<K, A>,
        fold: Arc<Fold<K, V, A>>,
    ) -> KTable<K, A> {
        let builder = self.stream.builder.clone();
        let mut inner = builder.borrow_mut();
        let plan = plan(
            &mut inner,
            prefix,
            operation,
            &materialized,
            self.key_serde.clone(),
        );
        if let Some((k, v)) = &plan.serdes {
            let mut store = KeyValueStoreBuilder::new(
                &plan.store_name,
                materialized.kind,
                k.clone(),
                ValueAndTimestampSerde(v.clone()),
            );
            if !materialized.logging {
                store = store.with_logging_disabled();
            }
            let parent = self.aggregation_parent(&mut inner, &plan.store_name);
            let (name, store_name) = (plan.name.clone(), plan.store_name.clone());
            inner.apply(|t| {
                t.add_processor(
                    &name,
                    move || AggregateProcessor {
                        store_name: store_name.clone(),
                        fold: fold.clone(),
                        store: None,
                    },
                    &[&parent],
                )?
                .add_state_store(store, &[&name])?;
                Ok(())
            });
        }
        drop(inner);
        let key_serde = plan.key_serde();
        plan.into_table(builder, key_serde)
    }
}

/// `count`'s store values are `i64` unless the user says otherwise.
pub(crate) fn with_count_serde<K: 'static>(m: Materialized<K, i64>) -> Materialized<K, i64> {
    Materialized {
        value_serde: m.value_serde.or_else(|| Some(Arc::new(I64Serde))),
        ..m
    }
}

/// Counting: one more per record.
pub(crate) fn count_fold<K, V>() -> Arc<Fold<K, V, i64>> {
    Arc::new(|_, _, count: Option<i64>| count.unwrap_or(0) + 1)
}

/// Reducing: the first value as is, then `reducer(aggregate, value)`.
pub(crate) fn reduce_fold<K, V: 'static>(
    reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
) -> Arc<Fold<K, V, V>> {
    Arc::new(move |_, value, agg: Option<V>| match agg {
        None => value,
        Some(agg) => reducer(agg, value),
    })
}

/// Aggregating: `aggregator(key, value, aggregate)` from `initializer()`.
pub(crate) fn aggregate_fold<K, V, A: 'static>(
    initializer: impl Fn() -> A + Send + Sync + 'static,
    aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
) -> Arc<Fold<K, V, A>> {
    Arc::new(move |key, value, agg: Option<A>| {
        aggregator(key, value, agg.unwrap_or_else(&initializer))
    })
}

/// An aggregation's names and serdes.
pub(crate) struct Plan<K, A> {
    /// The processor's name.
    pub(crate) name: String,
    /// The store's name.
    pub(crate) store_name: String,
    /// Key and value serdes of the store; `None` when one is missing (the error is recorded).
    pub(crate) serdes: Option<(SharedSerde<K>, SharedSerde<A>)>,
}

impl<K, A> Plan<K, A> {
    /// The aggregation's table: the processor's node and store, keyed with `key_serde`.
    pub(crate) fn into_table<KT>(
        self,
        builder: crate::shared::Shared,
        key_serde: Option<SharedSerde<KT>>,
    ) -> KTable<KT, A> {
        KTable {
            builder,
            node: self.name,
            store: Some(self.store_name),
            key_serde,
            value_serde: self.serdes.map(|(_, v)| v),
            old_values: true,
        }
    }

    /// The store's key serde, if known.
    pub(crate) fn key_serde(&self) -> Option<SharedSerde<K>> {
        self.serdes.as_ref().map(|(k, _)| k.clone())
    }

    /// The retention a windowed aggregation's store gets: the user's, checked to be at least
    /// `minimum` (`what` says what the minimum is made of), or the minimum.
    pub(crate) fn retention(
        &self,
        inner: &mut Inner,
        operation: &str,
        given: Option<std::time::Duration>,
        minimum: i64,
        what: &str,
    ) -> i64 {
        let retention = given.map_or(minimum, |r| {
            i64::try_from(r.as_millis()).unwrap_or(i64::MAX)
        });
        if retention < minimum {
            inner.fail(StreamsError::Topology(format!(
                "{operation} `{}`: the retention of store `{}` ({retention} ms) must be at least \
                 {minimum} ms ({what})",
                self.name, self.store_name
            )));
        }
        retention
    }
}

/// Names an aggregation as Kafka Streams does (the store's generated name takes a number
/// before the processor's), claims the store name, and finds the store's serdes, recording
/// what is missing.
pub(crate) fn plan<K, A>(
    inner: &mut Inner,
    prefix: &str,
    operation: &str,
    materialized: &Materialized<K, A>,
    upstream_key_serde: Option<SharedSerde<K>>,
) -> Plan<K, A> {
    let store_name = match &materialized.name {
        Some(n) => n.clone(),
        None => inner.new_name(&format!("{prefix}-STATE-STORE")),
    };
    let name = inner.new_name(prefix);
    inner.claim_store(&store_name);
    let key_serde = materialized.key_serde.clone().or(upstream_key_serde);
    let serdes = match (key_serde, materialized.value_serde.clone()) {
        (None, _) => {
            inner.fail(StreamsError::Topology(format!(
                "{operation} `{name}`: no key serde is known for its store `{store_name}`; give \
                 one with Grouped::with or Materialized::with_key_serde"
            )));
            None
        }
        (_, None) => {
            inner.fail(StreamsError::Topology(format!(
                "{operation} `{name}`: no value serde is known for its store `{store_name}`; give \
                 one with Materialized::with_value_serde"
            )));
            None
        }
        (Some(k), Some(v)) => Some((k, v)),
    };
    Plan {
        name,
        store_name,
        serdes,
    }
}
