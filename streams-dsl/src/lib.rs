//! The `StreamsBuilder` / `KStream` / `KTable` DSL of kstreams-rs.
//!
//! Not started yet: this crate is empty until the DSL issue lands. Build topologies with the
//! Processor API in `streams-core` meanwhile.
