//! The global thread: fills the global stores before processing starts and keeps them up to
//! date afterwards.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use rdkafka::error::RDKafkaErrorCode;

use super::client_failure::{ClientFailure, WatchedContext};
use super::client_supplier::create_global_consumer;
use super::control::ClientControl;
use super::kafka_errors::watermarks;
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::global::GlobalStore;

/// How long bootstrapping the global stores may take before start-up fails.
const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(300);

/// Reads every partition of every global store's topic from the beginning up to the end
/// offsets seen now, then hands back the consumer to keep reading with.
pub(crate) fn bootstrap(
    config: &StreamsConfig,
    client_id: &str,
    stores: &[Arc<GlobalStore>],
) -> Result<BaseConsumer<WatchedContext>> {
    let failure = ClientFailure::new(config.application_id());
    let consumer = create_global_consumer(config, client_id, &failure)?;
    let mut tpl = TopicPartitionList::new();
    let mut ends: HashMap<(String, i32), i64> = HashMap::new();
    for store in stores {
        let md = consumer
            .fetch_metadata(Some(store.topic()), Duration::from_secs(30))
            .map_err(|e| StreamsError::kafka("fetching global topic metadata", e))?;
        if let Some(code) = md.topics().first().and_then(|t| t.error()) {
            let code = RDKafkaErrorCode::from(code);
            if failure.record(code, &code, Some(store.topic())) {
                return Err(failure.check().err().unwrap_or_else(|| {
                    StreamsError::IllegalState("a recorded failure went missing".into())
                }));
            }
        }
        let partitions = md
            .topics()
            .first()
            .filter(|t| t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        if partitions == 0 {
            return Err(StreamsError::Topology(format!(
                "topic `{}` of global store `{}` does not exist; create it before starting",
                store.topic(),
                store.name()
            )));
        }
        for p in 0..partitions as i32 {
            let (low, high) = watermarks(&consumer, store.topic(), p)?;
            tpl.add_partition_offset(store.topic(), p, Offset::Beginning)
                .map_err(|e| StreamsError::kafka("building the global assignment", e))?;
            if high > low {
                ends.insert((store.topic().to_owned(), p), high);
            }
        }
    }
    consumer
        .assign(&tpl)
        .map_err(|e| StreamsError::kafka("assigning the global consumer", e))?;
    let by_topic: HashMap<&str, &Arc<GlobalStore>> =
        stores.iter().map(|s| (s.topic(), s)).collect();
    let started = Instant::now();
    let mut applied = 0u64;
    while !ends.is_empty() {
        consumer.context().failure.check()?;
        if started.elapsed() > BOOTSTRAP_TIMEOUT {
            return Err(StreamsError::IllegalState(format!(
                "global stores were not filled within {BOOTSTRAP_TIMEOUT:?}; partitions left: \
                 {:?}",
                ends.keys().collect::<Vec<_>>()
            )));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                apply(&by_topic, &m);
                applied += 1;
                let key = (m.topic().to_owned(), m.partition());
                if ends.get(&key).is_some_and(|&end| m.offset() + 1 >= end) {
                    ends.remove(&key);
                }
            }
            Some(Err(e)) => {
                consumer.context().failure.record_error(&e, &e);
                tracing::warn!(error = %e, "global consumer error while bootstrapping")
            }
            None => {
                // Compaction and transaction markers leave gaps: the position says more than
                // the last offset received.
                if let Ok(positions) = consumer.position() {
                    for e in positions.elements() {
                        if let Offset::Offset(o) = e.offset() {
                            let key = (e.topic().to_owned(), e.partition());
                            if ends.get(&key).is_some_and(|&end| o >= end) {
                                ends.remove(&key);
                            }
                        }
                    }
                }
            }
        }
    }
    tracing::info!(
        records = applied,
        stores = stores.len(),
        "global stores filled"
    );
    Ok(consumer)
}

fn apply(by_topic: &HashMap<&str, &Arc<GlobalStore>>, m: &rdkafka::message::BorrowedMessage<'_>) {
    let Some(store) = by_topic.get(m.topic()) else {
        return;
    };
    match m.key() {
        Some(key) => store.apply(key, m.payload()),
        None => tracing::warn!(
            topic = m.topic(),
            offset = m.offset(),
            "skipping a global table record without a key"
        ),
    }
}

/// Keeps the global stores up to date until the client stops.
pub(crate) fn run(
    consumer: BaseConsumer<WatchedContext>,
    stores: Vec<Arc<GlobalStore>>,
    control: Arc<ClientControl>,
) {
    let by_topic: HashMap<&str, &Arc<GlobalStore>> =
        stores.iter().map(|s| (s.topic(), s)).collect();
    while !control.stop_requested() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => apply(&by_topic, &m),
            Some(Err(e)) => tracing::warn!(error = %e, "global consumer error"),
            None => {}
        }
    }
}
