//! Runs a local Apache Kafka cluster in the foreground until interrupted.
//!
//! ```text
//! kafka-cluster [--brokers N] [--env-file PATH] [--secured] [--property KEY=VALUE]...
//! ```
//!
//! Prints `KSTREAMS_BOOTSTRAP_SERVERS=...` once the cluster is ready (and writes it to
//! `--env-file` if given), then waits for SIGINT or SIGTERM and stops every broker, removing
//! their data. `--secured` starts the one-broker cluster of `integration_tests::secure`
//! (SASL_SSL and mutual TLS beside PLAINTEXT, ACLs, a CA of its own) and also prints
//! `KSTREAMS_SASL_SSL_BOOTSTRAP`, `KSTREAMS_TEST_CA` (the CA's PEM file) and
//! `KSTREAMS_SUPER_USER`/`KSTREAMS_SUPER_PASSWORD` (SCRAM-SHA-512 or PLAIN). A signal while the cluster starts kills what has started and removes its data
//! too. If this process is killed outright, the brokers die with it. Each `--property` is a
//! line appended to every broker's `server.properties` (for example
//! `group.min.session.timeout.ms=1000`, for a benchmark with short sessions).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use integration_tests::kafka::{
    BOOTSTRAP_ENV, KafkaCluster, NodeExtras, write_env_file, write_env_file_with,
};
use integration_tests::secure::{SASL_SSL, SUPER_USER, SecuredCluster, password};

/// The command line this binary takes.
const USAGE: &str =
    "usage: kafka-cluster [--brokers N] [--env-file PATH] [--secured] [--property KEY=VALUE]...";

fn main() -> Result<()> {
    let mut brokers = 1usize;
    let mut env_file: Option<PathBuf> = None;
    let mut secured = false;
    let mut properties = String::new();
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
            "--secured" => secured = true,
            "--property" => {
                let p = args.next().context("--property needs KEY=VALUE")?;
                if !p.contains('=') || p.contains('\n') {
                    bail!("--property takes one broker setting KEY=VALUE, not {p:?}");
                }
                properties.push_str(&p);
                properties.push('\n');
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}; {USAGE}"),
        }
    }
    if secured {
        if brokers != 1 || !properties.is_empty() {
            bail!("--secured starts one broker of its own settings");
        }
        let cluster = SecuredCluster::start()?;
        let extra = format!(
            "KSTREAMS_SASL_SSL_BOOTSTRAP={}\nKSTREAMS_TEST_CA={}\nKSTREAMS_SUPER_USER={SUPER_USER}\n\
             KSTREAMS_SUPER_PASSWORD={}\n",
            cluster.cluster().listener_bootstrap(SASL_SSL)?,
            cluster.pki().ca().display(),
            password(SUPER_USER)
        );
        println!("{BOOTSTRAP_ENV}={}", cluster.cluster().bootstrap_servers());
        print!("{extra}");
        if let Some(path) = &env_file {
            write_env_file_with(path, cluster.cluster(), &extra)?;
        }
        integration_tests::wait_for_termination()?;
        drop(cluster);
    } else {
        let extras = NodeExtras {
            properties,
            ..NodeExtras::default()
        };
        let cluster = KafkaCluster::start_with(brokers, extras)?;
        println!("{BOOTSTRAP_ENV}={}", cluster.bootstrap_servers());
        if let Some(path) = &env_file {
            write_env_file(path, &cluster)?;
        }
        integration_tests::wait_for_termination()?;
        cluster.stop();
    }
    if let Some(path) = &env_file {
        let _ = std::fs::remove_file(path);
    }
    eprintln!("kafka-cluster: stopped");
    Ok(())
}
