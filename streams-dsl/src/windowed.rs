//! Windowed aggregations: `TimeWindowedKStream` (tumbling, hopping and sliding windows) and
//! `SessionWindowedKStream`.

use std::sync::Arc;
use std::time::Duration;

use state_stores::typed::{TypedKeyValueStore, TypedSessionStore, TypedWindowStore};
use state_stores::{KeyValueStoreBuilder, SessionStoreBuilder, WindowStoreBuilder};
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{SharedSerde, StringSerde};
use streams_core::store::StoreHandle;
use streams_core::{Record, SessionWindowedSerde, TimeWindowedSerde, Window, Windowed};

use crate::grouped::{
    Fold, KGroupedStream, ValueAndTimestamp, ValueAndTimestampSerde, aggregate_fold, count_fold,
    plan, reduce_fold, with_count_serde,
};
use crate::options::Materialized;
use crate::sliding::SlidingAggregateProcessor;
use crate::table::{Change, KTable};
use crate::windows::{EmitStrategy, SessionWindows, SlidingWindows, TimeWindows, TimeWindowsMs};

/// The store a windowed aggregation keeps its windows in.
pub(crate) type WindowAggregates<K, A> = TypedWindowStore<K, ValueAndTimestamp<A>>;

/// Emitting on close, what has been emitted: windows closed at or before `last` were.
///
/// A restarted task must neither lose final results nor, ideally, emit them twice. Outputs
/// are durable once the input record that triggered them is below the committed offset (a
/// commit flushes the producer first), so the progress store (`<store>-emit-progress`,
/// logged, one row per task) keeps the recent emissions with the input position that
/// triggered each: `(topic, partition, offset, close)`. After a restart, the first record of
/// a partition shows where processing resumed: emissions triggered below that offset are
/// durable and count; the others will be made again by the reprocessing. Whatever is unknown
/// counts as not emitted, so the worst case is a duplicate, never a loss.
pub(crate) struct EmitProgress {
    store_name: Option<String>,
    store: Option<StoreHandle<TypedKeyValueStore<String, String>>>,
    pub(crate) last: i64,
    entries: Vec<Emission>,
    resumed: Vec<(std::sync::Arc<str>, i32)>,
}

/// One emission: the input position that triggered it and the close time it reached.
#[derive(Debug, Clone, PartialEq)]
struct Emission {
    topic: String,
    partition: i32,
    offset: i64,
    close: i64,
}

const EMIT_PROGRESS_KEY: &str = "emissions";
/// How many recent emissions the progress row keeps; older ones only matter after more
/// emissions than this between two commits, and then the cost is duplicates.
const EMIT_PROGRESS_KEPT: usize = 64;

impl EmitProgress {
    pub(crate) fn new(store_name: Option<String>) -> Self {
        EmitProgress {
            store_name,
            store: None,
            last: -1,
            entries: Vec::new(),
            resumed: Vec::new(),
        }
    }

    /// Reads the emissions of a previous run of the task.
    pub(crate) fn init<KO: Clone + 'static, VO: Clone + 'static>(
        &mut self,
        ctx: &mut ProcessorContext<'_, KO, VO>,
    ) -> Result<(), ProcessorError> {
        if let Some(name) = &self.store_name {
            let store = ctx.state_store::<TypedKeyValueStore<String, String>>(name)?;
            let row = store.borrow_mut().get(&EMIT_PROGRESS_KEY.to_owned())?;
            self.entries = row.as_deref().map(decode_emissions).unwrap_or_default();
            self.store = Some(store);
        }
        Ok(())
    }

    /// Called with each input record's position before emitting: the first record of a
    /// partition since the task started tells which earlier emissions are durable.
    pub(crate) fn observe(&mut self, position: Option<&streams_core::RecordMetadata>) {
        let Some(p) = position else { return };
        if self
            .resumed
            .iter()
            .any(|(t, n)| *n == p.partition && **t == *p.topic)
        {
            return;
        }
        self.resumed.push((p.topic.clone(), p.partition));
        let mine = |e: &Emission| e.partition == p.partition && e.topic == *p.topic;
        for e in self
            .entries
            .iter()
            .filter(|e| mine(e) && e.offset < p.offset)
        {
            self.last = self.last.max(e.close);
        }
        // Emissions at or after the resume point are made again by the reprocessing.
        self.entries.retain(|e| !(mine(e) && e.offset >= p.offset));
    }

    /// Notes that every window closed at `close` was emitted, triggered at `position`.
    pub(crate) fn record(
        &mut self,
        close: i64,
        position: Option<&streams_core::RecordMetadata>,
    ) -> Result<(), ProcessorError> {
        self.last = close;
        let (Some(store), Some(p)) = (&self.store, position) else {
            return Ok(());
        };
        self.entries.push(Emission {
            topic: p.topic.to_string(),
            partition: p.partition,
            offset: p.offset,
            close,
        });
        if self.entries.len() > EMIT_PROGRESS_KEPT {
            self.entries.remove(0);
        }
        store.borrow_mut().put(
            &EMIT_PROGRESS_KEY.to_owned(),
            &encode_emissions(&self.entries),
        )?;
        Ok(())
    }
}

/// One emission per line: topic, partition, offset, close, tab-separated (topic names never
/// hold tabs or newlines).
fn encode_emissions(entries: &[Emission]) -> String {
    entries
        .iter()
        .map(|e| format!("{}\t{}\t{}\t{}\n", e.topic, e.partition, e.offset, e.close))
        .collect()
}

/// Reads [`encode_emissions`]' format; lines that do not parse are skipped (they can only
/// make the task emit again, never skip).
fn decode_emissions(text: &str) -> Vec<Emission> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            Some(Emission {
                topic: f.next()?.to_owned(),
                partition: f.next()?.parse().ok()?,
                offset: f.next()?.parse().ok()?,
                close: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// The name of the progress store of an emit-on-close aggregation over `store`.
pub(crate) fn emit_progress_store(store: &str) -> String {
    format!("{store}-emit-progress")
}

/// Emitting on close: forwards every window starting in `[from, to]` (inclusive), by start
/// time, each with its aggregate's timestamp. The windows are read first and the store is
/// released before forwarding, so that a node downstream in the same task can read it.
pub(crate) fn emit_closed_windows<K, A>(
    ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
    store: &StoreHandle<WindowAggregates<K, A>>,
    from: i64,
    to: i64,
) -> Result<(), ProcessorError>
where
    K: Clone + 'static,
    A: Clone + 'static,
{
    if to < from {
        return Ok(());
    }
    let mut closed = store.borrow_mut().fetch_key_range(None, None, from, to)?;
    closed.sort_by_key(|(w, _)| w.window.start);
    for (windowed, vt) in closed {
        ctx.forward(Record::new(
            windowed,
            Change {
                new: Some(vt.value),
                old: None,
            },
            vt.timestamp,
        ))?;
    }
    Ok(())
}

/// Which windows a windowed stream aggregates into.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Windowing {
    /// Tumbling or hopping windows.
    Time(TimeWindows),
    /// Sliding windows.
    Sliding(SlidingWindows),
}

/// A grouped stream cut into time windows (tumbling, hopping or sliding), ready for an
/// aggregation whose table is keyed by [`Windowed`] keys.
pub struct TimeWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windowing: Windowing,
    emit: EmitStrategy,
}

impl<K, V> std::fmt::Debug for TimeWindowedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeWindowedKStream")
            .field("windowing", &self.windowing)
            .field("emit", &self.emit)
            .finish()
    }
}

/// Checked windowing.
#[derive(Debug, Clone, Copy)]
enum Checked {
    Time(TimeWindowsMs),
    Sliding { difference: i64, grace: i64 },
}

impl Checked {
    /// The window size (end - start) the store and the key serde use.
    fn size(&self) -> i64 {
        match self {
            Checked::Time(w) => w.size,
            Checked::Sliding { difference, .. } => *difference,
        }
    }

    /// The shortest retention that keeps every window the aggregation may still update:
    /// size + grace for time windows; for sliding windows, which look back two time
    /// differences, 2 * difference + grace (as Kafka Streams).
    fn minimum_retention(&self) -> i64 {
        match self {
            Checked::Time(w) => w.size.saturating_add(w.grace),
            Checked::Sliding { difference, grace } => {
                difference.saturating_mul(2).saturating_add(*grace)
            }
        }
    }
}

impl<K, V> TimeWindowedKStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    pub(crate) fn new(grouped: KGroupedStream<K, V>, windowing: Windowing) -> Self {
        TimeWindowedKStream {
            grouped,
            windowing,
            emit: EmitStrategy::OnWindowUpdate,
        }
    }

    /// Emits every update (the default) or one final result per window when it closes.
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    /// The number of records per key and window (`KSTREAM-AGGREGATE`).
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let materialized = with_count_serde(materialized);
        self.fold("KSTREAM-AGGREGATE", "count", materialized, count_fold())
    }

    /// Each key's values per window combined with `reducer(aggregate, value)`
    /// (`KSTREAM-REDUCE`).
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let materialized = Materialized {
            value_serde: materialized
                .value_serde
                .or_else(|| self.grouped.value_serde.clone()),
            ..materialized
        };
        self.fold(
            "KSTREAM-REDUCE",
            "reduce",
            materialized,
            reduce_fold(reducer),
        )
    }

    /// Each key's values per window folded into an aggregate that starts as `initializer()`
    /// (`KSTREAM-AGGREGATE`). The store's value serde must be given in `materialized`.
    pub fn aggregate<A: Clone + 'static>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<Windowed<K>, A> {
        let fold = aggregate_fold(initializer, aggregator);
        self.fold("KSTREAM-AGGREGATE", "aggregate", materialized, fold)
    }

    fn fold<A: Clone + 'static>(
        &self,
        prefix: &str,
        operation: &str,
        materialized: Materialized<K, A>,
        fold: Arc<Fold<K, V, A>>,
    ) -> KTable<Windowed<K>, A> {
        let builder = self.grouped.stream.builder.clone();
        let mut inner = builder.borrow_mut();
        let plan = plan(
            &mut inner,
            prefix,
            operation,
            &materialized,
            self.grouped.key_serde.clone(),
        );
        let checked = match self.windowing {
            Windowing::Time(w) => w.check().map(Checked::Time),
            Windowing::Sliding(w) => w
                .check()
                .map(|(difference, grace)| Checked::Sliding { difference, grace }),
        };
        let checked = match checked {
            Ok(c) => Some(c),
            Err(e) => {
                inner.fail(e);
                None
            }
        };
        let mut key_serde: Option<SharedSerde<Windowed<K>>> = None;
        if let (Some((k, v)), Some(windows)) = (&plan.serdes, checked) {
            let minimum = windows.minimum_retention();
            let retention = plan.retention(
                &mut inner,
                operation,
                materialized.retention,
                minimum,
                "the window size plus the grace period; twice the time difference plus the \
                 grace period for sliding windows",
            );
            key_serde = Some(Arc::new(TimeWindowedSerde::shared(
                k.clone(),
                windows.size(),
            )));
            let store = WindowStoreBuilder::new(
                &plan.store_name,
                materialized.kind,
                Duration::from_millis(retention.max(0) as u64),
                Duration::from_millis(windows.size() as u64),
                false,
                k.clone(),
                ValueAndTimestampSerde(v.clone()),
            );
            let (name, store_name, emit) = (plan.name.clone(), plan.store_name.clone(), self.emit);
            let progress_store = (emit == EmitStrategy::OnWindowClose)
                .then(|| emit_progress_store(&plan.store_name));
            if let Some(progress) = &progress_store {
                inner.claim_store(progress);
            }
            let parent = self
                .grouped
                .aggregation_parent(&mut inner, &plan.store_name);
            let progress_for_topology = progress_store.clone();
            inner.apply(|t| {
                let mut store = store?;
                if !materialized.logging {
                    store = store.with_logging_disabled();
                }
                match windows {
                    Checked::Time(windows) => t.add_processor(
                        &name,
                        move || WindowAggregateProcessor {
                            store_name: store_name.clone(),
                            windows,
                            emit,
                            fold: fold.clone(),
                            store: None,
                            observed: -1,
                            progress: EmitProgress::new(progress_store.clone()),
                        },
                        &[&parent],
                    )?,
                    Checked::Sliding { difference, grace } => t.add_processor(
                        &name,
                        move || SlidingAggregateProcessor {
                            store_name: store_name.clone(),
                            difference,
                            grace,
                            emit,
                            fold: fold.clone(),
                            store: None,
                            observed: -1,
                            progress: EmitProgress::new(progress_store.clone()),
                        },
                        &[&parent],
                    )?,
                }
                .add_state_store(store, &[&name])?;
                if let Some(progress) = &progress_for_topology {
                    t.add_state_store(
                        KeyValueStoreBuilder::in_memory(progress, StringSerde, StringSerde),
                        &[&name],
                    )?;
                }
                Ok(())
            });
        }
        drop(inner);
        plan.into_table(builder, key_serde)
    }
}

/// `KSTREAM-AGGREGATE` / `KSTREAM-REDUCE` over windows: folds each record into every window
/// it falls in that is still open, and forwards each update, or, emitting on close, each
/// window's final value once stream time passes its end plus grace.
struct WindowAggregateProcessor<K, V, A> {
    store_name: String,
    windows: TimeWindowsMs,
    emit: EmitStrategy,
    fold: Arc<Fold<K, V, A>>,
    store: Option<StoreHandle<WindowAggregates<K, A>>>,
    /// The largest record timestamp this processor has seen.
    observed: i64,
    /// Emitting on close: what was emitted already.
    progress: EmitProgress,
}

impl<K, V, A> WindowAggregateProcessor<K, V, A>
where
    K: Clone + 'static,
    V: Clone + 'static,
    A: Clone + 'static,
{
    /// Folds `value` into `key`'s window `window`, returning the new aggregate, the old one
    /// and the update's timestamp.
    fn update(
        &self,
        store: &mut WindowAggregates<K, A>,
        key: &K,
        value: V,
        window: Window,
        timestamp: i64,
    ) -> Result<(A, Option<A>, i64), ProcessorError> {
        let old = store.fetch(key, window.start)?;
        let timestamp = old
            .as_ref()
            .map_or(timestamp, |o| o.timestamp.max(timestamp));
        let old = old.map(|o| o.value);
        let new = (self.fold)(key, value, old.clone());
        store.put(
            key,
            &ValueAndTimestamp {
                value: new.clone(),
                timestamp,
            },
            window.start,
        )?;
        Ok((new, old, timestamp))
    }

    /// Emitting on close: forwards every window that closed since the last call.
    fn emit_closed(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        store: &StoreHandle<WindowAggregates<K, A>>,
        close: i64,
    ) -> Result<(), ProcessorError> {
        let last = self.progress.last;
        if close <= last {
            return Ok(());
        }
        // Windows with last < end <= close, that is start in (last - size, close - size].
        let size = self.windows.size;
        let from = last.saturating_sub(size).saturating_add(1).max(0);
        emit_closed_windows(ctx, store, from, close.saturating_sub(size))?;
        self.progress.record(close, ctx.record_metadata())
    }
}

impl<K, V, A> Processor<K, V, Windowed<K>, Change<A>> for WindowAggregateProcessor<K, V, A>
where
    K: Clone + 'static,
    V: Clone + 'static,
    A: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
    ) -> Result<(), ProcessorError> {
        self.store = Some(ctx.state_store::<WindowAggregates<K, A>>(&self.store_name)?);
        self.progress.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        // The store is borrowed for each read or write only, never across a forward: a node
        // downstream in the same task may read it.
        let store = self.store.clone().ok_or("init did not run")?;
        self.progress.observe(ctx.record_metadata());
        let timestamp = r.timestamp;
        self.observed = self.observed.max(timestamp);
        let close = self.observed.saturating_sub(self.windows.grace);
        if self.emit == EmitStrategy::OnWindowClose {
            // Before this record's puts: a put may move the store's retention past windows
            // that close only now.
            self.emit_closed(ctx, &store, close)?;
        }
        for window in self.windows.windows_for(timestamp) {
            if window.end <= close {
                ctx.count_late_record();
                tracing::debug!(
                    processor = %self.store_name,
                    timestamp,
                    window_start = window.start,
                    window_end = window.end,
                    stream_time = self.observed,
                    "dropping a record for a closed window"
                );
                continue;
            }
            let (new, old, ts) = self.update(
                &mut store.borrow_mut(),
                &r.key,
                r.value.clone(),
                window,
                timestamp,
            )?;
            if self.emit == EmitStrategy::OnWindowUpdate {
                ctx.forward(Record {
                    key: Windowed::new(r.key.clone(), window),
                    value: Change {
                        new: Some(new),
                        old,
                    },
                    timestamp: ts,
                    headers: r.headers.clone(),
                })?;
            }
        }
        Ok(())
    }
}

impl<K, V> KGroupedStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Cuts the grouped stream into tumbling or hopping windows.
    pub fn windowed_by(&self, windows: TimeWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream::new(self.clone(), Windowing::Time(windows))
    }

    /// Cuts the grouped stream into sliding windows.
    pub fn windowed_by_sliding(&self, windows: SlidingWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream::new(self.clone(), Windowing::Sliding(windows))
    }
}

/// A grouped stream cut into session windows, ready for an aggregation whose table is keyed
/// by [`Windowed`] keys with the session as window (both ends inclusive).
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
}

impl<K, V> std::fmt::Debug for SessionWindowedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWindowedKStream")
            .field("windows", &self.windows)
            .finish()
    }
}

/// How two session aggregates combine when their sessions merge.
type Merger<K, A> = dyn Fn(&K, A, A) -> A + Send + Sync;

/// The aggregate merging starts from (`None` for reduce: the first session's as is).
type SessionInit<A> = dyn Fn() -> Option<A> + Send + Sync;

/// The store a session aggregation keeps its sessions in.
type SessionAggregates<K, A> = TypedSessionStore<K, A>;

impl<K, V> SessionWindowedKStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// The number of records per key and session (`KSTREAM-AGGREGATE`).
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let materialized = with_count_serde(materialized);
        self.fold(
            "KSTREAM-AGGREGATE",
            "count",
            materialized,
            count_fold(),
            Arc::new(|| Some(0)),
            Arc::new(|_, a, b| a + b),
        )
    }

    /// Each key's values per session combined with `reducer(aggregate, value)`; merging
    /// sessions combine their aggregates with the same function (`KSTREAM-REDUCE`).
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let materialized = Materialized {
            value_serde: materialized
                .value_serde
                .or_else(|| self.grouped.value_serde.clone()),
            ..materialized
        };
        let reducer = Arc::new(reducer);
        let merge = reducer.clone();
        self.fold(
            "KSTREAM-REDUCE",
            "reduce",
            materialized,
            reduce_fold(move |a, b| reducer(a, b)),
            Arc::new(|| None),
            Arc::new(move |_, a, b| merge(a, b)),
        )
    }

    /// Each key's values per session folded into an aggregate from `initializer()`; when a
    /// record joins sessions, their aggregates combine with `merger(key, a, b)`
    /// (`KSTREAM-AGGREGATE`). The store's value serde must be given in `materialized`.
    pub fn aggregate<A: Clone + 'static>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        merger: impl Fn(&K, A, A) -> A + Send + Sync + 'static,
        materialized: Materialized<K, A>,
    ) -> KTable<Windowed<K>, A> {
        let initializer = Arc::new(initializer);
        let first = initializer.clone();
        let fold = aggregate_fold(move || initializer(), aggregator);
        self.fold(
            "KSTREAM-AGGREGATE",
            "aggregate",
            materialized,
            fold,
            Arc::new(move || Some(first())),
            Arc::new(merger),
        )
    }

    fn fold<A: Clone + 'static>(
        &self,
        prefix: &str,
        operation: &str,
        materialized: Materialized<K, A>,
        fold: Arc<Fold<K, V, A>>,
        init: Arc<SessionInit<A>>,
        merger: Arc<Merger<K, A>>,
    ) -> KTable<Windowed<K>, A> {
        let builder = self.grouped.stream.builder.clone();
        let mut inner = builder.borrow_mut();
        let plan = plan(
            &mut inner,
            prefix,
            operation,
            &materialized,
            self.grouped.key_serde.clone(),
        );
        let checked = match self.windows.check() {
            Ok(c) => Some(c),
            Err(e) => {
                inner.fail(e);
                None
            }
        };
        let mut key_serde: Option<SharedSerde<Windowed<K>>> = None;
        if let (Some((k, v)), Some((gap, grace))) = (&plan.serdes, checked) {
            let minimum = gap.saturating_add(grace);
            let retention = plan.retention(
                &mut inner,
                operation,
                materialized.retention,
                minimum,
                "the inactivity gap plus the grace period",
            );
            key_serde = Some(Arc::new(SessionWindowedSerde::shared(k.clone())));
            let store = SessionStoreBuilder::new(
                &plan.store_name,
                materialized.kind,
                Duration::from_millis(retention.max(0) as u64),
                k.clone(),
                v.clone(),
            );
            let (name, store_name) = (plan.name.clone(), plan.store_name.clone());
            let parent = self
                .grouped
                .aggregation_parent(&mut inner, &plan.store_name);
            inner.apply(|t| {
                let mut store = store?;
                if !materialized.logging {
                    store = store.with_logging_disabled();
                }
                t.add_processor(
                    &name,
                    move || SessionAggregateProcessor {
                        store_name: store_name.clone(),
                        gap,
                        grace,
                        fold: fold.clone(),
                        init: init.clone(),
                        merger: merger.clone(),
                        store: None,
                        observed: -1,
                    },
                    &[&parent],
                )?
                .add_state_store(store, &[&name])?;
                Ok(())
            });
        }
        drop(inner);
        plan.into_table(builder, key_serde)
    }
}

/// `KSTREAM-AGGREGATE` / `KSTREAM-REDUCE` over sessions: a record at `t` merges with every
/// session of its key that ends at or after `t - gap` and starts at or before `t + gap`; the
/// merged sessions are removed (each forwarded as a tombstone with its old value) and the
/// merged session is stored and forwarded. Records whose merged session would end before
/// stream time minus grace are dropped as late.
struct SessionAggregateProcessor<K, V, A> {
    store_name: String,
    gap: i64,
    grace: i64,
    fold: Arc<Fold<K, V, A>>,
    init: Arc<SessionInit<A>>,
    merger: Arc<Merger<K, A>>,
    store: Option<StoreHandle<SessionAggregates<K, A>>>,
    observed: i64,
}

impl<K, V, A> Processor<K, V, Windowed<K>, Change<A>> for SessionAggregateProcessor<K, V, A>
where
    K: Clone + 'static,
    V: Clone + 'static,
    A: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
    ) -> Result<(), ProcessorError> {
        self.store = Some(ctx.state_store::<SessionAggregates<K, A>>(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        // Borrowed for each read or write only, never across a forward (see
        // `WindowAggregateProcessor::process`).
        let store = self.store.clone().ok_or("init did not run")?;
        let t = r.timestamp;
        self.observed = self.observed.max(t);
        // As Kafka Streams: a session can still grow by a gap after its end.
        let close = self
            .observed
            .saturating_sub(self.grace)
            .saturating_sub(self.gap);
        let overlapping = store.borrow_mut().find_sessions(
            &r.key,
            t.saturating_sub(self.gap),
            t.saturating_add(self.gap),
        )?;
        let mut window = Window::new(t, t);
        // As Kafka Streams: from the initial aggregate, merge every overlapping session's.
        let mut agg: Option<A> = (self.init)();
        for (session, value) in &overlapping {
            window = Window::new(
                window.start.min(session.window.start),
                window.end.max(session.window.end),
            );
            agg = Some(match agg {
                None => value.clone(),
                Some(a) => (self.merger)(&r.key, a, value.clone()),
            });
        }
        if window.end < close {
            ctx.count_late_record();
            tracing::debug!(
                processor = %self.store_name,
                timestamp = t,
                session_start = window.start,
                session_end = window.end,
                stream_time = self.observed,
                "dropping a record for a closed session"
            );
            return Ok(());
        }
        // Unless the record stands alone, every merged session is replaced (a record inside
        // a session too: its tombstone, then the updated session).
        let alone = window == Window::new(t, t);
        for (session, old) in overlapping {
            if alone {
                continue;
            }
            store.borrow_mut().remove(&session)?;
            let end = session.window.end;
            ctx.forward(Record {
                key: session,
                value: Change {
                    new: None,
                    old: Some(old),
                },
                timestamp: end,
                headers: r.headers.clone(),
            })?;
        }
        let Record {
            key,
            value,
            headers,
            ..
        } = r;
        let new = (self.fold)(&key, value, agg);
        let session = Windowed::new(key, window);
        store.borrow_mut().put(&session, &new)?;
        ctx.forward(Record {
            key: session,
            value: Change {
                new: Some(new),
                old: None,
            },
            timestamp: window.end,
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
    /// Cuts the grouped stream into session windows.
    pub fn windowed_by_session(&self, windows: SessionWindows) -> SessionWindowedKStream<K, V> {
        SessionWindowedKStream {
            grouped: self.clone(),
            windows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(topic: &str, partition: i32, offset: i64) -> streams_core::RecordMetadata {
        streams_core::RecordMetadata {
            topic: topic.into(),
            partition,
            offset,
        }
    }

    #[test]
    fn only_emissions_below_the_resume_offset_count_as_done() {
        let mut p = EmitProgress::new(None);
        p.entries = ["5\t10", "8\t20", "12\t30"]
            .iter()
            .map(|e| {
                let (offset, close) = e.split_once('\t').expect("pair");
                Emission {
                    topic: "in".into(),
                    partition: 0,
                    offset: offset.parse().expect("offset"),
                    close: close.parse().expect("close"),
                }
            })
            .collect();
        // Processing resumes at offset 8: the emission at 8 was not committed and will be
        // made again; the one at 5 was.
        p.observe(Some(&at("in", 0, 8)));
        assert_eq!(p.last, 10);
        assert_eq!(p.entries.len(), 1, "the redone emissions are forgotten");
        // Another partition's first record does not change what partition 0 said.
        p.observe(Some(&at("in", 1, 0)));
        p.observe(Some(&at("in", 0, 9)));
        assert_eq!(p.last, 10);
    }

    #[test]
    fn emissions_round_trip_and_bad_lines_are_skipped() {
        let entries = vec![
            Emission {
                topic: "app-x-repartition".into(),
                partition: 3,
                offset: 42,
                close: 3_600_000,
            },
            Emission {
                topic: "t".into(),
                partition: 0,
                offset: 7,
                close: -1,
            },
        ];
        let text = encode_emissions(&entries);
        assert_eq!(decode_emissions(&text), entries);
        assert_eq!(decode_emissions("garbage\nt\t0\t1\t2\n").len(), 1);
    }
}
