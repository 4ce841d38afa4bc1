//! `TopologyTestDriver`: run a topology without a broker, deterministically.
//!
//! The driver builds the same [`StreamTask`]s the runtime builds, one per sub-topology on
//! partition 0 (every topic has one partition here), and drives them through the same code:
//! piping a record runs it through the task, then commits (so each record's effect is visible
//! at once). Records written to a topic that the topology also reads (a repartition topic) are
//! fed back in. Wall-clock punctuations fire only when the test advances the clock.
//!
//! ```
//! use streams_core::serde::StringSerde;
//! use streams_core::test_driver::TopologyTestDriver;
//! use streams_core::{Record, StreamsConfig, Topology};
//! # use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
//! # struct Upper;
//! # impl Processor<String, String, String, String> for Upper {
//! #     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, String>, r: Record<String, String>)
//! #         -> Result<(), ProcessorError> { let v = r.value.to_uppercase(); ctx.forward(r.with_value(v))?; Ok(()) }
//! # }
//!
//! let mut topology = Topology::new();
//! topology
//!     .add_source("src", &["in"], StringSerde, StringSerde)?
//!     .add_processor("upper", || Upper, &["src"])?
//!     .add_sink("sink", "out", StringSerde, StringSerde, &["upper"])?;
//! let driver = TopologyTestDriver::new(topology, StreamsConfig::new("test", "unused:9092"))?;
//! let input = driver.input_topic("in", StringSerde, StringSerde);
//! let output = driver.output_topic("out", StringSerde, StringSerde);
//! input.pipe("k".to_string(), "hello".to_string(), 42)?;
//! assert_eq!(output.read_record()?, Some(Record::new("k".to_string(), "HELLO".to_string(), 42)));
//! assert!(output.is_empty());
//! # Ok::<(), streams_core::StreamsError>(())
//! ```

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::collector::{OutRecord, RecordCollector};
use crate::config::StreamsConfig;
use crate::context::TaskCounters;
use crate::error::{Result, StreamsError};
use crate::record::{Headers, RawRecord, Record};
use crate::serde::Serde;
use crate::store::StoreHandle;
use crate::task::StreamTask;
use crate::topology::Topology;
use crate::topology::instantiate::TaskEnv;

/// A record the topology produced, as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducedRecord {
    /// Destination topic.
    pub topic: String,
    /// Partition the sink's partitioner chose, if any.
    pub partition: Option<i32>,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Timestamp.
    pub timestamp: i64,
    /// Headers.
    pub headers: Headers,
}

#[derive(Default)]
struct Capture {
    topics: HashMap<String, VecDeque<ProducedRecord>>,
    /// Records for topics the topology reads itself, to be fed back in.
    internal: VecDeque<ProducedRecord>,
    source_topics: Vec<String>,
}

impl RecordCollector for Capture {
    fn send(&mut self, record: OutRecord<'_>) -> Result<()> {
        let produced = ProducedRecord {
            topic: record.topic.to_owned(),
            partition: record.partition,
            key: record.key.map(<[u8]>::to_vec),
            value: record.value.map(<[u8]>::to_vec),
            timestamp: record.timestamp,
            headers: record.headers.clone(),
        };
        if self.source_topics.iter().any(|t| t == record.topic) {
            self.internal.push_back(produced.clone());
        }
        self.topics
            .entry(produced.topic.clone())
            .or_default()
            .push_back(produced);
        Ok(())
    }

    fn partition_count(&mut self, _topic: &str) -> Result<i32> {
        Ok(1)
    }
}

struct Inner {
    tasks: Vec<StreamTask>,
    /// Topic -> index of the task that reads it.
    readers: HashMap<String, usize>,
    /// Global stores by topic: records piped there update them at once.
    globals: HashMap<String, Arc<crate::global::GlobalStore>>,
    capture: Rc<RefCell<Capture>>,
    offsets: HashMap<String, i64>,
    wall_clock: i64,
    /// The tasks' stores, for [`TopologyTestDriver::store`].
    stores: crate::query::QueryableStores,
    /// The names of the topology's (non-global) stores.
    store_names: std::collections::HashSet<String>,
}

impl Inner {
    fn pipe_raw(
        &mut self,
        topic: &str,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<()> {
        if let Some(global) = self.globals.get(topic) {
            match &key {
                Some(k) => global.apply(k, value.as_deref()),
                None => {
                    return Err(StreamsError::IllegalState(format!(
                        "a record for global table topic `{topic}` needs a key"
                    )));
                }
            }
            return Ok(());
        }
        let task = self.buffer_raw(topic, key, value, timestamp, headers)?;
        self.run(task)?;
        self.feed_back()
    }

    /// Queues a record in its task without processing it; returns the task's index.
    fn buffer_raw(
        &mut self,
        topic: &str,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<usize> {
        let &task = self.readers.get(topic).ok_or_else(|| {
            let mut known: Vec<&String> = self.readers.keys().collect();
            known.sort();
            StreamsError::IllegalState(format!(
                "topic `{topic}` is not read by the topology; its source topics are {known:?}"
            ))
        })?;
        let offset = self.offsets.entry(topic.to_owned()).or_insert(0);
        let raw = RawRecord {
            topic: topic.into(),
            partition: 0,
            offset: *offset,
            timestamp,
            key,
            value,
            headers,
        };
        *offset += 1;
        self.tasks[task].push_record(raw)?;
        Ok(task)
    }

    /// Processes everything buffered in a task, then commits it.
    fn run(&mut self, task: usize) -> Result<()> {
        let task = &mut self.tasks[task];
        task.set_wall_clock(self.wall_clock);
        while task.process_one()? {}
        task.prepare_commit();
        task.commit_stores(&std::collections::HashMap::new())
    }

    fn feed_back(&mut self) -> Result<()> {
        loop {
            let next = self.capture.borrow_mut().internal.pop_front();
            let Some(r) = next else { return Ok(()) };
            self.pipe_raw(&r.topic, r.key, r.value, r.timestamp, r.headers)?;
        }
    }
}

/// Runs a topology without Kafka. See the [module docs](self).
pub struct TopologyTestDriver {
    inner: Rc<RefCell<Inner>>,
    /// The tasks' state directory, removed when the driver is dropped (after `inner`, so the
    /// stores are closed first).
    state_dir: tempfile::TempDir,
}

impl std::fmt::Debug for TopologyTestDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopologyTestDriver")
            .field("state_dir", &self.state_dir.path())
            .finish()
    }
}

impl TopologyTestDriver {
    /// Builds the topology's tasks with a wall clock starting at 0.
    pub fn new(topology: Topology, config: StreamsConfig) -> Result<Self> {
        Self::with_wall_clock(topology, config, 0)
    }

    /// Builds the topology's tasks with the wall clock starting at `start_ms`.
    pub fn with_wall_clock(
        topology: Topology,
        config: StreamsConfig,
        start_ms: i64,
    ) -> Result<Self> {
        config.validate()?;
        // Removed when dropped: by the driver, or here when building the tasks fails.
        let state_dir = tempfile::Builder::new()
            .prefix("kstreams-test-driver-")
            .tempdir()
            .map_err(|e| {
                StreamsError::IllegalState(format!(
                    "creating the test driver's state directory: {e}"
                ))
            })?;
        let mut topology = topology;
        topology.bind_application(config.application_id());
        let subtopologies = topology.subtopologies();
        let capture = Rc::new(RefCell::new(Capture {
            source_topics: topology.source_topics().into_iter().collect(),
            ..Capture::default()
        }));
        let application_id: Arc<str> = config.application_id().into();
        let mut tasks = Vec::with_capacity(subtopologies.len());
        let mut readers = HashMap::new();
        let stores = crate::query::QueryableStores::default();
        let views = topology.global_stores().iter();
        stores.register_globals(
            views
                .map(|g| (g.name().to_owned(), g.queryable()))
                .collect(),
        );
        for sub in &subtopologies {
            let env = TaskEnv {
                application_id: application_id.clone(),
                state_dir: state_dir.path().to_owned(),
                collector: capture.clone(),
                settings: config.task_settings(),
                wall_clock: start_ms,
            };
            let mut task = topology.build_task(sub, 0, env)?;
            task.initialize()?;
            let id = crate::TaskId {
                subtopology: sub.id,
                partition: 0,
            };
            stores.register(id, task.queryable_stores(), false);
            for topic in &sub.source_topics {
                readers.insert(topic.clone(), tasks.len());
            }
            tasks.push(task);
        }
        let inner = Inner {
            tasks,
            readers,
            globals: topology
                .global_stores()
                .iter()
                .map(|g| (g.topic().to_owned(), g.clone()))
                .collect(),
            capture,
            offsets: HashMap::new(),
            wall_clock: start_ms,
            stores,
            store_names: subtopologies
                .iter()
                .flat_map(|s| s.stores.iter().cloned())
                .chain(topology.global_stores().iter().map(|g| g.name().to_owned()))
                .collect(),
        };
        Ok(TopologyTestDriver {
            inner: Rc::new(RefCell::new(inner)),
            state_dir,
        })
    }

    /// A handle for piping typed records into `topic`.
    pub fn input_topic<K: 'static, V: 'static>(
        &self,
        topic: &str,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> TestInputTopic<K, V> {
        TestInputTopic {
            inner: self.inner.clone(),
            topic: topic.to_owned(),
            key_serde: Box::new(key_serde),
            value_serde: Box::new(value_serde),
        }
    }

    /// A handle for reading typed records the topology wrote to `topic`.
    pub fn output_topic<K: 'static, V: 'static>(
        &self,
        topic: &str,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> TestOutputTopic<K, V> {
        TestOutputTopic {
            inner: self.inner.clone(),
            topic: topic.to_owned(),
            key_serde: Box::new(key_serde),
            value_serde: Box::new(value_serde),
        }
    }

    /// Advances the wall clock and fires the wall-clock punctuations that became due.
    pub fn advance_wall_clock_time(&self, by: Duration) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.wall_clock += i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let now = inner.wall_clock;
        for i in 0..inner.tasks.len() {
            inner.tasks[i].punctuate_wall_clock(now)?;
            inner.run(i)?;
        }
        inner.feed_back()
    }

    /// Processes every record queued with [`TestInputTopic::buffer`], task by task, each task
    /// taking the lowest timestamp across its partitions first, as the runtime does with
    /// records fetched together.
    pub fn process_buffered(&self) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        for i in 0..inner.tasks.len() {
            inner.run(i)?;
        }
        inner.feed_back()
    }

    /// The current wall-clock time of the driver.
    pub fn wall_clock_time(&self) -> i64 {
        self.inner.borrow().wall_clock
    }

    /// A typed handle on state store `name` (of concrete type `S`).
    pub fn state_store<S: 'static>(&self, name: &str) -> Option<StoreHandle<S>> {
        self.inner
            .borrow()
            .tasks
            .iter()
            .find_map(|t| t.store_handle::<S>(name))
    }

    /// A read-only view of state store `params` names, as
    /// [`KafkaStreams::store`](crate::KafkaStreams::store) gives it (the driver runs one
    /// partition, 0, and commits after every record, so a view sees each record's effect at
    /// once). The query types are in `state_stores::query`.
    pub fn store<Q: crate::query::QueryableStoreType>(
        &self,
        params: crate::query::StoreQueryParameters<Q>,
    ) -> Result<Q::View> {
        let inner = self.inner.borrow();
        let known = inner.store_names.contains(params.store_name());
        inner.stores.query(&params, crate::State::Running, known)
    }

    /// Every record written to `topic` and not yet read, as bytes.
    pub fn produced(&self, topic: &str) -> Vec<ProducedRecord> {
        let inner = self.inner.borrow();
        let capture = inner.capture.borrow();
        capture
            .topics
            .get(topic)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Reads and removes every record written to the dead-letter topic `topic`, with what
    /// their headers say ([`DeadLetter`](crate::DeadLetter)); an error if one lacks the
    /// dead-letter headers.
    pub fn dead_letters(&self, topic: &str) -> Result<Vec<crate::DeadLetter>> {
        let records: Vec<ProducedRecord> = {
            let inner = self.inner.borrow();
            let mut capture = inner.capture.borrow_mut();
            capture
                .topics
                .get_mut(topic)
                .map(|q| q.drain(..).collect())
                .unwrap_or_default()
        };
        records
            .into_iter()
            .map(|r| {
                crate::DeadLetter::from_record(r.key, r.value, r.timestamp, r.headers).map_err(
                    |e| {
                        StreamsError::IllegalState(format!(
                            "reading topic `{topic}` in the test: {e}"
                        ))
                    },
                )
            })
            .collect()
    }

    /// The counters of the task that reads `topic`.
    pub fn task_counters(&self, topic: &str) -> Option<TaskCounters> {
        let inner = self.inner.borrow();
        inner.readers.get(topic).map(|&t| inner.tasks[t].counters())
    }

    /// Closes every task (processors and stores).
    pub fn close(self) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        let mut first = None;
        for task in &mut inner.tasks {
            if let Err(e) = task.close() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for TopologyTestDriver {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.inner.try_borrow_mut() {
            for task in &mut inner.tasks {
                let _ = task.close();
            }
        }
    }
}

/// Pipes typed records into one input topic.
pub struct TestInputTopic<K, V> {
    inner: Rc<RefCell<Inner>>,
    topic: String,
    key_serde: Box<dyn Serde<K>>,
    value_serde: Box<dyn Serde<V>>,
}

impl<K: 'static, V: 'static> TestInputTopic<K, V> {
    /// Pipes one record with the given timestamp, and processes it (and anything it causes).
    pub fn pipe(&self, key: K, value: V, timestamp: i64) -> Result<()> {
        self.pipe_record(Record::new(key, value, timestamp))
    }

    /// Pipes one record with headers.
    pub fn pipe_record(&self, record: Record<K, V>) -> Result<()> {
        let ser = |e: crate::error::SerdeError| {
            StreamsError::IllegalState(format!("the test's serde failed: {e}"))
        };
        let key = self
            .key_serde
            .serialize(&self.topic, &record.key)
            .map_err(ser)?;
        let value = self
            .value_serde
            .serialize(&self.topic, &record.value)
            .map_err(ser)?;
        self.inner
            .borrow_mut()
            .pipe_raw(&self.topic, key, value, record.timestamp, record.headers)
    }

    /// Queues one record without processing it, to model records of several partitions
    /// fetched together; [`TopologyTestDriver::process_buffered`] processes them.
    pub fn buffer(&self, key: K, value: V, timestamp: i64) -> Result<()> {
        let ser = |e: crate::error::SerdeError| {
            StreamsError::IllegalState(format!("the test's serde failed: {e}"))
        };
        let key = self.key_serde.serialize(&self.topic, &key).map_err(ser)?;
        let value = self
            .value_serde
            .serialize(&self.topic, &value)
            .map_err(ser)?;
        self.inner
            .borrow_mut()
            .buffer_raw(&self.topic, key, value, timestamp, Headers::new())
            .map(|_| ())
    }

    /// Pipes raw bytes, for testing malformed input.
    pub fn pipe_raw(
        &self,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
    ) -> Result<()> {
        self.inner
            .borrow_mut()
            .pipe_raw(&self.topic, key, value, timestamp, Headers::new())
    }
}

/// Reads typed records from one output topic, in the order they were written.
pub struct TestOutputTopic<K, V> {
    inner: Rc<RefCell<Inner>>,
    topic: String,
    key_serde: Box<dyn Serde<K>>,
    value_serde: Box<dyn Serde<V>>,
}

impl<K: 'static, V: 'static> TestOutputTopic<K, V> {
    /// Reads the next record, or `None` if there is none.
    pub fn read_record(&self) -> Result<Option<Record<K, V>>> {
        let next = {
            let inner = self.inner.borrow();
            let mut capture = inner.capture.borrow_mut();
            capture
                .topics
                .get_mut(&self.topic)
                .and_then(VecDeque::pop_front)
        };
        let Some(r) = next else { return Ok(None) };
        let de = |e: crate::error::SerdeError| {
            StreamsError::IllegalState(format!("reading topic `{}` in the test: {e}", self.topic))
        };
        let key = self
            .key_serde
            .deserialize(&self.topic, r.key.as_deref())
            .map_err(de)?;
        let value = self
            .value_serde
            .deserialize(&self.topic, r.value.as_deref())
            .map_err(de)?;
        Ok(Some(Record {
            key,
            value,
            timestamp: r.timestamp,
            headers: r.headers,
        }))
    }

    /// Reads every pending record.
    pub fn read_records(&self) -> Result<Vec<Record<K, V>>> {
        let mut out = Vec::new();
        while let Some(r) = self.read_record()? {
            out.push(r);
        }
        Ok(out)
    }

    /// Reads every pending record as `(key, value, timestamp)`.
    pub fn read_key_values_with_time(&self) -> Result<Vec<(K, V, i64)>> {
        Ok(self
            .read_records()?
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect())
    }

    /// Reads every pending record as `(key, value)`.
    pub fn read_key_values(&self) -> Result<Vec<(K, V)>> {
        Ok(self
            .read_records()?
            .into_iter()
            .map(|r| (r.key, r.value))
            .collect())
    }

    /// Reads every pending record into a map of the last value per key, as Kafka Streams'
    /// `readKeyValuesToMap`: for output that is a table, when only its final state matters.
    /// A key updated twice keeps its later value; a tombstone read with a `Nullable` value
    /// serde stays in the map as `None`, as Java's map keeps a null.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use streams_core::serde::StringSerde;
    /// use streams_core::test_driver::TopologyTestDriver;
    /// use streams_core::{StreamsConfig, Topology};
    ///
    /// // A source written straight to a sink: the input comes out as it went in.
    /// let mut topology = Topology::new();
    /// topology
    ///     .add_source("src", &["profiles"], StringSerde, StringSerde)?
    ///     .add_sink("sink", "out", StringSerde, StringSerde, &["src"])?;
    /// let driver = TopologyTestDriver::new(topology, StreamsConfig::new("m", "unused:9092"))?;
    /// let input = driver.input_topic("profiles", StringSerde, StringSerde);
    /// for (user, city, ts) in [("ann", "Oslo", 1), ("bob", "Lima", 2), ("ann", "Rome", 3)] {
    ///     input.pipe(user.into(), city.into(), ts)?;
    /// }
    /// let last = driver.output_topic("out", StringSerde, StringSerde).read_key_values_to_map()?;
    /// assert_eq!(
    ///     last,
    ///     HashMap::from([("ann".to_owned(), "Rome".to_owned()), ("bob".to_owned(), "Lima".to_owned())])
    /// );
    /// # Ok::<(), streams_core::StreamsError>(())
    /// ```
    pub fn read_key_values_to_map(&self) -> Result<std::collections::HashMap<K, V>>
    where
        K: Eq + std::hash::Hash,
    {
        Ok(self.read_key_values()?.into_iter().collect())
    }

    /// True when no record is pending.
    pub fn is_empty(&self) -> bool {
        self.queue_size() == 0
    }

    /// Number of pending records.
    pub fn queue_size(&self) -> usize {
        let inner = self.inner.borrow();
        let capture = inner.capture.borrow();
        capture.topics.get(&self.topic).map_or(0, VecDeque::len)
    }
}
