//! Failover benchmark: how long the partitions of a SIGKILLed instance go unprocessed, with
//! and without standby replicas, ours against Kafka Streams.
//!
//! ```text
//! failover-bench [--records N] [--partitions P] [--standbys 0|1] [--session-timeout-ms MS]
//!     [--contestant streams|kstreams] [--bootstrap-servers HOST:PORT]
//! ```
//!
//! Loads N records with distinct keys into a P-partition topic (default 1,000,000 and 4),
//! starts two instances of an exactly-once count application (RocksDB store with a changelog,
//! commit interval 100 ms, session timeout 6 s or `--session-timeout-ms` (below the broker's
//! `group.min.session.timeout.ms`, 6 s by default, it must be lowered there too) with a
//! heartbeat a third of it at most 1 s, `num.standby.replicas` as given) as child
//! processes on their own state directories, waits until the group has committed all N and
//! then 5 s plus 4 s per million keys (for the standby copies to catch up: neither framework
//! shows that from outside), SIGKILLs the first instance, adds 1,000 records over all
//! partitions and times from the kill until the group has committed them all: the session
//! timeout, the rebalance, the restoration (or none, from a standby) and the processing. The
//! survivor reports how many changelog records it restored. `--contestant kstreams` runs the
//! Kafka Streams (Java) application of `bench/kstreams-java` the same way.
//!
//! The last line printed is a Markdown table row: contestant, standbys, keys, restored
//! records, seconds from SIGKILL to every record processed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::apps::count_topology;
use integration_tests::client::{produce, wait_until_committed};
use integration_tests::kafka::{KafkaCluster, unique_name};
use streams_bench::{RestoreClock, flag, number};
use streams_core::{KafkaStreams, StreamsConfig};

/// One instance: the process and the restored-record count it last reported.
struct Instance {
    child: Child,
    restored: Arc<AtomicU64>,
}

impl Instance {
    fn start(mut command: Command) -> Result<Instance> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let restored = Arc::new(AtomicU64::new(0));
        let stdout = child.stdout.take().context("the child's stdout")?;
        let seen = restored.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::io::Result::ok)
            {
                if let Some(n) = line.strip_prefix("restored ").and_then(|n| n.parse().ok()) {
                    seen.store(n, Ordering::Release);
                }
            }
        });
        Ok(Instance { child, restored })
    }

    fn check(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("an instance exited: {status}");
        }
        Ok(())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn failover(args: &[String]) -> Result<()> {
    let records = number(args, "--records", 1_000_000)?;
    let partitions = number(args, "--partitions", 4)? as i32;
    let standbys = number(args, "--standbys", 0)?;
    let session = number(args, "--session-timeout-ms", 6000)?;
    let contestant = flag(args, "--contestant").unwrap_or_else(|| "streams".into());
    let java = streams_bench::java_for(&contestant)?;
    let bootstrap = streams_bench::bootstrap_servers(flag(args, "--bootstrap-servers"))?;
    let admin = KafkaCluster::external(&bootstrap);
    let app = unique_name("failover-bench");
    let (input, output) = (format!("{app}-in"), format!("{app}-out"));
    admin.create_topic(&input, partitions, 1, &[])?;
    admin.create_topic(&output, partitions, 1, &[])?;
    eprintln!("loading {records} records with distinct keys into {input}");
    let keys = (0..records).map(|i| (format!("key-{i}"), b"v".to_vec(), None));
    produce(&bootstrap, &input, keys).await?;
    let states = [tempfile::tempdir()?, tempfile::tempdir()?];
    let start = |state: &tempfile::TempDir| -> Result<Instance> {
        let mut command = match &java {
            Some(classpath) => streams_bench::java_command(classpath)?,
            None => Command::new(std::env::current_exe()?),
        };
        command
            .args(["failover-child", "--bootstrap-servers", &bootstrap])
            .args(["--app", &app, "--input", &input, "--output", &output])
            .args(["--standbys", &standbys.to_string()])
            .args(["--session-timeout-ms", &session.to_string()])
            .arg("--state-dir")
            .arg(state.path());
        Instance::start(command)
    };
    let mut first = start(&states[0])?;
    let mut second = start(&states[1])?;
    let started = Instant::now();
    let all = std::slice::from_ref(&input);
    wait_until_committed(&bootstrap, &app, all, Duration::from_secs(1800))?;
    let settle = Duration::from_secs(5) + Duration::from_secs(4 * records / 1_000_000);
    eprintln!(
        "counted {records} keys in {:.1} s; {settle:?} for standbys to catch up, then kill -9",
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(settle);
    first.check()?;
    second.check()?;
    let restored_before = second.restored.load(Ordering::Acquire);
    first.child.kill()?;
    first.child.wait()?;
    let killed = Instant::now();
    let again = (0..1000).map(|i| (format!("key-{i}"), b"v".to_vec(), None));
    produce(&bootstrap, &input, again).await?;
    wait_until_committed(&bootstrap, &app, all, Duration::from_secs(1800))?;
    let failover = killed.elapsed();
    // The last restoration report comes within 100 ms of its end.
    std::thread::sleep(Duration::from_millis(300));
    second.check()?;
    let restored = second.restored.load(Ordering::Acquire) - restored_before;
    println!(
        "| contestant | num.standby.replicas | keys | restored records | seconds from SIGKILL to every record processed |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {contestant} | {standbys} | {records} | {restored} | {:.1} |",
        failover.as_secs_f64()
    );
    Ok(())
}

/// Our instance: the count application, reporting restored records on stdout until killed.
fn failover_child(args: &[String]) -> Result<()> {
    integration_tests::log_to_stderr();
    let get = |n: &str| flag(args, n).with_context(|| format!("{n} is required"));
    let topology = count_topology(&get("--input")?, &get("--output")?)?;
    let mut config = StreamsConfig::new(get("--app")?, get("--bootstrap-servers")?)
        .with_state_dir(get("--state-dir")?)
        .set("processing.guarantee", "exactly_once_v2")?
        .set("commit.interval.ms", "100")?
        .set("num.standby.replicas", &get("--standbys")?)?
        .set("replication.factor", "1")?;
    // The consumer protocol leaves the session to the broker.
    let protocol = flag(args, "--protocol").unwrap_or_else(|| "classic".into());
    config = config.set("group.protocol", &protocol)?;
    if protocol == "classic" {
        // Longer with static members (rolling-bench): a restart must fit in it.
        let session = match flag(args, "--session-timeout-ms") {
            Some(ms) => ms
                .parse::<u64>()
                .context("--session-timeout-ms takes milliseconds")?,
            None if flag(args, "--instance-id").is_some() => 10_000,
            None => 6000,
        };
        config = config
            .set("consumer.session.timeout.ms", &session.to_string())?
            .set(
                "consumer.heartbeat.interval.ms",
                &heartbeat(session).to_string(),
            )?;
    }
    if let Some(id) = flag(args, "--instance-id") {
        config = config.set("group.instance.id", &id)?;
    }
    let mut streams = KafkaStreams::new(topology, config)?;
    let clock = RestoreClock::default();
    streams.set_restore_listener(clock.clone());
    streams.start()?;
    let mut reported = u64::MAX;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        // SIGTERM closes the instance cleanly (rolling-bench restarts it so).
        let stop = stop.clone();
        std::thread::spawn(move || {
            if integration_tests::wait_for_termination().is_ok() {
                stop.store(true, Ordering::Release);
            }
        });
    }
    while !stop.load(Ordering::Acquire) {
        if let Some(e) = streams.error() {
            bail!("the application failed: {e}");
        }
        let restored = clock.restored();
        if restored != reported {
            println!("restored {restored}");
            reported = restored;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    streams.close(Duration::from_secs(30))?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("failover-child") => failover_child(&args),
        _ => failover(&args).await,
    }
}

/// The heartbeat interval for a session of `session` ms: a third of it, at most 1 s (as
/// Kafka's consumer recommends).
fn heartbeat(session: u64) -> u64 {
    (session / 3).min(1000)
}
