//! The application of the exactly-once crash test (`tests/eos.rs`, after Kafka Streams' EOS
//! system test). It reads `<prefix>-data` (String keys, i64 values) and writes:
//! `<prefix>-echo` (each record unchanged), `<prefix>-sum` and `<prefix>-min` (running sum and
//! minimum per key), and, after a repartition, `<prefix>-max` and `<prefix>-cnt` (running
//! maximum and count per key). Runs until SIGTERM/SIGINT (then closes cleanly) or until
//! killed.
//!
//! ```text
//! eos-app --bootstrap-servers HOST:PORT --application-id ID --prefix P --state-dir DIR
//!         [--guarantee exactly_once_v2|at_least_once] [--commit-interval-ms MS]
//!         [--threads N] [--instance NAME] [--replication-factor N]
//! ```

use anyhow::Result;
use streams_core::serde::{I64Serde, Nullable, StringSerde};
use streams_core::{KafkaStreams, StreamsConfig};
use streams_dsl::{Consumed, Materialized, Produced, Repartitioned, StreamsBuilder};

fn main() -> Result<()> {
    integration_tests::log_to_stderr();
    let flags = integration_tests::Flags::from_args()?;
    let get = |k: &str| flags.get(k);
    let opt = |k: &str, default: &str| flags.or(k, default);
    let prefix = get("prefix")?;
    let topic = |name: &str| format!("{prefix}-{name}");
    let instance = opt("instance", "app");

    let builder = StreamsBuilder::new();
    let data = builder.stream_with(&[&topic("data")], Consumed::with(StringSerde, I64Serde));
    data.to_with(&topic("echo"), Produced::with(StringSerde, I64Serde));
    let by_key = data.group_by_key();
    by_key
        .aggregate_with(
            || 0i64,
            |_, v, sum| sum + v,
            Materialized::as_store("sum").with_value_serde(I64Serde),
        )
        .to_stream()
        .to_with(
            &topic("sum"),
            Produced::with(StringSerde, Nullable(I64Serde)),
        );
    by_key
        .reduce_with(|min, v| min.min(v), Materialized::as_store("min"))
        .to_stream()
        .to_with(
            &topic("min"),
            Produced::with(StringSerde, Nullable(I64Serde)),
        );
    let repartitioned = data
        .repartition(Repartitioned::with(StringSerde, I64Serde).with_name("by-key"))
        .group_by_key();
    repartitioned
        .reduce_with(|max, v| max.max(v), Materialized::as_store("max"))
        .to_stream()
        .to_with(
            &topic("max"),
            Produced::with(StringSerde, Nullable(I64Serde)),
        );
    repartitioned
        .count_with(Materialized::as_store("cnt"))
        .to_stream()
        .to_with(
            &topic("cnt"),
            Produced::with(StringSerde, Nullable(I64Serde)),
        );
    let topology = builder.build()?;

    let config = StreamsConfig::new(get("application-id")?, get("bootstrap-servers")?)
        .set("processing.guarantee", &opt("guarantee", "exactly_once_v2"))?
        .set("commit.interval.ms", &opt("commit-interval-ms", "1000"))?
        .set("num.stream.threads", &opt("threads", "1"))?
        .set("state.dir", &get("state-dir")?)?
        .set("replication.factor", &opt("replication-factor", "1"))?
        .set("consumer.session.timeout.ms", "6000")?
        .set("consumer.heartbeat.interval.ms", "1000")?;
    integration_tests::run_until_terminated(KafkaStreams::new(topology, config)?, &instance)
}
