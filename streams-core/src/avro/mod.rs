//! Avro serdes in the Schema Registry wire format, and a Schema Registry client
//! (feature `avro`).
//!
//! A record written by [`AvroSerde`] is what Confluent's `KafkaAvroSerializer` writes, so Java
//! and Rust applications can share topics:
//!
//! ```text
//! byte 0      magic byte 0x00
//! bytes 1..5  schema id, 4 bytes big-endian, as the registry assigned it
//! bytes 5..   the Avro binary encoding of the value under that schema
//! ```
//!
//! The serde registers its schema under the subject `<topic>-value` (or `<topic>-key`) the
//! first time it writes to a topic (Confluent's default `TopicNameStrategy`) and caches the
//! id; reading fetches the writer's schema by id (cached too) and resolves it against the
//! serde's own schema, so a reader whose schema adds a field with a default reads records
//! written before the field existed. Malformed input (a wrong magic byte, an unknown schema
//! id, a truncated body) is a [`SerdeError`] that says which, so the record reaches the
//! deserialization error handler.
//!
//! The client talks to a registry at `http://host:port` or `https://host:port` (the REST API of
//! Confluent's Schema Registry, which Apicurio Registry also serves under `/apis/ccompat/v7`),
//! with HTTP basic authentication or a bearer token and a CA of your own if needed
//! ([`RegistryConfig`], which also reads the settings Confluent's serializers take), or keeps schemas in
//! memory for `mock://<scope>` URLs: every client of one scope in the process shares one
//! registry, as with Confluent's `mock://` URLs, which is what tests and broker-free runs use.
//!
//! The module is split by job: `wire` frames records, `serde` is [`AvroSerde`], `registry` is
//! the client with its caches, which hands each call to its backend (`http` or the in-memory
//! `mock`); `compatibility` holds the compatibility rules the in-memory registry enforces.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use streams_core::avro::{AvroSerde, Schema, SchemaRegistryClient};
//! use streams_core::serde::Serde;
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Payment {
//!     user: String,
//!     cents: i64,
//! }
//!
//! let schema = Schema::parse_str(
//!     r#"{"type": "record", "name": "Payment", "fields": [
//!         {"name": "user", "type": "string"}, {"name": "cents", "type": "long"}]}"#,
//! )?;
//! let registry = SchemaRegistryClient::new("mock://avro-doc")?;
//! let serde = AvroSerde::<Payment>::value(registry.clone(), schema);
//!
//! let payment = Payment { user: "ann".into(), cents: 1250 };
//! let bytes = serde.serialize("payments", &payment)?.expect("not null");
//! assert_eq!(bytes[0], 0, "magic byte");
//! let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
//! assert_eq!(registry.latest("payments-value")?.id, id);
//! assert_eq!(serde.deserialize("payments", Some(&bytes))?, payment);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compatibility;
mod http;
mod mock;
mod registry;
mod registry_config;
mod schema;
mod serde;
mod wire;

pub use apache_avro::Schema;

pub use self::compatibility::Compatibility;
pub use self::registry::SchemaRegistryClient;
pub use self::registry_config::{REGISTRY_SETTINGS, RegistryConfig};
pub use self::schema::{RegisteredSchema, RegistryError};
pub use self::serde::AvroSerde;
pub use self::wire::MAGIC_BYTE;
