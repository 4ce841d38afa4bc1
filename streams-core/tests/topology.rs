//! Topology building: validation errors and `describe()`.

use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::{Record, StreamsError, Topology};

struct Len;

impl Processor<String, String, String, i64> for Len {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let n = r.value.len() as i64;
        ctx.forward(r.with_value(n))?;
        Ok(())
    }
}

fn err(result: Result<&mut Topology, StreamsError>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn mistakes_are_named_when_nodes_are_added() -> Result<(), StreamsError> {
    let mut t = Topology::new();
    t.add_source("src", &["in"], StringSerde, StringSerde)?;
    assert_eq!(
        err(t.add_source("src", &["other"], StringSerde, StringSerde)),
        "invalid topology: a node named `src` already exists; node names must be unique"
    );
    assert_eq!(
        err(t.add_source("src2", &["in"], StringSerde, StringSerde)),
        "invalid topology: topic `in` is read by source `src` already; source `src2` cannot read it too"
    );
    assert_eq!(
        err(t.add_processor("len", || Len, &["missing"])),
        "invalid topology: node `len` names parent `missing`, which does not exist (add parents first)"
    );
    t.add_processor("len", || Len, &["src"])?;
    assert_eq!(
        err(t.add_sink("sink", "out", StringSerde, StringSerde, &["len"])),
        "invalid topology: node `sink` takes records of types (alloc::string::String, alloc::string::String), \
         but its parent `len` emits (alloc::string::String, i64)"
    );
    t.add_sink("sink", "out", StringSerde, I64Serde, &["len"])?;
    assert_eq!(
        err(t.add_processor("after-sink", || Len, &["sink"])),
        "invalid topology: node `after-sink` names sink `sink` as its parent; a sink has no children"
    );
    assert_eq!(
        err(t.add_processor("orphan", || Len, &[])),
        "invalid topology: node `orphan` needs at least one parent"
    );
    assert_eq!(
        err(t.connect_processor_and_state_stores("len", &["nope"])),
        "invalid topology: cannot connect store `nope` to `len`: no such store (add it first)"
    );
    Ok(())
}

#[test]
fn describe_lists_sub_topologies_like_kafka_streams() -> Result<(), StreamsError> {
    let mut t = Topology::new();
    t.add_source(
        "KSTREAM-SOURCE-0000000000",
        &["words"],
        StringSerde,
        StringSerde,
    )?
    .add_processor(
        "KSTREAM-MAPVALUES-0000000001",
        || Len,
        &["KSTREAM-SOURCE-0000000000"],
    )?
    .add_sink(
        "KSTREAM-SINK-0000000002",
        "lengths",
        StringSerde,
        I64Serde,
        &["KSTREAM-MAPVALUES-0000000001"],
    )?
    .add_sink(
        "KSTREAM-SINK-0000000003",
        "lengths-copy",
        StringSerde,
        I64Serde,
        &["KSTREAM-MAPVALUES-0000000001"],
    )?
    .add_source(
        "KSTREAM-SOURCE-0000000004",
        &["lengths"],
        StringSerde,
        I64Serde,
    )?
    .add_sink(
        "KSTREAM-SINK-0000000005",
        "final",
        StringSerde,
        I64Serde,
        &["KSTREAM-SOURCE-0000000004"],
    )?;
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [words])
      --> KSTREAM-MAPVALUES-0000000001
    Processor: KSTREAM-MAPVALUES-0000000001 (stores: [])
      --> KSTREAM-SINK-0000000002, KSTREAM-SINK-0000000003
      <-- KSTREAM-SOURCE-0000000000
    Sink: KSTREAM-SINK-0000000002 (topic: lengths)
      <-- KSTREAM-MAPVALUES-0000000001
    Sink: KSTREAM-SINK-0000000003 (topic: lengths-copy)
      <-- KSTREAM-MAPVALUES-0000000001

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000004 (topics: [lengths])
      --> KSTREAM-SINK-0000000005
    Sink: KSTREAM-SINK-0000000005 (topic: final)
      <-- KSTREAM-SOURCE-0000000004

";
    assert_eq!(t.describe().to_string(), expected);
    let subs = t.subtopologies();
    assert_eq!(
        subs.iter()
            .map(|s| s.source_topics.clone())
            .collect::<Vec<_>>(),
        vec![vec!["words".to_owned()], vec!["lengths".to_owned()]]
    );
    Ok(())
}

#[test]
fn cooperative_rebalancing_is_refused_with_what_is_allowed() {
    let err = streams_core::StreamsConfig::new("app", "localhost:9092")
        .set(
            "consumer.partition.assignment.strategy",
            "cooperative-sticky",
        )
        .and_then(|c| c.validate())
        .expect_err("refused")
        .to_string();
    assert_eq!(
        err,
        "invalid configuration `consumer.partition.assignment.strategy`: \"cooperative-sticky\" \
         asks for cooperative rebalancing, which the stream threads do not support yet; allowed: \
         range, roundrobin (eager)"
    );
}
