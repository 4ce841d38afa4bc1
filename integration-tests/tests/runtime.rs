//! The at-least-once runtime on a real broker: fail-over, bad records, co-partitioning.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce, read_topic};
use integration_tests::kafka::{shared_cluster, unique_name};
use streams_core::handlers::dlq_headers;
use streams_core::processor::{Processor, ProcessorContext, ProcessorError};
use streams_core::serde::{JsonSerde, StringSerde};
use streams_core::{
    DeadLetter, Headers, KafkaStreams, Record, State, StreamsConfig, TopicSpec, Topology,
    create_topics,
};

fn tag_app(bootstrap: &str, app: &str, input: &str, output: &str, instance: &str) -> Result<Child> {
    Ok(Command::new(env!("CARGO_BIN_EXE_tag-app"))
        .args([
            "--bootstrap-servers",
            bootstrap,
            "--application-id",
            app,
            "--input",
            input,
            "--output",
            output,
        ])
        .args(["--threads", "2", "--instance", instance])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()?)
}

/// Kills the child on drop, so a failing test leaves no app behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_fail_over_without_losing_records() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output, app) = (
        unique_name("failover-in"),
        unique_name("failover-out"),
        unique_name("failover-app"),
    );
    cluster.create_topic(&input, 4, 1, &[])?;
    cluster.create_topic(&output, 4, 1, &[])?;
    let total = 100_000usize;
    let batch = |from: usize, to: usize| {
        (from..to).map(|i| (format!("k{i}"), format!("v{i}").into_bytes(), None))
    };

    let mut a = Reaped(tag_app(bootstrap, &app, &input, &output, "a")?);
    let _b = Reaped(tag_app(bootstrap, &app, &input, &output, "b")?);
    // Once both instances process, kill `a` outright (no close, no commit) while input keeps
    // arriving: `b` must take over `a`'s partitions from `a`'s last commit.
    // Feed input in small steps until both instances have produced output (both joined the
    // group and own partitions), at most 30,000 records or 120 s.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut sent = 0;
    loop {
        if sent < 30_000 {
            produce(bootstrap, &input, batch(sent, sent + 1_000)).await?;
            sent += 1_000;
        }
        let seen = read_topic(
            bootstrap,
            &output,
            sent,
            Duration::ZERO,
            Duration::from_secs(5),
        )?;
        if seen.iter().any(|r| r.value.ends_with("|a"))
            && seen.iter().any(|r| r.value.ends_with("|b"))
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the two instances did not both produce output within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    produce(bootstrap, &input, batch(sent, 40_000)).await?;
    a.0.kill()?;
    a.0.wait()?;
    produce(bootstrap, &input, batch(40_000, total)).await?;

    let got = read_topic(
        bootstrap,
        &output,
        total,
        Duration::from_secs(5),
        Duration::from_secs(180),
    )?;
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for r in &got {
        let (value, _instance) = r.value.rsplit_once('|').context("tagged value")?;
        assert_eq!(
            value,
            format!("v{}", &r.key[1..]),
            "value belongs to its key"
        );
        *per_key.entry(r.key.clone()).or_default() += 1;
    }
    let missing = (0..total)
        .filter(|i| !per_key.contains_key(&format!("k{i}")))
        .count();
    let duplicates: usize = per_key.values().map(|n| n - 1).sum();
    println!(
        "fail-over: {total} records in, {} out, {missing} missing, {duplicates} duplicates",
        got.len()
    );
    assert_eq!(missing, 0, "no record may be lost");
    Ok(())
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Reading {
    sensor: String,
    celsius: f64,
}

struct ToFahrenheit;

impl Processor<String, Reading, String, String> for ToFahrenheit {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, Reading>,
    ) -> Result<(), ProcessorError> {
        let f = r.value.celsius * 9.0 / 5.0 + 32.0;
        ctx.forward(r.with_value(format!("{f:.1}")))?;
        Ok(())
    }
}

fn readings_topology(input: &str, output: &str) -> streams_core::Result<Topology> {
    let mut t = Topology::new();
    t.add_source(
        "readings",
        &[input],
        StringSerde,
        JsonSerde::<Reading>::new(),
    )?
    .add_processor("convert", || ToFahrenheit, &["readings"])?
    .add_sink("sink", output, StringSerde, StringSerde, &["convert"])?;
    Ok(t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_pills_go_to_the_dead_letter_topic() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output, dlq) = (
        unique_name("poison-in"),
        unique_name("poison-out"),
        unique_name("poison-dlq"),
    );
    for t in [&input, &output, &dlq] {
        cluster.create_topic(t, 1, 1, &[])?;
    }
    // Every fifth record is malformed.
    let records: Vec<(String, Vec<u8>, Option<i32>)> = (0..50)
        .map(|i| {
            let value = if i % 5 == 4 {
                format!("{{broken {i}").into_bytes()
            } else {
                serde_json::to_vec(&Reading {
                    sensor: format!("s{i}"),
                    celsius: f64::from(i),
                })
                .expect("json")
            };
            (format!("s{i}"), value, Some(0))
        })
        .collect();
    produce(bootstrap, &input, records).await?;

    let config = StreamsConfig::new(unique_name("poison-app"), bootstrap)
        .set("commit.interval.ms", "100")?
        .set(
            "default.deserialization.exception.handler",
            "dead-letter-queue",
        )?
        .set("errors.dead.letter.queue.topic.name", &dlq)?;
    let mut streams = KafkaStreams::new(readings_topology(&input, &output)?, config)?;
    streams.start()?;
    let good = read_topic(
        bootstrap,
        &output,
        40,
        Duration::from_secs(1),
        Duration::from_secs(90),
    )?;
    let bad = read_topic(
        bootstrap,
        &dlq,
        10,
        Duration::from_secs(1),
        Duration::from_secs(30),
    )?;
    streams.close(Duration::from_secs(30))?;

    let expected_good: Vec<(String, String)> = (0..50)
        .filter(|i| i % 5 != 4)
        .map(|i| {
            (
                format!("s{i}"),
                format!("{:.1}", f64::from(i) * 9.0 / 5.0 + 32.0),
            )
        })
        .collect();
    assert_eq!(
        good.iter()
            .map(|r| (r.key.clone(), r.value.clone()))
            .collect::<Vec<_>>(),
        expected_good
    );
    assert_eq!(bad.len(), 10);
    for (n, r) in bad.iter().enumerate() {
        let i = n * 5 + 4;
        assert_eq!(
            (r.key.as_str(), r.value.as_str()),
            (format!("s{i}").as_str(), format!("{{broken {i}").as_str())
        );
        assert_eq!(r.header(dlq_headers::TOPIC), Some(input.as_str()));
        assert_eq!(r.header(dlq_headers::PARTITION), Some("0"));
        assert_eq!(r.header(dlq_headers::OFFSET), Some(i.to_string().as_str()));
        assert_eq!(r.header(dlq_headers::EXCEPTION), Some("SerdeError"));
        assert!(
            r.header(dlq_headers::MESSAGE)
                .is_some_and(|m| m.starts_with("invalid JSON")),
            "{r:?}"
        );
        // The same, read back typed from the consumed record.
        let mut headers = Headers::new();
        for (k, v) in &r.headers {
            headers.add(k.clone(), Some(v.clone().into_bytes()));
        }
        let key = Some(r.key.clone().into_bytes());
        let letter = DeadLetter::from_record(key, Some(r.value.clone().into_bytes()), 0, headers)?;
        assert_eq!(
            (
                letter.topic.as_str(),
                letter.partition,
                letter.offset,
                letter.exception.as_str()
            ),
            (input.as_str(), 0, i as i64, "SerdeError")
        );
        assert_eq!(letter.value.as_deref(), Some(r.value.as_bytes()));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_record_with_log_and_fail_stops_the_client_in_error() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output) = (unique_name("fail-in"), unique_name("fail-out"));
    cluster.create_topic(&input, 1, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    let good = |i: i32| {
        serde_json::to_vec(&Reading {
            sensor: "s".into(),
            celsius: f64::from(i),
        })
        .expect("json")
    };
    let records = vec![
        ("s".to_owned(), good(1), Some(0)),
        ("s".to_owned(), good(2), Some(0)),
        ("s".to_owned(), b"{nope".to_vec(), Some(0)),
        ("s".to_owned(), good(3), Some(0)),
    ];
    produce(bootstrap, &input, records).await?;
    let states = Arc::new(Mutex::new(Vec::new()));
    let seen = states.clone();
    let mut streams = KafkaStreams::new(
        readings_topology(&input, &output)?,
        StreamsConfig::new(unique_name("fail-app"), bootstrap),
    )?;
    streams.set_state_listener(move |c| seen.lock().expect("lock").push(c.new));
    streams.start()?;
    assert!(
        streams.wait_for_state(State::Error, Duration::from_secs(60)),
        "the client reaches Error"
    );
    streams.close(Duration::from_secs(10))?;
    let err = streams.error().expect("the error that stopped the client");
    assert!(
        err.to_string().starts_with(&format!(
            "deserialization failed for the record at {input}-0@2: invalid JSON"
        )),
        "{err}"
    );
    let states = states.lock().expect("lock").clone();
    assert_eq!(states.first(), Some(&State::Rebalancing));
    assert_eq!(
        &states[states.len() - 2..],
        &[State::PendingError, State::Error]
    );
    // Output of the two good records may or may not have been delivered (nothing was
    // committed), but nothing after the bad record was processed.
    let out = read_topic(
        bootstrap,
        &output,
        2,
        Duration::from_secs(1),
        Duration::from_secs(5),
    )?;
    let values: Vec<&str> = out.iter().map(|r| r.value.as_str()).collect();
    assert!(
        ["33.8", "35.6"].starts_with(&values),
        "nothing past the bad record: {values:?}"
    );
    Ok(())
}

struct Join;

impl Processor<String, String, String, String> for Join {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        ctx.forward(r)?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_of_different_partition_counts_are_refused_at_start() -> Result<()> {
    let cluster = shared_cluster()?;
    let (left, right) = (unique_name("copart-left"), unique_name("copart-right"));
    cluster.create_topic(&left, 2, 1, &[])?;
    cluster.create_topic(&right, 3, 1, &[])?;
    let mut t = Topology::new();
    t.add_source("left", &[&left], StringSerde, StringSerde)?
        .add_source("right", &[&right], StringSerde, StringSerde)?
        .add_processor("join", || Join, &["left", "right"])?
        .add_sink("sink", "unused-output", StringSerde, StringSerde, &["join"])?;
    let mut streams = KafkaStreams::new(
        t,
        StreamsConfig::new(unique_name("copart-app"), cluster.bootstrap_servers()),
    )?;
    let err = streams.start().expect_err("refused");
    assert_eq!(
        err.to_string(),
        format!(
            "invalid topology: topics {left} (2 partitions), {right} (3 partitions) of sub-topology 0 must be \
             co-partitioned (the same number of partitions) but are not"
        )
    );
    assert_eq!(streams.state(), State::Created, "nothing started");

    let mut missing = Topology::new();
    missing.add_source("src", &["no-such-topic-here"], StringSerde, StringSerde)?;
    let mut streams = KafkaStreams::new(
        missing,
        StreamsConfig::new(unique_name("missing-app"), cluster.bootstrap_servers()),
    )?;
    assert_eq!(
        streams.start().expect_err("refused").to_string(),
        "invalid topology: source topics [\"no-such-topic-here\"] do not exist; create them before starting"
    );
    Ok(())
}

#[test]
fn unknown_settings_are_refused_when_set_and_a_refused_client_by_new() -> Result<()> {
    let err = StreamsConfig::new("bad-settings", "127.0.0.1:1")
        .set("consumer.no.such.setting", "1")
        .expect_err("unknown to librdkafka");
    assert!(
        err.to_string().starts_with(
            "invalid configuration `consumer.no.such.setting`: `consumer.no.such.setting` is \
             neither a Kafka Streams setting this library takes nor a librdkafka setting"
        ),
        "{err}"
    );
    // What only a whole client checks: a SASL mechanism librdkafka does not have.
    let mut t = Topology::new();
    t.add_source("src", &["in"], StringSerde, StringSerde)?;
    let config = StreamsConfig::new("bad-settings", "127.0.0.1:1")
        .set("security.protocol", "sasl_plaintext")?
        .set("sasl.mechanism", "NO-SUCH-MECHANISM")?;
    let err = KafkaStreams::new(t, config).expect_err("refused");
    assert!(err.to_string().contains("settings were refused"), "{err}");
    Ok(())
}

struct Panicky;

impl Processor<String, String, String, String> for Panicky {
    fn process(
        &mut self,
        _: &mut ProcessorContext<'_, String, String>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        panic!("processor bug on key {}", r.key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_processor_moves_the_client_to_error_instead_of_hanging() -> Result<()> {
    let cluster = shared_cluster()?;
    let input = unique_name("panic-in");
    cluster.create_topic(&input, 1, 1, &[])?;
    produce(
        cluster.bootstrap_servers(),
        &input,
        [("k1".to_owned(), b"v".to_vec(), None)],
    )
    .await?;
    let mut t = Topology::new();
    t.add_source("src", &[&input], StringSerde, StringSerde)?
        .add_processor("panicky", || Panicky, &["src"])?;
    let mut streams = KafkaStreams::new(
        t,
        StreamsConfig::new(unique_name("panic-app"), cluster.bootstrap_servers()),
    )?;
    streams.start()?;
    assert!(
        streams.wait_for_state(State::Error, Duration::from_secs(60)),
        "the client reaches Error"
    );
    // The panic is a processing error of the record: log-and-fail (the default) names it.
    streams.close(Duration::from_secs(10))?;
    let err = streams.error().expect("the panic that stopped the client");
    assert_eq!(
        err.to_string(),
        format!(
            "processing failed in node `panicky` for the record at {input}-0@0: \
             panicked: processor bug on key k1"
        )
    );
    Ok(())
}

/// Headers travel from input to output unchanged, records without headers stay without:
/// the stream thread copies them from librdkafka (and skips the parse for records that
/// have none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_pass_through_the_runtime_unchanged() -> Result<()> {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::FutureRecord;
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output) = (unique_name("headers-in"), unique_name("headers-out"));
    for t in [&input, &output] {
        cluster.create_topic(t, 1, 1, &[])?;
    }
    // Record i has i % 3 headers; record 4's value is empty.
    let headers_of = |i: usize| -> Vec<(String, String)> {
        (0..i % 3)
            .map(|h| (format!("h{h}"), format!("r{i}-{h}")))
            .collect()
    };
    let producer = integration_tests::client::producer(bootstrap)?;
    for i in 0..12usize {
        let (key, value) = (
            format!("k{i}"),
            if i == 4 {
                String::new()
            } else {
                format!("v{i}")
            },
        );
        let mut record = FutureRecord::to(&input)
            .key(&key)
            .payload(&value)
            .timestamp(1_000 + i as i64);
        let hs = headers_of(i);
        if !hs.is_empty() {
            let mut owned = OwnedHeaders::new();
            for (k, v) in &hs {
                owned = owned.insert(Header {
                    key: k,
                    value: Some(v),
                });
            }
            record = record.headers(owned);
        }
        producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)?;
    }

    let mut t = Topology::new();
    t.add_source("in", &[&input], StringSerde, StringSerde)?
        .add_sink("out", &output, StringSerde, StringSerde, &["in"])?;
    let config = StreamsConfig::new(unique_name("headers-app"), bootstrap)
        .set("commit.interval.ms", "100")?;
    let mut streams = KafkaStreams::new(t, config)?;
    streams.start()?;
    let out = read_topic(
        bootstrap,
        &output,
        12,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    streams.close(Duration::from_secs(30))?;
    // key, value, timestamp, headers
    type Seen = (String, String, i64, Vec<(String, String)>);
    let got: Vec<Seen> = out
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp, r.headers))
        .collect();
    let expected: Vec<Seen> = (0..12usize)
        .map(|i| {
            let value = if i == 4 {
                String::new()
            } else {
                format!("v{i}")
            };
            (format!("k{i}"), value, 1_000 + i as i64, headers_of(i))
        })
        .collect();
    assert_eq!(got, expected);
    Ok(())
}

/// A partition the thread paused (its buffer full while the client is paused) and then lost
/// to a rebalance is fetched again when it comes back: librdkafka keeps an application's
/// pause through revocation and reassignment, so the thread must lift it. Instance A fills
/// both partitions' buffers while paused; B joins (A is left with one partition) and leaves
/// (A gets both back); A resumes and every record comes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_paused_before_a_rebalance_are_fetched_after_it() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let (input, output) = (unique_name("repause-in"), unique_name("repause-out"));
    cluster.create_topic(&input, 2, 1, &[])?;
    cluster.create_topic(&output, 1, 1, &[])?;
    let app = unique_name("repause-app");
    let start = |state: &std::path::Path| -> Result<KafkaStreams> {
        let mut t = Topology::new();
        t.add_source("in", &[&input], StringSerde, StringSerde)?
            .add_sink("out", &output, StringSerde, StringSerde, &["in"])?;
        let config = StreamsConfig::new(&app, bootstrap)
            .set("commit.interval.ms", "100")?
            .set("buffered.records.per.partition", "5")?
            .with_state_dir(state);
        let mut streams = KafkaStreams::new(t, config)?;
        streams.start()?;
        Ok(streams)
    };
    let keys: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
    produce(
        bootstrap,
        &input,
        keys.iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), b"v".to_vec(), Some((i % 2) as i32))),
    )
    .await?;

    let (state_a, state_b) = (ScratchDir::new()?, ScratchDir::new()?);
    let mut a = start(state_a.path())?;
    a.pause();
    assert!(a.wait_for_state(State::Running, Duration::from_secs(60)));
    let deadline = Instant::now() + Duration::from_secs(60);
    while a.metrics().sum("kstreams_task_buffered_records", &[]) < 10.0 {
        if Instant::now() > deadline {
            bail!("the paused instance did not fill both buffers");
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut b = start(state_b.path())?;
    assert!(b.wait_for_state(State::Running, Duration::from_secs(60)));
    b.close(Duration::from_secs(30))?;
    a.resume();
    let out = read_topic(
        bootstrap,
        &output,
        keys.len(),
        Duration::from_secs(1),
        Duration::from_secs(60),
    )?;
    a.close(Duration::from_secs(30))?;
    let mut got: Vec<String> = out.into_iter().map(|r| r.key).collect();
    got.sort();
    let before = got.len();
    got.dedup();
    println!("{} duplicates", before - got.len());
    assert_eq!(got, keys);
    Ok(())
}

/// `create_topics` with the application's settings: the topics are made as asked; asking
/// again changes nothing; another partition count for an existing topic is refused, naming
/// both counts; an invalid spec creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_topics_makes_the_applications_topics() -> Result<()> {
    let cluster = shared_cluster()?;
    let config = StreamsConfig::new(unique_name("topics"), cluster.bootstrap_servers());
    let (orders, compacted) = (unique_name("orders"), unique_name("profiles"));
    let specs = [
        TopicSpec::new(&orders, 3),
        TopicSpec::new(&compacted, 2).with_config("cleanup.policy", "compact"),
    ];
    create_topics(&config, &specs)?;
    let partitions = |topic: &str| -> Result<usize> {
        let md = cluster
            .admin()?
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(10))?;
        Ok(md.topics().first().context("the topic")?.partitions().len())
    };
    assert_eq!((partitions(&orders)?, partitions(&compacted)?), (3, 2));
    assert_eq!(
        cluster
            .topic_config(&compacted, "cleanup.policy")?
            .as_deref(),
        Some("compact")
    );

    create_topics(&config, &specs)?; // already there: nothing to do
    let err = create_topics(&config, &[TopicSpec::new(&orders, 5)])
        .expect_err("another partition count")
        .to_string();
    assert_eq!(
        err,
        format!("invalid topology: topic {orders} exists with 3 partitions, not the 5 asked for")
    );
    let never = unique_name("never");
    let err = create_topics(
        &config,
        &[TopicSpec::new(&never, 1), TopicSpec::new("bad", 0)],
    )
    .expect_err("zero partitions")
    .to_string();
    assert_eq!(
        err,
        "invalid topology: topic `bad` with 0 partitions: a topic needs a name and at least \
         one partition"
    );
    assert_eq!(partitions(&never).unwrap_or(0), 0, "nothing created");
    cluster.delete_topics(&[&orders, &compacted], &[])?;
    Ok(())
}
