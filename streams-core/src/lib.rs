//! The core of kstreams-rs: records, serdes, the Processor API, topologies, and the runtime
//! that runs them on Kafka.
//!
//! An application builds a [`Topology`] (directly with the Processor API, or through the DSL
//! in `streams-dsl`), configures it with a [`StreamsConfig`] and runs it with
//! [`KafkaStreams`]. Tests run the same topology without a broker on the
//! `TopologyTestDriver` (feature `test-util`).

#![deny(missing_docs)]

#[cfg(feature = "avro")]
pub mod avro;
mod client_state;
mod collector;
pub mod config;
mod context;
mod dead_letter;
mod describe;
mod describe_render;
pub mod error;
pub mod fixed_key;
pub mod global;
pub mod handlers;
mod ids;
pub mod metrics;
mod nodes;
pub mod partition;
pub mod processor;
pub mod query;
pub mod record;
mod runtime;
pub mod serde;
mod state_manager;
pub mod store;
mod task;
#[cfg(feature = "test-util")]
pub mod test_driver;
pub mod timestamp;
mod topology;
pub mod window;

pub use client_state::ThreadMetadata;
pub use config::{ProcessingGuarantee, StreamsConfig};
pub use context::TaskCounters;
pub use dead_letter::DeadLetter;
pub use describe::{
    GlobalStoreDescription, NodeDescription, NodeKindDescription, SubtopologyDescription,
    TopologyDescription,
};
pub use error::{Result, SerdeError, StreamsError};
pub use ids::TaskId;
pub use nodes::{Partitioner, TopicChooser};
pub use record::{Headers, Record, RecordMetadata};
pub use runtime::{
    CloseOptions, KafkaStreams, Queries, State, StateChange, StateListener,
    StreamThreadExceptionResponse, TopicSpec, UncaughtExceptionHandler, create_topics,
};
pub use topology::{OffsetReset, SinkOptions, SourceOptions, Subtopology, Topology};
pub use window::{SessionWindowedSerde, TimeWindowedSerde, Window, Windowed};
