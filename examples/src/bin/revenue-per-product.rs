//! Hourly revenue and order count per product
//!
//! ```text
//! cargo run -p streams-examples --bin revenue-per-product                  # embedded mock cluster, sample data
//! cargo run -p streams-examples --bin revenue-per-product -- --bootstrap-servers localhost:9092 [--generate]
//! ```
//!
//! See [`streams_examples::revenue_per_product`] for what it computes.

use anyhow::Result;
use clap::Parser;
use streams_examples::revenue_per_product::RevenuePerProductApp;
use streams_examples::runner::{CommonArgs, main_with};

#[derive(Parser, Debug)]
#[command(about = "Hourly revenue and order count per product")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    main_with(&RevenuePerProductApp::new(&args.common), &args.common).await
}
