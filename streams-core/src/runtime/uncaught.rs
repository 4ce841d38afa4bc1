//! What happens to a stream thread that fails: Kafka Streams' uncaught-exception handler.
//!
//! A stream thread fails when an error reaches it that the error handlers did not absorb (a
//! processor error under `log-and-fail`, a store that cannot be written, a panic in user
//! code). By default the client then stops (`Error`). A handler set with
//! [`KafkaStreams::set_uncaught_exception_handler`](super::KafkaStreams::set_uncaught_exception_handler)
//! may instead replace the thread: a new one with the same index (so the same client ids and,
//! under exactly-once, the same transactional id, fencing the old producer) joins the group
//! and takes the work up from the last commit: nothing the failed thread had not committed
//! counts, under exactly-once nothing is duplicated.

use std::sync::Arc;

use super::control::ClientControl;
use super::thread::{StreamThread, ThreadParams};
use crate::error::StreamsError;

/// A handler's answer to a stream thread's failure (Kafka Streams'
/// `StreamThreadExceptionResponse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamThreadExceptionResponse {
    /// Start a new thread in the failed one's place; the client stays up.
    ReplaceThread,
    /// Stop this client: the other threads stop, the client ends in `Error` (the default).
    ShutdownClient,
}

/// Decides what to do about a failed stream thread, given its error.
pub type UncaughtExceptionHandler =
    Arc<dyn Fn(&StreamsError) -> StreamThreadExceptionResponse + Send + Sync>;

/// Runs stream thread `params.index` until it ends, replacing it after a failure when
/// `handler` says so (and the client is not stopping), then reports its end to `control`.
pub(crate) fn run_thread(
    params: ThreadParams,
    control: Arc<ClientControl>,
    handler: Option<UncaughtExceptionHandler>,
) {
    let index = params.index;
    loop {
        // A panic (in user code, say) must still end the thread's life in the client's
        // state, or close() would wait for it forever.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            StreamThread::new(params.clone()).and_then(StreamThread::run)
        }))
        .unwrap_or_else(|panic| {
            let message = crate::error::panic_message(&*panic);
            Err(StreamsError::IllegalState(format!(
                "stream thread panicked: {message}"
            )))
        });
        let replace = match (&result, &handler) {
            (Err(e), Some(h)) if control.keeps_running(index) => {
                h(e) == StreamThreadExceptionResponse::ReplaceThread
            }
            _ => false,
        };
        if !replace {
            control.thread_exited(index, result);
            return;
        }
        if let Err(e) = &result {
            tracing::error!(thread = index + 1, error = %e, "the stream thread failed; replacing it, as the uncaught-exception handler asks");
        }
        control.thread_replaced(index);
    }
}
