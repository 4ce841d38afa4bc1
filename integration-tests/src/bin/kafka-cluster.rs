//! Runs a local Apache Kafka cluster in the foreground until interrupted.
//!
//! ```text
//! kafka-cluster [--brokers N] [--env-file PATH]
//! ```
//!
//! Prints `KSTREAMS_BOOTSTRAP_SERVERS=...` once the cluster is ready (and writes it to
//! `--env-file` if given), then waits for SIGINT or SIGTERM and stops every broker, removing
//! their data. A signal while the cluster starts kills what has started and removes its data
//! too. If this process is killed outright, the brokers die with it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use integration_tests::kafka::{BOOTSTRAP_ENV, KafkaCluster, write_env_file};

fn main() -> Result<()> {
    let mut brokers = 1usize;
    let mut env_file: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--brokers" => {
                let n = args.next().context("--brokers needs a number")?;
                brokers = n
                    .parse()
                    .with_context(|| format!("--brokers takes 1 to 5, not {n:?}"))?;
            }
            "--env-file" => env_file = Some(args.next().context("--env-file needs a path")?.into()),
            "-h" | "--help" => {
                println!("usage: kafka-cluster [--brokers N] [--env-file PATH]");
                return Ok(());
            }
            other => bail!(
                "unknown argument {other:?}; usage: kafka-cluster [--brokers N] [--env-file PATH]"
            ),
        }
    }
    let cluster = KafkaCluster::start(brokers)?;
    println!("{BOOTSTRAP_ENV}={}", cluster.bootstrap_servers());
    if let Some(path) = &env_file {
        write_env_file(path, &cluster)?;
    }
    integration_tests::wait_for_termination()?;
    cluster.stop();
    if let Some(path) = &env_file {
        let _ = std::fs::remove_file(path);
    }
    eprintln!("kafka-cluster: stopped");
    Ok(())
}
