//! A case: input records in the order they are piped, and the output records a driver wrote,
//! both as text lines `topic key value timestamp` (`~` for null).

use std::fmt;

/// The text of a null key or value in the line format.
pub const NULL: &str = "~";

/// One record, input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    /// The topic it is piped into or was written to.
    pub topic: String,
    /// Its key (never null in the suite's inputs).
    pub key: Option<String>,
    /// Its value; `None` is a tombstone.
    pub value: Option<String>,
    /// Its timestamp, in milliseconds.
    pub timestamp: i64,
}

impl Rec {
    /// Parses one line of the format.
    pub fn parse(line: &str) -> anyhow::Result<Rec> {
        let parts: Vec<&str> = line.split(' ').collect();
        let [topic, key, value, timestamp] = parts[..] else {
            anyhow::bail!("expected `topic key value timestamp`, got {line:?}");
        };
        let text = |s: &str| (s != NULL).then(|| s.to_owned());
        Ok(Rec {
            topic: topic.to_owned(),
            key: text(key),
            value: text(value),
            timestamp: timestamp.parse()?,
        })
    }
}

impl fmt::Display for Rec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |s: &Option<String>| s.clone().unwrap_or_else(|| NULL.to_owned());
        write!(
            f,
            "{} {} {} {}",
            self.topic,
            text(&self.key),
            text(&self.value),
            self.timestamp
        )
    }
}

/// What one driver made of a case: its output records, or the error that stopped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The records of every output topic, topic by topic in the variant's order.
    Records(Vec<Rec>),
    /// The driver failed; the message says why.
    Failed(String),
}

/// Records as the issue tracker and docs write them: `topic:key=value@timestamp`.
pub fn short(records: &[Rec]) -> String {
    records
        .iter()
        .map(|r| {
            format!(
                "{}:{}={}@{}",
                r.topic,
                r.key.as_deref().unwrap_or("null"),
                r.value.as_deref().unwrap_or("null"),
                r.timestamp
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
