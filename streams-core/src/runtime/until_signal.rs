//! `KafkaStreams::run_until_signal`: the blocking main loop most applications want: start,
//! run until SIGINT or SIGTERM (or until the client fails), then close in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::KafkaStreams;
use crate::client_state::State;
use crate::error::{Result, StreamsError};

/// How often the wait looks at the signal flag and the client's state.
const WAKE: Duration = Duration::from_millis(100);

impl KafkaStreams {
    /// Starts the client (unless started), blocks until the process receives SIGINT or
    /// SIGTERM or the client fails, then closes it (waiting up to `close_timeout`): each
    /// thread commits what it processed and closes its tasks. A second SIGINT or SIGTERM
    /// while closing ends the process at once (exit code 1). Once it returns, SIGINT and
    /// SIGTERM end the process again, as by default.
    ///
    /// Returns an error naming the client's failure if it failed (a fatal error, or the
    /// uncaught-exception handler's `ShutdownClient`; the typed error stays in
    /// [`Self::error`]), the close's error if the threads did not finish in time, and `Ok`
    /// after a clean stop. Call it from a thread that may block, not from async code.
    ///
    /// ```no_run
    /// # fn main() -> streams_core::Result<()> {
    /// # let topology = streams_core::Topology::new();
    /// use std::time::Duration;
    /// use streams_core::{KafkaStreams, StreamsConfig};
    ///
    /// let config = StreamsConfig::new("my-app", "localhost:9092");
    /// KafkaStreams::new(topology, config)?.run_until_signal(Duration::from_secs(30))
    /// # }
    /// ```
    pub fn run_until_signal(&mut self, close_timeout: Duration) -> Result<()> {
        let signalled = Arc::new(AtomicBool::new(false));
        // Removed again on every way out, so that after the call the signals act as before.
        let mut handlers = Handlers(Vec::new());
        restore_default_actions(false);
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let installed =
                signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&signalled))
                    .and_then(|first| {
                        handlers.0.push(first);
                        signal_hook::flag::register(signal, Arc::clone(&signalled))
                    });
            match installed {
                Ok(id) => handlers.0.push(id),
                Err(e) => {
                    return Err(StreamsError::IllegalState(format!(
                        "run_until_signal could not install its SIGINT/SIGTERM handler: {e}"
                    )));
                }
            }
        }
        if self.state() == State::Created {
            self.start()?;
        }
        while !signalled.load(Ordering::SeqCst)
            && !matches!(
                self.state(),
                State::PendingError | State::Error | State::NotRunning
            )
        {
            std::thread::sleep(WAKE);
        }
        if signalled.load(Ordering::SeqCst) {
            tracing::info!("SIGINT or SIGTERM received; closing");
        }
        let closed = self.close(close_timeout);
        match self.error() {
            Some(e) => Err(StreamsError::IllegalState(format!(
                "the client stopped after a failure: {e}"
            ))),
            None => closed,
        }
    }
}

/// The signal handlers `run_until_signal` installed, removed when dropped.
struct Handlers(Vec<signal_hook::SigId>);

impl Drop for Handlers {
    fn drop(&mut self) {
        for id in self.0.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        restore_default_actions(true);
    }
}

/// Once signal-hook has handled a signal, removing its handlers leaves the signal ignored:
/// after `run_until_signal`, SIGINT and SIGTERM get handlers that do what the default
/// action does (end the process), removed again when it is called next (`on`: install them,
/// else only remove the ones installed).
fn restore_default_actions(on: bool) {
    static DEFAULTS: std::sync::Mutex<Vec<signal_hook::SigId>> = std::sync::Mutex::new(Vec::new());
    let mut defaults = DEFAULTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for id in defaults.drain(..) {
        signal_hook::low_level::unregister(id);
    }
    if on {
        let always = Arc::new(AtomicBool::new(true));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            match signal_hook::flag::register_conditional_default(signal, Arc::clone(&always)) {
                Ok(id) => defaults.push(id),
                Err(e) => {
                    tracing::warn!(signal, error = %e, "could not restore a signal's default action")
                }
            }
        }
    }
}
