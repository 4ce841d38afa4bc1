//! The `StreamsBuilder` / `KStream` / `KTable` DSL of kstreams-rs.
//!
//! A [`StreamsBuilder`] turns topics into [`KStream`]s; stateless operations (filter, map,
//! flat_map, select_key, peek, foreach, merge, process, to) add nodes named as Kafka Streams
//! names them (`KSTREAM-FILTER-0000000001`), and groupings aggregate into [`KTable`]s
//! (`count`, `reduce`, `aggregate`) kept in key-value stores with changelogs.
//! [`StreamsBuilder::build`] returns a `streams_core::Topology` to run with `KafkaStreams` or
//! the `TopologyTestDriver`.
//!
//! Differences from Kafka Streams, on purpose or not yet done:
//! - Every aggregation update is forwarded (as Kafka Streams does with its record cache off).
//! - Null values are in the types: a table's stream is `KStream<K, Option<V>>`.
//! - Grouping after a key-changing operation needs a repartition topic, not created yet:
//!   `build()` refuses such a topology with an explanation. Windowed aggregations, table
//!   operations other than `to_stream`, and branching are not built yet either.

#![deny(missing_docs)]

mod builder;
mod grouped;
mod grouped_table;
mod stream;
mod table;
mod windowed;
pub mod windows;

pub use builder::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
pub use grouped::{KGroupedStream, ValueAndTimestamp, ValueAndTimestampSerde};
pub use grouped_table::{ChangeSerde, KGroupedTable};
pub use stream::KStream;
pub use table::{Change, KTable};
pub use windowed::{SessionWindowedKStream, TimeWindowedKStream};
pub use windows::{EmitStrategy, SessionWindows, SlidingWindows, TimeWindows};
