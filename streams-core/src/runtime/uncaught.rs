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
//! It may also stop every instance of the application (`ShutdownApplication`, through
//! `shutdown_requests`).

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
    /// Stop every client of the application (Kafka Streams' `SHUTDOWN_APPLICATION`): this
    /// one ends in `Error` with the thread's error, every other one in `Error` with
    /// [`StreamsError::ApplicationShutdown`] naming this client. The request travels on the
    /// internal topic `<application.id>-shutdown-requests`.
    ShutdownApplication,
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
        let response = match (&result, &handler) {
            (Err(e), Some(h)) if control.keeps_running(index) => Some(h(e)),
            _ => None,
        };
        if let (Some(StreamThreadExceptionResponse::ShutdownApplication), Err(e)) =
            (response, &result)
        {
            tracing::error!(thread = index + 1, error = %e, "the stream thread failed; shutting the application down, as the uncaught-exception handler asks");
            let reason = e.to_string();
            // This client stops with the thread's own error first; then the others are asked.
            control.thread_exited(index, result);
            if let Err(publish) =
                super::shutdown_requests::publish(&params.config, &params.client_id, &reason)
            {
                tracing::error!(error = %publish, "the request to shut the application down was not delivered; only this client stops");
            }
            return;
        }
        let replace = response == Some(StreamThreadExceptionResponse::ReplaceThread);
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
