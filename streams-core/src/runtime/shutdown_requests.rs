//! Kafka Streams' `SHUTDOWN_APPLICATION` over Kafka itself: Kafka Streams spreads a request to
//! shut the application down through the group's assignment (an error code every member
//! receives), which librdkafka's classic protocol leaves no room for. Here the request is a
//! record on the application's internal topic `<application.id>-shutdown-requests` (one
//! partition, created by the first request), keyed by the requesting client id with the error
//! as value; every instance reads the topic while it runs and, on a record made after it
//! started, stops with [`StreamsError::ApplicationShutdown`] (ending in `Error`), as every
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
    // Made on the first request, so that applications that never ask pay nothing at start.
    super::topic_admin::create_topics(
        config,
        &[super::topic_admin::TopicSpec::new(&topic, 1)
            .with_config("cleanup.policy", "delete")
            .with_config("retention.ms", "604800000")],
    )?;
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
    std::thread::Builder::new()
        .name(format!("{client_id}-ShutdownWatcher"))
        .spawn(move || {
            let started = crate::timestamp::now_ms();
            // From the beginning (the topic may not exist yet: the first request creates it),
            // skipping requests made before this client started.
            let mut assignment = TopicPartitionList::new();
            let assigned = assignment
                .add_partition_offset(&topic, 0, Offset::Beginning)
                .and_then(|()| consumer.assign(&assignment));
            if let Err(e) = assigned {
                tracing::warn!(%topic, error = %e, "cannot watch for shutdown requests");
                return;
            }
            while !control.stop_requested() {
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(request))
                        if request.key() != Some(own_id.as_bytes())
                            && request.timestamp().to_millis().unwrap_or(0) >= started =>
                    {
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
