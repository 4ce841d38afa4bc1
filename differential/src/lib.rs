//! The differential suite: every [`variants::Variant`] runs on Kafka Streams'
//! `TopologyTestDriver` (Java, `differential/java`) and on ours over the same seeded inputs
//! ([`generate`]), and the outputs are compared record for record ([`compare`]); an input that
//! differs is shrunk to a small one that still does. `docs/testing.md` ("The differential
//! suite") says how to run it.

pub mod case;
pub mod compare;
pub mod describe;
pub mod generate;
pub mod java;
pub mod ours;
pub mod run;
pub mod variants;
