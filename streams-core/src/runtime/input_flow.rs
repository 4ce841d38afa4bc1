//! Input flow: the main consumer and its fetch queue. Polls records into their tasks'
//! queues (through a [`Router`]), pauses partitions whose queue is full and resumes them once
//! drained, and moves input partitions for the task manager (pause, resume, seek, committed
//! offsets). Only this unit polls the main consumer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::fetch::{FetchQueue, MessageRef};
use super::kafka_errors::{is_fatal_consumer_error, with_retries};
use super::rebalance::StreamsConsumer;
use super::shared::ThreadShared;
use crate::error::{Result, StreamsError};
use crate::ids::TaskId;
use crate::record::RawRecord;
use crate::task::StreamTask;
use crate::topology::Subtopology;

/// Most records taken from the consumer in one round before processing them. Small enough
/// that the records copied out of librdkafka are still in the CPU's cache when processed
/// (500 x 100-byte records: a few hundred KB, against 10,000 before): interleaved runs of
/// `bench --cases passthrough,filter-map --partitions 4` gave 0.81-0.93x the raw rdkafka
/// program's throughput with 10,000 and 0.86-0.98x with 500, the same at 1 partition.
const MAX_POLL_RECORDS: usize = 500;

/// How long a static member asked to leave the group waits for librdkafka to send the
/// LeaveGroup before its consumer closes.
const LEAVE_GROUP_WAIT: Duration = Duration::from_secs(5);

/// Where polled records and rebalance events go: the task manager.
pub(crate) trait Router {
    /// The tasks that own input partitions, by id.
    fn tasks(&self) -> &BTreeMap<TaskId, StreamTask>;
    /// Applies the rebalance events a poll of the consumer's queue produced, before any
    /// record polled after them.
    fn rebalanced(&mut self, input: &mut InputFlow) -> Result<()>;
    /// Queues a record of sub-topology `sub` in its task; returns true when its partition's
    /// queue is now full.
    fn route(&mut self, raw: RawRecord, sub: usize) -> Result<bool>;
    /// Whether some task restores, or a standby task's changelog has records coming (the
    /// restore consumer's poll waits instead of this one, or nothing waits).
    fn restoring(&self) -> bool;
}

/// A stream thread's input: the main consumer, its fetch queue and the paused partitions.
pub(crate) struct InputFlow {
    thread: String,
    /// Where the assigned partitions' records are read from. Declared before `consumer` so
    /// that it drops first, as librdkafka needs.
    fetch: FetchQueue,
    consumer: StreamsConsumer,
    /// Source topic -> (interned name, sub-topology index).
    topics: TopicIndex,
    subtopologies: Arc<Vec<Subtopology>>,
    shared: Arc<ThreadShared>,
    /// Partitions paused because their queue is full.
    paused: HashSet<(String, i32)>,
    last_end_offsets_query: Instant,
}

impl InputFlow {
    pub(crate) fn new(
        thread: String,
        consumer: StreamsConsumer,
        subtopologies: Arc<Vec<Subtopology>>,
        shared: Arc<ThreadShared>,
    ) -> Result<Self> {
        let fetch = FetchQueue::new(&consumer)?;
        let mut topics = TopicIndex::default();
        for (i, sub) in subtopologies.iter().enumerate() {
            for t in &sub.source_topics {
                topics.insert(t.clone(), (Arc::from(t.as_str()), i));
            }
        }
        Ok(InputFlow {
            thread,
            fetch,
            consumer,
            topics,
            subtopologies,
            shared,
            paused: HashSet::new(),
            last_end_offsets_query: Instant::now(),
        })
    }

    /// The main consumer.
    pub(crate) fn consumer(&self) -> &StreamsConsumer {
        &self.consumer
    }

    /// The index of the sub-topology reading `topic`.
    pub(crate) fn subtopology_of(&self, topic: &str) -> Option<usize> {
        self.topics.get(topic).map(|&(_, sub)| sub)
    }

    /// Joins the group, subscribed to every source topic.
    pub(crate) fn subscribe(&self, context: &str) -> Result<()> {
        let topics: Vec<&str> = self.topics.names().collect();
        self.consumer
            .subscribe(&topics)
            .map_err(|e| StreamsError::kafka(context, e))
    }

    /// Leaves the group.
    pub(crate) fn unsubscribe(&self) {
        self.consumer.unsubscribe();
    }

    /// As the thread stops: a dynamic member leaves the group (the consumer's close sends
    /// the LeaveGroup). A static member stays unless `leave` (the client's close asked to
    /// leave, `CloseOptions::leave_group`, or the thread is being removed): its consumer
    /// closes when dropped, which sends no LeaveGroup (KIP-345), so that a restart within
    /// `session.timeout.ms` takes the same partitions back without a rebalance. librdkafka
    /// sends a static member's LeaveGroup only on an unsubscribe whose revocation was served
    /// before the close, so leaving unsubscribes and serves the consumer's queue until
    /// librdkafka has dropped its member id (which it does as it sends the LeaveGroup), for
    /// up to `LEAVE_GROUP_WAIT`.
    pub(crate) fn leave_on_stop(&self, is_static: bool, leave: bool) {
        if !is_static {
            return self.unsubscribe();
        }
        if !leave {
            return;
        }
        self.consumer.unsubscribe();
        let deadline = Instant::now() + LEAVE_GROUP_WAIT;
        while has_member_id(&self.consumer) && Instant::now() < deadline {
            // After the unsubscribe only events come: the revocation, served by the callback.
            if let Some(Ok(_)) = self.consumer.poll(Duration::from_millis(20)) {
                tracing::debug!(thread = %self.thread, "a record polled while leaving the group");
            }
        }
    }

    /// Takes records into their tasks' queues; when there is nothing to take and nothing
    /// to do (no task restores or, unless the client is `paused`, has buffered records),
    /// waits up to `wait` for records.
    pub(crate) fn poll(
        &mut self,
        router: &mut impl Router,
        paused: bool,
        wait: Duration,
    ) -> Result<()> {
        self.pause_full(router.tasks())?;
        let (taken, more) = self.poll_queues(router)?;
        // Judged after the poll, which may have started tasks. Restoring tasks wait in the
        // restore consumer's poll instead; while the client is paused, buffered records wait,
        // and so does the poll.
        let busy =
            router.restoring() || (!paused && router.tasks().values().any(|t| t.buffered() > 0));
        if taken == 0 && !more && !busy {
            // Out of input: what the producer holds for its linger goes now.
            if let Some(producer) = self.shared.producer() {
                producer.send_now_if_idle();
            }
            self.fetch.wait(wait);
            self.poll_queues(router)?;
        }
        Ok(())
    }

    /// Takes what waits in the consumer's queue, then (when that is empty) up to a round's
    /// worth of records from the fetch queue, without waiting (see `fetch.rs`). Returns the
    /// records taken and whether more may be waiting.
    fn poll_queues(&mut self, router: &mut impl Router) -> Result<(usize, bool)> {
        let mut taken = 0;
        let mut polls = 0;
        // Events, and records fetched before their partition was forwarded: these come before
        // anything of the same partition in the fetch queue.
        while self.fetch.consumer_queue_len() > 0 {
            if polls == MAX_POLL_RECORDS {
                return Ok((taken, true));
            }
            polls += 1;
            let polled = self.consumer.poll(Duration::ZERO);
            let raw = match &polled {
                None => None,
                Some(Ok(m)) => self.raw_record(MessageRef::of(m)),
                Some(Err(e)) => {
                    self.consumer_error(e.clone(), None)?;
                    None
                }
            };
            drop(polled);
            router.rebalanced(self)?;
            if let Some((raw, sub)) = raw {
                taken += 1;
                if router.route(raw, sub)? {
                    return Ok((taken, true));
                }
            }
        }
        // A batch may hold records of any assigned partition: it takes no more than the
        // fullest queue has room for, so that no queue grows past its limit.
        let max = (MAX_POLL_RECORDS - taken).min(room(router.tasks()));
        let fetched = self.fetch.take(max);
        let more = fetched.len() == max;
        let mut full = false;
        for m in fetched.iter() {
            if let Some(code) = m.error() {
                self.consumer_error(KafkaError::MessageConsumption(code), Some(m))?;
                continue;
            }
            if let Some((raw, sub)) = self.raw_record(m) {
                taken += 1;
                full |= router.route(raw, sub)?;
            }
        }
        Ok((taken, more || full))
    }

    /// A consumer error from either queue: fatal ones stop the thread, the others are
    /// logged (librdkafka retries them itself), with the partition when one is named.
    fn consumer_error(&self, e: KafkaError, at: Option<MessageRef<'_>>) -> Result<()> {
        if let Some(code) = e.rdkafka_error_code() {
            let topic = at.and_then(|m| std::str::from_utf8(m.topic()).ok());
            if self.shared.failure.record(code, &e, topic) {
                return self.shared.failure.check();
            }
        }
        if is_fatal_consumer_error(&e) {
            return Err(StreamsError::kafka("polling", e));
        }
        match at {
            Some(m) => {
                tracing::warn!(thread = %self.thread, topic = %String::from_utf8_lossy(m.topic()), partition = m.partition(), error = %e, "consumer error")
            }
            None => tracing::warn!(thread = %self.thread, error = %e, "consumer error"),
        }
        Ok(())
    }

    /// Copies a consumed record out of librdkafka, with the index of its sub-topology; `None`
    /// for a topic the thread does not read.
    fn raw_record(&self, m: MessageRef<'_>) -> Option<(RawRecord, usize)> {
        let (topic, sub) = self.topics.get_bytes(m.topic())?;
        Some((
            RawRecord {
                topic: topic.clone(),
                partition: m.partition(),
                offset: m.offset(),
                timestamp: m.timestamp(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers: m.headers(),
            },
            *sub,
        ))
    }

    /// Pauses partitions whose queue is still full after processing (their task could not
    /// take records), so that librdkafka stops fetching them; [`Self::resume_drained`] resumes
    /// them once they are half empty. Polling itself stops at a full queue, so a task that
    /// keeps up never causes a pause (pausing drops librdkafka's prefetched records).
    fn pause_full(&mut self, tasks: &BTreeMap<TaskId, StreamTask>) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for task in tasks.values() {
            for (topic, partition) in task.input_partitions() {
                if task.buffered_in(topic, partition) >= task.max_buffered_per_partition()
                    && self.paused.insert((topic.to_owned(), partition))
                {
                    tpl.add_partition(topic, partition);
                }
            }
        }
        if tpl.count() > 0 {
            self.consumer
                .pause(&tpl)
                .map_err(|e| StreamsError::kafka("pausing full partitions", e))?;
        }
        Ok(())
    }

    /// Resumes the paused partitions whose queue is half empty again (or whose task is gone).
    pub(crate) fn resume_drained(&mut self, tasks: &BTreeMap<TaskId, StreamTask>) -> Result<()> {
        if self.paused.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        let subs = &self.subtopologies;
        let topics = &self.topics;
        self.paused.retain(|(topic, partition)| {
            let drained = topics.get(topic).is_none_or(|&(_, sub)| {
                let id = TaskId {
                    subtopology: subs[sub].id,
                    partition: *partition,
                };
                tasks.get(&id).is_none_or(|t| {
                    t.buffered_in(topic, *partition) < t.max_buffered_per_partition() / 2
                })
            });
            if drained {
                tpl.add_partition(topic, *partition);
            }
            !drained
        });
        if tpl.count() > 0 {
            self.consumer
                .resume(&tpl)
                .map_err(|e| StreamsError::kafka("resuming a drained partition", e))?;
        }
        Ok(())
    }

    /// Whether `topic`-`partition` is paused because its queue is full.
    pub(crate) fn is_paused_full(&self, topic: &str, partition: i32) -> bool {
        self.paused.contains(&(topic.to_owned(), partition))
    }

    /// Forgets the pauses of `partitions` (their tasks closed).
    pub(crate) fn forget_paused(&mut self, partitions: &HashSet<(String, i32)>) {
        self.paused.retain(|tp| !partitions.contains(tp));
    }

    /// Sends the records of newly assigned `partitions` to the fetch queue.
    pub(crate) fn forward(&mut self, partitions: &[(String, i32)]) {
        self.fetch.forward(&self.consumer, partitions);
    }

    /// Stops fetching `partitions`.
    pub(crate) fn pause<'a>(
        &self,
        partitions: impl IntoIterator<Item = (&'a str, i32)>,
        what: &str,
    ) -> Result<()> {
        self.consumer
            .pause(&partition_list(partitions))
            .map_err(|e| StreamsError::kafka(format!("pausing {what}"), e))
    }

    /// Fetches `partitions` again.
    pub(crate) fn resume<'a>(
        &self,
        partitions: impl IntoIterator<Item = (&'a str, i32)>,
        what: &str,
    ) -> Result<()> {
        self.consumer
            .resume(&partition_list(partitions))
            .map_err(|e| StreamsError::kafka(format!("resuming {what}"), e))
    }

    /// Moves the position of `topic`-`partition` to `offset`.
    pub(crate) fn seek(
        &self,
        topic: &str,
        partition: i32,
        offset: Offset,
        what: &str,
    ) -> Result<()> {
        self.consumer
            .seek(topic, partition, offset, Duration::from_secs(10))
            .map_err(|e| StreamsError::kafka(format!("rewinding {what}"), e))
    }

    /// The group's committed offsets of `partitions`, retried through broker restarts.
    pub(crate) fn committed_offsets(
        &self,
        partitions: &TopicPartitionList,
    ) -> Result<TopicPartitionList> {
        with_retries(Duration::from_secs(30), || {
            self.consumer
                .committed_offsets(partitions.clone(), Duration::from_secs(10))
        })
        .map_err(|e| StreamsError::kafka("reading committed offsets to rewind to", e))
    }

    /// The consumer's position in each assigned partition (empty when librdkafka cannot say).
    pub(crate) fn positions(&self) -> HashMap<(String, i32), i64> {
        self.consumer
            .position()
            .map(|tpl| {
                tpl.elements()
                    .iter()
                    .filter_map(|e| match e.offset() {
                        Offset::Offset(o) => Some(((e.topic().to_owned(), e.partition()), o)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asks the broker for the end offsets of the partitions paused because their buffers are
    /// full: the consumer's statistics stop following a partition it does not fetch, so the
    /// lag of exactly the partitions that fall behind would freeze. At most once a second, in
    /// one round trip per paused partition.
    pub(crate) fn refresh_paused_end_offsets(&mut self) {
        if self.paused.is_empty() || self.last_end_offsets_query.elapsed() < Duration::from_secs(1)
        {
            return;
        }
        self.last_end_offsets_query = Instant::now();
        for (topic, partition) in &self.paused {
            match self
                .consumer
                .fetch_watermarks(topic, *partition, Duration::from_millis(500))
            {
                Ok((_, high)) if high >= 0 => self.shared.raise_end_offset(topic, *partition, high),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(thread = %self.thread, error = %e, %topic, partition, "end offset of a paused partition");
                }
            }
        }
    }
}

/// The fewest records any input partition's queue still has room for, among those not full
/// (the full ones are paused before polling, so nothing of theirs is fetched).
fn room(tasks: &BTreeMap<TaskId, StreamTask>) -> usize {
    let mut room = usize::MAX;
    for task in tasks.values() {
        let max = task.max_buffered_per_partition();
        for (topic, partition) in task.input_partitions() {
            let buffered = task.buffered_in(topic, partition);
            if buffered < max {
                room = room.min(max - buffered);
            }
        }
    }
    room
}

/// The partitions as a topic-partition list.
pub(crate) fn partition_list<'a>(
    partitions: impl IntoIterator<Item = (&'a str, i32)>,
) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in partitions {
        tpl.add_partition(topic, partition);
    }
    tpl
}

/// Source topic -> (interned name, sub-topology index). A list searched by comparing names:
/// an application reads a handful of topics, and this lookup runs once per polled record,
/// where hashing the name cost more than comparing it.
#[derive(Default)]
struct TopicIndex(Vec<(String, (Arc<str>, usize))>);

impl TopicIndex {
    fn insert(&mut self, topic: String, entry: (Arc<str>, usize)) {
        match self.0.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, e)) => *e = entry,
            None => self.0.push((topic, entry)),
        }
    }

    fn get(&self, topic: &str) -> Option<&(Arc<str>, usize)> {
        self.get_bytes(topic.as_bytes())
    }

    fn get_bytes(&self, topic: &[u8]) -> Option<&(Arc<str>, usize)> {
        self.0
            .iter()
            .find(|(t, _)| t.as_bytes() == topic)
            .map(|(_, e)| e)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(t, _)| t.as_str())
    }
}

/// Whether the consumer still has a member id from the group coordinator.
#[allow(unsafe_code)]
fn has_member_id(consumer: &StreamsConsumer) -> bool {
    use rdkafka::bindings as rdsys;
    // SAFETY: the client pointer is valid while `consumer` lives; librdkafka returns a copy
    // (or null) that the caller frees with `rd_kafka_mem_free`.
    unsafe {
        let rk = consumer.client().native_ptr();
        let id = rdsys::rd_kafka_memberid(rk);
        if id.is_null() {
            return false;
        }
        let present = *id != 0;
        rdsys::rd_kafka_mem_free(rk, id.cast());
        present
    }
}
