//! Counts logins per user in 5-minute tumbling windows
//!
//! ```text
//! cargo run -p streams-examples --bin login-count                  # embedded mock cluster, sample data
//! cargo run -p streams-examples --bin login-count -- --bootstrap-servers localhost:9092 [--generate]
//! ```
//!
//! See [`streams_examples::login_count`] for what it computes.

use anyhow::Result;
use streams_examples::login_count::LoginCountApp;
use streams_examples::runner::main_with_common_args;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    main_with_common_args(
        "Counts logins per user in 5-minute tumbling windows",
        LoginCountApp::new,
    )
    .await
}
