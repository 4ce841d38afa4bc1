//! The three node kinds of a task: sources, processors and sinks.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::collector::OutRecord;
use crate::context::{NodeOps, RawSource, TaskContext};
use crate::error::{Result, SourcePosition, StreamsError};
use crate::handlers::ErrorStage;
use crate::processor::{
    Child, Node, Processor, ProcessorContext, ProcessorError, PunctuatorId, forward_all,
};
use crate::record::{RawRecord, Record};
use crate::serde::SharedSerde;

/// Reads raw records of its topics, deserializes them and forwards them.
pub(crate) struct SourceNode<K, V> {
    pub name: Arc<str>,
    pub key_serde: SharedSerde<K>,
    pub value_serde: SharedSerde<V>,
    pub children: Vec<Child<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> RawSource for SourceNode<K, V> {
    fn process_raw(
        &mut self,
        mut raw: RawRecord,
        timestamp: i64,
        task: &mut TaskContext,
    ) -> Result<()> {
        if task.settings.dead_letter_topic.is_some() {
            // A dead-letter record needs the source bytes later on: decode from a borrow.
            let decoded = self
                .key_serde
                .deserialize(&raw.topic, raw.key.as_deref())
                .and_then(|k| {
                    Ok((
                        k,
                        self.value_serde
                            .deserialize(&raw.topic, raw.value.as_deref())?,
                    ))
                });
            return match decoded {
                Ok((key, value)) => {
                    let record = Record {
                        key,
                        value,
                        timestamp,
                        headers: raw.headers.clone(),
                    };
                    task.set_current(raw);
                    forward_all(&self.children, record, task)
                }
                Err(e) => self.deserialization_failed(raw, e, task),
            };
        }
        // No dead-letter topic: the record's bytes and headers move into the typed record, and
        // byte and string serdes take them without a copy.
        let key = match self.key_serde.deserialize_owned(&raw.topic, raw.key.take()) {
            Ok(k) => k,
            Err((e, bytes)) => {
                raw.key = bytes;
                return self.deserialization_failed(raw, e, task);
            }
        };
        let value = match self
            .value_serde
            .deserialize_owned(&raw.topic, raw.value.take())
        {
            Ok(v) => v,
            Err((e, bytes)) => {
                raw.value = bytes;
                return self.deserialization_failed(raw, e, task);
            }
        };
        let record = Record {
            key,
            value,
            timestamp,
            headers: std::mem::take(&mut raw.headers),
        };
        task.set_current(raw);
        forward_all(&self.children, record, task)
    }
}

impl<K, V> SourceNode<K, V> {
    fn deserialization_failed(
        &self,
        raw: RawRecord,
        e: crate::error::SerdeError,
        task: &mut TaskContext,
    ) -> Result<()> {
        let position = SourcePosition {
            topic: raw.topic.to_string(),
            partition: raw.partition,
            offset: raw.offset,
        };
        task.handle_failure(
            ErrorStage::Deserialization,
            &self.name,
            Some(&raw),
            "SerdeError",
            e.message(),
            || StreamsError::Deserialization {
                position,
                source: e.clone(),
            },
        )
    }
}

/// Wraps a user [`Processor`] with its children and the processing error handler.
pub(crate) struct ProcessorNode<P, KIn, VIn, KOut, VOut> {
    pub name: Arc<str>,
    pub index: usize,
    pub processor: P,
    pub children: Vec<Child<KOut, VOut>>,
    pub _input: PhantomData<fn(KIn, VIn)>,
}

/// Turns a processor's error into the handler's decision. Errors that are already library
/// errors (a child failed, the task must stop) pass through unchanged.
fn on_processor_error(
    name: &Arc<str>,
    error: ProcessorError,
    task: &mut TaskContext,
) -> Result<()> {
    let error = match error.downcast::<StreamsError>() {
        Ok(streams_error) => return Err(*streams_error),
        Err(other) => other,
    };
    let message = error.to_string();
    let position = task
        .record_metadata()
        .map(|m| SourcePosition {
            topic: m.topic.to_string(),
            partition: m.partition,
            offset: m.offset,
        })
        .unwrap_or(SourcePosition {
            topic: String::new(),
            partition: -1,
            offset: -1,
        });
    let node = name.to_string();
    task.handle_failure(
        ErrorStage::Processing,
        name,
        None,
        "ProcessorError",
        &message,
        || StreamsError::Processing {
            node,
            position,
            message: message.clone(),
        },
    )
}

impl<P, KIn, VIn, KOut, VOut> Node<KIn, VIn> for ProcessorNode<P, KIn, VIn, KOut, VOut>
where
    P: Processor<KIn, VIn, KOut, VOut>,
    KOut: Clone + 'static,
    VOut: Clone + 'static,
{
    fn process(&mut self, record: Record<KIn, VIn>, task: &mut TaskContext) -> Result<()> {
        let mut ctx = ProcessorContext {
            children: &self.children,
            task,
            node: self.index,
        };
        // A panic in user code is a processing error of this record, not of the thread: it
        // goes to the processing handler like an `Err`. The store a panicking processor was
        // updating keeps what it wrote before the panic, as with an error.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.processor.process(&mut ctx, record)
        }));
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => on_processor_error(&self.name, e, task),
            Err(payload) => on_processor_error(&self.name, panic_error(payload), task),
        }
    }
}

/// A processor's panic as an error: its message, said to be a panic.
fn panic_error(payload: Box<dyn std::any::Any + Send>) -> ProcessorError {
    format!("panicked: {}", crate::error::panic_message(&*payload)).into()
}

impl<P, KIn, VIn, KOut, VOut> NodeOps for ProcessorNode<P, KIn, VIn, KOut, VOut>
where
    P: Processor<KIn, VIn, KOut, VOut>,
    KOut: Clone + 'static,
    VOut: Clone + 'static,
{
    fn init(&mut self, task: &mut TaskContext) -> Result<()> {
        let mut ctx = ProcessorContext {
            children: &self.children,
            task,
            node: self.index,
        };
        self.processor
            .init(&mut ctx)
            .map_err(|e| match e.downcast::<StreamsError>() {
                Ok(se) => *se,
                Err(other) => StreamsError::Topology(format!(
                    "processor `{}` failed to initialise: {other}",
                    self.name
                )),
            })
    }

    fn punctuate(
        &mut self,
        id: PunctuatorId,
        timestamp: i64,
        task: &mut TaskContext,
    ) -> Result<()> {
        let mut ctx = ProcessorContext {
            children: &self.children,
            task,
            node: self.index,
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.processor.punctuate(&mut ctx, id, timestamp)
        }));
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => on_processor_error(&self.name, e, task),
            Err(payload) => on_processor_error(&self.name, panic_error(payload), task),
        }
    }

    fn close(&mut self) {
        self.processor.close();
    }
}

/// Chooses an output topic per record.
pub type TopicChooser<K, V> = Arc<dyn Fn(&Record<K, V>) -> String + Send + Sync>;

/// Chooses an output partition per record, given the topic's partition count; `None` leaves
/// the choice to the producer's partitioner (murmur2 of the key bytes, like the Java client).
pub type Partitioner<K, V> = Arc<dyn Fn(&str, &Record<K, V>, i32) -> Option<i32> + Send + Sync>;

/// Where a sink writes.
pub(crate) enum SinkTopic<K, V> {
    Fixed(Arc<str>),
    Chosen(TopicChooser<K, V>),
}

/// Serializes records and hands them to the task's producer.
pub(crate) struct SinkNode<K, V> {
    pub name: Arc<str>,
    pub topic: SinkTopic<K, V>,
    pub key_serde: SharedSerde<K>,
    pub value_serde: SharedSerde<V>,
    pub partitioner: Option<Partitioner<K, V>>,
    pub key_buf: Vec<u8>,
    pub value_buf: Vec<u8>,
}

impl<K: 'static, V: 'static> Node<K, V> for SinkNode<K, V> {
    fn process(&mut self, record: Record<K, V>, task: &mut TaskContext) -> Result<()> {
        task.record_sink_latency(&self.name, record.timestamp);
        let chosen;
        let topic: &str = match &self.topic {
            SinkTopic::Fixed(t) => t,
            SinkTopic::Chosen(f) => {
                chosen = f(&record);
                &chosen
            }
        };
        self.key_buf.clear();
        self.value_buf.clear();
        let encoded = self
            .key_serde
            .serialize_into(topic, &record.key, &mut self.key_buf)
            .and_then(|k| {
                Ok((
                    k,
                    self.value_serde
                        .serialize_into(topic, &record.value, &mut self.value_buf)?,
                ))
            });
        let (has_key, has_value) = match encoded {
            Ok(flags) => flags,
            Err(e) => {
                let message = format!(
                    "serializing a record for topic `{topic}` failed: {}",
                    e.message()
                );
                let topic_owned = topic.to_owned();
                return task.handle_failure(
                    ErrorStage::Production,
                    &self.name,
                    None,
                    "SerdeError",
                    &message,
                    || StreamsError::Production {
                        topic: topic_owned,
                        message: message.clone(),
                    },
                );
            }
        };
        let partition = match &self.partitioner {
            Some(p) => {
                let count = task.partition_count(topic)?;
                p(topic, &record, count)
            }
            None => None,
        };
        task.send(OutRecord {
            topic,
            partition,
            key: has_key.then_some(&self.key_buf[..]),
            value: has_value.then_some(&self.value_buf[..]),
            timestamp: record.timestamp,
            headers: &record.headers,
        })
    }
}
