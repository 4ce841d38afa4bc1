//! [`StreamsConfig::validate`] and the checks behind it: single values (`application.id`,
//! `bootstrap.servers`) and combinations of settings (security settings, exactly-once,
//! dead-letter queue).

use super::client::PREFIXED_KINDS;
use super::{ClientKind, ProcessingGuarantee, StreamsConfig};
use crate::error::{Result, StreamsError};

impl StreamsConfig {
    /// Checks the combination of settings. Called by the runtime and the test driver.
    pub fn validate(&self) -> Result<()> {
        check_id("application.id", &self.application_id)?;
        check_bootstrap(&self.bootstrap_servers)?;
        self.check_security_settings()?;
        if let Some((_, key, value)) = self.client.iter().find(|(kind, key, value)| {
            matches!(kind, ClientKind::Consumer)
                && key == "partition.assignment.strategy"
                && value.contains("cooperative")
        }) {
            return Err(StreamsError::config(
                &format!("consumer.{key}"),
                format!(
                    "{value:?} asks for cooperative rebalancing, which the stream threads do not \
                     support yet; allowed: range, roundrobin (eager)"
                ),
            ));
        }
        if self.consumer_protocol
            && let Some((kind, key, _)) = self.client.iter().find(|(kind, key, _)| {
                matches!(kind, ClientKind::Consumer | ClientKind::All)
                    && [
                        "session.timeout.ms",
                        "heartbeat.interval.ms",
                        "partition.assignment.strategy",
                    ]
                    .contains(&key.as_str())
            })
        {
            return Err(StreamsError::config(
                &format!("{}{key}", kind.prefix()),
                "is decided by the broker under group.protocol=consumer (its \
                 group.consumer.session.timeout.ms, group.consumer.heartbeat.interval.ms and \
                 range assignor); remove it, or use group.protocol=classic",
            ));
        }
        if let Some((kind, _, _)) = self.client.iter().find(|(kind, key, _)| {
            matches!(kind, ClientKind::Producer | ClientKind::All) && key == "transactional.id"
        }) {
            return Err(StreamsError::config(
                &format!("{}transactional.id", kind.prefix()),
                "is managed by the library: processing.guarantee=exactly_once_v2 sets \
                 <application.id>-<process id>-<thread> on each stream thread's producer",
            ));
        }
        if self.guarantee == ProcessingGuarantee::ExactlyOnceV2 {
            self.check_exactly_once_overrides()?;
        }
        if self.handler_names.contains(&"dead-letter-queue") && self.dead_letter_topic.is_none() {
            return Err(StreamsError::config(
                "errors.dead.letter.queue.topic.name",
                "a dead-letter-queue handler is configured, so a dead-letter topic name is required",
            ));
        }
        Ok(())
    }

    /// Security settings (`security.protocol`, `sasl.*`, `ssl.*`) must be the same for the
    /// consumers, the producers and the admin client: they all connect to the same brokers,
    /// and one that cannot authenticate only logs warnings while it retries (a consumer
    /// would rebalance forever). Given under one client prefix only, they are refused here,
    /// naming the key but never its value.
    fn check_security_settings(&self) -> Result<()> {
        fn is_security(key: &str) -> bool {
            key == "security.protocol"
                || ["sasl.", "ssl.", "ssl_", "enable.ssl.", "enable.sasl."]
                    .iter()
                    .any(|p| key.starts_with(p))
        }
        for (_, key, _) in self.client.iter().filter(|(_, k, _)| is_security(k)) {
            let effective: Vec<Option<&str>> = PREFIXED_KINDS
                .iter()
                .map(|kind| {
                    self.client_settings(*kind)
                        .filter(|(k, _)| k == key)
                        .map(|(_, v)| v)
                        .last()
                })
                .collect();
            if effective.iter().all(|v| *v == effective[0]) {
                continue;
            }
            let set_for: Vec<&str> = PREFIXED_KINDS
                .iter()
                .zip(&effective)
                .filter(|(_, v)| v.is_some())
                .map(|(kind, _)| kind.prefix().trim_end_matches('.'))
                .collect();
            let prefixed = self
                .client
                .iter()
                .find(|(kind, k, _)| k == key && *kind != ClientKind::All)
                .map(|(kind, _, _)| kind.prefix())
                .unwrap_or("");
            return Err(StreamsError::config(
                &format!("{prefixed}{key}"),
                format!(
                    "security settings must be the same for every client (the consumers, \
                     producers and admin client connect to the same brokers), but `{key}` \
                     differs between them (set for: {}); set `{key}` without a client prefix",
                    set_for.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Refuses client settings that would break exactly-once, naming the setting, the value
    /// exactly-once needs and why.
    fn check_exactly_once_overrides(&self) -> Result<()> {
        let refuse = |kind: ClientKind, key: &str, value: &str, allowed: &str| {
            Err(StreamsError::config(
                &format!("{}{key}", kind.prefix()),
                format!(
                    "{value:?} would break processing.guarantee=exactly_once_v2; allowed: {allowed}"
                ),
            ))
        };
        for (kind, key, value) in &self.client {
            let v = value.trim();
            let producer = matches!(kind, ClientKind::Producer | ClientKind::All);
            let consumer = matches!(kind, ClientKind::Consumer | ClientKind::All);
            match key.as_str() {
                "enable.idempotence" if producer && v != "true" => {
                    return refuse(*kind, key, v, "true");
                }
                "acks" | "request.required.acks" if producer && !matches!(v, "all" | "-1") => {
                    return refuse(*kind, key, v, "all, -1");
                }
                "max.in.flight.requests.per.connection" | "max.in.flight"
                    if producer && !matches!(v.parse::<u32>(), Ok(1..=5)) =>
                {
                    return refuse(*kind, key, v, "1 to 5");
                }
                "isolation.level" if consumer && v != "read_committed" => {
                    return refuse(*kind, key, v, "read_committed");
                }
                "transaction.timeout.ms" if producer => {
                    let interval = self.commit_interval().as_millis();
                    if !v.parse::<u128>().is_ok_and(|t| t > interval) {
                        return refuse(
                            *kind,
                            key,
                            v,
                            &format!(
                                "a whole number of milliseconds above commit.interval.ms ({interval})"
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Checks `bootstrap.servers`: a list of `host:port` (separated by commas or spaces), each
/// optionally prefixed with its protocol as librdkafka allows (`SASL_SSL://host:port`), an
/// IPv6 host in brackets. librdkafka itself reads a port past 65535 modulo 65536 and a
/// missing one as 9092, so both are refused here, as Kafka's Java clients refuse them.
pub(super) fn check_bootstrap(value: &str) -> Result<()> {
    let bad = |message: String| Err(StreamsError::config("bootstrap.servers", message));
    let entries: Vec<&str> = value.split([',', ' ']).filter(|s| !s.is_empty()).collect();
    if entries.is_empty() {
        return bad("must list at least one host:port".into());
    }
    for entry in entries {
        let address = match entry.split_once("://") {
            Some((protocol, rest))
                if ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]
                    .contains(&protocol.to_ascii_lowercase().as_str()) =>
            {
                rest
            }
            Some((protocol, _)) => {
                return bad(format!(
                    "{entry:?}: unknown protocol {protocol:?}; allowed: PLAINTEXT, SSL, \
                     SASL_PLAINTEXT, SASL_SSL"
                ));
            }
            None => entry,
        };
        let Some((host, port)) = address.rsplit_once(':') else {
            return bad(format!("{entry:?} is not host:port (the port is required)"));
        };
        let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
        let plain = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !(bracketed || plain) {
            return bad(format!(
                "{entry:?}: invalid host {host:?} (a name, an IPv4 address, or an IPv6 address \
                 in brackets)"
            ));
        }
        if !matches!(port.parse::<u32>(), Ok(1..=65535)) {
            return bad(format!(
                "{entry:?}: the port must be 1 to 65535, got {port:?}"
            ));
        }
    }
    Ok(())
}

/// Checks `application.id` (or another name that prefixes topic names): 1 to 200 characters
/// from Kafka's topic alphabet.
pub(super) fn check_id(key: &str, value: &str) -> Result<()> {
    if is_legal_name(value, 200) {
        Ok(())
    } else {
        Err(StreamsError::config(
            key,
            format!(
                "{value:?} is not allowed; use 1 to 200 characters from [a-zA-Z0-9._-] (it prefixes topic names)"
            ),
        ))
    }
}

/// A `group.instance.id`: Kafka's rule for it (at most 249 characters from [a-zA-Z0-9._-]),
/// with room for the `-<thread>` suffix.
pub(super) fn check_instance_id(key: &str, value: &str) -> Result<()> {
    if is_legal_name(value, 240) {
        Ok(())
    } else {
        Err(StreamsError::config(
            key,
            format!(
                "{value:?} is not allowed; use 1 to 240 characters from [a-zA-Z0-9._-] (each \
                 stream thread joins as <id>-<thread number>), or leave it empty for dynamic \
                 membership"
            ),
        ))
    }
}

/// Kafka's rule for topic names and group instance ids: 1 to `max` characters from
/// [a-zA-Z0-9._-].
fn is_legal_name(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
