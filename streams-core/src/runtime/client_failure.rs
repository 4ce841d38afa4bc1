//! Failures of a client's security that no retry mends: a refused authentication or TLS
//! handshake, and a missing ACL. librdkafka reports most of them through its error callback
//! and keeps retrying; Kafka Streams (like the Java clients) treats them as fatal. Every
//! client context records them in a [`ClientFailure`], which the thread (or the start-up
//! check) turns into [`StreamsError::Authentication`] or [`StreamsError::Authorization`].

use std::fmt::Display;
use std::sync::Arc;

use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext};

use crate::config::{SharedTokenProvider, StreamsConfig, refresh_token};
use crate::error::{Result, StreamsError};

/// Where the ACLs an application needs are listed.
const ACLS_DOC: &str = "docs/connecting.md, \"ACLs\"";

/// The first security failure any of a thread's clients reported (shared by its contexts).
#[derive(Clone, Default)]
pub(crate) struct ClientFailure {
    first: Arc<Mutex<Option<Failure>>>,
    /// The consumer group (`application.id`), named in a group authorization error.
    group: Arc<str>,
}

#[derive(Clone)]
enum Failure {
    Authentication(String),
    Authorization {
        operation: &'static str,
        resource: String,
        reason: String,
        grant: String,
    },
}

/// A refused operation: `reason` (what the broker said), then what to grant and where the
/// ACLs an application needs are listed.
pub(crate) fn authorization_error(
    operation: &str,
    resource: String,
    reason: impl Display,
    grant: &str,
) -> StreamsError {
    StreamsError::Authorization {
        operation: operation.to_owned(),
        resource,
        message: format!("{reason} (grant the principal {grant}; see {ACLS_DOC})"),
    }
}

impl ClientFailure {
    /// A latch for the clients of the application whose group is `group`.
    pub(crate) fn new(group: &str) -> Self {
        ClientFailure {
            first: Default::default(),
            group: group.into(),
        }
    }

    /// Records `code` (with librdkafka's `reason`, formatted only for a security failure) if
    /// it is a security failure; `topic` names the topic of a topic authorization failure when
    /// known. Returns whether it was one.
    pub(crate) fn record(
        &self,
        code: RDKafkaErrorCode,
        reason: &dyn Display,
        topic: Option<&str>,
    ) -> bool {
        let Some(failure) = classify(code, reason, &self.group, topic) else {
            return false;
        };
        let mut first = self.first.lock();
        if first.is_none() {
            *first = Some(failure);
        }
        true
    }

    /// Records an error given to a client's error callback (see [`ClientFailure::record`]).
    pub(crate) fn record_error(&self, error: &KafkaError, reason: &dyn Display) -> bool {
        error
            .rdkafka_error_code()
            .is_some_and(|code| self.record(code, reason, None))
    }

    /// `Err` with the first failure recorded, if any.
    pub(crate) fn check(&self) -> Result<()> {
        match self.first.lock().clone() {
            None => Ok(()),
            Some(failure) => Err(failure.into_error()),
        }
    }
}

impl Failure {
    fn into_error(self) -> StreamsError {
        match self {
            Failure::Authentication(message) => StreamsError::Authentication { message },
            Failure::Authorization {
                operation,
                resource,
                reason,
                grant,
            } => authorization_error(operation, resource, reason, &grant),
        }
    }
}

/// The failure `code` stands for, if it is a security failure.
fn classify(
    code: RDKafkaErrorCode,
    reason: &dyn Display,
    group: &str,
    topic: Option<&str>,
) -> Option<Failure> {
    let authorization = |operation, resource: String, grant: &str| Failure::Authorization {
        operation,
        resource,
        reason: reason.to_string(),
        grant: grant.to_owned(),
    };
    Some(match code {
        RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed => {
            Failure::Authentication(format!(
                "{reason} (check security.protocol, sasl.mechanism and its credentials: \
                 sasl.username and sasl.password, or the sasl.oauthbearer settings)"
            ))
        }
        RDKafkaErrorCode::SSL => Failure::Authentication(format!(
            "{reason} (the TLS handshake failed: check ssl.ca.location, the client \
             certificate and key, and that the listener speaks TLS)"
        )),
        RDKafkaErrorCode::GroupAuthorizationFailed => authorization(
            "read",
            format!("group {group}"),
            &format!("Read and Describe on the group {group}"),
        ),
        RDKafkaErrorCode::TopicAuthorizationFailed => {
            let resource = topic.map_or_else(|| "a topic".to_owned(), |t| format!("topic {t}"));
            authorization(
                "read or write",
                resource,
                "Describe and Read on the source topics, Write on the sink topics, and all \
                 of these plus Create on the internal topics",
            )
        }
        RDKafkaErrorCode::TransactionalIdAuthorizationFailed => authorization(
            "write",
            "a transactional id".to_owned(),
            &format!("Write and Describe on the transactional ids prefixed {group}-"),
        ),
        RDKafkaErrorCode::ClusterAuthorizationFailed => authorization(
            "use",
            "the cluster".to_owned(),
            "the cluster operation the broker named (IdempotentWrite for producers on \
             brokers before 2.8)",
        ),
        _ => return None,
    })
}

/// The context of a client with no callbacks of its own (restore and global consumers,
/// admin clients): it records security failures, logs errors as rdkafka's default does, and
/// answers SASL/OAUTHBEARER token refreshes from the application's provider.
#[derive(Clone)]
pub(crate) struct WatchedContext {
    pub failure: ClientFailure,
    pub oauth: SharedTokenProvider,
}

impl WatchedContext {
    /// A context recording into `failure`, with `config`'s token provider.
    pub(crate) fn new(failure: &ClientFailure, config: &StreamsConfig) -> Self {
        WatchedContext {
            failure: failure.clone(),
            oauth: config.oauth_token_provider(),
        }
    }
}

impl ClientContext for WatchedContext {
    // librdkafka asks only when OAUTHBEARER has no token source of its own (see
    // `refresh_token`).
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn error(&self, error: KafkaError, reason: &str) {
        self.failure.record_error(&error, &reason);
        tracing::error!(error = %error, reason, "kafka client error");
    }

    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> std::result::Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        refresh_token(&self.oauth, config)
    }
}

impl ConsumerContext for WatchedContext {}

/// For the metadata client of the start-up check, which never produces.
impl ProducerContext for WatchedContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_security_failures_are_recorded_and_the_first_wins() {
        let f = ClientFailure::new("app");
        assert!(!f.record(RDKafkaErrorCode::BrokerTransportFailure, &"down", None));
        assert!(f.check().is_ok());
        assert!(f.record(
            RDKafkaErrorCode::GroupAuthorizationFailed,
            &"FindCoordinator response error: Group authorization failed.",
            None
        ));
        assert!(f.record(RDKafkaErrorCode::Authentication, &"later", None));
        let e = f.check().unwrap_err().to_string();
        assert_eq!(
            e,
            "not authorized to read group app: FindCoordinator response error: Group \
             authorization failed. (grant the principal Read and Describe on the group app; \
             see docs/connecting.md, \"ACLs\")"
        );
    }

    #[test]
    fn authentication_and_tls_failures_say_what_to_check() {
        let f = ClientFailure::new("app");
        f.record(
            RDKafkaErrorCode::SSL,
            &"SSL handshake failed: certificate verify failed",
            None,
        );
        let e = f.check().unwrap_err();
        assert!(matches!(e, StreamsError::Authentication { .. }));
        assert!(e.to_string().starts_with(
            "authentication failed: SSL handshake failed: certificate verify failed (the TLS handshake failed"
        ));
        let f = ClientFailure::new("app");
        f.record(
            RDKafkaErrorCode::TopicAuthorizationFailed,
            &"denied",
            Some("in"),
        );
        assert!(
            f.check()
                .unwrap_err()
                .to_string()
                .starts_with("not authorized to read or write topic in: denied")
        );
    }
}
