//! The producer's delivery reports: the failures the next commit hands to the production
//! error handler, the highest acknowledged offset of each changelog partition (stores commit
//! with it), and the producer's counters for the metrics.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rdkafka::Message;
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryResult, ProducerContext};

use super::client_failure::ClientFailure;
use super::kafka_errors::{is_purged_delivery, is_retriable_delivery};
use crate::config::{SharedTokenProvider, refresh_token};
use crate::metrics::ThreadMetrics;

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

/// The producer's context: keeps delivery failures until the next commit looks at them, and
/// the highest acknowledged offset of each changelog partition.
#[derive(Default)]
pub(crate) struct ProducerCallbacks {
    /// Where deliveries, failures and retries are counted (none for probe producers).
    metrics: Option<Arc<ThreadMetrics>>,
    /// Request retries in the last statistics, to add only what is new.
    retries_seen: AtomicU64,
    failures: Mutex<Vec<DeliveryFailure>>,
    changelogs: HashSet<String>,
    changelog_offsets: Mutex<HashMap<(String, i32), i64>>,
    failure: ClientFailure,
    oauth: SharedTokenProvider,
}

impl ProducerCallbacks {
    /// Callbacks that track the acknowledged offsets of `changelogs` and count into
    /// `metrics`.
    pub(crate) fn new(
        changelogs: HashSet<String>,
        metrics: Option<Arc<ThreadMetrics>>,
        failure: ClientFailure,
        oauth: SharedTokenProvider,
    ) -> Self {
        ProducerCallbacks {
            oauth,
            changelogs,
            metrics,
            failure,
            ..ProducerCallbacks::default()
        }
    }

    /// The highest acknowledged offset of each changelog partition written so far.
    pub(crate) fn changelog_offsets(&self) -> HashMap<(String, i32), i64> {
        self.changelog_offsets.lock().clone()
    }

    /// Takes the delivery failures reported since the last call.
    pub(crate) fn take_failures(&self) -> Vec<DeliveryFailure> {
        std::mem::take(&mut *self.failures.lock())
    }

    /// Whether any delivery failed since the failures were last taken.
    pub(crate) fn has_failures(&self) -> bool {
        !self.failures.lock().is_empty()
    }

    /// Forgets the failures (an aborted transaction took their records with it).
    pub(crate) fn clear_failures(&self) {
        self.failures.lock().clear();
    }
}

impl ClientContext for ProducerCallbacks {
    // librdkafka asks only when OAUTHBEARER has no token source of its own.
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        refresh_token(&self.oauth, config)
    }

    /// Records security failures for the thread; logs every error as rdkafka's default does.
    fn error(&self, error: KafkaError, reason: &str) {
        self.failure.record_error(&error, &reason);
        tracing::error!(error = %error, reason, "kafka producer error");
    }

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
            // A sink the principal may not write to: fatal, as in Kafka Streams.
            if let Some(code) = error.rdkafka_error_code() {
                self.failure.record(code, error, Some(message.topic()));
            }
            let failure = DeliveryFailure {
                topic: message.topic().to_owned(),
                partition: message.partition(),
                error: error.to_string(),
                purged: is_purged_delivery(error.rdkafka_error_code()),
                retriable: is_retriable_delivery(error.rdkafka_error_code()),
            };
            if failure.purged {
                // Purged by an abort: the transaction's records are dropped on purpose.
                tracing::debug!(topic = %failure.topic, partition = failure.partition, "delivery purged by an abort");
            } else {
                tracing::warn!(topic = %failure.topic, partition = failure.partition, error = %failure.error, "delivery failed");
            }
            self.failures.lock().push(failure);
        }
    }
}
