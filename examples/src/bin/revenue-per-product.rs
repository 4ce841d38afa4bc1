//! Hourly revenue and order count per product
//!
//! ```text
//! cargo run -p streams-examples --bin revenue-per-product                  # embedded mock cluster, sample data
//! cargo run -p streams-examples --bin revenue-per-product -- --bootstrap-servers localhost:9092 [--generate]
//! ```
//!
//! See [`streams_examples::revenue_per_product`] for what it computes.

use anyhow::Result;
use streams_examples::revenue_per_product::RevenuePerProductApp;
use streams_examples::runner::main_with_common_args;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    main_with_common_args(
        "Hourly revenue and order count per product",
        RevenuePerProductApp::new,
    )
    .await
}
