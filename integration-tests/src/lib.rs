//! Real-Kafka integration suites for kstreams-rs, and the broker fixture they share.
//!
//! [`kafka::KafkaCluster`] starts Apache Kafka (KRaft) nodes from jars fetched from Maven
//! Central, on loopback, and can kill and restart them. [`kafka::shared_cluster`] gives each
//! test binary one broker (or the external cluster named by `KSTREAMS_BOOTSTRAP_SERVERS`).
//! See `docs/testing.md`.

pub mod client;
pub mod kafka;
