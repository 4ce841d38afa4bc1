//! What a stream thread shares with its consumer's callbacks, which run inside the
//! consumer's poll: the rebalance events for the thread to apply, the offsets waiting to be
//! committed, the producer (the revocation callback commits with it), and the end offsets of
//! the input partitions (for the lag metric).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::client_failure::ClientFailure;
use super::producer::{PendingOffsets, StreamsProducer};

/// A partition assignment change, as the stream thread applies it after `poll` returns.
#[derive(Debug)]
pub(crate) enum RebalanceEvent {
    Assigned(Vec<(String, i32)>),
    Revoked {
        partitions: Vec<(String, i32)>,
        lost: bool,
        /// Whether what the thread processed was committed before the partitions went (the
        /// thread then commits its stores too; otherwise it closes the tasks dirty).
        committed: bool,
        /// Whether only the partitions that move are revoked (`group.protocol=consumer`);
        /// under the eager protocol every partition is, and the tasks that come back resume.
        incremental: bool,
    },
}

/// State the consumer's rebalance callbacks share with the stream thread.
#[derive(Default)]
pub(crate) struct ThreadShared {
    /// Offsets of records fully processed and not yet committed, per partition.
    pub pending_offsets: PendingOffsets,
    events: Mutex<Vec<RebalanceEvent>>,
    /// True while `events` is not empty: the thread checks this after each poll of the
    /// consumer's queue instead of taking the lock.
    has_events: AtomicBool,
    /// The thread's producer; `None` once the thread failed (nothing may commit then).
    pub producer: Mutex<Option<Arc<StreamsProducer>>>,
    /// `processing.guarantee=exactly_once_v2`.
    pub exactly_once: bool,
    /// The end offset of each assigned input partition (the last stable offset under
    /// exactly-once), from the consumer's statistics, for the lag metric.
    pub end_offsets: Mutex<HashMap<(String, i32), i64>>,
    /// The broker each assigned input partition is fetched from when it is not the leader
    /// (a closer replica, KIP-392), -1 when it is the leader; from the consumer's statistics.
    pub read_replicas: Mutex<HashMap<(String, i32), i32>>,
    /// The first security failure of the thread's clients (see [`ClientFailure`]).
    pub failure: ClientFailure,
}

impl ThreadShared {
    /// The shared state of a thread whose producer is `producer`.
    pub(crate) fn new(
        exactly_once: bool,
        producer: Arc<StreamsProducer>,
        failure: ClientFailure,
    ) -> Self {
        ThreadShared {
            exactly_once,
            failure,
            producer: Mutex::new(Some(producer)),
            ..ThreadShared::default()
        }
    }

    /// Records a rebalance event for the thread to apply.
    pub(crate) fn push_event(&self, event: RebalanceEvent) {
        let mut events = self.events.lock();
        events.push(event);
        self.has_events.store(true, Ordering::Release);
    }

    /// The rebalance events not yet applied, in order.
    pub(crate) fn take_events(&self) -> Vec<RebalanceEvent> {
        if !self.has_events.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut events = self.events.lock();
        self.has_events.store(false, Ordering::Release);
        std::mem::take(&mut *events)
    }

    /// The thread's producer, unless the thread failed.
    pub(crate) fn producer(&self) -> Option<Arc<StreamsProducer>> {
        self.producer.lock().clone()
    }

    /// Records `end` as `topic`-`partition`'s end offset for the lag metric. End offsets
    /// only grow: the statistics of a paused partition are stale while the thread asks the
    /// broker for newer ones, and must not replace them.
    pub(crate) fn raise_end_offset(&self, topic: &str, partition: i32, end: i64) {
        let mut ends = self.end_offsets.lock();
        let known = ends.entry((topic.to_owned(), partition)).or_insert(end);
        *known = (*known).max(end);
    }
}
