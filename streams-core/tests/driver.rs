//! Processor API, punctuation, ordering and error handling, on the broker-free test driver.

use std::time::Duration;

use streams_core::handlers::dlq_headers;
use streams_core::processor::{
    Processor, ProcessorContext, ProcessorError, PunctuationType, PunctuatorId,
};
use streams_core::serde::{BytesSerde, I64Serde, JsonSerde, Nullable, Serde, StringSerde};
use streams_core::store::{StoreBuilder, StoreContext, StoreInstance};
use streams_core::test_driver::TopologyTestDriver;
use streams_core::timestamp::LogAndSkipOnInvalidTimestamp;
use streams_core::{Record, SerdeError, StreamsConfig, StreamsError, Topology};

fn config() -> StreamsConfig {
    StreamsConfig::new("driver-test", "unused:9092")
}

fn s(v: &str) -> String {
    v.to_owned()
}

/// Upper-cases values and drops empty ones.
struct UpperNonEmpty;

impl Processor<String, String, String, String> for UpperNonEmpty {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        if !r.value.is_empty() {
            let v = r.value.to_uppercase();
            ctx.forward(r.with_value(v))?;
        }
        Ok(())
    }
}

#[test]
fn processor_forwards_with_key_value_and_timestamp() -> Result<(), StreamsError> {
    let mut t = Topology::new();
    t.add_source("src", &["in"], StringSerde, StringSerde)?
        .add_processor("upper", || UpperNonEmpty, &["src"])?
        .add_sink("sink", "out", StringSerde, StringSerde, &["upper"])?;
    let driver = TopologyTestDriver::new(t, config())?;
    let input = driver.input_topic("in", StringSerde, StringSerde);
    let output = driver.output_topic("out", StringSerde, StringSerde);
    input.pipe(s("a"), s("one"), 10)?;
    input.pipe(s("b"), s(""), 11)?;
    input.pipe(s("c"), s("three"), 9)?;
    assert_eq!(
        output.read_key_values_with_time()?,
        vec![(s("a"), s("ONE"), 10), (s("c"), s("THREE"), 9)]
    );
    Ok(())
}

/// Routes even numbers to child `evens`, odd ones to `odds`.
struct Router;

impl Processor<String, i64, String, i64> for Router {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        r: Record<String, i64>,
    ) -> Result<(), ProcessorError> {
        let child = if r.value % 2 == 0 { "evens" } else { "odds" };
        ctx.forward_to(child, r)?;
        Ok(())
    }
}

#[test]
fn forward_to_a_named_child() -> Result<(), StreamsError> {
    let mut t = Topology::new();
    t.add_source("src", &["numbers"], StringSerde, I64Serde)?
        .add_processor("router", || Router, &["src"])?
        .add_sink("evens", "even-numbers", StringSerde, I64Serde, &["router"])?
        .add_sink("odds", "odd-numbers", StringSerde, I64Serde, &["router"])?;
    let driver = TopologyTestDriver::new(t, config())?;
    let input = driver.input_topic("numbers", StringSerde, I64Serde);
    for (i, n) in [4i64, 7, 10, 13].into_iter().enumerate() {
        input.pipe(format!("k{i}"), n, 100 + i as i64)?;
    }
    let evens = driver
        .output_topic("even-numbers", StringSerde, I64Serde)
        .read_key_values_with_time()?;
    let odds = driver
        .output_topic("odd-numbers", StringSerde, I64Serde)
        .read_key_values_with_time()?;
    assert_eq!(evens, vec![(s("k0"), 4, 100), (s("k2"), 10, 102)]);
    assert_eq!(odds, vec![(s("k1"), 7, 101), (s("k3"), 13, 103)]);
    Ok(())
}

/// Forwarding to a child that does not exist is an error naming the children.
struct Misrouter;

impl Processor<String, String, String, String> for Misrouter {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        ctx.forward_to("nowhere", r)?;
        Ok(())
    }
}

#[test]
fn forward_to_an_unknown_child_fails_with_the_children_listed() -> Result<(), StreamsError> {
    let mut t = Topology::new();
    t.add_source("src", &["in"], StringSerde, StringSerde)?
        .add_processor("mis", || Misrouter, &["src"])?
        .add_sink("sink", "out", StringSerde, StringSerde, &["mis"])?;
    let driver = TopologyTestDriver::new(t, config())?;
    let err = driver
        .input_topic("in", StringSerde, StringSerde)
        .pipe(s("k"), s("v"), 1)
        .expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "invalid topology: processor `mis` forwarded to `nowhere`, which is not one of its children [\"sink\"]"
    );
    Ok(())
}

/// Counts records and emits the count at each punctuation, with the punctuation's time.
struct CountPunctuator {
    kind: PunctuationType,
    interval: Duration,
    count: i64,
    id: Option<PunctuatorId>,
    cancel_after: Option<u32>,
    fired: u32,
}

impl CountPunctuator {
    fn new(kind: PunctuationType, interval_ms: u64, cancel_after: Option<u32>) -> Self {
        CountPunctuator {
            kind,
            interval: Duration::from_millis(interval_ms),
            count: 0,
            id: None,
            cancel_after,
            fired: 0,
        }
    }
}

impl Processor<String, String, String, i64> for CountPunctuator {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> Result<(), ProcessorError> {
        self.id = Some(ctx.schedule(self.interval, self.kind)?);
        Ok(())
    }

    fn process(
        &mut self,
        _: &mut ProcessorContext<'_, String, i64>,
        _: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        self.count += 1;
        Ok(())
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        id: PunctuatorId,
        ts: i64,
    ) -> Result<(), ProcessorError> {
        assert_eq!(Some(id), self.id);
        ctx.forward(Record::new(s("count"), self.count, ts))?;
        self.fired += 1;
        if self.cancel_after == Some(self.fired) {
            ctx.cancel(id);
        }
        Ok(())
    }
}

fn punctuating_topology(
    p: impl Fn() -> CountPunctuator + Send + Sync + 'static,
) -> Result<Topology, StreamsError> {
    let mut t = Topology::new();
    t.add_source("src", &["in"], StringSerde, StringSerde)?
        .add_processor("counter", p, &["src"])?
        .add_sink("sink", "counts", StringSerde, I64Serde, &["counter"])?;
    Ok(t)
}

#[test]
fn stream_time_punctuation_fires_as_stream_time_advances() -> Result<(), StreamsError> {
    let t = punctuating_topology(|| CountPunctuator::new(PunctuationType::StreamTime, 10, None))?;
    let driver = TopologyTestDriver::new(t, config())?;
    let input = driver.input_topic("in", StringSerde, StringSerde);
    let counts = driver.output_topic("counts", StringSerde, I64Serde);
    // Aligned to the epoch: due at 0, then 10, 20, ...; a gap skips the missed ones.
    for ts in [5, 12, 13, 8, 31] {
        input.pipe(s("k"), s("v"), ts)?;
    }
    assert_eq!(
        counts.read_key_values_with_time()?,
        vec![(s("count"), 1, 5), (s("count"), 2, 12), (s("count"), 5, 31)]
    );
    // Wall-clock time does not drive stream-time punctuation.
    driver.advance_wall_clock_time(Duration::from_secs(60))?;
    assert!(counts.is_empty());
    Ok(())
}

#[test]
fn wall_clock_punctuation_fires_when_the_clock_advances_and_stops_when_cancelled()
-> Result<(), StreamsError> {
    let t = punctuating_topology(|| {
        CountPunctuator::new(PunctuationType::WallClockTime, 1000, Some(2))
    })?;
    let driver = TopologyTestDriver::new(t, config())?;
    let input = driver.input_topic("in", StringSerde, StringSerde);
    let counts = driver.output_topic("counts", StringSerde, I64Serde);
    input.pipe(s("k"), s("v"), 1)?;
    driver.advance_wall_clock_time(Duration::from_millis(500))?;
    assert!(counts.is_empty(), "not due before one interval");
    driver.advance_wall_clock_time(Duration::from_millis(600))?;
    input.pipe(s("k"), s("v"), 2)?;
    driver.advance_wall_clock_time(Duration::from_millis(3000))?; // 4100: one firing, missed ones skipped
    driver.advance_wall_clock_time(Duration::from_millis(5000))?; // cancelled after the second
    assert_eq!(
        counts.read_key_values_with_time()?,
        vec![(s("count"), 1, 1100), (s("count"), 2, 4100)]
    );
    Ok(())
}

/// Passes records through, for ordering tests.
struct Pass;

impl Processor<String, String, String, String> for Pass {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        let origin = ctx
            .record_metadata()
            .map(|m| format!("{}@{}", m.topic, m.offset))
            .unwrap_or_default();
        ctx.forward(r.with_key(origin))?;
        Ok(())
    }
}

#[test]
fn a_task_takes_the_lowest_timestamp_across_its_partitions() -> Result<(), StreamsError> {
    let mut t = Topology::new();
    t.add_source("left", &["left"], StringSerde, StringSerde)?
        .add_source("right", &["right"], StringSerde, StringSerde)?
        .add_processor("merge", || Pass, &["left", "right"])?
        .add_sink("sink", "merged", StringSerde, StringSerde, &["merge"])?;
    assert_eq!(
        t.subtopologies().len(),
        1,
        "both sources feed one processor: one task"
    );
    let driver = TopologyTestDriver::new(t, config())?;
    let left = driver.input_topic("left", StringSerde, StringSerde);
    let right = driver.input_topic("right", StringSerde, StringSerde);
    left.buffer(s("k"), s("l0"), 10)?;
    left.buffer(s("k"), s("l1"), 40)?;
    right.buffer(s("k"), s("r0"), 20)?;
    right.buffer(s("k"), s("r1"), 30)?;
    left.buffer(s("k"), s("l2"), 35)?; // out of order within its partition: stays behind l1
    driver.process_buffered()?;
    let out = driver
        .output_topic("merged", StringSerde, StringSerde)
        .read_key_values_with_time()?;
    assert_eq!(
        out,
        vec![
            (s("left@0"), s("l0"), 10),
            (s("right@0"), s("r0"), 20),
            (s("right@1"), s("r1"), 30),
            (s("left@1"), s("l1"), 40),
            (s("left@2"), s("l2"), 35),
        ]
    );
    Ok(())
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Payment {
    user: String,
    cents: i64,
}

/// Fails on negative payments, forwards the rest.
struct RejectNegative;

impl Processor<String, Payment, String, Payment> for RejectNegative {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, Payment>,
        r: Record<String, Payment>,
    ) -> Result<(), ProcessorError> {
        if r.value.cents < 0 {
            return Err(format!("negative amount {}", r.value.cents).into());
        }
        ctx.forward(r)?;
        Ok(())
    }
}

fn payments_topology() -> Result<Topology, StreamsError> {
    let mut t = Topology::new();
    t.add_source(
        "payments",
        &["payments"],
        StringSerde,
        JsonSerde::<Payment>::new(),
    )?
    .add_processor("check", || RejectNegative, &["payments"])?
    .add_sink(
        "sink",
        "checked",
        StringSerde,
        JsonSerde::<Payment>::new(),
        &["check"],
    )?;
    Ok(t)
}

fn pay(user: &str, cents: i64) -> Vec<u8> {
    serde_json::to_vec(&Payment {
        user: user.into(),
        cents,
    })
    .expect("json")
}

#[test]
fn deserialization_errors_fail_by_default_naming_the_record() -> Result<(), StreamsError> {
    let driver = TopologyTestDriver::new(payments_topology()?, config())?;
    let input = driver.input_topic("payments", BytesSerde, BytesSerde);
    input.pipe_raw(Some(b"u1".to_vec()), Some(pay("u1", 5)), 1)?;
    let err = input
        .pipe_raw(Some(b"u1".to_vec()), Some(b"{oops".to_vec()), 2)
        .expect_err("must fail");
    assert!(
        err.to_string()
            .starts_with("deserialization failed for the record at payments-0@1: invalid JSON for"),
        "{err}"
    );
    Ok(())
}

#[test]
fn log_and_continue_skips_and_counts_bad_records() -> Result<(), StreamsError> {
    let config = config()
        .set(
            "default.deserialization.exception.handler",
            "log-and-continue",
        )?
        .set("processing.exception.handler", "log-and-continue")?;
    let driver = TopologyTestDriver::new(payments_topology()?, config)?;
    let input = driver.input_topic("payments", BytesSerde, BytesSerde);
    input.pipe_raw(Some(b"u1".to_vec()), Some(pay("u1", 5)), 1)?;
    input.pipe_raw(Some(b"u2".to_vec()), Some(b"not json".to_vec()), 2)?;
    input.pipe_raw(Some(b"u3".to_vec()), Some(pay("u3", -7)), 3)?;
    input.pipe_raw(Some(b"u4".to_vec()), Some(pay("u4", 9)), 4)?;
    let out = driver
        .output_topic("checked", StringSerde, JsonSerde::<Payment>::new())
        .read_key_values_with_time()?;
    assert_eq!(
        out,
        vec![
            (
                s("u1"),
                Payment {
                    user: s("u1"),
                    cents: 5
                },
                1
            ),
            (
                s("u4"),
                Payment {
                    user: s("u4"),
                    cents: 9
                },
                4
            )
        ]
    );
    let counters = driver.task_counters("payments").expect("task");
    assert_eq!(
        (counters.processed, counters.dropped, counters.dead_lettered),
        (4, 2, 0)
    );
    Ok(())
}

fn header(r: &streams_core::test_driver::ProducedRecord, key: &str) -> String {
    let h = r
        .headers
        .last(key)
        .unwrap_or_else(|| panic!("header {key}"));
    String::from_utf8(h.value.clone().expect("value")).expect("utf8")
}

#[test]
fn dead_letter_queue_gets_the_raw_record_and_where_it_came_from() -> Result<(), StreamsError> {
    let config = config()
        .set(
            "default.deserialization.exception.handler",
            "dead-letter-queue",
        )?
        .set("processing.exception.handler", "dead-letter-queue")?
        .set("errors.dead.letter.queue.topic.name", "payments-dlq")?;
    let driver = TopologyTestDriver::new(payments_topology()?, config)?;
    let input = driver.input_topic("payments", BytesSerde, BytesSerde);
    input.pipe_raw(Some(b"u1".to_vec()), Some(b"{bad".to_vec()), 50)?;
    input.pipe_raw(Some(b"u2".to_vec()), Some(pay("u2", -1)), 60)?;
    input.pipe_raw(Some(b"u3".to_vec()), Some(pay("u3", 3)), 70)?;
    let dlq = driver.produced("payments-dlq");
    assert_eq!(dlq.len(), 2);
    assert_eq!(
        (
            dlq[0].key.as_deref(),
            dlq[0].value.as_deref(),
            dlq[0].timestamp
        ),
        (Some(&b"u1"[..]), Some(&b"{bad"[..]), 50)
    );
    assert_eq!(header(&dlq[0], dlq_headers::TOPIC), "payments");
    assert_eq!(header(&dlq[0], dlq_headers::PARTITION), "0");
    assert_eq!(header(&dlq[0], dlq_headers::OFFSET), "0");
    assert_eq!(header(&dlq[0], dlq_headers::EXCEPTION), "SerdeError");
    assert!(header(&dlq[0], dlq_headers::MESSAGE).starts_with("invalid JSON for"));
    assert_eq!(dlq[1].value.as_deref(), Some(&pay("u2", -1)[..]));
    assert_eq!(header(&dlq[1], dlq_headers::OFFSET), "1");
    assert_eq!(header(&dlq[1], dlq_headers::EXCEPTION), "ProcessorError");
    assert_eq!(header(&dlq[1], dlq_headers::MESSAGE), "negative amount -1");
    let out = driver
        .output_topic("checked", StringSerde, JsonSerde::<Payment>::new())
        .read_key_values()?;
    assert_eq!(
        out,
        vec![(
            s("u3"),
            Payment {
                user: s("u3"),
                cents: 3
            }
        )]
    );
    assert_eq!(
        driver
            .task_counters("payments")
            .expect("task")
            .dead_lettered,
        2
    );
    Ok(())
}

#[test]
fn dead_letter_handler_without_a_topic_is_refused_before_processing() -> Result<(), StreamsError> {
    let config = config().set(
        "default.deserialization.exception.handler",
        "dead-letter-queue",
    )?;
    let err = TopologyTestDriver::new(payments_topology()?, config).expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "invalid configuration `errors.dead.letter.queue.topic.name`: a dead-letter-queue handler is configured, \
         so a dead-letter topic name is required"
    );
    Ok(())
}

/// A serde whose serializer refuses values above 100.
struct Capped;

impl Serde<i64> for Capped {
    fn serialize_into(&self, _: &str, v: &i64, buf: &mut Vec<u8>) -> Result<bool, SerdeError> {
        if *v > 100 {
            return Err(SerdeError::new(format!("{v} is above the cap of 100")));
        }
        buf.extend_from_slice(&v.to_be_bytes());
        Ok(true)
    }
    fn deserialize(&self, t: &str, d: Option<&[u8]>) -> Result<i64, SerdeError> {
        I64Serde.deserialize(t, d)
    }
}

#[test]
fn serialization_errors_go_to_the_production_handler() -> Result<(), StreamsError> {
    let topology = || -> Result<Topology, StreamsError> {
        let mut t = Topology::new();
        t.add_source("src", &["in"], StringSerde, I64Serde)?
            .add_sink("sink", "out", StringSerde, Capped, &["src"])?;
        Ok(t)
    };
    let driver = TopologyTestDriver::new(topology()?, config())?;
    let err = driver
        .input_topic("in", StringSerde, I64Serde)
        .pipe(s("k"), 500, 1)
        .expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "production to topic `out` failed: serializing a record for topic `out` failed: 500 is above the cap of 100"
    );

    let driver = TopologyTestDriver::new(
        topology()?,
        config().set("production.exception.handler", "log-and-continue")?,
    )?;
    let input = driver.input_topic("in", StringSerde, I64Serde);
    input.pipe(s("a"), 500, 1)?;
    input.pipe(s("b"), 50, 2)?;
    assert_eq!(
        driver
            .output_topic("out", StringSerde, I64Serde)
            .read_key_values()?,
        vec![(s("b"), 50)]
    );
    Ok(())
}

#[test]
fn invalid_timestamps_fail_by_default_or_are_skipped() -> Result<(), StreamsError> {
    let topology = || -> Result<Topology, StreamsError> {
        let mut t = Topology::new();
        t.add_source("src", &["in"], StringSerde, StringSerde)?
            .add_sink("sink", "out", StringSerde, StringSerde, &["src"])?;
        Ok(t)
    };
    let driver = TopologyTestDriver::new(topology()?, config())?;
    let err = driver
        .input_topic("in", StringSerde, StringSerde)
        .pipe(s("k"), s("v"), -5)
        .expect_err("must fail");
    assert_eq!(
        err.to_string(),
        "invalid timestamp -5 on the record at in-0@0: timestamps must be >= 0"
    );

    let driver = TopologyTestDriver::new(
        topology()?,
        config().with_timestamp_extractor(LogAndSkipOnInvalidTimestamp),
    )?;
    let input = driver.input_topic("in", StringSerde, StringSerde);
    input.pipe(s("a"), s("x"), -5)?;
    input.pipe(s("b"), s("y"), 6)?;
    assert_eq!(
        driver
            .output_topic("out", StringSerde, StringSerde)
            .read_key_values_with_time()?,
        vec![(s("b"), s("y"), 6)]
    );
    assert_eq!(driver.task_counters("in").expect("task").dropped, 1);
    Ok(())
}

#[test]
fn null_values_need_a_nullable_serde() -> Result<(), StreamsError> {
    let mut t = Topology::new();
    t.add_source("src", &["in"], StringSerde, Nullable(StringSerde))?
        .add_sink("sink", "out", StringSerde, Nullable(StringSerde), &["src"])?;
    let driver = TopologyTestDriver::new(t, config())?;
    driver
        .input_topic("in", StringSerde, Nullable(StringSerde))
        .pipe(s("k"), None, 3)?;
    let out = driver
        .output_topic("out", StringSerde, Nullable(StringSerde))
        .read_key_values_with_time()?;
    assert_eq!(out, vec![(s("k"), None, 3)]);
    assert_eq!(driver.produced("out"), vec![]);
    Ok(())
}

/// A store whose build always fails.
struct Unbuildable;

impl StoreBuilder for Unbuildable {
    fn name(&self) -> &str {
        "unbuildable"
    }

    fn build(&self, _: &StoreContext) -> Result<StoreInstance, StreamsError> {
        Err(StreamsError::Store {
            store: "unbuildable".into(),
            message: "deliberately".into(),
        })
    }
}

#[test]
fn a_driver_that_fails_to_build_leaves_no_state_directory() -> Result<(), Box<dyn std::error::Error>>
{
    // Unique to this process, so that drivers of other tests do not count.
    let app = format!("driver-cleanup-{}", std::process::id());
    let mut t = Topology::new();
    t.add_source("src", &["in"], StringSerde, StringSerde)?
        .add_processor("upper", || UpperNonEmpty, &["src"])?
        .add_state_store(Unbuildable, &["upper"])?;
    TopologyTestDriver::new(t, StreamsConfig::new(&app, "unused:9092")).expect_err("store fails");
    let mut left = Vec::new();
    for entry in std::fs::read_dir(std::env::temp_dir())? {
        let path = entry?.path();
        let driver_dir = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("kstreams-test-driver-"));
        if driver_dir && path.join(&app).exists() {
            left.push(path);
        }
    }
    assert!(left.is_empty(), "left behind: {left:?}");
    Ok(())
}
