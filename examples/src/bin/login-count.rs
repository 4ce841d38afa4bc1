//! Counts logins per user in 5-minute tumbling windows
//!
//! ```text
//! cargo run -p streams-examples --bin login-count                  # embedded mock cluster, sample data
//! cargo run -p streams-examples --bin login-count -- --bootstrap-servers localhost:9092 [--generate]
//! ```
//!
//! See [`streams_examples::login_count`] for what it computes.

use anyhow::Result;
use clap::Parser;
use streams_examples::login_count::LoginCountApp;
use streams_examples::runner::{CommonArgs, main_with};

#[derive(Parser, Debug)]
#[command(about = "Counts logins per user in 5-minute tumbling windows")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    main_with(&LoginCountApp::new(&args.common), &args.common).await
}
