//! Where a task's output goes: the [`RecordCollector`] a task sends each [`OutRecord`] to
//! (the stream thread's producer, or the test driver's capture).

use crate::error::Result;
use crate::record::Headers;

/// An output record on its way to the producer.
#[derive(Debug)]
pub(crate) struct OutRecord<'a> {
    pub topic: &'a str,
    pub partition: Option<i32>,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub timestamp: i64,
    pub headers: &'a Headers,
}

/// Where tasks send output: the thread's Kafka producer, or the test driver's capture.
pub(crate) trait RecordCollector {
    /// Hands a record to the producer. An `Err` is a failure that must stop the task.
    fn send(&mut self, record: OutRecord<'_>) -> Result<()>;
    /// The partition count of `topic`, for custom partitioners.
    fn partition_count(&mut self, topic: &str) -> Result<i32>;
}
