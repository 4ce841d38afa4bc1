//! The broker fixture itself: produce/consume through it, broker faults, and teardown.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::read_topic;
use integration_tests::kafka::{KafkaCluster, shared_cluster, unique_name};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie still has one, in state Z.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .split(") ")
            .nth(1)
            .is_some_and(|rest| rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_dead(pids: &[u32], timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `(partition, key, value)` of every record of `topic`, waiting 2 s past `expected` so that
/// duplicates would show.
fn consume_all(
    bootstrap: &str,
    topic: &str,
    expected: usize,
) -> Result<Vec<(i32, String, String)>> {
    let got = read_topic(
        bootstrap,
        topic,
        expected,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )?;
    Ok(got
        .into_iter()
        .map(|c| (c.partition, c.key, c.value))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broker_produce_and_consume() -> Result<()> {
    let cluster = shared_cluster()?;
    let topic = unique_name("smoke");
    cluster.create_topic(&topic, 2, 1, &[])?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("enable.idempotence", "true")
        .create()?;
    for i in 0..100 {
        let key = format!("k{}", i % 7);
        let value = format!("v{i}");
        producer
            .send(
                FutureRecord::to(&topic)
                    .key(&key)
                    .payload(&value)
                    .partition(i % 2),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)?;
    }
    let got = consume_all(cluster.bootstrap_servers(), &topic, 100)?;
    assert_eq!(got.len(), 100, "records read back");
    for p in 0..2 {
        let values: Vec<String> = got
            .iter()
            .filter(|r| r.0 == p)
            .map(|r| r.2.clone())
            .collect();
        let expected: Vec<String> = (0..100)
            .filter(|i| i % 2 == p)
            .map(|i| format!("v{i}"))
            .collect();
        assert_eq!(values, expected, "partition {p} in order");
    }
    let keys: Vec<&str> = got
        .iter()
        .filter(|r| r.2 == "v15")
        .map(|r| r.1.as_str())
        .collect();
    assert_eq!(keys, ["k1"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_survive_a_sigkilled_broker() -> Result<()> {
    let mut cluster = KafkaCluster::start(3)?;
    let topic = unique_name("replicated");
    let partitions = 3;
    cluster.create_topic(&topic, partitions, 3, &[("min.insync.replicas", "2")])?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "120000")
        .set("linger.ms", "5")
        .create()?;

    // Learn which broker leads partition 0, to kill the one that matters.
    let md = cluster
        .admin()?
        .inner()
        .fetch_metadata(Some(&topic), Duration::from_secs(10))?;
    let leader = md.topics()[0]
        .partitions()
        .iter()
        .find(|p| p.id() == 0)
        .context("partition 0")?
        .leader();

    let total = 6_000usize;
    let mut deliveries = Vec::with_capacity(total);
    let mut killed_at = None;
    for i in 0..total {
        let p = (i % partitions as usize) as i32;
        let key = format!("key-{p}");
        let value = format!("{i}");
        let fut = producer.send_result(
            FutureRecord::to(&topic)
                .key(&key)
                .payload(&value)
                .partition(p),
        );
        deliveries.push(fut.map_err(|(e, _)| e)?);
        if i == total / 3 {
            // Let the first third land, then kill the leader while more keep coming.
            for d in deliveries.drain(..) {
                d.await?.map_err(|(e, _)| e)?;
            }
            cluster.kill(leader as u32)?;
            killed_at = Some(i);
        }
        if i % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for d in deliveries {
        d.await?.map_err(|(e, _)| e)?;
    }
    assert!(killed_at.is_some());
    cluster.restart(leader as u32)?;

    let got = consume_all(cluster.bootstrap_servers(), &topic, total)?;
    let mut per_partition: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (p, key, value) in &got {
        assert_eq!(key, &format!("key-{p}"));
        per_partition.entry(*p).or_default().push(value.parse()?);
    }
    for p in 0..partitions {
        let expected: Vec<usize> = (0..total)
            .filter(|i| i % partitions as usize == p as usize)
            .collect();
        let seen = per_partition.remove(&p).unwrap_or_default();
        if seen != expected {
            let dupes = seen.len() as i64
                - seen.iter().collect::<std::collections::BTreeSet<_>>().len() as i64;
            bail!(
                "partition {p}: {} records, expected {} (duplicates {dupes}); order or content differs",
                seen.len(),
                expected.len()
            );
        }
    }
    assert_eq!(got.len(), total, "every record exactly once");
    cluster.stop();
    Ok(())
}

#[test]
fn dropping_or_panicking_leaves_no_broker_behind() -> Result<()> {
    let cluster = KafkaCluster::start(1)?;
    let pids = cluster.pids();
    assert_eq!(pids.len(), 1);
    assert!(alive(pids[0]));
    drop(cluster);
    assert_eq!(
        wait_dead(&pids, Duration::from_secs(5)),
        Vec::<u32>::new(),
        "brokers left after drop"
    );

    // A test that panics while holding a cluster: unwinding drops it.
    let (tx, rx) = std::sync::mpsc::channel();
    let joined = std::thread::spawn(move || {
        let cluster = KafkaCluster::start(1).expect("cluster starts");
        tx.send(cluster.pids()).expect("send pids");
        panic!("deliberate panic with a running cluster");
    })
    .join();
    assert!(joined.is_err(), "the thread panicked");
    let pids = rx.recv()?;
    assert_eq!(
        wait_dead(&pids, Duration::from_secs(5)),
        Vec::<u32>::new(),
        "brokers left after panic"
    );
    Ok(())
}

#[test]
fn sigkilled_owner_takes_its_brokers_with_it() -> Result<()> {
    let dir = ScratchDir::new()?;
    let env_file = dir.path().join("cluster.env");
    let mut owner = Command::new(env!("CARGO_BIN_EXE_kafka-cluster"))
        .arg("--env-file")
        .arg(&env_file)
        // A SIGKILLed owner cannot remove its brokers' data: keep it in this test's directory.
        .env("TMPDIR", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()?;
    let pids = read_pids(&env_file, Duration::from_secs(120))?;
    assert_eq!(pids.len(), 1);
    assert!(alive(pids[0]));
    owner.kill()?; // SIGKILL: no destructor runs, only the parent-death signal can help.
    owner.wait()?;
    assert_eq!(
        wait_dead(&pids, Duration::from_secs(10)),
        Vec::<u32>::new(),
        "brokers outlived their owner"
    );
    Ok(())
}

#[test]
fn sigterm_stops_the_owner_and_removes_the_data_also_while_starting() -> Result<()> {
    // The owner's temporary directory is this test's, so that anything it leaves shows here.
    let tmp = ScratchDir::new()?;
    let env_file = tmp.path().join("cluster.env");
    let owner = || {
        Command::new(env!("CARGO_BIN_EXE_kafka-cluster"))
            .arg("--env-file")
            .arg(&env_file)
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
    };
    let sigterm = |pid: u32| -> Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM {pid}: {status}");
        Ok(())
    };

    // Running: the owner stops its brokers in order and exits normally.
    let mut running = owner()?;
    let pids = read_pids(&env_file, Duration::from_secs(120))?;
    sigterm(running.id())?;
    let status = running.wait()?;
    assert!(status.success(), "kafka-cluster exited with {status}");
    assert_eq!(
        wait_dead(&pids, Duration::from_secs(10)),
        Vec::<u32>::new(),
        "brokers outlived a SIGTERM"
    );
    assert_eq!(
        entries(tmp.path())?,
        Vec::<String>::new(),
        "left after a SIGTERM"
    );

    // Starting: the signal comes as soon as the cluster's directory exists.
    let mut starting = owner()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while entries(tmp.path())?.is_empty() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no cluster directory within 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    sigterm(starting.id())?;
    let status = starting.wait()?;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15), "ended by the SIGTERM: {status}");
    assert_eq!(
        entries(tmp.path())?,
        Vec::<String>::new(),
        "left after a SIGTERM while starting"
    );
    Ok(())
}

/// The names of the entries of `dir`.
fn entries(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

fn read_pids(env_file: &Path, timeout: Duration) -> Result<Vec<u32>> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(env_file)
            && let Some(line) = text
                .lines()
                .find_map(|l| l.strip_prefix("KSTREAMS_KAFKA_PIDS="))
        {
            return line.split(',').map(|p| Ok(p.parse()?)).collect();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("kafka-cluster wrote no env file within {timeout:?}")
}
