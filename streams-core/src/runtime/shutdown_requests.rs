//! Kafka Streams' `SHUTDOWN_APPLICATION` over Kafka itself: Kafka Streams spreads a request to
//! shut the application down through the group's assignment (an error code every member
//! receives), which librdkafka's classic protocol leaves no room for. Here the request is a
//! record on the application's internal topic `<application.id>-shutdown-requests` (one
//! partition, created with the other internal topics), keyed by the requesting client id with
//! the error as value; every instance reads the topic from its end while it runs and, on a
//! record, stops with [`StreamsError::ApplicationShutdown`] (ending in `Error`), as every
//! Kafka Streams client of the application does.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::client_supplier::{create_producer, create_watermark_client};
use super::control::ClientControl;
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};

/// How long a request's delivery may take before the requesting client gives up on it.
const DELIVERY_WAIT: Duration = Duration::from_secs(15);

/// The topic of `application_id`'s shutdown requests.
pub(crate) fn topic(application_id: &str) -> String {
    format!("{application_id}-shutdown-requests")
}

/// Asks every instance of the application to shut down, because of `reason`; waits for the
/// request's delivery.
pub(crate) fn publish(config: &StreamsConfig, client_id: &str, reason: &str) -> Result<()> {
    let producer: BaseProducer = create_producer(
        config,
        &format!("{client_id}-shutdown-request"),
        None,
        DefaultProducerContext,
    )?;
    let topic = topic(config.application_id());
    producer
        .send(BaseRecord::to(&topic).key(client_id).payload(reason))
        .map_err(|(e, _)| StreamsError::kafka(format!("asking for a shutdown on {topic}"), e))?;
    producer
        .flush(DELIVERY_WAIT)
        .map_err(|e| StreamsError::kafka(format!("asking for a shutdown on {topic}"), e))
}

/// Starts the thread that watches for shutdown requests from the moment the client starts
/// until it stops; a request stops the client with [`StreamsError::ApplicationShutdown`].
pub(crate) fn spawn_watcher(
    config: &StreamsConfig,
    client_id: &str,
    control: Arc<ClientControl>,
) -> Result<JoinHandle<()>> {
    let consumer = create_watermark_client(
        config,
        &format!("{client_id}-shutdown-watcher"),
        &Default::default(),
    )?;
    let own_id = client_id.to_owned();
    let topic = topic(config.application_id());
    // From the end as it is now (not as it is when the first fetch resolves it): a request
    // made while this client starts up is not missed.
    let start = consumer
        .fetch_watermarks(&topic, 0, Duration::from_secs(10))
        .map_or(Offset::End, |(_, high)| Offset::Offset(high));
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, start)
        .map_err(|e| StreamsError::kafka(format!("reading {topic}"), e))?;
    consumer
        .assign(&assignment)
        .map_err(|e| StreamsError::kafka(format!("reading {topic}"), e))?;
    std::thread::Builder::new()
        .name(format!("{client_id}-ShutdownWatcher"))
        .spawn(move || {
            while !control.stop_requested() {
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(request)) if request.key() != Some(own_id.as_bytes()) => {
                        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
                        let (requested_by, reason) = (text(request.key()), text(request.payload()));
                        tracing::error!(%requested_by, %reason, "the application is shutting down, as a client asked");
                        control.fail(StreamsError::ApplicationShutdown {
                            requested_by,
                            reason,
                        });
                        return;
                    }
                    Some(Err(e)) => tracing::debug!(error = %e, "reading shutdown requests"),
                    // This client's own request: it is stopping already.
                    Some(Ok(_)) | None => {}
                }
            }
        })
        .map_err(|e| StreamsError::io("spawning the shutdown watcher", e))
}
