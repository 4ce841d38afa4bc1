//! What every aggregation shares: how a record folds into an aggregate, and the one lowering
//! of `count`, `reduce` and `aggregate` (on grouped streams, time and session windows, and
//! grouped tables) into named nodes, a store with its changelog, a processor and a table.

use std::sync::Arc;

use state_stores::{KeyValueStoreBuilder, StoreKind};
use streams_core::StreamsError;
use streams_core::processor::{Processor, ProcessorContext};
use streams_core::serde::{I64Serde, SharedSerde, builtin_serde};
use streams_core::store::StoreBuilder;

use crate::options::{Changelogged, Materialized};
use crate::shared::{Inner, Shared};
use crate::table::{Change, KTable};
use crate::timestamped::{
    TimestampedKeyValueStore, ValueAndTimestamp, put_or_delete, timestamped_store,
};

/// How an aggregation folds a record into the current aggregate (`None`: no row yet).
pub(crate) type Fold<K, V, A> = dyn Fn(&K, V, Option<A>) -> A + Send + Sync;

/// Replaces `key`'s aggregate with `update(current)` (`None` deletes it), stamped with the
/// larger of the stored and the record's timestamp; returns the change and that timestamp.
pub(crate) fn update_aggregate<K: 'static, A: Clone + 'static>(
    store: &mut TimestampedKeyValueStore<K, A>,
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
    put_or_delete(store, key, new.as_ref(), timestamp)?;
    Ok((Change { new, old }, timestamp))
}

/// `count`'s store values are `i64` unless the user says otherwise.
/// Whether an aggregation skips `value`, as Kafka Streams' stream aggregations and sliding
/// windows skip null values: `value_serde` (the grouped stream's, when known) reads it as
/// null. A skipped record is counted as dropped.
pub(crate) fn skips_null<V: 'static, KO, VO>(
    value_serde: Option<&SharedSerde<V>>,
    value: &V,
    ctx: &mut ProcessorContext<'_, KO, VO>,
    store: &str,
) -> bool {
    let null = value_serde.is_some_and(|s| s.is_null(value));
    if null {
        ctx.count_dropped_record();
        tracing::debug!(store, "skipping a record with a null value");
    }
    null
}

pub(crate) fn with_count_serde<K: 'static>(m: Materialized<K, i64>) -> Materialized<K, i64> {
    m.or_value_serde(Some(Arc::new(I64Serde)))
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

/// How an aggregation's nodes are named, as Kafka Streams names them.
#[derive(Clone, Copy)]
pub(crate) struct Naming<'a> {
    /// The processor's prefix (`KSTREAM-AGGREGATE`, `KTABLE-REDUCE`, ...).
    prefix: &'a str,
    /// What the user called (`count`, `reduce`, `aggregate`), for errors.
    operation: &'a str,
    /// Whether it aggregates a grouped table: Kafka Streams then names the store
    /// `KTABLE-AGGREGATE-STATE-STORE-<n>` whatever the operation, and the repartition topic's
    /// sink and source (`KSTREAM-SINK`, `KSTREAM-SOURCE`) before the processor.
    table: bool,
}

impl<'a> Naming<'a> {
    /// A stream aggregation's names: store `<prefix>-STATE-STORE-<n>`, then the processor.
    pub(crate) fn stream(prefix: &'a str, operation: &'a str) -> Self {
        Naming {
            prefix,
            operation,
            table: false,
        }
    }

    /// A grouped table's aggregation's names.
    pub(crate) fn table(prefix: &'a str, operation: &'a str) -> Self {
        Naming {
            prefix,
            operation,
            table: true,
        }
    }
}

/// An aggregation's names and serdes.
pub(crate) struct Plan<K, A> {
    /// The processor's name.
    pub(crate) name: String,
    /// The store's name.
    pub(crate) store_name: String,
    /// A grouped table's repartition sink and source names, taken before the processor's.
    pub(crate) repartition_nodes: Option<(String, String)>,
    /// Key and value serdes of the store; `None` when one is missing (the error is recorded).
    serdes: Option<(SharedSerde<K>, SharedSerde<A>)>,
}

impl<K, A> Plan<K, A> {
    /// The aggregation's table: the processor's node and store, keyed with `key_serde`.
    fn into_table<KT>(self, builder: Shared, key_serde: Option<SharedSerde<KT>>) -> KTable<KT, A> {
        KTable {
            builder,
            node: self.name,
            store: Some(self.store_name),
            key_serde,
            value_serde: self.serdes.map(|(_, v)| v),
            old_values: true,
            materialized: true,
            window_grace: None,
            getter: None,
            old_value_requests: Vec::new(),
        }
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
fn plan<K, A: 'static>(
    inner: &mut Inner,
    naming: Naming<'_>,
    materialized: &Materialized<K, A>,
    upstream_key_serde: Option<SharedSerde<K>>,
) -> Plan<K, A> {
    let Naming {
        prefix,
        operation,
        table,
    } = naming;
    let store_prefix = if table {
        "KTABLE-AGGREGATE-STATE-STORE".to_owned()
    } else {
        format!("{prefix}-STATE-STORE")
    };
    let store_name = match &materialized.name {
        Some(n) => n.clone(),
        None => inner.new_name(&store_prefix),
    };
    let repartition_nodes = table.then(|| {
        (
            inner.new_name("KSTREAM-SINK"),
            inner.new_name("KSTREAM-SOURCE"),
        )
    });
    let name = inner.new_name(prefix);
    inner.claim_store(&store_name);
    let key_serde = materialized.key_serde.clone().or(upstream_key_serde);
    let value_serde = materialized.value_serde.clone().or_else(builtin_serde::<A>);
    let serdes = match (key_serde, value_serde) {
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
                 one with Materialized::with_value_serde, or implement NaturalSerde for `{}`",
                std::any::type_name::<A>()
            )));
            None
        }
        (Some(k), Some(v)) => Some((k, v)),
    };
    Plan {
        name,
        store_name,
        repartition_nodes,
        serdes,
    }
}

/// What an aggregation adds besides its names, once its store's serdes are known.
pub(crate) struct Parts<S, F, KT> {
    /// The store's builder, or what was wrong with it; its changelog is set as the
    /// aggregation's `Materialized` says.
    pub(crate) store: streams_core::Result<S>,
    /// The node the processor reads.
    pub(crate) parent: String,
    /// Makes the processor, which reads `parent` and keeps its aggregates in `store`.
    pub(crate) supplier: F,
    /// The key serde of the aggregation's table.
    pub(crate) key_serde: Option<SharedSerde<KT>>,
    /// Emitting on close: the store that remembers what was emitted.
    pub(crate) progress: Option<KeyValueStoreBuilder<String, String>>,
}

impl<K: 'static, A: 'static, F> Parts<KeyValueStoreBuilder<K, ValueAndTimestamp<A>>, F, K> {
    /// The parts of an aggregation kept in a key-value store (of grouped streams and grouped
    /// tables): the timestamped store `plan` names, of `kind`, with the serdes `k` and `a`,
    /// and a table keyed like the store.
    pub(crate) fn key_value(
        plan: &Plan<K, A>,
        kind: StoreKind,
        (k, a): (&SharedSerde<K>, &SharedSerde<A>),
        parent: String,
        supplier: F,
    ) -> Self {
        Parts {
            store: Ok(timestamped_store(
                &plan.store_name,
                kind,
                k.clone(),
                a.clone(),
            )),
            parent,
            supplier,
            key_serde: Some(k.clone()),
            progress: None,
        }
    }
}

/// Lowers an aggregation, as every `count`, `reduce` and `aggregate` is lowered: names the
/// processor (`prefix-<n>`, what the user calls it is `operation`) and its store, and finds
/// the store's serdes (`materialized`'s, or the key serde of the grouping); with both known,
/// `parts` says what the aggregation adds (it may record a misuse and add nothing). The
/// processor is added with its store, changelogged unless `materialized` turned that off, and
/// the aggregation's table is returned.
pub(crate) fn lower_aggregation<K, A, KT, S, F, P, KI, VI, KO, VO>(
    builder: &Shared,
    naming: Naming<'_>,
    materialized: &Materialized<K, A>,
    key_serde: Option<SharedSerde<K>>,
    parts: impl FnOnce(
        &mut Inner,
        &Plan<K, A>,
        &SharedSerde<K>,
        &SharedSerde<A>,
    ) -> Option<Parts<S, F, KT>>,
) -> KTable<KT, A>
where
    K: 'static,
    A: 'static,
    S: StoreBuilder + Changelogged,
    F: Fn() -> P + Send + Sync + 'static,
    P: Processor<KI, VI, KO, VO>,
    KI: 'static,
    VI: 'static,
    KO: Clone + 'static,
    VO: Clone + 'static,
{
    let mut inner = builder.borrow_mut();
    let plan = plan(&mut inner, naming, materialized, key_serde);
    let mut table_key_serde = None;
    if let Some((k, a)) = &plan.serdes
        && let Some(parts) = parts(&mut inner, &plan, k, a)
    {
        table_key_serde = parts.key_serde;
        let (name, parent, progress) = (&plan.name, parts.parent, parts.progress);
        let (store, supplier) = (parts.store, parts.supplier);
        inner.apply(|t| {
            let store = materialized.changelog(store?);
            t.add_processor(name, supplier, &[&parent])?
                .add_state_store(store, &[name])?;
            if let Some(progress) = progress {
                t.add_state_store(progress, &[name])?;
            }
            Ok(())
        });
    }
    drop(inner);
    plan.into_table(builder.clone(), table_key_serde)
}
