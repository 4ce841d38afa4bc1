//! `KTABLE-SUPPRESS`: the processor behind [`KTable::suppress`](crate::KTable::suppress) and
//! its buffer, ordered by buffer time, kept in a logged key-value store so that a restarted
//! or moved task emits what was buffered before.
//!
//! As in Kafka Streams (`KTableSuppressProcessor` over `InMemoryTimeOrderedKeyValueChangeBuffer`):
//! - each update is buffered under its key's serialized bytes at a buffer time (the window's
//!   end for `until_window_closes`, the record's timestamp for `until_time_limit`); a key
//!   already buffered keeps its place and time, its update replaced by the newer one;
//! - the processor's stream time is the largest timestamp it has seen since its task started
//!   (not restored); after each record, entries whose buffer time is at or before stream time
//!   minus the wait are emitted, by buffer time and then by key bytes;
//! - over the record or byte limit the oldest entries are emitted early, or the task fails;
//! - an emitted update carries the buffered record's timestamp and headers; final results
//!   (`until_window_closes`) drop deletes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use state_stores::typed::TypedKeyValueStore;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError, StoreLookup};
use streams_core::serde::SharedSerde;
use streams_core::{Headers, Record};

use crate::store_slot::StoreSlot;
use crate::table::Change;
use crate::table_getter::{OpenOverlay, Overlay};
use crate::timestamped::ValueAndTimestamp;

/// The buffer's store: serialized key to [`Entry::encode`]d entry.
pub(crate) type BufferStore = TypedKeyValueStore<Vec<u8>, Vec<u8>>;

/// When a buffered key's time comes: its buffer time from the key and the record's timestamp.
pub(crate) type BufferTime<K> = dyn Fn(&K, i64) -> i64 + Send + Sync;

/// What the processor is told when the topology is built.
pub(crate) struct SuppressSpec<K, V> {
    /// The buffer time of an update.
    pub(crate) time: Arc<BufferTime<K>>,
    /// How long after its buffer time, in stream time, an entry is emitted.
    pub(crate) wait: i64,
    /// At most this many entries (`u64::MAX`: no limit).
    pub(crate) max_records: u64,
    /// At most this many bytes, counted as Kafka Streams counts them (`u64::MAX`: no limit).
    pub(crate) max_bytes: u64,
    /// Over a limit: emit the oldest entries (`true`) or fail the task (`false`).
    pub(crate) emit_when_full: bool,
    /// Final results: a buffered delete is not emitted.
    pub(crate) drop_tombstones: bool,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    /// The processor's name, for errors.
    pub(crate) name: String,
    /// The buffer's store.
    pub(crate) store: String,
}

/// A suppression's rows as Kafka Streams' suppress value getter reads them: a buffered key's
/// prior value (what downstream last saw; its timestamp unknown, -1, as there), read from the
/// buffer's store; `None` for a key not buffered, whose row is the table's upstream.
pub(crate) fn buffered_prior<K: 'static, V: 'static>(
    spec: Arc<SuppressSpec<K, V>>,
) -> Arc<OpenOverlay<K, V>> {
    Arc::new(move |stores: &StoreLookup<'_>| {
        let store = stores.state_store::<BufferStore>(&spec.store)?;
        let topic = format!("{}-{}-changelog", stores.application_id(), spec.store);
        let spec = spec.clone();
        Ok(Box::new(move |key: &K| {
            let Some(k) = spec.key_serde.serialize(&topic, key)? else {
                return Ok(None);
            };
            let Some(bytes) = store.borrow().get(&k)? else {
                return Ok(None);
            };
            let prior = Entry::decode(&bytes)?
                .prior
                .map(|b| spec.value_serde.deserialize(&topic, Some(&b)))
                .transpose()?;
            Ok(Some(prior.map(|value| ValueAndTimestamp {
                value,
                timestamp: -1,
            })))
        }) as Box<Overlay<K, V>>)
    })
}

/// A buffered update, as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// The buffer time (kept, so that a restored buffer has the same order).
    pub(crate) time: i64,
    /// The buffered record's timestamp.
    pub(crate) timestamp: i64,
    /// The row's value before the key was first buffered.
    pub(crate) prior: Option<Vec<u8>>,
    /// The latest update's old and new values.
    pub(crate) old: Option<Vec<u8>>,
    pub(crate) new: Option<Vec<u8>>,
    /// Where the buffered record came from (`""`, -1, -1 from a punctuation).
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Entry {
    /// Bytes as Kafka Streams counts a buffered record: buffer time, key, prior, old (when it
    /// is not the prior), new, and the record context (timestamp, offset, topic, partition,
    /// headers).
    fn size(&self, key: &[u8]) -> u64 {
        let len = |b: &Option<Vec<u8>>| b.as_ref().map_or(0, Vec::len);
        // An old value with the prior's bytes is counted once, as Kafka Streams' `BufferValue`.
        let old = if self.old == self.prior {
            0
        } else {
            len(&self.old)
        };
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.encode_utf16().count() + v.as_ref().map_or(0, Vec::len))
            .sum();
        let context = 8 + 8 + self.topic.encode_utf16().count() + 4 + headers;
        (8 + key.len() + len(&self.prior) + old + len(&self.new) + context) as u64
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&self.time.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        for part in [&self.prior, &self.old, &self.new] {
            put_optional(&mut out, part.as_deref());
        }
        put_optional(&mut out, Some(self.topic.as_bytes()));
        out.extend_from_slice(&self.partition.to_be_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&(self.headers.len() as u32).to_be_bytes());
        for (k, v) in &self.headers {
            put_optional(&mut out, Some(k.as_bytes()));
            put_optional(&mut out, v.as_deref());
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Entry, String> {
        let mut r = Reader(bytes);
        let time = i64::from_be_bytes(r.take_array()?);
        let timestamp = i64::from_be_bytes(r.take_array()?);
        let (prior, old, new) = (r.optional()?, r.optional()?, r.optional()?);
        let topic = String::from_utf8(r.optional()?.unwrap_or_default())
            .map_err(|_| "a buffered record's topic is not UTF-8".to_owned())?;
        let partition = i32::from_be_bytes(r.take_array()?);
        let offset = i64::from_be_bytes(r.take_array()?);
        let count = u32::from_be_bytes(r.take_array()?);
        let mut headers = Vec::new();
        for _ in 0..count {
            let key = String::from_utf8(r.optional()?.unwrap_or_default())
                .map_err(|_| "a buffered header's key is not UTF-8".to_owned())?;
            headers.push((key, r.optional()?));
        }
        if !r.0.is_empty() {
            return Err(format!("{} bytes after a buffered record", r.0.len()));
        }
        Ok(Entry {
            time,
            timestamp,
            prior,
            old,
            new,
            topic,
            partition,
            offset,
            headers,
        })
    }
}

/// A length (`-1`: absent) and the bytes.
fn put_optional(out: &mut Vec<u8>, part: Option<&[u8]>) {
    match part {
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(b) => {
            out.extend_from_slice(&(b.len() as i32).to_be_bytes());
            out.extend_from_slice(b);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err("a buffered record is cut short".to_owned());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn optional(&mut self) -> Result<Option<Vec<u8>>, String> {
        let len = i32::from_be_bytes(self.take_array()?);
        if len < 0 {
            return Ok(None);
        }
        Ok(Some(self.take(len as usize)?.to_vec()))
    }
}

/// The processor: buffers each update and emits what is due.
pub(crate) struct SuppressProcessor<K, V> {
    spec: Arc<SuppressSpec<K, V>>,
    store: StoreSlot<BufferStore>,
    /// The topic name serdes are given: the buffer's changelog, as in Kafka Streams.
    serde_topic: String,
    observed: i64,
    /// Entries by buffer time, then key bytes.
    order: BTreeSet<(i64, Vec<u8>)>,
    /// Each buffered key's buffer time and counted size.
    index: HashMap<Vec<u8>, (i64, u64)>,
    bytes: u64,
}

impl<K, V> SuppressProcessor<K, V> {
    pub(crate) fn new(spec: Arc<SuppressSpec<K, V>>) -> Self {
        let store = StoreSlot::new(&spec.store);
        SuppressProcessor {
            spec,
            store,
            serde_topic: String::new(),
            observed: -1,
            order: BTreeSet::new(),
            index: HashMap::new(),
            bytes: 0,
        }
    }

    fn insert(&mut self, key: Vec<u8>, entry: &Entry) {
        let size = entry.size(&key);
        if let Some((_, old_size)) = self.index.insert(key.clone(), (entry.time, size)) {
            self.bytes -= old_size;
        } else {
            self.order.insert((entry.time, key));
        }
        self.bytes += size;
    }

    fn over_capacity(&self) -> bool {
        self.index.len() as u64 > self.spec.max_records || self.bytes > self.spec.max_bytes
    }
}

impl<K, V> SuppressProcessor<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// Emits the oldest entry if `due(its buffer time)`; `false` when nothing was due.
    fn evict_one(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        due: impl Fn(&Self, i64) -> bool,
    ) -> Result<bool, ProcessorError> {
        let Some((time, _)) = self.order.first() else {
            return Ok(false);
        };
        if !due(self, *time) {
            return Ok(false);
        }
        let (_, key) = self.order.pop_first().expect("a first entry");
        let (_, size) = self.index.remove(&key).unwrap_or_default();
        self.bytes -= size;
        let stored = self.store.get()?.borrow().get(&key)?;
        let entry = Entry::decode(&stored.ok_or("a buffered key has no entry in its store")?)?;
        if self.spec.drop_tombstones && entry.new.is_none() {
            self.store.get()?.borrow_mut().delete(&key)?;
            return Ok(true);
        }
        let topic = &self.serde_topic;
        let value = |b: Option<Vec<u8>>| -> Result<Option<V>, ProcessorError> {
            b.map(|b| self.spec.value_serde.deserialize(topic, Some(&b)))
                .transpose()
                .map_err(Into::into)
        };
        let mut headers = Headers::new();
        for (k, v) in entry.headers {
            headers.add(k, v);
        }
        let record = Record {
            key: self.spec.key_serde.deserialize(topic, Some(&key))?,
            value: Change {
                new: value(entry.new)?,
                old: value(entry.old)?,
            },
            timestamp: entry.timestamp,
            headers,
        };
        ctx.forward(record)?;
        self.store.get()?.borrow_mut().delete(&key)?;
        Ok(true)
    }
}

impl<K, V> Processor<K, Change<V>, K, Change<V>> for SuppressProcessor<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), ProcessorError> {
        self.store.init(ctx)?;
        self.serde_topic = format!("{}-{}-changelog", ctx.application_id(), self.spec.store);
        // A restarted or moved task: the buffer is what its (restored) store holds.
        self.order.clear();
        self.index.clear();
        self.bytes = 0;
        self.observed = -1;
        let rows = self
            .store
            .get()?
            .borrow()
            .all()?
            .collect::<streams_core::Result<Vec<_>>>()?;
        for (key, bytes) in rows {
            let entry = Entry::decode(&bytes)?;
            self.insert(key, &entry);
        }
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        r: Record<K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        self.observed = self.observed.max(r.timestamp);
        let topic = &self.serde_topic;
        let key = self
            .spec
            .key_serde
            .serialize(topic, &r.key)?
            .ok_or("suppress buffers updates by key; a table key serialized as null")?;
        let bytes = |v: &Option<V>| -> Result<Option<Vec<u8>>, ProcessorError> {
            Ok(match v {
                Some(v) => self.spec.value_serde.serialize(topic, v)?,
                None => None,
            })
        };
        let (new, old) = (bytes(&r.value.new)?, bytes(&r.value.old)?);
        let store = self.store.get()?.clone();
        let earlier = match self.index.get(&key) {
            Some(_) => store
                .borrow_mut()
                .get(&key)?
                .map(|b| Entry::decode(&b))
                .transpose()?,
            None => None,
        };
        let position = ctx.record_metadata();
        let entry = Entry {
            time: earlier
                .as_ref()
                .map_or_else(|| (self.spec.time)(&r.key, r.timestamp), |e| e.time),
            timestamp: r.timestamp,
            prior: match earlier {
                Some(e) => e.prior,
                None => old.clone(),
            },
            old,
            new,
            topic: position.map(|p| p.topic.to_string()).unwrap_or_default(),
            partition: position.map_or(-1, |p| p.partition),
            offset: position.map_or(-1, |p| p.offset),
            headers: r
                .headers
                .iter()
                .map(|h| (h.key.clone(), h.value.clone()))
                .collect(),
        };
        store.borrow_mut().put(&key, &entry.encode())?;
        self.insert(key, &entry);

        let expiry = self.observed.saturating_sub(self.spec.wait);
        while self.evict_one(ctx, |_, time| time <= expiry)? {}
        if self.over_capacity() {
            if !self.spec.emit_when_full {
                // An error like any processor's: the processing error handler decides (the
                // default fails the task); with log-and-continue the buffer stays over.
                return Err(format!(
                    "{} buffer exceeded its max capacity. Currently [{}/{}] records and [{}/{}] \
                     bytes (suppression buffer `{}`, set to shut down when full)",
                    self.spec.name,
                    self.index.len(),
                    limit(self.spec.max_records),
                    self.bytes,
                    limit(self.spec.max_bytes),
                    self.spec.store,
                )
                .into());
            }
            while self.evict_one(ctx, |p, _| p.over_capacity())? {}
        }
        Ok(())
    }
}

/// A limit as Kafka Streams shows it: no limit is `Long.MAX_VALUE`.
fn limit(n: u64) -> u64 {
    n.min(i64::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_count_their_bytes_as_kafka_streams() {
        let entry = Entry {
            time: 10_000,
            timestamp: 9_500,
            prior: Some(b"1".to_vec()),
            old: Some(b"2".to_vec()),
            new: None,
            topic: "in".into(),
            partition: 3,
            offset: 42,
            headers: vec![("h".into(), Some(b"xy".to_vec())), ("n".into(), None)],
        };
        assert_eq!(Entry::decode(&entry.encode()), Ok(entry.clone()));
        // 8 (time) + 3 (key) + 1 (prior) + 1 (old) + 0 (new) + 8 + 8 + 2 (topic) + 4 + 3 + 1.
        assert_eq!(entry.size(b"abc"), 39);
        let first = Entry {
            old: entry.prior.clone(),
            ..entry
        };
        assert_eq!(
            first.size(b"abc"),
            38,
            "an old value that is the prior counts once"
        );
        assert!(Entry::decode(&first.encode()[..20]).is_err());
    }
}
