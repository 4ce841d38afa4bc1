//! Standby replicas on a real broker (`num.standby.replicas`): two instances of an
//! exactly-once counting application, each keeping a warm copy of the other's tasks; one is
//! SIGKILLed and the survivor takes its tasks over restoring only the changelog's tail, with
//! exact counts after the failover.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::child::ChildApp;
use integration_tests::cleanup::ScratchDir;
use integration_tests::client::{produce, read_committed, wait_until_committed};
use integration_tests::kafka::{free_port, shared_cluster, unique_name};

/// Distinct keys counted before the failover: the state the standbys keep.
const KEYS: usize = 1_000_000;

/// Keys counted again after the failover.
const AGAIN: usize = 1_000;

/// Input partitions: four tasks, two on each instance.
const PARTITIONS: i32 = 4;

/// One `count-app` process with its metrics address.
struct Instance {
    app: ChildApp,
    metrics: String,
}

impl Instance {
    fn start(name: &str, dir: &ScratchDir, bootstrap: &str, app: &str) -> Result<Instance> {
        let metrics = format!("127.0.0.1:{}", free_port()?);
        let mut child = ChildApp::new(name, &dir.path().join(format!("{name}.log")));
        let mut command = Command::new(env!("CARGO_BIN_EXE_count-app"));
        command
            .args(["--bootstrap-servers", bootstrap, "--application-id", app])
            .args([
                "--input",
                &format!("{app}-in"),
                "--output",
                &format!("{app}-out"),
            ])
            .arg("--state-dir")
            .arg(dir.path().join(name))
            .args(["--metrics-address", &metrics, "--standbys", "1"])
            .args(["--instance", name]);
        child.start(command, "STANDBY_APP_LOG")?;
        Ok(Instance {
            app: child,
            metrics,
        })
    }

    /// The sum of a metric over all its label sets, from the instance's `/metrics`.
    fn metric(&mut self, name: &str) -> Result<f64> {
        self.app.check_alive()?;
        let (status, body) = integration_tests::http::get(&self.metrics, "/metrics")
            .with_context(|| format!("scraping {}", self.app.name))?;
        if !status.contains("200") {
            bail!("{} answered {status}", self.app.name);
        }
        let mut sum = 0.0;
        for line in body.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap_or_default();
            if series == name || series.starts_with(&format!("{name}{{")) {
                sum += value.parse::<f64>().unwrap_or(0.0);
            }
        }
        Ok(sum)
    }
}

/// Waits until `check` holds, failing after `timeout` with `what`.
fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !check()? {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standby_takes_over_a_killed_instance_s_tasks_restoring_only_the_tail() -> Result<()> {
    let cluster = shared_cluster()?;
    let bootstrap = cluster.bootstrap_servers().to_owned();
    let app = unique_name("standby");
    let (input, output) = (format!("{app}-in"), format!("{app}-out"));
    cluster.create_topic(&input, PARTITIONS, 1, &[])?;
    cluster.create_topic(&output, PARTITIONS, 1, &[])?;
    let dir = ScratchDir::with_prefix("kstreams-standby-")?;
    let mut a = Instance::start("a", &dir, &bootstrap, &app)?;
    let mut b = Instance::start("b", &dir, &bootstrap, &app)?;

    // Every key once: each task's store and changelog hold a quarter of the keys.
    let first = (0..KEYS).map(|i| (format!("k{i}"), b"x".to_vec(), None));
    produce(&bootstrap, &input, first).await?;
    wait_until_committed(
        &bootstrap,
        &app,
        std::slice::from_ref(&input),
        Duration::from_secs(300),
    )?;
    // Each instance keeps a standby copy of the other's two tasks, caught up.
    let mut seen = (0.0, 0.0);
    let caught_up = wait_for("caught-up standby tasks", Duration::from_secs(120), || {
        let standbys = a.metric("kstreams_standby_tasks")? + b.metric("kstreams_standby_tasks")?;
        let lag =
            a.metric("kstreams_standby_lag_records")? + b.metric("kstreams_standby_lag_records")?;
        seen = (standbys, lag);
        Ok(standbys == 4.0 && lag == 0.0)
    });
    if let Err(e) = caught_up {
        bail!(
            "{e}: {} standby tasks, lag {}; a's log:\n{}\nb's log:\n{}",
            seen.0,
            seen.1,
            a.app.log_tail(),
            b.app.log_tail()
        );
    }
    let restored_before = b.metric("kstreams_restored_records")?;

    // Kill a; then count the first AGAIN keys a second time: b runs every task now.
    a.app.kill9()?;
    let killed = Instant::now();
    let again = (0..AGAIN).map(|i| (format!("k{i}"), b"y".to_vec(), None));
    produce(&bootstrap, &input, again).await?;
    wait_until_committed(
        &bootstrap,
        &app,
        std::slice::from_ref(&input),
        Duration::from_secs(120),
    )?;
    let failover = killed.elapsed();
    let restored = b.metric("kstreams_restored_records")? - restored_before;
    b.app.stop()?;

    // Exact counts: every key once with 1, the keys counted again once more with 2. The
    // running counts before the kill are in the changelog and output once each (a zombie's
    // open transaction aborted), so nothing is missing and nothing is doubled.
    let records = read_committed(
        &bootstrap,
        &output,
        KEYS + AGAIN,
        Duration::from_secs(2),
        Duration::from_secs(120),
    )?;
    let mut counts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in &records {
        let value: [u8; 8] = r.value.as_deref().context("a count")?.try_into()?;
        counts
            .entry(String::from_utf8(r.key.clone())?)
            .or_default()
            .push(i64::from_be_bytes(value));
    }
    assert_eq!(counts.len(), KEYS, "every key counted");
    for (key, values) in &counts {
        let i: usize = key[1..].parse()?;
        let expected: &[i64] = if i < AGAIN { &[1, 2] } else { &[1] };
        assert_eq!(values, expected, "the counts of {key}");
    }
    assert_eq!(records.len(), KEYS + AGAIN);
    // The survivor restored only what its standby copies had not read: under 1% of the
    // killed instance's half of the changelog (the rest came warm).
    let killed_share = (KEYS / 2) as f64;
    println!(
        "standby failover: {restored} changelog records restored of {killed_share} on the \
         killed instance's tasks; {:.1} s from SIGKILL until every input record was \
         committed (session.timeout.ms 6 s)",
        failover.as_secs_f64()
    );
    assert!(
        restored < killed_share / 100.0,
        "the survivor restored {restored} records: its standby copies were not used"
    );
    Ok(())
}
