//! A small streams application for crash tests: reads `--input`, appends `|<instance>` to each
//! value, writes `--output`. Runs until SIGTERM/SIGINT (then closes cleanly) or until killed.
//!
//! ```text
//! tag-app --bootstrap-servers HOST:PORT --application-id ID --input T --output T
//!         [--threads N] [--instance NAME] [--state-dir DIR]
//! ```

use std::time::Duration;

use anyhow::Result;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::StringSerde;
use streams_core::{KafkaStreams, Record, StreamsConfig, Topology};

struct Tag(String);

impl Processor<String, String, String, String> for Tag {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let v = format!("{}|{}", r.value, self.0);
        ctx.forward(r.with_value(v))?;
        Ok(())
    }
}

fn main() -> Result<()> {
    let flags = integration_tests::Flags::from_args()?;
    let get = |k: &str| flags.get(k);
    let instance = flags.or("instance", "app");
    let tag = instance.clone();
    let mut topology = Topology::new();
    topology
        .add_source("src", &[&get("input")?], StringSerde, StringSerde)?
        .add_processor("tag", move || Tag(tag.clone()), &["src"])?
        .add_sink("sink", &get("output")?, StringSerde, StringSerde, &["tag"])?;
    let mut config = StreamsConfig::new(get("application-id")?, get("bootstrap-servers")?)
        .set("num.stream.threads", flags.opt("threads").unwrap_or("1"))?
        .set("commit.interval.ms", "500")?
        .set("consumer.session.timeout.ms", "6000")?
        .set("consumer.heartbeat.interval.ms", "1000")?;
    if let Some(dir) = flags.opt("state-dir") {
        config = config.set("state.dir", dir)?;
    }
    let mut streams = KafkaStreams::new(topology, config)?;
    streams.start()?;
    eprintln!("{instance}: started");
    integration_tests::wait_for_termination()?;
    streams.close(Duration::from_secs(30))?;
    eprintln!("{instance}: closed");
    Ok(())
}
