//! The settings passed through to the Kafka clients (librdkafka names): unprefixed to every
//! client, or with `consumer.`, `producer.` or `admin.` to one; and what the library reads
//! back from them.

use std::str::FromStr;

use super::StreamsConfig;
use crate::error::{Result, StreamsError};

/// The default producer `transaction.timeout.ms` under exactly-once (Kafka Streams' value).
const EOS_TRANSACTION_TIMEOUT_MS: u64 = 10_000;

/// librdkafka's default `message.max.bytes`: the largest record the producer sends.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// Which Kafka client a pass-through setting is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Every client.
    All,
    /// The consumers.
    Consumer,
    /// The producers.
    Producer,
    /// The admin client.
    Admin,
}

/// The kinds of client that a prefix selects, in the order messages name them.
pub(super) const PREFIXED_KINDS: [ClientKind; 3] = [
    ClientKind::Consumer,
    ClientKind::Producer,
    ClientKind::Admin,
];

impl ClientKind {
    /// The prefix that gives a setting to this kind of client alone (`consumer.`, ...).
    pub fn prefix(self) -> &'static str {
        match self {
            ClientKind::All => "",
            ClientKind::Consumer => "consumer.",
            ClientKind::Producer => "producer.",
            ClientKind::Admin => "admin.",
        }
    }
}

impl StreamsConfig {
    /// The pass-through client settings for `kind` (including those for all clients), in the
    /// order they were set.
    pub fn client_settings(&self, kind: ClientKind) -> impl Iterator<Item = (&str, &str)> {
        self.client
            .iter()
            .filter(move |(k, _, _)| *k == ClientKind::All || *k == kind)
            .map(|(_, k, v)| (k.as_str(), v.as_str()))
    }

    /// [`Self::client_settings`] with the kind each was given for (`All` when unprefixed).
    pub(crate) fn client_settings_with_kind(
        &self,
        kind: ClientKind,
    ) -> impl Iterator<Item = (ClientKind, &str, &str)> {
        self.client
            .iter()
            .filter(move |(k, _, _)| *k == ClientKind::All || *k == kind)
            .map(|(k, key, v)| (*k, key.as_str(), v.as_str()))
    }

    /// The producer's `transaction.timeout.ms` under exactly-once: the user's setting, else
    /// 10 s.
    pub(crate) fn transaction_timeout_ms(&self) -> u64 {
        self.producer_setting("transaction.timeout.ms")
            .unwrap_or(EOS_TRANSACTION_TIMEOUT_MS)
    }

    /// The largest record the producer sends: its `message.max.bytes`, else librdkafka's
    /// default.
    pub(super) fn message_max_bytes(&self) -> usize {
        self.producer_setting("message.max.bytes")
            .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES)
    }

    /// The producer's setting `key` read as a `T`: the last one set that parses.
    fn producer_setting<T: FromStr>(&self, key: &str) -> Option<T> {
        self.client_settings(ClientKind::Producer)
            .filter(|(k, _)| *k == key)
            .filter_map(|(_, v)| v.trim().parse().ok())
            .last()
    }

    /// Keeps `key = value` for the clients: `key` is a librdkafka setting, for one kind of
    /// client when it starts with that kind's prefix.
    pub(super) fn push_client_setting(&mut self, key: &str, value: &str) -> Result<()> {
        let (kind, client_key) = PREFIXED_KINDS
            .into_iter()
            .find_map(|kind| Some((kind, key.strip_prefix(kind.prefix())?)))
            .unwrap_or((ClientKind::All, key));
        if client_key.is_empty() {
            return Err(StreamsError::config(
                key,
                "a client setting needs a name after the prefix",
            ));
        }
        super::keys::check_client_setting(key, client_key, value)?;
        self.client
            .push((kind, client_key.to_owned(), value.to_owned()));
        Ok(())
    }
}
