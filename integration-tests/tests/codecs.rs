//! Every compression codec a Java producer writes is read, and output compressed with zstd is
//! read by a Java consumer: the plain Java clients (the Kafka jars the suite already fetched)
//! on both sides of a passthrough application.

use std::time::Duration;

use anyhow::Result;
use integration_tests::cleanup::ScratchDir;
use integration_tests::kafka::{shared_cluster, unique_name};
use streams_core::serde::StringSerde;
use streams_core::{KafkaStreams, State, StreamsConfig, Topology};

const CODECS: [&str; 4] = ["gzip", "snappy", "lz4", "zstd"];
const PER_CODEC: usize = 50;

#[test]
fn every_codec_a_java_producer_writes_is_read_and_zstd_output_is_read_by_java() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let scratch = ScratchDir::with_prefix("kstreams-test-codecs-")?;
    let classes = scratch.path().join("classes");
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir_all(&classes)?;
    std::fs::create_dir_all(&tmp)?;
    let classpath = integration_tests::java::compile("CodecClient", &classes)?;

    let app = unique_name("codecs-app");
    let output = unique_name("codecs-out");
    cluster.create_topic(&output, 1, 1, &[])?;
    let base = streams_core::timestamp::now_ms() - 60_000;
    let mut inputs = Vec::new();
    let mut expected = Vec::new();
    for codec in CODECS {
        let topic = unique_name(&format!("codecs-{codec}"));
        cluster.create_topic(&topic, 1, 1, &[])?;
        integration_tests::java::run(
            &classpath,
            &tmp,
            "CodecClient",
            &[
                "produce",
                bootstrap,
                &topic,
                codec,
                &PER_CODEC.to_string(),
                &base.to_string(),
            ],
        )?;
        for i in 0..PER_CODEC {
            expected.push(format!("k{i}={codec}-{i}@{}", base + i as i64));
        }
        inputs.push(topic);
    }

    let mut topology = Topology::new();
    let sources: Vec<&str> = inputs.iter().map(String::as_str).collect();
    topology
        .add_source("src", &sources, StringSerde, StringSerde)?
        .add_sink("sink", &output, StringSerde, StringSerde, &["src"])?;
    let config = StreamsConfig::new(&app, bootstrap)
        .with_state_dir(scratch.path().join("state"))
        .set("producer.compression.type", "zstd")?;
    let mut streams = KafkaStreams::new(topology, config)?;
    streams.start()?;
    let read = integration_tests::java::run(
        &classpath,
        &tmp,
        "CodecClient",
        &[
            "consume",
            bootstrap,
            &output,
            &(PER_CODEC * CODECS.len()).to_string(),
        ],
    );
    let state = streams.state();
    streams.close(Duration::from_secs(30))?;
    let mut lines: Vec<String> = read?.lines().map(str::to_owned).collect();
    lines.sort();
    expected.sort();
    assert_eq!(state, State::Running);
    assert_eq!(lines, expected);

    let mut topics: Vec<&str> = inputs.iter().map(String::as_str).collect();
    topics.push(&output);
    cluster.delete_topics(&topics, &[&app])?;
    Ok(())
}
