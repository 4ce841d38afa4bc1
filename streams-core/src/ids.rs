//! The small identifiers every layer shares: a task's id and a punctuation's id and clock.

use std::fmt;

/// A task's id: sub-topology number and partition number, printed `<sub-topology>_<partition>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The sub-topology.
    pub subtopology: u32,
    /// The partition number shared by the task's source partitions.
    pub partition: i32,
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

/// Which clock drives a punctuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PunctuationType {
    /// Fires as the task's stream time (the largest record timestamp seen) advances.
    StreamTime,
    /// Fires as wall-clock time advances, whether or not records arrive.
    WallClockTime,
}

/// Identifies a scheduled punctuation of one processor, to tell several apart in
/// [`Processor::punctuate`](crate::processor::Processor::punctuate) and to cancel one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PunctuatorId(pub(crate) u64);
