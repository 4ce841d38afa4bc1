//! The admin client (topic creation at start-up, purging repartition topics), with its main
//! queue served.
//!
//! rdkafka's `AdminClient` polls only the queue of its own requests, never the client's main
//! queue (rust-rdkafka issue 757): the events librdkafka puts there go unanswered. Two of them
//! matter: SASL/OAUTHBEARER token refreshes (without an answer, an admin client whose token
//! comes from the application, as with Amazon MSK's IAM authentication, never authenticates)
//! and errors (a refused authentication would go unseen). [`AdminHandle`] runs a thread that
//! polls the main queue with librdkafka's public event API and hands each event to the
//! client's [`WatchedContext`], as rdkafka does for consumers and producers.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::ops::Deref;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use rdkafka::admin::AdminClient;
use rdkafka::bindings as rdsys;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::client_failure::{ClientFailure, WatchedContext};
use super::client_supplier::create_admin_with_context;
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};

/// How long one poll of the main queue waits, and so how long closing waits at most for the
/// thread.
const POLL_MS: i32 = 100;

/// An admin client whose main queue a thread of its own serves; derefs to the client.
pub(crate) struct AdminHandle {
    // Declared first, so the thread stops before the client it polls is destroyed.
    events: EventThread,
    client: AdminClient<WatchedContext>,
}

impl AdminHandle {
    /// An admin client for `config`, its security failures recorded in `failure`.
    pub(crate) fn new(config: &StreamsConfig, failure: &ClientFailure) -> Result<Self> {
        let client: AdminClient<WatchedContext> =
            create_admin_with_context(config, WatchedContext::new(failure, config))?;
        let events = EventThread::start(&client)?;
        Ok(AdminHandle { events, client })
    }
}

impl Deref for AdminHandle {
    type Target = AdminClient<WatchedContext>;

    fn deref(&self) -> &Self::Target {
        &self.client
    }
}

impl Drop for AdminHandle {
    fn drop(&mut self) {
        self.events.stop();
    }
}

/// The main queue of a client, polled from the event thread.
struct MainQueue {
    client: NonNull<rdsys::rd_kafka_t>,
    queue: NonNull<rdsys::rd_kafka_queue_t>,
    context: Arc<WatchedContext>,
}

// SAFETY: librdkafka's client and queue handles may be used from any thread; the handles stay
// valid until `EventThread::stop` has joined the thread (the client is destroyed after that,
// see the field order of `AdminHandle`), and the queue reference is released on that thread.
unsafe impl Send for MainQueue {}

struct EventThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EventThread {
    fn start(client: &AdminClient<WatchedContext>) -> Result<Self> {
        let rk = client.inner().native_ptr();
        // SAFETY: `rk` is the live client; `rd_kafka_queue_get_main` returns a new reference
        // to its main queue, released with `rd_kafka_queue_destroy` when the thread ends.
        let queue = unsafe { rdsys::rd_kafka_queue_get_main(rk) };
        let (Some(client_ptr), Some(queue)) = (NonNull::new(rk), NonNull::new(queue)) else {
            return Err(StreamsError::IllegalState(
                "the admin client has no main queue".into(),
            ));
        };
        let main = MainQueue {
            client: client_ptr,
            queue,
            context: client.inner().context().clone(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("kstreams-admin-events".into())
                .spawn(move || main.serve(&stop))
                .map_err(|e| StreamsError::io("spawning the admin client's event thread", e))?
        };
        Ok(EventThread {
            stop,
            thread: Some(thread),
        })
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl MainQueue {
    /// Polls until `stop`, then releases the queue.
    fn serve(self, stop: &AtomicBool) {
        while !stop.load(Ordering::Acquire) {
            // SAFETY: the queue is valid (see `MainQueue`); a non-null event is ours to
            // destroy, which `handle` does not do and the line after it does.
            let event = unsafe { rdsys::rd_kafka_queue_poll(self.queue.as_ptr(), POLL_MS) };
            if let Some(event) = NonNull::new(event) {
                self.handle(event);
                unsafe { rdsys::rd_kafka_event_destroy(event.as_ptr()) };
            }
        }
        // SAFETY: the reference taken in `EventThread::start`, released once.
        unsafe { rdsys::rd_kafka_queue_destroy(self.queue.as_ptr()) };
    }

    fn handle(&self, event: NonNull<rdsys::rd_kafka_event_t>) {
        let event = event.as_ptr();
        // SAFETY: `event` is a live event (see `serve`); the strings librdkafka returns for it
        // live as long as the event and are copied before it is destroyed.
        match unsafe { rdsys::rd_kafka_event_type(event) } {
            rdsys::RD_KAFKA_EVENT_OAUTHBEARER_TOKEN_REFRESH => {
                let config = unsafe { rdsys::rd_kafka_event_config_string(event) };
                let config = (!config.is_null()).then(|| {
                    unsafe { CStr::from_ptr(config) }
                        .to_string_lossy()
                        .into_owned()
                });
                self.refresh_token(config.as_deref());
            }
            rdsys::RD_KAFKA_EVENT_ERROR => {
                let code: RDKafkaErrorCode = unsafe { rdsys::rd_kafka_event_error(event) }.into();
                let reason = unsafe { CStr::from_ptr(rdsys::rd_kafka_event_error_string(event)) }
                    .to_string_lossy()
                    .into_owned();
                self.context.error(KafkaError::Global(code), reason.trim());
            }
            rdsys::RD_KAFKA_EVENT_LOG => {
                let (mut facility, mut message, mut level) = (ptr::null(), ptr::null(), 0);
                let found = unsafe {
                    rdsys::rd_kafka_event_log(event, &mut facility, &mut message, &mut level)
                };
                if found == 0 && !message.is_null() {
                    let message = unsafe { CStr::from_ptr(message) }.to_string_lossy();
                    if level <= 4 {
                        tracing::warn!(target: "librdkafka", "admin client: {message}");
                    } else {
                        tracing::debug!(target: "librdkafka", "admin client: {message}");
                    }
                }
            }
            _ => {}
        }
    }

    /// Answers a token refresh with the context's token, or with the failure.
    fn refresh_token(&self, config: Option<&str>) {
        let token = self
            .context
            .generate_oauth_token(config)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                let token = CString::new(t.token).map_err(|e| e.to_string())?;
                let principal = CString::new(t.principal_name).map_err(|e| e.to_string())?;
                Ok((token, principal, t.lifetime_ms))
            });
        let rk = self.client.as_ptr();
        match token {
            Ok((token, principal, lifetime_ms)) => {
                let mut error = [0 as std::ffi::c_char; 512];
                // SAFETY: `rk` is live; the strings and the error buffer outlive the call.
                let code = unsafe {
                    rdsys::rd_kafka_oauthbearer_set_token(
                        rk,
                        token.as_ptr(),
                        lifetime_ms,
                        principal.as_ptr(),
                        ptr::null_mut(),
                        0,
                        error.as_mut_ptr(),
                        error.len(),
                    )
                };
                if code != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    // SAFETY: librdkafka wrote a NUL-terminated message into `error`.
                    unsafe { rdsys::rd_kafka_oauthbearer_set_token_failure(rk, error.as_ptr()) };
                }
            }
            Err(message) => {
                let message = CString::new(message.replace('\0', " "))
                    .unwrap_or_else(|_| c"the token provider failed".to_owned());
                // SAFETY: `rk` is live; the message outlives the call.
                unsafe { rdsys::rd_kafka_oauthbearer_set_token_failure(rk, message.as_ptr()) };
            }
        }
    }
}
