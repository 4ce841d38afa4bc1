//! Flags suspicious payments: hourly spend over the customer's limit, and bursts of payments.
//!
//! ```text
//! cargo run -p streams-examples --bin fraud-detection      # embedded mock cluster, sample data
//! cargo run -p streams-examples --bin fraud-detection -- --bootstrap-servers localhost:9092 [--generate]
//! ```
//!
//! See [`streams_examples::fraud_detection`] for what it computes.

use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use streams_examples::fraud_detection::FraudDetectionApp;
use streams_examples::runner::{CommonArgs, main_with};

#[derive(Parser, Debug)]
#[command(
    about = "Flags suspicious payments: hourly spend over the customer's limit, and bursts of payments"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The velocity rule's payment count: this many payments ...
    #[arg(long, default_value_t = 3)]
    velocity_count: usize,
    /// ... within this many seconds raise an alert.
    #[arg(long, default_value_t = 60)]
    velocity_seconds: u64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    let app = FraudDetectionApp::new(
        &args.common,
        args.velocity_count,
        Duration::from_secs(args.velocity_seconds),
    );
    main_with(&app, &args.common).await
}
