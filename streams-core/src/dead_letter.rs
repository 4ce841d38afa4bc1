//! Dead-letter records: the failed record with headers saying what went wrong and where it
//! came from, cut to fit `message.max.bytes` when `errors.dead.letter.queue.oversized=truncate`.

use std::borrow::Cow;

use crate::error::SerdeError;
use crate::handlers::{ErrorStage, dlq_headers};
use crate::record::{Headers, RawRecord};

/// A record of a dead-letter topic read back: the failed record's key and value bytes (as it
/// was read, or cut under `errors.dead.letter.queue.oversized=truncate`), and what the
/// headers say about the failure and where the record came from. Read from a test driver's
/// topic with [`TopologyTestDriver::dead_letters`](crate::test_driver::TopologyTestDriver),
/// or from any consumer's record with [`DeadLetter::from_record`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The failed record's key bytes.
    pub key: Option<Vec<u8>>,
    /// The failed record's value bytes.
    pub value: Option<Vec<u8>>,
    /// The dead-letter record's timestamp (the failed record's).
    pub timestamp: i64,
    /// The error's type (`__streams.errors.exception`).
    pub exception: String,
    /// The error's message (`__streams.errors.message`).
    pub message: String,
    /// Where it failed and why, in one line (`__streams.errors.stacktrace`).
    pub trace: String,
    /// The topic the record was read from.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Every header, the failed record's own included.
    pub headers: Headers,
}

impl DeadLetter {
    /// Reads a dead-letter record from its parts; an error names the header that is missing
    /// or malformed (a record this library did not write, for example).
    pub fn from_record(
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<Self, SerdeError> {
        let text = |name: &str| -> Result<String, SerdeError> {
            let bytes = headers
                .last(name)
                .and_then(|h| h.value.as_deref())
                .ok_or_else(|| {
                    SerdeError::new(format!("dead-letter header `{name}` is missing"))
                })?;
            String::from_utf8(bytes.to_vec())
                .map_err(|_| SerdeError::new(format!("dead-letter header `{name}` is not UTF-8")))
        };
        let number = |name: &str| -> Result<i64, SerdeError> {
            let t = text(name)?;
            t.parse().map_err(|_| {
                SerdeError::new(format!(
                    "dead-letter header `{name}` is not a number: {t:?}"
                ))
            })
        };
        let partition = number(dlq_headers::PARTITION)?;
        Ok(DeadLetter {
            exception: text(dlq_headers::EXCEPTION)?,
            message: text(dlq_headers::MESSAGE)?,
            trace: text(dlq_headers::STACKTRACE)?,
            topic: text(dlq_headers::TOPIC)?,
            partition: i32::try_from(partition).map_err(|_| {
                SerdeError::new(format!(
                    "dead-letter header `{}` is out of range: {partition}",
                    dlq_headers::PARTITION
                ))
            })?,
            offset: number(dlq_headers::OFFSET)?,
            key,
            value,
            timestamp,
            headers,
        })
    }
}

/// The key, value and headers of the dead-letter record for `raw`, which failed in `node` at
/// `stage` with `message`; with `max_bytes`, the message is cut and the record truncated to
/// fit in that many bytes.
pub(crate) fn record<'a>(
    raw: &'a RawRecord,
    stage: ErrorStage,
    node: &str,
    error_type: &str,
    message: &str,
    max_bytes: Option<usize>,
) -> (Option<&'a [u8]>, Option<&'a [u8]>, Headers) {
    let mut headers = raw.headers.clone();
    // Truncating: an error message can quote the whole record (a panic's text).
    let message = match max_bytes {
        Some(_) => cut_message(message),
        None => Cow::Borrowed(message),
    };
    headers.add(dlq_headers::EXCEPTION, Some(error_type.as_bytes().to_vec()));
    headers.add(dlq_headers::MESSAGE, Some(message.as_bytes().to_vec()));
    headers.add(
        dlq_headers::STACKTRACE,
        Some(format!("{stage} error in node {node}: {message}").into_bytes()),
    );
    headers.add(dlq_headers::TOPIC, Some(raw.topic.as_bytes().to_vec()));
    headers.add(
        dlq_headers::PARTITION,
        Some(raw.partition.to_string().into_bytes()),
    );
    headers.add(
        dlq_headers::OFFSET,
        Some(raw.offset.to_string().into_bytes()),
    );
    let (mut key, mut value) = (raw.key.as_deref(), raw.value.as_deref());
    if let Some(max) = max_bytes {
        truncate(max, &mut key, &mut value, &mut headers);
    }
    (key, value, headers)
}

/// The longest error message a truncated dead-letter record carries in its headers.
const MAX_DEAD_LETTER_MESSAGE: usize = 4096;

/// `message` cut to [`MAX_DEAD_LETTER_MESSAGE`] bytes (at a character boundary), saying so.
fn cut_message(message: &str) -> Cow<'_, str> {
    if message.len() <= MAX_DEAD_LETTER_MESSAGE {
        return Cow::Borrowed(message);
    }
    let mut end = MAX_DEAD_LETTER_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}... (cut from {} bytes)",
        &message[..end],
        message.len()
    ))
}

/// Room kept for a record's framing and the headers' own overhead under `message.max.bytes`.
const RECORD_OVERHEAD: usize = 1024;

/// Drops the value (and, if still too large, the key) of a dead-letter record that would not
/// fit in `max` bytes, saying so in the `__streams.errors.truncated` header.
fn truncate(max: usize, key: &mut Option<&[u8]>, value: &mut Option<&[u8]>, headers: &mut Headers) {
    let header_bytes: usize = headers
        .iter()
        .map(|h| h.key.len() + h.value.as_ref().map_or(0, Vec::len))
        .sum();
    let size = |k: &Option<&[u8]>, v: &Option<&[u8]>| {
        k.map_or(0, <[u8]>::len) + v.map_or(0, <[u8]>::len) + header_bytes + RECORD_OVERHEAD
    };
    if size(key, value) <= max {
        return;
    }
    let mut dropped = Vec::new();
    if let Some(v) = value.take() {
        dropped.push(format!("value of {} bytes", v.len()));
    }
    if size(key, value) > max
        && let Some(k) = key.take()
    {
        dropped.push(format!("key of {} bytes", k.len()));
    }
    headers.add(
        dlq_headers::TRUNCATED,
        Some(
            format!(
                "{} dropped: the record would exceed message.max.bytes ({max})",
                dropped.join(" and ")
            )
            .into_bytes(),
        ),
    );
}
