//! `KTable::suppress`: holding a table's updates back, either until a window closes (one final
//! result per window) or for a time limit (at most one update per key and period), with a
//! buffer bounded by records and bytes ([`Suppressed`], [`BufferConfig`]).

use std::sync::Arc;
use std::time::Duration;

use state_stores::KeyValueStoreBuilder;
use streams_core::serde::{BytesSerde, SharedSerde};
use streams_core::{StreamsError, Windowed};

use crate::suppress_buffer::{BufferTime, SuppressProcessor, SuppressSpec, buffered_prior};
use crate::table::{Change, KTable};

/// How much a suppression may buffer, and what happens when it is full (Kafka Streams'
/// `BufferConfig`).
///
/// ```
/// use streams_dsl::suppress::BufferConfig;
/// // At most 1,000 keys; when full, the oldest are emitted early.
/// let eager = BufferConfig::max_records(1_000);
/// // At most 10 MB; when full, the task fails rather than emit early.
/// let strict = BufferConfig::max_bytes(10_000_000).shut_down_when_full();
/// let unbounded = BufferConfig::unbounded();
/// # let _ = (eager, strict, unbounded);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferConfig {
    max_records: u64,
    max_bytes: u64,
    when_full: BufferFull,
}

/// What a full suppression buffer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferFull {
    /// Emits the oldest buffered updates until it is under its limits again (results are
    /// then not final: a key may be emitted again later).
    EmitEarly,
    /// Fails the record with an error naming the buffer and its limits, as any processor's
    /// error: the processing error handler decides (the default fails the task, and the
    /// stream thread's uncaught-exception handler what follows).
    ShutDown,
}

impl BufferConfig {
    /// No limit: the buffer grows as needed (a strict configuration).
    pub fn unbounded() -> Self {
        BufferConfig {
            max_records: u64::MAX,
            max_bytes: u64::MAX,
            when_full: BufferFull::ShutDown,
        }
    }

    /// At most `records` buffered keys, emitting early when full.
    pub fn max_records(records: u64) -> Self {
        BufferConfig {
            max_records: records,
            max_bytes: u64::MAX,
            when_full: BufferFull::EmitEarly,
        }
    }

    /// At most `bytes` buffered (keys, values, and each record's timestamp, offset, topic,
    /// partition and headers, counted as Kafka Streams counts them), emitting early when
    /// full.
    pub fn max_bytes(bytes: u64) -> Self {
        BufferConfig {
            max_records: u64::MAX,
            max_bytes: bytes,
            when_full: BufferFull::EmitEarly,
        }
    }

    /// The same configuration, at most `records` keys.
    pub fn with_max_records(self, records: u64) -> Self {
        BufferConfig {
            max_records: records,
            ..self
        }
    }

    /// The same configuration, at most `bytes` bytes.
    pub fn with_max_bytes(self, bytes: u64) -> Self {
        BufferConfig {
            max_bytes: bytes,
            ..self
        }
    }

    /// No limits: as [`BufferConfig::unbounded`], a strict configuration.
    pub fn with_no_bound(self) -> Self {
        BufferConfig::unbounded()
    }

    /// When full, emit the oldest updates early.
    pub fn emit_early_when_full(self) -> Self {
        BufferConfig {
            when_full: BufferFull::EmitEarly,
            ..self
        }
    }

    /// When full, fail the task (a strict configuration: results stay final).
    pub fn shut_down_when_full(self) -> Self {
        BufferConfig {
            when_full: BufferFull::ShutDown,
            ..self
        }
    }

    /// What the buffer does when full.
    pub fn when_full(&self) -> BufferFull {
        self.when_full
    }
}

/// Until when [`KTable::suppress`] holds updates back (Kafka Streams' `Suppressed`).
///
/// `K` and `V` are the table's key and value types, inferred where it is used. The buffer
/// reuses the table's serdes; [`with_key_serde`](Self::with_key_serde) and
/// [`with_value_serde`](Self::with_value_serde) give them where the table does not know them
/// (after `map_values`, say), as Kafka Streams would use its default serdes.
pub struct Suppressed<K, V> {
    until: Until<K>,
    buffer: BufferConfig,
    name: Option<String>,
    logging: bool,
    key_serde: Option<SharedSerde<K>>,
    value_serde: Option<SharedSerde<V>>,
}

enum Until<K> {
    /// The window's end plus the windowed aggregation's grace period.
    WindowCloses(Arc<BufferTime<K>>),
    /// The record's timestamp plus this many ms.
    TimeLimit(i64),
}

impl<K, V> std::fmt::Debug for Suppressed<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let until = match &self.until {
            Until::WindowCloses(_) => "window closes".to_owned(),
            Until::TimeLimit(ms) => format!("time limit {ms} ms"),
        };
        f.debug_struct("Suppressed")
            .field("until", &until)
            .field("buffer", &self.buffer)
            .field("name", &self.name)
            .finish()
    }
}

impl<K, V> Suppressed<Windowed<K>, V> {
    /// One final result per window of a windowed aggregation: each window's last update is
    /// emitted once stream time passes its end plus the aggregation's grace period (plus
    /// the inactivity gap for session windows, which can grow by a gap after their end), and
    /// never before. The buffer must be strict ([`BufferConfig::unbounded`] or
    /// [`shut_down_when_full`](BufferConfig::shut_down_when_full)): emitting early would
    /// break the promise of final results.
    pub fn until_window_closes(buffer: BufferConfig) -> Self {
        Suppressed::new(
            Until::WindowCloses(Arc::new(|key: &Windowed<K>, _| key.window.end)),
            buffer,
        )
    }
}

impl<K, V> Suppressed<K, V> {
    fn new(until: Until<K>, buffer: BufferConfig) -> Self {
        Suppressed {
            until,
            buffer,
            name: None,
            logging: true,
            key_serde: None,
            value_serde: None,
        }
    }

    /// At most one update per key every `limit` of stream time: a key's first update is
    /// buffered and, with any later ones replacing it, emitted once stream time reaches its
    /// timestamp plus `limit`.
    pub fn until_time_limit(limit: Duration, buffer: BufferConfig) -> Self {
        let ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
        Suppressed::new(Until::TimeLimit(ms), buffer)
    }

    /// Names the processor `name` and its buffer's store `<name>-store`.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Keeps the buffer without a changelog: what is buffered when a task stops is lost.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// The buffer's key serde, where the table has none.
    pub fn with_key_serde(mut self, serde: impl streams_core::serde::Serde<K> + 'static) -> Self {
        self.key_serde = Some(Arc::new(serde));
        self
    }

    /// The buffer's value serde, where the table has none.
    pub fn with_value_serde(mut self, serde: impl streams_core::serde::Serde<V> + 'static) -> Self {
        self.value_serde = Some(Arc::new(serde));
        self
    }
}

impl<K, V> KTable<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    /// The table's updates held back as `suppressed` says (`KTABLE-SUPPRESS`), in a buffer
    /// kept in a store with a changelog (`KTABLE-SUPPRESS-STATE-STORE-<n>`, or
    /// `<name>-store`), so that a restarted task still emits what it had buffered.
    ///
    /// Final results of a windowed count, on the test driver:
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::serde::{I64Serde, StringSerde};
    /// use streams_core::test_driver::TopologyTestDriver;
    /// use streams_core::{StreamsConfig, TimeWindowedSerde};
    /// use streams_dsl::suppress::{BufferConfig, Suppressed};
    /// use streams_dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder, TimeWindows};
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream_with(&["clicks"], Consumed::with(StringSerde, StringSerde))
    ///     .group_by_key_with(Grouped::with(StringSerde, StringSerde))
    ///     .windowed_by(TimeWindows::of_size_and_grace(Duration::from_secs(10), Duration::from_secs(5)))
    ///     .count_with(Materialized::as_store("clicks-per-10s"))
    ///     .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
    ///     .to_stream()
    ///     .non_null()
    ///     .to_with("final-counts", Produced::with(TimeWindowedSerde::new(StringSerde, 10_000), I64Serde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("clicks", "unused:9092"))?;
    /// let clicks = driver.input_topic("clicks", StringSerde, StringSerde);
    /// clicks.pipe("ann".into(), "/".into(), 1_000)?;
    /// clicks.pipe("ann".into(), "/a".into(), 9_000)?;
    /// // The window [0, 10 s) closes at 15 s of stream time: nothing yet.
    /// clicks.pipe("bob".into(), "/".into(), 14_999)?;
    /// let out = driver.output_topic("final-counts", TimeWindowedSerde::new(StringSerde, 10_000), I64Serde);
    /// assert!(out.read_records()?.is_empty());
    /// clicks.pipe("bob".into(), "/b".into(), 15_000)?;
    /// let finals: Vec<_> = out.read_records()?.into_iter().map(|r| (r.key.key, r.key.window.start, r.value, r.timestamp)).collect();
    /// assert_eq!(finals, vec![("ann".to_owned(), 0, 2, 9_000)]);
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn suppress(&self, suppressed: Suppressed<K, V>) -> KTable<K, V> {
        self.send_old_values();
        let mut inner = self.builder.borrow_mut();
        let name = inner.name(suppressed.name.as_deref(), "KTABLE-SUPPRESS");
        let store = match &suppressed.name {
            Some(n) => format!("{n}-store"),
            None => inner.new_name("KTABLE-SUPPRESS-STATE-STORE"),
        };
        inner.claim_store(&store);
        let key_serde = suppressed.key_serde.clone().or(self.key_serde.clone());
        let value_serde = suppressed.value_serde.clone().or(self.value_serde.clone());
        let spec = match self.suppress_spec(&suppressed, &name, &store, key_serde, value_serde) {
            Ok(spec) => Arc::new(spec),
            Err(e) => {
                inner.fail(e);
                drop(inner);
                return self.derived(name);
            }
        };
        let parent = self.node.clone();
        let (key, value) = (spec.key_serde.clone(), spec.value_serde.clone());
        // As Kafka Streams: a join reads a buffered key's prior value, others' upstream rows.
        let getter =
            (self.value_getter()).map(|g| g.overlaid(&store, buffered_prior(spec.clone())));
        let logging = suppressed.logging;
        inner.apply(|t| {
            let mut buffer = KeyValueStoreBuilder::in_memory(&store, BytesSerde, BytesSerde);
            if !logging {
                buffer = buffer.with_logging_disabled();
            }
            t.add_processor::<K, Change<V>, K, Change<V>, _, _>(
                &name,
                move || SuppressProcessor::new(spec.clone()),
                &[&parent],
            )?
            .add_state_store(buffer, &[&name])?;
            Ok(())
        });
        drop(inner);
        KTable {
            key_serde: Some(key),
            value_serde: Some(value),
            getter,
            ..self.derived(name)
        }
    }

    /// What the processor needs, or what is wrong with `suppressed` on this table.
    fn suppress_spec(
        &self,
        suppressed: &Suppressed<K, V>,
        name: &str,
        store: &str,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
    ) -> Result<SuppressSpec<K, V>, StreamsError> {
        let fail = |what: String| StreamsError::Topology(format!("suppress `{name}`: {what}"));
        let buffer = suppressed.buffer;
        let (time, wait, drop_tombstones): (Arc<BufferTime<K>>, i64, bool) = match &suppressed.until
        {
            Until::WindowCloses(time) => {
                let grace = self.window_grace.ok_or_else(|| {
                    fail(
                        "until_window_closes needs the table of a windowed aggregation \
                             (windowed_by(..) then count, reduce or aggregate, optionally \
                             through filter or map_values); this table's windows are not \
                             known"
                            .to_owned(),
                    )
                })?;
                if buffer.when_full == BufferFull::EmitEarly {
                    return Err(fail(
                        "until_window_closes needs a strict buffer that never emits early: \
                             BufferConfig::unbounded(), or a limit with shut_down_when_full()"
                            .to_owned(),
                    ));
                }
                (time.clone(), grace, true)
            }
            Until::TimeLimit(ms) => (Arc::new(|_: &K, timestamp| timestamp), *ms, false),
        };
        let missing = |which: &str| {
            fail(format!(
                "no {which} serde is known for this table; give one with \
                 Suppressed::with_{which}_serde"
            ))
        };
        let key_serde = key_serde.ok_or_else(|| missing("key"))?;
        let value_serde = value_serde.ok_or_else(|| missing("value"))?;
        Ok(SuppressSpec {
            time,
            wait,
            max_records: buffer.max_records,
            max_bytes: buffer.max_bytes,
            emit_when_full: buffer.when_full == BufferFull::EmitEarly,
            drop_tombstones,
            key_serde,
            value_serde,
            name: name.to_owned(),
            store: store.to_owned(),
        })
    }
}
