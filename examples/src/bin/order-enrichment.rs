//! Joins Avro orders with a customer table, through a schema registry.
//!
//! ```text
//! cargo run -p streams-examples --bin order-enrichment     # mock cluster, in-process registry
//! cargo run -p streams-examples --bin order-enrichment -- --bootstrap-servers localhost:9092 \
//!     --schema-registry-url http://localhost:8081 [--generate]
//! ```
//!
//! See [`streams_examples::order_enrichment`] for what it computes.

use anyhow::Result;
use clap::Parser;
use streams_examples::order_enrichment::{MOCK_REGISTRY, OrderEnrichmentApp};
use streams_examples::runner::{CommonArgs, main_with};

#[derive(Parser, Debug)]
#[command(about = "Joins Avro orders with a customer table, through a schema registry")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The schema registry: http[s]://host:port[/path], or mock://SCOPE for an in-process one;
    /// credentials and a CA go in --config (basic.auth.user.info, bearer.auth.token,
    /// schema.registry.ssl.ca.location).
    #[arg(long, default_value = MOCK_REGISTRY)]
    schema_registry_url: String,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    let app = OrderEnrichmentApp::new(&args.common, &args.schema_registry_url)?;
    main_with(&app, &args.common).await
}
