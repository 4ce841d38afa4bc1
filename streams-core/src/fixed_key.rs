//! Processors that cannot change the key (Kafka Streams' `FixedKeyProcessor`): what
//! `KStream::process_values` runs. A [`FixedKeyProcessor`] receives [`FixedKeyRecord`]s, whose
//! key it can read but not replace, and forwards only records made from them, so the key of
//! everything it forwards is the key of a record it received: a grouping or join downstream
//! needs no repartition.
//!
//! ```
//! use streams_core::fixed_key::{FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord};
//! use streams_core::processor::ProcessorError;
//!
//! /// Forwards each value's length under the same key.
//! struct ValueLength;
//!
//! impl FixedKeyProcessor<String, String, i64> for ValueLength {
//!     fn process(
//!         &mut self,
//!         ctx: &mut FixedKeyProcessorContext<'_, '_, String, i64>,
//!         record: FixedKeyRecord<String, String>,
//!     ) -> Result<(), ProcessorError> {
//!         let len = record.value().len() as i64;
//!         ctx.forward(record.with_value(len))?;
//!         Ok(())
//!     }
//! }
//! ```

use std::marker::PhantomData;
use std::time::Duration;

use crate::error::Result;
use crate::ids::{PunctuationType, PunctuatorId};
use crate::processor::{OpenedProcessor, Processor, ProcessorContext, ProcessorError};
use crate::record::{Headers, Record, RecordMetadata};
use crate::store::StoreHandle;

/// A record whose key a [`FixedKeyProcessor`] can read but not change.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedKeyRecord<K, V> {
    record: Record<K, V>,
}

impl<K, V> FixedKeyRecord<K, V> {
    /// The key.
    pub fn key(&self) -> &K {
        &self.record.key
    }

    /// The value.
    pub fn value(&self) -> &V {
        &self.record.value
    }

    /// The value, taken out.
    pub fn into_value(self) -> V {
        self.record.value
    }

    /// Event time in milliseconds since the Unix epoch.
    pub fn timestamp(&self) -> i64 {
        self.record.timestamp
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.record.headers
    }

    /// The same record with another value.
    pub fn with_value<V2>(self, value: V2) -> FixedKeyRecord<K, V2> {
        FixedKeyRecord {
            record: self.record.with_value(value),
        }
    }

    /// The same record with its value mapped.
    pub fn map_value<V2>(self, f: impl FnOnce(V) -> V2) -> FixedKeyRecord<K, V2> {
        FixedKeyRecord {
            record: self.record.map_value(f),
        }
    }

    /// The same record with another timestamp.
    pub fn with_timestamp(self, timestamp: i64) -> Self {
        FixedKeyRecord {
            record: self.record.with_timestamp(timestamp),
        }
    }

    /// The same record with other headers.
    pub fn with_headers(self, headers: Headers) -> Self {
        FixedKeyRecord {
            record: self.record.with_headers(headers),
        }
    }
}

/// A processing step that keeps each record's key: input values `VIn`, output values `VOut`.
pub trait FixedKeyProcessor<K, VIn, VOut>: 'static {
    /// Called once when the task starts, before any record: look up stores and schedule
    /// punctuations here.
    fn init(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
    ) -> Result<(), ProcessorError> {
        let _ = ctx;
        Ok(())
    }

    /// Processes one record.
    fn process(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
        record: FixedKeyRecord<K, VIn>,
    ) -> Result<(), ProcessorError>;

    /// Called when a punctuation scheduled with [`FixedKeyProcessorContext::schedule`] fires;
    /// it may forward records it kept from earlier calls.
    fn punctuate(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
        punctuator: PunctuatorId,
        timestamp: i64,
    ) -> Result<(), ProcessorError> {
        let _ = (ctx, punctuator, timestamp);
        Ok(())
    }

    /// Called once when the task closes.
    fn close(&mut self) {}
}

/// What a [`FixedKeyProcessor`] can do: forward records made from the ones it received, and
/// everything else a [`ProcessorContext`] offers.
pub struct FixedKeyProcessorContext<'c, 'a, K, V> {
    inner: &'c mut ProcessorContext<'a, K, V>,
}

impl<K: Clone + 'static, V: Clone + 'static> FixedKeyProcessorContext<'_, '_, K, V> {
    /// Sends a record to every child.
    pub fn forward(&mut self, record: FixedKeyRecord<K, V>) -> Result<()> {
        self.inner.forward(record.record)
    }

    /// Sends a record to the child named `child` only.
    pub fn forward_to(&mut self, child: &str, record: FixedKeyRecord<K, V>) -> Result<()> {
        self.inner.forward_to(child, record.record)
    }
}

impl<K, V> FixedKeyProcessorContext<'_, '_, K, V> {
    /// The source topic, partition and offset of the record being processed; `None` during
    /// punctuation and initialisation.
    pub fn record_metadata(&self) -> Option<&RecordMetadata> {
        self.inner.record_metadata()
    }

    /// The task's stream time (`-1` before any record).
    pub fn stream_time(&self) -> i64 {
        self.inner.stream_time()
    }

    /// The current wall-clock time in ms.
    pub fn wall_clock_time(&self) -> i64 {
        self.inner.wall_clock_time()
    }

    /// The task id.
    pub fn task_id(&self) -> crate::ids::TaskId {
        self.inner.task_id()
    }

    /// The `application.id`.
    pub fn application_id(&self) -> &str {
        self.inner.application_id()
    }

    /// Schedules [`FixedKeyProcessor::punctuate`] every `interval`, driven by `kind`.
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> Result<PunctuatorId> {
        self.inner.schedule(interval, kind)
    }

    /// Cancels a scheduled punctuation.
    pub fn cancel(&mut self, punctuator: PunctuatorId) {
        self.inner.cancel(punctuator);
    }

    /// A handle on state store `name`, connected to this processor; `S` is its concrete type.
    pub fn state_store<S: 'static>(&mut self, name: &str) -> Result<StoreHandle<S>> {
        self.inner.state_store(name)
    }

    /// The stores connected to this processor (see [`ProcessorContext::stores`]).
    pub fn stores(&self) -> crate::processor::StoreLookup<'_> {
        self.inner.stores()
    }

    /// Asks the runtime to commit as soon as the current record is done.
    pub fn request_commit(&mut self) {
        self.inner.request_commit();
    }
}

/// A [`FixedKeyProcessor`] run as a [`Processor`] whose output key is its input key: what
/// `KStream::process_values` adds to the topology.
pub struct FixedKeyNode<P, VIn> {
    processor: P,
    _input: PhantomData<fn(VIn)>,
}

impl<P, VIn> FixedKeyNode<P, VIn> {
    /// Wraps `processor`.
    pub fn new(processor: P) -> Self {
        FixedKeyNode {
            processor,
            _input: PhantomData,
        }
    }
}

impl<K, VIn, VOut, P> Processor<K, VIn, K, VOut> for FixedKeyNode<P, VIn>
where
    K: 'static,
    VIn: 'static,
    VOut: 'static,
    P: FixedKeyProcessor<K, VIn, VOut>,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VOut>) -> Result<(), ProcessorError> {
        self.processor
            .init(&mut FixedKeyProcessorContext { inner: ctx })
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VOut>,
        record: Record<K, VIn>,
    ) -> Result<(), ProcessorError> {
        self.processor.process(
            &mut FixedKeyProcessorContext { inner: ctx },
            FixedKeyRecord { record },
        )
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VOut>,
        punctuator: PunctuatorId,
        timestamp: i64,
    ) -> Result<(), ProcessorError> {
        self.processor.punctuate(
            &mut FixedKeyProcessorContext { inner: ctx },
            punctuator,
            timestamp,
        )
    }

    fn close(&mut self) {
        self.processor.close();
    }
}

impl<K, VIn, VOut, P> FixedKeyProcessor<K, VIn, VOut> for OpenedProcessor<P>
where
    P: FixedKeyProcessor<K, VIn, VOut>,
{
    fn init(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
    ) -> Result<(), ProcessorError> {
        let processor = self.open(&ctx.stores())?;
        processor.init(ctx)
    }

    fn process(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
        record: FixedKeyRecord<K, VIn>,
    ) -> Result<(), ProcessorError> {
        self.opened()?.process(ctx, record)
    }

    fn punctuate(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
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
