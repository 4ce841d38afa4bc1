//! The stream thread's producer (Kafka Streams' `StreamsProducer`): sends, flushes and, under
//! exactly-once, the transaction (begun with the first record after a commit, committed with
//! the consumed offsets, aborted after a failure); and the commit of consumed offsets, with the
//! offsets of processed records waiting for it ([`PendingOffsets`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, ConsumerGroupMetadata,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::client_failure::{ClientFailure, authorization_error};
use super::client_supplier::create_producer;
use super::deliveries::ProducerCallbacks;
use super::kafka_errors::{
    commit_error, is_retriable_commit_error, is_retriable_coordinator_error, producer_fatal_error,
    transaction_error,
};
use crate::config::{ClientKind, StreamsConfig};
use crate::error::{Result, StreamsError};
use crate::metrics::ThreadMetrics;
use crate::topology::Topology;

/// How long a transactional call (offsets, commit, abort, init) may block.
const TRANSACTION_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a flush before a commit may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the stream thread waits for `send_offsets_to_transaction`, which librdkafka
/// (2.12, and 2.14 still) may block in forever, whatever its timeout: its request to the
/// group coordinator is driven only by broker state changes, and when the coordinator it
/// cached was a broker that died and was dropped from the metadata, none may come
/// (librdkafka issues 5456 and 5511). The call runs on a thread of its own; past this wait
/// the producer is given up (see [`StreamsProducer::send_offsets`]). A call that works
/// returns in milliseconds, or within a second or two while a new coordinator loads the
/// group's offsets; every second waited here is a second of no commits after a broker dies
/// (it was 35 s: the 3-broker standby failover took 50 to 80 s, most of it here), and giving
/// up early costs an aborted transaction.
const SEND_OFFSETS_WAIT: Duration = Duration::from_secs(10);

/// Offsets of records fully processed and not yet committed, per input partition; shared by
/// the stream thread and its rebalance listener, which commits them on revocation.
#[derive(Default)]
pub(crate) struct PendingOffsets(Mutex<HashMap<(String, i32), i64>>);

impl PendingOffsets {
    /// Records `offset` as the next one to commit for `topic`-`partition`.
    pub(crate) fn extend(&self, offsets: impl IntoIterator<Item = (Arc<str>, i32, i64)>) {
        let mut map = self.0.lock();
        for (topic, partition, offset) in offsets {
            map.insert((topic.to_string(), partition), offset);
        }
    }

    /// A copy of the offsets waiting to be committed.
    pub(crate) fn snapshot(&self) -> Vec<((String, i32), i64)> {
        self.0.lock().iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Forgets the offsets of `committed` that no newer offset replaced meanwhile.
    fn remove_committed(&self, committed: Vec<((String, i32), i64)>) {
        let mut map = self.0.lock();
        for (key, offset) in committed {
            if map.get(&key) == Some(&offset) {
                map.remove(&key);
            }
        }
    }

    /// Keeps only the partitions `keep` says yes to.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&(String, i32)) -> bool) {
        self.0.lock().retain(|key, _| keep(key));
    }

    /// Forgets every offset: nothing processed so far may be committed.
    pub(crate) fn clear(&self) {
        self.0.lock().clear();
    }
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

/// What a stream thread's producer is made from, kept to make a new one after a failure.
#[derive(Clone)]
pub(crate) struct ProducerSpec {
    pub config: StreamsConfig,
    pub client_id: String,
    /// The changelog topics, whose acknowledged offsets the producer tracks.
    pub changelogs: HashSet<String>,
    /// Under exactly-once: `<application.id>-<process id>-<thread index>`.
    pub transactional_id: Option<String>,
    pub metrics: Option<Arc<ThreadMetrics>>,
    /// Where the producer's security failures are recorded (the thread's latch).
    pub failure: ClientFailure,
}

impl ProducerSpec {
    /// The producer of stream thread `index` (from 0) named `thread`: under exactly-once
    /// transactional, with id `<application.id>-<process id>-<index + 1>`.
    pub(crate) fn for_thread(
        config: &StreamsConfig,
        thread: &str,
        topology: &Topology,
        process_id: &str,
        index: usize,
        metrics: Arc<ThreadMetrics>,
        failure: ClientFailure,
    ) -> Self {
        ProducerSpec {
            config: config.clone(),
            client_id: format!("{thread}-producer"),
            changelogs: topology
                .changelog_topics(config.application_id())
                .into_iter()
                .map(|(topic, _, _)| topic)
                .collect(),
            transactional_id: config
                .exactly_once()
                .then(|| format!("{}-{process_id}-{}", config.application_id(), index + 1)),
            metrics: Some(metrics),
            failure,
        }
    }
}

/// A stream thread's producer. It wraps a `BaseProducer` polled by the stream thread itself
/// (see [`Self::serve_deliveries`]), not a `ThreadedProducer`: delivery reports, and the
/// freeing of librdkafka's message copies, then happen on the thread that allocated them,
/// which avoids contention on the allocator between two threads and one thread per client on
/// small machines.
pub(crate) struct StreamsProducer {
    /// Shared only with a `send_offsets_to_transaction` call still blocked after the stream
    /// thread gave up waiting (see [`Self::send_offsets`]).
    client: Arc<BaseProducer<ProducerCallbacks>>,
    transactional_id: Option<String>,
    /// Under exactly-once: a transaction is open.
    in_transaction: AtomicBool,
    /// Under exactly-once: this producer failed in a way only a new producer mends (fenced,
    /// or an abort that failed).
    broken: AtomicBool,
    /// Records were handed to librdkafka since the last send-now.
    unsent: AtomicBool,
    /// Whether [`Self::send_now_if_idle`] sends: unless the user set the linger.
    send_when_idle: bool,
}

/// How long [`StreamsProducer::send_now_if_idle`] holds librdkafka's flush open, in
/// milliseconds: long enough for the broker threads, woken by the flush, to see it.
const SEND_NOW_WAIT_MS: i32 = 2;

impl StreamsProducer {
    /// Creates the producer; under exactly-once its transactions are initialised (fencing any
    /// earlier producer with the same transactional id and aborting its open transaction).
    pub(crate) fn new(spec: &ProducerSpec) -> Result<Self> {
        let client: BaseProducer<ProducerCallbacks> = create_producer(
            &spec.config,
            &spec.client_id,
            spec.transactional_id.as_deref(),
            ProducerCallbacks::new(
                spec.changelogs.clone(),
                spec.metrics.clone(),
                spec.failure.clone(),
                spec.config.oauth_token_provider(),
            ),
        )?;
        // Serves what librdkafka queued at creation, the first SASL/OAUTHBEARER token
        // request included, before init_transactions blocks on a connection that needs it.
        client.poll(Duration::ZERO);
        if let Some(id) = &spec.transactional_id {
            init_transactions(&client, id)?;
        }
        Ok(StreamsProducer {
            client: Arc::new(client),
            transactional_id: spec.transactional_id.clone(),
            in_transaction: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            unsent: AtomicBool::new(false),
            send_when_idle: !spec
                .config
                .client_settings(ClientKind::Producer)
                .any(|(k, _)| k == "linger.ms" || k == "queue.buffering.max.ms"),
        })
    }

    /// The adaptive half of the batching policy, called when the stream thread has run out of
    /// input and is about to wait for more: what librdkafka holds for its `linger.ms` is sent
    /// now, since waiting would only add latency. Under load the input never runs out, so
    /// batches still fill for the whole linger. Nothing happens when nothing was sent since
    /// the last call, or when the user set `linger.ms` (theirs wins).
    ///
    /// librdkafka's broker threads ignore the linger while a flush is under way, and a flush
    /// wakes them. rdkafka's `flush` calls `rd_kafka_flush` with no wait and then polls, so
    /// the flush is over before a broker thread looks (most batches still waited their whole
    /// linger: p50 19 ms, p99 94 ms at 5,000 records/s); this calls `rd_kafka_flush` itself
    /// with `SEND_NOW_WAIT_MS`. With delivery reports as events (rdkafka's producers) the
    /// flush waits that long whatever happens; the reports stay queued for
    /// [`Self::serve_deliveries`].
    #[allow(unsafe_code)]
    pub(crate) fn send_now_if_idle(&self) {
        if self.send_when_idle && !self.is_broken() && self.unsent.swap(false, Ordering::AcqRel) {
            // SAFETY: the client pointer is valid while `self.client` lives. A timeout only
            // means records are still in flight: they are sent.
            unsafe {
                rdkafka::bindings::rd_kafka_flush(
                    self.client.client().native_ptr(),
                    SEND_NOW_WAIT_MS,
                );
            }
        }
    }

    /// Whether the producer is transactional (`processing.guarantee=exactly_once_v2`).
    pub(crate) fn exactly_once(&self) -> bool {
        self.transactional_id.is_some()
    }

    /// The producer's delivery reports.
    pub(crate) fn deliveries(&self) -> &ProducerCallbacks {
        self.client.context()
    }

    /// Whether the producer must be replaced (fenced, or an abort failed).
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Under exactly-once, begins a transaction unless one is open.
    fn begin_transaction_if_none(&self) -> Result<()> {
        if self.exactly_once() && !self.in_transaction.load(Ordering::Acquire) {
            self.client
                .begin_transaction()
                .map_err(|e| transaction_error("beginning a transaction", e))?;
            self.in_transaction.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Hands a record to librdkafka (in the transaction under exactly-once, begun with the
    /// first record after a commit); waits for room while the local queue is full.
    pub(crate) fn send(&self, record: BaseRecord<'_, [u8], [u8], ()>) -> Result<(), SendError> {
        self.begin_transaction_if_none()
            .map_err(SendError::Streams)?;
        let mut pending = record;
        loop {
            match self.client.send(pending) {
                Ok(()) => {
                    self.unsent.store(true, Ordering::Release);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    pending = back;
                    self.wait_for_room();
                }
                Err((e, _)) => return Err(SendError::Kafka(e)),
            }
        }
    }

    /// Serves the delivery reports that are ready, without waiting.
    pub(crate) fn serve_deliveries(&self) {
        // Each call handles at most one delivery-report event (one produce response).
        for _ in 0..4 {
            self.client.poll(Duration::ZERO);
        }
    }

    /// Makes room in the producer's full local queue: serves the delivery reports that are
    /// ready (their messages leave the queue when served) and, when none was, sleeps a
    /// millisecond while the broker catches up. Not `poll` with a timeout: rdkafka turns the
    /// remaining time into whole milliseconds for librdkafka and polls until the deadline, so
    /// its last millisecond (all of a 1 ms poll) is a busy loop of clock reads, which took
    /// the CPU the broker needed to drain the queue.
    fn wait_for_room(&self) {
        let queued = self.client.in_flight_count();
        self.serve_deliveries();
        if self.client.in_flight_count() >= queued {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The partition count of `topic`, from the producer's metadata.
    pub(crate) fn partition_count(&self, topic: &str) -> Result<i32> {
        let md = super::kafka_errors::with_retries(Duration::from_secs(30), || {
            self.client
                .client()
                .fetch_metadata(Some(topic), Duration::from_secs(10))
        })
        .map_err(|e| StreamsError::kafka(format!("fetching metadata of `{topic}`"), e))?;
        Ok(md
            .topics()
            .first()
            .map_or(0, |t| t.partitions().len() as i32))
    }

    /// The producer's fatal error, if it has one.
    pub(crate) fn fatal_error(&self) -> Option<StreamsError> {
        let (code, message) = self.client.client().fatal_error()?;
        Some(producer_fatal_error(code, &message))
    }

    /// Commits what was processed: at-least-once ([`Self::commit_offsets`]) or exactly-once
    /// ([`Self::commit_transaction`]).
    pub(crate) fn commit<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        pending: &PendingOffsets,
        retry_for: Duration,
        check: impl FnOnce() -> Result<()>,
    ) -> Result<CommitOutcome> {
        if self.exactly_once() {
            self.commit_transaction(consumer, pending, check)
                .map(|()| CommitOutcome::Committed)
        } else {
            self.commit_offsets(consumer, pending, retry_for, check)
        }
    }

    /// At-least-once: flushes the producer and commits the pending offsets. The flush comes
    /// first: an offset is committed only once the output of its record is acknowledged.
    ///
    /// `check` runs after the flush and before the commit: it looks at delivery failures and
    /// may refuse the commit. A commit that fails in a way that passes is retried for
    /// `retry_for`, then deferred ([`CommitOutcome::Deferred`]); a flush that times out
    /// defers at once.
    fn commit_offsets<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        pending: &PendingOffsets,
        retry_for: Duration,
        check: impl FnOnce() -> Result<()>,
    ) -> Result<CommitOutcome> {
        let offsets = pending.snapshot();
        match self.client.flush(FLUSH_TIMEOUT) {
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
        check()?;
        if offsets.is_empty() {
            return Ok(CommitOutcome::Committed);
        }
        let tpl = offset_list(&offsets, "building the commit")?;
        let deadline = Instant::now() + retry_for;
        loop {
            match consumer.commit(&tpl, CommitMode::Sync) {
                Ok(()) => break,
                Err(e) if is_retriable_commit_error(&e) => {
                    if Instant::now() >= deadline {
                        return Ok(CommitOutcome::Deferred(e));
                    }
                    tracing::debug!(error = %e, "offset commit failed in a way that passes; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(commit_error(e)),
            }
        }
        pending.remove_committed(offsets);
        Ok(CommitOutcome::Committed)
    }

    /// Exactly-once: the open transaction (begun now if only offsets are to commit) gets the
    /// pending offsets with the consumer's group metadata, and commits. The flush comes
    /// first, then `check` looks at delivery failures. On an error the transaction is left
    /// for the caller to abort ([`Self::abort`]).
    fn commit_transaction<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        pending: &PendingOffsets,
        check: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let offsets = pending.snapshot();
        if offsets.is_empty() && !self.in_transaction.load(Ordering::Acquire) {
            return Ok(());
        }
        self.begin_transaction_if_none()?;
        self.client
            .flush(FLUSH_TIMEOUT)
            .map_err(|e| StreamsError::TransactionAborted {
                message: format!("flushing the producer before the commit failed: {e}"),
            })?;
        check()?;
        if !offsets.is_empty() {
            let tpl = offset_list(&offsets, "building the offsets of a transaction")?;
            let group = consumer
                .group_metadata()
                .ok_or_else(|| StreamsError::TaskMigrated {
                    task: "*".into(),
                    message: "the consumer has no group metadata (not in the group)".into(),
                })?;
            self.send_offsets(tpl, group)?;
        }
        self.client
            .commit_transaction(TRANSACTION_CALL_TIMEOUT)
            .map_err(|e| transaction_error("committing the transaction", e))?;
        self.in_transaction.store(false, Ordering::Release);
        pending.remove_committed(offsets);
        Ok(())
    }

    /// Adds the consumed offsets to the open transaction: `send_offsets_to_transaction`, run
    /// on a thread of its own so that the stream thread waits at most [`SEND_OFFSETS_WAIT`]
    /// for it. A call still blocked then keeps the client alive on its thread until it
    /// returns (when a broker connection of that client next changes state: an idle
    /// connection the broker closes, at the latest); this producer is marked broken, and the
    /// error aborts the transaction the way any failed commit does: the thread replaces the
    /// producer, whose initialisation with the same transactional id fences the blocked one
    /// and aborts its transaction, and rewinds its tasks to the last commit.
    fn send_offsets(
        &self,
        offsets: TopicPartitionList,
        group: ConsumerGroupMetadata,
    ) -> Result<()> {
        let client = self.client.clone();
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("kstreams-offsets".into())
            .spawn(move || {
                let result =
                    client.send_offsets_to_transaction(&offsets, &group, TRANSACTION_CALL_TIMEOUT);
                if let Err(late) = answer.send(result) {
                    tracing::info!(result = ?late.0, "a send_offsets_to_transaction call given up on earlier returned");
                }
            })
            .map_err(|e| StreamsError::io("spawning the thread that adds offsets to a transaction", e))?;
        match answered.recv_timeout(SEND_OFFSETS_WAIT) {
            Ok(result) => result.map_err(|e| {
                transaction_error("adding the consumed offsets to the transaction", e)
            }),
            Err(_) => {
                self.broken.store(true, Ordering::Release);
                Err(StreamsError::TransactionAborted {
                    message: format!(
                        "adding the consumed offsets to the transaction did not return within \
                         {SEND_OFFSETS_WAIT:?} (librdkafka waits for a group coordinator that \
                         left the cluster); the producer is replaced"
                    ),
                })
            }
        }
    }

    /// Aborts the open transaction, if any, and forgets what it carried: the pending offsets
    /// and the delivery failures. When the abort itself fails, the producer is marked broken
    /// for the thread to replace; a producer already broken is not asked (a call of it may
    /// still be blocked, and librdkafka refuses a second one).
    pub(crate) fn abort(&self, pending: &PendingOffsets, thread: &str) {
        pending.clear();
        let aborting = self.in_transaction.swap(false, Ordering::AcqRel) && !self.is_broken();
        if aborting {
            self.purge_in_flight();
        }
        self.deliveries().clear_failures();
        if aborting && let Err(e) = self.client.abort_transaction(TRANSACTION_CALL_TIMEOUT) {
            tracing::warn!(%thread, error = %e, "aborting the transaction failed; the producer will be replaced");
            self.broken.store(true, Ordering::Release);
        }
    }
}

impl StreamsProducer {
    /// Drops the transaction's records still queued or in flight and serves their delivery
    /// reports: librdkafka's `abort_transaction` waits until no message is outstanding,
    /// delivery reports not yet served included, and on a thread that stopped serving them
    /// (one that failed) it would wait out its whole timeout.
    fn purge_in_flight(&self) {
        self.client
            .purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while self.client.in_flight_count() > 0 && std::time::Instant::now() < deadline {
            self.client.poll(Duration::from_millis(10));
        }
    }
}

/// Why [`StreamsProducer::send`] failed.
pub(crate) enum SendError {
    /// The transaction could not begin.
    Streams(StreamsError),
    /// librdkafka refused the record.
    Kafka(KafkaError),
}

/// Initialises a transactional producer. A transaction coordinator moving (a broker
/// restarting) fails the call with a retriable error; librdkafka allows calling it again. Up
/// to four attempts.
fn init_transactions(client: &BaseProducer<ProducerCallbacks>, id: &str) -> Result<()> {
    let mut attempt = 1;
    loop {
        match client.init_transactions(TRANSACTION_CALL_TIMEOUT) {
            Ok(()) => return Ok(()),
            Err(KafkaError::Transaction(e)) if e.is_retriable() && attempt < 4 => {
                tracing::warn!(transactional_id = %id, error = %e, attempt, "initialising transactions failed; retrying");
                attempt += 1;
            }
            Err(e) if is_retriable_coordinator_error(&e) && attempt < 4 => {
                tracing::warn!(transactional_id = %id, error = %e, attempt, "initialising transactions failed; retrying");
                attempt += 1;
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e)
                if e.rdkafka_error_code()
                    == Some(RDKafkaErrorCode::TransactionalIdAuthorizationFailed) =>
            {
                return Err(authorization_error(
                    "write",
                    format!("transactional id {id}"),
                    e,
                    "Write and Describe on the transactional ids prefixed with the \
                     application.id (exactly_once_v2 needs them)",
                ));
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

/// The offsets as a topic-partition list.
fn offset_list(offsets: &[((String, i32), i64)], context: &str) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for ((topic, partition), offset) in offsets {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .map_err(|e| StreamsError::kafka(context, e))?;
    }
    Ok(tpl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn producer(settings: &[(&str, &str)]) -> StreamsProducer {
        let config = settings
            .iter()
            .fold(StreamsConfig::new("app", "127.0.0.1:1"), |c, (k, v)| {
                c.set(k, v).expect("a valid setting")
            });
        StreamsProducer::new(&ProducerSpec {
            config,
            client_id: "p".into(),
            changelogs: HashSet::new(),
            transactional_id: None,
            metrics: None,
            failure: ClientFailure::default(),
        })
        .expect("a producer needs no broker to be created")
    }

    #[test]
    fn the_idle_send_is_ours_unless_the_user_set_the_linger() {
        assert!(producer(&[]).send_when_idle);
        assert!(producer(&[("producer.batch.size", "16384")]).send_when_idle);
        for key in ["linger.ms", "producer.linger.ms", "queue.buffering.max.ms"] {
            assert!(!producer(&[(key, "20")]).send_when_idle, "{key}");
        }
    }
}
