//! Time-windowed aggregations: `TimeWindowedKStream` over tumbling, hopping and sliding
//! windows, and the processor of tumbling and hopping windows (sliding windows have theirs in
//! `sliding.rs`).

use std::sync::Arc;
use std::time::Duration;

use state_stores::WindowStoreBuilder;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{NaturalSerde, SharedSerde};
use streams_core::store::StoreHandle;
use streams_core::{Record, TimeWindowedSerde, Window, Windowed};

use crate::aggregation::{
    Fold, Naming, Parts, aggregate_fold, count_fold, lower_aggregation, reduce_fold,
    with_count_serde,
};
use crate::grouped::KGroupedStream;
use crate::options::Materialized;
use crate::sliding::SlidingAggregateProcessor;
use crate::store_slot::StoreSlot;
use crate::table::{Change, KTable};
use crate::timestamped::{ValueAndTimestamp, ValueAndTimestampSerde};
use crate::window_emit::{EmitProgress, WindowAggregates, emit_closed_windows, progress_store_for};
use crate::windows::{EmitStrategy, SlidingWindows, TimeWindows, TimeWindowsMs};

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

impl Windowing {
    /// The windows in milliseconds, or what is wrong with them.
    pub(crate) fn check(&self) -> streams_core::Result<Checked> {
        match self {
            Windowing::Time(w) => w.check().map(Checked::Time),
            Windowing::Sliding(w) => w
                .check()
                .map(|(difference, grace)| Checked::Sliding { difference, grace }),
        }
    }
}

/// Checked windowing.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Checked {
    Time(TimeWindowsMs),
    Sliding { difference: i64, grace: i64 },
}

impl Checked {
    /// The processor of these windows.
    pub(crate) fn processor<K, V, A>(
        self,
        store: StoreSlot<WindowAggregates<K, A>>,
        emit: EmitStrategy,
        fold: Arc<Fold<K, V, A>>,
        progress: EmitProgress,
        value_serde: Option<SharedSerde<V>>,
    ) -> TimeWindowAggregate<K, V, A> {
        match self {
            Checked::Time(windows) => TimeWindowAggregate::Fixed(WindowAggregateProcessor {
                windows,
                emit,
                fold,
                store,
                observed: -1,
                progress,
            }),
            Checked::Sliding { difference, grace } => {
                TimeWindowAggregate::Sliding(SlidingAggregateProcessor {
                    difference,
                    grace,
                    emit,
                    fold,
                    store,
                    observed: -1,
                    progress,
                    value_serde,
                })
            }
        }
    }

    /// How long after a window's end it still takes records.
    pub(crate) fn grace(&self) -> i64 {
        match self {
            Checked::Time(w) => w.grace,
            Checked::Sliding { grace, .. } => *grace,
        }
    }

    /// The window size (end - start) the store and the key serde use.
    pub(crate) fn size(&self) -> i64 {
        match self {
            Checked::Time(w) => w.size,
            Checked::Sliding { difference, .. } => *difference,
        }
    }

    /// The shortest retention that keeps every window the aggregation may still update:
    /// size + grace for time windows; for sliding windows, which look back two time
    /// differences, 2 * difference + grace (as Kafka Streams).
    pub(crate) fn minimum_retention(&self) -> i64 {
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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["clicks"])
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .emit_strategy(EmitStrategy::OnWindowClose)
    ///     .count()
    ///     .to_stream()
    ///     .map(|w, n| (format!("{}@{}", w.key, w.window.start), n))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/a"), 4_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 12_000)?; // closes [0, 10 s)
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@0"), Some(2), 4_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    /// [`Self::count_with`] into a store with a generated name and the grouping's key serde.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["clicks"])
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .count()
    ///     .to_stream()
    ///     .map(|w, v| (format!("{}@{}", w.key, w.window.start), v))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@0"), Some(1), 1_000), (s("ann@0"), Some(2), 4_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn count(&self) -> KTable<Windowed<K>, i64> {
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
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["clicks"])
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .reduce(|a, v| a + &v)
    ///     .to_stream()
    ///     .map(|w, v| (format!("{}@{}", w.key, w.window.start), v))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann@0"), Some(s("/a")), 1_000), (s("ann@0"), Some(s("/a/b")), 4_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, V> {
        self.reduce_with(reducer, Materialized::new())
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
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["clicks"])
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .aggregate(|| 0i64, |_, v, n| n + v.len() as i64)
    ///     .to_stream()
    ///     .map(|w, v| (format!("{}@{}", w.key, w.window.start), v))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@0"), Some(2), 1_000), (s("ann@0"), Some(4), 4_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate<A: NaturalSerde + Clone>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, A> {
        let materialized = Materialized::new().or_value_serde(Some(A::natural_serde()));
        self.aggregate_with(initializer, aggregator, materialized)
    }

    /// The number of records per key and window (`KSTREAM-AGGREGATE`).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["clicks"])
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .count_with(Materialized::as_store("clicks-per-10s").with_retention(Duration::from_secs(3600)))
    ///     .to_stream()
    ///     .map(|w, v| (format!("{}@{}", w.key, w.window.start), v))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@0"), Some(1), 1_000), (s("ann@0"), Some(2), 4_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn count_with(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let materialized = with_count_serde(materialized);
        self.fold("KSTREAM-AGGREGATE", "count", materialized, count_fold())
    }

    /// Each key's values per window combined with `reducer(aggregate, value)`
    /// (`KSTREAM-REDUCE`).
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["clicks"])
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .reduce_with(|a, v| a + &v, Materialized::as_store("paths"))
    ///     .to_stream()
    ///     .map(|w, v| (format!("{}@{}", w.key, w.window.start), v))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann@0"), Some(s("/a")), 1_000), (s("ann@0"), Some(s("/a/b")), 4_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn reduce_with(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let materialized = materialized.or_value_serde(self.grouped.value_serde.clone());
        self.fold(
            "KSTREAM-REDUCE",
            "reduce",
            materialized,
            reduce_fold(reducer),
        )
    }

    /// Each key's values per window folded into an aggregate that starts as `initializer()`
    /// (`KSTREAM-AGGREGATE`). The store's value serde must be given in `materialized`.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["clicks"])
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .aggregate_with(|| 0i64, |_, v, n| n + v.len() as i64, Materialized::as_store("chars").with_value_serde(I64Serde))
    ///     .to_stream()
    ///     .map(|w, v| (format!("{}@{}", w.key, w.window.start), v))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@0"), Some(2), 1_000), (s("ann@0"), Some(4), 4_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate_with<A: Clone + 'static>(
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
        let emit = self.emit;
        let grace = std::cell::Cell::new(None);
        let mut table = lower_aggregation(
            &self.grouped.stream.builder,
            Naming::stream(prefix, operation),
            &materialized,
            self.grouped.key_serde.clone(),
            |inner, plan, k, a| {
                let windows = self.windowing.check().map_err(|e| inner.fail(e)).ok()?;
                grace.set(Some(windows.grace()));
                let retention = plan.retention(
                    inner,
                    operation,
                    materialized.retention,
                    windows.minimum_retention(),
                    "the window size plus the grace period; twice the time difference plus the \
                     grace period for sliding windows",
                );
                let store = WindowStoreBuilder::new(
                    &plan.store_name,
                    materialized.kind,
                    Duration::from_millis(retention.max(0) as u64),
                    Duration::from_millis(windows.size() as u64),
                    false,
                    k.clone(),
                    ValueAndTimestampSerde(a.clone()),
                );
                let (progress_store, progress) = progress_store_for(inner, &plan.store_name, emit);
                let store_name = plan.store_name.clone();
                let value_serde = self.grouped.value_serde.clone();
                Some(Parts {
                    store,
                    parent: self.grouped.aggregation_parent(inner, &plan.store_name),
                    supplier: move || {
                        let progress = EmitProgress::new(progress_store.clone());
                        let store = StoreSlot::new(&store_name);
                        windows.processor(store, emit, fold.clone(), progress, value_serde.clone())
                    },
                    key_serde: Some(Arc::new(TimeWindowedSerde::shared(
                        k.clone(),
                        windows.size(),
                    ))),
                    progress,
                })
            },
        );
        table.window_grace = grace.get();
        table
    }
}

/// The processor of a time-windowed aggregation: of fixed (tumbling or hopping) or of sliding
/// windows.
pub(crate) enum TimeWindowAggregate<K, V, A> {
    Fixed(WindowAggregateProcessor<K, V, A>),
    Sliding(SlidingAggregateProcessor<K, V, A>),
}

impl<K, V, A> Processor<K, V, Windowed<K>, Change<A>> for TimeWindowAggregate<K, V, A>
where
    K: Clone + 'static,
    V: Clone + 'static,
    A: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
    ) -> Result<(), ProcessorError> {
        match self {
            TimeWindowAggregate::Fixed(p) => p.init(ctx),
            TimeWindowAggregate::Sliding(p) => p.init(ctx),
        }
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        match self {
            TimeWindowAggregate::Fixed(p) => p.process(ctx, r),
            TimeWindowAggregate::Sliding(p) => p.process(ctx, r),
        }
    }
}

/// `KSTREAM-AGGREGATE` / `KSTREAM-REDUCE` over windows: folds each record into every window
/// it falls in that is still open, and forwards each update, or, emitting on close, each
/// window's final value once stream time passes its end plus grace.
pub(crate) struct WindowAggregateProcessor<K, V, A> {
    windows: TimeWindowsMs,
    emit: EmitStrategy,
    fold: Arc<Fold<K, V, A>>,
    store: StoreSlot<WindowAggregates<K, A>>,
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
        self.store.init(ctx)?;
        self.progress.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        // The store is borrowed for each read or write only, never across a forward: a node
        // downstream in the same task may read it.
        let store = self.store.get()?.clone();
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
                    processor = %self.store.name(),
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
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["clicks"])
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .count()
    ///     .to_stream()
    ///     .map(|w, n| (format!("{}@{}", w.key, w.window.start), n))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/a"), 4_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 12_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@0"), Some(1), 1_000), (s("ann@0"), Some(2), 4_000), (s("ann@10000"), Some(1), 12_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn windowed_by(&self, windows: TimeWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream::new(self.clone(), Windowing::Time(windows))
    }

    /// Cuts the grouped stream into sliding windows.
    ///
    /// ```
    /// # use streams_core::serde::{I64Serde, Nullable, StringSerde};
    /// # use streams_core::test_driver::TopologyTestDriver;
    /// # use streams_core::StreamsConfig;
    /// # use streams_dsl::*;
    /// # let s = |v: &str| v.to_owned();
    /// use std::time::Duration;
    /// let b = StreamsBuilder::new();
    /// b.stream::<String, String>(&["clicks"])
    ///     .group_by_key()
    ///     .windowed_by_sliding(SlidingWindows::of_time_difference_with_no_grace(Duration::from_secs(10)))
    ///     .count()
    ///     .to_stream()
    ///     .map(|w, n| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), n))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/"), 20_000)?;
    /// clicks.pipe(s("ann"), s("/a"), 25_000)?;
    /// // The window ending at each record, and the one starting just after the first (made
    /// // when the second record arrives).
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@10000-20000"), Some(1), 20_000), (s("ann@20001-30001"), Some(1), 25_000), (s("ann@15000-25000"), Some(2), 25_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn windowed_by_sliding(&self, windows: SlidingWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream::new(self.clone(), Windowing::Sliding(windows))
    }
}
