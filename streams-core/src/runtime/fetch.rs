//! Batch consumption for the stream thread.
//!
//! rdkafka's `BaseConsumer::poll` hands out one record per call, and each call pays for a
//! round trip through librdkafka's event API: clock reads, the queue's lock, an event wrapper
//! and its reference-counted allocation, and an update of the partition's position under the
//! partition's lock. The stream thread instead forwards the fetch queue of every partition it
//! is assigned to a queue of its own ([`FetchQueue`]) and takes up to a round's worth of
//! records from it in one `rd_kafka_consume_batch_queue` call, which updates each partition's
//! position once per batch.
//!
//! The consumer's own queue still carries everything else: rebalances, errors, statistics,
//! and the records fetched for a partition before the thread forwarded it (librdkafka starts
//! fetching as soon as a partition is assigned). Those come before anything of the same
//! partition in the fetch queue, so the thread empties the consumer's queue first and reads
//! the fetch queue only when it is empty.
//!
//! librdkafka (2.x) forgets the forwarding when a partition is revoked but remembers that the
//! application once forwarded it, and then does not route it to the consumer's queue on the
//! next assignment either: the thread forwards every newly assigned partition again, and the
//! records fetched in between wait in the partition's queue and move over then.
//!
//! To block while idle, both queues write a byte to a socket pair when they turn non-empty
//! (librdkafka's I/O event), and the thread waits on that socket.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io::Read;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::BorrowedMessage;

use crate::error::{Result, StreamsError};
use crate::record::Headers;

/// The queue a stream thread's assigned partitions forward their records to, and the
/// consumer's own queue beside it.
pub(crate) struct FetchQueue {
    records: NonNull<rdsys::rd_kafka_queue_t>,
    consumer: NonNull<rdsys::rd_kafka_queue_t>,
    /// Read end of the wake-up socket pair; librdkafka writes to `_waker`.
    wake: UnixStream,
    _waker: UnixStream,
}

// SAFETY: librdkafka's queue handles may be used from any thread (their operations lock the
// queue); the thread that owns a `FetchQueue` is the only one that reads from it.
unsafe impl Send for FetchQueue {}

impl FetchQueue {
    /// A fetch queue for `consumer`, which must be a group consumer (with a `group.id`). It
    /// must be dropped before the consumer.
    pub(crate) fn new<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> Result<Self> {
        let rk = consumer.client().native_ptr();
        let (wake, waker) = UnixStream::pair()
            .map_err(|e| StreamsError::io("creating the stream thread's wake-up socket", e))?;
        waker
            .set_nonblocking(true)
            .map_err(|e| StreamsError::io("setting up the stream thread's wake-up socket", e))?;
        // SAFETY: `rk` is the live client handle of `consumer`; both calls return new handles
        // (or null), released in `drop`.
        let (records, own) = unsafe {
            (
                rdsys::rd_kafka_queue_new(rk),
                rdsys::rd_kafka_queue_get_consumer(rk),
            )
        };
        let (Some(records), Some(consumer)) = (NonNull::new(records), NonNull::new(own)) else {
            // SAFETY: whichever handle was returned is released once.
            unsafe {
                if !records.is_null() {
                    rdsys::rd_kafka_queue_destroy(records);
                }
                if !own.is_null() {
                    rdsys::rd_kafka_queue_destroy(own);
                }
            }
            return Err(StreamsError::IllegalState(
                "the stream thread's consumer has no consumer group queue".into(),
            ));
        };
        let payload = [1u8];
        for q in [records, consumer] {
            // SAFETY: the queue handle is live; librdkafka copies the payload and writes it to
            // the socket, which stays open until `drop` has disabled the event.
            unsafe {
                rdsys::rd_kafka_queue_io_event_enable(
                    q.as_ptr(),
                    waker.as_raw_fd(),
                    payload.as_ptr().cast(),
                    payload.len(),
                );
            }
        }
        Ok(Self {
            records,
            consumer,
            wake,
            _waker: waker,
        })
    }

    /// Forwards the fetch queues of newly assigned partitions to this queue.
    pub(crate) fn forward<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        partitions: &[(String, i32)],
    ) {
        let rk = consumer.client().native_ptr();
        for (topic, partition) in partitions {
            let Ok(name) = CString::new(topic.as_str()) else {
                continue;
            };
            // SAFETY: `rk` is live; the partition queue handle is released right after
            // forwarding, which keeps its own reference to this queue.
            unsafe {
                let q = rdsys::rd_kafka_queue_get_partition(rk, name.as_ptr(), *partition);
                if q.is_null() {
                    tracing::warn!(
                        topic,
                        partition,
                        "no fetch queue for an assigned partition; its records stay on the consumer's queue"
                    );
                    continue;
                }
                rdsys::rd_kafka_queue_forward(q, self.records.as_ptr());
                rdsys::rd_kafka_queue_destroy(q);
            }
        }
    }

    /// How many events and records wait in the consumer's own queue.
    pub(crate) fn consumer_queue_len(&self) -> usize {
        // SAFETY: the handle is live.
        unsafe { rdsys::rd_kafka_queue_length(self.consumer.as_ptr()) }
    }

    /// Takes up to `max` records (or per-partition errors) from the fetch queue, without
    /// waiting.
    pub(crate) fn take(&mut self, max: usize) -> Fetched {
        let mut messages: Vec<*mut rdsys::rd_kafka_message_t> = Vec::with_capacity(max);
        // SAFETY: the array has room for `max` pointers; librdkafka fills the first `n`.
        let n = unsafe {
            rdsys::rd_kafka_consume_batch_queue(
                self.records.as_ptr(),
                0,
                messages.as_mut_ptr(),
                max,
            )
        };
        // SAFETY: librdkafka wrote `n` (at most `max`) message pointers; -1 means none.
        unsafe { messages.set_len(n.clamp(0, max as isize) as usize) };
        Fetched(messages)
    }

    /// Waits up to `timeout` for either queue to turn non-empty.
    pub(crate) fn wait(&mut self, timeout: Duration) {
        if timeout.is_zero() || self.wake.set_read_timeout(Some(timeout)).is_err() {
            return;
        }
        let mut buf = [0u8; 16];
        // A timeout, or a byte per queue that turned non-empty: either way the caller polls.
        let _ = self.wake.read(&mut buf);
    }
}

impl Drop for FetchQueue {
    fn drop(&mut self) {
        // SAFETY: the handles are live and released once; disabling the I/O events first
        // means librdkafka writes to the socket no more once it closes.
        unsafe {
            for q in [self.records, self.consumer] {
                rdsys::rd_kafka_queue_io_event_enable(q.as_ptr(), -1, std::ptr::null(), 0);
            }
            rdsys::rd_kafka_queue_destroy(self.records.as_ptr());
            rdsys::rd_kafka_queue_destroy(self.consumer.as_ptr());
        }
    }
}

/// Messages taken from a [`FetchQueue`], handed back to librdkafka on drop.
pub(crate) struct Fetched(Vec<*mut rdsys::rd_kafka_message_t>);

impl Fetched {
    /// How many messages were taken.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The messages, in the order librdkafka queued them.
    pub(crate) fn iter(&self) -> impl Iterator<Item = MessageRef<'_>> {
        // SAFETY: each pointer is a message librdkafka handed out, and `self` destroys them
        // only on drop, after the borrow.
        self.0.iter().map(|m| unsafe { MessageRef::from_raw(*m) })
    }
}

impl Drop for Fetched {
    fn drop(&mut self) {
        for m in self.0.drain(..) {
            // SAFETY: each message is destroyed once, here.
            unsafe { rdsys::rd_kafka_message_destroy(m) };
        }
    }
}

/// A consumed message, read through librdkafka's public message struct.
///
/// It keeps librdkafka's raw pointer rather than a Rust reference: the header check reads
/// past the public struct, into the private one around it, which a reference to the public
/// struct alone would not cover.
#[derive(Clone, Copy)]
pub(crate) struct MessageRef<'a> {
    ptr: NonNull<rdsys::rd_kafka_message_t>,
    _message: PhantomData<&'a rdsys::rd_kafka_message_t>,
}

impl<'a> MessageRef<'a> {
    /// The message behind one of rdkafka's borrowed messages.
    pub(crate) fn of(message: &'a BorrowedMessage<'_>) -> Self {
        // SAFETY: the borrowed message owns the librdkafka message for its lifetime.
        unsafe { Self::from_raw(message.ptr()) }
    }

    /// # Safety
    /// `ptr` must be a live consumed message that outlives `'a`.
    unsafe fn from_raw(ptr: *mut rdsys::rd_kafka_message_t) -> Self {
        Self {
            ptr: NonNull::new(ptr).expect("librdkafka handed out a null message"),
            _message: PhantomData,
        }
    }

    /// The public fields.
    fn fields(&self) -> &'a rdsys::rd_kafka_message_t {
        // SAFETY: the message is live for `'a` (see the constructors).
        unsafe { self.ptr.as_ref() }
    }

    /// The error this message carries instead of a record, if any.
    pub(crate) fn error(&self) -> Option<RDKafkaErrorCode> {
        let err = self.fields().err;
        (err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR).then(|| err.into())
    }

    /// The topic's name as bytes (empty if the message has no topic).
    pub(crate) fn topic(&self) -> &'a [u8] {
        let rkt = self.fields().rkt;
        if rkt.is_null() {
            return &[];
        }
        // SAFETY: the message holds a reference to its topic, whose name is a NUL-terminated
        // string that lives as long as the topic.
        unsafe { CStr::from_ptr(rdsys::rd_kafka_topic_name(rkt)) }.to_bytes()
    }

    pub(crate) fn partition(&self) -> i32 {
        self.fields().partition
    }

    pub(crate) fn offset(&self) -> i64 {
        self.fields().offset
    }

    /// The record's timestamp (create or log-append time), `-1` when it has none.
    pub(crate) fn timestamp(&self) -> i64 {
        let mut kind = rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: the message is live; librdkafka writes the kind.
        let t = unsafe { rdsys::rd_kafka_message_timestamp(self.ptr.as_ptr(), &mut kind) };
        if kind == rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE {
            -1
        } else {
            t
        }
    }

    /// The key, `None` for a null key.
    pub(crate) fn key(&self) -> Option<&'a [u8]> {
        // SAFETY: librdkafka's key pointer and length describe bytes the message keeps alive.
        unsafe { bytes(self.fields().key, self.fields().key_len) }
    }

    /// The value, `None` for a null value (a tombstone).
    pub(crate) fn payload(&self) -> Option<&'a [u8]> {
        // SAFETY: as for the key.
        unsafe { bytes(self.fields().payload, self.fields().len) }
    }

    /// A copy of the record's headers.
    pub(crate) fn headers(&self) -> Headers {
        let mut out = Headers::new();
        if self.surely_without_headers() {
            return out;
        }
        let mut hdrs = std::ptr::null_mut();
        // SAFETY: the message is live; the headers librdkafka parses belong to the message.
        let err = unsafe { rdsys::rd_kafka_message_headers(self.ptr.as_ptr(), &mut hdrs) };
        if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || hdrs.is_null() {
            return out;
        }
        for idx in 0.. {
            let mut name = std::ptr::null();
            let mut value = std::ptr::null();
            let mut size = 0usize;
            // SAFETY: `hdrs` is live with the message; librdkafka writes a NUL-terminated
            // name and the value's pointer (null for a null value) and size.
            let err = unsafe {
                rdsys::rd_kafka_header_get_all(hdrs, idx, &mut name, &mut value, &mut size)
            };
            if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                break;
            }
            // SAFETY: as above.
            let key = unsafe { CStr::from_ptr(name) }.to_string_lossy();
            // SAFETY: as above.
            let value = unsafe { bytes(value.cast_mut(), size) }.map(<[u8]>::to_vec);
            out.add(key.into_owned(), value);
        }
        out
    }

    /// Whether the message surely has no headers, decided without asking librdkafka.
    ///
    /// librdkafka parses a consumed record's headers on the first `rd_kafka_message_headers`
    /// call, and for a record without headers that call allocates, zeroes and frees a parse
    /// buffer just to read the count 0: about 8% of the CPU of a filter-and-map topology at
    /// 100-byte records (`perf record` of the benchmark contestant). In the v2 record format
    /// the headers directly follow the value, starting with their count as a varint, and
    /// librdkafka notes where they start and how long they are. This reads that note and
    /// trusts it only when it points exactly at the end of the value and is one byte long:
    /// then that byte is the header count, and 0 means none. With any other layout (another
    /// librdkafka version) the check fails and [`Self::headers`] asks librdkafka as before;
    /// the unit test `consumed_messages_without_headers_are_recognised` checks that it holds
    /// for the linked version. The offsets are read only when the librdkafka linked at run
    /// time is the version they were checked against ([`LAYOUT_CHECKED_VERSION`]); with any
    /// other the answer is false, and the headers are parsed by librdkafka.
    #[cfg(target_pointer_width = "64")]
    pub(crate) fn surely_without_headers(&self) -> bool {
        if !layout_checked() {
            return false;
        }
        let m = self.fields();
        if m.payload.is_null() {
            return false;
        }
        // SAFETY: the value's pointer and length describe one buffer; its end is computed,
        // not read.
        let value_end = unsafe { m.payload.cast::<u8>().add(m.len) }.cast_const();
        // librdkafka's own pointer, whose provenance covers the whole `rd_kafka_op_t`.
        let base = self.ptr.as_ptr().cast::<u8>().cast_const();
        // SAFETY: a consumed message is the first field of librdkafka's `rd_kafka_msg_t`,
        // which lives inside a larger `rd_kafka_op_t` allocation (several hundred bytes in
        // librdkafka 2.x) that outlives the message: the 16 bytes at these offsets are inside
        // it. They are read as plain integers, and the pointer is only compared here, not
        // followed.
        let (len, data) = unsafe {
            (
                std::ptr::read_unaligned(base.add(BINHDRS_LEN_OFFSET).cast::<i32>()),
                std::ptr::read_unaligned(base.add(BINHDRS_DATA_OFFSET).cast::<*const u8>()),
            )
        };
        // SAFETY: `data` equals the end of the value and the length is 1: it is the header
        // count byte of the same v2 record, inside the fetch buffer the message keeps alive.
        len == 1 && std::ptr::eq(data, value_end) && unsafe { *data } == 0
    }

    #[cfg(not(target_pointer_width = "64"))]
    pub(crate) fn surely_without_headers(&self) -> bool {
        false
    }
}

/// Where librdkafka 2.x keeps a consumed record's unparsed headers in its private message
/// struct (`rd_kafka_msg_t.rkm_u.consumer.binhdrs`, after the public `rd_kafka_message_t`):
/// a 32-bit length, then a pointer (64-bit targets).
#[cfg(target_pointer_width = "64")]
const BINHDRS_LEN_OFFSET: usize = 120;
/// The librdkafka version (`rd_kafka_version()`: 0xMMmmrrpp) whose private message layout
/// [`BINHDRS_LEN_OFFSET`] and [`BINHDRS_DATA_OFFSET`] were read from: 2.12.1, which
/// rdkafka-sys 4.10 bundles and builds.
#[cfg(target_pointer_width = "64")]
const LAYOUT_CHECKED_VERSION: i32 = 0x020c_01ff;

/// Whether the librdkafka linked at run time is [`LAYOUT_CHECKED_VERSION`]; asked once.
#[cfg(target_pointer_width = "64")]
fn layout_checked() -> bool {
    static CHECKED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    // SAFETY: `rd_kafka_version` takes nothing and returns a constant.
    *CHECKED.get_or_init(|| unsafe { rdsys::rd_kafka_version() } == LAYOUT_CHECKED_VERSION)
}
#[cfg(target_pointer_width = "64")]
const BINHDRS_DATA_OFFSET: usize = 128;

/// The bytes at `ptr`, `None` for a null pointer.
///
/// # Safety
/// A non-null `ptr` must point at `len` readable bytes that live for `'a`.
unsafe fn bytes<'a>(ptr: *mut std::ffi::c_void, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: the caller's promise.
        Some(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::config::ClientConfig;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    use std::time::Instant;

    const PER_PARTITION: i64 = 100;

    /// librdkafka's embedded mock cluster with one topic of `partitions`, its address, and a
    /// producer to it.
    fn mock_topic(
        topic: &str,
        partitions: i32,
    ) -> (
        MockCluster<'static, DefaultProducerContext>,
        String,
        BaseProducer,
    ) {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic(topic, partitions, 1).unwrap();
        let bootstrap = mock.bootstrap_servers();
        let producer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .unwrap();
        (mock, bootstrap, producer)
    }

    /// Reads every record of `topic`'s two partitions the way the stream thread does: the
    /// consumer's queue while it holds anything, then the fetch queue. Returns each record's
    /// (partition, offset, key) in arrival order and how many came through the fetch queue.
    fn read_all(
        consumer: &BaseConsumer,
        fetch: &mut FetchQueue,
        want: usize,
    ) -> (Vec<(i32, i64, Vec<u8>)>, usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        let mut from_fetch = 0;
        while seen.len() < want {
            assert!(
                Instant::now() < deadline,
                "only {} records came",
                seen.len()
            );
            while fetch.consumer_queue_len() > 0 {
                if let Some(m) = consumer.poll(Duration::ZERO) {
                    let m = m.unwrap();
                    seen.push((m.partition(), m.offset(), m.key().unwrap().to_vec()));
                }
            }
            let batch = fetch.take(64);
            for m in batch.iter() {
                assert_eq!(m.error(), None);
                assert_eq!(m.topic(), b"fetch");
                seen.push((m.partition(), m.offset(), m.key().unwrap().to_vec()));
                from_fetch += 1;
            }
            if batch.len() == 0 {
                fetch.wait(Duration::from_millis(50));
            }
        }
        (seen, from_fetch)
    }

    /// Each partition's records come exactly once and in offset order, with their keys.
    fn assert_complete_and_ordered(seen: &[(i32, i64, Vec<u8>)]) {
        for p in 0..2 {
            let got: Vec<(i64, Vec<u8>)> = seen
                .iter()
                .filter(|(q, _, _)| *q == p)
                .map(|(_, o, k)| (*o, k.clone()))
                .collect();
            let want: Vec<(i64, Vec<u8>)> = (0..PER_PARTITION)
                .map(|o| (o, format!("{p}-{o}").into_bytes()))
                .collect();
            assert_eq!(got, want, "partition {p}");
        }
    }

    /// The forwarding the stream thread relies on, against the linked librdkafka: records
    /// fetched before a partition is forwarded stay on the consumer's queue and come first;
    /// the rest come through the fetch queue; and after the partitions are revoked and
    /// assigned again, forwarding them again brings their records back.
    #[test]
    fn assigned_partitions_forward_to_the_fetch_queue() {
        let (_mock, bootstrap, producer) = mock_topic("fetch", 2);
        let produce = |offsets: std::ops::Range<i64>| {
            for o in offsets {
                for p in 0..2 {
                    let key = format!("{p}-{o}");
                    producer
                        .send(
                            BaseRecord::to("fetch")
                                .partition(p)
                                .key(key.as_bytes())
                                .payload("v"),
                        )
                        .map_err(|(e, _)| e)
                        .unwrap();
                }
            }
            producer.flush(Duration::from_secs(10)).unwrap();
        };
        produce(0..PER_PARTITION / 2);

        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "fetch-test")
            .create()
            .unwrap();
        let mut fetch = FetchQueue::new(&consumer).unwrap();
        let partitions = vec![("fetch".to_owned(), 0), ("fetch".to_owned(), 1)];
        let mut tpl = TopicPartitionList::new();
        for (t, p) in &partitions {
            tpl.add_partition_offset(t, *p, Offset::Beginning).unwrap();
        }

        // Assigned, and fetching, before the forwarding.
        consumer.assign(&tpl).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let first = loop {
            assert!(Instant::now() < deadline, "nothing was fetched");
            if let Some(m) = consumer.poll(Duration::from_millis(10)) {
                let m = m.unwrap();
                break (m.partition(), m.offset(), m.key().unwrap().to_vec());
            }
        };
        fetch.forward(&consumer, &partitions);
        produce(PER_PARTITION / 2..PER_PARTITION);
        let (rest, from_fetch) = read_all(&consumer, &mut fetch, 2 * PER_PARTITION as usize - 1);
        let seen: Vec<_> = std::iter::once(first).chain(rest).collect();
        assert_complete_and_ordered(&seen);
        assert!(
            from_fetch > 0 && from_fetch < seen.len(),
            "{from_fetch} of {} records came through the fetch queue",
            seen.len()
        );

        // Revoked and assigned again: the partitions forward again, and everything comes
        // through the fetch queue.
        consumer.unassign().unwrap();
        consumer.assign(&tpl).unwrap();
        fetch.forward(&consumer, &partitions);
        let (seen, from_fetch) = read_all(&consumer, &mut fetch, 2 * PER_PARTITION as usize);
        assert_complete_and_ordered(&seen);
        assert_eq!(from_fetch, seen.len());
        drop(fetch);
    }

    /// Records with and without headers, read back through librdkafka from its embedded
    /// mock cluster: the fast check recognises exactly the ones without headers that have a
    /// value, and the copied headers are exact either way.
    #[test]
    fn consumed_messages_without_headers_are_recognised() {
        // The private layout was checked against the linked librdkafka: a newer rdkafka-sys
        // fails here until the offsets are checked again and the version constant moved on.
        assert!(
            layout_checked(),
            "librdkafka {:#010x} is linked; the header-count shortcut was checked against {:#010x}",
            unsafe { rdsys::rd_kafka_version() },
            LAYOUT_CHECKED_VERSION
        );
        let (_mock, bootstrap, producer) = mock_topic("headers", 1);
        let long = vec![b'x'; 300];
        let one = Headers::new().with("h", "1");
        let mut two = Headers::new().with("a", "");
        two.add("b", None);
        // (value, headers, whether the fast check may say "none")
        let cases: Vec<(Option<&[u8]>, Headers, bool)> = vec![
            (Some(b"plain"), Headers::new(), true),
            (Some(b"with one"), one, false),
            // librdkafka points an empty value at a static empty string, not into the
            // record: the check cannot tell, and asks librdkafka.
            (Some(b""), Headers::new(), false),
            (None, Headers::new(), false),
            (Some(b"with two"), two, false),
            (Some(&long), Headers::new(), true),
            (None, Headers::new().with("tomb", "stone"), false),
        ];
        for (value, headers, _) in &cases {
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to("headers").key(b"k");
            if let Some(v) = value {
                record = record.payload(*v);
            }
            if !headers.is_empty() {
                record =
                    record.headers(crate::runtime::record_collector::to_kafka_headers(headers));
            }
            producer.send(record).map_err(|(e, _)| e).unwrap();
        }
        producer.flush(Duration::from_secs(10)).unwrap();

        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "headers-test")
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("headers", 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut seen = 0;
        while seen < cases.len() {
            assert!(
                std::time::Instant::now() < deadline,
                "only {seen} records came back"
            );
            let Some(m) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let m = m.unwrap();
            let (value, headers, none) = &cases[m.offset() as usize];
            assert_eq!(m.payload(), *value);
            let view = MessageRef::of(&m);
            assert_eq!(view.payload(), *value);
            assert_eq!(
                view.surely_without_headers(),
                *none,
                "record {}",
                m.offset()
            );
            assert_eq!(&view.headers(), headers, "record {}", m.offset());
            seen += 1;
        }
    }
}
