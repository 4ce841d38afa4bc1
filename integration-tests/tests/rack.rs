//! Fetching from the closest replica (KIP-392): with `client.rack` set, the stream thread's
//! consumer reads a partition from the follower in its rack, not from the leader, and says so
//! in `kstreams_consumer_preferred_read_replica`.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce_timed, read_topic};
use integration_tests::kafka::{KafkaCluster, NodeExtras, unique_name};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use streams_core::serde::StringSerde;
use streams_core::{KafkaStreams, State, StreamsConfig, Topology};

/// The leader of partition 0 of `topic`.
fn leader_of(bootstrap: &str, topic: &str) -> Result<i32> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    Ok(md.topics()[0].partitions()[0].leader())
}

/// Runs a passthrough from `input` with `rack` as `client.rack` (none when `None`) until its
/// ten records are copied, then returns the preferred read replica the metrics report for
/// `input`-0 once the consumer's statistics name one.
async fn read_replica_with(
    cluster: &KafkaCluster,
    input: &str,
    rack: Option<&str>,
    expected: i32,
) -> Result<f64> {
    let bootstrap = cluster.bootstrap_servers();
    let output = unique_name("rack-out");
    cluster.create_topic(&output, 1, 2, &[])?;
    let state = ScratchDir::with_prefix("kstreams-test-rack-")?;
    let mut topology = Topology::new();
    topology
        .add_source("src", &[input], StringSerde, StringSerde)?
        .add_sink("sink", &output, StringSerde, StringSerde, &["src"])?;
    let mut config = StreamsConfig::new(unique_name("rack-app"), bootstrap)
        .with_state_dir(state.path())
        .set("consumer.statistics.interval.ms", "500")?;
    if let Some(rack) = rack {
        config = config.set("client.rack", rack)?;
    }
    let mut streams = KafkaStreams::new(topology, config)?;
    streams.start()?;
    let copied = read_topic(
        bootstrap,
        &output,
        10,
        Duration::ZERO,
        Duration::from_secs(60),
    )?;
    assert_eq!(copied.len(), 10);
    let deadline = Instant::now() + Duration::from_secs(30);
    let labels = [("topic", input), ("partition", "0")];
    let replica = loop {
        let seen = streams
            .metrics()
            .max("kstreams_consumer_preferred_read_replica", &labels);
        match seen {
            Some(r) if r == expected as f64 || Instant::now() > deadline => break r,
            _ if Instant::now() > deadline => bail!("no preferred read replica reported"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    assert_eq!(streams.state(), State::Running, "{:?}", streams.error());
    streams.close(Duration::from_secs(30))?;
    Ok(replica)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_with_client_rack_fetches_from_the_replica_in_its_rack() -> Result<()> {
    integration_tests::log_to_stderr();
    let cluster = KafkaCluster::start_with(
        2,
        NodeExtras {
            racks: true,
            properties: "replica.selector.class=\
                         org.apache.kafka.common.replica.RackAwareReplicaSelector\n"
                .into(),
            ..NodeExtras::default()
        },
    )?;
    let bootstrap = cluster.bootstrap_servers();
    let input = unique_name("rack-in");
    cluster.create_topic(&input, 1, 2, &[])?;
    let records = (0..10).map(|i| (format!("k{i}"), b"v".to_vec(), None, Some(1_000 + i)));
    produce_timed(bootstrap, &input, records).await?;
    let leader = leader_of(bootstrap, &input)?;
    let follower = if leader == 1 { 2 } else { 1 };

    let replica = read_replica_with(
        &cluster,
        &input,
        Some(&format!("rack-{follower}")),
        follower,
    )
    .await?;
    assert_eq!(replica, follower as f64, "leader {leader}");
    // Without client.rack, the leader serves the fetches.
    let replica = read_replica_with(&cluster, &input, None, -1).await?;
    assert_eq!(replica, -1.0, "leader {leader}");
    Ok(())
}
