//! `kstreams-reset`, the counterpart of Kafka's `kafka-streams-application-reset`: makes an
//! application process its input again from a chosen point. With every instance stopped it
//! moves the group's committed offsets of the input topics (to the earliest or latest offset, a
//! given offset, a point in time, or a duration ago), moves those of intermediate topics to
//! their end, deletes the internal topics (changelogs, repartition and foreign-key
//! subscription/response topics), and removes the local state when given the state directory.
//! A dry run prints the same plan and changes nothing.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use streams_core::config::ClientKind;

use crate::settings::Settings;

/// Where the input topics' offsets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The earliest offset still in the log (the default, as Kafka's tool).
    Earliest,
    /// The end: only records written from now on are processed.
    Latest,
    /// This offset, moved into the partition's range when outside it.
    Offset(i64),
    /// The first offset whose timestamp is at or after this time (ms since the epoch); the end
    /// when there is none.
    Time(i64),
}

/// What to reset.
#[derive(Debug, Clone)]
pub struct ResetOptions {
    /// The application's id: its consumer group and the prefix of its internal topics.
    pub application_id: String,
    /// The cluster.
    pub bootstrap: String,
    /// Input topics: offsets moved to `target`.
    pub input_topics: Vec<String>,
    /// Intermediate topics (written and read by the application, user-created): offsets
    /// moved to their end.
    pub intermediate_topics: Vec<String>,
    /// Where input offsets go.
    pub target: Target,
    /// The application's `state.dir`: its `<state.dir>/<application.id>` is removed.
    pub state_dir: Option<PathBuf>,
    /// Client settings (security included).
    pub settings: Settings,
}

/// One partition's committed offset and where the reset puts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetMove {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The group's committed offset, if any.
    pub committed: Option<i64>,
    /// The offset the reset commits.
    pub to: i64,
}

/// What a reset does, worked out without changing anything.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The application id.
    pub application_id: String,
    /// Offsets of input and intermediate topics.
    pub offsets: Vec<OffsetMove>,
    /// Internal topics to delete.
    pub internal_topics: Vec<String>,
    /// The local state directory to remove, if it exists.
    pub state: Option<PathBuf>,
}

/// The suffixes of the internal topics an application creates after `<application.id>-`.
const INTERNAL_SUFFIXES: [&str; 5] = [
    "-changelog",
    "-repartition",
    "-subscription-registration-topic",
    "-subscription-response-topic",
    "-shutdown-requests",
];

/// Whether `topic` is one of `application_id`'s internal topics.
pub fn is_internal_topic(application_id: &str, topic: &str) -> bool {
    topic
        .strip_prefix(application_id)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|rest| {
            INTERNAL_SUFFIXES
                .iter()
                .any(|s| rest.len() > s.len() && rest.ends_with(s))
        })
}

const TIMEOUT: Duration = Duration::from_secs(30);

fn consumer(options: &ResetOptions) -> Result<BaseConsumer> {
    options
        .settings
        .client(&options.bootstrap, ClientKind::Consumer)
        .set("group.id", &options.application_id)
        .set("enable.auto.commit", "false")
        .create()
        .context("creating the consumer")
}

/// Fails, naming them, when consumer group `group` has members: the application still runs,
/// and its next commit would undo the reset.
fn refuse_active_members(consumer: &BaseConsumer, group: &str) -> Result<()> {
    let groups = consumer
        .fetch_group_list(Some(group), TIMEOUT)
        .context("describing the application's consumer group")?;
    let Some(members) = groups.groups().first().map(|g| g.members()) else {
        return Ok(());
    };
    if members.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = members
        .iter()
        .map(|m| format!("{} ({})", m.client_id(), m.client_host()))
        .collect();
    bail!(
        "the consumer group {group} has {} active member(s): {}; stop every instance of the \
         application first (a reset while it runs would be undone by its next commit)",
        names.len(),
        names.join(", ")
    )
}

/// Works out the reset: refuses while the group has members (the application still runs),
/// checks that the named topics exist, reads the offsets it will move from and to, and lists
/// the internal topics. Changes nothing.
pub fn plan(options: &ResetOptions) -> Result<Plan> {
    let consumer = consumer(options)?;
    refuse_active_members(&consumer, &options.application_id)?;
    let metadata = consumer
        .fetch_metadata(None, TIMEOUT)
        .context("reading the cluster's topics")?;
    let partitions = |topic: &str| -> Result<i32> {
        let t = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .with_context(|| format!("topic {topic} does not exist"))?;
        Ok(i32::try_from(t.partitions().len())?)
    };
    let mut offsets = Vec::new();
    for (topics, target) in [
        (&options.input_topics, options.target),
        (&options.intermediate_topics, Target::Latest),
    ] {
        for topic in topics {
            for partition in 0..partitions(topic)? {
                let to = target_offset(&consumer, topic, partition, target)?;
                offsets.push(OffsetMove {
                    topic: topic.clone(),
                    partition,
                    committed: None,
                    to,
                });
            }
        }
    }
    let mut list = TopicPartitionList::new();
    for m in &offsets {
        list.add_partition(&m.topic, m.partition);
    }
    if list.count() > 0 {
        let committed = consumer
            .committed_offsets(list, TIMEOUT)
            .context("reading the group's committed offsets")?;
        for m in &mut offsets {
            m.committed = committed
                .find_partition(&m.topic, m.partition)
                .and_then(|p| match p.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
        }
    }
    let mut internal_topics: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|t| is_internal_topic(&options.application_id, t))
        .collect();
    internal_topics.sort();
    let state = options
        .state_dir
        .as_ref()
        .map(|d| d.join(&options.application_id))
        .filter(|d| d.exists());
    Ok(Plan {
        application_id: options.application_id.clone(),
        offsets,
        internal_topics,
        state,
    })
}

/// The offset `target` means in `topic`'s `partition`.
fn target_offset(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    target: Target,
) -> Result<i64> {
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, TIMEOUT)
        .with_context(|| format!("reading the offsets of {topic}-{partition}"))?;
    Ok(match target {
        Target::Earliest => low,
        Target::Latest => high,
        Target::Offset(o) => o.clamp(low, high),
        Target::Time(ms) => {
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(topic, partition, Offset::Offset(ms))?;
            let found = consumer
                .offsets_for_times(list, TIMEOUT)
                .with_context(|| format!("looking up {topic}-{partition} by time"))?;
            match found.find_partition(topic, partition).map(|p| p.offset()) {
                Some(Offset::Offset(o)) => o,
                // No record at or after the time: the end.
                _ => high,
            }
        }
    })
}

/// Carries `plan` out: commits the offsets, deletes the internal topics, removes the state.
/// Checks again first that the group has no members (one may have joined since the plan).
pub fn apply(options: &ResetOptions, plan: &Plan) -> Result<()> {
    let consumer = consumer(options)?;
    refuse_active_members(&consumer, &options.application_id)?;
    if !plan.offsets.is_empty() {
        let mut list = TopicPartitionList::new();
        for m in &plan.offsets {
            list.add_partition_offset(&m.topic, m.partition, Offset::Offset(m.to))?;
        }
        consumer
            .commit(&list, CommitMode::Sync)
            .context("committing the new offsets")?;
    }
    if !plan.internal_topics.is_empty() {
        let admin: AdminClient<DefaultClientContext> = options
            .settings
            .client(&options.bootstrap, ClientKind::Admin)
            .create()
            .context("creating the admin client")?;
        let names: Vec<&str> = plan.internal_topics.iter().map(String::as_str).collect();
        let results = futures::executor::block_on(admin.delete_topics(
            &names,
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        ))
        .context("deleting the internal topics")?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((topic, code)) => bail!("deleting internal topic {topic}: {code}"),
            }
        }
    }
    if let Some(state) = &plan.state {
        std::fs::remove_dir_all(state)
            .with_context(|| format!("removing the local state {}", state.display()))?;
    }
    Ok(())
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Reset of application {}:", self.application_id)?;
        if self.offsets.is_empty() {
            writeln!(f, "  no input or intermediate topics given: offsets stay")?;
        }
        for m in &self.offsets {
            let from = m
                .committed
                .map_or_else(|| "none".to_owned(), |o| o.to_string());
            writeln!(
                f,
                "  offset of {}-{}: {from} -> {}",
                m.topic, m.partition, m.to
            )?;
        }
        if self.internal_topics.is_empty() {
            writeln!(f, "  no internal topics to delete")?;
        }
        for t in &self.internal_topics {
            writeln!(f, "  delete internal topic {t}")?;
        }
        match &self.state {
            Some(dir) => writeln!(f, "  remove local state {}", dir.display()),
            None => writeln!(
                f,
                "  no local state to remove (give --state-dir to remove it)"
            ),
        }
    }
}

/// Parses an ISO-8601 duration as Kafka's tool takes it (`P1D`, `PT15M`, `P2DT3H4M5.5S`).
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        anyhow::anyhow!(
            "{text:?} is not an ISO-8601 duration; allowed: PnDTnHnMnS with any parts, such as \
             P1D, PT15M or P1DT12H"
        )
    };
    let rest = text.strip_prefix('P').ok_or_else(bad)?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut seconds = 0f64;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> Result<()> {
        let mut number = String::new();
        let mut allowed = units.iter();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let &(_, scale) = allowed.find(|(u, _)| *u == c).ok_or_else(bad)?;
            let n: f64 = number.parse().map_err(|_| bad())?;
            seconds += n * scale;
            number.clear();
            any = true;
        }
        if number.is_empty() {
            Ok(())
        } else {
            Err(bad())
        }
    };
    take(days, &[('D', 86_400.0)])?;
    if let Some(t) = time {
        if t.is_empty() {
            return Err(bad());
        }
        take(t, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    if !any {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses `--to-datetime`: RFC 3339 (`2026-12-04T09:30:00Z`, `...+01:00`), or the same without
/// a zone, read as UTC, as Kafka's tool's `yyyy-MM-ddTHH:mm:SS.sss`.
pub fn parse_datetime(text: &str) -> Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|t| t.and_utc().timestamp_millis())
        .map_err(|_| {
            anyhow::anyhow!(
                "{text:?} is not a date and time; allowed: 2026-12-04T09:30:00, with optional \
                 fractions of a second and a zone (Z or +01:00); without a zone it is UTC"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_topics_are_the_application_s_own_by_prefix_and_suffix() {
        let app = "payments";
        for t in [
            "payments-counts-changelog",
            "payments-KSTREAM-AGGREGATE-STATE-STORE-0000000001-changelog",
            "payments-spread-repartition",
            "payments-fk-join-subscription-registration-topic",
            "payments-fk-join-subscription-response-topic",
        ] {
            assert!(is_internal_topic(app, t), "{t}");
        }
        for t in [
            "payments",
            "payments-changelog",
            "payments2-counts-changelog",
            "other-counts-changelog",
            "payments-alerts",
        ] {
            assert!(!is_internal_topic(app, t), "{t}");
        }
    }

    #[test]
    fn durations_and_times_as_kafka_s_tool_takes_them() {
        assert_eq!(
            parse_duration("P1D").ok(),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(parse_duration("PT15M").ok(), Some(Duration::from_secs(900)));
        assert_eq!(
            parse_duration("P1DT2H3M4.5S").ok(),
            Some(Duration::from_secs_f64(86_400.0 + 7_200.0 + 180.0 + 4.5))
        );
        for bad in ["", "P", "PT", "1D", "P1H", "PT1D", "P1DT", "PT5"] {
            let err = parse_duration(bad).expect_err(bad).to_string();
            assert!(err.contains("allowed: PnDTnHnMnS"), "{bad}: {err}");
        }
        assert_eq!(parse_datetime("1970-01-01T00:00:01Z").ok(), Some(1_000));
        assert_eq!(
            parse_datetime("1970-01-01T01:00:01+01:00").ok(),
            Some(1_000)
        );
        assert_eq!(parse_datetime("1970-01-01T00:00:01.250").ok(), Some(1_250));
        let err = parse_datetime("yesterday")
            .expect_err("refused")
            .to_string();
        assert!(err.contains("allowed: 2026-12-04T09:30:00"), "{err}");
    }
}
