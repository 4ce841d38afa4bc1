//! Creating an application's own topics (its inputs and outputs) with its connection
//! settings: what an application or a test does before starting, instead of a hand-built
//! admin client with the security settings repeated.

use std::time::Duration;

use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

use super::admin_client::AdminHandle;
use super::client_failure::ClientFailure;
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};

/// A topic for [`create_topics`]: name, partition count, replication factor and topic
/// configs.
///
/// ```
/// use streams_core::TopicSpec;
///
/// let orders = TopicSpec::new("orders", 6)
///     .with_replication_factor(3)
///     .with_config("retention.ms", "604800000");
/// assert_eq!(orders.name(), "orders");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    name: String,
    partitions: i32,
    replication: Option<i32>,
    configs: Vec<(String, String)>,
}

impl TopicSpec {
    /// A topic `name` of `partitions` partitions, replicated as the config's
    /// `replication.factor` says (the broker's default with -1, the default).
    pub fn new(name: &str, partitions: i32) -> Self {
        TopicSpec {
            name: name.to_owned(),
            partitions,
            replication: None,
            configs: Vec::new(),
        }
    }

    /// Replicates the topic `factor` times.
    pub fn with_replication_factor(mut self, factor: i32) -> Self {
        self.replication = Some(factor);
        self
    }

    /// Sets topic config `key` (`cleanup.policy`, `retention.ms`, ...).
    pub fn with_config(mut self, key: &str, value: &str) -> Self {
        self.configs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Creates `topics` on the cluster `config` connects to, with its settings (bootstrap
/// servers, security). A topic that exists already with the same partition count is left as
/// it is; one with another count is an error naming both counts, so that an application does
/// not start on topics it did not expect. Nothing is created when a spec is invalid.
pub fn create_topics(config: &StreamsConfig, topics: &[TopicSpec]) -> Result<()> {
    if let Some(bad) = topics
        .iter()
        .find(|t| t.partitions < 1 || t.name.is_empty())
    {
        return Err(StreamsError::Topology(format!(
            "topic `{}` with {} partitions: a topic needs a name and at least one partition",
            bad.name, bad.partitions
        )));
    }
    if topics.is_empty() {
        return Ok(());
    }
    let failure = ClientFailure::new(config.application_id());
    let admin = AdminHandle::new(config, &failure)?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|spec| {
            let factor = spec.replication.unwrap_or(config.replication_factor());
            let mut t = NewTopic::new(&spec.name, spec.partitions, TopicReplication::Fixed(factor));
            for (k, v) in &spec.configs {
                t = t.set(k, v);
            }
            t
        })
        .collect();
    let timeout = Duration::from_secs(30);
    let opts = AdminOptions::new().operation_timeout(Some(timeout));
    let results = futures::executor::block_on(admin.create_topics(&new_topics, &opts))
        .map_err(|e| StreamsError::kafka("creating topics", e))?;
    for (result, spec) in results.into_iter().zip(topics) {
        match result {
            Ok(topic) => tracing::info!(%topic, partitions = spec.partitions, "created topic"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                let metadata = admin
                    .inner()
                    .fetch_metadata(Some(&topic), timeout)
                    .map_err(|e| StreamsError::kafka(format!("describing topic {topic}"), e))?;
                let found = metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic)
                    .map_or(0, |t| t.partitions().len());
                if found != spec.partitions as usize {
                    return Err(StreamsError::Topology(format!(
                        "topic {topic} exists with {found} partitions, not the {} asked for",
                        spec.partitions
                    )));
                }
            }
            Err((topic, code)) => {
                return Err(StreamsError::Topology(format!(
                    "creating topic {topic} failed: {code}"
                )));
            }
        }
    }
    failure.check()?;
    Ok(())
}
