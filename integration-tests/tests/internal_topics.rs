//! Internal topics sized for durability: `replication.factor` and `topic.*` settings reach
//! every changelog and repartition topic the library creates, on three brokers of the test's
//! own; without them the topics take the brokers' defaults.

use std::time::Duration;

use anyhow::{Context, Result};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce, read_topic};
use integration_tests::kafka::{KafkaCluster, unique_name};
use streams_core::serde::{Nullable, StringSerde};
use streams_core::{KafkaStreams, State, StreamsConfig, Topology};
use streams_dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};

/// Counts records per value: a key change (a repartition topic) and a store (a changelog).
fn count_by_value(input: &str, output: &str) -> streams_core::Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream_with(&[input], Consumed::with(StringSerde, StringSerde))
        .group_by_with(|_, v| v.clone(), Grouped::with(StringSerde, StringSerde))
        .count_with(Materialized::as_store("counts"))
        .to_stream()
        .map_values(|n| n.map(|n| n.to_string()))
        .to_with(output, Produced::with(StringSerde, Nullable(StringSerde)));
    b.build()
}

/// The replica count of each partition of `topic`.
fn replicas(cluster: &KafkaCluster, topic: &str) -> Result<Vec<usize>> {
    let md = cluster
        .admin()?
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let t = md.topics().first().context("the topic")?;
    Ok(t.partitions().iter().map(|p| p.replicas().len()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_topics_get_the_replication_and_min_insync_replicas_asked_for() -> Result<()> {
    let cluster = KafkaCluster::start(3)?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output) = (unique_name("durable-in"), unique_name("durable-out"));
    cluster.create_topic(&input, 2, 3, &[])?;
    cluster.create_topic(&output, 1, 3, &[])?;

    for durable in [true, false] {
        let app = unique_name(if durable { "durable" } else { "defaults" });
        let mut config = StreamsConfig::new(&app, bootstrap).set("commit.interval.ms", "100")?;
        if durable {
            config = config
                .set("replication.factor", "3")?
                .set("topic.min.insync.replicas", "2")?;
        }
        let state = ScratchDir::new()?;
        let mut streams = KafkaStreams::new(
            count_by_value(&input, &output)?,
            config.with_state_dir(state.path()),
        )?;
        streams.start()?;
        assert!(streams.wait_for_state(State::Running, Duration::from_secs(60)));
        let changelog = format!("{app}-counts-changelog");
        let repartition = format!("{app}-counts-repartition");
        for topic in [&changelog, &repartition] {
            // Not asked for: not set on the topic, the broker's default applies.
            let (want_replicas, want_min_isr) = if durable { (3, Some("2")) } else { (1, None) };
            assert_eq!(
                replicas(&cluster, topic)?,
                vec![want_replicas; 2],
                "{topic}"
            );
            assert_eq!(
                cluster
                    .topic_config(topic, "min.insync.replicas")?
                    .as_deref(),
                want_min_isr,
                "{topic}"
            );
        }
        // The library's own configs stay: compacted changelog, deleting repartition topic.
        assert_eq!(
            cluster
                .topic_config(&changelog, "cleanup.policy")?
                .as_deref(),
            Some("compact")
        );
        assert_eq!(
            cluster
                .topic_config(&repartition, "cleanup.policy")?
                .as_deref(),
            Some("delete")
        );
        if durable {
            // Writes with acks=all to two in-sync replicas at least: the counts come out.
            produce(
                bootstrap,
                &input,
                [("a", "x"), ("b", "y"), ("c", "x")]
                    .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec(), None)),
            )
            .await?;
            let out = read_topic(
                bootstrap,
                &output,
                3,
                Duration::from_secs(1),
                Duration::from_secs(60),
            )?;
            let mut counts: Vec<(String, String)> =
                out.into_iter().map(|r| (r.key, r.value)).collect();
            counts.sort();
            let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
            assert_eq!(counts, vec![pair("x", "1"), pair("x", "2"), pair("y", "1")]);
        }
        streams.close(Duration::from_secs(30))?;
    }
    Ok(())
}
