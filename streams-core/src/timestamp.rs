//! Timestamp extractors: which time a record carries for windowing and ordering.
//!
//! The extractor sees the raw record (before deserialization) and the largest timestamp seen
//! so far on its partition. A negative result means "invalid": the record is skipped with a
//! warning and counted in `dropped-records`. An `Err` stops the application.

use crate::error::{Result, SourcePosition, StreamsError};
use crate::record::RawRecord;

/// The wall-clock time in ms since the epoch, the unit of record timestamps: what wall-clock
/// punctuators and the end-to-end latency metrics read.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Chooses a record's event time.
pub trait TimestampExtractor: Send + Sync + 'static {
    /// Returns the record's timestamp in ms since the epoch (negative: skip the record).
    fn extract(&self, record: &RawRecord, partition_time: i64) -> Result<i64>;
}

/// The record's own timestamp; an invalid (negative) one stops the application with an
/// error naming the record. Kafka Streams' `FailOnInvalidTimestamp`, the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailOnInvalidTimestamp;

impl TimestampExtractor for FailOnInvalidTimestamp {
    fn extract(&self, record: &RawRecord, _: i64) -> Result<i64> {
        if record.timestamp < 0 {
            return Err(StreamsError::InvalidTimestamp {
                position: SourcePosition {
                    topic: record.topic.to_string(),
                    partition: record.partition,
                    offset: record.offset,
                },
                timestamp: record.timestamp,
            });
        }
        Ok(record.timestamp)
    }
}

/// The record's own timestamp; records with an invalid one are skipped and counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAndSkipOnInvalidTimestamp;

impl TimestampExtractor for LogAndSkipOnInvalidTimestamp {
    fn extract(&self, record: &RawRecord, _: i64) -> Result<i64> {
        Ok(record.timestamp)
    }
}

/// The record's own timestamp; an invalid one is replaced by the partition's time (the
/// largest timestamp seen on it), or skipped if the partition has none yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsePartitionTimeOnInvalidTimestamp;

impl TimestampExtractor for UsePartitionTimeOnInvalidTimestamp {
    fn extract(&self, record: &RawRecord, partition_time: i64) -> Result<i64> {
        Ok(if record.timestamp < 0 {
            partition_time
        } else {
            record.timestamp
        })
    }
}

/// The wall-clock time at extraction (processing time).
#[derive(Debug, Clone, Copy, Default)]
pub struct WallclockTimestampExtractor;

impl TimestampExtractor for WallclockTimestampExtractor {
    fn extract(&self, _: &RawRecord, _: i64) -> Result<i64> {
        Ok(chrono::Utc::now().timestamp_millis())
    }
}
