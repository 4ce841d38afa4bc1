//! Plain Kafka clients for tests: produce known input, read output back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Headers as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::kafka::unique_name;

/// A record read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key as (lossy) UTF-8; empty for a null key.
    pub key: String,
    /// Value as (lossy) UTF-8; empty for a null value.
    pub value: String,
    /// Timestamp.
    pub timestamp: i64,
    /// Headers as UTF-8 pairs.
    pub headers: Vec<(String, String)>,
}

impl Consumed {
    /// The last header named `key`.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// An idempotent producer with `acks=all`, partitioning keys as the Java client (and the
/// library) do, so that test input is co-partitioned with internal topics.
pub fn producer(bootstrap: &str) -> Result<FutureProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .create()?)
}

/// Records `from..from + n` spread round-robin over `keys` keys: record `i` is
/// `k<i % keys>` = `v<i>`, its partition the producer's choice.
pub fn round_robin(from: usize, n: usize, keys: usize) -> Vec<(String, Vec<u8>, Option<i32>)> {
    (from..from + n)
        .map(|i| (format!("k{}", i % keys), format!("v{i}").into_bytes(), None))
        .collect()
}

/// Produces `(key, value, partition)` records and waits for every delivery.
pub async fn produce(
    bootstrap: &str,
    topic: &str,
    records: impl IntoIterator<Item = (String, Vec<u8>, Option<i32>)>,
) -> Result<usize> {
    let records = records.into_iter().map(|(k, v, p)| (k, v, p, None));
    produce_timed(bootstrap, topic, records).await
}

/// A record to produce: key, value, partition and timestamp (`None`: the producer's choice).
pub type Outgoing = (String, Vec<u8>, Option<i32>, Option<i64>);

/// Produces records with optional partitions and timestamps and waits for every delivery.
pub async fn produce_timed(
    bootstrap: &str,
    topic: &str,
    records: impl IntoIterator<Item = Outgoing>,
) -> Result<usize> {
    let producer = producer(bootstrap)?;
    let mut pending = Vec::new();
    let mut sent = 0;
    for (key, value, partition, timestamp) in records {
        sent += 1;
        let mut record = FutureRecord::to(topic).key(&key).payload(&value);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        if let Some(t) = timestamp {
            record = record.timestamp(t);
        }
        pending.push(producer.send_result(record).map_err(|(e, _)| e)?);
        if pending.len() >= 10_000 {
            for d in pending.drain(..) {
                d.await?.map_err(|(e, _)| e)?;
            }
        }
    }
    for d in pending {
        d.await?.map_err(|(e, _)| e)?;
    }
    Ok(sent)
}

/// Reads every partition of `topic` from the beginning until `expected` records arrived and
/// then `settle` passed with nothing new (so duplicates show up), or until `timeout`.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    settle: Duration,
    timeout: Duration,
) -> Result<Vec<Consumed>> {
    read_all(bootstrap, topic, (expected, settle, timeout), |msg| {
        let headers = msg
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Consumed {
            partition: msg.partition(),
            offset: msg.offset(),
            key: String::from_utf8_lossy(msg.key().unwrap_or_default()).into_owned(),
            value: String::from_utf8_lossy(msg.payload().unwrap_or_default()).into_owned(),
            timestamp: msg.timestamp().to_millis().unwrap_or(-1),
            headers,
        }
    })
}

/// Reads every partition of `topic` from the beginning with `read_committed` (records of
/// aborted or open transactions never show), converting each record, until `expected`
/// records arrived and `settle` passed with nothing new, or until `timeout`. Transport
/// errors while brokers restart are skipped (librdkafka reconnects).
fn read_all<T>(
    bootstrap: &str,
    topic: &str,
    (expected, settle, timeout): (usize, Duration, Duration),
    mut convert: impl FnMut(&rdkafka::message::BorrowedMessage<'_>) -> T,
) -> Result<Vec<T>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions = md.topics().first().map_or(0, |t| t.partitions().len());
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut out = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut last_new = Instant::now();
    while Instant::now() < deadline {
        if out.len() >= expected && last_new.elapsed() >= settle {
            break;
        }
        if let Some(msg) = consumer.poll(Duration::from_millis(100)) {
            let msg = match msg {
                Err(KafkaError::MessageConsumption(
                    RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown,
                )) => continue,
                other => other?,
            };
            out.push(convert(&msg));
            last_new = Instant::now();
        }
    }
    Ok(out)
}

/// A record as read, bytes untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key (empty for a null key).
    pub key: Vec<u8>,
    /// Value (`None` for a null value).
    pub value: Option<Vec<u8>>,
    /// Timestamp (ms).
    pub timestamp: i64,
}

/// The counts a counting application wrote (big-endian `i64` values), per key in the order
/// they were read: the test then checks each key went 1, 2, ..., n.
pub fn counts_per_key(records: &[RawRecord]) -> Result<BTreeMap<String, Vec<i64>>> {
    let mut per_key: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in records {
        let value: [u8; 8] = r
            .value
            .as_deref()
            .context("a count")?
            .try_into()
            .context("an 8-byte count")?;
        per_key
            .entry(String::from_utf8_lossy(&r.key).into_owned())
            .or_default()
            .push(i64::from_be_bytes(value));
    }
    Ok(per_key)
}

/// Reads every partition of `topic` from the beginning with `read_committed` (records of
/// aborted or open transactions never show) until `expected` records arrived and `settle`
/// passed with nothing new, or until `timeout`. Records come in partition order, each
/// partition in offset order.
pub fn read_committed(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    settle: Duration,
    timeout: Duration,
) -> Result<Vec<RawRecord>> {
    let mut out = read_all(bootstrap, topic, (expected, settle, timeout), |msg| {
        RawRecord {
            partition: msg.partition(),
            offset: msg.offset(),
            key: msg.key().map(<[u8]>::to_vec).unwrap_or_default(),
            value: msg.payload().map(<[u8]>::to_vec),
            timestamp: msg.timestamp().to_millis().unwrap_or(-1),
        }
    })?;
    out.sort_by_key(|r| (r.partition, r.offset));
    Ok(out)
}

/// The partitions of `topics` with an open transaction: `(topic, partition, last stable
/// offset, high watermark)` wherever the two differ (librdkafka reports the last stable
/// offset as the high end to a `read_committed` consumer).
pub fn open_transactions(bootstrap: &str, topics: &[&str]) -> Result<Vec<(String, i32, i64, i64)>> {
    let client = |isolation: &str| -> Result<BaseConsumer> {
        Ok(ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", unique_name("watermarks"))
            .set("isolation.level", isolation)
            .create()?)
    };
    let (committed, uncommitted) = (client("read_committed")?, client("read_uncommitted")?);
    let mut open = Vec::new();
    for topic in topics {
        let md = committed.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let partitions = md.topics().first().map_or(0, |t| t.partitions().len());
        for p in 0..partitions as i32 {
            let (_, lso) = committed.fetch_watermarks(topic, p, Duration::from_secs(10))?;
            let (_, hw) = uncommitted.fetch_watermarks(topic, p, Duration::from_secs(10))?;
            if lso != hw {
                open.push(((*topic).to_owned(), p, lso, hw));
            }
        }
    }
    Ok(open)
}

/// Waits until consumer group `group` has committed every record of `topics` (every
/// partition up to its end offset when called), or fails after `timeout`.
pub fn wait_until_committed(
    bootstrap: &str,
    group: &str,
    topics: &[String],
    timeout: Duration,
) -> Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()?;
    let ask = Duration::from_secs(10);
    let mut ends = TopicPartitionList::new();
    for topic in topics {
        let md = consumer.fetch_metadata(Some(topic), ask)?;
        let partitions = md.topics().first().map_or(0, |t| t.partitions().len());
        for p in 0..i32::try_from(partitions)? {
            let (_, high) = consumer.fetch_watermarks(topic, p, ask)?;
            ends.add_partition_offset(topic, p, Offset::Offset(high))?;
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        // The coordinator may still be loading: ask again until the deadline.
        if let Ok(committed) = consumer.committed_offsets(ends.clone(), ask) {
            let done = ends.elements().iter().all(|end| {
                let Offset::Offset(high) = end.offset() else {
                    return true;
                };
                high == 0
                    || committed
                        .find_partition(end.topic(), end.partition())
                        .is_some_and(|c| matches!(c.offset(), Offset::Offset(o) if o >= high))
            });
            if done {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("group {group} did not commit all of {topics:?} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The broker leading partition `partition` of `topic`.
pub fn leader_of(bootstrap: &str, topic: &str, partition: i32) -> Result<u32> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let leader = md
        .topics()
        .first()
        .and_then(|t| t.partitions().iter().find(|p| p.id() == partition))
        .map(|p| p.leader())
        .with_context(|| format!("the metadata of {topic}-{partition}"))?;
    u32::try_from(leader).with_context(|| format!("{topic}-{partition} has no leader"))
}
