//! Client state shared by `KafkaStreams` and its threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::error::StreamsError;

pub use crate::client_state::State;

/// A change of the client's state, as the state listener sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// The state before.
    pub old: State,
    /// The state after.
    pub new: State,
}

/// Called with every state change, from the thread that caused it.
pub type StateListener = Arc<dyn Fn(StateChange) + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThreadState {
    Starting,
    Rebalancing,
    Running,
    Dead,
}

pub(crate) struct ClientControl {
    stop: AtomicBool,
    /// Whether the threads' consumers leave the group when they stop (always true for
    /// dynamic members; static members leave only when asked, see `CloseOptions`).
    leave_group: AtomicBool,
    /// What the threads publish for the metrics.
    pub(crate) metrics: crate::metrics::MetricsHub,
    /// The stores of the tasks the threads run, for interactive queries.
    pub(crate) stores: crate::query::QueryableStores,
    /// Which standby tasks each thread keeps, and which tasks the threads run as active.
    pub(crate) standbys: super::standby_plan::StandbyPlan,
    /// `KafkaStreams::pause`: threads keep polling and committing but process nothing.
    pub(crate) paused: AtomicBool,
    /// Stream threads that ended with an error.
    failed_threads: std::sync::atomic::AtomicU64,
    /// Stream threads replaced after a failure (the uncaught-exception handler).
    replaced_threads: std::sync::atomic::AtomicU64,
    restored: std::sync::atomic::AtomicU64,
    remaining: std::sync::atomic::AtomicI64,
    inner: Mutex<Inner>,
    changed: Condvar,
}

struct Inner {
    state: State,
    threads: Vec<ThreadState>,
    /// Threads `KafkaStreams::remove_stream_thread` asked to stop, by index, until they end.
    removing: std::collections::BTreeSet<usize>,
    /// What each stopping stream thread is doing and since when, by thread index: `close`
    /// names it when the threads do not stop in time.
    shutdown_steps: std::collections::BTreeMap<usize, (&'static str, Instant)>,
    error: Option<Arc<StreamsError>>,
    listener: Option<StateListener>,
    /// `(new, old)` changes not yet given to the listener; delivered outside the lock, so a
    /// listener may call back into the client.
    unannounced: Vec<(State, State)>,
}

impl ClientControl {
    pub(crate) fn new() -> Self {
        ClientControl {
            stop: AtomicBool::new(false),
            leave_group: AtomicBool::new(false),
            metrics: Default::default(),
            stores: Default::default(),
            standbys: Default::default(),
            paused: AtomicBool::new(false),
            failed_threads: Default::default(),
            replaced_threads: Default::default(),
            restored: std::sync::atomic::AtomicU64::new(0),
            remaining: std::sync::atomic::AtomicI64::new(0),
            inner: Mutex::new(Inner {
                state: State::Created,
                threads: Vec::new(),
                removing: Default::default(),
                shutdown_steps: Default::default(),
                error: None,
                listener: None,
                unannounced: Vec::new(),
            }),
            changed: Condvar::new(),
        }
    }

    /// Notes what stream thread `index` is doing on its way out.
    pub(crate) fn set_shutdown_step(&self, index: usize, step: &'static str) {
        tracing::info!(thread = index + 1, step, "shutting down");
        self.lock()
            .shutdown_steps
            .insert(index, (step, Instant::now()));
    }

    /// The stream threads still alive, each with what it is doing (its shutdown step and for
    /// how long, or that it has not begun stopping), e.g. `stream thread 2: committing what
    /// was processed (for 31.2 s)`.
    pub(crate) fn unfinished_threads(&self) -> String {
        let inner = self.lock();
        (0..inner.threads.len())
            .filter(|&i| inner.threads[i] != ThreadState::Dead)
            .map(|i| match inner.shutdown_steps.get(&i) {
                Some((step, since)) => format!(
                    "stream thread {}: {step} (for {:.1} s)",
                    i + 1,
                    since.elapsed().as_secs_f64()
                ),
                None => format!("stream thread {}: has not begun stopping", i + 1),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    pub(crate) fn state(&self) -> State {
        self.lock().state
    }

    pub(crate) fn set_listener(&self, listener: StateListener) {
        self.lock().listener = Some(listener);
    }

    pub(crate) fn add_restored(&self, records: u64) {
        self.restored.fetch_add(records, Ordering::Relaxed);
    }

    /// Adds (or with a negative value, removes) changelog offsets still to restore.
    pub(crate) fn add_remaining(&self, offsets: i64) {
        self.remaining.fetch_add(offsets, Ordering::Relaxed);
    }

    pub(crate) fn remaining(&self) -> i64 {
        self.remaining.load(Ordering::Relaxed).max(0)
    }

    pub(crate) fn restored(&self) -> u64 {
        self.restored.load(Ordering::Relaxed)
    }

    /// A snapshot of the client's metrics.
    pub(crate) fn metrics_snapshot(&self) -> crate::metrics::MetricsSnapshot {
        let alive = self
            .lock()
            .threads
            .iter()
            .filter(|t| **t != ThreadState::Dead)
            .count();
        self.metrics.snapshot(&crate::metrics::ClientNumbers {
            alive_threads: alive as u64,
            failed_threads: self.failed_threads.load(Ordering::Relaxed),
            replaced_threads: self.replaced_threads(),
            restore_remaining: self.remaining(),
            restored: self.restored(),
        })
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Asks the threads to leave the group when they stop, also as static members.
    pub(crate) fn request_leave_group(&self) {
        self.leave_group.store(true, Ordering::Release);
    }

    pub(crate) fn leave_group_requested(&self) -> bool {
        self.leave_group.load(Ordering::Acquire)
    }

    /// Whether stream thread `index` goes on: the client is not stopping and the thread is
    /// not being removed.
    pub(crate) fn keeps_running(&self, index: usize) -> bool {
        !self.stop_requested() && !self.lock().removing.contains(&index)
    }

    /// Whether stream thread `index`'s consumer leaves the group as it stops: a static
    /// member's only when the client's close asked to leave or the thread is being removed
    /// (its partitions go to the other threads at once).
    pub(crate) fn thread_leaves_group(&self, index: usize) -> bool {
        self.leave_group_requested() || self.lock().removing.contains(&index)
    }

    /// Claims the index of a new stream thread (the lowest free one, as Kafka Streams
    /// numbers them), or `None` unless the client is running or rebalancing. The client
    /// rebalances while the thread joins the group.
    pub(crate) fn add_thread(&self) -> Option<usize> {
        let index = {
            let mut inner = self.lock();
            if !inner.state.is_running_or_rebalancing() {
                return None;
            }
            let index = (0..inner.threads.len())
                .find(|&i| inner.threads[i] == ThreadState::Dead)
                .unwrap_or(inner.threads.len());
            if index == inner.threads.len() {
                inner.threads.push(ThreadState::Starting);
            } else {
                inner.threads[index] = ThreadState::Starting;
            }
            inner.shutdown_steps.remove(&index);
            self.transition_locked(&mut inner, State::Rebalancing);
            index
        };
        self.announce();
        Some(index)
    }

    /// Asks the first live stream thread not already being removed to stop, and returns
    /// its index; `None` when there is none or the client is not running or rebalancing.
    pub(crate) fn remove_thread(&self) -> Option<usize> {
        let mut inner = self.lock();
        if !inner.state.is_running_or_rebalancing() {
            return None;
        }
        let index = (0..inner.threads.len())
            .find(|&i| inner.threads[i] != ThreadState::Dead && !inner.removing.contains(&i))?;
        inner.removing.insert(index);
        Some(index)
    }

    /// Waits until stream thread `index` has ended, or `timeout` passes; true if it ended.
    pub(crate) fn wait_thread(&self, index: usize, timeout: std::time::Duration) -> bool {
        let mut inner = self.lock();
        let ended = |i: &Inner| i.threads.get(index).is_none_or(|t| *t == ThreadState::Dead);
        self.changed
            .wait_while_for(&mut inner, |i| !ended(i), timeout);
        ended(&inner)
    }

    /// The indices of the stream threads alive and not being removed.
    pub(crate) fn live_threads(&self) -> Vec<usize> {
        let inner = self.lock();
        (0..inner.threads.len())
            .filter(|i| inner.threads[*i] != ThreadState::Dead && !inner.removing.contains(i))
            .collect()
    }

    fn transition_inner(&self, next: State) -> bool {
        let mut inner = self.lock();
        self.transition_locked(&mut inner, next)
    }

    fn transition_locked(&self, inner: &mut MutexGuard<'_, Inner>, next: State) -> bool {
        let old = inner.state;
        if old == next || !old.may_become(next) {
            return false;
        }
        inner.state = next;
        tracing::info!(from = ?old, to = ?next, "client state changed");
        inner.unannounced.push((next, old));
        self.changed.notify_all();
        true
    }

    /// Gives pending state changes to the listener, outside the lock.
    fn announce(&self) {
        let (events, listener) = {
            let mut inner = self.lock();
            (
                std::mem::take(&mut inner.unannounced),
                inner.listener.clone(),
            )
        };
        if let Some(listener) = listener {
            for (new, old) in events {
                listener(StateChange { old, new });
            }
        }
    }

    fn start_threads_inner(&self, count: usize) {
        let mut inner = self.lock();
        inner.threads = vec![ThreadState::Starting; count];
        self.transition_locked(&mut inner, State::Rebalancing);
    }

    fn set_thread_state_inner(&self, index: usize, state: ThreadState) {
        let mut inner = self.lock();
        if let Some(slot) = inner.threads.get_mut(index) {
            *slot = state;
        }
        if !inner.state.is_running_or_rebalancing() {
            return;
        }
        let live: Vec<ThreadState> = inner
            .threads
            .iter()
            .copied()
            .filter(|t| *t != ThreadState::Dead)
            .collect();
        // No live thread (the last one removed): running, as Kafka Streams stays.
        let all_running = live.iter().all(|t| *t == ThreadState::Running);
        let next = if all_running {
            State::Running
        } else {
            State::Rebalancing
        };
        self.transition_locked(&mut inner, next);
    }

    fn thread_exited_inner(&self, index: usize, result: Result<(), StreamsError>) {
        let mut inner = self.lock();
        if let Some(slot) = inner.threads.get_mut(index) {
            *slot = ThreadState::Dead;
        }
        self.changed.notify_all();
        if inner.removing.remove(&index) && result.is_ok() {
            // Removed on request: the client goes on with the others (with none, it stays
            // up and a thread can be added again, as in Kafka Streams).
            drop(inner);
            return self.set_thread_state_inner(index, ThreadState::Dead);
        }
        if let Err(e) = result {
            self.failed_threads.fetch_add(1, Ordering::Relaxed);
            self.fail_locked(&mut inner, e);
        }
        if inner.threads.iter().all(|t| *t == ThreadState::Dead) {
            let last = if inner.state == State::PendingError {
                State::Error
            } else {
                State::NotRunning
            };
            if inner.state.is_running_or_rebalancing() {
                // Every thread ended on its own without an error: treat as a shutdown.
                self.transition_locked(&mut inner, State::PendingShutdown);
            }
            self.transition_locked(&mut inner, last);
        }
        self.changed.notify_all();
    }

    /// Moves to `next` if the transition is allowed; returns whether it happened.
    pub(crate) fn transition(&self, next: State) -> bool {
        let changed = self.transition_inner(next);
        self.announce();
        changed
    }

    pub(crate) fn start_threads(&self, count: usize) {
        self.start_threads_inner(count);
        self.announce();
    }

    pub(crate) fn set_thread_state(&self, index: usize, state: ThreadState) {
        self.set_thread_state_inner(index, state);
        self.announce();
    }

    /// Thread `index` failed and is being replaced: it is starting again, and the client
    /// rebalances while its replacement joins the group.
    pub(crate) fn thread_replaced(&self, index: usize) {
        // A failed thread, as Kafka Streams counts them, replaced or not.
        self.failed_threads.fetch_add(1, Ordering::Relaxed);
        self.replaced_threads.fetch_add(1, Ordering::Relaxed);
        self.set_thread_state(index, ThreadState::Starting);
    }

    /// Stream threads replaced after a failure since the client started.
    pub(crate) fn replaced_threads(&self) -> u64 {
        self.replaced_threads.load(Ordering::Relaxed)
    }

    /// A thread ended. An error moves the client towards `Error` and stops the others.
    pub(crate) fn thread_exited(&self, index: usize, result: Result<(), StreamsError>) {
        // Its tasks are closed: it claims none (a thread added later may take the index).
        self.standbys.claim(index, Default::default());
        self.standbys.set_kept(index, Default::default());
        self.thread_exited_inner(index, result);
        self.announce();
    }

    /// Stops the client with `error` (unless it already has one): the threads stop and the
    /// client ends in `Error` once they have.
    pub(crate) fn fail(&self, error: StreamsError) {
        {
            let mut inner = self.lock();
            self.fail_locked(&mut inner, error);
            if inner.threads.iter().all(|t| *t == ThreadState::Dead) {
                self.transition_locked(&mut inner, State::Error);
            }
        }
        self.announce();
    }

    /// Keeps `error` (unless there is one), stops the threads and moves to `PendingError`.
    fn fail_locked(&self, inner: &mut MutexGuard<'_, Inner>, error: StreamsError) {
        if inner.error.is_none() {
            inner.error = Some(Arc::new(error));
        }
        self.stop.store(true, Ordering::Release);
        self.transition_locked(inner, State::PendingError);
    }

    /// Waits until every thread has ended, or `timeout` passes. Returns true if they ended.
    pub(crate) fn wait_threads(&self, timeout: std::time::Duration) -> bool {
        let mut inner = self.lock();
        self.changed.wait_while_for(
            &mut inner,
            |i| !i.threads.iter().all(|t| *t == ThreadState::Dead),
            timeout,
        );
        inner.threads.iter().all(|t| *t == ThreadState::Dead)
    }

    /// Waits until the client is in `state` or `timeout` passes.
    pub(crate) fn wait_for(&self, state: State, timeout: std::time::Duration) -> bool {
        let mut inner = self.lock();
        self.changed
            .wait_while_for(&mut inner, |i| i.state != state, timeout);
        inner.state == state
    }

    /// The error that stopped the client (the first thread's to fail), kept for good.
    pub(crate) fn error(&self) -> Option<Arc<StreamsError>> {
        self.lock().error.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_that_times_out_names_what_each_live_thread_is_doing() {
        let control = ClientControl::new();
        control.start_threads(3);
        control.set_shutdown_step(0, "committing what was processed");
        control.set_shutdown_step(1, "closing its Kafka clients");
        control.thread_exited(1, Ok(()));
        let unfinished = control.unfinished_threads();
        assert!(
            unfinished.starts_with("stream thread 1: committing what was processed (for 0."),
            "{unfinished}"
        );
        assert!(
            unfinished.ends_with(" s); stream thread 3: has not begun stopping"),
            "{unfinished}"
        );
        assert!(!unfinished.contains("stream thread 2"), "{unfinished}");
    }
}
