//! Kafka Streams for Rust: one crate for the whole library, with a [`prelude`].
//!
//! ```
//! use kstreams::prelude::*;
//!
//! // Counts words: the DSL, a RocksDB store, a test run without a broker.
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<Option<String>, String>(&["lines"]) // natural serdes; keys may be null
//!     .flat_map_values(|line| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
//!     .group_by(|_, word| word.clone())
//!     .count_with(Materialized::as_store("counts"))
//!     .to_stream()
//!     .non_null()
//!     .to("word-counts");
//!
//! let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("words", "unused:9092"))?;
//! driver
//!     .input_topic("lines", Nullable(StringSerde), StringSerde)
//!     .pipe(None, "Kafka streams kafka".into(), 10)?;
//! let counts = driver
//!     .output_topic("word-counts", StringSerde, I64Serde)
//!     .read_key_values_to_map()?;
//! assert_eq!(counts["kafka"], 2);
//! assert_eq!(counts["streams"], 1);
//! # Ok::<(), StreamsError>(())
//! ```
//!
//! The crates underneath stay usable on their own: [`core`] (records, serdes, the Processor
//! API, `Topology`, configuration, the runtime, the test driver), [`stores`] (key-value, window
//! and session stores, in memory and in RocksDB, and their query views) and [`dsl`] (the
//! `StreamsBuilder` DSL); [`http`] (feature `http`) is the interactive-query server.
//!
//! Features: `test-util` (the `TopologyTestDriver`), `avro` (Avro serdes and a schema registry
//! client), `http` (the query server), `gssapi` (Kerberos). RocksDB is always built.

pub use state_stores as stores;
pub use streams_core as core;
pub use streams_dsl as dsl;
#[cfg(feature = "http")]
pub use streams_http as http;

pub use streams_core::{
    CloseOptions, KafkaStreams, ProcessingGuarantee, Queries, Record, Result, State, StateChange,
    StreamsConfig, StreamsError, TopicSpec, Topology, create_topics,
};
pub use streams_dsl::{
    Consumed, GlobalKTable, Grouped, KStream, KTable, Materialized, Produced, StreamsBuilder,
};

/// What an application's code reaches for: `use kstreams::prelude::*;`.
pub mod prelude {
    pub use state_stores::query::QueryableStoreTypes;
    pub use state_stores::typed::{TypedKeyValueStore, TypedSessionStore, TypedWindowStore};
    pub use state_stores::{KeyValueStoreBuilder, SessionStoreBuilder, WindowStoreBuilder};
    pub use streams_core::fixed_key::{
        FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord,
    };
    pub use streams_core::processor::{Processor, ProcessorContext, ProcessorError, from_stores};
    pub use streams_core::query::StoreQueryParameters;
    pub use streams_core::serde::{
        BytesSerde, F32Serde, F64Serde, I16Serde, I32Serde, I64Serde, JsonSerde, JsonValue,
        NaturalSerde, Nullable, Serde, StringSerde, UnitSerde,
    };
    pub use streams_core::store::StoreHandle;
    #[cfg(feature = "test-util")]
    pub use streams_core::test_driver::{TestInputTopic, TestOutputTopic, TopologyTestDriver};
    pub use streams_core::{
        CloseOptions, Headers, KafkaStreams, ProcessingGuarantee, Record, SessionWindowedSerde,
        State, StateChange, StreamsConfig, StreamsError, TimeWindowedSerde, Topology, Window,
        Windowed,
    };
    pub use streams_dsl::suppress::{BufferConfig, BufferFull, Suppressed};
    pub use streams_dsl::{
        CogroupedKStream, Consumed, EmitStrategy, GlobalKTable, Grouped, JoinWindows, Joined,
        KGroupedStream, KGroupedTable, KStream, KTable, Materialized, Produced, Repartitioned,
        SessionWindowedCogroupedKStream, SessionWindows, SlidingWindows, StreamJoined,
        StreamsBuilder, TimeWindowedCogroupedKStream, TimeWindows, ValueAndTimestamp,
        ValueTransformerWithKey,
    };
    #[cfg(feature = "http")]
    pub use streams_http::QueryServer;
}

/// The README's code examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
