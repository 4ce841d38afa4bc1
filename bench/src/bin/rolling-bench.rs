//! Rolling-restart benchmark: the longest pause a partition sees while three instances are
//! restarted one after another under load, and the dip in records/s.
//!
//! ```text
//! rolling-bench [--rate R] [--partitions P] [--static true|false]
//!     [--protocol classic|consumer] [--bootstrap-servers HOST:PORT]
//! ```
//!
//! Starts three instances of an exactly-once count application (`failover-bench`'s child,
//! commit interval 100 ms, session timeout 10 s under the classic protocol) as child
//! processes, each with a state directory of its own and, with `--static true` (the default),
//! a `group.instance.id`. A driver produces R records/s (default 2,000) over 3,000 keys into a
//! P-partition topic (default 6); a reader follows the output (read-committed) and measures
//! each record's end-to-end latency (read time minus the input record's timestamp, which the
//! count keeps). After 15 s, each instance in turn is sent SIGTERM, started again on the same
//! state directory as soon as it exits, and given 10 s; 15 s after the last restart the run
//! ends. Printed: the latency before (p99) and the longest during the restarts (the longest
//! pause of any record), and the fewest records/s of any second during the restarts against
//! the rate.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::client::producer;
use integration_tests::kafka::{KafkaCluster, unique_name};
use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientConfig, Message};
use streams_bench::{flag, number};
use streams_core::timestamp::now_ms;

/// What the reader saw: per output record, when it was read (ms since the start) and its
/// end-to-end latency in ms.
type Seen = Arc<Mutex<Vec<(i64, i64)>>>;

/// Starts instance `i` (the `failover-bench` child) on its state directory.
fn start(
    i: usize,
    state: &tempfile::TempDir,
    common: &[String],
    static_ids: bool,
) -> Result<Child> {
    let exe = std::env::current_exe()?.with_file_name("failover-bench");
    let mut command = Command::new(exe);
    command
        .arg("failover-child")
        .args(common)
        .arg("--state-dir")
        .arg(state.path());
    if static_ids {
        command.args(["--instance-id", &format!("rolling-{i}")]);
    }
    Ok(command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?)
}

/// SIGTERM, then wait for the exit.
fn stop(child: &mut Child) -> Result<()> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    if !status.success() {
        bail!("kill -TERM failed: {status}");
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("an instance exited with {status} on SIGTERM");
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rate = number(&args, "--rate", 2000)?;
    let partitions = number(&args, "--partitions", 6)? as i32;
    let static_ids = flag(&args, "--static").is_none_or(|v| v == "true");
    let protocol = flag(&args, "--protocol").unwrap_or_else(|| "classic".into());
    let bootstrap = streams_bench::bootstrap_servers(flag(&args, "--bootstrap-servers"))?;
    let admin = KafkaCluster::external(&bootstrap);
    let app = unique_name("rolling-bench");
    let (input, output) = (format!("{app}-in"), format!("{app}-out"));
    admin.create_topic(&input, partitions, 1, &[])?;
    admin.create_topic(&output, partitions, 1, &[])?;
    let common: Vec<String> = [
        "--bootstrap-servers",
        &bootstrap,
        "--app",
        &app,
        "--input",
        &input,
        "--output",
        &output,
        "--standbys",
        "0",
        "--protocol",
        &protocol,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let states = [
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    ];
    let mut children = Vec::new();
    for (i, state) in states.iter().enumerate() {
        children.push(start(i, state, &common, static_ids)?);
    }

    // The reader: every output record's latency, from the start of the output.
    let started = now_ms();
    let seen: Seen = Arc::default();
    let stop_all = Arc::new(AtomicBool::new(false));
    let reader = {
        let (seen, stop_all, bootstrap, output) = (
            seen.clone(),
            stop_all.clone(),
            bootstrap.clone(),
            output.clone(),
        );
        std::thread::spawn(move || -> Result<()> {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", unique_name("rolling-reader"))
                .set("isolation.level", "read_committed")
                .set("auto.offset.reset", "earliest")
                .set("enable.auto.commit", "false")
                .create()?;
            consumer.subscribe(&[&output])?;
            while !stop_all.load(Ordering::Acquire) {
                if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                    let m = m?;
                    let now = now_ms();
                    let at = m.timestamp().to_millis().context("a timestamp")?;
                    seen.lock().push((now - started, now - at));
                }
            }
            Ok(())
        })
    };
    // The driver: `rate` records/s in 10 ms slices until told to stop.
    let driver = {
        let (stop_all, bootstrap, input) = (stop_all.clone(), bootstrap.clone(), input.clone());
        tokio::spawn(async move {
            let producer = producer(&bootstrap)?;
            let per_slice = (rate / 100).max(1) as usize;
            let mut n = 0usize;
            let mut next = Instant::now();
            while !stop_all.load(Ordering::Acquire) {
                let mut pending = Vec::with_capacity(per_slice);
                for i in n..n + per_slice {
                    let key = format!("k{}", i % 3000);
                    let record = FutureRecord::to(&input).key(&key).payload("v");
                    pending.push(producer.send_result(record).map_err(|(e, _)| e)?);
                }
                for delivery in pending {
                    delivery.await?.map_err(|(e, _)| e)?;
                }
                n += per_slice;
                next += Duration::from_millis(10);
                tokio::time::sleep_until(next.into()).await;
            }
            anyhow::Ok(n)
        })
    };

    tokio::time::sleep(Duration::from_secs(15)).await;
    let restarts_began = now_ms() - started;
    for (i, state) in states.iter().enumerate() {
        eprintln!("restarting instance {i}");
        stop(&mut children[i])?;
        children[i] = start(i, state, &common, static_ids)?;
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(15)).await;
    let restarts_ended = now_ms() - started;
    stop_all.store(true, Ordering::Release);
    let produced = driver.await??;
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader panicked"))??;
    for child in &mut children {
        stop(child)?;
    }

    let seen = seen.lock();
    let mut before: Vec<i64> = seen
        .iter()
        .filter(|(t, _)| *t >= 5_000 && *t < restarts_began)
        .map(|(_, l)| *l)
        .collect();
    before.sort_unstable();
    let p99 = before.get(before.len() * 99 / 100).copied().unwrap_or(-1);
    let during = seen
        .iter()
        .filter(|(t, _)| *t >= restarts_began && *t < restarts_ended);
    let longest = during.clone().map(|(_, l)| *l).max().unwrap_or(-1);
    let mut per_second = std::collections::BTreeMap::new();
    for (t, _) in during {
        *per_second.entry(t / 1000).or_insert(0u64) += 1;
    }
    let seconds = (restarts_began / 1000 + 1)..(restarts_ended / 1000);
    let fewest = seconds
        .map(|s| per_second.get(&s).copied().unwrap_or(0))
        .min()
        .unwrap_or(0);
    println!(
        "| protocol | static members | records/s in | produced | p99 latency before, ms | longest latency during the restarts, ms | fewest records/s read during the restarts |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!("| {protocol} | {static_ids} | {rate} | {produced} | {p99} | {longest} | {fewest} |");
    Ok(())
}
