//! The states of a client ([`State`]), as Kafka Streams names them, and what each of its
//! stream threads runs ([`ThreadMetadata`]).

use std::collections::BTreeSet;

use crate::ids::TaskId;

/// What one stream thread of this client runs, as
/// [`KafkaStreams::metadata_for_local_threads`](crate::KafkaStreams::metadata_for_local_threads)
/// reports it (Kafka Streams' `ThreadMetadata`, with the task ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMetadata {
    /// `<client id>-StreamThread-<n>`, as in the logs and metrics.
    pub thread_name: String,
    /// The tasks assigned to the thread as active: running, restoring or waiting to start.
    pub active_tasks: BTreeSet<TaskId>,
    /// The standby tasks the thread keeps (`num.standby.replicas`).
    pub standby_tasks: BTreeSet<TaskId>,
}

/// The states of a [`KafkaStreams`](crate::KafkaStreams) client, as in Kafka Streams.
///
/// ```text
/// Created -> Rebalancing <-> Running
///    any  -> PendingShutdown -> NotRunning      (close)
/// Rebalancing | Running -> PendingError -> Error (a thread failed)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Built, not started.
    Created,
    /// Some thread is joining the group or taking over partitions.
    Rebalancing,
    /// Every thread has its partitions and processes.
    Running,
    /// `close` was called; threads are finishing.
    PendingShutdown,
    /// Closed.
    NotRunning,
    /// A thread failed; the others are stopping.
    PendingError,
    /// Stopped after a failure; `close` returns the error.
    Error,
}

impl State {
    /// True while threads are running (`Rebalancing` or `Running`).
    pub fn is_running_or_rebalancing(self) -> bool {
        matches!(self, State::Rebalancing | State::Running)
    }

    /// Liveness as an orchestrator probes it: true unless the client failed or stopped.
    pub fn is_alive(self) -> bool {
        !matches!(self, State::PendingError | State::Error | State::NotRunning)
    }

    /// Readiness as an orchestrator probes it: true while `Running` (every assigned task
    /// restored and processing).
    pub fn is_ready(self) -> bool {
        self == State::Running
    }

    pub(crate) fn may_become(self, next: State) -> bool {
        use State::*;
        matches!(
            (self, next),
            (Created, Rebalancing | PendingShutdown | PendingError)
                | (Rebalancing, Running | PendingShutdown | PendingError)
                | (Running, Rebalancing | PendingShutdown | PendingError)
                | (PendingShutdown, NotRunning)
                | (PendingError, Error)
        )
    }
}
