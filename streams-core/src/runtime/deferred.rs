//! Tasks assigned that cannot start yet (another thread or process still holds their state
//! lock, or a changelog has a transaction a previous owner left open), and when to try again.

use std::time::{Duration, Instant};

use crate::ids::TaskId;

/// Longest wait between two attempts to start a deferred task.
const DEFERRED_MAX_DELAY: Duration = Duration::from_millis(500);
/// How often a task still waiting for its lock is logged.
const DEFERRED_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A task that could not start yet, and when to try again.
pub(crate) struct Deferred {
    /// The index of the task's sub-topology.
    pub sub: usize,
    /// When it was first deferred.
    pub since: Instant,
    pub next_try: Instant,
    delay: Duration,
    /// When the thread last logged that the task is still waiting.
    logged: Instant,
}

impl Deferred {
    /// First retry after this long; the delay doubles up to [`DEFERRED_MAX_DELAY`].
    const FIRST_DELAY: Duration = Duration::from_millis(50);

    pub(crate) fn new(sub: usize) -> Self {
        let now = Instant::now();
        Deferred {
            sub,
            since: now,
            next_try: now + Self::FIRST_DELAY,
            delay: Self::FIRST_DELAY,
            logged: now,
        }
    }

    /// Schedules the next try after a failed one; logs at most once per
    /// [`DEFERRED_LOG_INTERVAL`] that the task's lock is still held.
    pub(crate) fn backoff(&mut self, locked: Option<&str>, thread: &str, id: TaskId) {
        let now = Instant::now();
        self.delay = (self.delay * 2).min(DEFERRED_MAX_DELAY);
        self.next_try = now + self.delay;
        if let Some(path) = locked
            && now.duration_since(self.logged) >= DEFERRED_LOG_INTERVAL
        {
            self.logged = now;
            tracing::warn!(thread = %thread, task = %id, %path, waited_s = self.since.elapsed().as_secs(), "task state still locked elsewhere; retrying");
        }
    }
}
