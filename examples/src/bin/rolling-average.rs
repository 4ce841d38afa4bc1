//! Average order value per product over 5-minute windows, live and final
//!
//! ```text
//! cargo run -p streams-examples --bin rolling-average                  # embedded mock cluster, sample data
//! cargo run -p streams-examples --bin rolling-average -- --bootstrap-servers localhost:9092 [--generate]
//! ```
//!
//! See [`streams_examples::rolling_average`] for what it computes.

use anyhow::Result;
use clap::Parser;
use streams_examples::rolling_average::RollingAverageApp;
use streams_examples::runner::{CommonArgs, main_with};

#[derive(Parser, Debug)]
#[command(about = "Average order value per product over 5-minute windows, live and final")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    main_with(&RollingAverageApp::new(&args.common), &args.common).await
}
