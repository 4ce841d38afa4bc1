//! The Kafka clients' settings (Kafka Streams' `KafkaClientSupplier`): the main consumer,
//! the restore consumer, the watermark client, the producer and the admin client, each with
//! the settings the runtime needs and the user's pass-through settings of its kind on top.

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, ConsumerContext};

use crate::config::{ClientKind, StreamsConfig};
use crate::error::{Result, StreamsError};

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

/// The stream thread's consumer: a member of the application's group, committing nothing by
/// itself, with `context` as its rebalance listener.
pub(crate) fn create_consumer<C: ConsumerContext>(
    config: &StreamsConfig,
    client_id: &str,
    context: C,
) -> Result<BaseConsumer<C>> {
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
    .create_with_context(context)
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

/// The producer's settings; under exactly-once it is transactional with id
/// `transactional_id`.
pub(crate) fn producer_config(
    config: &StreamsConfig,
    client_id: &str,
    transactional_id: Option<&str>,
) -> ClientConfig {
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
    client_config(config, ClientKind::Producer, &base)
}

/// The admin client's settings.
pub(crate) fn admin_config(config: &StreamsConfig) -> ClientConfig {
    client_config(config, ClientKind::Admin, &[])
}
