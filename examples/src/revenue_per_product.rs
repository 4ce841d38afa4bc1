//! **revenue-per-product**: hourly revenue and order count per product: in ksqlDB,
//!
//! ```sql
//! CREATE TABLE revenue_per_product AS
//!   SELECT product, COUNT(*) AS orders, SUM(quantity * unit_price_cents) AS revenue_cents
//!   FROM orders WINDOW TUMBLING (SIZE 1 HOUR, GRACE PERIOD 5 MINUTES)
//!   GROUP BY product EMIT CHANGES;
//! ```
//!
//! here in the DSL. Orders arrive as JSON keyed by product on `orders`; each change of a
//! window's row goes to `revenue-per-product` as JSON. A record that arrives more than the
//! grace period after its hour ended (by stream time) is dropped and counted, as in ksqlDB.

use std::time::Duration;

use anyhow::Result;
use kstreams::prelude::*;
use serde::{Deserialize, Serialize};

use crate::runner::{CommonArgs, Example, OutputRecord, RawRecord, at, clock, money};
use crate::{from_json, json};

/// An order line on `orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Order id.
    pub order_id: u32,
    /// Product (also the record key).
    pub product: String,
    /// Units ordered.
    pub quantity: i64,
    /// Price of one unit, in cents.
    pub unit_price_cents: i64,
}

/// A row of the `revenue-per-product` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Revenue {
    /// Product.
    pub product: String,
    /// Window start (ms).
    pub window_start: i64,
    /// Window end (ms, exclusive).
    pub window_end: i64,
    /// Orders in the hour so far.
    pub orders: i64,
    /// Their revenue, in cents.
    pub revenue_cents: i64,
}

/// The revenue-per-product application.
pub struct RevenuePerProductApp {
    args: CommonArgs,
}

impl RevenuePerProductApp {
    /// The application for these options.
    pub fn new(args: &CommonArgs) -> Self {
        RevenuePerProductApp { args: args.clone() }
    }
}

impl Example for RevenuePerProductApp {
    fn name(&self) -> &'static str {
        "revenue-per-product"
    }

    fn input_topics(&self) -> Vec<&'static str> {
        vec!["orders"]
    }

    fn output_topics(&self) -> Vec<&'static str> {
        vec!["revenue-per-product"]
    }

    fn topology(&self) -> kstreams::Result<Topology> {
        let b = StreamsBuilder::new();
        b.stream_with(
            &[&self.args.topic("orders")],
            Consumed::with(StringSerde, JsonSerde::<OrderLine>::new()),
        )
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_secs(3600),
            Duration::from_secs(5 * 60),
        ))
        .aggregate_with(
            Revenue::default,
            |_, line, r| Revenue {
                orders: r.orders + 1,
                revenue_cents: r.revenue_cents + line.quantity * line.unit_price_cents,
                ..r
            },
            Materialized::as_store("revenue-store").with_value_serde(JsonSerde::<Revenue>::new()),
        )
        .to_stream()
        .filter(|_, r| r.is_some())
        .map(|w, r| {
            let row = Revenue {
                product: w.key.clone(),
                window_start: w.window.start,
                window_end: w.window.end,
                ..r.unwrap_or_default()
            };
            (w.key, row)
        })
        .to_with(
            &self.args.topic("revenue-per-product"),
            Produced::with(StringSerde, JsonSerde::new()),
        );
        b.build()
    }

    fn sample(&self) -> Result<Vec<Vec<RawRecord>>> {
        // In time order but for two keyboard orders: one 3 minutes late (within the grace
        // period: counted) and one 8 minutes late (past it: dropped).
        let lines = [
            (1, "keyboard", 2, 4500, at(9, 15, 0)),
            (2, "mouse", 5, 2000, at(9, 30, 0)),
            (3, "keyboard", 1, 4500, at(9, 50, 0)),
            (4, "keyboard", 1, 4500, at(10, 2, 0)),
            (5, "keyboard", 2, 4500, at(9, 59, 0)),
            (6, "keyboard", 3, 4000, at(10, 5, 0)),
            (7, "keyboard", 1, 4500, at(9, 57, 0)),
            (8, "mouse", 2, 2000, at(10, 40, 0)),
        ];
        let records = lines
            .iter()
            .map(|(id, product, quantity, price, ts)| {
                Ok(RawRecord {
                    topic: "orders",
                    key: Some(product.as_bytes().to_vec()),
                    value: Some(json(&OrderLine {
                        order_id: *id,
                        product: (*product).into(),
                        quantity: *quantity,
                        unit_price_cents: *price,
                    })?),
                    timestamp: *ts,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(vec![records])
    }

    fn describe(&self, r: &OutputRecord<'_>) -> Result<String> {
        let row: Revenue = from_json(r.value)?;
        Ok(format!(
            "{} {}-{} orders={} revenue={} (at {})",
            row.product,
            clock(row.window_start),
            clock(row.window_end),
            row.orders,
            money(row.revenue_cents),
            clock(r.timestamp)
        ))
    }
}
