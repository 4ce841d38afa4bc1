//! [`StreamsConfig::set`]: one setting by its Kafka Streams name, given as `key = value`
//! strings as files and command lines give them; an invalid value is refused with what is
//! allowed.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::keys;
use super::validate::{check_bootstrap, check_id, check_instance_id};
use super::{ProcessingGuarantee, StreamsConfig};
use crate::error::{Result, StreamsError};
use crate::handlers::{ErrorHandler, LogAndContinue, LogAndFail, SendToDeadLetterQueue};
use crate::timestamp::{
    FailOnInvalidTimestamp, LogAndSkipOnInvalidTimestamp, UsePartitionTimeOnInvalidTimestamp,
    WallclockTimestampExtractor,
};

/// `value` as a number that `allowed` accepts; else an error that says it `must be {what}`.
fn parse_number<T: FromStr>(
    key: &str,
    value: &str,
    allowed: impl FnOnce(&T) -> bool,
    what: &str,
) -> Result<T> {
    value
        .trim()
        .parse::<T>()
        .ok()
        .filter(allowed)
        .ok_or_else(|| StreamsError::config(key, format!("must be {what}, got {value:?}")))
}

fn parse_ms(key: &str, value: &str, min: u64) -> Result<Duration> {
    let what = format!("a whole number of milliseconds >= {min}");
    parse_number(key, value, |v| *v >= min, &what).map(Duration::from_millis)
}

fn handler_by_name(key: &str, value: &str) -> Result<(Arc<dyn ErrorHandler>, &'static str)> {
    match value.trim() {
        "log-and-fail"
        | "LogAndFailExceptionHandler"
        | "LogAndFailProcessingExceptionHandler"
        | "DefaultProductionExceptionHandler" => Ok((Arc::new(LogAndFail), "log-and-fail")),
        "log-and-continue"
        | "LogAndContinueExceptionHandler"
        | "LogAndContinueProcessingExceptionHandler" => {
            Ok((Arc::new(LogAndContinue), "log-and-continue"))
        }
        "dead-letter-queue" => Ok((Arc::new(SendToDeadLetterQueue), "dead-letter-queue")),
        other => Err(StreamsError::config(
            key,
            format!(
                "unknown handler {other:?}; allowed: log-and-fail, log-and-continue, dead-letter-queue"
            ),
        )),
    }
}

impl StreamsConfig {
    /// Sets one setting by its Kafka Streams name. A Kafka Streams setting this library does
    /// not offer is refused with the reason (or, given the value that means what the library
    /// does anyway, accepted without effect); any other key is a Kafka client setting, which
    /// librdkafka must know and accept with that value: else it is refused here, with the
    /// settings that are taken (see `docs/configuration.md`).
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        match key {
            "application.id" => {
                check_id(key, value)?;
                self.application_id = value.to_owned();
            }
            "bootstrap.servers" => {
                check_bootstrap(value)?;
                self.bootstrap_servers = value.to_owned();
            }
            "num.stream.threads" => {
                self.num_stream_threads = parse_number(
                    key,
                    value,
                    |n: &usize| (1..=64).contains(n),
                    "a whole number from 1 to 64",
                )?;
            }
            "num.standby.replicas" => {
                self.num_standby_replicas = parse_number(
                    key,
                    value,
                    |n: &usize| *n <= 16,
                    "a whole number from 0 to 16",
                )?;
            }
            "commit.interval.ms" => self.commit_interval = Some(parse_ms(key, value, 0)?),
            "statestore.uncommitted.max.bytes" => {
                self.uncommitted_max_bytes = parse_number(
                    key,
                    value,
                    |n: &usize| *n >= 1,
                    "a whole number of bytes >= 1",
                )?;
            }
            "repartition.purge.interval.ms" => {
                self.repartition_purge_interval = parse_ms(key, value, 0)?
            }
            "poll.ms" => self.poll = parse_ms(key, value, 0)?,
            "processing.guarantee" => {
                self.guarantee = match value.trim() {
                    "at_least_once" => ProcessingGuarantee::AtLeastOnce,
                    "exactly_once_v2" => ProcessingGuarantee::ExactlyOnceV2,
                    "exactly_once" | "exactly_once_beta" => {
                        return Err(StreamsError::config(
                            key,
                            format!(
                                "{value:?} was removed in Kafka Streams 4.0 and is not offered; \
                                 allowed: at_least_once, exactly_once_v2"
                            ),
                        ));
                    }
                    other => {
                        return Err(StreamsError::config(
                            key,
                            format!(
                                "unknown guarantee {other:?}; allowed: at_least_once, exactly_once_v2"
                            ),
                        ));
                    }
                }
            }
            "group.protocol" => {
                self.consumer_protocol = match value.trim() {
                    "classic" => false,
                    "consumer" => true,
                    other => {
                        return Err(StreamsError::config(
                            key,
                            format!(
                                "{other:?} is not a rebalance protocol this library speaks \
                                 (the streams protocol of KIP-1071 is early access in Kafka \
                                 4.1); allowed: classic, consumer"
                            ),
                        ));
                    }
                };
            }
            "application.server" => {
                self.application_server = if value.trim().is_empty() {
                    None
                } else {
                    Some(crate::query::HostInfo::parse(value).ok_or_else(|| {
                        StreamsError::config(
                            key,
                            format!(
                                "must be host:port, where other instances reach this one's queries (such as \
                                 fraud-0.fraud:8080 or 10.0.0.7:8080), or empty; got {value:?}"
                            ),
                        )
                    })?)
                };
            }
            "metrics.prometheus.address" => {
                self.metrics_address = if value.trim().is_empty() {
                    None
                } else {
                    Some(value.trim().parse().map_err(|_| {
                        StreamsError::config(
                            key,
                            format!(
                                "must be host-ip:port, such as 127.0.0.1:9464 or 0.0.0.0:9464 \
                                 (port 0 picks a free one), or empty to switch the endpoint \
                                 off; got {value:?}"
                            ),
                        )
                    })?)
                };
            }
            "state.dir" => {
                if value.trim().is_empty() {
                    return Err(StreamsError::config(key, "must be a directory path"));
                }
                self.state_dir = PathBuf::from(value);
            }
            "buffered.records.per.partition" => {
                self.buffered_records_per_partition =
                    parse_number(key, value, |n: &usize| *n >= 1, "a whole number >= 1")?;
            }
            "replication.factor" => {
                self.replication_factor = parse_number(
                    key,
                    value,
                    |n: &i32| *n == -1 || *n >= 1,
                    "-1 (broker default) or >= 1",
                )?;
            }
            "default.timestamp.extractor" => {
                self.extractor = match value.trim() {
                    "FailOnInvalidTimestamp" => Arc::new(FailOnInvalidTimestamp),
                    "LogAndSkipOnInvalidTimestamp" => Arc::new(LogAndSkipOnInvalidTimestamp),
                    "UsePartitionTimeOnInvalidTimestamp" => {
                        Arc::new(UsePartitionTimeOnInvalidTimestamp)
                    }
                    "WallclockTimestampExtractor" => Arc::new(WallclockTimestampExtractor),
                    other => {
                        return Err(StreamsError::config(
                            key,
                            format!(
                                "unknown extractor {other:?}; allowed: FailOnInvalidTimestamp, LogAndSkipOnInvalidTimestamp, \
                                 UsePartitionTimeOnInvalidTimestamp, WallclockTimestampExtractor"
                            ),
                        ));
                    }
                }
            }
            "default.deserialization.exception.handler" | "deserialization.exception.handler" => {
                let (h, name) = handler_by_name(key, value)?;
                self.deserialization_handler = h;
                self.handler_names[0] = name;
            }
            "processing.exception.handler" => {
                let (h, name) = handler_by_name(key, value)?;
                self.processing_handler = h;
                self.handler_names[1] = name;
            }
            "default.production.exception.handler" | "production.exception.handler" => {
                let (h, name) = handler_by_name(key, value)?;
                self.production_handler = h;
                self.handler_names[2] = name;
            }
            "errors.dead.letter.queue.topic.name" => {
                let v = value.trim();
                self.dead_letter_topic = (!v.is_empty()).then(|| v.to_owned());
            }
            "errors.dead.letter.queue.oversized" => {
                self.dead_letter_truncate = match value.trim() {
                    "fail" => false,
                    "truncate" => true,
                    other => {
                        return Err(StreamsError::config(
                            key,
                            format!("unknown value {other:?}; allowed: fail, truncate"),
                        ));
                    }
                };
            }
            "group.instance.id"
            | "consumer.group.instance.id"
            | "main.consumer.group.instance.id" => {
                let v = value.trim();
                if v.is_empty() {
                    self.group_instance_id = None;
                } else {
                    check_instance_id(key, v)?;
                    self.group_instance_id = Some(v.to_owned());
                }
            }
            "group.id"
            | "enable.auto.commit"
            | "consumer.group.id"
            | "consumer.enable.auto.commit" => {
                return Err(StreamsError::config(
                    key,
                    "is managed by the library (the group id is application.id, offsets are committed by the runtime)",
                ));
            }
            other => match internal_topic_config(other) {
                Some(name) => self.set_topic_config(key, name, value)?,
                // A Kafka Streams setting not offered: refused with the reason, or accepted
                // as a no-op with the value that means what the library does anyway.
                None if keys::check_not_offered(other, value)? => {}
                None => self.push_client_setting(other, value)?,
            },
        }
        Ok(self)
    }
}

/// The topic config a `topic.*` key names, or `None` for librdkafka's own `topic.metadata.*`
/// and `topic.blacklist` client settings (and keys without the prefix).
fn internal_topic_config(key: &str) -> Option<&str> {
    let name = key.strip_prefix("topic.")?;
    (!name.starts_with("metadata.") && name != "blacklist").then_some(name)
}

impl StreamsConfig {
    /// `topic.<name>`: a config of the internal topics. `cleanup.policy` is the library's to
    /// choose (compacted changelogs, deleted repartition records); anything else goes to the
    /// broker when a topic is created, which refuses what it does not know.
    fn set_topic_config(&mut self, key: &str, name: &str, value: &str) -> Result<()> {
        if name.is_empty() {
            return Err(StreamsError::config(
                key,
                "a topic config needs a name after `topic.`, such as topic.min.insync.replicas",
            ));
        }
        if name == "cleanup.policy" {
            return Err(StreamsError::config(
                key,
                "the library chooses each internal topic's cleanup policy (compact for \
                 changelogs, compact,delete for window and session changelogs, delete for \
                 repartition topics); set other topic configs with topic.<name>",
            ));
        }
        self.topic_configs.retain(|(k, _)| k != name);
        self.topic_configs.push((name.to_owned(), value.to_owned()));
        Ok(())
    }
}
