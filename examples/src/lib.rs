//! The example applications of kstreams-rs, as a library: each module builds one
//! application's topology and its sample data, and [`runner`] runs any of them on the embedded
//! mock cluster or a real one. The binaries in `src/bin` are thin `main`s over these.
//!
//! | example | what it computes |
//! |---|---|
//! | [`fraud_detection`] | per-user hourly spend against a customer-profile table, a velocity rule, alerts, a dead-letter topic |
//! | [`rolling_average`] | average order value per product over 5-minute windows, as they update and final |
//! | [`login_count`] | 5-minute tumbling count of logins per user |
//! | [`order_enrichment`] | orders joined with a customer table, Avro values through a schema registry |
//! | [`revenue_per_product`] | hourly revenue and order count per product (a windowed `CREATE TABLE AS SELECT`) |

pub mod args;
pub mod fraud_detection;
pub mod interrupt;
pub mod login_count;
pub mod order_enrichment;
pub mod picture;
mod queries;
pub mod revenue_per_product;
pub mod rolling_average;
pub mod runner;
pub use kstreams_cli::settings;

/// Serializes sample data to JSON bytes.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

/// Reads a JSON output value.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(value: Option<&[u8]>) -> anyhow::Result<T> {
    Ok(serde_json::from_slice(value.unwrap_or_default())?)
}

/// A UTF-8 key, or `-` for none.
pub(crate) fn key_text(key: Option<&[u8]>) -> String {
    key.map_or_else(
        || "-".to_owned(),
        |k| String::from_utf8_lossy(k).into_owned(),
    )
}
