//! **fraud-detection**: payments checked against each customer's profile and two rules.
//!
//! - `payments`: JSON payments keyed by user. Malformed records go to the dead-letter topic
//!   `payments-dlq` with the raw bytes and the error, and processing goes on.
//! - `customers`: JSON customer profiles keyed by user, read as a table: name, country and an
//!   hourly spending limit (unknown users get [`DEFAULT_HOURLY_LIMIT_CENTS`]).
//!
//! Each payment is enriched with its profile (a stream-table left join), then:
//!
//! - **hourly limit**: sum and count per user over 1-hour tumbling windows; the payment that
//!   takes the hour's sum over the profile's limit raises an alert (once per hour).
//! - **velocity**: a Processor API node with a state store keeps each user's recent payment
//!   times; a payment that makes `velocity_count` payments within `velocity_seconds` raises an
//!   alert.
//!
//! Alerts go to `alerts` as JSON keyed by user.

use std::time::Duration;

use anyhow::Result;
use kstreams::core::handlers::dlq_headers;
use kstreams::prelude::*;
use serde::{Deserialize, Serialize};

use crate::runner::{CommonArgs, Example, OutputRecord, RawRecord, at, clock, money};
use crate::{from_json, json, key_text};

/// A payment on `payments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    /// Payment id.
    pub payment_id: String,
    /// Paying user (also the record key).
    pub user: String,
    /// Amount in cents.
    pub amount_cents: i64,
    /// Where.
    pub merchant: String,
}

/// A customer profile on `customers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Full name.
    pub name: String,
    /// Country code.
    pub country: String,
    /// Spending per hour above which an alert is raised, in cents.
    pub hourly_limit_cents: i64,
}

/// A payment with its customer's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedPayment {
    /// The payment.
    pub payment: Payment,
    /// The customer's name, or `unknown`.
    pub name: String,
    /// The customer's hourly limit, or the default.
    pub hourly_limit_cents: i64,
}

/// An hour's spending of one user, as the hourly rule aggregates it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HourlySpend {
    /// Payments in the hour so far.
    pub payments: i64,
    /// Their sum, in cents.
    pub cents: i64,
    /// Whether the limit was crossed in the hour.
    pub over_limit: bool,
    /// Whether the latest payment crossed it (the alerting one).
    pub crossed_now: bool,
    /// The latest payment.
    pub last: Option<EnrichedPayment>,
}

/// An alert on `alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The user.
    pub user: String,
    /// The customer's name.
    pub name: String,
    /// `hourly-limit` or `velocity`.
    pub rule: String,
    /// What the rule saw.
    pub detail: String,
    /// The payment that raised it.
    pub payment_id: String,
}

/// The hourly limit of users without a profile: 1,000.00.
pub const DEFAULT_HOURLY_LIMIT_CENTS: i64 = 100_000;

/// The store of recent payment times per user.
pub const RECENT_PAYMENTS: &str = "recent-payments";

/// The velocity rule: raises an alert when a user's payment makes `count` payments within
/// `window` (the payment's time and the `window` before it, both ends included).
pub struct VelocityRule {
    count: usize,
    window_ms: i64,
    recent: StoreHandle<TypedKeyValueStore<String, Vec<i64>>>,
}

impl Processor<String, EnrichedPayment, String, Alert> for VelocityRule {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, Alert>,
        record: Record<String, EnrichedPayment>,
    ) -> Result<(), ProcessorError> {
        let t = record.timestamp;
        let mut times = self.recent.borrow().get(&record.key)?.unwrap_or_default();
        times.retain(|&s| s >= t - self.window_ms && s <= t);
        times.push(t);
        self.recent.borrow_mut().put(&record.key, &times)?;
        if times.len() >= self.count {
            let p = &record.value;
            let alert = Alert {
                user: record.key.clone(),
                name: p.name.clone(),
                rule: "velocity".into(),
                detail: format!(
                    "{} payments within {} s",
                    times.len(),
                    self.window_ms / 1000
                ),
                payment_id: p.payment.payment_id.clone(),
            };
            ctx.forward(record.with_value(alert))?;
        }
        Ok(())
    }
}

/// The fraud-detection application.
pub struct FraudDetectionApp {
    args: CommonArgs,
    velocity_count: usize,
    velocity_window: Duration,
}

impl FraudDetectionApp {
    /// The application for these options, with the velocity rule's payment count and window.
    pub fn new(args: &CommonArgs, velocity_count: usize, velocity_window: Duration) -> Self {
        FraudDetectionApp {
            args: args.clone(),
            velocity_count,
            velocity_window,
        }
    }
}

impl Example for FraudDetectionApp {
    fn name(&self) -> &'static str {
        "fraud-detection"
    }

    fn input_topics(&self) -> Vec<&'static str> {
        vec!["customers", "payments"]
    }

    fn output_topics(&self) -> Vec<&'static str> {
        vec!["alerts", "payments-dlq"]
    }

    fn configure(&self, config: StreamsConfig) -> kstreams::Result<StreamsConfig> {
        config
            .set(
                "default.deserialization.exception.handler",
                "dead-letter-queue",
            )?
            .set(
                "errors.dead.letter.queue.topic.name",
                &self.args.topic("payments-dlq"),
            )
    }

    fn topology(&self) -> kstreams::Result<Topology> {
        let b = StreamsBuilder::new();
        let customers = b.table_with(
            &self.args.topic("customers"),
            Consumed::with(StringSerde, JsonSerde::<Customer>::new()),
            Materialized::as_store("customer-profiles"),
        );
        let enriched = b
            .stream_with(
                &[&self.args.topic("payments")],
                Consumed::with(StringSerde, JsonSerde::<Payment>::new()),
            )
            .left_join_table(&customers, |p, c| EnrichedPayment {
                payment: p.clone(),
                name: c.map_or_else(|| "unknown".to_owned(), |c| c.name.clone()),
                hourly_limit_cents: c.map_or(DEFAULT_HOURLY_LIMIT_CENTS, |c| c.hourly_limit_cents),
            });

        let hourly = enriched
            .group_by_key()
            .windowed_by(TimeWindows::of_size_and_grace(
                Duration::from_secs(3600),
                Duration::from_secs(5 * 60),
            ))
            .aggregate_with(
                HourlySpend::default,
                |_, p, h| {
                    let cents = h.cents + p.payment.amount_cents;
                    let crossed_now = !h.over_limit && cents > p.hourly_limit_cents;
                    HourlySpend {
                        payments: h.payments + 1,
                        cents,
                        over_limit: h.over_limit || crossed_now,
                        crossed_now,
                        last: Some(p),
                    }
                },
                Materialized::as_store("hourly-spend")
                    .with_value_serde(JsonSerde::<HourlySpend>::new()),
            )
            .to_stream()
            .filter(|_, h| h.as_ref().is_some_and(|h| h.crossed_now))
            .map(|w, h| {
                let h = h.unwrap_or_default();
                let last = h.last.unwrap_or_else(|| EnrichedPayment {
                    payment: Payment {
                        payment_id: String::new(),
                        user: w.key.clone(),
                        amount_cents: 0,
                        merchant: String::new(),
                    },
                    name: String::new(),
                    hourly_limit_cents: 0,
                });
                let alert = Alert {
                    user: w.key.clone(),
                    name: last.name,
                    rule: "hourly-limit".into(),
                    detail: format!(
                        "{} in {} payment{} in the hour from {} exceeds the limit of {}",
                        money(h.cents),
                        h.payments,
                        if h.payments == 1 { "" } else { "s" },
                        clock(w.window.start),
                        money(last.hourly_limit_cents)
                    ),
                    payment_id: last.payment.payment_id,
                };
                (w.key, alert)
            });

        b.add_state_store(KeyValueStoreBuilder::rocksdb(
            RECENT_PAYMENTS,
            StringSerde,
            JsonSerde::<Vec<i64>>::new(),
        ));
        let (count, window_ms) = (self.velocity_count, self.velocity_window.as_millis() as i64);
        let velocity = enriched.process_with_stores(
            from_stores(move |stores| {
                Ok(VelocityRule {
                    count,
                    window_ms,
                    recent: stores.state_store(RECENT_PAYMENTS)?,
                })
            }),
            &[RECENT_PAYMENTS],
        );
        hourly.merge(&velocity).to_with(
            &self.args.topic("alerts"),
            Produced::with(StringSerde, JsonSerde::new()),
        );
        b.build()
    }

    fn sample(&self) -> Result<Vec<Vec<RawRecord>>> {
        let customer =
            |user: &'static str, name: &str, country: &str, limit| -> Result<RawRecord> {
                Ok(RawRecord {
                    topic: "customers",
                    key: Some(user.as_bytes().to_vec()),
                    value: Some(json(&Customer {
                        name: name.into(),
                        country: country.into(),
                        hourly_limit_cents: limit,
                    })?),
                    timestamp: at(8, 0, 0),
                })
            };
        let payment =
            |id: &str, user: &'static str, cents, merchant: &str, ts| -> Result<RawRecord> {
                Ok(RawRecord {
                    topic: "payments",
                    key: Some(user.as_bytes().to_vec()),
                    value: Some(json(&Payment {
                        payment_id: id.into(),
                        user: user.into(),
                        amount_cents: cents,
                        merchant: merchant.into(),
                    })?),
                    timestamp: ts,
                })
            };
        let profiles = vec![
            customer("ann", "Ann Lee", "NL", 50_000)?,
            customer("bob", "Bob Ray", "DE", 100_000)?,
        ];
        let payments = vec![
            payment("p1", "ann", 12_000, "grocer", at(9, 0, 0))?,
            payment("p2", "bob", 4_000, "cafe", at(9, 5, 0))?,
            payment("p3", "ann", 25_000, "electronics", at(9, 10, 0))?,
            payment("p4", "ann", 20_000, "electronics", at(9, 20, 0))?,
            payment("p5", "ann", 1_000, "bakery", at(9, 25, 0))?,
            payment("p6", "bob", 1_500, "kiosk", at(9, 30, 0))?,
            payment("p7", "bob", 1_500, "kiosk", at(9, 30, 20))?,
            payment("p8", "bob", 1_500, "kiosk", at(9, 30, 45))?,
            RawRecord {
                topic: "payments",
                key: Some(b"bob".to_vec()),
                value: Some(b"{\"payment_id\": \"p?\", oops".to_vec()),
                timestamp: at(9, 31, 0),
            },
            payment("p10", "bob", 1_500, "kiosk", at(9, 31, 30))?,
            payment("p11", "dave", 120_000, "jeweller", at(9, 40, 0))?,
        ];
        Ok(vec![profiles, payments])
    }

    /// The hourly spend of each user: `GET /stores/hourly-spend/keys/<user>/windows`.
    #[cfg(feature = "http")]
    fn queries(
        &self,
        server: streams_http::QueryServerBuilder,
    ) -> streams_http::QueryServerBuilder {
        server.window::<String, HourlySpend>("hourly-spend", StringSerde)
    }

    fn live_record(&self, seq: u64, now: i64) -> Option<Result<RawRecord>> {
        const MERCHANTS: [&str; 5] = ["grocer", "cafe", "kiosk", "electronics", "bakery"];
        let user = match seq % 50 {
            0..=9 => "ann".to_owned(),
            10..=14 => "bob".to_owned(),
            n => format!("u{n}"),
        };
        // One payment in 500 is malformed, for the dead-letter topic.
        let value = if seq % 500 == 499 {
            Ok(b"{\"payment_id\": oops".to_vec())
        } else {
            json(&Payment {
                payment_id: format!("live-{seq}"),
                user: user.clone(),
                amount_cents: 100 + (seq * 7919 % 20_000) as i64,
                merchant: MERCHANTS[(seq % 5) as usize].into(),
            })
        };
        Some(value.map(|v| RawRecord {
            topic: "payments",
            key: Some(user.into_bytes()),
            value: Some(v),
            timestamp: now,
        }))
    }

    fn describe(&self, r: &OutputRecord<'_>) -> Result<String> {
        if r.topic == "payments-dlq" {
            return Ok(format!(
                "{} {} ({})",
                key_text(r.key),
                String::from_utf8_lossy(r.value.unwrap_or_default()),
                r.headers
                    .get(dlq_headers::MESSAGE)
                    .map_or("no error header", String::as_str)
            ));
        }
        let a: Alert = from_json(r.value)?;
        Ok(format!(
            "{} ({}) {}: {} [payment {} at {}]",
            a.user,
            a.name,
            a.rule,
            a.detail,
            a.payment_id,
            clock(r.timestamp)
        ))
    }
}
