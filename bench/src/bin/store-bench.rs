//! State store benchmarks.
//!
//! ```text
//! store-bench stores [--records N] [--value-size BYTES]
//!     put and get throughput of the in-memory and RocksDB key-value stores (no broker)
//! store-bench restore [--records N] [--value-size BYTES] [--bootstrap-servers HOST:PORT]
//!     restore rate and peak memory for a changelog of N records
//!
//! store-bench recovery [--records N] [--guarantee exactly_once_v2|at_least_once]
//!     [--contestant streams|kstreams] [--bootstrap-servers HOST:PORT]
//!     time from a restart after kill -9 to processing again, for a task holding N keys
//! ```
//!
//! `restore` loads a changelog topic of N records (N / 10 distinct keys), then starts, in a
//! child process so its memory is its own, a count application on an empty state directory
//! whose store logs to that topic, and times its restoration from the listener's start to
//! end callbacks.
//!
//! `recovery` loads N records with distinct keys into a one-partition topic, runs a count
//! application (RocksDB store with a changelog, commit interval 100 ms) in a child process
//! until its group has committed all N, SIGKILLs it, adds 1,000 records, waits for the dead
//! member's session (6 s) to expire, and starts the application again on the same state
//! directory, timing from `start()` to the first record processed. `--contestant kstreams`
//! runs the same with the Kafka Streams (Java) application of `bench/kstreams-java`.

use std::process::{Command, Stdio};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::apps::CountPerKey;
use integration_tests::client::produce;
use integration_tests::kafka::{KafkaCluster, unique_name};
use state_stores::KeyValueStore;
use state_stores::memory::InMemoryKeyValueStore;
use state_stores::rocks::{RocksDbKeyValueStore, RocksDbMemory};
use streams_bench::{RestoreClock, flag, number, peak_rss_mb, value};
use streams_core::serde::{I64Serde, StringSerde};
use streams_core::store::StateStore;
use streams_core::{KafkaStreams, StreamsConfig, Topology};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn key(i: u64) -> [u8; 8] {
    i.to_be_bytes()
}

fn bench_store(
    name: &str,
    store: &mut dyn KeyValueStore,
    records: u64,
    value_size: usize,
) -> Result<()> {
    let values: Vec<Vec<u8>> = (0..64).map(|i| value(i, value_size)).collect();
    let started = Instant::now();
    for i in 0..records {
        store.put(
            &key(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % records),
            Some(&values[(i % 64) as usize]),
        )?;
        // Commits as a stream thread would, every 10,000 writes.
        if i % 10_000 == 9_999 {
            store.commit(None)?;
        }
    }
    store.commit(None)?;
    let put = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut found = 0u64;
    for i in 0..records {
        found += u64::from(
            store
                .get(&key(i.wrapping_mul(0x2545_F491_4F6C_DD1D) % records))?
                .is_some(),
        );
    }
    let get = started.elapsed().as_secs_f64();
    println!(
        "| {name} | {records} | {value_size} B | {:.0} | {:.0} | {:.1}% |",
        records as f64 / put,
        records as f64 / get,
        100.0 * found as f64 / records as f64
    );
    Ok(())
}

fn stores(args: &[String]) -> Result<()> {
    let records = number(args, "--records", 1_000_000)?;
    let value_size = number(args, "--value-size", 100)? as usize;
    println!("| store | records | value | puts/s | gets/s | gets found |");
    println!("|---|---|---|---|---|---|");
    bench_store(
        "in-memory",
        &mut InMemoryKeyValueStore::new("mem"),
        records,
        value_size,
    )?;
    let dir = tempfile::tempdir()?;
    let memory = RocksDbMemory::new(64 << 20);
    let mut rocks = RocksDbKeyValueStore::open("rocks", dir.path(), &memory, None)?;
    bench_store(
        "RocksDB (64 MiB shared cache)",
        &mut rocks,
        records,
        value_size,
    )?;
    rocks.close()?;
    Ok(())
}

async fn restore(args: &[String]) -> Result<()> {
    let records = number(args, "--records", 1_000_000)?;
    let value_size = number(args, "--value-size", 100)? as usize;
    let bootstrap = streams_bench::bootstrap_servers(flag(args, "--bootstrap-servers"))?;
    let admin = KafkaCluster::external(&bootstrap);
    let app = unique_name("restore-bench");
    let input = unique_name("restore-bench-input");
    let changelog = format!("{app}-counts-changelog");
    admin.create_topic(&input, 1, 1, &[])?;
    admin.create_topic(&changelog, 1, 1, &[("cleanup.policy", "compact")])?;
    eprintln!("loading {records} changelog records of {value_size} bytes into {changelog}");
    let distinct = (records / 10).max(1);
    let changelog_records = (0..records).map(|i| {
        (
            format!("key-{}", i % distinct),
            value(i, value_size),
            Some(0),
        )
    });
    produce(&bootstrap, &changelog, changelog_records).await?;
    let state = tempfile::tempdir()?;
    let out = Command::new(std::env::current_exe()?)
        .args([
            "restore-child",
            "--bootstrap-servers",
            &bootstrap,
            "--app",
            &app,
            "--input",
            &input,
        ])
        .arg("--state-dir")
        .arg(state.path())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("the restoring application failed: {}", out.status);
    }
    let line = String::from_utf8_lossy(&out.stdout);
    println!(
        "| changelog records | value | restored | seconds | records/s | peak RSS of the app |"
    );
    println!("|---|---|---|---|---|---|");
    println!("| {records} | {value_size} B | {}", line.trim());
    Ok(())
}

fn restore_child(args: &[String]) -> Result<()> {
    let get = |n: &str| flag(args, n).with_context(|| format!("{n} is required"));
    let (bootstrap, app, input, state) = (
        get("--bootstrap-servers")?,
        get("--app")?,
        get("--input")?,
        get("--state-dir")?,
    );
    let mut topology = Topology::new();
    topology
        .add_source("src", &[&input], StringSerde, StringSerde)?
        .add_processor("count", CountPerKey::supplier("counts"), &["src"])?
        .add_state_store(
            state_stores::KeyValueStoreBuilder::rocksdb("counts", StringSerde, I64Serde),
            &["count"],
        )?;
    let config = StreamsConfig::new(app, bootstrap).with_state_dir(state);
    let mut streams = KafkaStreams::new(topology, config)?;
    let clock = RestoreClock::default();
    streams.set_restore_listener(clock.clone());
    streams.start()?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let (secs, total) = loop {
        if let Some(e) = streams.error() {
            bail!("the application failed: {e}");
        }
        if let Some(finished) = clock.finished(0) {
            break finished;
        }
        if Instant::now() > deadline {
            bail!("restoration did not finish within 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let rss = peak_rss_mb("self")?;
    streams.close(Duration::from_secs(60))?;
    println!(
        "{total} | {secs:.2} | {:.0} | {rss:.0} MB |",
        total as f64 / secs
    );
    Ok(())
}

/// The group's committed offset of partition 0 of `topic` (-1 when none).
fn committed_offset(bootstrap: &str, group: &str, topic: &str) -> Result<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok(match committed.elements().first().map(|e| e.offset()) {
        Some(Offset::Offset(o)) => o,
        _ => -1,
    })
}

async fn recovery(args: &[String]) -> Result<()> {
    let records = number(args, "--records", 1_000_000)?;
    let guarantee = flag(args, "--guarantee").unwrap_or_else(|| "exactly_once_v2".into());
    let contestant = flag(args, "--contestant").unwrap_or_else(|| "streams".into());
    let java = streams_bench::java_for(&contestant)?;
    let bootstrap = streams_bench::bootstrap_servers(flag(args, "--bootstrap-servers"))?;
    let admin = KafkaCluster::external(&bootstrap);
    let app = unique_name("recovery-bench");
    let input = unique_name("recovery-bench-input");
    admin.create_topic(&input, 1, 1, &[])?;
    eprintln!("loading {records} records with distinct keys into {input}");
    produce(
        &bootstrap,
        &input,
        (0..records).map(|i| (format!("key-{i}"), b"v".to_vec(), None)),
    )
    .await?;
    let state = tempfile::tempdir()?;
    let child = |phase: &str| -> Result<std::process::Child> {
        let mut command = match &java {
            Some(classpath) => streams_bench::java_command(classpath)?,
            None => Command::new(std::env::current_exe()?),
        };
        Ok(command
            .args([
                "recovery-child",
                "--phase",
                phase,
                "--guarantee",
                &guarantee,
            ])
            .args([
                "--bootstrap-servers",
                &bootstrap,
                "--app",
                &app,
                "--input",
                &input,
            ])
            .arg("--state-dir")
            .arg(state.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?)
    };
    let mut loader = child("load")?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(1800);
    while committed_offset(&bootstrap, &app, &input)? < records as i64 {
        if let Some(status) = loader.try_wait()? {
            bail!("the loading application exited: {status}");
        }
        if Instant::now() > deadline {
            loader.kill()?;
            bail!("the loading application did not commit {records} records in 30 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "counted {records} keys in {:.1} s; kill -9",
        started.elapsed().as_secs_f64()
    );
    loader.kill()?;
    loader.wait()?;
    produce(
        &bootstrap,
        &input,
        (0..1000).map(|i| (format!("key-{i}"), b"v".to_vec(), None)),
    )
    .await?;
    // The dead member leaves the group when its session expires; a restart before that waits
    // for it in the join, whatever the state size.
    std::thread::sleep(Duration::from_secs(7));
    let out = child("restart")?.wait_with_output()?;
    if !out.status.success() {
        bail!("the restarted application failed: {}", out.status);
    }
    println!(
        "| contestant | guarantee | keys in the store | restored records | seconds from start() to the first record processed |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {contestant} | {guarantee} | {records} | {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    Ok(())
}

/// Notes when the first record reaches it.
struct FirstRecord(Arc<Mutex<Option<Instant>>>);

impl streams_core::processor::Processor<String, String, String, String> for FirstRecord {
    fn process(
        &mut self,
        _: &mut streams_core::processor::ProcessorContext<'_, String, String>,
        _: streams_core::Record<String, String>,
    ) -> Result<(), streams_core::processor::ProcessorError> {
        self.0.lock().get_or_insert_with(Instant::now);
        Ok(())
    }
}

fn recovery_child(args: &[String]) -> Result<()> {
    let get = |n: &str| flag(args, n).with_context(|| format!("{n} is required"));
    let (bootstrap, app, input, state, phase) = (
        get("--bootstrap-servers")?,
        get("--app")?,
        get("--input")?,
        get("--state-dir")?,
        get("--phase")?,
    );
    let first = Arc::new(Mutex::new(None));
    let mut topology = Topology::new();
    let mark = first.clone();
    topology
        .add_source("src", &[&input], StringSerde, StringSerde)?
        .add_processor("count", CountPerKey::supplier("counts"), &["src"])?
        .add_processor("first", move || FirstRecord(mark.clone()), &["src"])?
        .add_state_store(
            state_stores::KeyValueStoreBuilder::rocksdb("counts", StringSerde, I64Serde),
            &["count"],
        )?;
    let config = StreamsConfig::new(app, bootstrap)
        .with_state_dir(state)
        .set("processing.guarantee", &get("--guarantee")?)?
        .set("commit.interval.ms", "100")?
        .set("consumer.session.timeout.ms", "6000")?
        .set("consumer.heartbeat.interval.ms", "1000")?;
    let mut streams = KafkaStreams::new(topology, config)?;
    let clock = RestoreClock::default();
    streams.set_restore_listener(clock.clone());
    let started = Instant::now();
    streams.start()?;
    let deadline = started + Duration::from_secs(1800);
    loop {
        if let Some(e) = streams.error() {
            bail!("the application failed: {e}");
        }
        let first_at = *first.lock();
        if let (Some(at), "restart") = (first_at, phase.as_str()) {
            let restored = clock.restored();
            println!("{restored} | {:.3} |", (at - started).as_secs_f64());
            break;
        }
        if Instant::now() > deadline {
            bail!("no record processed within 30 minutes");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    streams.close(Duration::from_secs(60))?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("stores") => stores(&args),
        Some("restore") => restore(&args).await,
        Some("restore-child") => restore_child(&args),
        Some("recovery") => recovery(&args).await,
        Some("recovery-child") => recovery_child(&args),
        _ => bail!(
            "usage: store-bench (stores|restore|recovery) [--records N] [--value-size BYTES] \
             [--guarantee G] [--bootstrap-servers HOST:PORT]"
        ),
    }
}
