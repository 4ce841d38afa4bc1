//! The main consumer's context, Kafka Streams' `StreamsRebalanceListener`: on revocation it
//! commits what was processed (so the next owner of the partitions starts right after it),
//! on assignment it sets the sources' own offset resets, and either way it leaves a
//! [`RebalanceEvent`] for the stream thread; its statistics keep the end offsets for the lag.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, RebalanceProtocol};
use rdkafka::{Offset, TopicPartitionList};

use super::kafka_errors::with_retries;
use super::producer::CommitOutcome;
use super::shared::{RebalanceEvent, ThreadShared};
use crate::error::StreamsError;
use crate::topology::OffsetReset;

/// The stream thread's consumer.
pub(crate) type StreamsConsumer = BaseConsumer<ConsumerCallbacks>;

/// How long the at-least-once commit on revocation retries an error that passes: it holds up
/// the whole group's rebalance.
const REVOCATION_COMMIT_RETRY_TIME: Duration = Duration::from_secs(5);

/// The consumer's context.
pub(crate) struct ConsumerCallbacks {
    pub shared: Arc<ThreadShared>,
    pub thread: String,
    /// Source topics with their own offset reset policy.
    pub resets: HashMap<String, OffsetReset>,
    /// The application's SASL/OAUTHBEARER token provider, if any.
    pub oauth: crate::config::SharedTokenProvider,
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
            if matches!(e.offset(), Offset::Offset(_)) {
                continue;
            }
            let offset = match self.resets.get(e.topic()) {
                Some(OffsetReset::Latest) => Offset::End,
                Some(OffsetReset::Earliest) => Offset::Beginning,
                None => continue,
            };
            tracing::info!(thread = %self.thread, topic = e.topic(), partition = e.partition(), ?offset, "no committed offset: starting where the source's offset reset says");
            if let Err(err) = tpl.set_partition_offset(e.topic(), e.partition(), offset) {
                tracing::warn!(thread = %self.thread, error = %err, "setting a start offset failed");
            }
        }
    }

    /// Commits what was processed before `partitions` go, if every output so far was
    /// delivered (failures stay for the thread's own commit to hand to the production error
    /// handler). Returns whether it committed; under exactly-once a failed commit aborts.
    fn commit_on_revocation(&self, consumer: &BaseConsumer<Self>, lost: bool) -> bool {
        let Some(producer) = self.shared.producer() else {
            // The thread failed: nothing may be committed.
            return false;
        };
        let delivered = || {
            if producer.deliveries().has_failures() {
                Err(StreamsError::Production {
                    topic: String::new(),
                    message: "undelivered records".into(),
                })
            } else {
                Ok(())
            }
        };
        let pending = &self.shared.pending_offsets;
        if producer.exactly_once() {
            let committed = !lost
                && match producer.commit(consumer, pending, REVOCATION_COMMIT_RETRY_TIME, delivered)
                {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::warn!(thread = %self.thread, error = %e, "commit on revocation failed; aborting the transaction");
                        false
                    }
                };
            if !committed {
                producer.abort(pending, &self.thread);
            }
            return committed;
        }
        if lost {
            return false;
        }
        // The revoked tasks' stores commit only if their offsets did.
        match producer.commit(consumer, pending, REVOCATION_COMMIT_RETRY_TIME, delivered) {
            Ok(CommitOutcome::Committed) => true,
            Ok(CommitOutcome::Deferred(e)) => {
                tracing::warn!(thread = %self.thread, error = %e, "commit on revocation failed; records may be processed again");
                false
            }
            Err(e) => {
                tracing::warn!(thread = %self.thread, error = %e, "commit on revocation failed; records may be processed again");
                false
            }
        }
    }
}

impl ClientContext for ConsumerCallbacks {
    // librdkafka asks only when OAUTHBEARER has no token source of its own.
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        crate::config::refresh_token(&self.oauth, config)
    }

    /// Records security failures for the thread; logs every error as rdkafka's default does.
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.shared.failure.record_error(&error, &reason);
        tracing::error!(thread = %self.thread, error = %error, reason, "kafka consumer error");
    }

    /// Keeps each partition's end offset for the lag metric and the replica it is fetched
    /// from (every `statistics.interval.ms`).
    fn stats(&self, statistics: rdkafka::Statistics) {
        for (name, topic) in &statistics.topics {
            for (partition, p) in &topic.partitions {
                // -1 is librdkafka's "unknown" (also the partition "-1" it reports).
                let end = if self.shared.exactly_once {
                    p.ls_offset
                } else {
                    p.hi_offset
                };
                if *partition >= 0 && end >= 0 {
                    self.shared.raise_end_offset(name, *partition, end);
                }
                if *partition >= 0 && p.leader >= 0 && p.broker >= 0 {
                    let replica = if p.broker == p.leader { -1 } else { p.broker };
                    self.shared
                        .read_replicas
                        .lock()
                        .insert((name.clone(), *partition), replica);
                }
            }
        }
    }
}

impl ConsumerContext for ConsumerCallbacks {
    /// The default rebalance, with the sources' offset resets set in the assignment first:
    /// under the eager protocol (classic) assign the list or unassign everything; under the
    /// incremental one (`group.protocol=consumer`, KIP-848) add or remove just the list.
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
                let assigned = if incremental(consumer) {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = assigned {
                    tracing::error!(thread = %self.thread, error = %e, "assigning partitions failed");
                }
                self.post_rebalance(consumer, &Rebalance::Assign(tpl));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let tpl: &TopicPartitionList = tpl;
                self.pre_rebalance(consumer, &Rebalance::Revoke(tpl));
                let unassigned = if incremental(consumer) {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = unassigned {
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
            let committed = self.commit_on_revocation(consumer, lost);
            // Whatever happened, offsets of revoked partitions are no longer ours to commit.
            self.shared
                .pending_offsets
                .retain(|key| !partitions.contains(key));
            self.shared.push_event(RebalanceEvent::Revoked {
                partitions,
                lost,
                committed,
                incremental: incremental(consumer),
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

/// Whether the group rebalances incrementally (only the partitions that move are revoked).
fn incremental<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> bool {
    matches!(
        consumer.rebalance_protocol(),
        RebalanceProtocol::Cooperative
    )
}

/// The partitions of a list, as `(topic, partition)` pairs.
fn tpl_partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}
