//! Joins: stream-table (`KStream::join_table`), table-table (`KTable::join`), windowed
//! stream-stream (`KStream::join`), global-table (`KStream::join_global`) and foreign-key
//! (`KTable::join_on_foreign_key`) joins, each family in its own module, with their inner,
//! left and (where Kafka Streams has one) outer variants.

mod foreign_key;
mod global;
mod stream_joined;
mod stream_stream;
mod stream_table;
mod table_table;

use std::sync::Arc;

use streams_core::processor::Processor;

use crate::shared::Inner;

pub use global::GlobalKTable;
pub use stream_joined::StreamJoined;
pub use stream_table::Joined;

/// What a join needs, when the stream before it changed keys and its repartition topic lacks
/// serdes.
const REPARTITION_HINT: &str = "the operation before the join changed the key or value type; \
                                give them with KStream::repartition(Repartitioned::with(..)) \
                                before joining";

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

impl<V, VT, VR> Joiner<V, VT, VR> {
    /// The output for a stream value and the table's row, if any; `None` when an inner join
    /// has no row to join.
    fn join(&self, value: &V, row: Option<&VT>) -> Option<VR> {
        match (self, row) {
            (Joiner::Inner(f), Some(row)) => Some(f(value, row)),
            (Joiner::Inner(_), None) => None,
            (Joiner::Left(f), row) => Some(f(value, row)),
        }
    }
}

impl<V, VT, VR> Clone for Joiner<V, VT, VR> {
    fn clone(&self) -> Self {
        match self {
            Joiner::Inner(f) => Joiner::Inner(f.clone()),
            Joiner::Left(f) => Joiner::Left(f.clone()),
        }
    }
}

/// Adds one node of a join, as every join lowers its nodes: the processor `name`, made by
/// `supplier`, reading `parents`, with access to `stores` (added before it: the stores it
/// keeps records in or looks rows up in). Stream-table and global-table joins add one node,
/// table-table and stream-stream joins one per side and a merge, foreign-key joins one per
/// hop. After a misuse nothing is added (see [`Inner::apply`]).
fn lower_join<KI, VI, KO, VO, P, F>(
    inner: &mut Inner,
    name: &str,
    parents: &[&str],
    stores: &[&str],
    supplier: F,
) where
    P: Processor<KI, VI, KO, VO>,
    F: Fn() -> P + Send + Sync + 'static,
    KI: 'static,
    VI: 'static,
    KO: Clone + 'static,
    VO: Clone + 'static,
{
    inner.apply(|t| {
        t.add_processor(name, supplier, parents)?
            .connect_processor_and_state_stores(name, stores)?;
        Ok(())
    });
}
