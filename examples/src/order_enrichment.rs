//! **order-enrichment**: orders joined with a customer table, Avro values through a schema
//! registry.
//!
//! `customers` holds Avro customer records keyed by customer id (a table: the latest record
//! per id wins); `orders` holds Avro orders keyed by customer id. Every order is joined with
//! its customer as the table stands when the order is processed (a stream-table left join, so
//! orders of unknown customers still go out, with no name or tier) and written to
//! `enriched-orders` as Avro. The values use the Schema Registry wire format: the serdes
//! register their schemas under `<topic>-value` on first use. With no registry URL the
//! example uses an in-process registry (`mock://order-enrichment`).

use anyhow::{Context, Result};
use kstreams::core::avro::{AvroSerde, Schema, SchemaRegistryClient};
use kstreams::prelude::*;
use serde::{Deserialize, Serialize};

use crate::runner::{CommonArgs, Example, OutputRecord, RawRecord, at, clock, money};

/// The Avro schema of `customers` values.
pub const CUSTOMER_SCHEMA: &str = r#"{
  "type": "record", "name": "Customer", "namespace": "examples.shop",
  "fields": [
    {"name": "id", "type": "string"},
    {"name": "name", "type": "string"},
    {"name": "tier", "type": "string"}
  ]
}"#;

/// The Avro schema of `orders` values.
pub const ORDER_SCHEMA: &str = r#"{
  "type": "record", "name": "Order", "namespace": "examples.shop",
  "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "customer_id", "type": "string"},
    {"name": "product", "type": "string"},
    {"name": "amount_cents", "type": "long"}
  ]
}"#;

/// The Avro schema of `enriched-orders` values.
pub const ENRICHED_ORDER_SCHEMA: &str = r#"{
  "type": "record", "name": "EnrichedOrder", "namespace": "examples.shop",
  "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "customer_id", "type": "string"},
    {"name": "customer_name", "type": ["null", "string"], "default": null},
    {"name": "tier", "type": ["null", "string"], "default": null},
    {"name": "product", "type": "string"},
    {"name": "amount_cents", "type": "long"}
  ]
}"#;

/// A customer on `customers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Customer id (also the record key).
    pub id: String,
    /// Name.
    pub name: String,
    /// Loyalty tier.
    pub tier: String,
}

/// An order on `orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Order id.
    pub order_id: String,
    /// Customer id (also the record key).
    pub customer_id: String,
    /// Product.
    pub product: String,
    /// Amount in cents.
    pub amount_cents: i64,
}

/// An order with its customer, on `enriched-orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedOrder {
    /// Order id.
    pub order_id: String,
    /// Customer id.
    pub customer_id: String,
    /// The customer's name, if the customer is known.
    pub customer_name: Option<String>,
    /// The customer's tier, if known.
    pub tier: Option<String>,
    /// Product.
    pub product: String,
    /// Amount in cents.
    pub amount_cents: i64,
}

/// The default registry: in-process.
pub const MOCK_REGISTRY: &str = "mock://order-enrichment";

/// The order-enrichment application.
pub struct OrderEnrichmentApp {
    args: CommonArgs,
    registry: SchemaRegistryClient,
    /// Reads the output for [`Example::describe`], built once.
    output: AvroSerde<EnrichedOrder>,
}

fn schema(text: &str) -> kstreams::Result<Schema> {
    Schema::parse_str(text).map_err(|e| StreamsError::Topology(format!("invalid Avro schema: {e}")))
}

impl OrderEnrichmentApp {
    /// The application for these options and the registry at `registry_url`
    /// (`http[s]://host:port` or `mock://<scope>`), reached with the registry settings of
    /// `--config`/`--config-file` (credentials, CA).
    pub fn new(args: &CommonArgs, registry_url: &str) -> Result<Self> {
        let config = args.settings()?.registry(registry_url)?;
        let registry = SchemaRegistryClient::with_config(&config)
            .with_context(|| format!("schema registry {config:?}"))?;
        let output = AvroSerde::value(registry.clone(), schema(ENRICHED_ORDER_SCHEMA)?);
        Ok(OrderEnrichmentApp {
            args: args.clone(),
            registry,
            output,
        })
    }

    fn serde<T>(&self, text: &str) -> kstreams::Result<AvroSerde<T>> {
        Ok(AvroSerde::value(self.registry.clone(), schema(text)?))
    }
}

impl Example for OrderEnrichmentApp {
    fn name(&self) -> &'static str {
        "order-enrichment"
    }

    fn input_topics(&self) -> Vec<&'static str> {
        vec!["customers", "orders"]
    }

    fn output_topics(&self) -> Vec<&'static str> {
        vec!["enriched-orders"]
    }

    fn topology(&self) -> kstreams::Result<Topology> {
        let b = StreamsBuilder::new();
        let customers = b.table_with(
            &self.args.topic("customers"),
            Consumed::with(StringSerde, self.serde::<Customer>(CUSTOMER_SCHEMA)?),
            Materialized::as_store("customers-store"),
        );
        b.stream_with(
            &[&self.args.topic("orders")],
            Consumed::with(StringSerde, self.serde::<Order>(ORDER_SCHEMA)?),
        )
        .left_join_table(&customers, |o, c| EnrichedOrder {
            order_id: o.order_id.clone(),
            customer_id: o.customer_id.clone(),
            customer_name: c.map(|c| c.name.clone()),
            tier: c.map(|c| c.tier.clone()),
            product: o.product.clone(),
            amount_cents: o.amount_cents,
        })
        .to_with(
            &self.args.topic("enriched-orders"),
            Produced::with(
                StringSerde,
                self.serde::<EnrichedOrder>(ENRICHED_ORDER_SCHEMA)?,
            ),
        );
        b.build()
    }

    fn sample(&self) -> Result<Vec<Vec<RawRecord>>> {
        let customers = self.serde::<Customer>(CUSTOMER_SCHEMA)?;
        let orders = self.serde::<Order>(ORDER_SCHEMA)?;
        let customer = |id: &str, name: &str, tier: &str, ts| -> Result<RawRecord> {
            let value = Customer {
                id: id.into(),
                name: name.into(),
                tier: tier.into(),
            };
            Ok(RawRecord {
                topic: "customers",
                key: Some(id.as_bytes().to_vec()),
                value: customers.serialize(&self.args.topic("customers"), &value)?,
                timestamp: ts,
            })
        };
        let order = |id: &str, customer: &str, product: &str, cents, ts| -> Result<RawRecord> {
            let value = Order {
                order_id: id.into(),
                customer_id: customer.into(),
                product: product.into(),
                amount_cents: cents,
            };
            Ok(RawRecord {
                topic: "orders",
                key: Some(customer.as_bytes().to_vec()),
                value: orders.serialize(&self.args.topic("orders"), &value)?,
                timestamp: ts,
            })
        };
        Ok(vec![
            vec![
                customer("c1", "Ann Lee", "gold", at(8, 0, 0))?,
                customer("c2", "Bob Ray", "silver", at(8, 0, 0))?,
            ],
            vec![
                order("o1", "c1", "book", 1_250, at(9, 0, 0))?,
                order("o2", "c2", "lamp", 4_000, at(9, 1, 0))?,
                order("o3", "c3", "pen", 200, at(9, 2, 0))?,
            ],
            // Bob moves up a tier; his next order carries the new tier.
            vec![customer("c2", "Bob Ray", "gold", at(9, 3, 0))?],
            vec![order("o4", "c2", "desk", 15_000, at(9, 4, 0))?],
        ])
    }

    fn describe(&self, r: &OutputRecord<'_>) -> Result<String> {
        let o = self
            .output
            .deserialize(&self.args.topic(r.topic), r.value)?;
        let customer = match (&o.customer_name, &o.tier) {
            (Some(name), Some(tier)) => format!("{name} ({tier})"),
            _ => "an unknown customer".to_owned(),
        };
        Ok(format!(
            "{} order {}: {} {} for {} (at {})",
            o.customer_id,
            o.order_id,
            o.product,
            money(o.amount_cents),
            customer,
            clock(r.timestamp)
        ))
    }
}
