//! The application of the standby tests (`tests/standby.rs`): counts the records of `--input`
//! per key in a RocksDB store (`integration_tests::apps::count_topology`) and writes each
//! running count to `--output`, under exactly-once, with `--standbys` standby replicas and
//! its Prometheus metrics on `--metrics-address`. Runs until SIGTERM/SIGINT (then closes
//! cleanly) or until killed.
//!
//! ```text
//! count-app --bootstrap-servers HOST:PORT --application-id ID --input T --output T
//!           --state-dir DIR --metrics-address HOST:PORT [--standbys N] [--instance NAME]
//!           [--replication-factor N]
//! ```

use anyhow::Result;
use streams_core::{KafkaStreams, StreamsConfig};

fn main() -> Result<()> {
    integration_tests::log_to_stderr();
    let flags = integration_tests::Flags::from_args()?;
    let get = |k: &str| flags.get(k);
    let instance = flags.or("instance", "app");
    let topology = integration_tests::apps::count_topology(&get("input")?, &get("output")?)?;
    let config = StreamsConfig::new(get("application-id")?, get("bootstrap-servers")?)
        .set("processing.guarantee", "exactly_once_v2")?
        .set("num.standby.replicas", &flags.or("standbys", "0"))?
        .set("state.dir", &get("state-dir")?)?
        .set("metrics.prometheus.address", &get("metrics-address")?)?
        .set("replication.factor", &flags.or("replication-factor", "1"))?
        .set("consumer.session.timeout.ms", "6000")?
        .set("consumer.heartbeat.interval.ms", "1000")?;
    integration_tests::run_until_terminated(KafkaStreams::new(topology, config)?, &instance)
}
