//! Session-windowed aggregations: `SessionWindowedKStream` and the processor that merges a
//! key's records into sessions split by an inactivity gap.

use std::sync::Arc;
use std::time::Duration;
use streams_core::serde::NaturalSerde;

use state_stores::SessionStoreBuilder;
use state_stores::typed::TypedSessionStore;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::store::StoreHandle;
use streams_core::{Headers, Record, SessionWindowedSerde, Window, Windowed};

use crate::aggregation::{
    Fold, Naming, Parts, aggregate_fold, count_fold, lower_aggregation, reduce_fold,
    with_count_serde,
};
use crate::grouped::KGroupedStream;
use crate::options::Materialized;
use crate::store_slot::StoreSlot;
use crate::table::{Change, KTable};
use crate::window_emit::{EmitProgress, emit_closed_sessions, progress_store_for};
use crate::windows::{EmitStrategy, SessionWindows};

/// A grouped stream cut into session windows, ready for an aggregation whose table is keyed
/// by [`Windowed`] keys with the session as window (both ends inclusive).
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
    emit: EmitStrategy,
}

impl<K, V> std::fmt::Debug for SessionWindowedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWindowedKStream")
            .field("windows", &self.windows)
            .finish()
    }
}

/// How two session aggregates combine when their sessions merge.
pub(crate) type Merger<K, A> = dyn Fn(&K, A, A) -> A + Send + Sync;

/// The aggregate merging starts from (`None` for reduce: the first session's as is).
pub(crate) type SessionInit<A> = dyn Fn() -> Option<A> + Send + Sync;

/// The store a session aggregation keeps its sessions in.
pub(crate) type SessionAggregates<K, A> = TypedSessionStore<K, A>;

impl<K, V> SessionWindowedKStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Emits every update (the default), or each session's final result once it closes
    /// (`EmitStrategy::OnWindowClose`): when stream time passes its end plus the inactivity
    /// gap plus the grace period, as Kafka Streams' `emitStrategy(onWindowClose())`. Merged
    /// sessions emit nothing; a final result carries the session's end as its timestamp,
    /// and the sessions closed by one record go out by end, then start, then key.
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
    ///     .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(5)))
    ///     .emit_strategy(EmitStrategy::OnWindowClose)
    ///     .count()
    ///     .to_stream()
    ///     .map(|w, n| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), n))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?; // the session grows to [1 s, 4 s]
    /// clicks.pipe(s("bob"), s("/"), 9_000)?; // ann's session closes after 9 s
    /// clicks.pipe(s("bob"), s("/"), 9_001)?;
    /// assert_eq!(
    ///     d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?,
    ///     vec![(s("ann@1000-4000"), Some(2), 4_000)]
    /// );
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
    ///     .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(5)))
    ///     .count()
    ///     .to_stream()
    ///     .map(|w, v| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), v))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@1000-1000"), Some(1), 1_000), (s("ann@1000-1000"), None, 1_000), (s("ann@1000-4000"), Some(2), 4_000)]);
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
    ///     .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(5)))
    ///     .reduce(|a, v| a + &v)
    ///     .to_stream()
    ///     .map(|w, v| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), v))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann@1000-1000"), Some(s("/a")), 1_000), (s("ann@1000-1000"), None, 1_000), (s("ann@1000-4000"), Some(s("/a/b")), 4_000)]);
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
    ///     .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(5)))
    ///     .aggregate(|| 0i64, |_, v, n| n + v.len() as i64, |_, a, c| a + c)
    ///     .to_stream()
    ///     .map(|w, v| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), v))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@1000-1000"), Some(2), 1_000), (s("ann@1000-1000"), None, 1_000), (s("ann@1000-4000"), Some(4), 4_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate<A: NaturalSerde + Clone>(
        &self,
        initializer: impl Fn() -> A + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        merger: impl Fn(&K, A, A) -> A + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, A> {
        let materialized = Materialized::new().or_value_serde(Some(A::natural_serde()));
        self.aggregate_with(initializer, aggregator, merger, materialized)
    }

    /// The number of records per key and session (`KSTREAM-AGGREGATE`).
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
    ///     .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(5)))
    ///     .count_with(Materialized::as_store("visits"))
    ///     .to_stream()
    ///     .map(|w, v| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), v))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@1000-1000"), Some(1), 1_000), (s("ann@1000-1000"), None, 1_000), (s("ann@1000-4000"), Some(2), 4_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn count_with(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
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
    ///     .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(5)))
    ///     .reduce_with(|a, v| a + &v, Materialized::as_store("paths"))
    ///     .to_stream()
    ///     .map(|w, v| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), v))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(StringSerde)).read_key_values_with_time()?, vec![(s("ann@1000-1000"), Some(s("/a")), 1_000), (s("ann@1000-1000"), None, 1_000), (s("ann@1000-4000"), Some(s("/a/b")), 4_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn reduce_with(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let materialized = materialized.or_value_serde(self.grouped.value_serde.clone());
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
    ///     .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(5)))
    ///     .aggregate_with(|| 0i64, |_, v, n| n + v.len() as i64, |_, a, c| a + c, Materialized::as_store("chars").with_value_serde(I64Serde))
    ///     .to_stream()
    ///     .map(|w, v| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), v))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/a"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/b"), 4_000)?;
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@1000-1000"), Some(2), 1_000), (s("ann@1000-1000"), None, 1_000), (s("ann@1000-4000"), Some(4), 4_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn aggregate_with<A: Clone + 'static>(
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
        let window_grace = std::cell::Cell::new(None);
        let emit = self.emit;
        let mut table = lower_aggregation(
            &self.grouped.stream.builder,
            Naming::stream(prefix, operation),
            &materialized,
            self.grouped.key_serde.clone(),
            |inner, plan, k, a| {
                let (gap, grace) = self.windows.check().map_err(|e| inner.fail(e)).ok()?;
                // A session can still grow by a gap after its end: it closes for good at
                // end + gap + grace (Kafka Streams' window-close time for sessions).
                window_grace.set(Some(grace.saturating_add(gap)));
                let retention = plan.retention(
                    inner,
                    operation,
                    materialized.retention,
                    gap.saturating_add(grace),
                    "the inactivity gap plus the grace period",
                );
                let store_name = plan.store_name.clone();
                let (progress_store, progress) = progress_store_for(inner, &plan.store_name, emit);
                Some(Parts {
                    store: SessionStoreBuilder::new(
                        &plan.store_name,
                        materialized.kind,
                        Duration::from_millis(retention.max(0) as u64),
                        k.clone(),
                        a.clone(),
                    ),
                    parent: self.grouped.aggregation_parent(inner, &plan.store_name),
                    supplier: move || SessionAggregateProcessor {
                        gap,
                        grace,
                        fold: fold.clone(),
                        init: init.clone(),
                        merger: merger.clone(),
                        store: StoreSlot::new(&store_name),
                        observed: -1,
                        emit,
                        progress: EmitProgress::new(progress_store.clone()),
                    },
                    key_serde: Some(Arc::new(SessionWindowedSerde::shared(k.clone()))),
                    progress,
                })
            },
        );
        table.window_grace = window_grace.get();
        table
    }
}

/// `KSTREAM-AGGREGATE` / `KSTREAM-REDUCE` over sessions: a record at `t` merges with every
/// session of its key that ends at or after `t - gap` and starts at or before `t + gap`; the
/// merged sessions are removed (each forwarded as a tombstone with its old value) and the
/// merged session is stored and forwarded. Records whose merged session would end before
/// stream time minus grace minus the gap (a session can still grow by a gap after its end)
/// are dropped as late.
pub(crate) struct SessionAggregateProcessor<K, V, A> {
    pub(crate) gap: i64,
    pub(crate) grace: i64,
    pub(crate) fold: Arc<Fold<K, V, A>>,
    pub(crate) init: Arc<SessionInit<A>>,
    pub(crate) merger: Arc<Merger<K, A>>,
    pub(crate) store: StoreSlot<SessionAggregates<K, A>>,
    pub(crate) observed: i64,
    /// Every update, or each session's final result once it closes.
    pub(crate) emit: EmitStrategy,
    /// Emitting on close: what was emitted already.
    pub(crate) progress: EmitProgress,
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
        self.store.init(ctx)?;
        self.progress.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        r: Record<K, V>,
    ) -> Result<(), ProcessorError> {
        // Borrowed for each read or write only, never across a forward (see
        // `WindowAggregateProcessor::process`).
        let store = self.store.get()?.clone();
        self.progress.observe(ctx.record_metadata());
        let t = r.timestamp;
        self.observed = self.observed.max(t);
        // As Kafka Streams: a session can still grow by a gap after its end.
        let close = self
            .observed
            .saturating_sub(self.grace)
            .saturating_sub(self.gap);
        let overlapping = store
            .borrow()
            .find_sessions(
                &r.key,
                t.saturating_sub(self.gap),
                t.saturating_add(self.gap),
            )?
            .collect::<streams_core::Result<Vec<_>>>()?;
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
                processor = %self.store.name(),
                timestamp = t,
                session_start = window.start,
                session_end = window.end,
                stream_time = self.observed,
                "dropping a record for a closed session"
            );
            // As Kafka Streams: a late record still moves the emission of closed sessions.
            return self.emit_closed(ctx, &store, close, &r.headers);
        }
        let on_update = self.emit == EmitStrategy::OnWindowUpdate;
        // Unless the record stands alone, every merged session is replaced (a record inside
        // a session too: its tombstone, then the updated session).
        let alone = window == Window::new(t, t);
        for (session, old) in overlapping {
            if alone {
                continue;
            }
            store.borrow_mut().remove(&session)?;
            if !on_update {
                continue;
            }
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
        if !on_update {
            return self.emit_closed(ctx, &store, close, &headers);
        }
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

impl<K, V, A> SessionAggregateProcessor<K, V, A>
where
    K: Clone + 'static,
    A: Clone + 'static,
{
    /// Emitting on close, after the record's own update as in Kafka Streams: forwards the
    /// sessions that closed since the last emission (ending in `[last, close)`, where `close`
    /// is stream time minus grace minus gap), with the triggering record's headers.
    fn emit_closed(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        store: &StoreHandle<SessionAggregates<K, A>>,
        close: i64,
        headers: &Headers,
    ) -> Result<(), ProcessorError> {
        let last = self.progress.last;
        if self.emit != EmitStrategy::OnWindowClose || (last != -1 && last >= close) {
            return Ok(());
        }
        // Session ends are inclusive: the closed ones end before `close`.
        let (from, to) = (last.max(0), close.saturating_sub(1));
        if to < 0 || to < from {
            return Ok(());
        }
        emit_closed_sessions(ctx, store, from, to, headers)?;
        self.progress.record(close, ctx.record_metadata())
    }
}

impl<K, V> KGroupedStream<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Cuts the grouped stream into session windows.
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
    ///     .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(5)))
    ///     .count()
    ///     .to_stream()
    ///     .map(|w, n| (format!("{}@{}-{}", w.key, w.window.start, w.window.end), n))
    ///     .to("out");
    /// # let d = TopologyTestDriver::new(b.build()?, StreamsConfig::new("doc", "unused:9092"))?;
    /// let clicks = d.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe(s("ann"), s("/"), 1_000)?;
    /// clicks.pipe(s("ann"), s("/a"), 3_000)?; // within the gap: the session grows
    /// assert_eq!(d.output_topic("out", StringSerde, Nullable(I64Serde)).read_key_values_with_time()?, vec![(s("ann@1000-1000"), Some(1), 1_000), (s("ann@1000-1000"), None, 1_000), (s("ann@1000-3000"), Some(2), 3_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn windowed_by_session(&self, windows: SessionWindows) -> SessionWindowedKStream<K, V> {
        SessionWindowedKStream {
            grouped: self.clone(),
            windows,
            emit: EmitStrategy::OnWindowUpdate,
        }
    }
}
