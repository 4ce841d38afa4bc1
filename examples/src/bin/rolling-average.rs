//! Average order value per product over 5-minute windows, live and final
//!
//! ```text
//! cargo run -p streams-examples --bin rolling-average                  # embedded mock cluster, sample data
//! cargo run -p streams-examples --bin rolling-average -- --bootstrap-servers localhost:9092 [--generate]
//! ```
//!
//! See [`streams_examples::rolling_average`] for what it computes.

use anyhow::Result;
use streams_examples::rolling_average::RollingAverageApp;
use streams_examples::runner::main_with_common_args;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    main_with_common_args(
        "Average order value per product over 5-minute windows, live and final",
        RollingAverageApp::new,
    )
    .await
}
