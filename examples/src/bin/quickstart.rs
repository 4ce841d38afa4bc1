//! Quickstart: produce orders, process them with the framework, consume the results.
//!
//! The topology reads JSON orders from `orders`, keeps those of 100.00 or more, and writes a
//! line per large order to `large-orders`. A malformed order goes to the dead-letter topic
//! `orders-dlq` instead of stopping the application.
//!
//! ```text
//! cargo run -p streams-examples --bin quickstart                 # embedded mock cluster
//! cargo run -p streams-examples --bin quickstart -- --bootstrap-servers localhost:9092
//! ```
//!
//! With no `--bootstrap-servers`, it starts librdkafka's built-in mock cluster in-process, so
//! nothing needs to be installed or running.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use kstreams::prelude::*;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::{Deserialize, Serialize};

#[derive(Parser, Debug)]
#[command(about = "Keeps the large orders of a stream of JSON orders")]
struct Args {
    /// Kafka bootstrap servers; when absent, an embedded mock cluster is started.
    #[arg(long)]
    bootstrap_servers: Option<String>,
    /// The application id (consumer group and internal topic prefix).
    #[arg(long, default_value = "quickstart")]
    application_id: String,
    /// Processing guarantee: at_least_once or exactly_once_v2.
    #[arg(long, default_value = "at_least_once")]
    processing_guarantee: String,
    /// How many orders the built-in generator produces.
    #[arg(long, default_value_t = 20)]
    orders: u32,
}

/// An order as it arrives on `orders`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Order {
    id: u32,
    customer: String,
    amount: f64,
}

/// Keeps orders of at least 100.00 and describes them in one line.
struct LargeOrders;

impl Processor<String, Order, String, String> for LargeOrders {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, Order>,
    ) -> Result<(), ProcessorError> {
        if record.value.amount >= 100.0 {
            let line = format!(
                "order {} of {:.2} by {}",
                record.value.id, record.value.amount, record.value.customer
            );
            ctx.forward(record.with_value(line))?;
        }
        Ok(())
    }
}

fn topology() -> kstreams::Result<Topology> {
    let mut t = Topology::new();
    t.add_source(
        "orders",
        &["orders"],
        StringSerde,
        JsonSerde::<Order>::new(),
    )?
    .add_processor("large-orders", || LargeOrders, &["orders"])?
    .add_sink(
        "large-orders-sink",
        "large-orders",
        StringSerde,
        StringSerde,
        &["large-orders"],
    )?;
    Ok(t)
}

/// The generated orders: customer `c<i % 4>`, amounts 25.00, 50.00, ... cycling to 200.00.
fn generated(count: u32) -> Vec<Order> {
    (0..count)
        .map(|i| Order {
            id: i,
            customer: format!("c{}", i % 4),
            amount: 25.0 * f64::from(i % 8 + 1),
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();

    // Keep the mock cluster alive for the whole run.
    let mock;
    let bootstrap = match &args.bootstrap_servers {
        Some(b) => b.clone(),
        None => {
            mock = MockCluster::new(1).context("starting the embedded mock cluster")?;
            for topic in ["orders", "large-orders", "orders-dlq"] {
                mock.create_topic(topic, 2, 1)?;
            }
            println!("no --bootstrap-servers given: running on librdkafka's embedded mock cluster");
            mock.bootstrap_servers()
        }
    };

    // Produce the input: the generated orders and one malformed record.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()?;
    let orders = generated(args.orders);
    for order in &orders {
        let value = serde_json::to_vec(order)?;
        producer
            .send(
                FutureRecord::to("orders")
                    .key(&order.customer)
                    .payload(&value)
                    .timestamp(1_700_000_000_000 + i64::from(order.id)),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)?;
    }
    producer
        .send(
            FutureRecord::to("orders").key("c0").payload("{not json"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)?;

    // Run the topology.
    let config = StreamsConfig::new(&args.application_id, &bootstrap)
        .set("processing.guarantee", &args.processing_guarantee)?
        .set("commit.interval.ms", "200")?
        .set(
            "default.deserialization.exception.handler",
            "dead-letter-queue",
        )?
        .set("errors.dead.letter.queue.topic.name", "orders-dlq")?;
    let mut streams = KafkaStreams::new(topology()?, config)?;
    streams.set_state_listener(|c| tracing::info!(old = ?c.old, new = ?c.new, "state"));
    streams.start()?;

    // Read the results back.
    let expected: Vec<&Order> = orders.iter().filter(|o| o.amount >= 100.0).collect();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", format!("{}-reader", args.application_id))
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&["large-orders", "orders-dlq"])?;
    let mut results: BTreeMap<u32, String> = BTreeMap::new();
    let mut dead_letters = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (results.len() < expected.len() || dead_letters.is_empty()) && Instant::now() < deadline {
        if let Some(e) = streams.error() {
            bail!("the application failed: {e}");
        }
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg?;
        let value = String::from_utf8_lossy(msg.payload().unwrap_or_default()).into_owned();
        if msg.topic() == "orders-dlq" {
            dead_letters.push(value);
        } else {
            let id: u32 = value
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .context("an output line names its order")?;
            results.insert(id, value);
        }
    }
    streams.close(Duration::from_secs(30))?;

    for line in results.values() {
        println!("large-orders: {line}");
    }
    for value in &dead_letters {
        println!("orders-dlq:   {value}");
    }
    println!(
        "{} orders in, {} large orders out, {} dead letters",
        orders.len() + 1,
        results.len(),
        dead_letters.len()
    );
    if results.len() != expected.len() || dead_letters.len() != 1 {
        bail!("expected {} large orders and 1 dead letter", expected.len());
    }
    Ok(())
}
