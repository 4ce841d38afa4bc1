//! **rolling-average**: the average order value per product over 5-minute windows, emitted
//! both as each window updates and once per window as its final result.
//!
//! Reads JSON orders keyed by product from `orders`, aggregates count and total per product in
//! 5-minute tumbling windows with 1 minute of grace, and writes each update to
//! `product-averages` and each window's final average, once the window has closed (stream
//! time past its end plus the grace), to `product-averages-final`.

use std::time::Duration;

use anyhow::Result;
use kstreams::prelude::*;
use serde::{Deserialize, Serialize};

use crate::runner::{CommonArgs, Example, OutputRecord, RawRecord, at, clock, money};
use crate::{from_json, json};

/// An order on `orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Order id.
    pub order_id: u32,
    /// Product (also the record key).
    pub product: String,
    /// Order value in cents.
    pub amount_cents: i64,
}

/// Running count and total of a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Orders so far.
    pub orders: i64,
    /// Their total, in cents.
    pub total_cents: i64,
}

/// An average on the output topics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductAverage {
    /// Product.
    pub product: String,
    /// Window start (ms).
    pub window_start: i64,
    /// Window end (ms, exclusive).
    pub window_end: i64,
    /// Orders in the window.
    pub orders: i64,
    /// Average order value in cents, rounded half away from zero.
    pub average_cents: i64,
}

/// The rolling-average application.
pub struct RollingAverageApp {
    args: CommonArgs,
}

impl RollingAverageApp {
    /// The application for these options.
    pub fn new(args: &CommonArgs) -> Self {
        RollingAverageApp { args: args.clone() }
    }

    fn averages(
        &self,
        grouped: &KGroupedStream<String, Order>,
        emit: EmitStrategy,
        store: &str,
        topic: &str,
    ) {
        let windows =
            TimeWindows::of_size_and_grace(Duration::from_secs(5 * 60), Duration::from_secs(60));
        grouped
            .windowed_by(windows)
            .emit_strategy(emit)
            .aggregate_with(
                Totals::default,
                |_, order, t| Totals {
                    orders: t.orders + 1,
                    total_cents: t.total_cents + order.amount_cents,
                },
                Materialized::as_store(store).with_value_serde(JsonSerde::<Totals>::new()),
            )
            .to_stream()
            .filter(|_, t| t.is_some())
            .map(|w, t| {
                let t = t.unwrap_or_default();
                let average = ProductAverage {
                    product: w.key.clone(),
                    window_start: w.window.start,
                    window_end: w.window.end,
                    orders: t.orders,
                    average_cents: (t.total_cents as f64 / t.orders.max(1) as f64).round() as i64,
                };
                (w.key, average)
            })
            .to_with(
                &self.args.topic(topic),
                Produced::with(StringSerde, JsonSerde::new()),
            );
    }
}

impl Example for RollingAverageApp {
    fn name(&self) -> &'static str {
        "rolling-average"
    }

    fn input_topics(&self) -> Vec<&'static str> {
        vec!["orders"]
    }

    fn output_topics(&self) -> Vec<&'static str> {
        vec!["product-averages", "product-averages-final"]
    }

    fn topology(&self) -> kstreams::Result<Topology> {
        let b = StreamsBuilder::new();
        let grouped = b
            .stream_with(
                &[&self.args.topic("orders")],
                Consumed::with(StringSerde, JsonSerde::<Order>::new()),
            )
            .group_by_key();
        self.averages(
            &grouped,
            EmitStrategy::OnWindowUpdate,
            "averages-live",
            "product-averages",
        );
        self.averages(
            &grouped,
            EmitStrategy::OnWindowClose,
            "averages-final",
            "product-averages-final",
        );
        b.build()
    }

    fn sample(&self) -> Result<Vec<Vec<RawRecord>>> {
        let orders = [
            (1, "widget", 1000, at(10, 0, 0)),
            (2, "gadget", 500, at(10, 1, 0)),
            (3, "widget", 2000, at(10, 2, 0)),
            (4, "gadget", 700, at(10, 3, 0)),
            (5, "widget", 3000, at(10, 4, 0)),
            (6, "widget", 1500, at(10, 6, 0)),
            (7, "widget", 2500, at(10, 9, 0)),
            (8, "gadget", 100, at(10, 20, 0)),
            (9, "widget", 500, at(10, 20, 0)),
        ];
        let records = orders
            .iter()
            .map(|(id, product, cents, ts)| {
                Ok(RawRecord {
                    topic: "orders",
                    key: Some(product.as_bytes().to_vec()),
                    value: Some(json(&Order {
                        order_id: *id,
                        product: (*product).into(),
                        amount_cents: *cents,
                    })?),
                    timestamp: *ts,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(vec![records])
    }

    fn describe(&self, r: &OutputRecord<'_>) -> Result<String> {
        let a: ProductAverage = from_json(r.value)?;
        Ok(format!(
            "{} {}-{} orders={} average={} (at {})",
            a.product,
            clock(a.window_start),
            clock(a.window_end),
            a.orders,
            money(a.average_cents),
            clock(r.timestamp)
        ))
    }
}
