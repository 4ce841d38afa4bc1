//! The one place where rdkafka's errors are sorted: which pass with time (and are retried),
//! which mean the thread's tasks migrated, which abort a transaction and which are fatal, and
//! how each becomes a [`StreamsError`].

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};

use crate::error::{Result, StreamsError};

/// Runs a metadata or offsets request, retrying for up to `timeout` while it fails in a way
/// that passes: a broker going away or coming back, a leader or coordinator moving.
pub(crate) fn with_retries<T>(
    timeout: Duration,
    mut request: impl FnMut() -> KafkaResult<T>,
) -> KafkaResult<T> {
    let deadline = Instant::now() + timeout;
    loop {
        match request() {
            Err(e) if Instant::now() < deadline && is_retriable_request_error(&e) => {
                tracing::debug!(error = %e, "a metadata or offsets request failed; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            result => return result,
        }
    }
}

/// Whether a metadata or offsets request failed in a way that passes.
fn is_retriable_request_error(e: &KafkaError) -> bool {
    matches!(
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
                // A restarting broker's partitions can be missing from metadata for a
                // moment; callers ask about partitions that were checked to exist at
                // start-up.
                | RDKafkaErrorCode::UnknownPartition
                | RDKafkaErrorCode::UnknownTopicOrPartition
        )
    )
}

/// The low and high watermarks of `topic`-`partition` (the high one is the last stable
/// offset for a `read_committed` client), retried through broker restarts for up to a
/// minute. After a failure the topic's metadata is fetched again first: librdkafka answers
/// "unknown partition" from its cache, which a restarting broker's partial metadata can leave
/// without the partition until the next periodic refresh.
pub(crate) fn watermarks<C: ConsumerContext>(
    client: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64)> {
    let mut failed = false;
    with_retries(Duration::from_secs(60), || {
        if std::mem::replace(&mut failed, true) {
            let _ = client.fetch_metadata(Some(topic), Duration::from_secs(10));
        }
        client.fetch_watermarks(topic, partition, Duration::from_secs(10))
    })
    .map_err(|e| StreamsError::kafka(format!("reading the end of {topic}-{partition}"), e))
}

/// Whether `e` says the transaction coordinator is moving or busy, which passes.
pub(crate) fn is_retriable_coordinator_error(e: &KafkaError) -> bool {
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

/// Whether an offset commit failed in a way that passes: the coordinator moving, loading or
/// unknown, or a request that timed out. Offsets are absolute and checked against the
/// group's generation, so sending them again is harmless.
pub(crate) fn is_retriable_commit_error(e: &KafkaError) -> bool {
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

/// An offset commit the group coordinator refused: a stale membership means the tasks
/// migrated ([`StreamsError::TaskMigrated`]); anything else is a Kafka error.
pub(crate) fn commit_error(e: KafkaError) -> StreamsError {
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

/// A transactional producer's fatal error, classified as [`transaction_error`] does (a
/// fenced producer means the thread's tasks migrated).
pub(crate) fn producer_fatal_error(code: RDKafkaErrorCode, message: &str) -> StreamsError {
    let message = format!("the transactional producer failed: {message} ({code:?})");
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
    }
}

/// Whether a send under exactly-once failed because the transactional producer is fenced,
/// fatally failed or in a state that refuses sends.
pub(crate) fn is_transactional_send_error(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::Fenced | RDKafkaErrorCode::Fatal | RDKafkaErrorCode::State)
    )
}

/// Whether a delivery failed because an aborted transaction (ours, or librdkafka's after a
/// fatal error) purged the record from the producer's queues.
pub(crate) fn is_purged_delivery(code: Option<RDKafkaErrorCode>) -> bool {
    matches!(
        code,
        Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
    )
}

/// Whether a delivery failed in a way that passes with time (a timeout, a leader moving, too
/// few in-sync replicas).
pub(crate) fn is_retriable_delivery(code: Option<RDKafkaErrorCode>) -> bool {
    matches!(
        code,
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
    )
}

/// Whether a consumer error is fatal (the thread stops); librdkafka retries the others
/// itself.
pub(crate) fn is_fatal_consumer_error(e: &KafkaError) -> bool {
    e.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal)
}
