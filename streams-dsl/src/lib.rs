//! The `StreamsBuilder` / `KStream` / `KTable` DSL of kstreams-rs.
//!
//! A [`StreamsBuilder`] turns topics into [`KStream`]s (`stream`), [`KTable`]s (`table`) and
//! [`GlobalKTable`]s (`global_table`). Stateless operations (filter, map, flat_map,
//! select_key, peek, foreach, merge, split, process, to, and the fallible `try_` variants)
//! add nodes named as Kafka Streams names them (`KSTREAM-FILTER-0000000001`); groupings
//! aggregate into tables (`count`, `reduce`, `aggregate`) kept in key-value stores with
//! changelogs, or per window ([`windows::TimeWindows`] tumbling and hopping,
//! [`windows::SlidingWindows`], [`windows::SessionWindows`]) in window and session stores,
//! emitting every update or, with [`EmitStrategy::OnWindowClose`], one final result per
//! window. Streams join tables (`join_table`), other streams within a [`JoinWindows`]
//! window (`join`), and global tables (`join_global`); tables join tables on their key
//! (`join`) or on a foreign key (`join_on_foreign_key`); each with inner and left variants,
//! and outer ones for stream-stream and table-table joins. A grouping, a join or `to_table`
//! after a key-changing operation reads its records back from a repartition topic
//! (`<application.id>-<name>-repartition`) that the runtime creates and purges; re-grouped
//! tables subtract a row's old value from its old group. [`StreamsBuilder::build`] returns a
//! `streams_core::Topology` to run with `KafkaStreams` or the `TopologyTestDriver`.
//!
//! Differences from Kafka Streams, on purpose or not yet done:
//! - Every aggregation update is forwarded (as Kafka Streams does with its record cache off).
//! - Null values are in the types: a table's stream is `KStream<K, Option<V>>`.
//! - Emit-on-close emits as soon as stream time closes a window (Kafka Streams throttles it to
//!   once per second of wall-clock time); what it emitted is kept in a logged store
//!   `<store>-emit-progress` with the input offsets that triggered it (Kafka Streams keeps
//!   it in the commit metadata), so a restart never loses a final result and repeats one
//!   only if it was not committed.
//! - A global table is kept in memory and read again from its topic at every start.
//! - Not built yet: `suppress`, and setting a repartition topic's partition count.

#![deny(missing_docs)]

mod aggregation;
mod branch;
mod builder;
mod cogroup;
mod cogroup_windowed;
mod fallible;
mod grouped;
mod grouped_table;
mod join;
mod optional;
mod options;
mod repartition;
mod session;
mod shared;
mod sliding;
mod store_slot;
mod stream;
mod stream_grouping;
mod stream_process;
mod stream_sink;
pub mod suppress;
mod suppress_buffer;
mod table;
mod table_getter;
mod table_source;
mod table_transform;
mod timestamped;
mod window_emit;
mod windowed;
pub mod windows;

pub use branch::BranchedKStream;
pub use builder::StreamsBuilder;
pub use cogroup::CogroupedKStream;
pub use cogroup_windowed::{SessionWindowedCogroupedKStream, TimeWindowedCogroupedKStream};
pub use grouped::KGroupedStream;
pub use grouped_table::{ChangeSerde, KGroupedTable};
pub use join::{GlobalKTable, Joined, StreamJoined};
pub use options::{Consumed, Grouped, Materialized, Produced, Repartitioned, StreamPartitioner};
pub use session::SessionWindowedKStream;
pub use stream::KStream;
pub use table::{Change, KTable};
pub use table_transform::ValueTransformerWithKey;
pub use timestamped::{ValueAndTimestamp, ValueAndTimestampSerde};
pub use windowed::TimeWindowedKStream;
pub use windows::{EmitStrategy, JoinWindows, SessionWindows, SlidingWindows, TimeWindows};
