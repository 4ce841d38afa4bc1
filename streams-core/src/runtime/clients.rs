//! The Kafka clients of a stream thread, and the one place rdkafka errors are translated.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Header as KHeader, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Message, TopicPartitionList};

use crate::collector::{OutRecord, RecordCollector};
use crate::config::{ClientKind, StreamsConfig};
use crate::error::{Result, StreamsError};
use crate::record::Headers;

/// A delivery the broker refused.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryFailure {
    pub topic: String,
    pub partition: i32,
    pub error: String,
    /// The record was purged from the producer's queues by an aborted transaction (ours, or
    /// librdkafka's after a fatal error), not refused by the broker.
    pub purged: bool,
    /// The failure passes with time (a timeout, a leader moving, too few in-sync replicas):
    /// under exactly-once the transaction aborts and the records are processed again.
    pub retriable: bool,
}

/// Keeps delivery failures until the next commit looks at them, and the highest acknowledged
/// offset of each changelog partition, which checkpoints record.
#[derive(Default)]
pub(crate) struct ProducerCallbacks {
    /// Where deliveries, failures and retries are counted (none for probe producers).
    metrics: Option<Arc<crate::metrics::ThreadMetrics>>,
    /// Request retries in the last statistics, to add only what is new.
    retries_seen: std::sync::atomic::AtomicU64,
    failures: Mutex<Vec<DeliveryFailure>>,
    changelogs: std::collections::HashSet<String>,
    changelog_offsets: Mutex<HashMap<(String, i32), i64>>,
}

impl ClientContext for ProducerCallbacks {
    /// Counts the producer's request retries (every `statistics.interval.ms`).
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        let retries: u64 = statistics.brokers.values().map(|b| b.txretries).sum();
        let seen = self.retries_seen.swap(retries, Ordering::Relaxed);
        metrics
            .producer_retries
            .fetch_add(retries.saturating_sub(seen), Ordering::Relaxed);
    }
}

impl ProducerContext for ProducerCallbacks {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Some(m) = &self.metrics {
            let counter = if result.is_ok() {
                &m.producer_records_sent
            } else {
                &m.producer_record_errors
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(message) = result
            && !self.changelogs.is_empty()
            && self.changelogs.contains(message.topic())
        {
            let mut offsets = self.changelog_offsets.lock();
            let entry = offsets
                .entry((message.topic().to_owned(), message.partition()))
                .or_insert(-1);
            *entry = (*entry).max(message.offset());
        }
        if let Err((error, message)) = result {
            let failure = DeliveryFailure {
                topic: message.topic().to_owned(),
                partition: message.partition(),
                error: error.to_string(),
                purged: matches!(
                    error.rdkafka_error_code(),
                    Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
                ),
                retriable: matches!(
                    error.rdkafka_error_code(),
                    Some(
                        RDKafkaErrorCode::MessageTimedOut
                            | RDKafkaErrorCode::RequestTimedOut
                            | RDKafkaErrorCode::NotEnoughReplicas
                            | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
                            | RDKafkaErrorCode::NotLeaderForPartition
                            | RDKafkaErrorCode::LeaderNotAvailable
                            | RDKafkaErrorCode::NetworkException
                            | RDKafkaErrorCode::BrokerTransportFailure
                            | RDKafkaErrorCode::AllBrokersDown
                            | RDKafkaErrorCode::OutOfOrderSequenceNumber
                    )
                ),
            };
            tracing::warn!(topic = %failure.topic, partition = failure.partition, error = %failure.error, "delivery failed");
            self.failures.lock().push(failure);
        }
    }
}

/// The stream thread's producer. It is a `BaseProducer` polled by the stream thread itself
/// (see [`serve_deliveries`]), not a `ThreadedProducer`: delivery reports, and the freeing of
/// librdkafka's message copies, then happen on the thread that allocated them, which avoids
/// contention on the allocator between two threads and one thread per client on small machines.
pub(crate) type StreamsProducer = BaseProducer<ProducerCallbacks>;

/// Serves the delivery reports that are ready, without waiting.
pub(crate) fn serve_deliveries(producer: &StreamsProducer) {
    // Each call handles at most one delivery-report event (one produce response).
    for _ in 0..4 {
        producer.poll(Duration::ZERO);
    }
}

/// Makes room in the producer's full local queue: serves the delivery reports that are ready
/// (their messages leave the queue when served) and, when none was, sleeps a millisecond
/// while the broker catches up. Not `poll` with a timeout: rdkafka turns the remaining time
/// into whole milliseconds for librdkafka and polls until the deadline, so its last
/// millisecond (all of a 1 ms poll) is a busy loop of clock reads, which took the CPU the
/// broker needed to drain the queue.
fn wait_for_room(producer: &StreamsProducer) {
    let queued = producer.in_flight_count();
    serve_deliveries(producer);
    if producer.in_flight_count() >= queued {
        std::thread::sleep(Duration::from_millis(1));
    }
}

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
    },
}

/// State the consumer's rebalance callbacks share with the stream thread.
#[derive(Default)]
pub(crate) struct ThreadShared {
    /// Offsets of records fully processed and not yet committed, per partition.
    pub pending_offsets: Mutex<HashMap<(String, i32), i64>>,
    pub(crate) events: Mutex<Vec<RebalanceEvent>>,
    /// True while `events` is not empty: the thread checks this after each poll of the
    /// consumer's queue instead of taking the lock.
    pub(crate) has_events: AtomicBool,
    pub producer: Mutex<Option<Arc<StreamsProducer>>>,
    pub flush_timeout: Duration,
    /// `processing.guarantee=exactly_once_v2`.
    pub exactly_once: bool,
    /// Under exactly-once: a transaction is open on the producer.
    pub in_transaction: AtomicBool,
    /// The end offset of each assigned input partition (the last stable offset under
    /// exactly-once), from the consumer's statistics, for the lag metric.
    pub end_offsets: Mutex<HashMap<(String, i32), i64>>,
    /// Under exactly-once: the producer failed in a way only a new producer mends (fenced,
    /// or an abort that failed).
    pub producer_broken: AtomicBool,
}

impl ThreadShared {
    /// A copy of the offsets waiting to be committed.
    fn pending_snapshot(&self) -> Vec<((String, i32), i64)> {
        let map = self.pending_offsets.lock();
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Records a rebalance event for the thread to apply.
    fn push_event(&self, event: RebalanceEvent) {
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
}

/// The consumer's context: on revocation it commits what was processed, so that the next
/// owner of the partitions starts right after it.
pub(crate) struct ConsumerCallbacks {
    pub shared: Arc<ThreadShared>,
    pub thread: String,
    /// Source topics with their own offset reset policy.
    pub resets: HashMap<String, crate::topology::OffsetReset>,
}

impl ConsumerCallbacks {
    /// Sets the start offset of assigned partitions of topics with their own reset policy
    /// that have no committed offset, in the assignment itself (a seek after assigning races
    /// with the fetcher's start and with librdkafka's own offset reset).
    fn apply_offset_resets(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let mut wanted = TopicPartitionList::new();
        for e in tpl.elements() {
            if self.resets.contains_key(e.topic()) {
                wanted.add_partition(e.topic(), e.partition());
            }
        }
        if wanted.count() == 0 {
            return;
        }
        let committed = match with_retries(Duration::from_secs(30), || {
            consumer.committed_offsets(wanted.clone(), Duration::from_secs(10))
        }) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(thread = %self.thread, error = %e, "reading committed offsets for the sources' offset resets failed; the consumer's auto.offset.reset applies");
                return;
            }
        };
        for e in committed.elements() {
            if matches!(e.offset(), rdkafka::Offset::Offset(_)) {
                continue;
            }
            let offset = match self.resets.get(e.topic()) {
                Some(crate::topology::OffsetReset::Latest) => rdkafka::Offset::End,
                Some(crate::topology::OffsetReset::Earliest) => rdkafka::Offset::Beginning,
                None => continue,
            };
            tracing::info!(thread = %self.thread, topic = e.topic(), partition = e.partition(), ?offset, "no committed offset: starting where the source's offset reset says");
            if let Err(err) = tpl.set_partition_offset(e.topic(), e.partition(), offset) {
                tracing::warn!(thread = %self.thread, error = %err, "setting a start offset failed");
            }
        }
    }
}

/// Records `end` as `topic`-`partition`'s end offset for the lag metric. End offsets only
/// grow: the statistics of a paused partition are stale while the thread asks the broker for
/// newer ones, and must not replace them.
pub(crate) fn raise_end_offset(
    ends: &mut HashMap<(String, i32), i64>,
    topic: &str,
    partition: i32,
    end: i64,
) {
    let known = ends.entry((topic.to_owned(), partition)).or_insert(end);
    *known = (*known).max(end);
}

impl ClientContext for ConsumerCallbacks {
    /// Keeps each partition's end offset for the lag metric (every `statistics.interval.ms`).
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut ends = self.shared.end_offsets.lock();
        for (name, topic) in &statistics.topics {
            for (partition, p) in &topic.partitions {
                // -1 is librdkafka's "unknown" (also the partition "-1" it reports).
                let end = if self.shared.exactly_once {
                    p.ls_offset
                } else {
                    p.hi_offset
                };
                if *partition >= 0 && end >= 0 {
                    raise_end_offset(&mut ends, name, *partition, end);
                }
            }
        }
    }
}

impl ConsumerContext for ConsumerCallbacks {
    /// The default rebalance (eager protocol: assign the list, or unassign everything), with
    /// the sources' offset resets set in the assignment first.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        use rdkafka::types::RDKafkaRespErr;
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.apply_offset_resets(consumer, tpl);
                let tpl: &TopicPartitionList = tpl;
                self.pre_rebalance(consumer, &Rebalance::Assign(tpl));
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!(thread = %self.thread, error = %e, "assigning partitions failed");
                }
                self.post_rebalance(consumer, &Rebalance::Assign(tpl));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let tpl: &TopicPartitionList = tpl;
                self.pre_rebalance(consumer, &Rebalance::Revoke(tpl));
                if let Err(e) = consumer.unassign() {
                    tracing::error!(thread = %self.thread, error = %e, "unassigning partitions failed");
                }
                self.post_rebalance(consumer, &Rebalance::Revoke(tpl));
            }
            other => {
                let code: rdkafka::types::RDKafkaErrorCode = other.into();
                let rebalance = Rebalance::Error(rdkafka::error::KafkaError::Rebalance(code));
                self.pre_rebalance(consumer, &rebalance);
                self.post_rebalance(consumer, &rebalance);
            }
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let lost = consumer.assignment_lost();
            let partitions = tpl_partitions(tpl);
            tracing::info!(thread = %self.thread, ?partitions, lost, "partitions revoked");
            // Commit only if every output so far was delivered; failures stay for the thread's
            // own commit to hand to the production error handler.
            let delivered = || {
                let producer = self.shared.producer.lock();
                let failed = producer
                    .as_ref()
                    .is_some_and(|p| !p.context().failures.lock().is_empty());
                if failed {
                    Err(StreamsError::Production {
                        topic: String::new(),
                        message: "undelivered records".into(),
                    })
                } else {
                    Ok(())
                }
            };
            let mut committed = !lost;
            if self.shared.exactly_once {
                committed = !lost
                    && {
                        match commit_transaction(consumer, &self.shared, delivered) {
                            Ok(()) => true,
                            Err(e) => {
                                tracing::warn!(thread = %self.thread, error = %e, "commit on revocation failed; aborting the transaction");
                                false
                            }
                        }
                    };
                if !committed {
                    abort_transaction(&self.shared, &self.thread);
                }
            } else if !lost {
                // The revoked tasks' stores commit only if their offsets did.
                committed = match commit_pending(
                    consumer,
                    &self.shared,
                    REVOCATION_COMMIT_RETRY_TIME,
                    delivered,
                ) {
                    Ok(CommitOutcome::Committed) => true,
                    Ok(CommitOutcome::Deferred(e)) => {
                        tracing::warn!(thread = %self.thread, error = %e, "commit on revocation failed; records may be processed again");
                        false
                    }
                    Err(e) => {
                        tracing::warn!(thread = %self.thread, error = %e, "commit on revocation failed; records may be processed again");
                        false
                    }
                };
            }
            // Whatever happened, offsets of revoked partitions are no longer ours to commit.
            self.shared
                .pending_offsets
                .lock()
                .retain(|key, _| !partitions.contains(key));
            self.shared.push_event(RebalanceEvent::Revoked {
                partitions,
                lost,
                committed,
            });
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions = tpl_partitions(tpl);
                tracing::info!(thread = %self.thread, ?partitions, "partitions assigned");
                self.shared.push_event(RebalanceEvent::Assigned(partitions));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => {
                tracing::warn!(thread = %self.thread, error = %e, "rebalance error")
            }
        }
    }
}

pub(crate) type StreamsConsumer = BaseConsumer<ConsumerCallbacks>;

fn tpl_partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

/// What an at-least-once commit achieved.
#[derive(Debug)]
pub(crate) enum CommitOutcome {
    Committed,
    /// Nothing committed, for a reason that passes (the group coordinator moving, loading or
    /// unreachable, a broker not answering in time): the offsets stay pending for the next
    /// commit, and the stores must not commit either.
    Deferred(KafkaError),
}

/// How long an at-least-once commit retries an error that passes before it defers to the
/// next commit interval.
pub(crate) const COMMIT_RETRY_TIME: Duration = Duration::from_secs(10);
/// The same, for the commit on revocation, which holds up the whole group's rebalance.
const REVOCATION_COMMIT_RETRY_TIME: Duration = Duration::from_secs(5);

/// Whether an offset commit failed in a way that passes: the coordinator moving, loading or
/// unknown, or a request that timed out. Offsets are absolute and checked against the
/// group's generation, so sending them again is harmless.
fn is_retriable_commit_error(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::CoordinatorNotAvailable
                | RDKafkaErrorCode::NotCoordinator
                | RDKafkaErrorCode::WaitingForCoordinator
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::TimedOutQueue
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
        )
    )
}

/// Flushes the producer and commits the pending offsets. The producer flush comes first:
/// an offset is committed only once the output of its record is acknowledged.
///
/// `check` runs after the flush and before the commit: it looks at delivery failures and may
/// refuse the commit. A commit that fails in a way that passes is retried for `retry_for`,
/// then deferred ([`CommitOutcome::Deferred`]); a flush that times out defers at once.
pub(crate) fn commit_pending(
    consumer: &StreamsConsumer,
    shared: &ThreadShared,
    retry_for: Duration,
    check: impl FnOnce() -> Result<()>,
) -> Result<CommitOutcome> {
    let pending = shared.pending_snapshot();
    if let Some(producer) = shared.producer.lock().as_ref() {
        match producer.flush(shared.flush_timeout) {
            Ok(()) => {}
            // Deliveries still in flight (a broker frozen or moving): commit nothing now.
            Err(e @ KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {
                return Ok(CommitOutcome::Deferred(e));
            }
            Err(e) => {
                return Err(StreamsError::kafka(
                    "flushing the producer before a commit",
                    e,
                ));
            }
        }
    }
    check()?;
    if pending.is_empty() {
        return Ok(CommitOutcome::Committed);
    }
    let mut tpl = TopicPartitionList::with_capacity(pending.len());
    for ((topic, partition), offset) in &pending {
        tpl.add_partition_offset(topic, *partition, rdkafka::Offset::Offset(*offset))
            .map_err(|e| StreamsError::kafka("building the commit", e))?;
    }
    let deadline = std::time::Instant::now() + retry_for;
    loop {
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => break,
            Err(e) if is_retriable_commit_error(&e) => {
                if std::time::Instant::now() >= deadline {
                    return Ok(CommitOutcome::Deferred(e));
                }
                tracing::debug!(error = %e, "offset commit failed in a way that passes; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(classify_commit_error(e)),
        }
    }
    let mut map = shared.pending_offsets.lock();
    for (key, offset) in pending {
        if map.get(&key) == Some(&offset) {
            map.remove(&key);
        }
    }
    Ok(CommitOutcome::Committed)
}

/// How long a transactional call (offsets, commit, abort, init) may block.
const TRANSACTION_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Exactly-once commit: the open transaction (begun now if only offsets are to commit) gets
/// the pending offsets with the consumer's group metadata, and commits. The producer flush
/// comes first, then `check` looks at delivery failures. On an error the transaction is
/// left for the caller to abort ([`abort_transaction`]).
pub(crate) fn commit_transaction(
    consumer: &StreamsConsumer,
    shared: &ThreadShared,
    check: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let pending = shared.pending_snapshot();
    if pending.is_empty() && !shared.in_transaction.load(Ordering::Acquire) {
        return Ok(());
    }
    let producer = shared
        .producer
        .lock()
        .clone()
        .ok_or_else(|| StreamsError::IllegalState("the thread has no producer".into()))?;
    if !shared.in_transaction.load(Ordering::Acquire) {
        producer
            .begin_transaction()
            .map_err(|e| transaction_error("beginning a transaction", e))?;
        shared.in_transaction.store(true, Ordering::Release);
    }
    producer
        .flush(shared.flush_timeout)
        .map_err(|e| StreamsError::TransactionAborted {
            message: format!("flushing the producer before the commit failed: {e}"),
        })?;
    check()?;
    if !pending.is_empty() {
        let mut tpl = TopicPartitionList::with_capacity(pending.len());
        for ((topic, partition), offset) in &pending {
            tpl.add_partition_offset(topic, *partition, rdkafka::Offset::Offset(*offset))
                .map_err(|e| StreamsError::kafka("building the offsets of a transaction", e))?;
        }
        let group = consumer
            .group_metadata()
            .ok_or_else(|| StreamsError::TaskMigrated {
                task: "*".into(),
                message: "the consumer has no group metadata (not in the group)".into(),
            })?;
        producer
            .send_offsets_to_transaction(&tpl, &group, TRANSACTION_CALL_TIMEOUT)
            .map_err(|e| transaction_error("adding the consumed offsets to the transaction", e))?;
    }
    producer
        .commit_transaction(TRANSACTION_CALL_TIMEOUT)
        .map_err(|e| transaction_error("committing the transaction", e))?;
    shared.in_transaction.store(false, Ordering::Release);
    let mut map = shared.pending_offsets.lock();
    for (key, offset) in pending {
        if map.get(&key) == Some(&offset) {
            map.remove(&key);
        }
    }
    Ok(())
}

/// Aborts the open transaction, if any, and forgets what it carried: pending offsets and
/// delivery failures. When the abort itself fails, the producer is marked broken for the
/// thread to replace.
pub(crate) fn abort_transaction(shared: &ThreadShared, thread: &str) {
    shared.pending_offsets.lock().clear();
    let producer = shared.producer.lock().clone();
    let Some(producer) = producer else { return };
    producer.context().failures.lock().clear();
    if shared.in_transaction.swap(false, Ordering::AcqRel)
        && let Err(e) = producer.abort_transaction(TRANSACTION_CALL_TIMEOUT)
    {
        tracing::warn!(%thread, error = %e, "aborting the transaction failed; the producer will be replaced");
        shared.producer_broken.store(true, Ordering::Release);
    }
}

/// Sorts a failed transactional call: a fenced producer or a stale group membership means
/// the tasks belong to someone else now ([`StreamsError::TaskMigrated`]); an abortable or
/// retriable error (a timeout included) aborts the transaction and rewinds
/// ([`StreamsError::TransactionAborted`]); anything else is fatal.
pub(crate) fn transaction_error(context: &str, e: KafkaError) -> StreamsError {
    let migrated = matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::TransactionCoordinatorFenced
                | RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::FencedInstanceId
                | RDKafkaErrorCode::RebalanceInProgress
        )
    );
    let recoverable = match &e {
        KafkaError::Transaction(t) => !t.is_fatal() && (t.txn_requires_abort() || t.is_retriable()),
        _ => true,
    };
    if migrated {
        StreamsError::TaskMigrated {
            task: "*".into(),
            message: format!("{context}: {e}"),
        }
    } else if recoverable {
        StreamsError::TransactionAborted {
            message: format!("{context}: {e}"),
        }
    } else {
        StreamsError::kafka(context, e)
    }
}

/// The producer's fatal error, if it has one, classified as [`transaction_error`] does (a
/// fenced producer means the thread's tasks migrated).
pub(crate) fn producer_fatal_error(producer: &StreamsProducer) -> Option<StreamsError> {
    let (code, message) = producer.client().fatal_error()?;
    let message = format!("the transactional producer failed: {message} ({code:?})");
    Some(
        if matches!(
            code,
            RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::TransactionCoordinatorFenced
        ) {
            StreamsError::TaskMigrated {
                task: "*".into(),
                message,
            }
        } else {
            StreamsError::IllegalState(message)
        },
    )
}

/// Runs a metadata or offsets request, retrying for up to `timeout` while it fails in a way
/// that passes: a broker going away or coming back, a leader or coordinator moving.
pub(crate) fn with_retries<T>(
    timeout: Duration,
    mut request: impl FnMut() -> KafkaResult<T>,
) -> KafkaResult<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match request() {
            Err(e)
                if std::time::Instant::now() < deadline
                    && matches!(
                        e.rdkafka_error_code(),
                        Some(
                            RDKafkaErrorCode::DestroyBroker
                                | RDKafkaErrorCode::BrokerTransportFailure
                                | RDKafkaErrorCode::AllBrokersDown
                                | RDKafkaErrorCode::OperationTimedOut
                                | RDKafkaErrorCode::LeaderNotAvailable
                                | RDKafkaErrorCode::NotLeaderForPartition
                                | RDKafkaErrorCode::RequestTimedOut
                                | RDKafkaErrorCode::NetworkException
                                | RDKafkaErrorCode::CoordinatorLoadInProgress
                                | RDKafkaErrorCode::CoordinatorNotAvailable
                                | RDKafkaErrorCode::NotCoordinator
                                // A restarting broker's partitions can be missing from
                                // metadata for a moment; callers ask about partitions
                                // that were checked to exist at start-up.
                                | RDKafkaErrorCode::UnknownPartition
                                | RDKafkaErrorCode::UnknownTopicOrPartition
                        )
                    ) =>
            {
                tracing::debug!(error = %e, "a metadata or offsets request failed; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            result => return result,
        }
    }
}

/// Whether `e` says the transaction coordinator is moving or busy, which passes.
fn is_retriable_coordinator_error(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotCoordinator
                | RDKafkaErrorCode::CoordinatorNotAvailable
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::ConcurrentTransactions
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::RequestTimedOut
        )
    )
}

/// The low and high watermarks of `topic`-`partition` (the high one is the last stable
/// offset for a `read_committed` client), retried through broker restarts for up to a
/// minute. After a failure the topic's metadata is fetched again first: librdkafka answers
/// "unknown partition" from its cache, which a restarting broker's partial metadata can leave
/// without the partition until the next periodic refresh.
pub(crate) fn watermarks(client: &BaseConsumer, topic: &str, partition: i32) -> Result<(i64, i64)> {
    let mut failed = false;
    with_retries(Duration::from_secs(60), || {
        if std::mem::replace(&mut failed, true) {
            let _ = client.fetch_metadata(Some(topic), Duration::from_secs(10));
        }
        client.fetch_watermarks(topic, partition, Duration::from_secs(10))
    })
    .map_err(|e| StreamsError::kafka(format!("reading the end of {topic}-{partition}"), e))
}

fn classify_commit_error(e: KafkaError) -> StreamsError {
    match e.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::RebalanceInProgress
            | RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::UnknownMemberId
            | RDKafkaErrorCode::FencedInstanceId,
        ) => StreamsError::TaskMigrated {
            task: "*".into(),
            message: format!("commit refused by the group coordinator: {e}"),
        },
        _ => StreamsError::kafka("committing offsets", e),
    }
}

/// Sets the pass-through settings of `kind` on top of `base`.
fn client_config(config: &StreamsConfig, kind: ClientKind, base: &[(&str, &str)]) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", config.bootstrap_servers());
    for (k, v) in base {
        cc.set(*k, *v);
    }
    for (k, v) in config.client_settings(kind) {
        cc.set(k, v);
    }
    cc.set_log_level(RDKafkaLogLevel::Warning);
    cc
}

/// librdkafka stops fetching a partition for `fetch.queue.backoff.ms` (default 1000 ms) once
/// its local queue holds `queued.min.messages`. Reading a topic with a backlog, the fetcher
/// fills the queue faster than the thread drains it, so with the default the consumer idles
/// for a second after every 100,000 records; 10 ms keeps it fed. Users can still override it
/// with `consumer.fetch.queue.backoff.ms`.
const FETCH_QUEUE_BACKOFF: (&str, &str) = ("fetch.queue.backoff.ms", "10");

pub(crate) fn create_consumer(
    config: &StreamsConfig,
    client_id: &str,
    callbacks: ConsumerCallbacks,
) -> Result<StreamsConsumer> {
    client_config(
        config,
        ClientKind::Consumer,
        &[
            ("client.id", client_id),
            ("auto.offset.reset", "earliest"),
            ("isolation.level", isolation(config)),
            ("partition.assignment.strategy", "range"),
            ("enable.partition.eof", "false"),
            FETCH_QUEUE_BACKOFF,
            // End offsets for the lag metric; `consumer.statistics.interval.ms` overrides.
            ("statistics.interval.ms", "5000"),
        ],
    )
    .set("group.id", config.application_id())
    .set("enable.auto.commit", "false")
    .set("enable.auto.offset.store", "false")
    .create_with_context(callbacks)
    .map_err(|e| {
        StreamsError::config(
            "consumer",
            format!("the consumer settings were refused: {e}"),
        )
    })
}

/// The restore consumer: reads changelogs by assignment. librdkafka's `assign` needs a
/// `group.id`, so it gets `<application.id>-restore-consumer`, but it never subscribes or
/// commits, so that group never has members or offsets. It reads what the main consumer
/// reads: under at-least-once, read_committed would stop at open transactions short of the
/// end offsets; under exactly-once, state must only ever hold committed changes.
pub(crate) fn create_restore_consumer(
    config: &StreamsConfig,
    client_id: &str,
) -> Result<BaseConsumer> {
    assignment_consumer(config, client_id, isolation(config))
}

/// A client that only reads high watermarks (`read_uncommitted`): beside the restore
/// consumer's last stable offsets, it shows open transactions on changelog partitions.
pub(crate) fn create_watermark_client(
    config: &StreamsConfig,
    client_id: &str,
) -> Result<BaseConsumer> {
    assignment_consumer(config, client_id, "read_uncommitted")
}

/// A consumer that reads by assignment, in the restore consumer's group (see
/// [`create_restore_consumer`]), with the given `isolation.level`.
fn assignment_consumer(
    config: &StreamsConfig,
    client_id: &str,
    isolation_level: &str,
) -> Result<BaseConsumer> {
    client_config(
        config,
        ClientKind::Consumer,
        &[
            ("client.id", client_id),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "false"),
            ("isolation.level", isolation_level),
            FETCH_QUEUE_BACKOFF,
        ],
    )
    .set(
        "group.id",
        format!("{}-restore-consumer", config.application_id()),
    )
    .set("enable.auto.commit", "false")
    .create()
    .map_err(|e| {
        StreamsError::config(
            "consumer",
            format!("the restore consumer settings were refused: {e}"),
        )
    })
}

/// The consumers' `isolation.level` for the processing guarantee.
fn isolation(config: &StreamsConfig) -> &'static str {
    if config.exactly_once() {
        "read_committed"
    } else {
        "read_uncommitted"
    }
}

/// Creates a stream thread's producer; under exactly-once it is transactional with id
/// `transactional_id` and its transactions are initialised (fencing any earlier producer
/// with the same id and aborting its open transaction).
pub(crate) fn create_producer(
    config: &StreamsConfig,
    client_id: &str,
    changelogs: std::collections::HashSet<String>,
    transactional_id: Option<&str>,
    metrics: Option<Arc<crate::metrics::ThreadMetrics>>,
) -> Result<StreamsProducer> {
    let timeout = config.transaction_timeout_ms().to_string();
    let mut base = vec![
        ("client.id", client_id),
        ("linger.ms", "100"),
        // The Java client's default partitioner: keys land where Java producers put them.
        ("partitioner", "murmur2_random"),
        ("enable.idempotence", "true"),
        // Request retries for the metrics; `producer.statistics.interval.ms` overrides.
        ("statistics.interval.ms", "5000"),
    ];
    if let Some(id) = transactional_id {
        base.push(("transactional.id", id));
        base.push(("transaction.timeout.ms", &timeout));
        // Under exactly-once the commit interval is short: waiting 100 ms to fill batches
        // would hold every commit up.
        base.push(("linger.ms", "5"));
    }
    let producer: StreamsProducer = client_config(config, ClientKind::Producer, &base)
        .create_with_context(ProducerCallbacks {
            changelogs,
            metrics,
            ..ProducerCallbacks::default()
        })
        .map_err(|e| {
            StreamsError::config(
                "producer",
                format!("the producer settings were refused: {e}"),
            )
        })?;
    if let Some(id) = transactional_id {
        // A transaction coordinator moving (a broker restarting) fails the call with a
        // retriable error; librdkafka allows calling it again. Up to four attempts.
        let mut attempt = 1;
        loop {
            match producer.init_transactions(TRANSACTION_CALL_TIMEOUT) {
                Ok(()) => break,
                Err(KafkaError::Transaction(e)) if e.is_retriable() && attempt < 4 => {
                    tracing::warn!(transactional_id = %id, error = %e, attempt, "initialising transactions failed; retrying");
                    attempt += 1;
                }
                Err(e) if is_retriable_coordinator_error(&e) && attempt < 4 => {
                    tracing::warn!(transactional_id = %id, error = %e, attempt, "initialising transactions failed; retrying");
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => {
                    return Err(StreamsError::kafka(
                        format!("initialising transactions for transactional.id {id}"),
                        e,
                    ));
                }
            }
        }
    }
    Ok(producer)
}

pub(crate) fn admin_config(config: &StreamsConfig) -> ClientConfig {
    client_config(config, ClientKind::Admin, &[])
}

/// Sends task output through the thread's producer.
pub(crate) struct KafkaCollector {
    pub producer: Arc<StreamsProducer>,
    pub partition_counts: HashMap<String, i32>,
    pub shared: Arc<ThreadShared>,
}

impl RecordCollector for KafkaCollector {
    fn send(&mut self, record: OutRecord<'_>) -> Result<()> {
        // Under exactly-once a transaction begins with the first record after a commit.
        if self.shared.exactly_once && !self.shared.in_transaction.load(Ordering::Acquire) {
            self.producer
                .begin_transaction()
                .map_err(|e| transaction_error("beginning a transaction", e))?;
            self.shared.in_transaction.store(true, Ordering::Release);
        }
        let mut headers = None;
        if !record.headers.is_empty() {
            headers = Some(to_kafka_headers(record.headers));
        }
        let mut base: BaseRecord<'_, [u8], [u8], ()> =
            BaseRecord::to(record.topic).timestamp(record.timestamp);
        if let Some(k) = record.key {
            base = base.key(k);
        }
        if let Some(v) = record.value {
            base = base.payload(v);
        }
        if let Some(p) = record.partition {
            base = base.partition(p);
        }
        if let Some(h) = headers {
            base = base.headers(h);
        }
        let mut pending = base;
        loop {
            match self.producer.send(pending) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    pending = back;
                    wait_for_room(&self.producer);
                }
                Err((e, _))
                    if self.shared.exactly_once
                        && e.rdkafka_error_code().is_some_and(|c| {
                            matches!(
                                c,
                                RDKafkaErrorCode::Fenced
                                    | RDKafkaErrorCode::Fatal
                                    | RDKafkaErrorCode::State
                            )
                        }) =>
                {
                    if let Some(fatal) = producer_fatal_error(&self.producer) {
                        return Err(fatal);
                    }
                    return Err(transaction_error("sending a record in the transaction", e));
                }
                Err((e, _)) => {
                    return Err(StreamsError::Production {
                        topic: record.topic.to_owned(),
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    fn partition_count(&mut self, topic: &str) -> Result<i32> {
        if let Some(&n) = self.partition_counts.get(topic) {
            return Ok(n);
        }
        let md = with_retries(Duration::from_secs(30), || {
            self.producer
                .client()
                .fetch_metadata(Some(topic), Duration::from_secs(10))
        })
        .map_err(|e| StreamsError::kafka(format!("fetching metadata of `{topic}`"), e))?;
        let n = md
            .topics()
            .first()
            .map_or(0, |t| t.partitions().len() as i32);
        if n == 0 {
            return Err(StreamsError::Production {
                topic: topic.to_owned(),
                message: "the topic does not exist".into(),
            });
        }
        self.partition_counts.insert(topic.to_owned(), n);
        Ok(n)
    }
}

impl KafkaCollector {
    /// The highest acknowledged offset of each changelog partition written so far.
    pub(crate) fn changelog_offsets(&self) -> HashMap<(String, i32), i64> {
        self.producer.context().changelog_offsets.lock().clone()
    }

    /// Takes the delivery failures reported since the last call.
    pub(crate) fn take_failures(&self) -> Vec<DeliveryFailure> {
        std::mem::take(&mut *self.producer.context().failures.lock())
    }
}

pub(crate) fn to_kafka_headers(headers: &Headers) -> OwnedHeaders {
    let mut out = OwnedHeaders::new_with_capacity(headers.len());
    for h in headers {
        out = out.insert(KHeader {
            key: &h.key,
            value: h.value.as_deref(),
        });
    }
    out
}
