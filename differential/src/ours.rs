//! Our side: the same variant on our `TopologyTestDriver`.

use std::collections::HashMap;
use streams_core::StreamsConfig;

use streams_core::handlers::LogAndContinue;
use streams_core::serde::BytesSerde;
use streams_core::test_driver::TopologyTestDriver;

use crate::case::{Outcome, Rec};
use crate::variants::{Variant, topology};

/// Runs `input` through `variant` on our test driver. A null value on a stream is refused by
/// its serde and skipped by the deserialization handler, where Kafka Streams' operators skip it.
pub fn run(variant: &Variant, input: &[Rec]) -> Outcome {
    match try_run(variant, input) {
        Ok(records) => Outcome::Records(records),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn try_run(variant: &Variant, input: &[Rec]) -> Result<Vec<Rec>, streams_core::StreamsError> {
    let config = StreamsConfig::new(format!("diff-{}", variant.name), "unused:9092")
        .with_deserialization_handler(LogAndContinue);
    let driver = TopologyTestDriver::new(topology(variant)?, config)?;
    let inputs: HashMap<&str, _> = variant
        .inputs
        .iter()
        .map(|&t| (t, driver.input_topic(t, BytesSerde, BytesSerde)))
        .collect();
    let bytes = |s: &Option<String>| s.as_ref().map(|s| s.as_bytes().to_vec());
    for r in input {
        let topic = inputs.get(r.topic.as_str()).ok_or_else(|| {
            streams_core::StreamsError::Topology(format!(
                "variant {} does not read topic {}",
                variant.name, r.topic
            ))
        })?;
        topic.pipe_raw(bytes(&r.key), bytes(&r.value), r.timestamp)?;
    }
    let text = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut out = Vec::new();
    for topic in variant.outputs {
        out.extend(driver.produced(topic).into_iter().map(|p| Rec {
            topic: p.topic,
            key: text(p.key),
            value: text(p.value),
            timestamp: p.timestamp,
        }));
    }
    driver.close()?;
    Ok(out)
}
