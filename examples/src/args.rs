//! The command-line options every example takes.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::settings::Settings;

/// Options every example takes.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Kafka bootstrap servers; when absent, an embedded mock cluster is started and the sample
    /// data is generated.
    #[arg(long)]
    pub bootstrap_servers: Option<String>,
    /// The application id (consumer group, internal topic prefix); defaults to the example's
    /// name.
    #[arg(long)]
    pub application_id: Option<String>,
    /// `at_least_once` or `exactly_once_v2` (which needs a real cluster).
    #[arg(long, default_value = "at_least_once")]
    pub processing_guarantee: String,
    /// With a real cluster: produce the sample data, run until it is processed, print the
    /// results and exit (the default without a cluster).
    #[arg(long)]
    pub generate: bool,
    /// A prefix for every topic name, to run several copies side by side on one cluster.
    #[arg(long, default_value = "")]
    pub topic_prefix: String,
    /// Partitions of the topics the example creates when they do not exist.
    #[arg(long, default_value_t = 2)]
    pub partitions: i32,
    /// Where the application keeps its state stores (for a sample run, a temporary directory
    /// removed at the end; for a service, the default `state.dir`).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDRESS/metrics (e.g. 127.0.0.1:9464).
    #[arg(long)]
    pub metrics_address: Option<String>,
    /// As a service: answer interactive queries over HTTP at ADDRESS (`host:port` the other
    /// instances reach, also this instance's `application.server`). Needs the `http`
    /// feature (on by default).
    #[arg(long)]
    pub queries_address: Option<String>,
    /// As a service: also produce this many generated input records per second (after the
    /// sample's tables), for demos and dashboards. Examples without a live generator ignore it.
    #[arg(long, default_value_t = 0)]
    pub rate: u32,
    /// A client or application setting, `key=value` (librdkafka's names, e.g.
    /// `security.protocol=SASL_SSL`; schema registry ones such as `basic.auth.user.info` go to
    /// the registry client). Repeatable; applied after `--config-file`.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// A Java properties file of settings, as `--config` takes them. Repeatable.
    #[arg(long = "config-file", value_name = "PATH")]
    pub config_file: Vec<PathBuf>,
    /// Print the topology (`text`: Kafka Streams' layout; `mermaid`; `dot` for Graphviz)
    /// and exit without running.
    #[arg(long, value_name = "FORMAT")]
    pub describe: Option<crate::picture::DescribeFormat>,
}

impl CommonArgs {
    /// Options for a sample run against `bootstrap` (tests use this).
    pub fn sample_run(bootstrap: Option<&str>, application_id: &str) -> Self {
        CommonArgs {
            bootstrap_servers: bootstrap.map(str::to_owned),
            application_id: Some(application_id.to_owned()),
            processing_guarantee: "at_least_once".into(),
            generate: true,
            topic_prefix: String::new(),
            partitions: 2,
            state_dir: None,
            metrics_address: None,
            queries_address: None,
            rate: 0,
            config: Vec::new(),
            config_file: Vec::new(),
            describe: None,
        }
    }

    /// The settings of `--config-file` and `--config`.
    pub fn settings(&self) -> Result<Settings> {
        Settings::read(&self.config_file, &self.config)
    }

    /// The full name of topic `name`.
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.topic_prefix)
    }
}
