//! Internal topics (Kafka Streams' `InternalTopicManager`): at start-up, checks the source
//! topics (they exist, co-partitioned ones have equal partition counts) and creates the
//! missing repartition and changelog topics, refusing existing ones with the wrong partition
//! count and a changelog deleted under local state.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::admin_client::AdminHandle;
use super::client_failure::{ClientFailure, WatchedContext, authorization_error};
use super::client_supplier;
use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::topology::{Subtopology, Topology};

/// The client of the start-up metadata requests.
type MetadataClient = BaseProducer<WatchedContext>;

/// Asks for the metadata of `topics` by name: a broker leaves the topics a principal may not
/// describe out of a request for all topics, but names them with an authorization error when
/// asked for them. Those are refused with [`StreamsError::Authorization`].
fn check_described(client: &MetadataClient, topics: &[&str]) -> Result<()> {
    let mut refused = Vec::new();
    for topic in topics {
        let md = client
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(|e| StreamsError::kafka(format!("fetching the metadata of {topic}"), e))?;
        if md.topics().iter().any(|t| {
            t.error().map(RDKafkaErrorCode::from)
                == Some(RDKafkaErrorCode::TopicAuthorizationFailed)
        }) {
            refused.push(*topic);
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(authorization_error(
        "describe",
        format!("topic {}", refused.join(", topic ")),
        "the broker refused the metadata of the source topics",
        "Describe and Read on the source topics",
    ))
}

/// Checks and creates the topics an application needs.
pub(crate) struct InternalTopicManager<'a> {
    pub config: &'a StreamsConfig,
    pub topology: &'a Topology,
}

impl InternalTopicManager<'_> {
    /// Checks the source topics and creates the missing changelog topics (or refuses existing
    /// ones with the wrong partition count).
    pub(crate) fn prepare(&self, subtopologies: &[Subtopology]) -> Result<()> {
        check_resolvable(self.config.bootstrap_servers())?;
        let failure = ClientFailure::new(self.config.application_id());
        let client: MetadataClient = client_supplier::create_admin_with_context(
            self.config,
            WatchedContext::new(&failure, self.config),
        )?;
        let md = self.fetch_metadata(&client, &failure)?;
        let mut counts: std::collections::HashMap<String, usize> = md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_owned(), t.partitions().len()))
            .collect();
        self.create_repartition_topics(subtopologies, &mut counts)?;
        let mut missing: Vec<&str> = subtopologies
            .iter()
            .flat_map(|s| s.source_topics.iter())
            .map(String::as_str)
            .filter(|t| !counts.contains_key(*t))
            .collect();
        if !missing.is_empty() {
            missing.sort_unstable();
            check_described(&client, &missing)?;
            return Err(StreamsError::Topology(format!(
                "source topics {missing:?} do not exist; create them before starting"
            )));
        }
        for sub in subtopologies {
            let sizes: Vec<(&str, usize)> = sub
                .source_topics
                .iter()
                .map(|t| (t.as_str(), counts[t.as_str()]))
                .collect();
            if sizes.windows(2).any(|w| w[0].1 != w[1].1) {
                let listed: Vec<String> = sizes
                    .iter()
                    .map(|(t, n)| format!("{t} ({n} partitions)"))
                    .collect();
                return Err(StreamsError::Topology(format!(
                    "topics {} of sub-topology {} must be co-partitioned (the same number of partitions) but are not",
                    listed.join(", "),
                    sub.id
                )));
            }
        }
        self.create_changelogs(subtopologies, &counts)
    }

    /// The metadata of every topic, asked for one second at a time for up to 30 s, so that a
    /// refused authentication or TLS handshake (which librdkafka reports through the error
    /// callback and retries) fails at once instead of after the whole wait.
    fn fetch_metadata(
        &self,
        client: &MetadataClient,
        failure: &ClientFailure,
    ) -> Result<rdkafka::metadata::Metadata> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let attempt = client.client().fetch_metadata(None, Duration::from_secs(1));
            // Serves the error callback.
            client.poll(Duration::ZERO);
            failure.check()?;
            match attempt {
                Ok(md) => return Ok(md),
                Err(e) if Instant::now() >= deadline => {
                    return Err(StreamsError::kafka(
                        format!(
                            "fetching topic metadata at start-up from bootstrap.servers {:?} \
                             (no broker answered within 30 s)",
                            self.config.bootstrap_servers()
                        ),
                        e,
                    ));
                }
                Err(e) => tracing::debug!(error = %e, "no metadata yet; asking again"),
            }
        }
    }

    /// Creates the missing repartition topics and adds them to `counts`. A topic read next to
    /// user topics gets their partition count (co-partitioning); otherwise as many partitions
    /// as the largest source topic of the sub-topologies writing to it (found in dependency
    /// order, since a writer may read another repartition topic). An existing one with
    /// another partition count is refused.
    fn create_repartition_topics(
        &self,
        subtopologies: &[Subtopology],
        counts: &mut std::collections::HashMap<String, usize>,
    ) -> Result<()> {
        let writers = self.topology.repartition_writers();
        let fixed = self.topology.fixed_repartition_partitions();
        let mut sizes: std::collections::HashMap<String, usize> = fixed.clone();
        // A repartition topic read in a sub-topology together with user topics must be
        // co-partitioned with them: it takes their partition count (one given another count
        // is refused).
        for (topic, _) in &writers {
            let reader = subtopologies
                .iter()
                .find(|s| s.source_topics.iter().any(|t| t == topic));
            if let Some(reader) = reader
                && let Some((user, n)) = reader
                    .source_topics
                    .iter()
                    .filter(|t| !writers.iter().any(|(w, _)| w == *t))
                    .find_map(|t| Some((t, counts.get(t).copied()?)))
            {
                if let Some(&given) = fixed.get(topic)
                    && given != n
                {
                    return Err(not_copartitioned(topic, given, user, n));
                }
                sizes.insert(topic.clone(), n);
            }
        }
        for _ in 0..=writers.len() {
            for (topic, subs) in &writers {
                if sizes.contains_key(topic) {
                    continue;
                }
                let mut n = Some(0usize);
                for sub in subtopologies.iter().filter(|s| subs.contains(&s.id)) {
                    for t in &sub.source_topics {
                        let known = if writers.iter().any(|(w, _)| w == t) {
                            sizes.get(t).copied()
                        } else {
                            counts.get(t).copied()
                        };
                        n = match (n, known) {
                            (Some(a), Some(b)) => Some(a.max(b)),
                            _ => None,
                        };
                    }
                }
                if let Some(n) = n.filter(|n| *n > 0) {
                    sizes.insert(topic.clone(), n);
                }
            }
        }
        // Repartition topics read by one sub-topology must be co-partitioned with each other
        // too: all take the largest count among them.
        // A given count wins over the others; two different given counts are refused.
        for sub in subtopologies {
            let read: Vec<&String> = sub
                .source_topics
                .iter()
                .filter(|t| sizes.contains_key(*t))
                .collect();
            let mut given = read.iter().filter_map(|t| Some((*t, *fixed.get(*t)?)));
            let count = match given.next() {
                Some((first, n)) => {
                    if let Some((other, m)) = given.find(|(_, m)| *m != n) {
                        return Err(not_copartitioned(first, n, other, m));
                    }
                    Some(n)
                }
                None => read.iter().filter_map(|t| sizes.get(*t).copied()).max(),
            };
            if let Some(count) = count {
                for t in read {
                    sizes.insert(t.clone(), count);
                }
            }
        }
        let mut wanted = Vec::new();
        for (topic, _) in &writers {
            let Some(&n) = sizes.get(topic) else {
                // Its writers read topics that do not exist: the missing-topic check says so.
                continue;
            };
            match counts.get(topic) {
                Some(&existing) if existing == n => {}
                Some(&existing) => {
                    return Err(StreamsError::Topology(format!(
                        "repartition topic {topic} has {existing} partitions but {n} are wanted \
                         (its writers' source topics or Repartitioned::with_number_of_partitions); \
                         delete it or reset the application"
                    )));
                }
                None => wanted.push((
                    topic.clone(),
                    n,
                    with_overrides(repartition_topic_configs(), self.config, &[]),
                )),
            }
            counts.insert(topic.clone(), n);
        }
        self.create_topics(wanted, "repartition")
    }

    fn create_changelogs(
        &self,
        subtopologies: &[Subtopology],
        counts: &std::collections::HashMap<String, usize>,
    ) -> Result<()> {
        let mut wanted = Vec::new();
        for (topic, sub_id, spec) in self.topology.changelog_topics(self.config.application_id()) {
            let sub = subtopologies.iter().find(|s| s.id == sub_id);
            let tasks = sub
                .and_then(|s| s.source_topics.first())
                .map_or(0, |t| counts[t.as_str()]);
            match counts.get(topic.as_str()) {
                Some(&n) if n == tasks => {}
                Some(&n) => {
                    return Err(StreamsError::Topology(format!(
                        "changelog topic {topic} has {n} partitions but its sub-topology has {tasks} tasks; \
                         delete it or reset the application"
                    )));
                }
                None => {
                    self.refuse_lost_changelog(&topic)?;
                    wanted.push((
                        topic,
                        tasks,
                        with_overrides(spec.configs, self.config, CHANGELOG_KEPT),
                    ))
                }
            }
        }
        self.create_topics(wanted, "changelog")
    }

    /// A changelog topic is missing while this instance holds local state of a store logged
    /// to it: the topic was deleted while the application was stopped. Recreating it empty
    /// would leave the state without its source of truth (and the next owner of the task
    /// without the state), so the start is refused, naming the topic, until the user resets
    /// the local state with `KafkaStreams::clean_up` (or brings the topic back).
    fn refuse_lost_changelog(&self, topic: &str) -> Result<()> {
        let app_dir = self.config.state_dir().join(self.config.application_id());
        for (changelog, sub_id, store) in self
            .topology
            .persistent_logged_stores(self.config.application_id())
        {
            if changelog != topic {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&app_dir) else {
                return Ok(());
            };
            let task_prefix = format!("{sub_id}_");
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_task = name
                    .strip_prefix(&task_prefix)
                    .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
                let store_dir = entry.path().join("rocksdb").join(&store);
                if is_task && store_dir.exists() {
                    return Err(StreamsError::Topology(format!(
                        "changelog topic {topic} does not exist, but local state of store \
                         `{store}` does ({}): the topic was deleted while the application was \
                         stopped, and recreating it empty would lose that state. Bring the \
                         topic back, or reset the application's local state: call \
                         KafkaStreams::clean_up() before start() (it deletes {})",
                        store_dir.display(),
                        app_dir.display()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Creates `(topic, partitions, configs)`; one created concurrently by another instance
    /// is fine.
    fn create_topics(&self, wanted: Vec<WantedTopic>, what: &str) -> Result<()> {
        if wanted.is_empty() {
            return Ok(());
        }
        let failure = ClientFailure::new(self.config.application_id());
        let admin = AdminHandle::new(self.config, &failure)?;
        let new_topics: Vec<NewTopic<'_>> = wanted
            .iter()
            .map(|(topic, partitions, configs)| {
                let mut t = NewTopic::new(
                    topic,
                    *partitions as i32,
                    TopicReplication::Fixed(self.config.replication_factor()),
                );
                for (k, v) in configs {
                    t = t.set(k, v);
                }
                t
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = futures::executor::block_on(admin.create_topics(&new_topics, &opts))
            .map_err(|e| StreamsError::kafka(format!("creating {what} topics"), e))?;
        for result in results {
            match result {
                Ok(topic) => tracing::info!(%topic, kind = what, "created internal topic"),
                Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    tracing::info!(%topic, kind = what, "internal topic created concurrently by another instance");
                }
                Err((
                    topic,
                    code @ (RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::ClusterAuthorizationFailed),
                )) => {
                    return Err(authorization_error(
                        "create",
                        format!("topic {topic}"),
                        format_args!("creating the {what} topic failed: {code}"),
                        "Create on the topics prefixed with the application.id, or create the \
                         topic beforehand",
                    ));
                }
                Err((topic, code)) => {
                    return Err(StreamsError::Topology(format!(
                        "creating {what} topic {topic} failed: {code}"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A topic to create: name, partitions, configuration.
type WantedTopic = (String, usize, Vec<(String, String)>);

/// Two topics read together (so co-partitioned) with different partition counts, one of them
/// a repartition topic given its count.
fn not_copartitioned(topic: &str, n: usize, other: &str, m: usize) -> StreamsError {
    StreamsError::Topology(format!(
        "repartition topic {topic} is given {n} partitions but is read together with {other}, \
         which has {m}: topics read together must have the same number of partitions; give \
         both the same count"
    ))
}

/// The configuration of repartition topics, as Kafka Streams sets it: deleted, never by age
/// (the stream threads purge what was committed), with 50 MiB segments so purged records go.
/// An internal topic's configs: the library's `defaults`, then the `topic.*` settings over
/// them (Kafka Streams' order), except the `kept` keys the defaults set themselves (a window
/// or session changelog's `retention.ms`, which its store's retention decides).
fn with_overrides(
    defaults: Vec<(String, String)>,
    config: &StreamsConfig,
    kept: &[&str],
) -> Vec<(String, String)> {
    let mut configs = defaults;
    for (name, value) in config.internal_topic_configs() {
        if kept.contains(&name.as_str()) && configs.iter().any(|(k, _)| k == name) {
            continue;
        }
        configs.retain(|(k, _)| k != name);
        configs.push((name.clone(), value.clone()));
    }
    configs
}

/// What a changelog's store decides over `topic.*`: a window or session store's retention.
const CHANGELOG_KEPT: &[&str] = &["retention.ms"];

fn repartition_topic_configs() -> Vec<(String, String)> {
    [
        ("cleanup.policy", "delete"),
        ("retention.ms", "-1"),
        ("segment.bytes", "52428800"),
        ("message.timestamp.type", "CreateTime"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Fails at once, naming each address, when no address of `bootstrap.servers` resolves
/// (librdkafka would retry for the whole metadata timeout and then report a transport
/// error naming none). One that resolves is enough: librdkafka finds the others.
fn check_resolvable(bootstrap: &str) -> Result<()> {
    use std::net::ToSocketAddrs;
    let mut failures = Vec::new();
    for entry in bootstrap.split([',', ' ']).filter(|s| !s.is_empty()) {
        let address = entry.split_once("://").map_or(entry, |(_, rest)| rest);
        match address.to_socket_addrs().map(|mut addrs| addrs.next()) {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => failures.push(format!("{address}: no address")),
            Err(e) => failures.push(format!("{address}: {e}")),
        }
    }
    Err(StreamsError::config(
        "bootstrap.servers",
        format!("no bootstrap server resolves: {}", failures.join("; ")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn topic_settings_go_over_the_library_defaults_but_not_a_window_changelog_retention() {
        let config = StreamsConfig::new("app", "localhost:9092")
            .set("topic.min.insync.replicas", "2")
            .and_then(|c| c.set("topic.retention.ms", "1000"))
            .expect("valid");
        assert_eq!(
            with_overrides(
                pairs(&[("cleanup.policy", "compact")]),
                &config,
                CHANGELOG_KEPT
            ),
            pairs(&[
                ("cleanup.policy", "compact"),
                ("min.insync.replicas", "2"),
                ("retention.ms", "1000")
            ])
        );
        assert_eq!(
            with_overrides(
                pairs(&[
                    ("cleanup.policy", "compact,delete"),
                    ("retention.ms", "86400000")
                ]),
                &config,
                CHANGELOG_KEPT
            ),
            pairs(&[
                ("cleanup.policy", "compact,delete"),
                ("retention.ms", "86400000"),
                ("min.insync.replicas", "2")
            ])
        );
        let repartition = with_overrides(repartition_topic_configs(), &config, &[]);
        assert!(repartition.contains(&("retention.ms".to_owned(), "1000".to_owned())));
        assert!(!repartition.contains(&("retention.ms".to_owned(), "-1".to_owned())));
    }
}
