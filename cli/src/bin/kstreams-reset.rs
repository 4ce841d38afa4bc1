//! `kstreams-reset`: resets an application to process its input again, as Kafka's
//! `kafka-streams-application-reset` does (see `kstreams_cli::reset` and `docs/operations.md`).
//!
//! ```text
//! kstreams-reset --application-id payments --bootstrap-server kafka:9092 \
//!     --input-topics payments,customers --to-earliest --state-dir /var/lib/payments --dry-run
//! ```

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use clap::Parser;
use kstreams_cli::reset::{self, ResetOptions, Target, parse_datetime, parse_duration};
use kstreams_cli::settings::Settings;

/// Resets a stream processing application: its input offsets, its internal topics and its
/// local state. Every instance must be stopped.
#[derive(Parser, Debug)]
#[command(name = "kstreams-reset")]
struct Args {
    /// The application's id (its consumer group and internal-topic prefix).
    #[arg(long)]
    application_id: String,
    /// The cluster, host:port[,host:port...].
    #[arg(long, alias = "bootstrap-servers")]
    bootstrap_server: String,
    /// Input topics, comma-separated: their offsets move to the chosen point.
    #[arg(long, value_delimiter = ',')]
    input_topics: Vec<String>,
    /// Intermediate topics (user topics the application writes and reads back),
    /// comma-separated: their offsets move to the end.
    #[arg(long, value_delimiter = ',')]
    intermediate_topics: Vec<String>,
    /// Input offsets to the earliest offset (the default).
    #[arg(long, group = "target")]
    to_earliest: bool,
    /// Input offsets to the end.
    #[arg(long, group = "target")]
    to_latest: bool,
    /// Input offsets to this offset (within each partition's range).
    #[arg(long, group = "target", value_name = "OFFSET")]
    to_offset: Option<i64>,
    /// Input offsets to the first record at or after this time: 2026-12-04T09:30:00[.sss],
    /// optionally with Z or +hh:mm (UTC without).
    #[arg(long, group = "target", value_name = "DATETIME")]
    to_datetime: Option<String>,
    /// Input offsets to this long ago, ISO-8601: P1D, PT15M, P1DT12H.
    #[arg(long, group = "target", value_name = "DURATION")]
    by_duration: Option<String>,
    /// The application's state.dir: its `<state-dir>/<application-id>` is removed.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Print what would be done and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// A client setting, key=value (security settings such as security.protocol). Repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A Java properties file of client settings. Repeatable.
    #[arg(long = "config-file", value_name = "PATH")]
    config_file: Vec<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let target = if args.to_latest {
        Target::Latest
    } else if let Some(offset) = args.to_offset {
        if offset < 0 {
            bail!("--to-offset must be 0 or more, got {offset}");
        }
        Target::Offset(offset)
    } else if let Some(text) = &args.to_datetime {
        Target::Time(parse_datetime(text)?)
    } else if let Some(text) = &args.by_duration {
        let ago = parse_duration(text)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
        let at = now.saturating_sub(ago).max(Duration::ZERO);
        Target::Time(i64::try_from(at.as_millis())?)
    } else {
        Target::Earliest
    };
    let options = ResetOptions {
        application_id: args.application_id,
        bootstrap: args.bootstrap_server,
        input_topics: args.input_topics,
        intermediate_topics: args.intermediate_topics,
        target,
        state_dir: args.state_dir,
        settings: Settings::read(&args.config_file, &args.config)?,
    };
    let plan = reset::plan(&options)?;
    print!("{plan}");
    if args.dry_run {
        println!("Dry run: nothing was changed.");
        return Ok(());
    }
    reset::apply(&options, &plan)?;
    println!("Done.");
    Ok(())
}
