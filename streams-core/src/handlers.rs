//! What happens to a record that cannot be deserialized, processed or produced.
//!
//! Each failure goes to a handler that returns an [`ErrorAction`]:
//! - [`ErrorAction::Fail`] stops the application: the client enters the error state, the
//!   record's offset is not committed, and [`KafkaStreams::close`](crate::KafkaStreams::close)
//!   returns the error;
//! - [`ErrorAction::Continue`] skips the record, logs a warning and counts it in the
//!   `dropped-records` metric;
//! - [`ErrorAction::DeadLetter`] skips the record and writes its original key and value
//!   bytes, with its original headers plus headers naming the error and the source topic,
//!   partition and offset, to the topic set by `errors.dead.letter.queue.topic.name`.
//!
//! The built-in handlers are chosen by configuration (`log-and-fail`, `log-and-continue`,
//! `dead-letter-queue`); custom ones implement [`ErrorHandler`].

use std::fmt;

use crate::ids::TaskId;
use crate::record::RawRecord;

/// The decision of an error handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// Stop the application with an error.
    Fail,
    /// Skip the record, with a log line and the `dropped-records` metric.
    Continue,
    /// Skip the record and send it to the dead-letter topic.
    DeadLetter,
}

/// Which stage failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStage {
    /// Turning the source record's bytes into typed values.
    Deserialization,
    /// A processor (or punctuation) returned an error.
    Processing,
    /// Serializing an output record, or the broker refusing it.
    Production,
}

impl fmt::Display for ErrorStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorStage::Deserialization => "deserialization",
            ErrorStage::Processing => "processing",
            ErrorStage::Production => "production",
        })
    }
}

/// Everything a handler knows about a failure.
#[derive(Debug)]
pub struct ErrorContext<'a> {
    /// The stage that failed.
    pub stage: ErrorStage,
    /// The node where it failed (source, processor or sink name).
    pub node: &'a str,
    /// The task, when the failure belongs to one (delivery failures are per thread).
    pub task_id: Option<TaskId>,
    /// The source record being processed, when there is one (not during punctuation).
    pub source: Option<&'a RawRecord>,
    /// The error, as text.
    pub message: &'a str,
}

/// Decides what to do with a record that failed.
pub trait ErrorHandler: Send + Sync + 'static {
    /// Returns the action to take.
    fn handle(&self, ctx: &ErrorContext<'_>) -> ErrorAction;
}

/// Logs the error and fails (the default for every stage).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAndFail;

impl ErrorHandler for LogAndFail {
    fn handle(&self, ctx: &ErrorContext<'_>) -> ErrorAction {
        tracing::error!(stage = %ctx.stage, node = ctx.node, task = ?ctx.task_id, position = ?position(ctx), "{}: failing", ctx.message);
        ErrorAction::Fail
    }
}

/// Logs the error and skips the record.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAndContinue;

impl ErrorHandler for LogAndContinue {
    fn handle(&self, ctx: &ErrorContext<'_>) -> ErrorAction {
        tracing::warn!(stage = %ctx.stage, node = ctx.node, task = ?ctx.task_id, position = ?position(ctx), "{}: skipping the record", ctx.message);
        ErrorAction::Continue
    }
}

/// Logs the error and sends the record to the dead-letter topic.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendToDeadLetterQueue;

impl ErrorHandler for SendToDeadLetterQueue {
    fn handle(&self, ctx: &ErrorContext<'_>) -> ErrorAction {
        tracing::warn!(stage = %ctx.stage, node = ctx.node, task = ?ctx.task_id, position = ?position(ctx), "{}: sending the record to the dead-letter topic", ctx.message);
        ErrorAction::DeadLetter
    }
}

fn position(ctx: &ErrorContext<'_>) -> Option<String> {
    ctx.source
        .map(|r| format!("{}-{}@{}", r.topic, r.partition, r.offset))
}

/// Header names on dead-letter records (the names Kafka Streams uses, KIP-1034).
pub mod dlq_headers {
    /// The error's type.
    pub const EXCEPTION: &str = "__streams.errors.exception";
    /// The error's message.
    pub const MESSAGE: &str = "__streams.errors.message";
    /// The error's cause chain (Rust has no stack trace to give).
    pub const STACKTRACE: &str = "__streams.errors.stacktrace";
    /// Source topic.
    pub const TOPIC: &str = "__streams.errors.topic";
    /// Source partition, as decimal text.
    pub const PARTITION: &str = "__streams.errors.partition";
    /// Source offset, as decimal text.
    pub const OFFSET: &str = "__streams.errors.offset";
    /// Set when the record was too large for the producer and lost its value (and perhaps
    /// its key) under `errors.dead.letter.queue.oversized=truncate`: what was dropped.
    pub const TRUNCATED: &str = "__streams.errors.truncated";
}
