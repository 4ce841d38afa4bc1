//! The Processor API: user code that sees one record at a time and forwards results.
//!
//! A [`Processor`] is created per task by the supplier given to
//! [`Topology::add_processor`](crate::Topology::add_processor). Each call receives a
//! [`ProcessorContext`] through which it forwards records to its children (all of them or one
//! by name), reads the metadata of the record being processed, reaches the task's state stores
//! and schedules punctuations.
//!
//! Records flow between processors of one sub-topology as typed Rust values: there is no
//! serialization and no dynamic type check on the per-record path.
//!
//! ```
//! use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
//! use streams_core::Record;
//!
//! /// Forwards the length of each value, keeping key and timestamp.
//! struct ValueLength;
//!
//! impl Processor<String, String, String, i64> for ValueLength {
//!     fn process(
//!         &mut self,
//!         ctx: &mut ProcessorContext<'_, String, i64>,
//!         record: Record<String, String>,
//!     ) -> Result<(), ProcessorError> {
//!         let len = record.value.len() as i64;
//!         ctx.forward(record.with_value(len))?;
//!         Ok(())
//!     }
//! }
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::context::TaskContext;
use crate::error::{Result, StreamsError};
pub use crate::ids::{PunctuationType, PunctuatorId};
use crate::record::{Record, RecordMetadata};
use crate::store::StoreHandle;

/// The error a processor returns. Any error type converts into it with `?`; the configured
/// processing error handler decides whether the application fails or goes on.
pub type ProcessorError = Box<dyn std::error::Error + Send + Sync>;

/// A processing step with input key/value types `KIn`/`VIn` and output types `KOut`/`VOut`.
pub trait Processor<KIn, VIn, KOut, VOut>: 'static {
    /// Called once when the task starts, before any record. Look up state stores and
    /// schedule punctuations here.
    fn init(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<(), ProcessorError> {
        let _ = ctx;
        Ok(())
    }

    /// Processes one record.
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
        record: Record<KIn, VIn>,
    ) -> Result<(), ProcessorError>;

    /// Called when a punctuation scheduled with [`ProcessorContext::schedule`] fires.
    /// `timestamp` is the stream time or wall-clock time that triggered it.
    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
        punctuator: PunctuatorId,
        timestamp: i64,
    ) -> Result<(), ProcessorError> {
        let _ = (ctx, punctuator, timestamp);
        Ok(())
    }

    /// Called once when the task closes.
    fn close(&mut self) {}
}

/// A typed downstream node.
pub(crate) trait Node<K, V> {
    fn process(&mut self, record: Record<K, V>, task: &mut TaskContext) -> Result<()>;
}

/// A child of a node: its name (for `forward_to`) and the node itself.
pub(crate) struct Child<K, V> {
    pub(crate) name: Arc<str>,
    pub(crate) node: Rc<RefCell<dyn Node<K, V>>>,
}

impl<K, V> Clone for Child<K, V> {
    fn clone(&self) -> Self {
        Child {
            name: self.name.clone(),
            node: self.node.clone(),
        }
    }
}

/// Sends `record` to every child; clones for all but the last.
pub(crate) fn forward_all<K: Clone, V: Clone>(
    children: &[Child<K, V>],
    record: Record<K, V>,
    task: &mut TaskContext,
) -> Result<()> {
    if let Some((last, rest)) = children.split_last() {
        for child in rest {
            child.node.borrow_mut().process(record.clone(), task)?;
        }
        last.node.borrow_mut().process(record, task)?;
    }
    Ok(())
}

/// The state stores connected to one processor (see [`ProcessorContext::stores`]).
pub struct StoreLookup<'a> {
    task: &'a TaskContext,
    node: usize,
}

impl StoreLookup<'_> {
    /// A handle on state store `name`, as [`ProcessorContext::state_store`].
    pub fn state_store<S: 'static>(&self, name: &str) -> Result<StoreHandle<S>> {
        self.task.state_store(self.node, name)
    }

    /// The `application.id` (which names the changelog topics serdes are given).
    pub fn application_id(&self) -> &str {
        self.task.application_id()
    }
}

/// What a processor can do while it handles a record, a punctuation or its initialisation.
pub struct ProcessorContext<'a, K, V> {
    pub(crate) children: &'a [Child<K, V>],
    pub(crate) task: &'a mut TaskContext,
    pub(crate) node: usize,
}

impl<K: Clone + 'static, V: Clone + 'static> ProcessorContext<'_, K, V> {
    /// Sends a record to every child of this processor.
    pub fn forward(&mut self, record: Record<K, V>) -> Result<()> {
        forward_all(self.children, record, self.task)
    }

    /// Sends a record to the child named `child` only.
    pub fn forward_to(&mut self, child: &str, record: Record<K, V>) -> Result<()> {
        let target = self.children.iter().find(|c| &*c.name == child).ok_or_else(|| {
            let names: Vec<&str> = self.children.iter().map(|c| &*c.name).collect();
            StreamsError::Topology(format!(
                "processor `{}` forwarded to `{child}`, which is not one of its children {names:?}",
                self.task.node_name(self.node)
            ))
        })?;
        target.node.borrow_mut().process(record, self.task)
    }
}

impl<K, V> ProcessorContext<'_, K, V> {
    /// The source topic, partition and offset of the record being processed; `None` during
    /// punctuation and initialisation.
    pub fn record_metadata(&self) -> Option<&RecordMetadata> {
        self.task.record_metadata()
    }

    /// The task's stream time: the largest timestamp processed so far (`-1` before any).
    pub fn stream_time(&self) -> i64 {
        self.task.stream_time()
    }

    /// The current wall-clock time in ms (the test driver's mocked clock under test).
    pub fn wall_clock_time(&self) -> i64 {
        self.task.wall_clock_time()
    }

    /// The task id, `<sub-topology>_<partition>`.
    pub fn task_id(&self) -> crate::ids::TaskId {
        self.task.task_id()
    }

    /// The `application.id`.
    pub fn application_id(&self) -> &str {
        self.task.application_id()
    }

    /// Schedules [`Processor::punctuate`] every `interval`, driven by `kind`. The first
    /// stream-time punctuation fires at the first record whose stream time reaches the next
    /// multiple of the interval; a wall-clock one after `interval` has passed.
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> Result<PunctuatorId> {
        let ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        if ms < 1 {
            return Err(StreamsError::Topology(format!(
                "processor `{}` scheduled a punctuation every {interval:?}; the interval must be at least 1 ms",
                self.task.node_name(self.node)
            )));
        }
        Ok(self.task.schedule(self.node, ms, kind))
    }

    /// Cancels a scheduled punctuation; later firings do not happen.
    pub fn cancel(&mut self, punctuator: PunctuatorId) {
        self.task.cancel(punctuator);
    }

    /// A handle on state store `name`, which must be connected to this processor; `S` is the
    /// store's concrete type.
    pub fn state_store<S: 'static>(&mut self, name: &str) -> Result<StoreHandle<S>> {
        self.task.state_store(self.node, name)
    }

    /// The stores connected to this processor, apart from what it forwards: for code that
    /// opens stores for a processor whatever its output types (a table's value getter).
    pub fn stores(&self) -> StoreLookup<'_> {
        StoreLookup {
            task: self.task,
            node: self.node,
        }
    }

    /// Counts a record dropped because it arrived after its window closed (the task's
    /// `late_dropped` counter). The caller logs it.
    pub fn count_late_record(&mut self) {
        self.task.counters.late_dropped += 1;
    }

    /// Counts a record an operator skipped, as Kafka Streams' dropped-records sensor does (a
    /// null value where an aggregation has nothing to add; the task's `dropped` counter).
    /// The caller logs it.
    pub fn count_dropped_record(&mut self) {
        self.task.counters.dropped += 1;
    }

    /// Asks the runtime to commit as soon as the current record is done.
    pub fn request_commit(&mut self) {
        self.task.request_commit();
    }
}

/// The function [`from_stores`] wraps.
type Open<P> = dyn Fn(&StoreLookup<'_>) -> Result<P, ProcessorError> + Send + Sync;

/// A processor built by [`from_stores`]: it builds the processor it runs when its task
/// starts, then hands every call to it. Runs a [`Processor`] or a [`FixedKeyProcessor`](crate::fixed_key::FixedKeyProcessor),
/// whichever `P` is.
pub struct OpenedProcessor<P> {
    open: Arc<Open<P>>,
    /// Built by `init`.
    pub(crate) processor: Option<P>,
}

/// A processor supplier that builds each task's processor from the stores connected to it,
/// when the task starts; the processor's own `init` runs after that. Give it wherever a
/// supplier goes (`KStream::process_with_stores`, `process_values_with_stores`,
/// [`Topology::add_processor`](crate::Topology::add_processor)); the stores it opens must be
/// connected to the processor there, as for a lookup from `init`.
///
/// ```
/// use std::collections::HashMap;
/// use streams_core::processor::{from_stores, Processor, ProcessorContext, ProcessorError};
/// use streams_core::serde::{I64Serde, StringSerde};
/// use streams_core::store::StoreHandle;
/// use streams_core::test_driver::TopologyTestDriver;
/// use streams_core::{Record, StreamsConfig, Topology};
/// # use streams_core::store::{StateStore, StoreBuilder, StoreContext, StoreInstance};
/// # /// A store of counts kept in memory (`state_stores` has the real store types).
/// # #[derive(Default)]
/// # struct Counts(HashMap<String, i64>);
/// # impl StateStore for Counts {
/// #     fn name(&self) -> &str { "counts" }
/// #     fn commit(&mut self, _: Option<i64>) -> streams_core::Result<()> { Ok(()) }
/// #     fn close(&mut self) -> streams_core::Result<()> { Ok(()) }
/// # }
/// # struct CountsBuilder;
/// # impl StoreBuilder for CountsBuilder {
/// #     fn name(&self) -> &str { "counts" }
/// #     fn build(&self, _: &StoreContext) -> streams_core::Result<StoreInstance> { Ok(StoreInstance::new(Counts::default())) }
/// # }
///
/// /// Counts each key's records: its store is a field, not an `Option`.
/// struct Counter {
///     counts: StoreHandle<Counts>,
/// }
///
/// impl Processor<String, String, String, i64> for Counter {
///     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, i64>, r: Record<String, String>) -> Result<(), ProcessorError> {
///         let n = {
///             let mut counts = self.counts.borrow_mut();
///             let n = counts.0.entry(r.key.clone()).or_default();
///             *n += 1;
///             *n
///         };
///         ctx.forward(r.with_value(n))?;
///         Ok(())
///     }
/// }
///
/// let mut topology = Topology::new();
/// topology.add_source("in", &["lines"], StringSerde, StringSerde)?;
/// topology.add_processor(
///     "count",
///     from_stores(|stores| Ok(Counter { counts: stores.state_store("counts")? })),
///     &["in"],
/// )?;
/// topology.add_state_store(CountsBuilder, &["count"])?;
/// topology.add_sink("out", "counts-out", StringSerde, I64Serde, &["count"])?;
///
/// let driver = TopologyTestDriver::new(topology, StreamsConfig::new("doc", "unused:9092"))?;
/// let input = driver.input_topic("lines", StringSerde, StringSerde);
/// input.pipe("a".to_owned(), "x".to_owned(), 1)?;
/// input.pipe("a".to_owned(), "y".to_owned(), 2)?;
/// let out = driver.output_topic("counts-out", StringSerde, I64Serde);
/// assert_eq!(out.read_key_values_with_time()?, vec![("a".to_owned(), 1, 1), ("a".to_owned(), 2, 2)]);
/// # Ok::<(), streams_core::StreamsError>(())
/// ```
pub fn from_stores<P, F>(open: F) -> impl Fn() -> OpenedProcessor<P> + Send + Sync + 'static
where
    P: 'static,
    F: Fn(&StoreLookup<'_>) -> Result<P, ProcessorError> + Send + Sync + 'static,
{
    let open: Arc<Open<P>> = Arc::new(open);
    move || OpenedProcessor {
        open: open.clone(),
        processor: None,
    }
}

impl<P> OpenedProcessor<P> {
    /// Builds the processor from the stores.
    pub(crate) fn open(&mut self, stores: &StoreLookup<'_>) -> Result<&mut P, ProcessorError> {
        let processor = (self.open)(stores)?;
        Ok(self.processor.insert(processor))
    }

    /// The processor `init` built.
    pub(crate) fn opened(&mut self) -> Result<&mut P, ProcessorError> {
        self.processor
            .as_mut()
            .ok_or_else(|| "a processor built from its stores was called before its init".into())
    }
}

impl<KIn, VIn, KOut, VOut, P> Processor<KIn, VIn, KOut, VOut> for OpenedProcessor<P>
where
    P: Processor<KIn, VIn, KOut, VOut>,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<(), ProcessorError> {
        let processor = self.open(&ctx.stores())?;
        processor.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
        record: Record<KIn, VIn>,
    ) -> Result<(), ProcessorError> {
        self.opened()?.process(ctx, record)
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
        punctuator: PunctuatorId,
        timestamp: i64,
    ) -> Result<(), ProcessorError> {
        self.opened()?.punctuate(ctx, punctuator, timestamp)
    }

    fn close(&mut self) {
        if let Some(processor) = self.processor.as_mut() {
            processor.close();
        }
    }
}
