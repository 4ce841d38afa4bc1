//! Sliding-window aggregation: windows defined by the records themselves, as Kafka Streams'
//! `KStreamSlidingWindowAggregate` builds them.
//!
//! With time difference `d`, every record at `t` has a left window `[t - d, t]` (ending at the
//! record) and, when a later record of its key falls within `d` after it, a right window
//! `[t + 1, t + 1 + d]`. A window holds the aggregate of exactly the records whose timestamps
//! lie in it (both ends inclusive), so each distinct set of records within `d` of each other
//! is one window. Records earlier than `d` (whose left window would start before 0) share the
//! window `[0, d]`. A record updates the windows it falls into newest first, as Kafka Streams
//! does with stores that fetch backwards.

use std::sync::Arc;

use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::SharedSerde;
use streams_core::store::StoreHandle;
use streams_core::{Record, Window, Windowed};

use crate::aggregation::{Fold, skips_null};
use crate::store_slot::StoreSlot;
use crate::table::Change;
use crate::timestamped::ValueAndTimestamp;
use crate::window_emit::{EmitProgress, WindowAggregates, emit_closed_windows};
use crate::windows::EmitStrategy;

/// `KSTREAM-AGGREGATE` / `KSTREAM-REDUCE` over sliding windows.
pub(crate) struct SlidingAggregateProcessor<K, V, A> {
    pub(crate) difference: i64,
    pub(crate) grace: i64,
    pub(crate) emit: EmitStrategy,
    pub(crate) fold: Arc<Fold<K, V, A>>,
    pub(crate) store: StoreSlot<WindowAggregates<K, A>>,
    pub(crate) observed: i64,
    pub(crate) progress: EmitProgress,
    /// The grouped stream's value serde, when known: a record whose value it reads as null
    /// is skipped, as Kafka Streams' sliding aggregation skips null values.
    pub(crate) value_serde: Option<SharedSerde<V>>,
}

/// One record being applied: its key, value, timestamp and the window close time.
struct Input<'a, K, V> {
    key: &'a K,
    value: &'a V,
    timestamp: i64,
    close: i64,
}

impl<K, V, A> SlidingAggregateProcessor<K, V, A>
where
    K: Clone + 'static,
    V: Clone + 'static,
    A: Clone + 'static,
{
    fn window(&self, start: i64) -> Window {
        Window::new(start, start.saturating_add(self.difference))
    }

    /// Folds the record into `window` (currently `current`: an existing window's aggregate,
    /// or a new window's starting aggregate with `existing` false), stores and forwards it,
    /// unless the window is closed.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        store: &StoreHandle<WindowAggregates<K, A>>,
        input: &Input<'_, K, V>,
        window: Window,
        current: Option<ValueAndTimestamp<A>>,
        existing: bool,
    ) -> Result<(), ProcessorError> {
        if window.end < input.close {
            ctx.count_late_record();
            tracing::debug!(
                store = %self.store.name(),
                timestamp = input.timestamp,
                window_start = window.start,
                window_end = window.end,
                "dropping a record's update of a closed sliding window"
            );
            return Ok(());
        }
        let timestamp = current
            .as_ref()
            .map_or(input.timestamp, |c| c.timestamp.max(input.timestamp));
        let old = current.map(|c| c.value);
        let new = (self.fold)(input.key, input.value.clone(), old.clone());
        store.borrow_mut().put(
            input.key,
            &ValueAndTimestamp {
                value: new.clone(),
                timestamp,
            },
            window.start,
        )?;
        if self.emit == EmitStrategy::OnWindowUpdate {
            ctx.forward(Record::new(
                Windowed::new(input.key.clone(), window),
                Change {
                    new: Some(new),
                    old: if existing { old } else { None },
                },
                timestamp,
            ))?;
        }
        Ok(())
    }

    /// Stores the current record's right window as a copy of `right` (the aggregate of the
    /// later records within reach) and forwards it.
    fn create_right_window(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        store: &StoreHandle<WindowAggregates<K, A>>,
        input: &Input<'_, K, V>,
        right: ValueAndTimestamp<A>,
    ) -> Result<(), ProcessorError> {
        let window = self.window(input.timestamp.saturating_add(1));
        self.store_new_window(ctx, store, input.key, window, right)
    }

    /// Stores a window that did not exist, with its aggregate, and forwards it when emitting
    /// every update.
    fn store_new_window(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        store: &StoreHandle<WindowAggregates<K, A>>,
        key: &K,
        window: Window,
        aggregate: ValueAndTimestamp<A>,
    ) -> Result<(), ProcessorError> {
        store.borrow_mut().put(key, &aggregate, window.start)?;
        if self.emit == EmitStrategy::OnWindowUpdate {
            ctx.forward(Record::new(
                Windowed::new(key.clone(), window),
                Change {
                    new: Some(aggregate.value),
                    old: None,
                },
                aggregate.timestamp,
            ))?;
        }
        Ok(())
    }

    fn process_in_order(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        store: &StoreHandle<WindowAggregates<K, A>>,
        input: &Input<'_, K, V>,
    ) -> Result<(), ProcessorError> {
        let (t, d) = (input.timestamp, self.difference);
        let windows = store
            .borrow()
            .fetch_range(
                input.key,
                t.saturating_sub(d.saturating_mul(2)).max(0),
                t.saturating_add(1),
            )?
            .collect::<streams_core::Result<Vec<_>>>()?;
        let mut starts = std::collections::HashSet::new();
        let mut left_agg: Option<ValueAndTimestamp<A>> = None;
        let mut right_agg: Option<ValueAndTimestamp<A>> = None;
        let (mut left_exists, mut right_exists) = (false, false);
        let mut previous: Option<i64> = None;
        // Newest window first, as Kafka Streams does when its store can fetch backwards (both
        // of its stores can): the windows this record falls into are updated newest first,
        // and the scan stops at this record's left window or the newest window before it.
        for (start, vt) in windows.into_iter().rev() {
            starts.insert(start);
            let end = start.saturating_add(d);
            if start == t.saturating_add(1) {
                right_exists = true;
            } else if end > t {
                if right_agg.is_none() {
                    right_agg = Some(vt.clone());
                }
                self.update(ctx, store, input, self.window(start), Some(vt), true)?;
            } else if end == t {
                left_exists = true;
                let newest = vt.timestamp;
                self.update(ctx, store, input, self.window(start), Some(vt), true)?;
                if newest >= t {
                    // A record at this time was here first and made the windows this one
                    // could need: nothing to create.
                    return Ok(());
                }
                // As Kafka Streams' backward scan, which goes on here: the next, older window
                // (if any) replaces `previous` with its newest record, so the right window
                // of the record just before this one is not created when this record's left
                // window already existed (docs/architecture.md, "Differences from Kafka
                // Streams": we follow it).
                previous = Some(newest);
            } else {
                previous = Some(vt.timestamp);
                left_agg = Some(vt);
                break;
            }
        }
        // The previous record's right window, if it does not exist yet and this record is in
        // it.
        if let Some(p) = previous {
            let start = p.saturating_add(1);
            if !starts.contains(&start) && start.saturating_add(d) >= t {
                let fresh = ValueAndTimestamp {
                    value: (self.fold)(input.key, input.value.clone(), None),
                    timestamp: t,
                };
                // Created from the initial aggregate, with this record only.
                self.put_created(ctx, store, input, self.window(start), fresh)?;
            }
        }
        // This record's left window: the previous window's records within reach, plus this one.
        if !left_exists {
            let from = left_agg.filter(|_| previous.is_some_and(|p| t.saturating_sub(d) <= p));
            let current = from.map(|vt| ValueAndTimestamp {
                value: vt.value,
                timestamp: t,
            });
            self.update(
                ctx,
                store,
                input,
                self.window(t.saturating_sub(d)),
                current,
                false,
            )?;
        }
        // This record's right window, when later records are within reach.
        if !right_exists && let Some(right) = right_agg.filter(|r| r.timestamp > t) {
            self.create_right_window(ctx, store, input, right)?;
        }
        Ok(())
    }

    /// Puts a window created for this record (its aggregate already includes it) and
    /// forwards it, unless closed.
    fn put_created(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        store: &StoreHandle<WindowAggregates<K, A>>,
        input: &Input<'_, K, V>,
        window: Window,
        created: ValueAndTimestamp<A>,
    ) -> Result<(), ProcessorError> {
        if window.end < input.close {
            ctx.count_late_record();
            return Ok(());
        }
        self.store_new_window(ctx, store, input.key, window, created)
    }

    /// Records before `d` share the window `[0, d]`.
    fn process_early(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        store: &StoreHandle<WindowAggregates<K, A>>,
        input: &Input<'_, K, V>,
    ) -> Result<(), ProcessorError> {
        let t = input.timestamp;
        let windows = store
            .borrow()
            .fetch_range(input.key, 0, t.saturating_add(1))?
            .collect::<streams_core::Result<Vec<_>>>()?;
        let mut starts = std::collections::HashSet::new();
        let mut combined: Option<ValueAndTimestamp<A>> = None;
        let mut right_agg: Option<ValueAndTimestamp<A>> = None;
        let mut right_exists = false;
        let mut previous: Option<i64> = None;
        for (start, vt) in windows {
            starts.insert(start);
            if start == 0 {
                if vt.timestamp < t {
                    previous = Some(vt.timestamp);
                }
                combined = Some(vt);
            } else if start <= t {
                right_agg = Some(vt.clone());
                self.update(ctx, store, input, self.window(start), Some(vt), true)?;
            } else if start == t.saturating_add(1) {
                right_exists = true;
            } else {
                return Err(format!(
                    "sliding window store `{}` holds an unexpected window starting at {start} \
                     for an early record at {t}",
                    self.store.name()
                )
                .into());
            }
        }
        if right_agg.is_none() {
            right_agg = combined.clone().filter(|c| c.timestamp > t);
        }
        if !right_exists && let Some(right) = right_agg.filter(|r| r.timestamp > t) {
            self.create_right_window(ctx, store, input, right)?;
        }
        if let Some(p) = previous
            && !starts.contains(&p.saturating_add(1))
        {
            let fresh = ValueAndTimestamp {
                value: (self.fold)(input.key, input.value.clone(), None),
                timestamp: t,
            };
            self.put_created(ctx, store, input, self.window(p.saturating_add(1)), fresh)?;
        }
        let existing = combined.is_some();
        self.update(ctx, store, input, self.window(0), combined, existing)
    }
}

impl<K, V, A> Processor<K, V, Windowed<K>, Change<A>> for SlidingAggregateProcessor<K, V, A>
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
        // Before stream time moves: Kafka Streams skips the record outright.
        if skips_null(self.value_serde.as_ref(), &r.value, ctx, self.store.name()) {
            return Ok(());
        }
        // The store is borrowed for each read or write only, never across a forward: a node
        // downstream in the same task may read it.
        let store = self.store.get()?.clone();
        self.progress.observe(ctx.record_metadata());
        self.observed = self.observed.max(r.timestamp);
        let close = self.observed.saturating_sub(self.grace);
        if self.emit == EmitStrategy::OnWindowClose {
            // Windows [s, s + d] with last close <= s + d < close.
            let last = self.progress.last;
            let from = last.saturating_sub(self.difference).max(0);
            let to = close.saturating_sub(self.difference).saturating_sub(1);
            if close > last {
                emit_closed_windows(ctx, &store, from, to)?;
                self.progress.record(close, ctx.record_metadata())?;
            }
        }
        let input = Input {
            key: &r.key,
            value: &r.value,
            timestamp: r.timestamp,
            close,
        };
        if r.timestamp.saturating_add(self.difference) < close {
            ctx.count_late_record();
            tracing::debug!(
                store = %self.store.name(),
                timestamp = r.timestamp,
                stream_time = self.observed,
                "dropping a record whose sliding windows have all closed"
            );
            return Ok(());
        }
        if r.timestamp < self.difference {
            self.process_early(ctx, &store, &input)
        } else {
            self.process_in_order(ctx, &store, &input)
        }
    }
}
