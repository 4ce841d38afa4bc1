//! Joins: stream-table (`KStream::join_table`), table-table (`KTable::join`), windowed
//! stream-stream (`KStream::join`), global-table (`KStream::join_global`) and foreign-key
//! (`KTable::join_on_foreign_key`) joins, each family in its own module, with their inner,
//! left and (where Kafka Streams has one) outer variants.

mod foreign_key;
mod global;
mod stream_stream;
mod stream_table;
mod table_table;

use std::sync::Arc;

pub use global::GlobalKTable;

/// How a stream value and the table's value make the output value.
enum Joiner<V, VT, VR> {
    /// Inner join: only with a row.
    Inner(Arc<InnerJoiner<V, VT, VR>>),
    /// Left join: with the row, if any.
    Left(Arc<LeftJoiner<V, VT, VR>>),
}

/// Makes the output of a stream value and a table value.
type InnerJoiner<V, VT, VR> = dyn Fn(&V, &VT) -> VR + Send + Sync;
/// Makes the output of a stream value and the table value, if any.
type LeftJoiner<V, VT, VR> = dyn Fn(&V, Option<&VT>) -> VR + Send + Sync;

impl<V, VT, VR> Clone for Joiner<V, VT, VR> {
    fn clone(&self) -> Self {
        match self {
            Joiner::Inner(f) => Joiner::Inner(f.clone()),
            Joiner::Left(f) => Joiner::Left(f.clone()),
        }
    }
}
