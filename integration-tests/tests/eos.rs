//! Exactly-once v2 on a real broker: the crash test of `RELIABILITY.md` (instances SIGKILLed
//! and restarted while a driver produces, some with their state directory deleted, one
//! variant also SIGKILLing the partition leader broker), and one test per failure path of a
//! transaction (fenced producer, aborted transaction, fatal error).
//!
//! Each chaos run prints one line: records in, records out, duplicates, missing, kills,
//! seconds. `EOS_CHAOS_KILLS` sets the number of instance kills (default 5; the long form in
//! `docs/testing.md` uses 30); `EOS_CHAOS_GUARANTEE=at_least_once` runs the same test under
//! at-least-once, where the verifier reports the duplicates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use integration_tests::child::ChildApp;
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{
    RawRecord, leader_of, open_transactions, produce, producer, read_committed, read_topic,
};
use integration_tests::kafka::{KafkaCluster, shared_cluster, unique_name};
use rdkafka::producer::FutureRecord;
use state_stores::KeyValueStoreBuilder;
use streams_core::handlers::{ErrorAction, ErrorContext, ErrorHandler};
use streams_core::processor::{Processor, ProcessorContext, ProcessorError, from_stores};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::{KafkaStreams, Record, State, StreamsConfig, Topology};

/// The output topics of `eos-app`, after the prefix.
const OUTPUTS: [&str; 5] = ["echo", "sum", "min", "max", "cnt"];

/// Keys the driver writes.
const KEYS: u64 = 100;

/// A small deterministic generator (the test must not depend on a random crate).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// One `eos-app` process and its state directory.
struct Instance {
    app: ChildApp,
    state: PathBuf,
}

struct AppArgs<'a> {
    bootstrap: &'a str,
    app: &'a str,
    prefix: &'a str,
    replication: i32,
}

impl Instance {
    fn start(&mut self, a: &AppArgs<'_>) -> Result<()> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_eos-app"));
        command
            .args(["--bootstrap-servers", a.bootstrap])
            .args(["--application-id", a.app, "--prefix", a.prefix])
            .arg("--state-dir")
            .arg(&self.state)
            .args(["--instance", &self.app.name, "--commit-interval-ms", "1000"])
            .args(["--guarantee", &guarantee()])
            .args(["--replication-factor", &a.replication.to_string()]);
        self.app.start(command, "EOS_APP_LOG")
    }

    /// SIGKILL, then reap.
    fn kill9(&mut self) -> Result<()> {
        self.app.kill9()
    }

    /// SIGTERM (the app closes cleanly), then reap.
    fn stop(&mut self) -> Result<()> {
        self.app.stop()
    }
}

/// What the chaos run does besides killing instances.
#[derive(Clone, Copy)]
struct Chaos {
    instance_kills: usize,
    /// Kill the leader broker of an input partition every this many instance kills.
    broker_kill_every: Option<usize>,
}

fn decode_i64(bytes: &Option<Vec<u8>>) -> Result<i64> {
    let b = bytes.as_deref().context("a null value")?;
    Ok(i64::from_be_bytes(b.try_into().context("an 8-byte value")?))
}

/// Input and output counts of one check; `bad` describes the first mismatches.
#[derive(Default)]
struct Tally {
    out: usize,
    duplicates: usize,
    missing: usize,
    bad: Vec<String>,
}

impl Tally {
    fn compare(&mut self, what: &str, expected: &[i64], got: &[i64]) {
        self.out += got.len();
        self.duplicates += got.len().saturating_sub(expected.len());
        self.missing += expected.len().saturating_sub(got.len());
        if expected != got && self.bad.len() < 5 {
            let at = expected
                .iter()
                .zip(got)
                .position(|(e, g)| e != g)
                .unwrap_or(expected.len().min(got.len()));
            self.bad.push(format!(
                "{what}: {} expected, {} got; first difference at #{at}: expected {:?}, got {:?}",
                expected.len(),
                got.len(),
                expected.get(at),
                got.get(at)
            ));
        }
    }
}

/// Checks every output against the input, as `RELIABILITY.md` describes: echo equals the
/// input partition by partition, record for record; the n-th sum, min, max and count of a
/// key equal the aggregates after that key's n-th input.
fn verify(input: &[RawRecord], outputs: &BTreeMap<&str, Vec<RawRecord>>) -> Result<Tally> {
    let mut tally = Tally::default();
    let mut by_partition: BTreeMap<i32, Vec<(Vec<u8>, i64)>> = BTreeMap::new();
    let mut by_key: BTreeMap<Vec<u8>, Vec<i64>> = BTreeMap::new();
    for r in input {
        let v = decode_i64(&r.value)?;
        by_partition
            .entry(r.partition)
            .or_default()
            .push((r.key.clone(), v));
        by_key.entry(r.key.clone()).or_default().push(v);
    }
    // Echo: same partitioner, same partition count: partition by partition.
    let mut echo: BTreeMap<i32, Vec<(Vec<u8>, i64)>> = BTreeMap::new();
    for r in &outputs["echo"] {
        echo.entry(r.partition)
            .or_default()
            .push((r.key.clone(), decode_i64(&r.value)?));
    }
    for (p, expected) in &by_partition {
        let got = echo.remove(p).unwrap_or_default();
        tally.out += got.len();
        tally.duplicates += got.len().saturating_sub(expected.len());
        tally.missing += expected.len().saturating_sub(got.len());
        if &got != expected {
            tally
                .bad
                .push(format!("echo partition {p} differs from the input"));
        }
    }
    for (p, extra) in echo {
        tally.out += extra.len();
        tally.duplicates += extra.len();
        tally
            .bad
            .push(format!("echo partition {p} has records for no input"));
    }
    for topic in ["sum", "min", "max", "cnt"] {
        let mut got: BTreeMap<Vec<u8>, Vec<i64>> = BTreeMap::new();
        for r in &outputs[topic] {
            got.entry(r.key.clone())
                .or_default()
                .push(decode_i64(&r.value)?);
        }
        for (key, values) in &by_key {
            let mut running: Option<i64> = None;
            let expected: Vec<i64> = values
                .iter()
                .enumerate()
                .map(|(n, &v)| {
                    let next = match (topic, running) {
                        ("sum", r) => r.unwrap_or(0) + v,
                        ("min", Some(r)) => r.min(v),
                        ("max", Some(r)) => r.max(v),
                        ("cnt", _) => n as i64 + 1,
                        _ => v,
                    };
                    running = Some(next);
                    next
                })
                .collect();
            let got = got.remove(key).unwrap_or_default();
            tally.compare(
                &format!("{topic} of {}", String::from_utf8_lossy(key)),
                &expected,
                &got,
            );
        }
        for (key, extra) in got {
            tally.out += extra.len();
            tally.duplicates += extra.len();
            tally.bad.push(format!(
                "{topic} has outputs for key {} that was never input",
                String::from_utf8_lossy(&key)
            ));
        }
    }
    Ok(tally)
}

/// The crash test: a driver produces continuously to a 5-partition topic while three
/// `eos-app` instances are SIGKILLed and restarted (every other one with its state
/// directory deleted), optionally also killing the leader broker of an input partition.
/// Then everything committed is checked exactly.
async fn chaos_run(cluster: &mut KafkaCluster, chaos: Chaos, replication: i32) -> Result<()> {
    let started = Instant::now();
    let bootstrap = cluster.bootstrap_servers().to_owned();
    let prefix = unique_name("eos");
    let app = format!("{prefix}-app");
    let data = format!("{prefix}-data");
    let topic_configs: &[(&str, &str)] = if replication > 1 {
        &[("min.insync.replicas", "2")]
    } else {
        &[]
    };
    cluster.create_topic(&data, 5, replication, topic_configs)?;
    for out in OUTPUTS {
        cluster.create_topic(&format!("{prefix}-{out}"), 5, replication, topic_configs)?;
    }
    let root = ScratchDir::new()?;
    // The instances' logs outlive a failed run (removed after a successful one).
    let logs = std::env::temp_dir().join(format!("{prefix}-logs"));
    std::fs::create_dir_all(&logs)?;
    let args = AppArgs {
        bootstrap: &bootstrap,
        app: &app,
        prefix: &prefix,
        replication,
    };
    let mut instances: Vec<Instance> = (0..3)
        .map(|i| Instance {
            app: ChildApp::new(
                &format!("instance-{i}"),
                &logs.join(format!("instance-{i}.log")),
            ),
            state: root.path().join(format!("state-{i}")),
        })
        .collect();
    for instance in &mut instances {
        instance.start(&args)?;
    }

    // The driver: 20 records every 10 ms, keys k0..k99, values in -1000..1000.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let driver = {
        let (stop, sent, bootstrap, data) =
            (stop.clone(), sent.clone(), bootstrap.clone(), data.clone());
        tokio::spawn(async move {
            let producer = producer(&bootstrap)?;
            let mut rng = Lcg(42);
            while !stop.load(Ordering::Acquire) {
                let mut pending = Vec::new();
                for _ in 0..20 {
                    let key = format!("k{}", rng.next() % KEYS);
                    let value = ((rng.next() % 2001) as i64 - 1000).to_be_bytes();
                    let record = FutureRecord::to(&data).key(&key).payload(&value[..]);
                    pending.push(producer.send_result(record).map_err(|(e, _)| e)?);
                }
                for d in pending {
                    d.await?.map_err(|(e, _)| e)?;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            anyhow::Ok(())
        })
    };

    // The chaos loop.
    let mut rng = Lcg(started.elapsed().as_nanos() as u64 | 1);
    let (mut kills, mut wiped, mut broker_kills) = (0, 0, 0);
    tokio::time::sleep(Duration::from_secs(5)).await;
    while kills < chaos.instance_kills {
        tokio::time::sleep(Duration::from_millis(3_000 + rng.next() % 3_000)).await;
        let i = (rng.next() % 3) as usize;
        instances[i].kill9()?;
        kills += 1;
        if kills % 2 == 0 {
            std::fs::remove_dir_all(&instances[i].state).ok();
            wiped += 1;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        instances[i].start(&args)?;
        if chaos.broker_kill_every.is_some_and(|n| kills % n == 0) {
            let leader = leader_of(&bootstrap, &data, 0)?;
            cluster.kill(leader)?;
            broker_kills += 1;
            tokio::time::sleep(Duration::from_secs(5)).await;
            cluster.restart(leader)?;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Release);
    driver.await??;
    let records_in = sent.load(Ordering::Relaxed);

    // Drain: every output topic gets exactly one record per input record.
    let mut outputs = BTreeMap::new();
    for out in OUTPUTS {
        let topic = format!("{prefix}-{out}");
        let records = read_committed(
            &bootstrap,
            &topic,
            records_in,
            Duration::from_secs(3),
            Duration::from_secs(240),
        )?;
        outputs.insert(out, records);
    }
    for instance in &mut instances {
        instance
            .stop()
            .with_context(|| format!("instance logs in {}", logs.display()))?;
    }
    let input = read_committed(
        &bootstrap,
        &data,
        records_in,
        Duration::from_millis(500),
        Duration::from_secs(60),
    )?;
    assert_eq!(
        input.len(),
        records_in,
        "the driver's records are all there"
    );
    // No transaction left open: a zombie's open transaction (its instance killed with the
    // state wiped, so its transactional id is not reused) ends at the transaction timeout.
    let topics: Vec<String> = OUTPUTS.iter().map(|o| format!("{prefix}-{o}")).collect();
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let open = loop {
        let open = open_transactions(&bootstrap, &topic_refs)?;
        if open.is_empty() || Instant::now() > deadline {
            break open;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let tally = verify(&input, &outputs)?;
    println!(
        "eos chaos ({} broker{}): records in {records_in}, records out {}, duplicates {}, missing {}, \
         kills {kills} ({wiped} with state deleted, {broker_kills} leader brokers), seconds {}",
        cluster.node_ids().len().max(1),
        if cluster.node_ids().len() > 1 {
            "s"
        } else {
            ""
        },
        tally.out,
        tally.duplicates,
        tally.missing,
        started.elapsed().as_secs()
    );
    let logs_at = logs.display();
    assert!(
        open.is_empty(),
        "transactions left open: {open:?}; instance logs in {logs_at}"
    );
    assert!(
        tally.bad.is_empty(),
        "mismatches: {:#?}; instance logs in {logs_at}",
        tally.bad
    );
    assert_eq!(
        (tally.duplicates, tally.missing),
        (0, 0),
        "exactly once; instance logs in {logs_at}"
    );
    std::fs::remove_dir_all(&logs).ok();
    Ok(())
}

/// `EOS_CHAOS_GUARANTEE` (default exactly_once_v2): `at_least_once` shows the verifier
/// catching the duplicates that guarantee allows.
fn guarantee() -> String {
    std::env::var("EOS_CHAOS_GUARANTEE").unwrap_or_else(|_| "exactly_once_v2".into())
}

/// `EOS_CHAOS_KILLS`, else `default`.
fn kills_wanted(default: usize) -> usize {
    std::env::var("EOS_CHAOS_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_survives_instances_killed_with_sigkill() -> Result<()> {
    let mut cluster = KafkaCluster::start(1)?;
    let chaos = Chaos {
        instance_kills: kills_wanted(5),
        broker_kill_every: None,
    };
    let result = chaos_run(&mut cluster, chaos, 1).await;
    cluster.stop();
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_survives_the_leader_broker_killed_too() -> Result<()> {
    let mut cluster = KafkaCluster::start(3)?;
    let chaos = Chaos {
        instance_kills: kills_wanted(4),
        broker_kill_every: Some(2),
    };
    let result = chaos_run(&mut cluster, chaos, 3).await;
    cluster.stop();
    result
}

/// Counts records per key (RocksDB store, logged) and forwards the running count; when the
/// shared switch is on, the next record's count goes out as an oversized value instead (a
/// transient production failure the test injects once).
struct CountOrOversize {
    store: streams_core::store::StoreHandle<integration_tests::apps::Counts>,
    oversize_next: Arc<AtomicBool>,
    seen: Arc<AtomicUsize>,
}

impl Processor<String, String, String, Vec<u8>> for CountOrOversize {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, Vec<u8>>,
        r: Record<String, String>,
    ) -> Result<(), ProcessorError> {
        self.seen.fetch_add(1, Ordering::Relaxed);
        let count = integration_tests::apps::increment(&self.store, &r.key)?;
        let value = if self.oversize_next.swap(false, Ordering::AcqRel) {
            vec![b'x'; 4096]
        } else {
            count.to_string().into_bytes()
        };
        ctx.forward(r.with_value(value))?;
        Ok(())
    }
}

fn count_topology(
    input: &str,
    output: &str,
    oversize_next: Arc<AtomicBool>,
    seen: Arc<AtomicUsize>,
) -> streams_core::Result<Topology> {
    let mut t = Topology::new();
    t.add_source("src", &[input], StringSerde, StringSerde)?
        .add_processor(
            "count",
            from_stores(move |stores| {
                Ok(CountOrOversize {
                    store: stores.state_store("counts")?,
                    oversize_next: oversize_next.clone(),
                    seen: seen.clone(),
                })
            }),
            &["src"],
        )?
        .add_state_store(
            KeyValueStoreBuilder::rocksdb("counts", StringSerde, I64Serde),
            &["count"],
        )?
        .add_sink(
            "sink",
            output,
            StringSerde,
            streams_core::serde::BytesSerde,
            &["count"],
        )?;
    Ok(t)
}

/// `(key, n)` for n = 1..=rounds of each key: what the counter emits for `rounds` rounds.
fn expected_counts(keys: &[String], rounds: i64) -> BTreeMap<String, Vec<String>> {
    keys.iter()
        .map(|k| (k.clone(), (1..=rounds).map(|n| n.to_string()).collect()))
        .collect()
}

fn counts_by_key(records: &[integration_tests::client::Consumed]) -> BTreeMap<String, Vec<String>> {
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut sorted: Vec<_> = records.iter().collect();
    sorted.sort_by_key(|r| (r.partition, r.offset));
    for r in sorted {
        by_key
            .entry(r.key.clone())
            .or_default()
            .push(r.value.clone());
    }
    by_key
}

struct Setup {
    input: String,
    output: String,
    app: String,
    keys: Vec<String>,
}

fn setup(name: &str, output_configs: &[(&str, &str)]) -> Result<Setup> {
    integration_tests::log_to_stderr();
    let cluster = shared_cluster()?;
    let s = Setup {
        input: unique_name(&format!("{name}-in")),
        output: unique_name(&format!("{name}-out")),
        app: unique_name(&format!("{name}-app")),
        keys: (0..8).map(|i| format!("key-{i}")).collect(),
    };
    cluster.create_topic(&s.input, 2, 1, &[])?;
    cluster.create_topic(&s.output, 2, 1, output_configs)?;
    Ok(s)
}

fn eos_config(app: &str, bootstrap: &str, state: &Path) -> Result<StreamsConfig> {
    Ok(StreamsConfig::new(app, bootstrap)
        .set("processing.guarantee", "exactly_once_v2")?
        .set("commit.interval.ms", "200")?
        .set("consumer.session.timeout.ms", "6000")?
        .set("consumer.heartbeat.interval.ms", "1000")?
        .with_state_dir(state))
}

/// Starts `streams`, writes one round and waits for its outputs; returns the round's size.
async fn start_and_run_first_round(
    streams: &mut KafkaStreams,
    bootstrap: &str,
    s: &Setup,
) -> Result<usize> {
    streams.start()?;
    produce_round(bootstrap, s).await?;
    let n = s.keys.len();
    read_topic(
        bootstrap,
        &s.output,
        n,
        Duration::ZERO,
        Duration::from_secs(60),
    )?;
    Ok(n)
}

/// Checks that `streams` is still running, closes it, and checks that it left no
/// transaction open on the output topic.
fn close_still_running(mut streams: KafkaStreams, bootstrap: &str, s: &Setup) -> Result<()> {
    assert_eq!(streams.state(), State::Running, "{:?}", streams.error());
    streams.close(Duration::from_secs(30))?;
    assert!(open_transactions(bootstrap, &[&s.output])?.is_empty());
    Ok(())
}

async fn produce_round(bootstrap: &str, s: &Setup) -> Result<()> {
    produce(
        bootstrap,
        &s.input,
        s.keys.iter().map(|k| (k.clone(), b"x".to_vec(), None)),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_producer_closes_its_tasks_and_rejoins_without_duplicates() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let s = setup("fenced", &[])?;
    let state = ScratchDir::new()?;
    let seen = Arc::new(AtomicUsize::new(0));
    let topology = count_topology(&s.input, &s.output, Arc::default(), seen.clone())?;
    let mut streams = KafkaStreams::new(topology, eos_config(&s.app, bootstrap, state.path())?)?;
    let n = start_and_run_first_round(&mut streams, bootstrap, &s).await?;

    // Another producer with the thread's transactional id fences the thread's producer.
    let process_id =
        std::fs::read_to_string(state.path().join(&s.app).join("kstreams-process-id"))?;
    let transactional_id = format!("{}-{}-1", s.app, process_id.trim());
    let usurper: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", &transactional_id)
        .create()?;
    rdkafka::producer::Producer::init_transactions(&usurper, Duration::from_secs(30))?;

    // The next transaction fails fenced: the thread closes its tasks without committing,
    // takes a new producer, rejoins, and goes on from the committed offsets and state.
    produce_round(bootstrap, &s).await?;
    produce_round(bootstrap, &s).await?;
    let out = read_topic(
        bootstrap,
        &s.output,
        3 * n,
        Duration::from_secs(2),
        Duration::from_secs(90),
    )?;
    assert_eq!(counts_by_key(&out), expected_counts(&s.keys, 3));
    close_still_running(streams, bootstrap, &s)
}

/// Continues past every production error, so that the thread's own decision for exactly-once
/// (abort and process again) is what the test sees.
struct ContinueOnProductionError(Arc<AtomicUsize>);

impl ErrorHandler for ContinueOnProductionError {
    fn handle(&self, _: &ErrorContext<'_>) -> ErrorAction {
        self.0.fetch_add(1, Ordering::Relaxed);
        ErrorAction::Continue
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_transaction_rewinds_input_and_state_to_the_last_commit() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    // The broker refuses values over 1000 bytes on the output topic.
    let s = setup("abort", &[("max.message.bytes", "1000")])?;
    let state = ScratchDir::new()?;
    let (oversize, seen, failures) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let topology = count_topology(&s.input, &s.output, oversize.clone(), seen.clone())?;
    let config = eos_config(&s.app, bootstrap, state.path())?
        .with_production_handler(ContinueOnProductionError(failures.clone()));
    let mut streams = KafkaStreams::new(topology, config)?;
    let n = start_and_run_first_round(&mut streams, bootstrap, &s).await?;
    let seen_before = seen.load(Ordering::Relaxed);

    // One record of the next round goes out oversized: its delivery fails, the transaction
    // (with the other records and their state updates) aborts, and the thread processes the
    // round again from the committed offsets and the committed store content.
    oversize.store(true, Ordering::Release);
    produce_round(bootstrap, &s).await?;
    let out = read_topic(
        bootstrap,
        &s.output,
        2 * n,
        Duration::from_secs(2),
        Duration::from_secs(90),
    )?;
    assert_eq!(counts_by_key(&out), expected_counts(&s.keys, 2));
    assert_eq!(failures.load(Ordering::Relaxed), 1, "one failed delivery");
    assert!(
        seen.load(Ordering::Relaxed) > seen_before + n,
        "records of the aborted transaction were processed again"
    );
    close_still_running(streams, bootstrap, &s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_under_exactly_once_moves_the_client_to_error() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers();
    let s = setup("eos-fatal", &[("max.message.bytes", "1000")])?;
    let state = ScratchDir::new()?;
    let oversize = Arc::new(AtomicBool::new(true));
    let topology = count_topology(&s.input, &s.output, oversize, Arc::default())?;
    // The default production handler fails: the oversized record is fatal.
    let mut streams = KafkaStreams::new(topology, eos_config(&s.app, bootstrap, state.path())?)?;
    streams.start()?;
    produce_round(bootstrap, &s).await?;
    assert!(
        streams.wait_for_state(State::Error, Duration::from_secs(60)),
        "the client fails; state {:?}",
        streams.state()
    );
    let error = streams.error().context("an error")?.to_string();
    assert!(
        error.contains(&format!("production to topic `{}` failed", s.output))
            && error.contains("too large"),
        "{error}"
    );
    let _ = streams.close(Duration::from_secs(30));
    // Nothing of the failed transaction is visible.
    let out = read_committed(
        bootstrap,
        &s.output,
        0,
        Duration::from_secs(2),
        Duration::from_secs(10),
    )?;
    assert_eq!(out, Vec::new());
    Ok(())
}
