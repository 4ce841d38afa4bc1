//! Which keys [`StreamsConfig::set`](super::StreamsConfig::set) takes, checked when they are
//! set: the Kafka Streams settings this library takes (listed with their defaults in errors
//! and in `docs/configuration.md`), the Kafka Streams settings it knows but does not offer
//! (each refused with the reason; the value that means what this library does anyway is
//! accepted and changes nothing), and any other key as a Kafka client setting, which
//! librdkafka must know and accept with that value, else it is refused at once, never showing
//! the value.

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;

use super::secrets::{SECRET_SETTINGS, edit_distance, is_secret_setting, near_secret, scrub};
use crate::error::{Result, StreamsError};

/// The Kafka Streams settings this library takes, with their defaults.
pub const STREAMS_SETTINGS: &[(&str, &str)] = &[
    ("application.id", "(required)"),
    ("bootstrap.servers", "(required)"),
    ("num.stream.threads", "1"),
    ("num.standby.replicas", "0"),
    ("group.protocol", "classic"),
    ("processing.guarantee", "at_least_once"),
    ("commit.interval.ms", "30000 (100 under exactly_once_v2)"),
    ("state.dir", "<temp dir>/kstreams"),
    ("poll.ms", "100"),
    ("buffered.records.per.partition", "1000"),
    ("statestore.uncommitted.max.bytes", "67108864"),
    ("repartition.purge.interval.ms", "30000"),
    ("replication.factor", "-1 (the broker's default)"),
    ("topic.<config>", "(none: the library's own topic configs)"),
    ("default.timestamp.extractor", "FailOnInvalidTimestamp"),
    ("deserialization.exception.handler", "log-and-fail"),
    ("processing.exception.handler", "log-and-fail"),
    ("production.exception.handler", "log-and-fail"),
    ("errors.dead.letter.queue.topic.name", "(none)"),
    ("errors.dead.letter.queue.oversized", "fail"),
    ("group.instance.id", "(none: dynamic membership)"),
    ("metrics.prometheus.address", "(none: no endpoint)"),
    (
        "application.server",
        "(none: other instances cannot locate this one's state)",
    ),
];

/// Where librdkafka's settings are listed.
pub(crate) const LIBRDKAFKA_SETTINGS: &str =
    "https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md";

const STANDBYS: &str = "warm-up tasks and a pluggable task assignor are not built: active \
                        tasks are placed by the consumer group's range assignment and standby \
                        replicas (num.standby.replicas) by every instance alike, preferring \
                        another client.rack";
const SERDES: &str = "serdes are Rust values given where the data enters and leaves \
                      (Consumed, Produced, Materialized, Grouped), not class names";
const CLASSES: &str = "it names a Java class; the Rust API takes the equivalent as a value";
const METRICS: &str = "metrics are exported for Prometheus (metrics.prometheus.address) and \
                       read with KafkaStreams::metrics, always recorded";

/// Kafka Streams settings (4.1) this library does not offer: the key (a trailing `.` makes
/// it a prefix), the value that means what this library does anyway (accepted, changing
/// nothing), and why the others are refused.
const NOT_OFFERED: &[(&str, Option<&str>, &str)] = &[
    ("max.warmup.replicas", None, STANDBYS),
    ("acceptable.recovery.lag", None, STANDBYS),
    ("probing.rebalance.interval.ms", None, STANDBYS),
    ("task.assignor.class", None, STANDBYS),
    ("rack.aware.assignment.", None, STANDBYS),
    (
        "statestore.cache.max.bytes",
        Some("0"),
        "there is no record cache yet: every update goes downstream and to the changelog, \
         as in Kafka Streams with the cache size 0",
    ),
    (
        "cache.max.bytes.buffering",
        Some("0"),
        "there is no record cache yet: every update goes downstream and to the changelog, \
         as in Kafka Streams with the cache size 0",
    ),
    (
        "max.task.idle.ms",
        Some("0"),
        "a task does not wait for its other inputs yet: it processes what it has, as Kafka \
         Streams with max.task.idle.ms=0",
    ),
    ("default.key.serde", None, SERDES),
    ("default.value.serde", None, SERDES),
    ("default.list.", None, SERDES),
    ("windowed.inner.class.serde", None, SERDES),
    ("window.size.ms", None, SERDES),
    ("default.client.supplier", None, CLASSES),
    ("dsl.store.suppliers.class", None, CLASSES),
    ("processor.wrapper.class", None, CLASSES),
    (
        "rocksdb.config.setter",
        None,
        "RocksDB options are set with the options hook of RocksDbMemory (state-stores)",
    ),
    (
        "default.dsl.store",
        Some("rocksDB"),
        "DSL stores are RocksDB unless a Materialized names another store",
    ),
    ("metrics.recording.level", None, METRICS),
    ("metrics.num.samples", None, METRICS),
    ("metrics.sample.window.ms", None, METRICS),
    ("metric.reporters", None, METRICS),
    ("built.in.metrics.version", None, METRICS),
    ("enable.metrics.push", Some("false"), METRICS),
    (
        "topology.optimization",
        Some("none"),
        "the DSL does not rewrite topologies (no source-topic changelogs, no merged \
         repartition topics)",
    ),
    (
        "task.timeout.ms",
        Some("300000"),
        "a thread gives up on commits that keep failing after 300000 ms, not configurable yet",
    ),
    (
        "state.cleanup.delay.ms",
        None,
        "the state of tasks that moved to other instances is not cleaned in the background yet",
    ),
    (
        "upgrade.from",
        None,
        "there is no earlier version of this library's rebalance data to upgrade from",
    ),
    (
        "log.summary.interval.ms",
        None,
        "no periodic summary is logged; the metrics carry the same numbers",
    ),
    (
        "windowstore.changelog.additional.retention.ms",
        None,
        "window and session changelogs keep the store's retention plus one day, not \
         configurable yet",
    ),
    (
        "ensure.explicit.internal.resource.naming",
        Some("false"),
        "generated names are allowed and not checked yet",
    ),
    (
        "receive.buffer.bytes",
        None,
        "a Java client setting; librdkafka's is socket.receive.buffer.bytes",
    ),
    (
        "send.buffer.bytes",
        None,
        "a Java client setting; librdkafka's is socket.send.buffer.bytes",
    ),
    (
        "metadata.recovery.rebootstrap.trigger.ms",
        None,
        "a Java client setting without a librdkafka counterpart",
    ),
];

/// A Kafka Streams setting this library does not offer: `Ok(true)` when `value` means what
/// the library does anyway (nothing to set), an error with the reason otherwise, `Ok(false)`
/// when `key` is no such setting.
pub(super) fn check_not_offered(key: &str, value: &str) -> Result<bool> {
    let Some((name, same_as, why)) = NOT_OFFERED.iter().find(|(name, _, _)| {
        if name.ends_with('.') {
            key.starts_with(name)
        } else {
            key == *name
        }
    }) else {
        return Ok(false);
    };
    if same_as.is_some_and(|v| v.eq_ignore_ascii_case(value.trim())) {
        return Ok(true);
    }
    let accepted = match same_as {
        Some(v) => format!(" (only {v:?} is accepted, which changes nothing)"),
        None => String::new(),
    };
    let name = if name.ends_with('.') {
        format!("{name}*")
    } else {
        (*name).to_owned()
    };
    Err(StreamsError::config(
        key,
        format!("the Kafka Streams setting {name} is not offered: {why}{accepted}"),
    ))
}

/// Checks a client setting as given (`given`, perhaps prefixed) under librdkafka's name `key`
/// against librdkafka itself: an unknown name or an invalid value is refused now, naming the
/// key and never showing the value of an unknown or secret setting.
pub(super) fn check_client_setting(given: &str, key: &str, value: &str) -> Result<()> {
    let mut probe = ClientConfig::new();
    probe.set(key, value);
    let error = match probe.create_native_config() {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let detail = match &error {
        KafkaError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, _, _, _) => {
            unknown_setting(given, key)
        }
        KafkaError::ClientConfig(_, description, _, _) if is_secret_setting(key) => {
            scrub(description, [value])
        }
        KafkaError::ClientConfig(_, description, _, _) => description.clone(),
        other => scrub(&other.to_string(), [value]),
    };
    Err(StreamsError::config(given, detail))
}

/// Why the setting `given` (librdkafka name `key`) is refused as unknown, with what is
/// allowed: the Kafka Streams settings this library takes, and librdkafka's names for the
/// clients.
pub(crate) fn unknown_setting(given: &str, key: &str) -> String {
    let hint = suggestion(key).unwrap_or_default();
    let streams: Vec<&str> = STREAMS_SETTINGS.iter().map(|(k, _)| *k).collect();
    format!(
        "`{given}` is neither a Kafka Streams setting this library takes nor a librdkafka \
         setting{hint} (its value is not shown); the Kafka Streams settings it takes are {}; \
         client settings use librdkafka's names, listed in its CONFIGURATION.md \
         ({LIBRDKAFKA_SETTINGS}), unprefixed for every client or with a `consumer.`, \
         `producer.` or `admin.` prefix for one",
        streams.join(", ")
    )
}

/// A hint for the unknown setting `key`: what to give instead of a Java client's or schema
/// registry client's setting, or a setting (a secret, a common security one, a Kafka Streams
/// one this library takes) one or two typing mistakes away.
fn suggestion(key: &str) -> Option<String> {
    const SECURITY: &[&str] = &[
        "security.protocol",
        "sasl.mechanism",
        "sasl.mechanisms",
        "sasl.username",
        "ssl.ca.location",
        "ssl.certificate.location",
        "ssl.key.location",
        "ssl.keystore.location",
        "ssl.endpoint.identification.algorithm",
    ];
    let key = key.to_ascii_lowercase();
    let instead = match key.as_str() {
        k if k.starts_with("ssl.truststore.") => {
            Some("a Java client setting; librdkafka takes `ssl.ca.location` (PEM)")
        }
        k if k.ends_with("basic.auth.user.info") => Some(
            "a schema registry setting; give it to the registry client \
             (`RegistryConfig::from_properties`), not to the Kafka clients",
        ),
        k if ["main.consumer.", "restore.consumer.", "global.consumer."]
            .iter()
            .any(|p| k.starts_with(p)) =>
        {
            Some(
                "for one of Kafka Streams' consumers; here `consumer.` gives a setting to every consumer",
            )
        }
        _ => None,
    };
    if let Some(instead) = instead {
        return Some(format!("; it is {instead}"));
    }
    let near = near_secret(&key, 2).or_else(|| {
        SECRET_SETTINGS
            .iter()
            .chain(SECURITY)
            .copied()
            .chain(STREAMS_SETTINGS.iter().map(|(k, _)| *k))
            .filter(|s| s.len() >= 8)
            .map(|s| (edit_distance(&key, s), s))
            .filter(|(d, _)| *d <= 2)
            .min()
            .map(|(_, s)| s)
    })?;
    (near != key).then(|| format!("; did you mean `{near}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamsConfig;

    fn set(key: &str, value: &str) -> Result<StreamsConfig> {
        StreamsConfig::new("app", "localhost:9092").set(key, value)
    }

    /// Kafka Streams 4.1.1's settings (`StreamsConfig.configDef().names()`).
    const KAFKA_STREAMS_4_1: &[&str] = &[
        "acceptable.recovery.lag",
        "application.id",
        "application.server",
        "bootstrap.servers",
        "buffered.records.per.partition",
        "built.in.metrics.version",
        "cache.max.bytes.buffering",
        "client.id",
        "commit.interval.ms",
        "connections.max.idle.ms",
        "default.client.supplier",
        "default.deserialization.exception.handler",
        "default.dsl.store",
        "default.key.serde",
        "default.list.key.serde.inner",
        "default.list.key.serde.type",
        "default.list.value.serde.inner",
        "default.list.value.serde.type",
        "default.production.exception.handler",
        "default.timestamp.extractor",
        "default.value.serde",
        "deserialization.exception.handler",
        "dsl.store.suppliers.class",
        "enable.metrics.push",
        "ensure.explicit.internal.resource.naming",
        "group.protocol",
        "log.summary.interval.ms",
        "max.task.idle.ms",
        "max.warmup.replicas",
        "metadata.max.age.ms",
        "metadata.recovery.rebootstrap.trigger.ms",
        "metadata.recovery.strategy",
        "metric.reporters",
        "metrics.num.samples",
        "metrics.recording.level",
        "metrics.sample.window.ms",
        "num.standby.replicas",
        "num.stream.threads",
        "poll.ms",
        "probing.rebalance.interval.ms",
        "processing.exception.handler",
        "processing.guarantee",
        "processor.wrapper.class",
        "production.exception.handler",
        "rack.aware.assignment.non_overlap_cost",
        "rack.aware.assignment.strategy",
        "rack.aware.assignment.tags",
        "rack.aware.assignment.traffic_cost",
        "receive.buffer.bytes",
        "reconnect.backoff.max.ms",
        "reconnect.backoff.ms",
        "repartition.purge.interval.ms",
        "replication.factor",
        "request.timeout.ms",
        "retry.backoff.ms",
        "rocksdb.config.setter",
        "security.protocol",
        "send.buffer.bytes",
        "state.cleanup.delay.ms",
        "state.dir",
        "statestore.cache.max.bytes",
        "task.assignor.class",
        "task.timeout.ms",
        "topology.optimization",
        "upgrade.from",
        "window.size.ms",
        "windowed.inner.class.serde",
        "windowstore.changelog.additional.retention.ms",
    ];

    #[test]
    fn every_kafka_streams_setting_gets_a_deliberate_answer() {
        for key in KAFKA_STREAMS_4_1 {
            // A value no setting takes: refused by the setting's own rule, never as unknown.
            if let Err(e) = set(key, "%%not-a-value%%") {
                assert!(!e.to_string().contains("is neither"), "{key}: {e}");
            }
        }
        for (key, _) in STREAMS_SETTINGS {
            let key = key.replace("<config>", "segment.bytes");
            if let Err(e) = set(&key, "%%not-a-value%%") {
                assert!(!e.to_string().contains("is neither"), "{key}: {e}");
            }
        }
    }

    #[test]
    fn a_setting_not_offered_says_why_and_takes_the_value_that_changes_nothing() {
        let plain = StreamsConfig::new("app", "localhost:9092");
        let same = set("cache.max.bytes.buffering", "0").expect("the size 0 is what we do");
        assert_eq!(format!("{same:?}"), format!("{plain:?}"));
        assert_eq!(
            set("statestore.cache.max.bytes", "10485760")
                .unwrap_err()
                .to_string(),
            "invalid configuration `statestore.cache.max.bytes`: the Kafka Streams setting \
             statestore.cache.max.bytes is not offered: there is no record cache yet: every \
             update goes downstream and to the changelog, as in Kafka Streams with the cache \
             size 0 (only \"0\" is accepted, which changes nothing)"
        );
        assert_eq!(
            set("rack.aware.assignment.tags", "zone")
                .unwrap_err()
                .to_string(),
            format!(
                "invalid configuration `rack.aware.assignment.tags`: the Kafka Streams setting \
                 rack.aware.assignment.* is not offered: {STANDBYS}"
            )
        );
        assert_eq!(
            set("num.standby.replicas", "2")
                .expect("standbys are offered")
                .num_standby_replicas(),
            2
        );
        assert_eq!(
            set("num.standby.replicas", "-1").unwrap_err().to_string(),
            "invalid configuration `num.standby.replicas`: must be a whole number from 0 to 16, got \"-1\""
        );
    }

    #[test]
    fn client_settings_are_checked_against_librdkafka_when_set() {
        assert!(set("consumer.fetch.wait.max.ms", "50").is_ok());
        assert!(set("client.id", "me").is_ok());
        let err = set("producer.linger.ms", "soon").unwrap_err().to_string();
        assert!(
            err.starts_with("invalid configuration `producer.linger.ms`: "),
            "{err}"
        );
        let err = set("num.stream.thread", "2").unwrap_err().to_string();
        assert!(
            err.starts_with(
                "invalid configuration `num.stream.thread`: `num.stream.thread` is neither a \
                 Kafka Streams setting this library takes nor a librdkafka setting; did you \
                 mean `num.stream.threads`? (its value is not shown); the Kafka Streams \
                 settings it takes are application.id, bootstrap.servers, num.stream.threads,"
            ),
            "{err}"
        );
        let err = set("main.consumer.max.poll.records", "10")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("here `consumer.` gives a setting to every consumer"),
            "{err}"
        );
        // A secret: neither an unknown one's value nor an invalid one's shows.
        let err = set("consumer.sasl.pasword", "topsecret-typo")
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean `sasl.password`?"), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
        let err = set("sasl.oauthbearer.config", "\u{0}topsecret-bad")
            .map(|_| ())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.contains("topsecret"), "{err}");
    }
}
