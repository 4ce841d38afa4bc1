//! Every compression codec a Java producer writes is read, and output compressed with zstd is
//! read by a Java consumer: the plain Java clients (the Kafka jars the suite already fetched)
//! on both sides of a passthrough application.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use integration_tests::cleanup::ScratchDir;
use integration_tests::kafka::{kafka_libs, shared_cluster, unique_name};
use streams_core::serde::StringSerde;
use streams_core::{KafkaStreams, State, StreamsConfig, Topology};

const CODECS: [&str; 4] = ["gzip", "snappy", "lz4", "zstd"];
const PER_CODEC: usize = 50;

/// Compiles `java/CodecClient.java` into `dir` against the Kafka jars; returns the class path.
fn compile_client(dir: &Path) -> Result<String> {
    let libs = kafka_libs()?.join("*").display().to_string();
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/java/CodecClient.java");
    let out = Command::new("javac")
        .args(["-J-XX:-UsePerfData", "-d"])
        .arg(dir)
        .args(["-cp", &libs, source])
        .output()
        .context("running javac")?;
    if !out.status.success() {
        bail!("javac failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(format!("{}:{libs}", dir.display()))
}

/// Runs the Java client with `args`; returns its standard output.
fn java(classpath: &str, tmp: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("java")
        .arg("-XX:-UsePerfData")
        .arg(format!("-Djava.io.tmpdir={}", tmp.display()))
        .args(["-cp", classpath, "CodecClient"])
        .args(args)
        .output()
        .context("running java")?;
    if !out.status.success() {
        bail!(
            "the Java client {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

#[test]
fn every_codec_a_java_producer_writes_is_read_and_zstd_output_is_read_by_java() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let scratch = ScratchDir::with_prefix("kstreams-test-codecs-")?;
    let classes = scratch.path().join("classes");
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir_all(&classes)?;
    std::fs::create_dir_all(&tmp)?;
    let classpath = compile_client(&classes)?;

    let app = unique_name("codecs-app");
    let output = unique_name("codecs-out");
    cluster.create_topic(&output, 1, 1, &[])?;
    let base = streams_core::timestamp::now_ms() - 60_000;
    let mut inputs = Vec::new();
    let mut expected = Vec::new();
    for codec in CODECS {
        let topic = unique_name(&format!("codecs-{codec}"));
        cluster.create_topic(&topic, 1, 1, &[])?;
        java(
            &classpath,
            &tmp,
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
    let read = java(
        &classpath,
        &tmp,
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
