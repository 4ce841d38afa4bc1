//! The stream thread's [`RecordCollector`] (Kafka Streams' `RecordCollectorImpl`): turns each
//! task output record into a Kafka record on the thread's [`StreamsProducer`], sorts send
//! errors, and at commit time hands the delivery failures to the production error handler.

use std::collections::HashMap;
use std::sync::Arc;

use rdkafka::message::{Header as KHeader, OwnedHeaders};
use rdkafka::producer::BaseRecord;

use super::kafka_errors::{is_transactional_send_error, transaction_error};
use super::producer::{SendError, StreamsProducer};
use crate::collector::{OutRecord, RecordCollector};
use crate::error::{Result, StreamsError};
use crate::handlers::{ErrorAction, ErrorContext, ErrorHandler, ErrorStage};
use crate::record::Headers;

/// Sends task output through the thread's producer.
pub(crate) struct KafkaRecordCollector {
    producer: Arc<StreamsProducer>,
    partition_counts: HashMap<String, i32>,
}

impl KafkaRecordCollector {
    pub(crate) fn new(producer: Arc<StreamsProducer>) -> Self {
        KafkaRecordCollector {
            producer,
            partition_counts: HashMap::new(),
        }
    }

    /// The producer records go to.
    pub(crate) fn producer(&self) -> &Arc<StreamsProducer> {
        &self.producer
    }

    /// Sends through `producer` from now on (the old one failed and was replaced).
    pub(crate) fn set_producer(&mut self, producer: Arc<StreamsProducer>) {
        self.producer = producer;
    }

    /// The highest acknowledged offset of each changelog partition written so far.
    pub(crate) fn changelog_offsets(&self) -> HashMap<(String, i32), i64> {
        self.producer.deliveries().changelog_offsets()
    }

    /// Looks at the deliveries that failed since the last commit, after the flush that
    /// precedes it, and refuses the commit when one must not commit.
    ///
    /// Under exactly-once, purged records and failures that pass with time are consequences
    /// (of an abort, a fenced producer, a broker moving): they are not the handler's
    /// business, the transaction aborts and the records are processed again, as in Kafka
    /// Streams. A record the broker refused for good is a cause: the production handler
    /// hears of it first, even when records purged after it arrive in the same check.
    pub(crate) fn check_deliveries(&self, production: &dyn ErrorHandler) -> Result<()> {
        let mut failures = self.producer.deliveries().take_failures();
        let exactly_once = self.producer.exactly_once();
        let mut aftermath = Vec::new();
        if exactly_once {
            if let Some(e) = self.producer.fatal_error() {
                return Err(e);
            }
            (aftermath, failures) = failures.into_iter().partition(|f| f.purged || f.retriable);
        }
        for failure in failures {
            let message = format!(
                "delivery to {}-{} failed: {}",
                failure.topic, failure.partition, failure.error
            );
            let action = production.handle(&ErrorContext {
                stage: ErrorStage::Production,
                node: "producer",
                task_id: None,
                source: None,
                message: &message,
            });
            if action == ErrorAction::Fail {
                return Err(StreamsError::Production {
                    topic: failure.topic,
                    message,
                });
            }
            if exactly_once {
                // The transaction cannot commit with a failed record in it: abort, and
                // process the record again.
                return Err(StreamsError::TransactionAborted { message });
            }
        }
        if let Some(failed) = aftermath.first() {
            return Err(StreamsError::TransactionAborted {
                message: format!(
                    "delivery to {}-{} failed ({}): {}",
                    failed.topic,
                    failed.partition,
                    if failed.purged {
                        "purged by an aborted transaction"
                    } else {
                        "retriable"
                    },
                    failed.error
                ),
            });
        }
        Ok(())
    }
}

impl RecordCollector for KafkaRecordCollector {
    fn send(&mut self, record: OutRecord<'_>) -> Result<()> {
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
        if !record.headers.is_empty() {
            base = base.headers(to_kafka_headers(record.headers));
        }
        match self.producer.send(base) {
            Ok(()) => Ok(()),
            Err(SendError::Streams(e)) => Err(e),
            Err(SendError::Kafka(e))
                if self.producer.exactly_once() && is_transactional_send_error(&e) =>
            {
                if let Some(fatal) = self.producer.fatal_error() {
                    return Err(fatal);
                }
                Err(transaction_error("sending a record in the transaction", e))
            }
            Err(SendError::Kafka(e)) => Err(StreamsError::Production {
                topic: record.topic.to_owned(),
                message: e.to_string(),
            }),
        }
    }

    fn partition_count(&mut self, topic: &str) -> Result<i32> {
        if let Some(&n) = self.partition_counts.get(topic) {
            return Ok(n);
        }
        let n = self.producer.partition_count(topic)?;
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

/// Record headers as librdkafka takes them.
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
